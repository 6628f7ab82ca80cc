// Unit tests for common/packet.h: frames are built byte by byte (../common/frames.h).
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "packet.h"
#include "../common/frames.h"

using namespace bpfkit::pkt;
using namespace bpfkit::testframes;

namespace {

// Parses `len` bytes of `f` from an exactly-sized heap copy (so that a
// sanitizer catches any over-read).
Error parse_prefix(const Bytes &f, size_t len, Packet &p, bool raw = false) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[len == 0 ? 1 : len]);
    if (len != 0) std::memcpy(copy.get(), f.data(), len);
    std::span<const uint8_t> s(copy.get(), len);
    return raw ? parse_ip(s, p) : parse_ethernet(s, p);
}

void expect_in_bounds(const Packet &p, size_t n, const std::string &what) {
    SCOPED_TRACE(what);
    EXPECT_LE(p.l3_offset, n);
    EXPECT_LE(p.l4_offset, n);
    EXPECT_LE(p.payload_offset, n);
    EXPECT_LE(uint64_t{p.payload_offset} + p.payload_len, n);
    EXPECT_LE(p.vlan_count, kMaxVlanTags);
    EXPECT_LE(p.ext_headers, kMaxIpv6ExtHeaders);
    if (p.has_ports) {
        EXPECT_LE(uint64_t{p.l4_offset} + 4, n);
    }
    if (p.is_ip) {
        EXPECT_TRUE(p.src.family == AF_INET || p.src.family == AF_INET6);
    }
}

// Parses every prefix of `f` (lengths 0..size) and returns the errors.
std::vector<Error> prefix_errors(const Bytes &f, bool raw = false) {
    std::vector<Error> errs;
    for (size_t len = 0; len <= f.size(); ++len) {
        Packet p;
        Error e = parse_prefix(f, len, p, raw);
        expect_in_bounds(p, len, "prefix length " + std::to_string(len));
        errs.push_back(e);
    }
    return errs;
}

// errs[len] == want for every len in [from, to).
void expect_range(const std::vector<Error> &errs, size_t from, size_t to, Error want) {
    ASSERT_LE(to, errs.size());
    for (size_t len = from; len < to; ++len)
        EXPECT_EQ(errs[len], want) << "prefix length " << len << ": got " << error_name(errs[len])
                                   << ", want " << error_name(want);
}

Packet parse_ok(const Bytes &f) {
    Packet p;
    Error e = parse_ethernet(f, p);
    EXPECT_EQ(e, Error::Ok) << error_name(e);
    expect_in_bounds(p, f.size(), "full frame");
    return p;
}

const IpAddr kA4 = *IpAddr::parse("192.0.2.1");
const IpAddr kB4 = *IpAddr::parse("198.51.100.2");
const IpAddr kA6 = *IpAddr::parse("2001:db8::1");
const IpAddr kB6 = *IpAddr::parse("2001:db8::2");

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;

Bytes v4_tcp_frame() {
    return cat({eth(0x0800), ipv4(kTcp, 20 + 10), tcp(40000, 443, kTcpSyn | kTcpAck), payload(10)});
}
Bytes v4_udp_frame() {
    return cat({eth(0x0800), ipv4(kUdp, 8 + 5), udp(5353, 53, 5), payload(5)});
}
Bytes v4_icmp_frame() {
    return cat({eth(0x0800), ipv4(kIcmp, 8 + 4), icmp(8, 0), payload(4)});
}
Bytes v6_tcp_frame() {
    return cat({eth(0x86dd), ipv6(kTcp, 20 + 7), tcp(1234, 80, kTcpPsh | kTcpAck), payload(7)});
}
Bytes v6_udp_frame() {
    return cat({eth(0x86dd), ipv6(kUdp, 8 + 3), udp(546, 547, 3), payload(3)});
}
// IPv6 + hop-by-hop (8) + destination options (16) + fragment (8, first) + UDP.
Bytes v6_ext_frame() {
    return cat({eth(0x86dd), ipv6(0, 8 + 16 + 8 + 8 + 12), ext8(60, 8), ext8(44, 16),
                frag6(kUdp, 0, true), udp(7000, 7001, 12), payload(12)});
}

// ---------------------------------------------------------------------------

TEST(Packet, Ipv4Tcp) {
    Bytes f = v4_tcp_frame();
    Packet p = parse_ok(f);
    EXPECT_EQ(p.ethertype, 0x0800);
    EXPECT_EQ(p.vlan_count, 0);
    EXPECT_TRUE(p.is_ip);
    EXPECT_EQ(p.src, kA4);
    EXPECT_EQ(p.dst, kB4);
    EXPECT_EQ(p.src.str(), "192.0.2.1");
    EXPECT_EQ(p.dst.str(), "198.51.100.2");
    EXPECT_EQ(p.ip_proto, kTcp);
    EXPECT_EQ(p.ttl_or_hop, 64);
    EXPECT_FALSE(p.fragment);
    EXPECT_FALSE(p.first_fragment);
    EXPECT_TRUE(p.has_ports);
    EXPECT_EQ(p.sport, 40000);
    EXPECT_EQ(p.dport, 443);
    EXPECT_EQ(p.tcp_flags, kTcpSyn | kTcpAck);
    EXPECT_EQ(p.l3_offset, 14u);
    EXPECT_EQ(p.l4_offset, 34u);
    EXPECT_EQ(p.payload_offset, 54u);
    EXPECT_EQ(p.payload_len, 10u);
    EXPECT_EQ(p.ip_len, 50u);
    auto pl = payload(f, p);
    ASSERT_EQ(pl.size(), 10u);
    EXPECT_EQ(pl[0], 0xa0);
    EXPECT_EQ(pl[9], 0xa9);
}

TEST(Packet, Ipv4Udp) {
    Packet p = parse_ok(v4_udp_frame());
    EXPECT_EQ(p.ip_proto, kUdp);
    EXPECT_TRUE(p.has_ports);
    EXPECT_EQ(p.sport, 5353);
    EXPECT_EQ(p.dport, 53);
    EXPECT_EQ(p.tcp_flags, 0);
    EXPECT_EQ(p.l4_offset, 34u);
    EXPECT_EQ(p.payload_offset, 42u);
    EXPECT_EQ(p.payload_len, 5u);
    EXPECT_EQ(p.ip_len, 33u);
}

TEST(Packet, Ipv4Icmp) {
    Packet p = parse_ok(v4_icmp_frame());
    EXPECT_EQ(p.ip_proto, kIcmp);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.icmp_type, 8);
    EXPECT_EQ(p.icmp_code, 0);
    EXPECT_EQ(p.payload_offset, 42u);
    EXPECT_EQ(p.payload_len, 4u);
}

TEST(Packet, Ipv6Tcp) {
    Bytes f = v6_tcp_frame();
    Packet p = parse_ok(f);
    EXPECT_EQ(p.ethertype, 0x86dd);
    EXPECT_TRUE(p.is_ip);
    EXPECT_EQ(p.src, kA6);
    EXPECT_EQ(p.dst, kB6);
    EXPECT_EQ(p.src.str(), "2001:db8::1");
    EXPECT_EQ(p.ip_proto, kTcp);
    EXPECT_EQ(p.ttl_or_hop, 63);
    EXPECT_EQ(p.sport, 1234);
    EXPECT_EQ(p.dport, 80);
    EXPECT_EQ(p.tcp_flags, kTcpPsh | kTcpAck);
    EXPECT_EQ(p.l3_offset, 14u);
    EXPECT_EQ(p.l4_offset, 54u);
    EXPECT_EQ(p.payload_offset, 74u);
    EXPECT_EQ(p.payload_len, 7u);
    EXPECT_EQ(p.ip_len, 67u);
    EXPECT_EQ(p.ext_headers, 0);
}

TEST(Packet, Ipv6Udp) {
    Packet p = parse_ok(v6_udp_frame());
    EXPECT_EQ(p.ip_proto, kUdp);
    EXPECT_EQ(p.sport, 546);
    EXPECT_EQ(p.dport, 547);
    EXPECT_EQ(p.payload_offset, 62u);
    EXPECT_EQ(p.payload_len, 3u);
}

TEST(Packet, Ipv6Icmpv6) {
    Bytes f = cat({eth(0x86dd), ipv6(kIcmp6, 8), icmp(128, 0)});
    Packet p = parse_ok(f);
    EXPECT_EQ(p.ip_proto, kIcmp6);
    EXPECT_EQ(p.icmp_type, 128);
    EXPECT_EQ(p.payload_len, 0u);
}

TEST(Packet, Ipv6ExtensionHeaders) {
    Bytes f = v6_ext_frame();
    Packet p = parse_ok(f);
    EXPECT_EQ(p.ip_proto, kUdp);
    EXPECT_EQ(p.ext_headers, 3);
    EXPECT_TRUE(p.fragment);
    EXPECT_TRUE(p.first_fragment);
    EXPECT_EQ(p.frag_offset, 0);
    EXPECT_TRUE(p.has_ports);
    EXPECT_EQ(p.sport, 7000);
    EXPECT_EQ(p.dport, 7001);
    EXPECT_EQ(p.l4_offset, 14u + 40 + 8 + 16 + 8);
    EXPECT_EQ(p.payload_offset, p.l4_offset + 8);
    EXPECT_EQ(p.payload_len, 12u);
    EXPECT_EQ(p.ip_len, 40u + 52);
}

TEST(Packet, Ipv6RoutingAndAh) {
    // routing (24) + AH (24) + TCP
    Bytes f =
        cat({eth(0x86dd), ipv6(43, 24 + 24 + 20), ext8(51, 24), ah6(kTcp, 24), tcp(1, 2, kTcpRst)});
    Packet p = parse_ok(f);
    EXPECT_EQ(p.ip_proto, kTcp);
    EXPECT_EQ(p.ext_headers, 2);
    EXPECT_EQ(p.l4_offset, 14u + 40 + 24 + 24);
    EXPECT_EQ(p.tcp_flags, kTcpRst);
    EXPECT_FALSE(p.fragment);
}

TEST(Packet, Ipv6AtomicFragmentIsWhole) {
    Bytes f = cat({eth(0x86dd), ipv6(44, 8 + 8), frag6(kUdp, 0, false), udp(9, 10, 0)});
    Packet p = parse_ok(f);
    EXPECT_FALSE(p.fragment);
    EXPECT_FALSE(p.first_fragment);
    EXPECT_TRUE(p.has_ports);
    EXPECT_EQ(p.dport, 10);
}

TEST(Packet, Ipv6LaterFragmentHasNoL4) {
    Bytes f =
        cat({eth(0x86dd), ipv6(0, 8 + 8 + 16), ext8(44, 8), frag6(kUdp, 1448, true), payload(16)});
    Packet p = parse_ok(f);
    EXPECT_TRUE(p.fragment);
    EXPECT_FALSE(p.first_fragment);
    EXPECT_EQ(p.frag_offset, 1448);
    EXPECT_EQ(p.ip_proto, kUdp);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.l4_offset, 14u + 40 + 16);
    EXPECT_EQ(p.payload_offset, p.l4_offset);
    EXPECT_EQ(p.payload_len, 16u);
}

TEST(Packet, Ipv6EspAndNoNextStop) {
    Packet p = parse_ok(cat({eth(0x86dd), ipv6(50, 16), payload(16)}));
    EXPECT_EQ(p.ip_proto, 50);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.payload_offset, 54u);
    EXPECT_EQ(p.payload_len, 16u);

    p = parse_ok(cat({eth(0x86dd), ipv6(0, 8), ext8(59, 8)}));
    EXPECT_EQ(p.ip_proto, 59);
    EXPECT_EQ(p.ext_headers, 1);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.payload_len, 0u);

    // Mobility header walked as an extension header.
    p = parse_ok(cat({eth(0x86dd), ipv6(135, 16), ext8(59, 16)}));
    EXPECT_EQ(p.ip_proto, 59);
    EXPECT_EQ(p.ext_headers, 1);
}

TEST(Packet, Ipv6ExtensionHeaderCap) {
    auto chain = [](int n) {
        Bytes hdrs;
        for (int i = 0; i < n; ++i) {
            Bytes h = ext8(i + 1 < n ? 60 : kUdp, 8);
            hdrs.insert(hdrs.end(), h.begin(), h.end());
        }
        return cat({eth(0x86dd), ipv6(60, hdrs.size() + 8), hdrs, udp(1, 2, 0)});
    };
    Packet p = parse_ok(chain(8));
    EXPECT_EQ(p.ext_headers, 8);
    EXPECT_EQ(p.dport, 2);

    Bytes f = chain(9);
    EXPECT_EQ(parse_ethernet(f, p), Error::TooManyExtHeaders);
    expect_in_bounds(p, f.size(), "9 headers");
}

TEST(Packet, Ipv6ExtensionHeaderBeyondPayloadLength) {
    // Captured in full, but the IPv6 payload length says the 16-byte header
    // does not fit.
    Bytes f = cat({eth(0x86dd), ipv6(0, 8), ext8(kUdp, 16), udp(1, 2, 0)});
    Packet p;
    EXPECT_EQ(parse_ethernet(f, p), Error::TruncatedExtHeader);
    // Payload length 0 with a UDP header: no room for it.
    f = cat({eth(0x86dd), ipv6(kUdp, 0), udp(1, 2, 0)});
    EXPECT_EQ(parse_ethernet(f, p), Error::TruncatedL4);
}

TEST(Packet, SingleVlan) {
    Bytes f = cat({eth(0x8100), vlan(0x2064, 0x0800), ipv4(kUdp, 8), udp(1, 2, 0)});
    Packet p = parse_ok(f);
    EXPECT_EQ(p.vlan_count, 1);
    EXPECT_EQ(p.vlan_ids[0], 100);  // PCP bits masked off
    EXPECT_EQ(p.ethertype, 0x0800);
    EXPECT_EQ(p.l3_offset, 18u);
    EXPECT_EQ(p.dport, 2);
}

TEST(Packet, DoubleVlan) {
    Bytes f =
        cat({eth(0x88a8), vlan(10, 0x8100), vlan(20, 0x86dd), ipv6(kTcp, 20), tcp(5, 6, kTcpFin)});
    Packet p = parse_ok(f);
    EXPECT_EQ(p.vlan_count, 2);
    EXPECT_EQ(p.vlan_ids[0], 10);
    EXPECT_EQ(p.vlan_ids[1], 20);
    EXPECT_EQ(p.ethertype, 0x86dd);
    EXPECT_EQ(p.l3_offset, 22u);
    EXPECT_EQ(p.tcp_flags, kTcpFin);
}

TEST(Packet, TripleVlanRejected) {
    Bytes f = cat({eth(0x88a8), vlan(1, 0x8100), vlan(2, 0x8100), vlan(3, 0x0800), ipv4(kUdp, 8),
                   udp(1, 2, 0)});
    Packet p;
    EXPECT_EQ(parse_ethernet(f, p), Error::TooManyVlanTags);
    EXPECT_EQ(p.vlan_count, 2);
}

TEST(Packet, ArpIsNotIp) {
    Bytes arp = {0, 1, 8, 0, 6, 4, 0, 1};
    arp.resize(28, 0x11);
    Bytes f = cat({eth(0x0806), arp});
    Packet p = parse_ok(f);
    EXPECT_FALSE(p.is_ip);
    EXPECT_EQ(p.ethertype, 0x0806);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.src.family, 0);
    EXPECT_EQ(p.src.str(), "");
    EXPECT_EQ(p.l3_offset, 14u);
    EXPECT_EQ(p.payload_offset, 14u);
    EXPECT_EQ(p.payload_len, 28u);
}

TEST(Packet, Ipv4FirstFragment) {
    Bytes f =
        cat({eth(0x0800), ipv4(kUdp, 8 + 20, {}, 0x2000), udp(4000, 4001, 1000), payload(20)});
    Packet p = parse_ok(f);
    EXPECT_TRUE(p.fragment);
    EXPECT_TRUE(p.first_fragment);
    EXPECT_EQ(p.frag_offset, 0);
    EXPECT_TRUE(p.has_ports);
    EXPECT_EQ(p.sport, 4000);
    EXPECT_EQ(p.payload_len, 20u);
}

TEST(Packet, Ipv4LaterFragment) {
    // Offset 185 * 8 = 1480, MF clear (last fragment); starts with bytes that
    // would look like ports.
    Bytes f = cat({eth(0x0800), ipv4(kUdp, 24, {}, 185), udp(4000, 4001, 16), payload(16)});
    Packet p = parse_ok(f);
    EXPECT_TRUE(p.fragment);
    EXPECT_FALSE(p.first_fragment);
    EXPECT_EQ(p.frag_offset, 1480);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.sport, 0);
    EXPECT_EQ(p.l4_offset, 34u);
    EXPECT_EQ(p.payload_offset, 34u);
    EXPECT_EQ(p.payload_len, 24u);
}

TEST(Packet, Ipv4Options) {
    // IHL 6: router alert.
    Bytes f = cat({eth(0x0800), ipv4(kTcp, 20, {0x94, 0x04, 0, 0}), tcp(7, 8, kTcpSyn)});
    Packet p = parse_ok(f);
    EXPECT_EQ(p.l4_offset, 38u);
    EXPECT_EQ(p.sport, 7);
    EXPECT_EQ(p.payload_len, 0u);

    // IHL 15: 40 bytes of NOPs.
    f = cat({eth(0x0800), ipv4(kUdp, 8 + 2, Bytes(40, 1)), udp(9, 10, 2), payload(2)});
    p = parse_ok(f);
    EXPECT_EQ(p.l4_offset, 74u);
    EXPECT_EQ(p.dport, 10);
    EXPECT_EQ(p.payload_len, 2u);
    EXPECT_EQ(p.ip_len, 70u);
}

TEST(Packet, TcpOptionsAreHeader) {
    Bytes opts = {2, 4, 0x05, 0xb4, 1, 1, 4, 2};  // MSS, NOP, NOP, SACK permitted
    Bytes f = cat({eth(0x0800), ipv4(kTcp, 28 + 3), tcp(1, 2, kTcpSyn, opts), payload(3)});
    Packet p = parse_ok(f);
    EXPECT_EQ(p.payload_offset, 34u + 28);
    EXPECT_EQ(p.payload_len, 3u);
}

TEST(Packet, UdpLiteAndSctpPorts) {
    Packet p = parse_ok(cat({eth(0x0800), ipv4(136, 8), udp(11, 12, 0)}));
    EXPECT_TRUE(p.has_ports);
    EXPECT_EQ(p.sport, 11);
    Bytes sctp = {0, 38, 0, 39, 0, 0, 0, 0, 0, 0, 0, 0};
    p = parse_ok(cat({eth(0x86dd), ipv6(132, 12), sctp}));
    EXPECT_TRUE(p.has_ports);
    EXPECT_EQ(p.sport, 38);
    EXPECT_EQ(p.dport, 39);
    EXPECT_EQ(p.payload_offset, 14u + 40 + 12);
}

TEST(Packet, UnknownProtocolPayloadStartsAtL4) {
    Packet p = parse_ok(cat({eth(0x0800), ipv4(47, 6), payload(6)}));  // GRE
    EXPECT_EQ(p.ip_proto, 47);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.payload_offset, 34u);
    EXPECT_EQ(p.payload_len, 6u);
    // ICMP in an IPv6 packet is not ICMPv6: left opaque.
    p = parse_ok(cat({eth(0x86dd), ipv6(kIcmp, 8), icmp(3, 3)}));
    EXPECT_EQ(p.icmp_type, 0);
    EXPECT_EQ(p.payload_offset, 54u);
}

// ---------------------------------------------------------------------------
// Truncation: every prefix of every valid frame.

TEST(PacketTruncation, Ipv4Tcp) {
    Bytes f = v4_tcp_frame();
    auto errs = prefix_errors(f);
    expect_range(errs, 0, 14, Error::TruncatedL2);
    expect_range(errs, 14, 34, Error::TruncatedIp);
    expect_range(errs, 34, 54, Error::TruncatedL4);
    expect_range(errs, 54, f.size() + 1, Error::Ok);
    for (size_t len = 54; len <= f.size(); ++len) {
        Packet p;
        ASSERT_EQ(parse_prefix(f, len, p), Error::Ok);
        EXPECT_EQ(p.payload_len, len - 54) << len;  // clamped to captured bytes
        EXPECT_EQ(p.ip_len, 50u);
        EXPECT_EQ(p.dport, 443);
    }
    // An error at L4 still reports L3.
    Packet p;
    ASSERT_EQ(parse_prefix(f, 40, p), Error::TruncatedL4);
    EXPECT_TRUE(p.is_ip);
    EXPECT_EQ(p.src, kA4);
    EXPECT_FALSE(p.has_ports);
}

TEST(PacketTruncation, Ipv4UdpAndIcmp) {
    Bytes f = v4_udp_frame();
    auto errs = prefix_errors(f);
    expect_range(errs, 14, 34, Error::TruncatedIp);
    expect_range(errs, 34, 42, Error::TruncatedL4);
    expect_range(errs, 42, f.size() + 1, Error::Ok);

    f = v4_icmp_frame();
    errs = prefix_errors(f);
    expect_range(errs, 34, 42, Error::TruncatedL4);
    expect_range(errs, 42, f.size() + 1, Error::Ok);
}

TEST(PacketTruncation, Ipv6TcpAndUdp) {
    Bytes f = v6_tcp_frame();
    auto errs = prefix_errors(f);
    expect_range(errs, 0, 14, Error::TruncatedL2);
    expect_range(errs, 14, 54, Error::TruncatedIp);
    expect_range(errs, 54, 74, Error::TruncatedL4);
    expect_range(errs, 74, f.size() + 1, Error::Ok);

    f = v6_udp_frame();
    errs = prefix_errors(f);
    expect_range(errs, 54, 62, Error::TruncatedL4);
    expect_range(errs, 62, f.size() + 1, Error::Ok);
}

TEST(PacketTruncation, Ipv6ExtensionHeaders) {
    Bytes f = v6_ext_frame();
    auto errs = prefix_errors(f);
    expect_range(errs, 14, 54, Error::TruncatedIp);
    expect_range(errs, 54, 86, Error::TruncatedExtHeader);  // HBH 54..62, DST 62..78, FRAG 78..86
    expect_range(errs, 86, 94, Error::TruncatedL4);
    expect_range(errs, 94, f.size() + 1, Error::Ok);
}

TEST(PacketTruncation, Vlan) {
    Bytes f = cat({eth(0x8100), vlan(100, 0x0800), ipv4(kUdp, 8), udp(1, 2, 0)});
    auto errs = prefix_errors(f);
    expect_range(errs, 0, 14, Error::TruncatedL2);
    expect_range(errs, 14, 18, Error::TruncatedVlan);
    expect_range(errs, 18, 38, Error::TruncatedIp);
    expect_range(errs, 38, 46, Error::TruncatedL4);
    expect_range(errs, 46, f.size() + 1, Error::Ok);

    f = cat({eth(0x88a8), vlan(10, 0x8100), vlan(20, 0x86dd), ipv6(kTcp, 20), tcp(5, 6, 0)});
    errs = prefix_errors(f);
    expect_range(errs, 14, 22, Error::TruncatedVlan);
    expect_range(errs, 22, 62, Error::TruncatedIp);
    expect_range(errs, 62, 82, Error::TruncatedL4);
    expect_range(errs, 82, f.size() + 1, Error::Ok);
}

TEST(PacketTruncation, ArpAndFragmentsAndOptions) {
    Bytes arp(28, 0x22);
    auto errs = prefix_errors(cat({eth(0x0806), arp}));
    expect_range(errs, 0, 14, Error::TruncatedL2);
    expect_range(errs, 14, 14 + 28 + 1, Error::Ok);

    Bytes later = cat({eth(0x0800), ipv4(kTcp, 24, {}, 185), payload(24)});
    errs = prefix_errors(later);
    expect_range(errs, 14, 34, Error::TruncatedIp);
    expect_range(errs, 34, later.size() + 1, Error::Ok);  // no L4 to truncate

    Bytes first = cat({eth(0x0800), ipv4(kTcp, 20 + 8, {}, 0x2000), tcp(1, 2, 0), payload(8)});
    errs = prefix_errors(first);
    expect_range(errs, 34, 54, Error::TruncatedL4);
    expect_range(errs, 54, first.size() + 1, Error::Ok);

    Bytes opts = cat({eth(0x0800), ipv4(kTcp, 20, {0x94, 0x04, 0, 0}), tcp(7, 8, 0)});
    errs = prefix_errors(opts);
    expect_range(errs, 14, 38, Error::TruncatedIp);
    expect_range(errs, 38, 58, Error::TruncatedL4);
    expect_range(errs, 58, opts.size() + 1, Error::Ok);
}

TEST(PacketTruncation, RawIp) {
    Bytes f = cat({ipv4(kUdp, 8 + 4), udp(1, 2, 4), payload(4)});
    auto errs = prefix_errors(f, true);
    expect_range(errs, 0, 20, Error::TruncatedIp);
    expect_range(errs, 20, 28, Error::TruncatedL4);
    expect_range(errs, 28, f.size() + 1, Error::Ok);

    f = cat({ipv6(kTcp, 20), tcp(1, 2, 0)});
    errs = prefix_errors(f, true);
    expect_range(errs, 0, 40, Error::TruncatedIp);
    expect_range(errs, 40, 60, Error::TruncatedL4);
    expect_range(errs, 60, f.size() + 1, Error::Ok);
}

// ---------------------------------------------------------------------------
// Malformed headers.

TEST(PacketMalformed, BadIhl) {
    for (uint8_t ihl = 0; ihl < 5; ++ihl) {
        Bytes f = v4_udp_frame();
        f[14] = static_cast<uint8_t>(0x40 | ihl);
        Packet p;
        EXPECT_EQ(parse_ethernet(f, p), Error::BadIpHeaderLength) << int{ihl};
    }
    // IHL 15 but only 24 bytes of header present.
    Bytes f = cat({eth(0x0800), ipv4(kUdp, 0, {1, 1, 1, 1})});
    f[14] = 0x4f;
    Packet p;
    EXPECT_EQ(parse_ethernet(f, p), Error::TruncatedIp);
}

TEST(PacketMalformed, BadVersion) {
    Bytes f = v4_udp_frame();
    f[14] = 0x65;  // version 6 under ethertype 0x0800
    Packet p;
    EXPECT_EQ(parse_ethernet(f, p), Error::BadIpVersion);
    EXPECT_FALSE(p.is_ip);

    f = v6_udp_frame();
    f[14] = 0x45;  // version 4 under ethertype 0x86dd
    EXPECT_EQ(parse_ethernet(f, p), Error::BadIpVersion);

    Bytes raw = cat({ipv4(kUdp, 8), udp(1, 2, 0)});
    for (uint8_t v : {0, 1, 5, 7, 15}) {
        raw[0] = static_cast<uint8_t>((v << 4) | 5);
        EXPECT_EQ(parse_ip(raw, p), Error::BadIpVersion) << int{v};
    }
    EXPECT_EQ(parse_ip(std::span<const uint8_t>(), p), Error::TruncatedIp);
}

TEST(PacketMalformed, BadTcpOffset) {
    for (uint8_t doff : {0, 1, 4}) {
        Bytes f = v4_tcp_frame();
        f[34 + 12] = static_cast<uint8_t>(doff << 4);
        Packet p;
        EXPECT_EQ(parse_ethernet(f, p), Error::BadTcpOffset) << int{doff};
        EXPECT_FALSE(p.has_ports);
    }
    // Data offset 15 (60 bytes) but only 30 bytes after the IP header.
    Bytes f = v4_tcp_frame();
    f[34 + 12] = 0xf0;
    Packet p;
    EXPECT_EQ(parse_ethernet(f, p), Error::TruncatedL4);
    // Data offset 8 (32 bytes): 2 bytes more than the IP total length allows.
    f[34 + 12] = 0x80;
    EXPECT_EQ(parse_ethernet(f, p), Error::TruncatedL4);
    // Data offset 7 (28 bytes) fits: the payload shrinks accordingly.
    f[34 + 12] = 0x70;
    EXPECT_EQ(parse_ethernet(f, p), Error::Ok);
    EXPECT_EQ(p.payload_offset, 34u + 28);
    EXPECT_EQ(p.payload_len, 2u);
}

TEST(PacketMalformed, TotalLengthBelowHeader) {
    Bytes f = v4_udp_frame();
    set16(f, 16, 19);
    Packet p;
    EXPECT_EQ(parse_ethernet(f, p), Error::BadIpTotalLength);
    set16(f, 16, 0);
    EXPECT_EQ(parse_ethernet(f, p), Error::BadIpTotalLength);

    // IHL 6 (24-byte header) with total length 22.
    f = cat({eth(0x0800), ipv4(kUdp, 8, {1, 1, 1, 0}), udp(1, 2, 0)});
    set16(f, 16, 22);
    EXPECT_EQ(parse_ethernet(f, p), Error::BadIpTotalLength);

    // Total length == header length: no room for the UDP header.
    f = v4_udp_frame();
    set16(f, 16, 20);
    EXPECT_EQ(parse_ethernet(f, p), Error::TruncatedL4);
    EXPECT_TRUE(p.is_ip);
}

TEST(PacketMalformed, PayloadClampedToCapture) {
    // Total length 1500, but only 100 bytes of frame captured (snaplen).
    Bytes f = cat({eth(0x0800), ipv4(kUdp, 1480), udp(1, 2, 1472), payload(100 - 42)});
    ASSERT_EQ(f.size(), 100u);
    Packet p = parse_ok(f);
    EXPECT_EQ(p.ip_len, 1500u);
    EXPECT_EQ(p.payload_offset, 42u);
    EXPECT_EQ(p.payload_len, 58u);

    Bytes f6 = cat({eth(0x86dd), ipv6(kTcp, 60000), tcp(1, 2, 0), payload(5)});
    p = parse_ok(f6);
    EXPECT_EQ(p.ip_len, 60040u);
    EXPECT_EQ(p.payload_len, 5u);
}

TEST(PacketMalformed, EthernetPaddingNotPayload) {
    // 2 bytes of UDP payload, frame padded to the 60-byte Ethernet minimum.
    Bytes f = cat({eth(0x0800), ipv4(kUdp, 8 + 2), udp(1, 2, 2), payload(2)});
    f.resize(60, 0);
    Packet p = parse_ok(f);
    EXPECT_EQ(p.payload_len, 2u);
    EXPECT_EQ(p.ip_len, 30u);

    Bytes f6 = cat({eth(0x86dd), ipv6(kUdp, 8), udp(1, 2, 0)});
    f6.resize(80, 0);
    p = parse_ok(f6);
    EXPECT_EQ(p.payload_len, 0u);
}

// ---------------------------------------------------------------------------
// Raw IP, names, addresses.

TEST(Packet, ParseIpRaw) {
    Bytes f = cat({ipv4(kTcp, 20), tcp(22, 50000, kTcpAck)});
    Packet p;
    ASSERT_EQ(parse_ip(f, p), Error::Ok);
    EXPECT_EQ(p.ethertype, 0x0800);
    EXPECT_EQ(p.l3_offset, 0u);
    EXPECT_EQ(p.l4_offset, 20u);
    EXPECT_EQ(p.sport, 22);
    EXPECT_EQ(p.vlan_count, 0);

    Bytes f6 = cat({ipv6(kUdp, 8 + 1), udp(53, 1053, 1), payload(1)});
    ASSERT_EQ(parse_ip(f6, p), Error::Ok);
    EXPECT_EQ(p.ethertype, 0x86dd);
    EXPECT_EQ(p.dst, kB6);
    EXPECT_EQ(p.payload_offset, 48u);
    EXPECT_EQ(p.payload_len, 1u);
}

TEST(Packet, ReusedPacketIsReset) {
    Packet p;
    ASSERT_EQ(parse_ethernet(v4_tcp_frame(), p), Error::Ok);
    Bytes arp(28, 0);
    ASSERT_EQ(parse_ethernet(cat({eth(0x0806), arp}), p), Error::Ok);
    EXPECT_FALSE(p.is_ip);
    EXPECT_FALSE(p.has_ports);
    EXPECT_EQ(p.sport, 0);
    EXPECT_EQ(p.tcp_flags, 0);
}

TEST(Packet, ErrorNames) {
    std::set<std::string> seen;
    for (int i = 0; i <= static_cast<int>(Error::BadTcpOffset); ++i) {
        std::string n = error_name(static_cast<Error>(i));
        EXPECT_NE(n, "unknown") << i;
        EXPECT_FALSE(n.empty());
        for (char c : n) {
            EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << n;
        }
        EXPECT_TRUE(seen.insert(n).second) << "duplicate name " << n;
    }
    EXPECT_STREQ(error_name(Error::Ok), "ok");
    EXPECT_STREQ(error_name(Error::TruncatedL4), "truncated_l4");
    EXPECT_STREQ(error_name(Error::TooManyVlanTags), "too_many_vlan_tags");
    EXPECT_STREQ(error_name(static_cast<Error>(200)), "unknown");
}

TEST(IpAddr, StrAndParse) {
    EXPECT_EQ(IpAddr{}.str(), "");
    auto a = IpAddr::parse("10.1.2.3");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->family, AF_INET);
    EXPECT_EQ(a->bytes[0], 10);
    EXPECT_EQ(a->bytes[4], 0);
    EXPECT_EQ(a->str(), "10.1.2.3");
    auto b = IpAddr::parse("fe80::1:2");
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->family, AF_INET6);
    EXPECT_EQ(b->str(), "fe80::1:2");
    EXPECT_EQ(IpAddr::parse("::ffff:1.2.3.4")->str(), "::ffff:1.2.3.4");
    EXPECT_FALSE(IpAddr::parse("").has_value());
    EXPECT_FALSE(IpAddr::parse("1.2.3").has_value());
    EXPECT_FALSE(IpAddr::parse("not an address").has_value());
    EXPECT_FALSE(IpAddr::parse(std::string(100, '1')).has_value());
    uint8_t raw[4] = {10, 1, 2, 3};
    EXPECT_EQ(IpAddr::v4(raw), *a);
    EXPECT_NE(*a, *IpAddr::parse("10.1.2.4"));
}

// Random corruption of valid frames: whatever the bytes, offsets stay inside
// the frame.  (The libFuzzer target does this at scale.)
TEST(PacketTruncation, RandomCorruptionStaysInBounds) {
    std::vector<Bytes> seeds = {v4_tcp_frame(), v4_udp_frame(), v4_icmp_frame(),
                                v6_tcp_frame(), v6_udp_frame(), v6_ext_frame()};
    std::mt19937 rng(12345);
    for (int iter = 0; iter < 20000; ++iter) {
        Bytes f = seeds[static_cast<size_t>(iter) % seeds.size()];
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i)
            f[rng() % f.size()] = static_cast<uint8_t>(rng());
        size_t len = rng() % (f.size() + 1);
        Packet p;
        parse_prefix(f, len, p);
        expect_in_bounds(p, len, "iteration " + std::to_string(iter));
        if (len >= 14) {
            parse_prefix(Bytes(f.begin() + 14, f.end()), len - 14, p, true);
            expect_in_bounds(p, len - 14, "raw, iteration " + std::to_string(iter));
        }
        if (HasFailure()) break;
    }
}

}  // namespace
