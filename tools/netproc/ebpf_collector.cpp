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
#include <unistd.h>

#include "netproc.skel.h"
#include "netproc_ladder.h"

namespace bpfkit::netproc {

bool process_alive(uint32_t tgid) {
    return kill(static_cast<pid_t>(tgid), 0) == 0 || errno == EPERM;
}

EbpfCollector::EbpfCollector(netproc_bpf *skel) : skel_(skel), ncpus_(libbpf_num_possible_cpus()) {
    if (per_socket() && bpf_program__fd(skel_->progs.netproc_iter_socks) >= 0) {
        iter_ = attach_socket_iter(skel_);
        if (!iter_) error_ = errno;
    }
}

EbpfCollector::~EbpfCollector() {
    if (iter_) bpf_link__destroy(iter_);
}

namespace {

// The keys of a map keyed by socket cookie.
std::vector<uint64_t> cookies(int fd) {
    std::vector<uint64_t> out;
    uint64_t c = 0, n = 0;
    const void *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &n) == 0) {
        out.push_back(n);
        c = n;
        prev = &c;
    }
    return out;
}

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

// Tracepoint rung: the counters in socket storage. Released sockets first
// (their last counts, kept by the release hook), then the live ones through
// the iterator, which skips sockets marked released: a socket released
// between the two reads is counted at the next read, never twice.
bool EbpfCollector::read_storage(std::vector<Entry> &out, std::vector<uint64_t> &released) {
    auto entry = [&](const netproc_sk_counts &st) {
        Entry e;
        e.raw.assign(1, 'S');
        e.raw.append(reinterpret_cast<const char *>(&st.cookie), sizeof(st.cookie));
        if (const netproc_key *t = socket_tuple(st.cookie)) e.tuple = *t;
        e.tuple.tgid = st.tgid;
        e.total.tx_bytes = st.v.tx_bytes;
        e.total.rx_bytes = st.v.rx_bytes;
        e.total.tx_packets = st.v.tx_calls;
        e.total.rx_packets = st.v.rx_calls;
        out.push_back(std::move(e));
    };
    const int rel_fd = bpf_map__fd(skel_->maps.released);
    released = cookies(rel_fd);
    for (uint64_t cookie : released) {
        netproc_sk_counts st{};
        if (bpf_map_lookup_elem(rel_fd, &cookie, &st) == 0) entry(st);
    }
    if (!iter_) return true;
    int fd = bpf_iter_create(bpf_link__fd(iter_));
    if (fd < 0) {
        error_ = errno;
        return false;
    }
    std::vector<char> buf(64 * sizeof(netproc_sk_counts));
    std::string pending;
    ssize_t got;
    while ((got = ::read(fd, buf.data(), buf.size())) > 0) {
        pending.append(buf.data(), static_cast<size_t>(got));
        size_t whole = pending.size() / sizeof(netproc_sk_counts) * sizeof(netproc_sk_counts);
        for (size_t off = 0; off < whole; off += sizeof(netproc_sk_counts)) {
            netproc_sk_counts st;
            memcpy(&st, pending.data() + off, sizeof(st));
            entry(st);
        }
        pending.erase(0, whole);
    }
    int err = got < 0 ? errno : 0;
    close(fd);
    if (err) {
        error_ = err;
        return false;
    }
    return true;
}

// Drops what was reported for the last time: the entries of processes that
// exited, and (tracepoint rung) the sockets that closed before the previous
// read, so the maps hold only the living.
size_t EbpfCollector::forget_sockets(const std::vector<Entry> &entries,
                                     const std::set<uint32_t> &dead,
                                     const std::vector<uint64_t> &released) {
    const bool sockets = per_socket();
    const std::set<uint64_t> done(released.begin(), released.end());
    size_t left = 0;
    const int fd = bpf_map__fd(sockets ? skel_->maps.sock_flows : skel_->maps.flows);
    std::set<uint64_t> gone = closed_, kept;
    for (const auto &e : entries) {
        uint64_t cookie = 0;
        if (e.raw.size() == 1 + sizeof(cookie) && e.raw[0] == 'S') {
            // Socket storage: a released socket is done; a live one stays
            // (the kernel frees its storage with the socket).
            memcpy(&cookie, e.raw.data() + 1, sizeof(cookie));
            if (done.count(cookie)) {
                last_.erase(e.raw);
                bpf_map_delete_elem(bpf_map__fd(skel_->maps.released), &cookie);
            } else {
                kept.insert(cookie);
                ++left;
            }
            continue;
        }
        if (sockets) memcpy(&cookie, e.raw.data(), sizeof(cookie));
        if (dead.count(e.tuple.tgid) || (sockets && gone.count(cookie))) {
            bpf_map_delete_elem(fd, e.raw.data());
            last_.erase(e.raw);
            continue;
        }
        ++left;
        if (sockets) kept.insert(cookie);
    }
    if (!sockets) return left;
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
    return left;
}

Snapshot EbpfCollector::read(double interval_s) {
    Snapshot s;
    s.interval_s = interval_s;
    const int procs_fd = bpf_map__fd(skel_->maps.procs);

    // Sockets closed by now are read once more below, and forgotten at the
    // next read: a receive may still drain a reset connection's queue.
    std::set<uint64_t> closed_now;
    if (per_socket()) {
        std::vector<uint64_t> c = cookies(bpf_map__fd(skel_->maps.closed));
        closed_now.insert(c.begin(), c.end());
    }

    std::vector<Entry> entries;
    std::vector<uint64_t> released;
    if (per_socket() && !read_storage(entries, released)) return s;
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
    s.kernel_entries = forget_sockets(entries, dead, released);
    for (uint32_t t : dead) {
        bpf_map_delete_elem(procs_fd, &t);
        s.exited.push_back(t);
    }
    closed_ = std::move(closed_now);

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
    s.losses.released_full = stat(NETPROC_STAT_RELEASED_FULL);
    s.losses.released_bytes = stat(NETPROC_STAT_RELEASED_BYTES);
    return s;
}

}  // namespace bpfkit::netproc
