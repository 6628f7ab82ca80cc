// SPDX-License-Identifier: GPL-2.0-only
// Connections seen by httpsnoop and their exchanges: each connection (tgid,
// fd, socket, TLS or not) has a stream per direction; requests wait in
// order and each final response takes the oldest (pipelining); 1xx
// responses take none.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "httpsnoop_h2.h"
#include "httpsnoop_http.h"

namespace bpfkit::httpsnoop {

enum class Role { Unknown, Client, Server };
const char *role_name(Role r);

struct ConnKey {
    uint32_t tgid = 0;
    int32_t fd = -1;
    uint64_t sk = 0;
    bool tls = false;
    auto operator<=>(const ConnKey &) const = default;
};

struct ConnKeyHash {
    size_t operator()(const ConnKey &k) const {
        uint64_t h = k.sk ^ (static_cast<uint64_t>(k.tgid) << 32) ^
                     static_cast<uint64_t>(static_cast<uint32_t>(k.fd)) ^ (k.tls ? 1 : 0);
        h *= 0x9e3779b97f4a7c15ULL;  // the socket addresses' low bits are all alike
        return static_cast<size_t>(h ^ (h >> 29));
    }
};

// A process name as the kernel keeps it (at most 15 bytes and a NUL): held
// in place, so that a ConnInfo is copied as plain bytes, with no allocation.
class Comm {
  public:
    Comm() = default;
    Comm &operator=(std::string_view s) {
        assign(s);
        return *this;
    }
    void assign(std::string_view s) {
        n_ = static_cast<uint8_t>(std::min(s.size(), sizeof(s_)));
        memcpy(s_, s.data(), n_);
    }
    bool empty() const { return n_ == 0; }
    std::string_view view() const { return {s_, n_}; }
    operator std::string_view() const { return view(); }  // NOLINT
    friend bool operator==(const Comm &a, const Comm &b) { return a.view() == b.view(); }

  private:
    char s_[16] = {};
    uint8_t n_ = 0;
};

struct ConnInfo {
    uint32_t pid = 0;
    uint32_t tid = 0;
    Comm comm;
    uint64_t cgroup_id = 0;
    int family = 0;  // AF_INET, AF_INET6, 0 = unknown
    uint8_t laddr[16] = {}, raddr[16] = {};
    uint16_t lport = 0, rport = 0;
    bool tls = false;
    int fd = -1;
};

// One input event, as the kernel sent it.
struct DataEvent {
    ConnKey key;
    ConnInfo info;
    bool write = false;  // the process sent these bytes
    Chunk chunk;
};

enum class RecordKind {
    Exchange,      // a request and its response
    Timeout,       // a request with no response by --timeout
    Unanswered,    // a request whose connection closed before any response
    ResponseOnly,  // a response with no request seen (the connection was already open)
    Incomplete,    // a request cut off by the close (slow or abandoned client)
};
const char *kind_name(RecordKind k);

struct Record {
    RecordKind kind = RecordKind::Exchange;
    ConnInfo conn;
    Role role = Role::Unknown;
    std::string_view proto = "http/1.1";  // "http/1.0", "h2", "h2 (mid-stream)": literals
    std::optional<Message> request, response;
    uint64_t ts_ns = 0;       // when the record was made (monotonic)
    int64_t latency_ns = -1;  // first request byte to first response byte
    bool late = false;        // an exchange whose request was reported as a timeout
};

struct TrackerStats {
    uint64_t events = 0;
    uint64_t exchanges = 0;
    uint64_t timeouts = 0;
    uint64_t unanswered = 0;
    uint64_t response_only = 0;
    uint64_t incomplete = 0;
    uint64_t informational = 0;  // 1xx responses
    uint64_t malformed = 0;      // bytes on an HTTP connection that are not HTTP
    uint64_t gaps = 0;           // framing lost to bytes not captured
    uint64_t truncated_heads = 0;
    uint64_t pending_overflow = 0;  // requests dropped: too many waiting on one connection
    uint64_t conns_evicted = 0;     // connections dropped: too many
    uint64_t h2_conns = 0;
};

struct TrackerOptions {
    uint64_t timeout_ns = 10'000'000'000ULL;
    size_t body_keep = 0;  // --body
    size_t max_conns = 65536;
    size_t max_pending = 1024;
};

// A queue that keeps its storage: a std::deque frees and allocates a block
// as a connection's one waiting request comes and goes (two fit in one).
// Adding may move the elements (references to them do not stay).
template <class T>
class Fifo {
  public:
    bool empty() const { return head_ == v_.size(); }
    size_t size() const { return v_.size() - head_; }
    T &front() { return v_[head_]; }
    template <class... A>
    void emplace_back(A &&...a) {
        v_.emplace_back(std::forward<A>(a)...);
    }
    void pop_front() {
        if (++head_ == v_.size()) {
            v_.clear();
            head_ = 0;
        } else if (head_ >= 32 && head_ * 2 >= v_.size()) {  // a long pipeline
            v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    auto begin() { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
    auto end() { return v_.end(); }

  private:
    std::vector<T> v_;
    size_t head_ = 0;
};

class Tracker {
  public:
    using Emit = std::function<void(Record &&)>;
    Tracker(TrackerOptions o, Emit emit) : opts_(o), emit_(std::move(emit)) {}

    void data(const DataEvent &e);
    // close() of an fd of the socket sk in process tgid (the connection ends
    // with its last fd), or the socket's end (tgid 0).
    void close(uint32_t tgid, int32_t fd, uint64_t sk, uint64_t now_ns);
    // Requests unanswered for longer than the timeout become records.
    void sweep(uint64_t now_ns);
    // The end of the run: what is still open is reported as it stands.
    void finish(uint64_t now_ns);
    const TrackerStats &stats() const;
    size_t connections() const { return conns_.size(); }

  private:
    struct Pending {
        explicit Pending(Message &&m) : msg(std::move(m)) {}
        Message msg;
        bool reported = false;  // as a timeout
    };
    // Kept in the map's node (which does not move): its streams call back
    // into the tracker with it.
    struct Conn {
        Conn(Tracker &t, const ConnKey &k, const ConnInfo &i);
        Conn(const Conn &) = delete;
        Conn &operator=(const Conn &) = delete;
        // The stream of one direction, calling back with this connection.
        Http1Stream stream(Tracker &t, bool written);
        ConnKey key;
        ConnInfo info;
        Role role = Role::Unknown;
        Http1Stream out, in;  // written, read
        std::unique_ptr<H2Conn> h2;
        bool h2_checked = false;
        Fifo<Pending> pending;
        std::vector<int32_t> fds;  // the fds it was used through
        uint64_t last_ns = 0;
    };
    Conn &conn(const DataEvent &e);
    void on_message(Conn &c, bool written, Message &&m, Http1Stream::End how);
    void on_h2(Conn &c, H2Exchange &&x);
    void end_conn(Conn &c, uint64_t now_ns);
    // Reports a pending request as timed out at now_ns.
    void time_out(Conn &c, Pending &p, uint64_t now_ns);
    Record base(const Conn &c, uint64_t ts) const;
    std::string_view proto_of(const Message &m) const;

    TrackerOptions opts_;
    Emit emit_;
    std::unordered_map<ConnKey, Conn, ConnKeyHash> conns_;
    mutable TrackerStats stats_;
    uint64_t retired_malformed_ = 0, retired_gaps_ = 0, retired_trunc_ = 0;
};

}  // namespace bpfkit::httpsnoop
