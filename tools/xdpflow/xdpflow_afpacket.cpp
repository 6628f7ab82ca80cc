// SPDX-License-Identifier: GPL-2.0-only
#include "xdpflow_afpacket.h"

#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "packet.h"  // common/

namespace bpfkit::xdpflow {

namespace {
constexpr int kBlockTimeoutMs = 50;
}

int AfPacketFlows::open(const std::vector<Iface> &ifaces, uint32_t max_flows, uint32_t sample_n,
                        int64_t wall_offset_ns, std::string *err) {
    max_flows_ = max_flows;
    sample_n_ = sample_n;
    wall_offset_ns_ = wall_offset_ns;
    for (const auto &ifc : ifaces) {
        AfPacketOptions o;
        o.ifname = ifc.name;
        o.frame_size = 256;  // headers are enough: the length comes from the wire
        o.block_size = 1u << 20;
        o.block_count = 8;
        o.block_timeout_ms = kBlockTimeoutMs;
        auto s = std::make_unique<AfPacket>();
        if (int e = s->open(o, err)) return e;
        socks_.push_back(std::move(s));
    }
    return 0;
}

void AfPacketFlows::count(const Frame &f) {
    const uint8_t dir = f.pkttype == PACKET_OUTGOING ? XDPFLOW_DIR_EGRESS : XDPFLOW_DIR_INGRESS;
    uint64_t *st = stats_ + dir * XDPFLOW_STAT_MAX;
    if (sample_n_ > 1) {
        st[XDPFLOW_STAT_SEEN]++;
        if (sample_ctr_++ % sample_n_ != 0) return;
        st[XDPFLOW_STAT_SAMPLED]++;
    }
    xdpflow_key k{};
    k.ifindex = static_cast<uint32_t>(f.ifindex);
    k.dir = dir;
    uint64_t bytes = f.wire_len;
    pkt::Packet p;
    pkt::Error e = link_kind(f.hatype) == LinkKind::RawIp ? pkt::parse_ip(f.data, p)
                                                          : pkt::parse_ethernet(f.data, p);
    if (f.vlan_valid) {
        k.vlan = f.vlan_tci & 0xfff;
        bytes += 4;  // on the wire all the same
    } else if (p.vlan_count) {
        k.vlan = p.vlan_ids[0];
    }
    k.ethertype = p.ethertype ? p.ethertype : f.protocol;
    // Headers cut short or malformed: counted with what was read.
    if (e != pkt::Error::Ok) st[XDPFLOW_STAT_TRUNCATED]++;
    if (p.is_ip) {
        memcpy(k.src, p.src.bytes.data(), 16);
        memcpy(k.dst, p.dst.bytes.data(), 16);
        k.proto = p.ip_proto;
        if (p.has_ports) {
            k.sport = p.sport;
            k.dport = p.dport;
        }
        if (p.ip_proto == IPPROTO_ICMP || p.ip_proto == IPPROTO_ICMPV6) {
            k.icmp_type = p.icmp_type;
            k.icmp_code = p.icmp_code;
        }
    }
    uint64_t ts = static_cast<uint64_t>(
        (static_cast<int64_t>(f.ts.tv_sec) * 1'000'000'000 + f.ts.tv_nsec) - wall_offset_ns_);
    std::string kb(reinterpret_cast<const char *>(&k), sizeof(k));
    auto it = flows_.find(kb);
    if (it == flows_.end()) {
        if (flows_.size() >= max_flows_) {
            st[XDPFLOW_STAT_FULL_PACKETS]++;
            st[XDPFLOW_STAT_FULL_BYTES] += bytes;
            return;
        }
        Counters c;
        c.first_ns = ts;
        it = flows_.emplace(kb, std::make_pair(k, c)).first;
    }
    Counters &c = it->second.second;
    c.packets++;
    c.bytes += bytes;
    c.last_ns = std::max(c.last_ns, ts);
    c.tcp_flags |= p.tcp_flags;
}

int AfPacketFlows::poll(int timeout_ms) {
    std::vector<pollfd> fds;
    for (const auto &s : socks_)
        fds.push_back(pollfd{s->fd(), POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (const auto &s : socks_) {
        int r = s->poll(0, [this](const Frame &f) { count(f); });
        if (r < 0) return r;
    }
    return 0;
}

void AfPacketFlows::scan(FlowTable &table, uint64_t now_ns, uint64_t idle_ns) {
    // What the rings hold already counts.
    for (const auto &s : socks_)
        s->poll(0, [this](const Frame &f) { count(f); });
    for (auto it = flows_.begin(); it != flows_.end();) {
        const auto &[k, c] = it->second;
        if (idle_ns && now_ns > c.last_ns && now_ns - c.last_ns >= idle_ns) {
            table.expire(k, c);
            it = flows_.erase(it);
        } else {
            table.observe(k, c);
            ++it;
        }
    }
    table.set_kernel_stats(stats_);
}

void AfPacketFlows::drain() {
    // Every block the kernel filled before the stop, the one it is still
    // filling too (see AfPacket::drain).
    for (const auto &s : socks_)
        s->drain(500, [this](const Frame &f) { count(f); });
}

uint64_t AfPacketFlows::drops() {
    uint64_t d = 0;
    for (const auto &s : socks_) {
        // full ring, and (after drain) captured but never read
        AfPacketStats st = s->stats();
        d += st.drops + st.unread;
    }
    return d;
}

}  // namespace bpfkit::xdpflow
