// Bounds-checked parsing of untrusted link-layer and IP frames.
//
// Everything here is pure computation on a byte span: no allocation on the
// parse path, no exceptions, and no read outside the span handed in.  Loops
// are bounded (at most 2 VLAN tags, at most kMaxIpv6ExtHeaders IPv6 extension
// headers).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bpfkit::pkt {

// An IPv4 or IPv6 address in network byte order.  IPv4 addresses occupy the
// first 4 bytes of `bytes`; the rest stays zero so that operator== works.
struct IpAddr {
    uint8_t family = 0;  // AF_INET, AF_INET6, or 0 for "no address"
    std::array<uint8_t, 16> bytes{};

    // inet_ntop form ("192.0.2.1", "2001:db8::1"); "" when family is 0.
    std::string str() const;

    static IpAddr v4(const uint8_t *p4);   // p4: 4 bytes, network order
    static IpAddr v6(const uint8_t *p16);  // p16: 16 bytes, network order
    // Parses the text form of an IPv4 or IPv6 address (inet_pton).
    static std::optional<IpAddr> parse(std::string_view text);

    bool operator==(const IpAddr &) const = default;
};

enum class Error : uint8_t {
    Ok,
    TruncatedL2,         // fewer than 14 bytes of Ethernet header
    TruncatedVlan,       // a VLAN tag cut short
    TooManyVlanTags,     // more than 2 stacked 802.1Q/802.1ad tags
    TruncatedIp,         // IPv4 header (incl. options) or 40-byte IPv6 header cut short
    BadIpVersion,        // version nibble does not match the ethertype / is not 4 or 6
    BadIpHeaderLength,   // IPv4 IHL < 5
    BadIpTotalLength,    // IPv4 total length < IHL*4
    TruncatedExtHeader,  // IPv6 extension header beyond the captured or declared length
    TooManyExtHeaders,   // more than kMaxIpv6ExtHeaders IPv6 extension headers
    TruncatedL4,         // TCP/UDP/SCTP/ICMP header beyond the captured or declared length
    BadTcpOffset,        // TCP data offset < 5
};

// Short, stable snake_case name ("ok", "truncated_l4", ...); "unknown" for
// values outside the enum.
const char *error_name(Error e);

inline constexpr unsigned kMaxVlanTags = 2;
inline constexpr unsigned kMaxIpv6ExtHeaders = 8;

inline constexpr uint16_t kEthPIp = 0x0800;
inline constexpr uint16_t kEthPIpv6 = 0x86dd;
inline constexpr uint16_t kEthPArp = 0x0806;
inline constexpr uint16_t kEthP8021Q = 0x8100;
inline constexpr uint16_t kEthP8021AD = 0x88a8;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

// The result of a parse.  All offsets are relative to the start of the span
// handed to parse_ethernet()/parse_ip() and, together with payload_len, never
// point past its end.
//
// On error, the fields of the layers below the failing one are filled in
// (e.g. after TruncatedL4 the L2/L3 fields are valid, has_ports is false).
struct Packet {
    uint16_t ethertype = 0;  // after VLAN tags (host order); parse_ip sets 0x0800/0x86dd
    uint8_t vlan_count = 0;  // tags found in the frame, outermost first
    uint16_t vlan_ids[kMaxVlanTags] = {0, 0};  // 12-bit VLAN IDs

    bool is_ip = false;
    IpAddr src, dst;
    uint8_t ip_proto = 0;         // IPv6: the protocol after the extension headers
    uint8_t ttl_or_hop = 0;       // IPv4 TTL / IPv6 hop limit
    bool fragment = false;        // part of a fragmented datagram (MF set or offset != 0)
    bool first_fragment = false;  // fragment with offset 0 (L4 is parsed)
    uint16_t frag_offset = 0;     // fragment offset in bytes (0 if not a fragment)
    uint8_t ext_headers = 0;      // IPv6 extension headers walked

    bool has_ports = false;                // TCP, UDP, UDP-Lite, SCTP
    uint16_t sport = 0, dport = 0;         // host order
    uint8_t tcp_flags = 0;                 // raw flags byte (kTcpFin ... kTcpCwr)
    uint8_t icmp_type = 0, icmp_code = 0;  // ICMP (IPv4) / ICMPv6 (IPv6)

    // l3_offset: start of the IP header (for non-IP frames: first byte after
    //   the L2 header and VLAN tags).
    // l4_offset: first byte after the IP header and IPv6 extension headers.
    // payload_offset/payload_len: data after the L4 header (TCP options
    //   included in the header).  If the L4 header is not parsed (unknown
    //   protocol, ESP, non-first fragment) the payload starts at l4_offset.
    //   payload_len is limited by both the IP length and the captured bytes.
    //   For non-IP frames the payload is everything after the L2 header.
    uint32_t l3_offset = 0, l4_offset = 0, payload_offset = 0, payload_len = 0;
    // L3 length declared by the IP header: IPv4 total length, IPv6 40 + payload
    // length.  May exceed the captured bytes (snaplen truncation).  IPv6
    // jumbograms / BIG TCP (payload length 0) are not recognised.
    uint32_t ip_len = 0;
};

// Parses an Ethernet II frame (what AF_PACKET delivers on Ethernet, veth, lo):
// destination and source MAC, up to 2 VLAN tags (0x8100 / 0x88a8), then
// IPv4/IPv6.  Any other ethertype (ARP, LLDP, 802.3 length fields, ...) gives
// Ok with is_ip == false.
Error parse_ethernet(std::span<const uint8_t> frame, Packet &out);

// Parses a frame starting at an IPv4 or IPv6 header (raw IP: tun devices,
// ARPHRD_NONE).  The version nibble chooses the family.
Error parse_ip(std::span<const uint8_t> l3, Packet &out);

// The payload bytes described by `p` (empty if they do not fit in `frame`,
// which cannot happen when `frame` is the span `p` was parsed from).
std::span<const uint8_t> payload(std::span<const uint8_t> frame, const Packet &p);

}  // namespace bpfkit::pkt
