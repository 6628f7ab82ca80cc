// SPDX-License-Identifier: GPL-2.0-only
// HTTP/2 over the first bytes of each read or write: frames are walked by
// their lengths, the request and response headers decoded with libnghttp2's
// HPACK inflater. HPACK needs every header block from the connection's
// start: a connection seen mid-way, or one whose header block fell in bytes
// not captured, is "mid-stream" and its exchanges carry no method or path.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "httpsnoop_http.h"

struct nghttp2_hd_inflater;

namespace bpfkit::httpsnoop {

struct H2Exchange {
    uint32_t stream = 0;
    Message request, response;
    bool has_request = false, has_response = false;
    bool mid_stream = false;
    bool reset = false;  // RST_STREAM
};

struct H2Stats {
    uint64_t frames = 0;
    uint64_t lost = 0;  // directions whose frame boundaries were lost
    uint64_t hpack_errors = 0;
};

class H2Conn {
  public:
    using OnExchange = std::function<void(H2Exchange &&)>;
    // from_start: the preface was seen, so HPACK can be followed.
    H2Conn(bool from_start, OnExchange on_exchange);
    ~H2Conn();
    H2Conn(const H2Conn &) = delete;
    H2Conn &operator=(const H2Conn &) = delete;

    // Bytes the client side sent (from_client) or the server side sent.
    void feed(bool from_client, const Chunk &c);
    // Streams still open are reported as they stand.
    void close();
    bool mid_stream() const { return mid_; }
    const H2Stats &stats() const { return stats_; }

  private:
    struct Dir {
        nghttp2_hd_inflater *hd = nullptr;
        bool preface = false;  // the client preface still to skip
        uint64_t preface_left = 0;
        uint8_t head[9];
        size_t head_len = 0;
        uint64_t payload_left = 0;
        uint8_t type = 0, flags = 0;
        uint32_t stream = 0;
        std::string block;     // header block being collected
        bool collect = false;  // payload goes to block
        bool lost = false;
        uint64_t ts = 0;
    };
    void frame_start(Dir &d, bool from_client, uint64_t ts);
    void frame_end(Dir &d, bool from_client);
    void headers_done(Dir &d, bool from_client, uint32_t stream, bool end_stream);
    void end_stream(uint32_t stream, bool from_client);
    H2Exchange &stream(uint32_t id);

    Dir cli_, srv_;
    bool mid_;
    OnExchange on_exchange_;
    std::map<uint32_t, H2Exchange> streams_;
    H2Stats stats_;
    uint64_t block_ts_[2] = {0, 0};
    bool block_end_stream_[2] = {false, false};
};

}  // namespace bpfkit::httpsnoop
