// Unit tests for dnssnoop's user-space logic (tools/dnssnoop/): TCP stream
// reassembly, matching queries to responses, timeouts, retransmissions,
// DoT connections, and the JSON and text records. Packets are built byte by
// byte (../common/frames.h, ../common/dns_builder.h).
#include <gtest/gtest.h>

#include <netinet/in.h>

#include <string>
#include <vector>

#include "../common/dns_builder.h"
#include "../common/frames.h"
#include "dnssnoop_hold.h"
#include "dnssnoop_output.h"
#include "dnssnoop_tcp.h"
#include "dnssnoop_tracker.h"
#include "bpfkit_config.h"
#include "json.h"

using namespace bpfkit;
using namespace bpfkit::dnssnoop;
namespace tf = bpfkit::testframes;
namespace td = bpfkit::testdns;

namespace {

using Bytes = std::vector<uint8_t>;

constexpr tf::Ip4 kClient = {192, 0, 2, 10};
constexpr tf::Ip4 kServer = {198, 51, 100, 53};
constexpr uint64_t kMs = 1'000'000;

// ---- DNS messages ----

Bytes query(uint16_t id, std::string_view qname, uint16_t qtype = dns::kTypeA) {
    return td::cat({td::header(id, td::kRD, 1, 0, 0, 0), td::question(td::name(qname), qtype)});
}

// A response with one A record per address (owner: the question name, by pointer).
Bytes response(uint16_t id, std::string_view qname, std::vector<tf::Ip4> addrs, uint16_t rcode = 0,
               uint16_t qtype = dns::kTypeA) {
    Bytes b = td::cat({td::header(id, static_cast<uint16_t>(td::kQR | td::kRD | td::kRA | rcode), 1,
                                  static_cast<uint16_t>(addrs.size()), 0, 0),
                       td::question(td::name(qname), qtype)});
    for (const auto &a : addrs)
        td::append(b, td::rr(td::ptr(12), dns::kTypeA, 300, Bytes(a.begin(), a.end())));
    return b;
}

Bytes with_length(const Bytes &m) {
    Bytes b;
    td::put16(b, static_cast<uint16_t>(m.size()));
    td::append(b, m);
    return b;
}

// ---- IP packets ----

Bytes udp4(const tf::Ip4 &src, uint16_t sport, const tf::Ip4 &dst, uint16_t dport,
           const Bytes &dns) {
    return tf::cat({tf::ipv4(IPPROTO_UDP, 8 + dns.size(), {}, 0, 64, src, dst),
                    tf::udp(sport, dport, dns.size()), dns});
}

Bytes tcp4(const tf::Ip4 &src, uint16_t sport, const tf::Ip4 &dst, uint16_t dport, uint8_t flags,
           uint32_t seq, const Bytes &data) {
    Bytes t = tf::tcp(sport, dport, flags);
    t[4] = static_cast<uint8_t>(seq >> 24);
    t[5] = static_cast<uint8_t>(seq >> 16);
    t[6] = static_cast<uint8_t>(seq >> 8);
    t[7] = static_cast<uint8_t>(seq);
    return tf::cat({tf::ipv4(IPPROTO_TCP, t.size() + data.size(), {}, 0, 64, src, dst), t, data});
}

Owner owner(uint32_t pid, const char *comm) {
    Owner o;
    o.known = true;
    o.pid = pid;
    o.tid = pid + 1;
    o.uid = 1000;
    o.comm = comm;
    return o;
}

struct Rig {
    std::vector<Event> events;
    TrackerOptions opts;
    std::unique_ptr<Tracker> t;
    int resolves = 0;

    explicit Rig(TrackerOptions o = {}) : opts(std::move(o)) {
        t = std::make_unique<Tracker>(
            opts, [this](Event &&e) { events.push_back(std::move(e)); },
            [this](Owner &ow, uint8_t, const Endpoint &, const Endpoint &) {
                ++resolves;
                if (!ow.known) {
                    ow.known = true;
                    ow.pid = 4242;
                    ow.comm = "from-proc";
                }
            });
    }
    // Client -> server (egress) and server -> client (ingress), over UDP.
    void out(uint64_t ts, const Bytes &dns, uint16_t cport = 40000, Owner o = owner(100, "dig"),
             uint64_t cookie = 7) {
        Bytes p = udp4(kClient, cport, kServer, 53, dns);
        send(ts, Dir::Egress, p, o, cookie);
    }
    void in(uint64_t ts, const Bytes &dns, uint16_t cport = 40000, Owner o = owner(100, "dig"),
            uint64_t cookie = 7) {
        Bytes p = udp4(kServer, 53, kClient, cport, dns);
        send(ts, Dir::Ingress, p, o, cookie);
    }
    void send(uint64_t ts, Dir d, const Bytes &p, Owner o = owner(100, "dig"), uint64_t cookie = 7,
              size_t cap = SIZE_MAX) {
        CapturedPacket c;
        c.ts_ns = ts;
        c.dir = d;
        c.ip = std::span<const uint8_t>(p.data(), std::min(cap, p.size()));
        c.wire_len = static_cast<uint32_t>(p.size());
        c.sock_cookie = cookie;
        c.owner = std::move(o);
        t->packet(c);
    }
    std::vector<const Event *> of(EventKind k) const {
        std::vector<const Event *> v;
        for (const auto &e : events)
            if (e.kind == k) v.push_back(&e);
        return v;
    }
};

// ---- TcpStream ----

struct StreamRig {
    TcpStream s;
    std::vector<Bytes> got;
    std::vector<bool> cut;
    void seg(uint32_t seq, const Bytes &b, bool syn = false, uint32_t wire = 0) {
        s.segment(seq, syn, b, wire ? wire : static_cast<uint32_t>(b.size()),
                  [&](std::span<const uint8_t> m, bool c) {
                      got.emplace_back(m.begin(), m.end());
                      cut.push_back(c);
                  });
    }
};

TEST(DnssnoopTcpStream, InOrderSeveralPerSegmentAndSplit) {
    Bytes a = query(1, "a.example"), b = query(2, "b.example"), c = query(3, "c.example");
    Bytes stream = td::cat({with_length(a), with_length(b), with_length(c)});
    StreamRig r;
    r.seg(999, {}, true);  // SYN: data starts at 1000
    // a and b in one segment, c split in two
    size_t ab = 2 * 2 + a.size() + b.size();
    r.seg(1000, Bytes(stream.begin(), stream.begin() + static_cast<long>(ab) + 5));
    ASSERT_EQ(r.got.size(), 2u);
    r.seg(static_cast<uint32_t>(1000 + ab + 5),
          Bytes(stream.begin() + static_cast<long>(ab) + 5, stream.end()));
    ASSERT_EQ(r.got.size(), 3u);
    EXPECT_EQ(r.got[0], a);
    EXPECT_EQ(r.got[1], b);
    EXPECT_EQ(r.got[2], c);
    EXPECT_EQ(r.s.stats().gaps, 0u);
}

TEST(DnssnoopTcpStream, OutOfOrderIsHeldAndDuplicatesAreDropped) {
    Bytes a = with_length(query(1, "a.example"));
    StreamRig r;
    r.seg(0, {}, true);
    Bytes p1(a.begin(), a.begin() + 5), p2(a.begin() + 5, a.begin() + 12),
        p3(a.begin() + 12, a.end());
    r.seg(13, p3);  // early
    r.seg(6, p2);   // early
    EXPECT_TRUE(r.got.empty());
    EXPECT_EQ(r.s.stats().held, 2u);
    r.seg(1, p1);
    ASSERT_EQ(r.got.size(), 1u);
    EXPECT_EQ(r.got[0], query(1, "a.example"));
    // A retransmission of all of it, and an overlap, deliver nothing more.
    r.seg(1, a);
    r.seg(4, Bytes(a.begin() + 3, a.end()));
    EXPECT_EQ(r.got.size(), 1u);
    EXPECT_EQ(r.s.stats().duplicate_bytes, a.size() + a.size() - 3);
}

TEST(DnssnoopTcpStream, OverlapDeliversOnlyTheNewBytes) {
    Bytes a = with_length(query(1, "a.example")), b = with_length(query(2, "b.example"));
    Bytes ab = td::cat({a, b});
    StreamRig r;
    r.seg(0, {}, true);
    r.seg(1, Bytes(ab.begin(), ab.begin() + 10));
    r.seg(5, Bytes(ab.begin() + 4, ab.end()));  // 6 bytes again, then the rest
    ASSERT_EQ(r.got.size(), 2u);
    EXPECT_EQ(r.got[1], query(2, "b.example"));
}

TEST(DnssnoopTcpStream, SequenceNumbersWrapAround) {
    Bytes a = with_length(query(9, "wrap.example"));
    StreamRig r;
    r.seg(0xfffffffa, {}, true);
    r.seg(0xfffffffb, Bytes(a.begin(), a.begin() + 8));
    r.seg(0x00000003, Bytes(a.begin() + 8, a.end()));
    ASSERT_EQ(r.got.size(), 1u);
    EXPECT_EQ(r.got[0], query(9, "wrap.example"));
}

TEST(DnssnoopTcpStream, JoinedMidConnectionStartsAtTheFirstSegment) {
    StreamRig r;
    r.seg(5000, with_length(query(3, "mid.example")));
    ASSERT_EQ(r.got.size(), 1u);
}

TEST(DnssnoopTcpStream, ACutMessageIsDeliveredAsFarAsItCameAndFramingGoesOn) {
    Bytes big = with_length(query(1, "cut.example")), next = with_length(query(2, "next.example"));
    StreamRig r;
    r.seg(0, {}, true);
    // Only 16 of its bytes captured: the message so far, marked cut; the next one whole.
    r.seg(1, Bytes(big.begin(), big.begin() + 16), false, static_cast<uint32_t>(big.size()));
    r.seg(static_cast<uint32_t>(1 + big.size()), next);
    ASSERT_EQ(r.got.size(), 2u);
    EXPECT_TRUE(r.cut[0]);
    EXPECT_EQ(r.got[0], Bytes(big.begin() + 2, big.begin() + 16));
    EXPECT_FALSE(r.cut[1]);
    EXPECT_EQ(r.got[1], query(2, "next.example"));
    EXPECT_EQ(r.s.stats().gaps, 0u);
    EXPECT_EQ(r.s.stats().cut, 1u);
}

TEST(DnssnoopTcpStream, ACutThatEndsInsideAMessageKeepsFraming) {
    // One segment holds a whole message and the start of a long one; the
    // capture keeps the first and 10 bytes of the second; the second's rest
    // comes in the next segment, then a third message.
    Bytes a = with_length(query(1, "a.example")), b = with_length(query(2, "bbbbbbbbbbbb.example"));
    Bytes c = with_length(query(3, "c.example"));
    Bytes seg1 = td::cat({a, Bytes(b.begin(), b.begin() + 20)});
    StreamRig r;
    r.seg(0, {}, true);
    r.seg(1, Bytes(seg1.begin(), seg1.begin() + static_cast<long>(a.size()) + 10), false,
          static_cast<uint32_t>(seg1.size()));
    r.seg(static_cast<uint32_t>(1 + seg1.size()), td::cat({Bytes(b.begin() + 20, b.end()), c}));
    ASSERT_EQ(r.got.size(), 3u);
    EXPECT_FALSE(r.cut[0]);
    EXPECT_TRUE(r.cut[1]);
    EXPECT_EQ(r.got[2], query(3, "c.example"));
    EXPECT_EQ(r.s.stats().gaps, 0u);
}

TEST(DnssnoopTcpStream, ACutIntoALengthPrefixLosesStep) {
    Bytes a = with_length(query(1, "a.example")), b = with_length(query(2, "b.example"));
    Bytes seg1 = td::cat({a, b});
    StreamRig r;
    r.seg(0, {}, true);
    // Cut right after a: b's prefix was never seen.
    r.seg(1, a, false, static_cast<uint32_t>(seg1.size()));
    EXPECT_EQ(r.got.size(), 1u);
    EXPECT_EQ(r.s.stats().gaps, 1u);
}

TEST(DnssnoopTcpStream, TooManyHeldSegmentsGiveUpOnTheMissingBytes) {
    StreamRig r;
    r.seg(0, {}, true);
    Bytes m = with_length(query(1, "x.example"));
    uint32_t seq = 1000;  // bytes 1..999 never come
    for (size_t i = 0; i <= TcpStream::kMaxHeld; i++) {
        r.seg(seq, m);
        seq += static_cast<uint32_t>(m.size());
    }
    EXPECT_EQ(r.s.stats().gaps, 1u);
    EXPECT_EQ(r.got.size(), TcpStream::kMaxHeld + 1);
    EXPECT_EQ(r.s.held_bytes(), 0u);
}

// ---- Tracker: UDP ----

TEST(DnssnoopTracker, QueryAndAnswerMakeOneTransaction) {
    Rig r;
    r.out(1000 * kMs, query(0x1234, "www.example.com"));
    r.in(1000 * kMs + 200412000, response(0x1234, "www.example.com", {{192, 0, 2, 80}}), 40000,
         owner(100, "dig"));
    auto q = r.of(EventKind::Query);
    auto a = r.of(EventKind::Answer);
    ASSERT_EQ(q.size(), 1u);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0]->latency_ns, 200412000u);
    EXPECT_EQ(a[0]->owner.pid, 100u);
    EXPECT_EQ(a[0]->proto, IPPROTO_UDP);
    EXPECT_EQ(a[0]->client.port, 40000);
    EXPECT_EQ(a[0]->server.port, 53);
    EXPECT_EQ(a[0]->server.addr.str(), "198.51.100.53");
    ASSERT_TRUE(a[0]->response);
    ASSERT_EQ(a[0]->response->answers.size(), 1u);
    EXPECT_EQ(answer_data(a[0]->response->answers[0]), "192.0.2.80");
    EXPECT_EQ(r.t->pending(), 0u);
    EXPECT_EQ(r.t->stats().answers, 1u);
}

TEST(DnssnoopTracker, ResponseWithoutQueryIsUnmatchedWithTheReceiver) {
    Rig r;
    r.in(5 * kMs, response(7, "late.example", {}), 40001, owner(300, "resolver"));
    auto u = r.of(EventKind::Unmatched);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0]->owner.pid, 300u);
    EXPECT_FALSE(u[0]->query);
}

TEST(DnssnoopTracker, RetransmissionCountsAndLatencyIsFromTheFirstSend) {
    Rig r;
    r.out(10 * kMs, query(5, "r.example"));
    r.out(70 * kMs, query(5, "r.example"));
    r.in(110 * kMs, response(5, "r.example", {{10, 0, 0, 1}}));
    ASSERT_EQ(r.of(EventKind::Query).size(), 2u);
    EXPECT_EQ(r.of(EventKind::Query)[1]->retransmits, 1u);
    auto a = r.of(EventKind::Answer);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0]->retransmits, 1u);
    EXPECT_EQ(a[0]->latency_ns, 100 * kMs);
    EXPECT_EQ(r.t->stats().retransmits, 1u);
}

TEST(DnssnoopTracker, UnansweredQueriesTimeOutAndALateAnswerIsUnmatched) {
    TrackerOptions o;
    o.timeout_ns = 500 * kMs;
    Rig r(o);
    r.out(1000 * kMs, query(9, "drop.example", dns::kTypeAaaa));
    r.t->sweep(1499 * kMs);
    EXPECT_TRUE(r.of(EventKind::Timeout).empty());
    r.t->sweep(1500 * kMs);
    auto t = r.of(EventKind::Timeout);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0]->ts_ns, 1500 * kMs);
    EXPECT_EQ(t[0]->timeout_ns, 500 * kMs);
    EXPECT_EQ(t[0]->owner.pid, 100u);
    r.in(1600 * kMs, response(9, "drop.example", {}, 0, dns::kTypeAaaa));
    EXPECT_EQ(r.of(EventKind::Unmatched).size(), 1u);
}

TEST(DnssnoopTracker, IdQuestionSocketAndTupleMustAllMatch) {
    TrackerOptions o;
    o.timeout_ns = 100 * kMs;
    Rig r(o);
    r.out(0, query(1, "a.example"));
    r.in(1 * kMs, response(2, "a.example", {}));                           // other id
    r.in(2 * kMs, response(1, "b.example", {}));                           // other name
    r.in(3 * kMs, response(1, "a.example", {}, 0, dns::kTypeAaaa));        // other type
    r.in(4 * kMs, response(1, "a.example", {}), 40001);                    // other port
    r.in(5 * kMs, response(1, "a.example", {}), 40000, owner(1, "x"), 8);  // other socket
    EXPECT_EQ(r.of(EventKind::Unmatched).size(), 5u);
    EXPECT_TRUE(r.of(EventKind::Answer).empty());
    // The name matches whatever its case (0x20 randomization).
    r.in(6 * kMs, response(1, "A.Example", {}));
    EXPECT_EQ(r.of(EventKind::Answer).size(), 1u);
}

TEST(DnssnoopTracker, AResponseWithoutAQuestionMatchesByIdAndTuple) {
    Rig r;
    r.out(0, query(0x42, "formerr.example"));
    Bytes formerr = td::header(0x42, td::kQR | 1, 0, 0, 0, 0);
    r.in(3 * kMs, formerr);
    auto a = r.of(EventKind::Answer);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(dns::rcode_name(a[0]->response->rcode), "FORMERR");
    ASSERT_TRUE(a[0]->query);
    EXPECT_EQ(a[0]->query->questions.front().name.presentation(), "formerr.example");
}

TEST(DnssnoopTracker, ALocalServersSideIsNotTakenForTheClients) {
    Rig r;
    // The server's socket: the query arriving, the response leaving.
    r.send(0, Dir::Ingress, udp4(kClient, 40000, kServer, 53, query(1, "s.example")));
    r.send(1, Dir::Egress, udp4(kServer, 53, kClient, 40000, response(1, "s.example", {})));
    EXPECT_TRUE(r.events.empty());
    EXPECT_EQ(r.t->pending(), 0u);
    EXPECT_EQ(r.t->stats().server_side, 2u);
}

TEST(DnssnoopTracker, MalformedMessagesAreReportedOnceWithTheReason) {
    Rig r;
    r.out(0, Bytes{1, 2, 3});
    Bytes loop = td::cat({td::header(3, 0, 1, 0, 0, 0), td::ptr(12), td::u16b(1), td::u16b(1)});
    r.out(1, loop, 40002);
    auto m = r.of(EventKind::Malformed);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0]->reason, "truncated_header");
    EXPECT_EQ(m[0]->length, 3u);
    EXPECT_EQ(m[1]->reason, "pointer_loop");
    EXPECT_EQ(m[1]->owner.pid, 100u);
    EXPECT_EQ(r.t->pending(), 0u);
}

TEST(DnssnoopTracker, AResponseCutByTheSnapLengthStillAnswersItsQuery) {
    Rig r;
    r.out(0, query(4, "big.example"));
    std::vector<tf::Ip4> many(40, tf::Ip4{10, 1, 2, 3});
    Bytes resp = udp4(kServer, 53, kClient, 40000, response(4, "big.example", many));
    r.send(9 * kMs, Dir::Ingress, resp, owner(100, "dig"), 7, 200);
    auto a = r.of(EventKind::Answer);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_TRUE(a[0]->truncated);
    EXPECT_LT(a[0]->response->answers.size(), 40u);
    EXPECT_TRUE(r.of(EventKind::Malformed).empty());
}

TEST(DnssnoopTracker, UnknownOwnersAreResolvedFromUserSpace) {
    Rig r;
    r.out(0, query(1, "who.example"), 40000, Owner{});
    auto q = r.of(EventKind::Query);
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0]->owner.pid, 4242u);
    EXPECT_EQ(q[0]->owner.comm, "from-proc");
    EXPECT_GE(r.resolves, 1);
}

TEST(DnssnoopTracker, IPv6) {
    Rig r;
    Bytes q = query(6, "six.example", dns::kTypeAaaa);
    Bytes p = tf::cat({tf::ipv6(IPPROTO_UDP, 8 + q.size()), tf::udp(41000, 53, q.size()), q});
    r.send(0, Dir::Egress, p);
    Bytes resp = response(6, "six.example", {}, 0, dns::kTypeAaaa);
    Bytes pr = tf::cat({tf::ipv6(IPPROTO_UDP, 8 + resp.size(), 63, tf::kDst6, tf::kSrc6),
                        tf::udp(53, 41000, resp.size()), resp});
    r.send(2 * kMs, Dir::Ingress, pr);
    auto a = r.of(EventKind::Answer);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0]->client.addr.str(), "2001:db8::1");
    EXPECT_EQ(a[0]->server.addr.str(), "2001:db8::2");
}

TEST(DnssnoopTracker, PendingQueriesAreBounded) {
    TrackerOptions o;
    o.max_pending = 3;
    Rig r(o);
    for (uint16_t i = 0; i < 5; i++)
        r.out(i, query(i, "many.example"));
    EXPECT_EQ(r.t->pending(), 3u);
    EXPECT_EQ(r.t->stats().pending_evicted, 2u);
}

TEST(DnssnoopTracker, OtherPortsOnlyWhenWatched) {
    TrackerOptions o;
    o.ports = {53, 5300};
    Rig r(o);
    r.send(0, Dir::Egress, udp4(kClient, 40000, kServer, 5300, query(1, "p.example")));
    r.send(1, Dir::Egress, udp4(kClient, 40000, kServer, 5301, query(2, "p.example")));
    EXPECT_EQ(r.of(EventKind::Query).size(), 1u);
}

// ---- Tracker: TCP ----

TEST(DnssnoopTracker, TcpTwoQueriesInOneSegmentAndOneSplit) {
    Rig r;
    Bytes q1 = with_length(query(1, "one.example")), q2 = with_length(query(2, "two.example"));
    Bytes q3 = with_length(query(3, "three.example"));
    r.send(0, Dir::Egress, tcp4(kClient, 50000, kServer, 53, pkt::kTcpSyn, 100, {}));
    r.send(1, Dir::Egress,
           tcp4(kClient, 50000, kServer, 53, pkt::kTcpAck | pkt::kTcpPsh, 101, td::cat({q1, q2})));
    uint32_t seq = static_cast<uint32_t>(101 + q1.size() + q2.size());
    r.send(2, Dir::Egress,
           tcp4(kClient, 50000, kServer, 53, pkt::kTcpAck, seq, Bytes(q3.begin(), q3.begin() + 7)));
    EXPECT_EQ(r.of(EventKind::Query).size(), 2u);
    r.send(
        150 * kMs, Dir::Egress,
        tcp4(kClient, 50000, kServer, 53, pkt::kTcpAck, seq + 7, Bytes(q3.begin() + 7, q3.end())));
    ASSERT_EQ(r.of(EventKind::Query).size(), 3u);
    // The responses, in one segment, in another order.
    Bytes rs = td::cat({with_length(response(3, "three.example", {{10, 0, 0, 3}})),
                        with_length(response(1, "one.example", {{10, 0, 0, 1}})),
                        with_length(response(2, "two.example", {}, 3))});
    r.send(0, Dir::Ingress,
           tcp4(kServer, 53, kClient, 50000, pkt::kTcpSyn | pkt::kTcpAck, 900, {}));
    r.send(160 * kMs, Dir::Ingress, tcp4(kServer, 53, kClient, 50000, pkt::kTcpAck, 901, rs));
    auto a = r.of(EventKind::Answer);
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(a[0]->query->id, 3);
    EXPECT_EQ(a[0]->latency_ns, 10 * kMs);  // from when its last byte left
    EXPECT_EQ(a[0]->proto, IPPROTO_TCP);
    EXPECT_EQ(dns::rcode_name(a[2]->response->rcode), "NXDOMAIN");
    // FIN: the streams go.
    EXPECT_EQ(r.t->tcp_streams(), 2u);
    r.send(200 * kMs, Dir::Egress,
           tcp4(kClient, 50000, kServer, 53, pkt::kTcpFin | pkt::kTcpAck, seq + 100, {}));
    r.send(200 * kMs, Dir::Ingress,
           tcp4(kServer, 53, kClient, 50000, pkt::kTcpRst, static_cast<uint32_t>(901 + rs.size()),
                {}));
    EXPECT_EQ(r.t->tcp_streams(), 0u);
}

TEST(DnssnoopTracker, TcpMalformedMessageNamesItsConnection) {
    Rig r;
    r.send(0, Dir::Egress,
           tcp4(kClient, 50001, kServer, 53, pkt::kTcpPsh, 1, with_length(Bytes{0, 1, 2, 3, 4})));
    auto m = r.of(EventKind::Malformed);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0]->proto, IPPROTO_TCP);
    EXPECT_EQ(m[0]->client.port, 50001);
    EXPECT_EQ(m[0]->length, 5u);
}

TEST(DnssnoopTracker, DotConnectionsOncePerConnection) {
    Rig r;
    auto seg = [&](uint16_t cport, uint8_t flags, uint32_t seq, size_t n) {
        r.send(seq, Dir::Egress, tcp4(kClient, cport, kServer, 853, flags, seq, tf::payload(n)),
               owner(555, "kdig"));
    };
    seg(51000, pkt::kTcpSyn, 1, 0);
    seg(51000, pkt::kTcpPsh, 2, 300);  // ClientHello
    seg(51000, pkt::kTcpPsh, 302, 100);
    seg(51001, pkt::kTcpPsh, 2, 300);  // another connection
    auto d = r.of(EventKind::Dot);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0]->owner.pid, 555u);
    EXPECT_EQ(d[0]->server.port, 853);
    EXPECT_TRUE(r.of(EventKind::Query).empty());
    seg(51000, pkt::kTcpFin, 402, 0);
    seg(51000, pkt::kTcpPsh, 2, 300);  // the port again, after the end: a new connection
    EXPECT_EQ(r.of(EventKind::Dot).size(), 3u);
}

// ---- OwnerWait ----

TEST(DnssnoopOwnerWait, UnknownOwnersWaitForALaterScanAndOrderIsKept) {
    std::vector<uint16_t> out;
    bool scan_finds = false;
    OwnerWait w(
        250 * kMs,
        [&](Event &e) {
            if (scan_finds) e.owner = owner(77, "late");
        },
        [&](Event &&e) { out.push_back(e.client.port); });
    auto ev = [](uint16_t port, bool known, EventKind k = EventKind::Answer) {
        Event e;
        e.kind = k;
        e.client.port = port;
        if (known) e.owner = owner(1, "x");
        return e;
    };
    w.push(ev(1, true), 0);  // nothing waits: out at once
    EXPECT_EQ(out, (std::vector<uint16_t>{1}));
    w.push(ev(2, false), 10 * kMs);  // waits
    w.push(ev(3, true), 11 * kMs);   // waits behind it
    w.flush(20 * kMs);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(w.waiting(), 2u);
    scan_finds = true;  // the next scan shows the socket
    w.flush(120 * kMs);
    EXPECT_EQ(out, (std::vector<uint16_t>{1, 2, 3}));
    // Malformed records have no process to wait for; a wait is bounded.
    scan_finds = false;
    w.push(ev(4, false, EventKind::Malformed), 200 * kMs);
    EXPECT_EQ(out.back(), 4);
    w.push(ev(5, false), 300 * kMs);
    w.flush(549 * kMs);
    EXPECT_EQ(out.back(), 4);
    w.flush(550 * kMs);
    EXPECT_EQ(out.back(), 5);
    w.push(ev(6, false), 600 * kMs);
    w.flush(601 * kMs, true);  // the end: everything out
    EXPECT_EQ(out.back(), 6);
    EXPECT_EQ(w.waiting(), 0u);
}

// ---- output ----

Event answer_event() {
    Event e;
    e.kind = EventKind::Answer;
    e.ts_ns = 2'000'000'123'456;  // with a zero wall offset: 1970-01-01T00:33:20.000123Z
    e.proto = IPPROTO_UDP;
    e.client = Endpoint{*pkt::IpAddr::parse("192.0.2.10"), 40000};
    e.server = Endpoint{*pkt::IpAddr::parse("198.51.100.53"), 53};
    e.owner = owner(100, "di\"g");
    e.owner.container = "abc123";
    dns::Message q, a;
    dns::parse(query(0x1234, "www.example.com"), q);
    Bytes resp =
        td::cat({td::header(0x1234, td::kQR | td::kRD | td::kRA | td::kAA, 1, 2, 1, 1),
                 td::question(td::name("www.example.com"), dns::kTypeA),
                 td::rr(td::ptr(12), dns::kTypeCname, 60, td::name("web.example.com")),
                 td::rr(td::name("web.example.com"), dns::kTypeA, 30, td::a_rdata(192, 0, 2, 80)),
                 td::rr(td::name("example.com"), dns::kTypeNs, 60, td::name("ns.example.com")),
                 td::opt(1232, 0, 0, true)});
    EXPECT_EQ(dns::parse(resp, a), dns::Error::Ok);
    e.query = q;
    e.response = a;
    e.latency_ns = 200'412'999;
    return e;
}

TEST(DnssnoopOutput, AnswerJson) {
    OutputContext ctx{"cgroup", 0};
    EXPECT_EQ(
        json_event(answer_event(), ctx),
        R"({"schema":"dnssnoop/1","mode":"cgroup","time":"1970-01-01T00:33:20.000123Z",)"
        R"("event":"answer","pid":100,"tid":101,"comm":"di\"g","uid":1000,"container":"abc123",)"
        R"("proto":"udp","client":"192.0.2.10","client_port":40000,"server":"198.51.100.53",)"
        R"("server_port":53,"id":4660,"qname":"www.example.com","qtype":"A","qclass":"IN",)"
        R"("rcode":"NOERROR","latency_us":200412,)"
        R"("flags":{"aa":true,"tc":false,"rd":true,"ra":true,"ad":false,"cd":false},)"
        R"("edns":{"udp_size":1232,"do":true},)"
        R"("answers":[{"name":"www.example.com","type":"CNAME","ttl":60,"data":"web.example.com"},)"
        R"({"name":"web.example.com","type":"A","ttl":30,"data":"192.0.2.80"}],)"
        R"("authority":1,"additional":1,"retransmits":0})");
}

TEST(DnssnoopOutput, TimeoutUnmatchedMalformedDotAndQueryJson) {
    OutputContext ctx{"fentry", 0};
    Event e = answer_event();
    e.kind = EventKind::Timeout;
    e.response.reset();
    e.timeout_ns = 5'000'000'000;
    e.retransmits = 2;
    e.owner = Owner{};
    std::string t = json_event(e, ctx);
    EXPECT_NE(
        t.find(
            R"("event":"timeout","pid":null,"tid":null,"comm":null,"uid":null,"container":null)"),
        std::string::npos)
        << t;
    EXPECT_NE(t.find(R"("retransmits":2,"timeout_us":5000000})"), std::string::npos) << t;
    EXPECT_EQ(t.find("rcode"), std::string::npos);
    EXPECT_EQ(t.find("answers"), std::string::npos);
    EXPECT_EQ(t.find("latency_us"), std::string::npos);

    Event u = answer_event();
    u.kind = EventKind::Unmatched;
    u.query.reset();
    std::string us = json_event(u, ctx);
    EXPECT_NE(us.find(R"("rcode":"NOERROR","latency_us":null,)"), std::string::npos) << us;

    Event q = answer_event();
    q.kind = EventKind::Query;
    q.response.reset();
    std::string qs = json_event(q, ctx);
    EXPECT_NE(qs.find(R"("qname":"www.example.com","qtype":"A","qclass":"IN","flags":{"aa":false)"),
              std::string::npos)
        << qs;
    EXPECT_NE(qs.find(R"("edns":null})"), std::string::npos) << qs;

    Event m;
    m.kind = EventKind::Malformed;
    m.proto = IPPROTO_TCP;
    m.reason = "pointer_loop";
    m.length = 17;
    m.client = e.client;
    m.server = e.server;
    EXPECT_EQ(json_event(m, ctx),
              R"({"schema":"dnssnoop/1","mode":"fentry","time":"1970-01-01T00:00:00.000000Z",)"
              R"("event":"malformed","reason":"pointer_loop","proto":"tcp","client":"192.0.2.10",)"
              R"("client_port":40000,"server":"198.51.100.53","server_port":53,"length":17,)"
              R"("pid":null,"comm":null})");

    Event d;
    d.kind = EventKind::Dot;
    d.proto = IPPROTO_TCP;
    d.owner = owner(9, "kdig");
    d.client = e.client;
    d.server = Endpoint{e.server.addr, 853};
    EXPECT_EQ(json_event(d, ctx),
              R"({"schema":"dnssnoop/1","mode":"fentry","time":"1970-01-01T00:00:00.000000Z",)"
              R"("event":"dot","pid":9,"comm":"kdig","proto":"tcp","client":"192.0.2.10",)"
              R"("client_port":40000,"server":"198.51.100.53","server_port":853})");
}

TEST(DnssnoopOutput, JsonNamesAndCommsAreEscapedByteExactly) {
    OutputContext ctx{"cgroup", 0};
    Event e = answer_event();
    e.owner.comm = std::string("a\nb\xff", 4);
    dns::Message q;
    Bytes raw = td::cat({td::header(1, 0, 1, 0, 0, 0), Bytes{4, 'a', '.', 0x01, 0xc3, 0},
                         td::u16b(1), td::u16b(1)});
    ASSERT_EQ(dns::parse(raw, q), dns::Error::Ok);
    e.query = q;
    std::string j = json_event(e, ctx);
    EXPECT_EQ(j.find('\n'), std::string::npos);
    EXPECT_NE(j.find(R"("comm":"a\nb\udcff")"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("qname":"a\\.\\001\\195")"), std::string::npos) << j;
}

TEST(DnssnoopOutput, TextLines) {
    OutputContext ctx{"cgroup", 0};
    std::string h = text_header(ctx);
    EXPECT_EQ(h.substr(0, h.find('\n')),
              std::string("# dnssnoop ") + BPFKIT_VERSION + ", mode cgroup");
    Event e = answer_event();
    e.owner.comm = "dig";
    std::string l = text_event(e, ctx);
    EXPECT_EQ(l.back(), '\n');
    std::vector<std::string> w;
    for (size_t i = 0; i < l.size();) {
        size_t j = l.find_first_of(" \n", i);
        if (j > i) w.push_back(l.substr(i, j - i));
        i = j + 1;
    }
    ASSERT_EQ(w.size(), 10u) << l;
    EXPECT_EQ(w[0], "00:33:20.000123");
    EXPECT_EQ(w[1], "100");
    EXPECT_EQ(w[2], "dig");
    EXPECT_EQ(w[3], "198.51.100.53");
    EXPECT_EQ(w[4], "udp");
    EXPECT_EQ(w[5], "A");
    EXPECT_EQ(w[6], "www.example.com");
    EXPECT_EQ(w[7], "NOERROR");
    EXPECT_EQ(w[8], "200.412ms");
    EXPECT_EQ(w[9], "web.example.com,192.0.2.80");

    Event t = answer_event();
    t.kind = EventKind::Timeout;
    t.response.reset();
    t.server.port = 5300;
    std::string tl = text_event(t, ctx);
    EXPECT_NE(tl.find("198.51.100.53:5300"), std::string::npos) << tl;
    EXPECT_NE(tl.find(" timeout "), std::string::npos) << tl;
}

TEST(DnssnoopOutput, AnswerDataPerType) {
    auto one = [](uint16_t type, const Bytes &rdata) {
        Bytes m = td::cat(
            {td::header(1, td::kQR, 0, 1, 0, 0), td::rr(td::name("x.example"), type, 1, rdata)});
        dns::Message msg;
        EXPECT_EQ(dns::parse(m, msg), dns::Error::Ok);
        return answer_data(msg.answers.at(0));
    };
    EXPECT_EQ(one(dns::kTypeAaaa, td::ip_rdata("2001:db8::1")), "2001:db8::1");
    EXPECT_EQ(one(dns::kTypeMx, td::cat({td::u16b(10), td::name("mail.example")})),
              "10 mail.example");
    EXPECT_EQ(one(dns::kTypeTxt, td::charstrings({"hello world", "v=2"})),
              "\"hello world\" \"v=2\"");
    EXPECT_EQ(one(dns::kTypeSrv,
                  td::cat({td::u16b(5), td::u16b(7), td::u16b(389), td::name("ldap.example")})),
              "5 7 389 ldap.example");
    EXPECT_EQ(one(65534, Bytes{0x0a, 0x0b, 0x0c, 0x0d}), "\\# 4 0a0b0c0d");
}

TEST(DnssnoopOutput, StatsBothForms) {
    RunStats s;
    s.transactions = 3;
    s.ring_drops = 1;
    OutputContext ctx{"afpacket", 0};
    std::string j = json_stats(s, ctx, 0);
    EXPECT_NE(
        j.find(
            R"("event":"stats","transactions":3,"timeouts":0,"unmatched":0,"malformed":0,"ring_drops":1,"truncated":0,"retransmits":0)"),
        std::string::npos)
        << j;
    std::string t = text_stats(s);
    EXPECT_EQ(
        t.rfind("# stats: transactions=3 timeouts=0 unmatched=0 malformed=0 ring_drops=1 ", 0), 0u)
        << t;
}

TEST(DnssnoopOutput, SummaryPercentilesTopNamesAndProcesses) {
    Summary s;
    EXPECT_EQ(s.percentile_us(50), -1);
    for (int i = 1; i <= 10; i++) {
        Event e = answer_event();
        e.latency_ns = static_cast<uint64_t>(i) * 1000 * 1000;  // 1..10 ms
        if (i > 7) e.owner = owner(200, "other");
        s.add(e);
    }
    Event t = answer_event();
    t.kind = EventKind::Timeout;
    t.response.reset();
    s.add(t);
    EXPECT_EQ(s.transactions(), 10u);
    EXPECT_EQ(s.percentile_us(50), 5000);
    EXPECT_EQ(s.percentile_us(90), 9000);
    EXPECT_EQ(s.percentile_us(99), 10000);
    OutputContext ctx{"cgroup", 0};
    std::string j = s.json(ctx, 0);
    EXPECT_NE(
        j.find(
            R"("transactions":10,"timeouts":1,"rcodes":{"NOERROR":10},"top_names":[{"name":"www.example.com","count":11}],)"
            R"("top_processes":[{"pid":100,"comm":"di\"g","count":8},{"pid":200,"comm":"other","count":3}],)"
            R"("latency_us":{"p50":5000,"p90":9000,"p99":10000}})"),
        std::string::npos)
        << j;
    Summary empty;
    EXPECT_NE(empty.json(ctx, 0).find(R"("latency_us":null)"), std::string::npos);
}

TEST(DnssnoopOutput, NameSuffixAtLabelBoundary) {
    EXPECT_TRUE(name_has_suffix("www.example.com", "example.com"));
    EXPECT_TRUE(name_has_suffix("example.com", "example.com."));
    EXPECT_TRUE(name_has_suffix("WWW.Example.COM", "example.com"));
    EXPECT_TRUE(name_has_suffix("7.0.99.10.in-addr.arpa", "in-addr.arpa"));
    EXPECT_FALSE(name_has_suffix("badexample.com", "example.com"));
    EXPECT_FALSE(name_has_suffix("com", "example.com"));
    EXPECT_TRUE(name_has_suffix("anything", "."));
}

}  // namespace
