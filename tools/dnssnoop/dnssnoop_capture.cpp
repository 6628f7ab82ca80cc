// SPDX-License-Identifier: GPL-2.0-only
#include "dnssnoop_capture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_packet.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "dnssnoop.h"
#include "dnssnoop.skel.h"
#include "loop.h"

namespace bpfkit::dnssnoop {

namespace {

int64_t ns_of(const timespec &ts) {
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

// ---- eBPF ----

int EbpfCapture::open(dnssnoop_bpf *skel, EventTransport transport, PacketHandler handler) {
    skel_ = skel;
    handler_ = std::move(handler);
    return sink_.open(skel->maps.events, transport, [this](const void *data, size_t size) {
        dnssnoop_event ev;
        if (size < sizeof(ev)) {
            ++bad_events_;
            return;
        }
        memcpy(&ev, data, sizeof(ev));
        if (ev.cap_len > size - sizeof(ev)) {
            ++bad_events_;
            return;
        }
        CapturedPacket p;
        p.ts_ns = ev.ts_ns;
        p.dir = ev.dir == DNSSNOOP_INGRESS ? Dir::Ingress : Dir::Egress;
        p.ip =
            std::span<const uint8_t>(static_cast<const uint8_t *>(data) + sizeof(ev), ev.cap_len);
        p.wire_len = ev.pkt_len;
        p.sock_cookie = ev.sock_cookie;
        if (ev.flags & DNSSNOOP_F_OWNER) {
            p.owner.known = true;
            p.owner.pid = ev.owner.tgid;
            p.owner.tid = ev.owner.tid;
            p.owner.uid = ev.owner.uid;
            p.owner.cgroup_id = ev.owner.cgroup_id;
            p.owner.comm.assign(ev.owner.comm, strnlen(ev.owner.comm, sizeof(ev.owner.comm)));
        }
        handler_(p);
    });
}

int EbpfCapture::poll(int timeout_ms) {
    // The programs wake the reader only when much is waiting: read what is
    // there once the wait is over.
    return sink_.drain(timeout_ms);
}

int EbpfCapture::probe_read() const {
    return percpu_readable(bpf_map__fd(skel_->maps.stats));
}

KernelStats EbpfCapture::stats() const {
    KernelStats k;
    if (!skel_) return k;
    const int fd = bpf_map__fd(skel_->maps.stats);
    auto stat = [&](__u32 idx) { return percpu_sum(fd, idx); };
    k.events = stat(DNSSNOOP_STAT_EVENTS);
    k.ring_drops = stat(DNSSNOOP_STAT_RING_DROPS) + sink_.lost();
    k.truncated = stat(DNSSNOOP_STAT_TRUNCATED);
    k.no_owner = stat(DNSSNOOP_STAT_NO_OWNER);
    k.owners_seen = stat(DNSSNOOP_STAT_OWNERS_SEEN);
    k.v6_ext = stat(DNSSNOOP_STAT_V6_EXT);
    return k;
}

// ---- AF_PACKET ----

int AfPacketCapture::open(const std::vector<uint16_t> &ports, std::string *err) {
    AfPacketOptions o;
    // Queries leaving for a watched port, responses coming from one: not a
    // local server's side, and on lo one copy of each packet, not two.
    o.filter = cbpf::l4_ports_by_direction(ports, true, true);
    o.block_size = 1u << 20;
    o.block_count = 8;
    o.frame_size = 1u << 16;
    o.block_timeout_ms = 10;
    wall_offset_ns_ = wall_offset_ns();
    return cap_.open(o, err);
}

void AfPacketCapture::deliver(const Frame &f, const PacketHandler &handler) const {
    pkt::Packet pk;
    parse_frame(f, pk);
    if (!pk.is_ip || pk.l3_offset > f.data.size()) return;
    CapturedPacket p;
    p.ts_ns = static_cast<uint64_t>(ns_of(f.ts) - wall_offset_ns_);
    p.dir = f.pkttype == PACKET_OUTGOING ? Dir::Egress : Dir::Ingress;
    p.ip = f.data.subspan(pk.l3_offset);
    p.wire_len = f.wire_len > pk.l3_offset ? f.wire_len - pk.l3_offset : 0;
    handler(p);
}

int AfPacketCapture::poll(int timeout_ms, const PacketHandler &handler) {
    int n = cap_.poll(timeout_ms, [&](const Frame &f) { deliver(f, handler); });
    return n < 0 ? n : 0;
}

int AfPacketCapture::drain(int budget_ms, const PacketHandler &handler) {
    return cap_.drain(budget_ms, [&](const Frame &f) { deliver(f, handler); });
}

}  // namespace bpfkit::dnssnoop
