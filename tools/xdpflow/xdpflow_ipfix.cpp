// SPDX-License-Identifier: GPL-2.0-only
#include "xdpflow_ipfix.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bpfkit::xdpflow {

namespace {

constexpr uint16_t kEthIp = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;

struct Field {
    uint16_t id, len;
};
// RFC 7012 information elements.
const Field kV4[] = {
    {8, 4},    // sourceIPv4Address
    {12, 4},   // destinationIPv4Address
    {7, 2},    // sourceTransportPort
    {11, 2},   // destinationTransportPort
    {4, 1},    // protocolIdentifier
    {6, 2},    // tcpControlBits
    {1, 8},    // octetDeltaCount
    {2, 8},    // packetDeltaCount
    {152, 8},  // flowStartMilliseconds
    {153, 8},  // flowEndMilliseconds
    {10, 4},   // ingressInterface
    {14, 4},   // egressInterface
    {61, 1},   // flowDirection
    {58, 2},   // vlanId
    {32, 2},   // icmpTypeCodeIPv4
};
const Field kV6[] = {
    {27, 16},  // sourceIPv6Address
    {28, 16},  // destinationIPv6Address
    {7, 2},   {11, 2}, {4, 1},  {6, 2},  {1, 8},  {2, 8},   {152, 8},
    {153, 8}, {10, 4}, {14, 4}, {61, 1}, {58, 2}, {139, 2},  // icmpTypeCodeIPv6
};
// Options template: scope observationDomainId, then samplingInterval and
// samplingAlgorithm (1 = deterministic, 2 = random), as collectors read them.
const Field kSampling[] = {{149, 4}, {34, 4}, {35, 1}};

void put16(std::string &s, uint16_t v) {
    s += static_cast<char>(v >> 8);
    s += static_cast<char>(v & 0xff);
}
void put32(std::string &s, uint32_t v) {
    put16(s, static_cast<uint16_t>(v >> 16));
    put16(s, static_cast<uint16_t>(v & 0xffff));
}
void put64(std::string &s, uint64_t v) {
    put32(s, static_cast<uint32_t>(v >> 32));
    put32(s, static_cast<uint32_t>(v & 0xffffffff));
}
void set16(std::string &s, size_t at, uint16_t v) {
    s[at] = static_cast<char>(v >> 8);
    s[at + 1] = static_cast<char>(v & 0xff);
}

template <size_t N>
void put_template(std::string &s, uint16_t id, const Field (&f)[N], uint16_t scope = 0) {
    put16(s, id);
    put16(s, static_cast<uint16_t>(N));
    if (scope) put16(s, scope);
    for (const Field &x : f) {
        put16(s, x.id);
        put16(s, x.len);
    }
}

size_t record_len(bool v6) {
    size_t n = 0;
    if (v6) {
        for (const Field &f : kV6)
            n += f.len;
    } else {
        for (const Field &f : kV4)
            n += f.len;
    }
    return n;
}

}  // namespace

std::optional<sockaddr_storage> parse_host_port(const std::string &s) {
    sockaddr_storage ss{};
    std::string host, port;
    if (!s.empty() && s[0] == '[') {
        auto close = s.find("]:");
        if (close == std::string::npos) return std::nullopt;
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string::npos || s.find(':') != colon) return std::nullopt;
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    long p = std::stol(port);
    if (p < 1 || p > 65535) return std::nullopt;
    auto *a4 = reinterpret_cast<sockaddr_in *>(&ss);
    auto *a6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(static_cast<uint16_t>(p));
    } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(static_cast<uint16_t>(p));
    } else {
        return std::nullopt;
    }
    return ss;
}

std::string IpfixEncoder::header(uint16_t length, uint32_t export_time_s) const {
    std::string h;
    put16(h, 10);
    put16(h, length);
    put32(h, export_time_s);
    put32(h, seq_);
    put32(h, domain_);
    return h;
}

std::string IpfixEncoder::templates(uint32_t export_time_s) {
    std::string body;
    // Template set.
    size_t at = body.size();
    put16(body, 2);
    put16(body, 0);
    put_template(body, kIpfixTemplateV4, kV4);
    put_template(body, kIpfixTemplateV6, kV6);
    set16(body, at + 2, static_cast<uint16_t>(body.size() - at));
    // Options template set.
    at = body.size();
    put16(body, 3);
    put16(body, 0);
    put_template(body, kIpfixTemplateSampling, kSampling, 1);
    body.append((4 - (body.size() - at) % 4) % 4, '\0');  // padding to 4 bytes
    set16(body, at + 2, static_cast<uint16_t>(body.size() - at));
    // The sampling options record.
    at = body.size();
    put16(body, kIpfixTemplateSampling);
    put16(body, 0);
    put32(body, domain_);
    put32(body, sample_n_);
    body += static_cast<char>(sample_n_ > 1 ? 1 : 0);
    body.append((4 - (body.size() - at) % 4) % 4, '\0');
    set16(body, at + 2, static_cast<uint16_t>(body.size() - at));
    return header(static_cast<uint16_t>(16 + body.size()), export_time_s) + body;
}

std::vector<std::string> IpfixEncoder::data(const std::vector<Record> &recs,
                                            uint32_t export_time_s) {
    std::vector<std::string> msgs;
    std::string set;
    uint16_t set_tid = 0;
    uint32_t in_msg = 0;
    auto finish = [&]() {
        if (set.empty()) return;
        set16(set, 2, static_cast<uint16_t>(set.size()));
        msgs.push_back(header(static_cast<uint16_t>(16 + set.size()), export_time_s) + set);
        seq_ += in_msg;
        in_msg = 0;
        set.clear();
    };
    auto ms = [&](uint64_t mono_ns) {
        return static_cast<uint64_t>((static_cast<int64_t>(mono_ns) + wall_offset_ns_) / 1'000'000);
    };
    for (const Record &r : recs) {
        const xdpflow_key &k = r.flow->key;
        bool v6 = k.ethertype == kEthIpv6;
        if (!v6 && k.ethertype != kEthIp) {
            skipped_++;
            continue;
        }
        uint16_t tid = v6 ? kIpfixTemplateV6 : kIpfixTemplateV4;
        // One set per message, of one template.
        if (!set.empty() && (tid != set_tid || 16 + set.size() + record_len(v6) > kIpfixMaxMessage))
            finish();
        if (set.empty()) {
            put16(set, tid);
            put16(set, 0);
            set_tid = tid;
        }
        set.append(reinterpret_cast<const char *>(k.src), v6 ? 16 : 4);
        set.append(reinterpret_cast<const char *>(k.dst), v6 ? 16 : 4);
        bool icmp = k.proto == IPPROTO_ICMP || k.proto == IPPROTO_ICMPV6;
        put16(set, icmp ? 0 : k.sport);
        put16(set, icmp ? 0 : k.dport);
        set += static_cast<char>(k.proto);
        put16(set, k.proto == IPPROTO_TCP ? r.flow->total.tcp_flags : 0);
        put64(set, r.bytes);
        put64(set, r.packets);
        put64(set, ms(r.start_ns));
        put64(set, ms(r.end_ns));
        bool egress = k.dir == XDPFLOW_DIR_EGRESS;
        put32(set, egress ? 0 : k.ifindex);
        put32(set, egress ? k.ifindex : 0);
        set += static_cast<char>(egress ? 1 : 0);
        put16(set, k.vlan);
        put16(set, icmp ? static_cast<uint16_t>(k.icmp_type << 8 | k.icmp_code) : 0);
        in_msg++;
    }
    finish();
    return msgs;
}

IpfixExporter::~IpfixExporter() {
    if (fd_ >= 0) close(fd_);
}

int IpfixExporter::open(const std::string &host_port, const OutputContext &ctx, std::string *err) {
    auto ss = parse_host_port(host_port);
    if (!ss) {
        *err = "expected ADDR:PORT";
        return -EINVAL;
    }
    fd_ = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        *err = strerror(errno);
        return -errno;
    }
    socklen_t len = ss->ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (connect(fd_, reinterpret_cast<sockaddr *>(&*ss), len) != 0) {
        *err = strerror(errno);
        return -errno;
    }
    wall_offset_ns_ = ctx.wall_offset_ns;
    enc_.emplace(static_cast<uint32_t>(getpid()), ctx.sample_n, ctx.wall_offset_ns);
    return 0;
}

void IpfixExporter::put(const std::string &msg) {
    if (::send(fd_, msg.data(), msg.size(), 0) != static_cast<ssize_t>(msg.size())) {
        errors_++;
        last_error_ = strerror(errno);
    }
}

void IpfixExporter::send(const std::vector<Record> &recs, uint64_t now_ns, uint64_t template_ns,
                         bool final) {
    (void) final;
    uint32_t now_s =
        static_cast<uint32_t>((static_cast<int64_t>(now_ns) + wall_offset_ns_) / 1'000'000'000);
    if (!templates_ns_ || now_ns - templates_ns_ >= template_ns) {
        put(enc_->templates(now_s));
        templates_ns_ = now_ns;
    }
    for (const auto &m : enc_->data(recs, now_s))
        put(m);
}

}  // namespace bpfkit::xdpflow
