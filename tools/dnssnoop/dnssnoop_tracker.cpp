// SPDX-License-Identifier: GPL-2.0-only
#include "dnssnoop_tracker.h"

#include <netinet/in.h>

#include <algorithm>

#include "byte_reader.h"  // common/

namespace bpfkit::dnssnoop {

const char *event_name(EventKind k) {
    switch (k) {
        case EventKind::Query:
            return "query";
        case EventKind::Answer:
            return "answer";
        case EventKind::Timeout:
            return "timeout";
        case EventKind::Unmatched:
            return "unmatched";
        case EventKind::Malformed:
            return "malformed";
        case EventKind::Dot:
            return "dot";
    }
    return "unknown";
}

namespace {

constexpr uint64_t kStreamIdleNs = 120'000'000'000ull;  // TCP streams quiet this long go

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

void put16(std::string &k, uint16_t v) {
    k.push_back(static_cast<char>(v >> 8));
    k.push_back(static_cast<char>(v & 0xff));
}

void put_endpoint(std::string &k, const Endpoint &e) {
    k.push_back(static_cast<char>(e.addr.family));
    k.append(reinterpret_cast<const char *>(e.addr.bytes.data()), e.addr.bytes.size());
    put16(k, e.port);
}

}  // namespace

bool name_has_suffix(const std::string &name, const std::string &suffix) {
    std::string s = suffix;
    while (!s.empty() && s.back() == '.')
        s.pop_back();
    while (!s.empty() && s.front() == '.')
        s.erase(s.begin());
    if (s.empty()) return true;
    if (name.size() < s.size()) return false;
    size_t off = name.size() - s.size();
    for (size_t i = 0; i < s.size(); i++)
        if (lower(name[off + i]) != lower(s[i])) return false;
    return off == 0 || name[off - 1] == '.';
}

Tracker::Tracker(TrackerOptions opts, Sink sink, Resolve resolve)
    : opts_(std::move(opts)), sink_(std::move(sink)), resolve_(std::move(resolve)) {}

void Tracker::resolve(Owner &o, const Conn &c) {
    if (resolve_) resolve_(o, c.proto, c.client, c.server);
}

namespace {

std::string conn_key(uint64_t cookie, uint8_t proto, const Endpoint &client,
                     const Endpoint &server) {
    std::string k;
    k.reserve(64);
    for (int i = 7; i >= 0; i--)
        k.push_back(static_cast<char>((cookie >> (8 * i)) & 0xff));
    k.push_back(static_cast<char>(proto));
    put_endpoint(k, client);
    put_endpoint(k, server);
    return k;
}

// The socket, tuple and id: what a response must share with its query.
std::string match_prefix(const std::string &conn, uint16_t id) {
    std::string k = conn;
    put16(k, id);
    return k;
}

void put_question(std::string &k, const dns::Message &m) {
    if (m.questions.empty()) return;
    const dns::Question &q = m.questions.front();
    put16(k, q.type);
    put16(k, q.klass);
    for (char c : q.name.wire)
        k.push_back(lower(c));
}

}  // namespace

namespace {

Event make_event(EventKind kind, uint64_t ts, uint8_t proto, const Endpoint &client,
                 const Endpoint &server) {
    Event e;
    e.kind = kind;
    e.ts_ns = ts;
    e.proto = proto;
    e.client = client;
    e.server = server;
    return e;
}

}  // namespace

void Tracker::emit_timeout(Pending &&p, uint64_t ts) {
    ++stats_.timeouts;
    Event e = make_event(EventKind::Timeout, ts, p.proto, p.client, p.server);
    e.owner = std::move(p.owner);
    e.retransmits = p.retransmits;
    e.timeout_ns = opts_.timeout_ns;
    e.query = std::move(p.query);
    sink_(std::move(e));
}

void Tracker::sweep(uint64_t now_ns) {
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (now_ns >= it->second.first_ns && now_ns - it->second.first_ns >= opts_.timeout_ns) {
            Pending p = std::move(it->second);
            it = pending_.erase(it);
            uint64_t ts = p.first_ns + opts_.timeout_ns;
            emit_timeout(std::move(p), ts);
        } else {
            ++it;
        }
    }
    for (auto it = streams_.begin(); it != streams_.end();)
        it = now_ns > it->second.last_ns + kStreamIdleNs ? streams_.erase(it) : std::next(it);
    for (auto it = dot_seen_.begin(); it != dot_seen_.end();)
        it = now_ns > it->second + kStreamIdleNs ? dot_seen_.erase(it) : std::next(it);
}

void Tracker::message(const Conn &c, Dir dir, uint64_t ts, std::span<const uint8_t> bytes, bool cut,
                      Owner owner) {
    ++stats_.messages;
    dns::Message m;
    dns::Error err = dns::parse(bytes, m);
    bool truncated = false;
    if (!m.complete) {
        // Cut by the snap length: the header and the question still match it.
        if (cut && m.questions.size() == m.qdcount) {
            truncated = true;
        } else {
            ++stats_.malformed;
            Event e = make_event(EventKind::Malformed, ts, c.proto, c.client, c.server);
            resolve(owner, c);
            e.owner = std::move(owner);
            e.reason = dns::error_name(err);
            e.length = static_cast<uint32_t>(bytes.size());
            sink_(std::move(e));
            return;
        }
    }
    // A query leaves; a response comes in. The rest is a local server's side.
    if (m.qr != (dir == Dir::Ingress)) {
        ++stats_.server_side;
        return;
    }
    const std::string conn = conn_key(c.cookie, c.proto, c.client, c.server);
    std::string key = match_prefix(conn, m.id);
    if (!m.qr) {
        ++stats_.queries;
        put_question(key, m);
        auto it = pending_.find(key);
        Event e = make_event(EventKind::Query, ts, c.proto, c.client, c.server);
        if (it != pending_.end()) {
            // The same query again before its answer: a retransmission.
            ++it->second.retransmits;
            ++stats_.retransmits;
            if (!it->second.owner.known && owner.known) it->second.owner = owner;
            resolve(it->second.owner, c);
            e.owner = it->second.owner;
            e.retransmits = it->second.retransmits;
        } else {
            if (pending_.size() >= opts_.max_pending) {
                auto oldest = std::min_element(pending_.begin(), pending_.end(),
                                               [](const auto &a, const auto &b) {
                                                   return a.second.first_ns < b.second.first_ns;
                                               });
                ++stats_.pending_evicted;
                pending_.erase(oldest);
            }
            Pending p;
            p.first_ns = ts;
            p.proto = c.proto;
            p.client = c.client;
            p.server = c.server;
            resolve(owner, c);
            p.owner = owner;
            p.query = m;
            e.owner = std::move(owner);
            pending_.emplace(key, std::move(p));
        }
        e.query = std::move(m);
        sink_(std::move(e));
        return;
    }
    // A response: its query by socket, tuple, id and question; a response
    // without a question (FORMERR, some NOTIMP) by socket, tuple and id.
    auto it = pending_.end();
    if (!m.questions.empty()) {
        put_question(key, m);
        it = pending_.find(key);
    } else {
        it = pending_.lower_bound(key);
        if (it != pending_.end() && it->first.compare(0, key.size(), key) != 0) it = pending_.end();
    }
    Event e = make_event(EventKind::Answer, ts, c.proto, c.client, c.server);
    e.truncated = truncated;
    if (truncated) ++stats_.truncated;
    if (it == pending_.end()) {
        ++stats_.unmatched;
        e.kind = EventKind::Unmatched;
        resolve(owner, c);
        e.owner = std::move(owner);
    } else {
        ++stats_.answers;
        Pending p = std::move(it->second);
        pending_.erase(it);
        e.latency_ns = ts >= p.first_ns ? ts - p.first_ns : 0;
        e.retransmits = p.retransmits;
        e.owner = p.owner.known || !owner.known ? std::move(p.owner) : std::move(owner);
        e.query = std::move(p.query);
    }
    e.response = std::move(m);
    sink_(std::move(e));
}

void Tracker::dot(const Conn &c, Dir dir, const CapturedPacket &p, const pkt::Packet &pk) {
    const std::string key = conn_key(c.cookie, c.proto, c.client, c.server);
    if (pk.tcp_flags & (pkt::kTcpFin | pkt::kTcpRst)) {
        dot_seen_.erase(key);
        return;
    }
    // Once per connection, at the client's first data (its TLS ClientHello):
    // by then every rung knows the socket's process.
    if (dir != Dir::Egress || pk.payload_len == 0) return;
    auto [it, fresh] = dot_seen_.try_emplace(key, p.ts_ns);
    it->second = p.ts_ns;
    if (!fresh) return;
    if (dot_seen_.size() > opts_.max_tcp_streams) {
        dot_seen_.clear();
        dot_seen_.emplace(key, p.ts_ns);
    }
    ++stats_.dot_connections;
    Event e = make_event(EventKind::Dot, p.ts_ns, c.proto, c.client, c.server);
    e.owner = p.owner;
    resolve(e.owner, c);
    sink_(std::move(e));
}

void Tracker::tcp(const Conn &c, Dir dir, const CapturedPacket &p, const pkt::Packet &pk) {
    ByteReader r(p.ip);
    if (!r.has(pk.l4_offset + 4, 4)) {
        ++stats_.not_ip;
        return;
    }
    const uint32_t seq = r.u32(pk.l4_offset + 4);
    std::string key = conn_key(c.cookie, c.proto, c.client, c.server);
    key.push_back(dir == Dir::Egress ? 'o' : 'i');
    const bool syn = pk.tcp_flags & pkt::kTcpSyn;
    const bool end = pk.tcp_flags & (pkt::kTcpFin | pkt::kTcpRst);
    // The payload's length on the wire, from the IP length (the capture may have cut it).
    uint32_t wire = pk.payload_len;
    if (pk.ip_len > pk.payload_offset) wire = std::max(wire, pk.ip_len - pk.payload_offset);
    auto payload = p.ip.subspan(pk.payload_offset, pk.payload_len);
    auto it = streams_.find(key);
    if (it == streams_.end()) {
        if (wire == 0 && !syn) return;
        if (streams_.size() >= opts_.max_tcp_streams) {
            auto oldest = std::min_element(
                streams_.begin(), streams_.end(),
                [](const auto &a, const auto &b) { return a.second.last_ns < b.second.last_ns; });
            ++stats_.streams_evicted;
            streams_.erase(oldest);
        }
        it = streams_.emplace(key, StreamState{}).first;
    }
    it->second.last_ns = p.ts_ns;
    uint64_t gaps = it->second.stream.stats().gaps;
    it->second.stream.segment(seq, syn, payload, wire, [&](std::span<const uint8_t> m, bool cut) {
        message(c, dir, p.ts_ns, m, cut, p.owner);
    });
    stats_.tcp_gaps += it->second.stream.stats().gaps - gaps;
    if (end) {
        if (pk.tcp_flags & pkt::kTcpRst) {
            std::string other = key;
            other.back() = dir == Dir::Egress ? 'i' : 'o';
            streams_.erase(other);
        }
        streams_.erase(key);
    }
}

void Tracker::packet(const CapturedPacket &p) {
    ++stats_.packets;
    pkt::Packet pk;
    pkt::Error err = pkt::parse_ip(p.ip, pk);
    if (!pk.has_ports || (pk.ip_proto != IPPROTO_UDP && pk.ip_proto != IPPROTO_TCP)) {
        ++stats_.not_ip;
        return;
    }
    Conn c;
    c.proto = pk.ip_proto;
    c.cookie = p.sock_cookie;
    Endpoint src{pk.src, pk.sport}, dst{pk.dst, pk.dport};
    c.client = p.dir == Dir::Egress ? src : dst;
    c.server = p.dir == Dir::Egress ? dst : src;
    if (c.proto == IPPROTO_TCP && c.server.port == opts_.dot_port) {
        dot(c, p.dir, p, pk);
        return;
    }
    if (std::find(opts_.ports.begin(), opts_.ports.end(), c.server.port) == opts_.ports.end()) {
        ++stats_.server_side;
        return;
    }
    if (c.proto == IPPROTO_TCP) {
        tcp(c, p.dir, p, pk);
        return;
    }
    auto payload = p.ip.subspan(pk.payload_offset, pk.payload_len);
    // The UDP length says how long the datagram was; the capture may hold less.
    bool cut = err != pkt::Error::Ok || p.ip.size() < p.wire_len || (pk.ip_len > p.ip.size());
    message(c, p.dir, p.ts_ns, payload, cut, p.owner);
}

}  // namespace bpfkit::dnssnoop
