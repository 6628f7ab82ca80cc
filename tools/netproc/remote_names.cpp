// SPDX-License-Identifier: GPL-2.0-only
#include "remote_names.h"

#include <netinet/in.h>

#include <ctime>

namespace bpfkit::netproc {

namespace {

uint64_t now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec);
}

}  // namespace

int RemoteNames::open(std::string *err) {
    AfPacketOptions o;
    o.filter = cbpf::l4_port(53, true, true);
    o.block_size = 1u << 16;
    o.block_count = 4;
    o.frame_size = 2048;
    o.block_timeout_ms = 20;
    o.ignore_outgoing = true;  // responses come in; on loopback the incoming copy is enough
    return cap_.open(o, err);
}

void RemoteNames::message(std::span<const uint8_t> bytes) {
    dns::Message m;
    dns::Error e = dns::parse(bytes, m);
    if (!m.complete) {
        malformed_++;
        return;
    }
    (void)e;  // an rdata error in one record leaves the others usable
    if (!m.qr) return;
    responses_++;
    cache_.observe(m, now_s());
}

int RemoteNames::poll(int timeout_ms) {
    return cap_.poll(timeout_ms, [&](const Frame &f) {
        pkt::Packet p;
        if (parse_frame(f, p) != pkt::Error::Ok || !p.has_ports) return;
        auto payload = f.data.subspan(p.payload_offset, p.payload_len);
        if (p.ip_proto == IPPROTO_UDP) {
            if (p.sport == 53) message(payload);
            return;
        }
        if (p.ip_proto != IPPROTO_TCP || p.sport != 53) return;
        std::string key = p.src.str() + "|" + std::to_string(p.sport) + "|" + p.dst.str() + "|" +
                          std::to_string(p.dport);
        if (p.tcp_flags & (0x01 | 0x04)) {  // FIN or RST: the connection is over
            tcp_.erase(key);
            return;
        }
        if (payload.empty()) return;
        if (tcp_.size() > 1024) tcp_.clear();  // bounded: old partial messages go
        tcp_[key].feed(payload, [&](std::span<const uint8_t> msg) { message(msg); });
    });
}

std::optional<std::string> RemoteNames::lookup(const pkt::IpAddr &addr) {
    return cache_.lookup(addr, now_s());
}

}  // namespace bpfkit::netproc
