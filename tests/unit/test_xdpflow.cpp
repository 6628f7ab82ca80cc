// SPDX-License-Identifier: GPL-2.0-only
// xdpflow's user-space logic: per-CPU sums, interval deltas, expiry, filters
// and the IPFIX encoding.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "xdpflow_flows.h"
#include "xdpflow_ipfix.h"

using namespace bpfkit::xdpflow;

namespace {

xdpflow_key v4key(const char *src, const char *dst, uint16_t sport, uint16_t dport,
                  uint8_t proto = IPPROTO_UDP, uint8_t dir = XDPFLOW_DIR_INGRESS) {
    xdpflow_key k{};
    inet_pton(AF_INET, src, k.src);
    inet_pton(AF_INET, dst, k.dst);
    k.sport = sport;
    k.dport = dport;
    k.proto = proto;
    k.dir = dir;
    k.ethertype = 0x0800;
    k.ifindex = 7;
    return k;
}

Counters counters(uint64_t p, uint64_t b, uint64_t first, uint64_t last) {
    Counters c;
    c.packets = p;
    c.bytes = b;
    c.first_ns = first;
    c.last_ns = last;
    return c;
}

uint16_t get16(const std::string &s, size_t at) {
    return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) << 8 |
                                 static_cast<uint8_t>(s[at + 1]));
}
uint32_t get32(const std::string &s, size_t at) {
    return static_cast<uint32_t>(get16(s, at)) << 16 | get16(s, at + 2);
}
uint64_t get64(const std::string &s, size_t at) {
    return static_cast<uint64_t>(get32(s, at)) << 32 | get32(s, at + 4);
}

}  // namespace

TEST(XdpflowFlows, SumsPerCpuValuesSkippingIdleCpus) {
    xdpflow_val v[3]{};
    v[0] = {3, 300, 50, 90, 0x02, {}};
    v[2] = {2, 100, 40, 120, 0x10, {}};
    Counters c = sum_percpu(v, 3);
    // packets and bytes add up; first is the earliest, last the latest; flags OR.
    const uint64_t got[] = {c.packets, c.bytes, c.first_ns, c.last_ns, c.tcp_flags};
    const uint64_t want[] = {5, 400, 40, 120, 0x12};
    EXPECT_TRUE(std::equal(std::begin(got), std::end(got), std::begin(want)));
}

TEST(XdpflowFlows, IntervalsGiveDeltasAndExpiredFlowsALastRecord) {
    FlowTable t;
    auto k = v4key("10.0.0.1", "10.0.0.2", 1000, 53);
    t.observe(k, counters(2, 200, 10, 20));
    auto r = t.interval(30);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].packets, 2u);
    EXPECT_EQ(r[0].bytes, 200u);
    EXPECT_FALSE(r[0].final);
    // Nothing new: no record.
    t.observe(k, counters(2, 200, 10, 20));
    EXPECT_TRUE(t.interval(40).empty());
    t.observe(k, counters(5, 260, 10, 50));
    r = t.interval(60);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].packets, 3u);
    EXPECT_EQ(r[0].bytes, 60u);
    // Idle by the kernel's last-seen time.
    EXPECT_TRUE(t.idle(60, 100).empty());
    ASSERT_EQ(t.idle(200, 100).size(), 1u);
    // Expired with nothing new since the last print: a last record all the same.
    t.expire(k, counters(5, 260, 10, 50));
    r = t.interval(200);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].packets, 0u);
    EXPECT_TRUE(r[0].final);
    t.collect(false);
    EXPECT_EQ(t.size(), 0u);
    Totals tot = t.totals();
    EXPECT_EQ(tot.packets[0], 5u);
    EXPECT_EQ(tot.bytes[0], 260u);
    EXPECT_EQ(tot.flows_seen, 1u);
    EXPECT_EQ(tot.flows_expired, 1u);
}

TEST(XdpflowFlows, TotalsAddTheOverflowPerDirection) {
    FlowTable t;
    t.observe(v4key("10.0.0.1", "10.0.0.2", 1, 2), counters(10, 1000, 1, 2));
    t.observe(v4key("10.0.0.2", "10.0.0.1", 2, 1, IPPROTO_UDP, XDPFLOW_DIR_EGRESS),
              counters(4, 400, 1, 2));
    uint64_t stats[2 * XDPFLOW_STAT_MAX] = {};
    stats[XDPFLOW_STAT_FULL_PACKETS] = 90;
    stats[XDPFLOW_STAT_FULL_BYTES] = 9000;
    stats[XDPFLOW_STAT_MAX + XDPFLOW_STAT_TRUNCATED] = 3;
    t.set_kernel_stats(stats);
    Totals tot = t.totals();
    EXPECT_EQ(tot.packets[0], 100u);
    EXPECT_EQ(tot.bytes[0], 10000u);
    EXPECT_EQ(tot.overflow_packets[0], 90u);
    EXPECT_EQ(tot.packets[1], 4u);
    EXPECT_EQ(tot.overflow_packets[1], 0u);
    EXPECT_EQ(tot.truncated, 3u);
}

TEST(XdpflowFlows, ExportsOnActiveTimeoutExpiryAndExit) {
    FlowTable t;
    auto k = v4key("10.0.0.1", "10.0.0.2", 1000, 53);
    t.observe(k, counters(1, 100, 1000, 1000));
    EXPECT_TRUE(t.export_due(1500, 1000, false).empty());
    auto r = t.export_due(2000, 1000, false);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].start_ns, 1000u);
    t.observe(k, counters(3, 300, 1000, 2500));
    EXPECT_TRUE(t.export_due(2600, 1000, false).empty());
    r = t.export_due(2600, 1000, true);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].packets, 2u);
    EXPECT_EQ(r[0].bytes, 200u);
    EXPECT_EQ(r[0].start_ns, 1000u);
    EXPECT_EQ(r[0].end_ns, 2500u);
}

TEST(XdpflowFlows, FiltersByProtocolPortAndNetwork) {
    Filters f;
    auto k = v4key("10.1.2.3", "192.0.2.9", 40000, 443, IPPROTO_TCP);
    EXPECT_TRUE(f.pass(k));
    f.protos = {IPPROTO_UDP};
    EXPECT_FALSE(f.pass(k));
    f.protos = {IPPROTO_TCP};
    f.ports = {443};
    EXPECT_TRUE(f.pass(k));
    f.ports = {80};
    EXPECT_FALSE(f.pass(k));
    f.ports.clear();
    f.hosts = {*Cidr::parse("10.1.0.0/16")};
    EXPECT_TRUE(f.pass(k));
    f.hosts = {*Cidr::parse("10.1.2.0/25")};
    EXPECT_TRUE(f.pass(k));
    f.hosts = {*Cidr::parse("10.1.2.128/25")};
    EXPECT_FALSE(f.pass(k));
    f.hosts = {*Cidr::parse("2001:db8::/32")};
    EXPECT_FALSE(f.pass(k));
    EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
    EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
    EXPECT_FALSE(Cidr::parse("example.org"));
    EXPECT_EQ(parse_proto("icmp6"), IPPROTO_ICMPV6);
    EXPECT_EQ(parse_proto("132"), 132);
    EXPECT_FALSE(parse_proto("256"));
}

TEST(XdpflowIpfix, ParsesNumericHostPort) {
    EXPECT_TRUE(parse_host_port("127.0.0.1:4739"));
    EXPECT_TRUE(parse_host_port("[::1]:4739"));
    EXPECT_FALSE(parse_host_port("::1:4739"));
    EXPECT_FALSE(parse_host_port("localhost:4739"));
    EXPECT_FALSE(parse_host_port("127.0.0.1:0"));
    EXPECT_FALSE(parse_host_port("127.0.0.1:65536"));
}

TEST(XdpflowIpfix, TemplatesMessage) {
    IpfixEncoder enc(42, 10, 0);
    std::string m = enc.templates(1700000000);
    ASSERT_GE(m.size(), 16u);
    EXPECT_EQ(get16(m, 0), 10);
    EXPECT_EQ(get16(m, 2), m.size());
    EXPECT_EQ(get32(m, 4), 1700000000u);
    EXPECT_EQ(get32(m, 12), 42u);
    // The template set: id 2, the IPv4 template first with its 15 fields.
    EXPECT_EQ(get16(m, 16), 2);
    EXPECT_EQ(get16(m, 20), kIpfixTemplateV4);
    EXPECT_EQ(get16(m, 22), 15);
    // Sets are whole and 4-byte aligned, and fill the message exactly.
    size_t at = 16;
    int sets = 0;
    while (at < m.size()) {
        uint16_t len = get16(m, at + 2);
        ASSERT_GE(len, 4);
        EXPECT_EQ(len % 4, 0);
        at += len;
        sets++;
    }
    EXPECT_EQ(at, m.size());
    EXPECT_EQ(sets, 3);  // templates, options template, the sampling record
}

TEST(XdpflowIpfix, DataRecordsAndSequenceNumbers) {
    IpfixEncoder enc(1, 1, 1'000'000'000);  // wall = mono + 1 s
    Flow f;
    f.key = v4key("10.0.0.1", "10.0.0.2", 1000, 53);
    f.total = counters(7, 700, 5'000'000, 9'000'000);
    std::vector<Record> recs(100, Record{&f, 3, 300, 5'000'000, 9'000'000, false});
    auto msgs = enc.data(recs, 1);
    ASSERT_GE(msgs.size(), 2u);  // 100 records of 60 bytes do not fit 1400
    uint32_t seq = 0;
    size_t records = 0;
    for (const auto &m : msgs) {
        EXPECT_LE(m.size(), kIpfixMaxMessage);
        EXPECT_EQ(get16(m, 2), m.size());
        EXPECT_EQ(get32(m, 8), seq);
        EXPECT_EQ(get16(m, 16), kIpfixTemplateV4);
        size_t n = (m.size() - 20) / 60;
        EXPECT_EQ((m.size() - 20) % 60, 0u);
        seq += static_cast<uint32_t>(n);
        records += n;
    }
    EXPECT_EQ(records, 100u);
    EXPECT_EQ(enc.sequence(), 100u);
    // The first record: addresses, ports, protocol, counts, times in ms.
    const std::string &m = msgs[0];
    EXPECT_EQ(get32(m, 20), 0x0a000001u);
    EXPECT_EQ(get32(m, 24), 0x0a000002u);
    EXPECT_EQ(get16(m, 28), 1000);
    EXPECT_EQ(get16(m, 30), 53);
    EXPECT_EQ(static_cast<uint8_t>(m[32]), IPPROTO_UDP);
    EXPECT_EQ(get64(m, 35), 300u);   // octetDeltaCount
    EXPECT_EQ(get64(m, 43), 3u);     // packetDeltaCount
    EXPECT_EQ(get64(m, 51), 1005u);  // flowStartMilliseconds
    EXPECT_EQ(get64(m, 59), 1009u);  // flowEndMilliseconds
    EXPECT_EQ(get32(m, 67), 7u);     // ingressInterface
    EXPECT_EQ(get32(m, 71), 0u);     // egressInterface
    // Non-IP flows are not exported, and counted.
    Flow arp;
    arp.key.ethertype = 0x0806;
    enc.data({Record{&arp, 1, 60, 0, 0, false}}, 1);
    EXPECT_EQ(enc.skipped(), 1u);
}
