// Builders for DNS messages in tests, byte by byte: header, names (plain or
// with compression pointers), questions, records, EDNS. Each returns bytes in
// network order; cat() joins them.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "dns.h"

namespace bpfkit::testdns {

using namespace bpfkit::dns;
using bpfkit::pkt::IpAddr;

using Bytes = std::vector<uint8_t>;

inline void put8(Bytes &b, uint8_t v) {
    b.push_back(v);
}
inline void put16(Bytes &b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v & 0xff));
}
inline void put32(Bytes &b, uint32_t v) {
    put16(b, static_cast<uint16_t>(v >> 16));
    put16(b, static_cast<uint16_t>(v & 0xffff));
}
inline void append(Bytes &b, const Bytes &x) {
    b.insert(b.end(), x.begin(), x.end());
}
inline void append(Bytes &b, std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes &p : parts)
        append(out, p);
    return out;
}

// Header flag bits (the 16-bit word after the id).
inline constexpr uint16_t kQR = 0x8000, kAA = 0x0400, kTC = 0x0200, kRD = 0x0100, kRA = 0x0080,
                          kZ = 0x0040, kAD = 0x0020, kCD = 0x0010;
inline uint16_t opcode_bits(unsigned op) {
    return static_cast<uint16_t>((op & 0xf) << 11);
}

inline Bytes header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                    uint16_t ar) {
    Bytes b;
    put16(b, id);
    put16(b, flags);
    put16(b, qd);
    put16(b, an);
    put16(b, ns);
    put16(b, ar);
    return b;
}

// Labels of a dotted name ("www.example.com"; "" is the root), no escapes.
inline std::vector<std::string> split(std::string_view dotted) {
    std::vector<std::string> out;
    while (!dotted.empty()) {
        size_t dot = dotted.find('.');
        out.emplace_back(dotted.substr(0, dot));
        if (dot == std::string_view::npos) break;
        dotted.remove_prefix(dot + 1);
    }
    return out;
}

inline Bytes labels_only(const std::vector<std::string> &labels) {
    Bytes b;
    for (const std::string &l : labels) {
        put8(b, static_cast<uint8_t>(l.size()));
        append(b, l);
    }
    return b;
}

// Uncompressed wire name.
inline Bytes name(std::string_view dotted) {
    Bytes b = labels_only(split(dotted));
    put8(b, 0);
    return b;
}
inline Bytes ptr(uint16_t off) {
    return Bytes{static_cast<uint8_t>(0xc0 | (off >> 8)), static_cast<uint8_t>(off & 0xff)};
}
// Labels, then a compression pointer.
inline Bytes name_ptr(std::string_view dotted_prefix, uint16_t off) {
    return cat({labels_only(split(dotted_prefix)), ptr(off)});
}

inline Bytes question(const Bytes &qname, uint16_t type, uint16_t klass = kClassIn) {
    Bytes b = qname;
    put16(b, type);
    put16(b, klass);
    return b;
}

inline Bytes rr(const Bytes &owner, uint16_t type, uint32_t ttl, const Bytes &rdata,
                uint16_t klass = kClassIn) {
    Bytes b = owner;
    put16(b, type);
    put16(b, klass);
    put32(b, ttl);
    put16(b, static_cast<uint16_t>(rdata.size()));
    append(b, rdata);
    return b;
}

inline Bytes opt(uint16_t udp_size, uint8_t ext_rcode, uint8_t version, bool do_bit,
                 const Bytes &options = {}) {
    uint32_t ttl = (uint32_t{ext_rcode} << 24) | (uint32_t{version} << 16) | (do_bit ? 0x8000 : 0);
    return rr(name(""), kTypeOpt, ttl, options, udp_size);
}

inline Bytes edns_option(uint16_t code, const Bytes &data) {
    Bytes b;
    put16(b, code);
    put16(b, static_cast<uint16_t>(data.size()));
    append(b, data);
    return b;
}

inline Bytes a_rdata(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Bytes{a, b, c, d};
}
inline Bytes ip_rdata(const char *text) {
    IpAddr ip = *IpAddr::parse(text);
    return Bytes(ip.bytes.begin(), ip.bytes.begin() + (ip.family == AF_INET ? 4 : 16));
}
inline Bytes u16b(uint16_t v) {
    Bytes b;
    put16(b, v);
    return b;
}
inline Bytes charstrings(std::initializer_list<std::string_view> strs) {
    Bytes b;
    for (std::string_view s : strs) {
        put8(b, static_cast<uint8_t>(s.size()));
        append(b, s);
    }
    return b;
}
inline Bytes svc_param(uint16_t key, const Bytes &value) {
    return edns_option(key, value);
}

inline IpAddr ip(const char *text) {
    return *IpAddr::parse(text);
}

}  // namespace bpfkit::testdns
