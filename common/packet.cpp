#include "packet.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "byte_reader.h"

namespace bpfkit::pkt {

namespace {

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoEsp = 50;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoNoNext = 59;
constexpr uint8_t kProtoDstOpts = 60;
constexpr uint8_t kProtoSctp = 132;
constexpr uint8_t kProtoUdpLite = 136;
constexpr uint8_t kProtoMobility = 135;

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanTagLen = 4;
constexpr uint32_t kIpv4MinHeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint32_t kTcpMinHeaderLen = 20;

void set_payload(Packet &out, uint32_t off, uint32_t end) {
    out.payload_offset = off;
    out.payload_len = end >= off ? end - off : 0;
}

// Parses the L4 header at `l4`; `end` is min(captured, IP length), l4 <= end.
Error parse_l4(const ByteReader &r, uint32_t l4, uint32_t end, uint8_t proto, bool v6,
               Packet &out) {
    out.l4_offset = l4;
    set_payload(out, l4, end);
    switch (proto) {
        case kProtoTcp: {
            if (!ByteReader::fits(l4, kTcpMinHeaderLen, end)) return Error::TruncatedL4;
            uint32_t doff = r.u8(l4 + 12) >> 4;
            if (doff < 5) return Error::BadTcpOffset;
            if (!ByteReader::fits(l4, doff * 4, end)) return Error::TruncatedL4;
            out.has_ports = true;
            out.sport = r.u16(l4);
            out.dport = r.u16(l4 + 2);
            out.tcp_flags = r.u8(l4 + 13);
            set_payload(out, l4 + doff * 4, end);
            return Error::Ok;
        }
        case kProtoUdp:
        case kProtoUdpLite:
        case kProtoSctp: {
            uint32_t hlen = proto == kProtoSctp ? 12 : 8;
            if (!ByteReader::fits(l4, hlen, end)) return Error::TruncatedL4;
            out.has_ports = true;
            out.sport = r.u16(l4);
            out.dport = r.u16(l4 + 2);
            set_payload(out, l4 + hlen, end);
            return Error::Ok;
        }
        case kProtoIcmp:
        case kProtoIcmpv6: {
            if ((proto == kProtoIcmpv6) != v6)
                return Error::Ok;  // ICMP in the wrong family: opaque
            if (!ByteReader::fits(l4, 8, end)) return Error::TruncatedL4;
            out.icmp_type = r.u8(l4);
            out.icmp_code = r.u8(l4 + 1);
            set_payload(out, l4 + 8, end);
            return Error::Ok;
        }
        default:
            return Error::Ok;
    }
}

Error parse_ipv4(const ByteReader &r, uint32_t off, Packet &out) {
    if (!r.has(off, 1)) return Error::TruncatedIp;
    uint8_t vihl = r.u8(off);
    if ((vihl >> 4) != 4) return Error::BadIpVersion;
    if (!r.has(off, kIpv4MinHeaderLen)) return Error::TruncatedIp;
    uint32_t hlen = (vihl & 0x0fu) * 4;
    if (hlen < kIpv4MinHeaderLen) return Error::BadIpHeaderLength;
    if (!r.has(off, hlen)) return Error::TruncatedIp;
    uint32_t total = r.u16(off + 2);
    if (total < hlen) return Error::BadIpTotalLength;

    out.is_ip = true;
    out.ethertype = kEthPIp;
    out.l3_offset = off;
    out.ip_len = total;
    out.ttl_or_hop = r.u8(off + 8);
    out.ip_proto = r.u8(off + 9);
    out.src = IpAddr::v4(r.p + off + 12);
    out.dst = IpAddr::v4(r.p + off + 16);

    uint16_t frag = r.u16(off + 6);
    uint16_t frag_off = static_cast<uint16_t>((frag & 0x1fffu) * 8u);
    bool more = (frag & 0x2000u) != 0;
    out.fragment = more || frag_off != 0;
    out.first_fragment = out.fragment && frag_off == 0;
    out.frag_offset = frag_off;

    // off + hlen <= n was checked; total >= hlen, so l4 <= end.
    uint32_t end = ByteReader::fits(off, total, r.n) ? off + total : r.n;
    uint32_t l4 = off + hlen;
    if (frag_off != 0) {
        out.l4_offset = l4;
        set_payload(out, l4, end);
        return Error::Ok;
    }
    return parse_l4(r, l4, end, out.ip_proto, false, out);
}

Error parse_ipv6(const ByteReader &r, uint32_t off, Packet &out) {
    if (!r.has(off, 1)) return Error::TruncatedIp;
    if ((r.u8(off) >> 4) != 6) return Error::BadIpVersion;
    if (!r.has(off, kIpv6HeaderLen)) return Error::TruncatedIp;

    uint32_t plen = r.u16(off + 4);
    uint8_t nh = r.u8(off + 6);
    out.is_ip = true;
    out.ethertype = kEthPIpv6;
    out.l3_offset = off;
    out.ip_len = kIpv6HeaderLen + plen;
    out.ttl_or_hop = r.u8(off + 7);
    out.src = IpAddr::v6(r.p + off + 8);
    out.dst = IpAddr::v6(r.p + off + 24);
    out.ip_proto = nh;

    uint32_t end = ByteReader::fits(off, out.ip_len, r.n) ? off + out.ip_len : r.n;
    uint32_t cur = off + kIpv6HeaderLen;  // <= end
    out.l4_offset = cur;
    for (;;) {
        bool ext = nh == kProtoHopByHop || nh == kProtoRouting || nh == kProtoFragment ||
                   nh == kProtoDstOpts || nh == kProtoAh || nh == kProtoMobility;
        if (!ext) break;
        if (out.ext_headers >= kMaxIpv6ExtHeaders) return Error::TooManyExtHeaders;
        ++out.ext_headers;
        // Every extension header is at least 8 bytes long.
        if (!ByteReader::fits(cur, 8, end)) return Error::TruncatedExtHeader;
        uint8_t next = r.u8(cur);
        uint32_t hlen;
        if (nh == kProtoFragment) {
            hlen = 8;
            uint16_t fo = r.u16(cur + 2);
            uint16_t frag_off = fo & 0xfff8u;  // 13-bit offset in 8-byte units, already << 3
            bool more = (fo & 1u) != 0;
            // An "atomic fragment" (offset 0, M clear) is a whole datagram.
            if (more || frag_off != 0) {
                out.fragment = true;
                out.first_fragment = frag_off == 0;
                out.frag_offset = frag_off;
            }
            if (frag_off != 0) {
                out.ip_proto = next;
                out.l4_offset = cur + hlen;
                set_payload(out, cur + hlen, end);
                return Error::Ok;
            }
        } else if (nh == kProtoAh) {
            hlen = (static_cast<uint32_t>(r.u8(cur + 1)) + 2) * 4;
        } else {
            hlen = (static_cast<uint32_t>(r.u8(cur + 1)) + 1) * 8;
        }
        if (!ByteReader::fits(cur, hlen, end)) return Error::TruncatedExtHeader;
        cur += hlen;
        nh = next;
        out.ip_proto = nh;
        out.l4_offset = cur;
    }
    if (nh == kProtoEsp || nh == kProtoNoNext) {
        set_payload(out, cur, end);
        return Error::Ok;
    }
    return parse_l4(r, cur, end, nh, true, out);
}

Error parse_l3(const ByteReader &r, uint32_t off, Packet &out) {
    if (!r.has(off, 1)) return Error::TruncatedIp;
    switch (r.u8(off) >> 4) {
        case 4:
            return parse_ipv4(r, off, out);
        case 6:
            return parse_ipv6(r, off, out);
        default:
            return Error::BadIpVersion;
    }
}

}  // namespace

std::string IpAddr::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == AF_INET) {
        // By hand: inet_ntop's sprintf was a tenth of httpsnoop's output
        // cost at a hundred thousand records a second.
        char *p = buf;
        for (int i = 0; i < 4; i++) {
            const unsigned v = bytes[static_cast<size_t>(i)];
            if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
            if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
            *p++ = static_cast<char>('0' + v % 10);
            if (i < 3) *p++ = '.';
        }
        return std::string(buf, p);
    }
    if (family != AF_INET6) return {};
    if (inet_ntop(family, bytes.data(), buf, sizeof buf) == nullptr) return {};
    return buf;
}

IpAddr IpAddr::v4(const uint8_t *p4) {
    IpAddr a;
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), p4, 4);
    return a;
}

IpAddr IpAddr::v6(const uint8_t *p16) {
    IpAddr a;
    a.family = AF_INET6;
    std::memcpy(a.bytes.data(), p16, 16);
    return a;
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
    char buf[INET6_ADDRSTRLEN + 1] = {};
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    IpAddr a;
    if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
        a.family = AF_INET;
        return a;
    }
    if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
        a.family = AF_INET6;
        return a;
    }
    return std::nullopt;
}

const char *error_name(Error e) {
    switch (e) {
        case Error::Ok:
            return "ok";
        case Error::TruncatedL2:
            return "truncated_l2";
        case Error::TruncatedVlan:
            return "truncated_vlan";
        case Error::TooManyVlanTags:
            return "too_many_vlan_tags";
        case Error::TruncatedIp:
            return "truncated_ip";
        case Error::BadIpVersion:
            return "bad_ip_version";
        case Error::BadIpHeaderLength:
            return "bad_ip_header_length";
        case Error::BadIpTotalLength:
            return "bad_ip_total_length";
        case Error::TruncatedExtHeader:
            return "truncated_ext_header";
        case Error::TooManyExtHeaders:
            return "too_many_ext_headers";
        case Error::TruncatedL4:
            return "truncated_l4";
        case Error::BadTcpOffset:
            return "bad_tcp_offset";
    }
    return "unknown";
}

Error parse_ethernet(std::span<const uint8_t> frame, Packet &out) {
    out = Packet{};
    ByteReader r(frame);
    if (!r.has(0, kEthHeaderLen)) return Error::TruncatedL2;
    uint16_t type = r.u16(12);
    uint32_t off = kEthHeaderLen;
    while (type == kEthP8021Q || type == kEthP8021AD) {
        if (out.vlan_count >= kMaxVlanTags) return Error::TooManyVlanTags;
        if (!r.has(off, kVlanTagLen)) return Error::TruncatedVlan;
        out.vlan_ids[out.vlan_count++] = r.u16(off) & 0x0fffu;
        type = r.u16(off + 2);
        off += kVlanTagLen;
    }
    out.ethertype = type;
    out.l3_offset = off;
    if (type != kEthPIp && type != kEthPIpv6) {
        out.l4_offset = off;
        set_payload(out, off, r.n);
        return Error::Ok;
    }
    Error e = type == kEthPIp ? parse_ipv4(r, off, out) : parse_ipv6(r, off, out);
    out.ethertype = type;  // also on error, so callers can tell what failed
    return e;
}

Error parse_ip(std::span<const uint8_t> l3, Packet &out) {
    out = Packet{};
    ByteReader r(l3);
    return parse_l3(r, 0, out);
}

std::span<const uint8_t> payload(std::span<const uint8_t> frame, const Packet &p) {
    if (!ByteReader::fits(p.payload_offset, p.payload_len,
                          static_cast<uint32_t>(std::min<size_t>(frame.size(), UINT32_MAX))))
        return {};
    return frame.subspan(p.payload_offset, p.payload_len);
}

}  // namespace bpfkit::pkt
