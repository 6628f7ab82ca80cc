// SPDX-License-Identifier: GPL-2.0-only
#include "ebpf_collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "netproc.skel.h"

namespace bpfkit::netproc {

bool process_alive(uint32_t tgid) {
    return kill(static_cast<pid_t>(tgid), 0) == 0 || errno == EPERM;
}

bool EbpfCollector::KeyLess::operator()(const netproc_key &a, const netproc_key &b) const {
    return memcmp(&a, &b, sizeof(a)) < 0;
}

EbpfCollector::EbpfCollector(netproc_bpf *skel) : skel_(skel), ncpus_(libbpf_num_possible_cpus()) {}

namespace {

pkt::IpAddr addr(uint8_t family, const uint8_t *bytes) {
    return family == AF_INET ? pkt::IpAddr::v4(bytes) : pkt::IpAddr::v6(bytes);
}

}  // namespace

int EbpfCollector::probe_read() const {
    netproc_key next{};
    if (bpf_map_get_next_key(bpf_map__fd(skel_->maps.flows), nullptr, &next) == 0 ||
        errno == ENOENT)
        return 0;
    return errno;
}

Snapshot EbpfCollector::read(double interval_s) {
    Snapshot s;
    s.interval_s = interval_s;
    const int flows_fd = bpf_map__fd(skel_->maps.flows);
    const int procs_fd = bpf_map__fd(skel_->maps.procs);

    // Every key first, then the values: deleting while walking would restart the walk.
    std::vector<netproc_key> keys;
    netproc_key key{}, next{};
    const void *prev = nullptr;
    int rc;
    while ((rc = bpf_map_get_next_key(flows_fd, prev, &next)) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }
    if (rc != 0 && errno != ENOENT) {
        error_ = errno;
        return s;
    }
    fill_ = static_cast<double>(keys.size()) / bpf_map__max_entries(skel_->maps.flows);

    std::vector<netproc_val> percpu(static_cast<size_t>(ncpus_));
    std::set<uint32_t> tgids, dead;
    std::map<netproc_key, Counters, KeyLess> now;
    for (const auto &k : keys) {
        if (bpf_map_lookup_elem(flows_fd, &k, percpu.data()) != 0) {
            if (errno == ENOENT) continue;  // deleted since the walk
            error_ = errno;
            return s;
        }
        Counters c;
        for (const auto &v : percpu) {
            c.tx_bytes += v.tx_bytes;
            c.rx_bytes += v.rx_bytes;
            c.tx_packets += v.tx_calls;
            c.rx_packets += v.rx_calls;
        }
        now[k] = c;
        tgids.insert(k.tgid);
    }
    for (uint32_t t : tgids)
        if (!process_alive(t)) dead.insert(t);

    for (const auto &[k, c] : now) {
        Counters before;
        if (auto it = last_.find(k); it != last_.end()) before = it->second;
        Counters d;
        d.tx_bytes = c.tx_bytes - before.tx_bytes;
        d.rx_bytes = c.rx_bytes - before.rx_bytes;
        d.tx_packets = c.tx_packets - before.tx_packets;
        d.rx_packets = c.rx_packets - before.rx_packets;
        if (d.empty()) continue;
        Flow f;
        f.tgid = k.tgid;
        f.cgroup_id = k.cgroup_id;
        f.proto = k.proto;
        f.local = addr(k.family, k.laddr);
        f.remote = addr(k.family, k.raddr);
        f.lport = k.lport;
        f.rport = k.rport;
        f.delta = d;
        f.total = c;
        s.flows.push_back(f);
    }

    // Names as the kernel saw them, for every process in this snapshot.
    for (uint32_t t : tgids) {
        netproc_proc p{};
        ProcName n;
        if (bpf_map_lookup_elem(procs_fd, &t, &p) == 0) {
            n.comm.assign(p.comm, strnlen(p.comm, sizeof(p.comm)));
            n.uid = p.uid;
            n.cgroup_id = p.cgroup_id;
            n.known = true;
        }
        s.names[t] = n;
    }

    // The dead have been reported with their last bytes: forget them.
    for (const auto &[k, c] : now) {
        if (dead.count(k.tgid)) {
            bpf_map_delete_elem(flows_fd, &k);
        } else {
            last_[k] = c;
        }
    }
    for (uint32_t t : dead) {
        bpf_map_delete_elem(procs_fd, &t);
        s.exited.push_back(t);
    }
    for (auto it = last_.begin(); it != last_.end();)
        it = dead.count(it->first.tgid) ? last_.erase(it) : ++it;

    // Losses, summed over CPUs.
    const int stats_fd = bpf_map__fd(skel_->maps.stats);
    std::vector<uint64_t> vals(static_cast<size_t>(ncpus_));
    auto stat = [&](uint32_t idx) {
        uint64_t sum = 0;
        if (bpf_map_lookup_elem(stats_fd, &idx, vals.data()) == 0)
            for (uint64_t v : vals)
                sum += v;
        return sum;
    };
    s.losses.flows_full = stat(NETPROC_STAT_FLOWS_FULL);
    s.losses.bytes_full = stat(NETPROC_STAT_BYTES_FULL);
    s.losses.procs_full = stat(NETPROC_STAT_PROCS_FULL);
    s.losses.stash_full = stat(NETPROC_STAT_STASH_FULL);
    s.losses.peeks_skipped = stat(NETPROC_STAT_PEEK_SKIPPED);
    return s;
}

}  // namespace bpfkit::netproc
