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

// The tracepoint rung counts per socket; the maps of the others hold one entry.
bool EbpfCollector::per_socket() const {
    return bpf_map__max_entries(skel_->maps.flows) <= 1;
}

const netproc_key *EbpfCollector::socket_tuple(uint64_t cookie) {
    if (auto it = tuples_.find(cookie); it != tuples_.end()) return &it->second;
    netproc_key k{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.socks), &cookie, &k) != 0) return nullptr;
    return &tuples_.emplace(cookie, k).first->second;
}

// Every key first, then the values: deleting while walking would restart the walk.
bool EbpfCollector::read_entries(std::vector<Entry> &out) {
    const bool sockets = per_socket();
    bpf_map *map = sockets ? skel_->maps.sock_flows : skel_->maps.flows;
    const int fd = bpf_map__fd(map);
    const size_t key_size = bpf_map__key_size(map);
    std::string key(key_size, '\0'), next(key_size, '\0');
    std::vector<std::string> keys;
    const void *prev = nullptr;
    int rc;
    while ((rc = bpf_map_get_next_key(fd, prev, next.data())) == 0) {
        keys.push_back(next);
        key = next;
        prev = key.data();
    }
    if (rc != 0 && errno != ENOENT) {
        error_ = errno;
        return false;
    }
    fill_ = static_cast<double>(keys.size()) / bpf_map__max_entries(map);

    std::vector<netproc_val> percpu(static_cast<size_t>(ncpus_));
    for (auto &k : keys) {
        if (bpf_map_lookup_elem(fd, k.data(), percpu.data()) != 0) {
            if (errno == ENOENT) continue;  // deleted since the walk
            error_ = errno;
            return false;
        }
        Entry e;
        for (const auto &v : percpu) {
            e.total.tx_bytes += v.tx_bytes;
            e.total.rx_bytes += v.rx_bytes;
            e.total.tx_packets += v.tx_calls;
            e.total.rx_packets += v.rx_calls;
        }
        if (sockets) {
            netproc_sock_key sk;
            memcpy(&sk, k.data(), sizeof(sk));
            // A socket whose tuple the kernel could not keep (socks full,
            // counted) is still the process's traffic.
            if (const netproc_key *t = socket_tuple(sk.cookie)) e.tuple = *t;
            e.tuple.tgid = sk.tgid;
        } else {
            memcpy(&e.tuple, k.data(), sizeof(e.tuple));
        }
        e.raw = std::move(k);
        out.push_back(std::move(e));
    }
    return true;
}

// Drops what was reported for the last time: the entries of processes that
// exited, and (tracepoint rung) the sockets that closed before the previous
// read, so the maps hold only the living.
void EbpfCollector::forget_sockets(const std::vector<Entry> &entries,
                                   const std::set<uint32_t> &dead) {
    const bool sockets = per_socket();
    const int fd = bpf_map__fd(sockets ? skel_->maps.sock_flows : skel_->maps.flows);
    std::set<uint64_t> gone = closed_, kept;
    for (const auto &e : entries) {
        uint64_t cookie = 0;
        if (sockets) memcpy(&cookie, e.raw.data(), sizeof(cookie));
        if (dead.count(e.tuple.tgid) || (sockets && gone.count(cookie))) {
            bpf_map_delete_elem(fd, e.raw.data());
            last_.erase(e.raw);
        } else if (sockets) {
            kept.insert(cookie);
        }
    }
    if (!sockets) return;
    // A socket's tuple goes when no living process counts on it any more.
    for (auto it = tuples_.begin(); it != tuples_.end();) {
        if (kept.count(it->first)) {
            ++it;
            continue;
        }
        bpf_map_delete_elem(bpf_map__fd(skel_->maps.socks), &it->first);
        it = tuples_.erase(it);
    }
    for (uint64_t c : gone)
        bpf_map_delete_elem(bpf_map__fd(skel_->maps.closed), &c);
}

Snapshot EbpfCollector::read(double interval_s) {
    Snapshot s;
    s.interval_s = interval_s;
    const int procs_fd = bpf_map__fd(skel_->maps.procs);

    // Sockets closed by now are read once more below, and forgotten at the
    // next read: a receive may still drain a reset connection's queue.
    std::set<uint64_t> closed_now;
    if (per_socket()) {
        const int fd = bpf_map__fd(skel_->maps.closed);
        uint64_t c = 0, n = 0;
        const void *prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, &n) == 0) {
            closed_now.insert(n);
            c = n;
            prev = &c;
        }
    }

    std::vector<Entry> entries;
    if (!read_entries(entries)) return s;
    std::set<uint32_t> tgids, dead;
    for (const auto &e : entries)
        tgids.insert(e.tuple.tgid);
    for (uint32_t t : tgids)
        if (!process_alive(t)) dead.insert(t);

    for (const auto &e : entries) {
        Counters before;
        if (auto it = last_.find(e.raw); it != last_.end()) before = it->second;
        const Counters &c = e.total;
        Counters d;
        d.tx_bytes = c.tx_bytes - before.tx_bytes;
        d.rx_bytes = c.rx_bytes - before.rx_bytes;
        d.tx_packets = c.tx_packets - before.tx_packets;
        d.rx_packets = c.rx_packets - before.rx_packets;
        last_[e.raw] = c;
        if (d.empty()) continue;
        const netproc_key &k = e.tuple;
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

    // The dead and the closed have been reported with their last bytes.
    forget_sockets(entries, dead);
    for (uint32_t t : dead) {
        bpf_map_delete_elem(procs_fd, &t);
        s.exited.push_back(t);
    }
    closed_ = std::move(closed_now);
    s.kernel_entries = last_.size();

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
    s.losses.socks_full = stat(NETPROC_STAT_SOCKS_FULL);
    s.losses.closed_full = stat(NETPROC_STAT_CLOSED_FULL);
    return s;
}

}  // namespace bpfkit::netproc
