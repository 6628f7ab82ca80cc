// Builders for network frames in tests, byte by byte.  Each returns one header
// (or a payload) in network byte order; cat() joins them into a frame.  Fields
// the tests do not look at are fixed; the addresses default to the
// documentation ranges and can be given.  Checksums are left zero.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace bpfkit::testframes {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;
using Ip4 = std::array<uint8_t, 4>;
using Ip6 = std::array<uint8_t, 16>;

inline constexpr Mac kMacDst = {0x02, 0, 0, 0, 0, 0x01};
inline constexpr Mac kMacSrc = {0x02, 0, 0, 0, 0, 0x02};
inline constexpr Ip4 kSrc4 = {192, 0, 2, 1};
inline constexpr Ip4 kDst4 = {198, 51, 100, 2};
inline constexpr Ip6 kSrc6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
inline constexpr Ip6 kDst6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

inline void put16(Bytes &b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v & 0xff));
}

inline void set16(Bytes &b, size_t at, uint16_t v) {
    b.at(at) = static_cast<uint8_t>(v >> 8);
    b.at(at + 1) = static_cast<uint8_t>(v & 0xff);
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes &p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

// Ethernet II header: dst 02:00:00:00:00:01, src 02:00:00:00:00:02 unless given.
inline Bytes eth(uint16_t type, const Mac &dst = kMacDst, const Mac &src = kMacSrc) {
    Bytes b(dst.begin(), dst.end());
    b.insert(b.end(), src.begin(), src.end());
    put16(b, type);
    return b;
}

// A VLAN tag as it follows the outer ethertype: TCI, then the next ethertype.
inline Bytes vlan(uint16_t tci, uint16_t next_type) {
    Bytes b;
    put16(b, tci);
    put16(b, next_type);
    return b;
}

// IPv4 header, 192.0.2.1 -> 198.51.100.2 unless given; `after` = bytes after
// the header (total length = header + after).  `frag` is the raw flags/offset
// field.
inline Bytes ipv4(uint8_t proto, size_t after, const Bytes &options = {}, uint16_t frag = 0,
                  uint8_t ttl = 64, const Ip4 &src = kSrc4, const Ip4 &dst = kDst4,
                  uint16_t id = 0x1234) {
    size_t hlen = 20 + options.size();
    Bytes b;
    b.push_back(static_cast<uint8_t>(0x40 | (hlen / 4)));
    b.push_back(0);  // TOS
    put16(b, static_cast<uint16_t>(hlen + after));
    put16(b, id);
    put16(b, frag);
    b.push_back(ttl);
    b.push_back(proto);
    put16(b, 0);  // checksum (not checked)
    b.insert(b.end(), src.begin(), src.end());
    b.insert(b.end(), dst.begin(), dst.end());
    b.insert(b.end(), options.begin(), options.end());
    return b;
}

// IPv6 header, 2001:db8::1 -> 2001:db8::2 unless given.
inline Bytes ipv6(uint8_t next, size_t plen, uint8_t hop = 63, const Ip6 &src = kSrc6,
                  const Ip6 &dst = kDst6) {
    Bytes b = {0x60, 0, 0, 0};
    put16(b, static_cast<uint16_t>(plen));
    b.push_back(next);
    b.push_back(hop);
    b.insert(b.end(), src.begin(), src.end());
    b.insert(b.end(), dst.begin(), dst.end());
    return b;
}

// Generic IPv6 extension header in 8-byte units (hop-by-hop, routing,
// destination options, mobility): `len` bytes, a multiple of 8.
inline Bytes ext8(uint8_t next, size_t len) {
    Bytes b(len, 0);
    b[0] = next;
    b[1] = static_cast<uint8_t>(len / 8 - 1);
    if (len > 2) {  // PadN option over the rest
        b[2] = 1;
        b[3] = static_cast<uint8_t>(len - 4);
    }
    return b;
}

// IPv6 authentication header: `len` bytes, a multiple of 4, >= 12.
inline Bytes ah6(uint8_t next, size_t len) {
    Bytes b(len, 0);
    b[0] = next;
    b[1] = static_cast<uint8_t>(len / 4 - 2);
    return b;
}

// IPv6 fragment header; `offset` in bytes (multiple of 8).
inline Bytes frag6(uint8_t next, uint16_t offset, bool more) {
    Bytes b = {next, 0};
    put16(b, static_cast<uint16_t>(offset | (more ? 1 : 0)));
    b.insert(b.end(), {0xde, 0xad, 0xbe, 0xef});
    return b;
}

inline Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, const Bytes &options = {}) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    b.insert(b.end(), {0, 0, 0, 1, 0, 0, 0, 0});  // seq, ack
    b.push_back(static_cast<uint8_t>(((20 + options.size()) / 4) << 4));
    b.push_back(flags);
    put16(b, 65535);  // window
    put16(b, 0);      // checksum
    put16(b, 0);      // urgent
    b.insert(b.end(), options.begin(), options.end());
    return b;
}

inline Bytes udp(uint16_t sport, uint16_t dport, size_t payload_len) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, static_cast<uint16_t>(8 + payload_len));
    put16(b, 0);
    return b;
}

inline Bytes icmp(uint8_t type, uint8_t code) {
    return {type, code, 0, 0, 0x12, 0x34, 0, 1};
}

inline Bytes payload(size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i)
        b[i] = static_cast<uint8_t>(0xa0 + i);
    return b;
}

}  // namespace bpfkit::testframes
