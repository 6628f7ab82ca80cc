// SPDX-License-Identifier: GPL-2.0-only
// HTTP/1.x message framing over the first bytes of each read or write:
// start line, Host, Content-Length and chunked framing, so that keep-alive
// and pipelined messages are told apart. Bytes past the capture are
// counted and skipped; where framing needs them, the stream is "lost" and
// finds the next message at the start of a later read or write.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bpfkit::httpsnoop {

// One read or write: `data` is its first bytes, `len` how many it moved.
struct Chunk {
    uint64_t ts_ns = 0;
    std::span<const uint8_t> data;
    uint64_t len = 0;
};

struct Message {
    bool request = false;
    std::string method, path, host;  // request
    int status = 0;                  // response
    bool http10 = false;             // the start line says HTTP/1.0
    uint64_t first_ts = 0;           // the first byte's time
    uint64_t header_bytes = 0;
    uint64_t body_bytes = 0;   // seen, or declared where the body went unseen
    bool truncated = false;    // the head was not all captured, or framing was lost
    bool body_unseen = false;  // the body was not seen (sendfile, splice)
    bool chunked = false;
    std::string body;  // its first bytes, when asked (--body)
    uint64_t bytes() const { return header_bytes + body_bytes; }
    // Back to a new message's values, in place: the strings keep their
    // storage (cheaper than assigning a new Message, per message). Every
    // member above is set here.
    void clear() {
        request = false;
        method.clear();
        path.clear();
        host.clear();
        status = 0;
        http10 = false;
        first_ts = 0;
        header_bytes = 0;
        body_bytes = 0;
        truncated = false;
        body_unseen = false;
        chunked = false;
        body.clear();
    }
};

// Whether bytes begin an HTTP/1.x request or response line (enough of it
// to tell: a known method and a space, or "HTTP/").
bool starts_message(std::string_view s);
// Whether bytes are the beginning of such a start, too short to tell ("GE").
bool could_start(std::string_view s);
// The HTTP/2 client connection preface.
bool is_h2_preface(std::string_view s);
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct StreamStats {
    uint64_t messages = 0;
    uint64_t malformed = 0;  // bytes where a message should start that are not HTTP
    uint64_t gaps = 0;       // framing lost to uncaptured bytes
    uint64_t truncated = 0;  // heads not captured whole
};

// One direction of one connection.
class Http1Stream {
  public:
    enum class End { Complete, Lost, Closed, Superseded };
    using OnMessage = std::function<void(Message &&m, End how)>;
    // For a response being framed: does it answer a HEAD request?
    using HeadQuery = std::function<bool()>;

    Http1Stream(OnMessage on_message, HeadQuery head_query, size_t body_keep = 0)
        : on_message_(std::move(on_message)),
          head_query_(std::move(head_query)),
          body_keep_(body_keep) {}

    void feed(const Chunk &c);
    // The connection ended: a message framed by the close is complete, one
    // in the middle is reported as such.
    void close();
    // The peer started a new message while this one waits for body bytes
    // that were never seen (sendfile): end it here.
    void supersede();
    bool in_body() const { return st_ == St::BodyLen || st_ == St::ChunkData; }
    bool in_message() const { return st_ != St::Start && st_ != St::Lost && st_ != St::Opaque; }
    // Everything after this is not HTTP/1 (101 Switching Protocols, CONNECT).
    void set_opaque() { st_ = St::Opaque; }
    bool opaque() const { return st_ == St::Opaque; }
    const Message &current() const { return msg_; }
    const StreamStats &stats() const { return stats_; }
    // The last finished message switched protocols (101) or was a CONNECT 2xx.
    bool switched() const { return switched_; }

  private:
    enum class St {
        Start,
        Headers,
        BodyLen,
        ChunkSize,
        ChunkData,
        ChunkCrlf,
        Trailer,
        UntilClose,
        Lost,
        Opaque
    };
    void finish(End how);
    void lose();
    // Parses the head h (complete or not; hdr_ or the bytes of one call)
    // into msg_; false if it is not HTTP. With `end`, h may go on past the
    // head: *end is set just past its blank line, or to npos (and nothing
    // decided) when h holds no blank line.
    bool parse_head(std::string_view h, bool complete, size_t *end = nullptr);
    // The message back to what it was before parse_head() (a new one,
    // with its first byte's time).
    void forget_head();
    void keep_body(std::span<const uint8_t> b);
    // Takes up to remaining_ body bytes of c from pos; returns how many.
    uint64_t take_body(const Chunk &c, uint64_t pos, uint64_t cap);

    OnMessage on_message_;
    HeadQuery head_query_;
    size_t body_keep_;
    St st_ = St::Start;
    Message msg_;
    std::string hdr_;
    std::string line_;  // a chunk-size or trailer line in progress
    uint64_t remaining_ = 0;
    bool switched_ = false;
    StreamStats stats_;
};

// The heads are kept up to this many bytes; a longer one is cut.
inline constexpr size_t kMaxHead = 16384;

}  // namespace bpfkit::httpsnoop
