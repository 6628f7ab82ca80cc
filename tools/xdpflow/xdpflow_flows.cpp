// SPDX-License-Identifier: GPL-2.0-only
#include "xdpflow_flows.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "json.h"  // common/
#include "text.h"  // common/

namespace bpfkit::xdpflow {

namespace {

constexpr uint16_t kEthIp = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;

uint8_t family_of(const xdpflow_key &k) {
    return k.ethertype == kEthIp ? AF_INET : k.ethertype == kEthIpv6 ? AF_INET6 : 0;
}

bool has_ports(const xdpflow_key &k) {
    return k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP || k.proto == IPPROTO_SCTP;
}

bool is_icmp(const xdpflow_key &k) {
    return (k.proto == IPPROTO_ICMP && k.ethertype == kEthIp) ||
           (k.proto == IPPROTO_ICMPV6 && k.ethertype == kEthIpv6);
}

}  // namespace

Counters sum_percpu(const xdpflow_val *vals, int ncpus) {
    Counters c;
    for (int i = 0; i < ncpus; i++) {
        const xdpflow_val &v = vals[i];
        if (!v.packets) continue;
        c.packets += v.packets;
        c.bytes += v.bytes;
        if (v.first_ns && (!c.first_ns || v.first_ns < c.first_ns)) c.first_ns = v.first_ns;
        c.last_ns = std::max<uint64_t>(c.last_ns, v.last_ns);
        c.tcp_flags |= v.tcp_flags;
    }
    return c;
}

std::string key_bytes(const xdpflow_key &k) {
    return std::string(reinterpret_cast<const char *>(&k), sizeof(k));
}

void merge(Counters &into, const Counters &more) {
    if (!more.packets) return;
    into.packets += more.packets;
    into.bytes += more.bytes;
    if (more.first_ns && (!into.first_ns || more.first_ns < into.first_ns))
        into.first_ns = more.first_ns;
    into.last_ns = std::max(into.last_ns, more.last_ns);
    into.tcp_flags |= more.tcp_flags;
}

std::optional<Cidr> Cidr::parse(const std::string &text) {
    Cidr c;
    std::string addr = text;
    long prefix = -1;
    if (auto slash = text.find('/'); slash != std::string::npos) {
        addr = text.substr(0, slash);
        std::string p = text.substr(slash + 1);
        if (p.empty() || p.size() > 3 || !std::all_of(p.begin(), p.end(), ::isdigit))
            return std::nullopt;
        prefix = std::stol(p);
    }
    if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
        c.family = AF_INET;
        if (prefix > 32) return std::nullopt;
        c.prefix = prefix < 0 ? 32 : static_cast<unsigned>(prefix);
    } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
        c.family = AF_INET6;
        if (prefix > 128) return std::nullopt;
        c.prefix = prefix < 0 ? 128 : static_cast<unsigned>(prefix);
    } else {
        return std::nullopt;
    }
    return c;
}

bool Cidr::contains(const uint8_t *a, uint8_t fam) const {
    if (fam != family) return false;
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, addr, full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a[full] & mask) == (addr[full] & mask);
}

bool Filters::pass(const xdpflow_key &k) const {
    if (!protos.empty() && std::find(protos.begin(), protos.end(), k.proto) == protos.end())
        return false;
    if (!ports.empty()) {
        if (!has_ports(k)) return false;
        bool any = std::find(ports.begin(), ports.end(), k.sport) != ports.end() ||
                   std::find(ports.begin(), ports.end(), k.dport) != ports.end();
        if (!any) return false;
    }
    if (!hosts.empty()) {
        uint8_t fam = family_of(k);
        bool any = false;
        for (const auto &h : hosts)
            any |= h.contains(k.src, fam) || h.contains(k.dst, fam);
        if (!any) return false;
    }
    return true;
}

std::optional<uint8_t> parse_proto(const std::string &s) {
    if (s == "tcp") return IPPROTO_TCP;
    if (s == "udp") return IPPROTO_UDP;
    if (s == "icmp") return IPPROTO_ICMP;
    if (s == "icmp6" || s == "ipv6-icmp") return IPPROTO_ICMPV6;
    if (s == "sctp") return IPPROTO_SCTP;
    if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), ::isdigit))
        return std::nullopt;
    long v = std::stol(s);
    if (v > 255) return std::nullopt;
    return static_cast<uint8_t>(v);
}

std::string proto_name(uint8_t proto, uint16_t ethertype) {
    if (ethertype != kEthIp && ethertype != kEthIpv6) {
        char buf[16];
        snprintf(buf, sizeof(buf), "eth:%04x", ethertype);
        return buf;
    }
    switch (proto) {
        case IPPROTO_TCP:
            return "tcp";
        case IPPROTO_UDP:
            return "udp";
        case IPPROTO_ICMP:
            return "icmp";
        case IPPROTO_ICMPV6:
            return "icmp6";
        case IPPROTO_SCTP:
            return "sctp";
        default:
            return std::to_string(proto);
    }
}

void FlowTable::observe(const xdpflow_key &k, const Counters &c) {
    auto [it, fresh] = flows_.try_emplace(key_bytes(k));
    Flow &f = it->second;
    if (fresh) {
        f.key = k;
        seen_++;
        f.total = c;
    } else {
        // A read can miss a CPU's cached packets that moved into the table
        // between the table's read and the cache's: the next read has
        // them. Totals only grow.
        Counters t = c;
        t.packets = std::max(t.packets, f.total.packets);
        t.bytes = std::max(t.bytes, f.total.bytes);
        t.last_ns = std::max(t.last_ns, f.total.last_ns);
        t.tcp_flags |= f.total.tcp_flags;
        if (f.total.first_ns && (!t.first_ns || f.total.first_ns < t.first_ns))
            t.first_ns = f.total.first_ns;
        f.total = t;
    }
    if (!f.export_start_ns) f.export_start_ns = c.first_ns;
    if (!f.export_timer_ns) f.export_timer_ns = c.first_ns;
}

void FlowTable::expire(const xdpflow_key &k, const Counters &last) {
    observe(k, last);
    Flow &f = flows_[key_bytes(k)];
    if (!f.expired) expired_++;
    f.expired = true;
}

void FlowTable::set_kernel_stats(const uint64_t stats[2 * XDPFLOW_STAT_MAX]) {
    std::copy(stats, stats + 2 * XDPFLOW_STAT_MAX, kstats_);
}

std::vector<Record> FlowTable::interval(uint64_t now_ns) {
    std::vector<Record> out;
    for (auto &[kb, f] : flows_) {
        uint64_t dp = f.total.packets - f.shown_packets, db = f.total.bytes - f.shown_bytes;
        // A flow that expired gets a last record, with nothing new or not.
        if (!dp && !(f.expired && !f.shown_final)) continue;
        if (f.expired) f.shown_final = true;
        out.push_back(Record{&f, dp, db, f.total.first_ns, f.total.last_ns, f.expired});
        f.shown_packets = f.total.packets;
        f.shown_bytes = f.total.bytes;
    }
    (void)now_ns;
    return out;
}

std::vector<Record> FlowTable::export_due(uint64_t now_ns, uint64_t active_ns, bool final) {
    std::vector<Record> out;
    for (auto &[kb, f] : flows_) {
        uint64_t dp = f.total.packets - f.exported_packets;
        uint64_t db = f.total.bytes - f.exported_bytes;
        if (f.expired) f.exported_final = true;
        if (!dp) continue;
        bool due = final || f.expired ||
                   (now_ns > f.export_timer_ns && now_ns - f.export_timer_ns >= active_ns);
        if (!due) continue;
        out.push_back(Record{&f, dp, db, f.export_start_ns ? f.export_start_ns : f.total.first_ns,
                             f.total.last_ns, f.expired || final});
        f.exported_packets = f.total.packets;
        f.exported_bytes = f.total.bytes;
        f.export_start_ns = f.total.last_ns;
        f.export_timer_ns = now_ns;
    }
    return out;
}

void FlowTable::collect(bool exporting) {
    for (auto it = flows_.begin(); it != flows_.end();) {
        const Flow &f = it->second;
        bool done = f.expired && f.shown_final && (!exporting || f.exported_final);
        if (!done) {
            ++it;
            continue;
        }
        gone_.packets[f.key.dir & 1] += f.total.packets;
        gone_.bytes[f.key.dir & 1] += f.total.bytes;
        it = flows_.erase(it);
    }
}

std::vector<xdpflow_key> FlowTable::idle(uint64_t now_ns, uint64_t idle_ns) const {
    std::vector<xdpflow_key> out;
    for (const auto &[kb, f] : flows_)
        if (!f.expired && f.total.last_ns && now_ns > f.total.last_ns &&
            now_ns - f.total.last_ns >= idle_ns)
            out.push_back(f.key);
    return out;
}

Totals FlowTable::totals() const {
    Totals t = gone_;
    for (const auto &[kb, f] : flows_) {
        t.packets[f.key.dir & 1] += f.total.packets;
        t.bytes[f.key.dir & 1] += f.total.bytes;
    }
    for (int d = 0; d < 2; d++) {
        const uint64_t *s = kstats_ + d * XDPFLOW_STAT_MAX;
        t.overflow_packets[d] = s[XDPFLOW_STAT_FULL_PACKETS];
        t.overflow_bytes[d] = s[XDPFLOW_STAT_FULL_BYTES];
        t.packets[d] += t.overflow_packets[d];
        t.bytes[d] += t.overflow_bytes[d];
        t.truncated += s[XDPFLOW_STAT_TRUNCATED];
        t.seen += s[XDPFLOW_STAT_SEEN];
        t.sampled += s[XDPFLOW_STAT_SAMPLED];
    }
    t.flows_seen = seen_;
    t.flows_expired = expired_;
    return t;
}

std::string key_addr(const xdpflow_key &k, bool dst) {
    const uint8_t *a = dst ? k.dst : k.src;
    char buf[INET6_ADDRSTRLEN] = "";
    uint8_t fam = family_of(k);
    if (!fam) return "";
    inet_ntop(fam, a, buf, sizeof(buf));
    return buf;
}

std::string tcp_flags_text(uint8_t flags) {
    static const char letters[] = "FSRPAUEC";
    std::string s;
    for (int i = 0; i < 8; i++)
        s += (flags & (1u << i)) ? letters[i] : '.';
    return s;
}

std::string wall_time(const OutputContext &ctx, uint64_t mono_ns) {
    return mono_iso8601(mono_ns, ctx.wall_offset_ns, 3);
}

std::string json_record(const Record &r, const OutputContext &ctx, uint64_t now_ns) {
    const xdpflow_key &k = r.flow->key;
    JsonWriter w;
    w.begin_object()
        .kv("schema", "xdpflow/1")
        .kv("type", "flow")
        .kv("mode", ctx.mode)
        .kv("time", wall_time(ctx, now_ns))
        .kv("interface", ctx.ifname ? ctx.ifname(k.ifindex) : std::to_string(k.ifindex))
        .kv("ifindex", k.ifindex)
        .kv("direction", k.dir == XDPFLOW_DIR_EGRESS ? "egress" : "ingress")
        .kv("ethertype", k.ethertype)
        .kv("proto", proto_name(k.proto, k.ethertype))
        .kv("ip_proto", k.proto);
    if (family_of(k)) {
        w.kv("family", family_of(k) == AF_INET ? 4 : 6)
            .kv("src", key_addr(k, false))
            .kv("dst", key_addr(k, true));
        if (has_ports(k)) w.kv("sport", k.sport).kv("dport", k.dport);
        if (is_icmp(k)) w.kv("icmp_type", k.icmp_type).kv("icmp_code", k.icmp_code);
    }
    w.kv("vlan", k.vlan)
        .kv("packets", r.packets)
        .kv("bytes", r.bytes)
        .kv("packets_total", r.flow->total.packets)
        .kv("bytes_total", r.flow->total.bytes);
    if (k.proto == IPPROTO_TCP) w.kv("tcp_flags", tcp_flags_text(r.flow->total.tcp_flags));
    w.kv("first_seen", wall_time(ctx, r.flow->total.first_ns))
        .kv("last_seen", wall_time(ctx, r.flow->total.last_ns))
        .kv("sample_rate", ctx.sample_n)
        .kv("expired", r.final)
        .end_object();
    return w.take();
}

std::string text_header() {
    char buf[256];
    snprintf(buf, sizeof(buf), "%-12s %-8s %-3s %-6s %-40s %-40s %5s %10s %12s %s", "TIME", "IFACE",
             "DIR", "PROTO", "SOURCE", "DESTINATION", "VLAN", "PACKETS", "BYTES", "FLAGS");
    return buf;
}

std::string text_record(const Record &r, const OutputContext &ctx) {
    const xdpflow_key &k = r.flow->key;
    auto endpoint = [&](bool dst) {
        std::string a = key_addr(k, dst);
        if (a.empty()) return std::string("-");
        uint16_t port = dst ? k.dport : k.sport;
        if (has_ports(k)) {
            if (a.find(':') != std::string::npos) a = "[" + a + "]";
            return a + ":" + std::to_string(port);
        }
        return a;
    };
    std::string flags = k.proto == IPPROTO_TCP ? tcp_flags_text(r.flow->total.tcp_flags) : "";
    if (is_icmp(k))
        flags = "type " + std::to_string(k.icmp_type) + " code " + std::to_string(k.icmp_code);
    if (r.final) flags += flags.empty() ? "expired" : " expired";
    std::string t = wall_time(ctx, r.end_ns);
    t = t.size() > 23 ? t.substr(11, 12) : t;  // hh:mm:ss.mmm
    char buf[512];
    snprintf(buf, sizeof(buf), "%-12s %-8s %-3s %-6s %-40s %-40s %5u %10llu %12llu %s", t.c_str(),
             (ctx.ifname ? ctx.ifname(k.ifindex) : std::to_string(k.ifindex)).c_str(),
             k.dir == XDPFLOW_DIR_EGRESS ? "out" : "in", proto_name(k.proto, k.ethertype).c_str(),
             endpoint(false).c_str(), endpoint(true).c_str(), k.vlan,
             static_cast<unsigned long long>(r.packets), static_cast<unsigned long long>(r.bytes),
             flags.c_str());
    return buf;
}

std::string json_summary(const Totals &t, const OutputContext &ctx, uint64_t now_ns) {
    JsonWriter w;
    w.begin_object()
        .kv("schema", "xdpflow/1")
        .kv("type", "summary")
        .kv("mode", ctx.mode)
        .kv("time", wall_time(ctx, now_ns))
        .kv("sample_rate", ctx.sample_n);
    for (int d = 0; d < 2; d++) {
        w.key(d ? "egress" : "ingress")
            .begin_object()
            .kv("packets", t.packets[d])
            .kv("bytes", t.bytes[d])
            .kv("overflow_packets", t.overflow_packets[d])
            .kv("overflow_bytes", t.overflow_bytes[d])
            .end_object();
    }
    w.kv("flows_seen", t.flows_seen)
        .kv("flows_expired", t.flows_expired)
        .kv("truncated", t.truncated)
        .kv("packets_seen", t.seen)
        .kv("packets_sampled", t.sampled)
        .kv("capture_drops", t.capture_drops)
        .kv("expiry_failures", t.lost_on_expiry)
        .end_object();
    return w.take();
}

std::string text_summary(const Totals &t) {
    char buf[512];
    snprintf(
        buf, sizeof(buf),
        "summary: in %llu packets %llu bytes, out %llu packets %llu bytes; %llu flows seen, "
        "%llu expired; table full: %llu packets %llu bytes not in a flow; %llu truncated; "
        "%llu dropped by the capture",
        static_cast<unsigned long long>(t.packets[0]), static_cast<unsigned long long>(t.bytes[0]),
        static_cast<unsigned long long>(t.packets[1]), static_cast<unsigned long long>(t.bytes[1]),
        static_cast<unsigned long long>(t.flows_seen),
        static_cast<unsigned long long>(t.flows_expired),
        static_cast<unsigned long long>(t.overflow_packets[0] + t.overflow_packets[1]),
        static_cast<unsigned long long>(t.overflow_bytes[0] + t.overflow_bytes[1]),
        static_cast<unsigned long long>(t.truncated),
        static_cast<unsigned long long>(t.capture_drops));
    return buf;
}

}  // namespace bpfkit::xdpflow
