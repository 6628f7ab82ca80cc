// SPDX-License-Identifier: GPL-2.0-only
// From captured packets to DNS transactions: parses each UDP payload or TCP
// stream (per connection and direction, reassembled), matches queries to
// responses by socket, tuple, id and question, counts retransmissions and
// reports queries whose answer never came. Pure logic: the captures feed it
// packets, the caller says what time it is, and output goes to a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dns.h"     // common/
#include "packet.h"  // common/
#include "dnssnoop_tcp.h"

namespace bpfkit::dnssnoop {

// The process behind a socket.
struct Owner {
    bool known = false;
    uint32_t pid = 0;  // tgid
    std::optional<uint32_t> tid;
    std::optional<uint32_t> uid;
    uint64_t cgroup_id = 0;
    std::string comm;
    std::optional<std::string> container;  // container id, when in one
};

struct Endpoint {
    pkt::IpAddr addr;
    uint16_t port = 0;
    bool operator==(const Endpoint &) const = default;
};

enum class Dir : uint8_t { Egress, Ingress };

// One packet as a capture saw it.
struct CapturedPacket {
    uint64_t ts_ns = 0;           // CLOCK_MONOTONIC
    Dir dir = Dir::Egress;        // leaving this host (or its socket), or arriving
    std::span<const uint8_t> ip;  // from the IP header, as captured
    uint32_t wire_len = 0;        // the IP packet's whole length
    uint64_t sock_cookie = 0;     // the socket's cookie; 0 if unknown
    Owner owner;                  // the socket's process, if the capture knows it
};

enum class EventKind : uint8_t { Query, Answer, Timeout, Unmatched, Malformed, Dot };
const char *event_name(EventKind k);  // "query", "answer", ...

struct Event {
    EventKind kind = EventKind::Answer;
    uint64_t ts_ns = 0;  // when: sent (query), answered, timed out, seen
    uint8_t proto = 0;   // IPPROTO_UDP / IPPROTO_TCP
    Endpoint client, server;
    Owner owner;
    std::optional<dns::Message> query;     // query, answer, timeout
    std::optional<dns::Message> response;  // answer, unmatched
    uint64_t latency_ns = 0;               // answer: from the first send
    uint32_t retransmits = 0;              // answer, timeout
    uint64_t timeout_ns = 0;               // timeout
    bool truncated = false;                // the response was cut by the capture's snap length
    std::string reason;                    // malformed: dns::error_name()
    uint32_t length = 0;                   // malformed: the message's length
};

struct TrackerOptions {
    std::vector<uint16_t> ports = {53};  // plain DNS
    uint16_t dot_port = 853;             // DNS over TLS: connections reported, not decoded
    uint64_t timeout_ns = 5'000'000'000ull;
    size_t max_pending = 65536;
    size_t max_tcp_streams = 4096;
};

struct TrackerStats {
    uint64_t packets = 0;
    uint64_t messages = 0;
    uint64_t queries = 0;  // query sends, retransmissions included
    uint64_t answers = 0;
    uint64_t timeouts = 0;
    uint64_t unmatched = 0;
    uint64_t malformed = 0;
    uint64_t retransmits = 0;
    uint64_t truncated = 0;        // responses cut by the snap length, matched on what was there
    uint64_t server_side = 0;      // a local server's side of a conversation (ignored)
    uint64_t not_ip = 0;           // packets that did not parse as IP + TCP/UDP
    uint64_t pending_evicted = 0;  // queries forgotten unanswered because too many were pending
    uint64_t streams_evicted = 0;  // TCP streams forgotten because too many were open
    uint64_t tcp_gaps = 0;         // places where TCP stream bytes were never seen
    uint64_t dot_connections = 0;
};

class Tracker {
  public:
    using Sink = std::function<void(Event &&)>;
    // Fills in the process when the capture did not know it (and anything
    // else about it, such as the container). `client` is the local side.
    using Resolve =
        std::function<void(Owner &, uint8_t proto, const Endpoint &client, const Endpoint &server)>;

    Tracker(TrackerOptions opts, Sink sink, Resolve resolve = {});

    void packet(const CapturedPacket &p);
    // Reports every pending query sent at least the timeout before now_ns.
    void sweep(uint64_t now_ns);
    size_t pending() const { return pending_.size(); }
    size_t tcp_streams() const { return streams_.size(); }
    const TrackerStats &stats() const { return stats_; }

  private:
    struct Pending {
        uint64_t first_ns = 0;
        uint32_t retransmits = 0;
        uint8_t proto = 0;
        Endpoint client, server;
        Owner owner;
        dns::Message query;
    };
    struct Conn {
        uint8_t proto;
        uint64_t cookie;
        Endpoint client, server;
    };

    void message(const Conn &c, Dir dir, uint64_t ts, std::span<const uint8_t> bytes, bool cut,
                 Owner owner);
    void tcp(const Conn &c, Dir dir, const CapturedPacket &p, const pkt::Packet &pk);
    void dot(const Conn &c, Dir dir, const CapturedPacket &p, const pkt::Packet &pk);
    void resolve(Owner &o, const Conn &c);
    void emit_timeout(Pending &&p, uint64_t ts);

    TrackerOptions opts_;
    Sink sink_;
    Resolve resolve_;
    // Key: socket, tuple and id (kPrefix bytes), then the question.
    std::map<std::string, Pending> pending_;
    struct StreamState {
        TcpStream stream;
        uint64_t last_ns = 0;
    };
    std::unordered_map<std::string, StreamState> streams_;
    std::unordered_map<std::string, uint64_t> dot_seen_;  // connection -> last seen
    TrackerStats stats_;
};

// "example.com" matches "example.com" and "www.example.com", not
// "badexample.com"; ASCII case-insensitive; "." or "" matches everything.
bool name_has_suffix(const std::string &name, const std::string &suffix);

}  // namespace bpfkit::dnssnoop
