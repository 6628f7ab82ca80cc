// SPDX-License-Identifier: GPL-2.0-only
#include "httpsnoop_h2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

namespace bpfkit::httpsnoop {

namespace {

constexpr uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kPushPromise = 5, kContinuation = 9;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriority = 0x20;
constexpr size_t kMaxBlock = 65536;
constexpr size_t kMaxStreams = 1024;

}  // namespace

H2Conn::H2Conn(bool from_start, OnExchange on_exchange)
    : mid_(!from_start), on_exchange_(std::move(on_exchange)) {
    if (from_start) {
        if (nghttp2_hd_inflate_new(&cli_.hd) != 0) cli_.hd = nullptr;
        if (nghttp2_hd_inflate_new(&srv_.hd) != 0) srv_.hd = nullptr;
        if (!cli_.hd || !srv_.hd) mid_ = true;
        cli_.preface = true;
        cli_.preface_left = kH2Preface.size();
    }
}

H2Conn::~H2Conn() {
    if (cli_.hd) nghttp2_hd_inflate_del(cli_.hd);
    if (srv_.hd) nghttp2_hd_inflate_del(srv_.hd);
}

H2Exchange &H2Conn::stream(uint32_t id) {
    auto it = streams_.find(id);
    if (it != streams_.end()) return it->second;
    if (streams_.size() >= kMaxStreams) {  // the oldest goes out as it stands
        auto old = streams_.begin();
        H2Exchange x = std::move(old->second);
        streams_.erase(old);
        on_exchange_(std::move(x));
    }
    H2Exchange &x = streams_[id];
    x.stream = id;
    x.mid_stream = mid_;
    return x;
}

void H2Conn::headers_done(Dir &d, bool from_client, uint32_t id, bool end) {
    H2Exchange &x = stream(id);
    Message &m = from_client ? x.request : x.response;
    bool &has = from_client ? x.has_request : x.has_response;
    const bool first = !has;
    if (first) {
        m = Message{};
        m.request = from_client;
        m.first_ts = block_ts_[from_client ? 0 : 1];
        has = true;
    }
    m.header_bytes += d.block.size() + 9;
    if (d.hd && !mid_) {
        auto *in = reinterpret_cast<const uint8_t *>(d.block.data());
        size_t left = d.block.size();
        int status = 0;
        for (;;) {
            nghttp2_nv nv;
            int flags = 0;
            ssize_t r = nghttp2_hd_inflate_hd2(d.hd, &nv, &flags, in, left, 1);
            if (r < 0) {
                ++stats_.hpack_errors;
                mid_ = true;
                x.mid_stream = true;
                break;
            }
            in += r;
            left -= static_cast<size_t>(r);
            if (flags & NGHTTP2_HD_INFLATE_EMIT) {
                std::string_view n(reinterpret_cast<const char *>(nv.name), nv.namelen);
                std::string_view v(reinterpret_cast<const char *>(nv.value), nv.valuelen);
                if (n == ":method") {
                    m.method = v;
                } else if (n == ":path") {
                    m.path = v;
                } else if (n == ":authority" || (n == "host" && m.host.empty())) {
                    m.host = v;
                } else if (n == ":status" && v.size() == 3) {
                    status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
                }
            }
            if (flags & NGHTTP2_HD_INFLATE_FINAL) {
                nghttp2_hd_inflate_end_headers(d.hd);
                break;
            }
            if (r == 0 && left == 0) break;
        }
        // An informational head is followed by the final one.
        if (!from_client && status) m.status = status;
    } else {
        x.mid_stream = true;
    }
    if (end) end_stream(id, from_client);
}

void H2Conn::end_stream(uint32_t id, bool from_client) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    if (from_client) return;  // the request is done; the exchange ends with the response
    H2Exchange x = std::move(it->second);
    streams_.erase(it);
    on_exchange_(std::move(x));
}

void H2Conn::frame_start(Dir &d, bool from_client, uint64_t ts) {
    ++stats_.frames;
    uint64_t len = (uint64_t{d.head[0]} << 16) | (uint64_t{d.head[1]} << 8) | d.head[2];
    d.type = d.head[3];
    d.flags = d.head[4];
    d.stream = ((uint32_t{d.head[5]} << 24) | (uint32_t{d.head[6]} << 16) |
                (uint32_t{d.head[7]} << 8) | d.head[8]) &
               0x7fffffffu;
    d.payload_left = len;
    d.collect = false;
    d.ts = ts;
    if (d.type == kHeaders || d.type == kContinuation || d.type == kPushPromise) {
        if (d.type == kHeaders) {
            d.block.clear();
            block_ts_[from_client ? 0 : 1] = ts;
            block_end_stream_[from_client ? 0 : 1] = d.flags & kEndStream;
        }
        d.collect = true;
    }
    if (d.type == kData && d.stream) {
        auto it = streams_.find(d.stream);
        if (it != streams_.end()) {
            Message &m = from_client ? it->second.request : it->second.response;
            m.body_bytes += len;
        }
    }
    if (len == 0) frame_end(d, from_client);
}

void H2Conn::frame_end(Dir &d, bool from_client) {
    const int side = from_client ? 0 : 1;
    switch (d.type) {
        case kHeaders:
        case kContinuation:
            if (d.flags & kEndHeaders) {
                std::string raw = std::move(d.block);
                d.block.clear();
                if (d.type == kHeaders && !raw.empty()) {
                    // Padding and priority come before the block.
                    size_t off = 0, pad = 0;
                    if (d.flags & kPadded) {
                        pad = static_cast<uint8_t>(raw[0]);
                        off = 1;
                    }
                    if (d.flags & kPriority) off += 5;
                    if (off + pad > raw.size()) {
                        ++stats_.hpack_errors;
                        raw.clear();
                    } else {
                        raw = raw.substr(off, raw.size() - off - pad);
                    }
                }
                d.block = std::move(raw);
                headers_done(d, from_client, d.stream, block_end_stream_[side]);
                d.block.clear();
            }
            break;
        case kPushPromise:
            // Its block changes the HPACK table; decoded and not shown.
            if ((d.flags & kEndHeaders) && d.hd && !mid_) {
                size_t off = 4 + ((d.flags & kPadded) ? 1 : 0);
                if (d.block.size() >= off) {
                    std::string_view b(d.block);
                    b.remove_prefix(off);
                    auto *in = reinterpret_cast<const uint8_t *>(b.data());
                    size_t left = b.size();
                    for (;;) {
                        nghttp2_nv nv;
                        int fl = 0;
                        ssize_t r = nghttp2_hd_inflate_hd2(d.hd, &nv, &fl, in, left, 1);
                        if (r < 0) {
                            mid_ = true;
                            break;
                        }
                        in += r;
                        left -= static_cast<size_t>(r);
                        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
                            nghttp2_hd_inflate_end_headers(d.hd);
                            break;
                        }
                        if (r == 0 && left == 0) break;
                    }
                }
            }
            d.block.clear();
            break;
        case kData:
            if (d.flags & kEndStream) end_stream(d.stream, from_client);
            break;
        case kRstStream: {
            auto it = streams_.find(d.stream);
            if (it != streams_.end()) {
                it->second.reset = true;
                H2Exchange x = std::move(it->second);
                streams_.erase(it);
                on_exchange_(std::move(x));
            }
            break;
        }
        default:
            break;
    }
    d.collect = false;
}

void H2Conn::feed(bool from_client, const Chunk &c) {
    Dir &d = from_client ? cli_ : srv_;
    if (d.lost) return;
    const uint64_t cap = std::min<uint64_t>(c.data.size(), c.len);
    uint64_t pos = 0;
    while (pos < c.len) {
        if (d.preface) {
            uint64_t n = std::min(d.preface_left, c.len - pos);
            pos += n;
            d.preface_left -= n;
            if (!d.preface_left) d.preface = false;
            continue;
        }
        if (d.payload_left == 0 && d.head_len < 9) {
            if (pos >= cap) {  // a frame header not captured: boundaries are lost
                d.lost = true;
                ++stats_.lost;
                mid_ = true;
                return;
            }
            d.head[d.head_len++] = c.data[pos++];
            if (d.head_len == 9) {
                d.head_len = 0;
                frame_start(d, from_client, c.ts_ns);
            }
            continue;
        }
        uint64_t n = std::min(d.payload_left, c.len - pos);
        if (d.collect) {
            if (pos + n > cap) {  // a header block not captured: HPACK state is gone
                mid_ = true;
                d.collect = false;
                d.block.clear();
            } else if (d.block.size() + n <= kMaxBlock) {
                d.block.append(reinterpret_cast<const char *>(c.data.data() + pos),
                               static_cast<size_t>(n));
            } else {
                mid_ = true;
                d.collect = false;
            }
        }
        pos += n;
        d.payload_left -= n;
        if (d.payload_left == 0) {
            if (!d.collect && (d.type == kHeaders || d.type == kContinuation)) {
                // The block is gone, but the stream still exists.
                d.collect = true;
                d.block.clear();
            }
            frame_end(d, from_client);
        }
    }
}

void H2Conn::close() {
    auto s = std::move(streams_);
    streams_.clear();
    for (auto &[id, x] : s)
        on_exchange_(std::move(x));
}

}  // namespace bpfkit::httpsnoop
