// SPDX-License-Identifier: GPL-2.0-only
#include "afpacket_collector.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "procfs.h"

namespace bpfkit::netproc {

namespace {

constexpr int64_t kMaxBackoffNs = 10'000'000'000;
constexpr int64_t kMaxGapNs = 1'000'000'000;  // the budget never holds a refresh off longer

int64_t cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void add(Counters &c, bool tx, uint64_t bytes) {
    if (tx) {
        c.tx_bytes += bytes;
        ++c.tx_packets;
    } else {
        c.rx_bytes += bytes;
        ++c.rx_packets;
    }
}

uint64_t frames_of(const Counters &c) {
    return c.tx_packets + c.rx_packets;
}

// The accepting return of a classic BPF program gives the bytes to keep:
// cut it to snap (the headers are all we read; wire_len keeps the length).
std::vector<sock_filter> with_snap(std::vector<sock_filter> prog, uint32_t snap) {
    for (auto &in : prog)
        if (in.code == (BPF_RET | BPF_K) && in.k != 0) in.k = std::min(in.k, snap);
    return prog;
}

bool is_multicast(const pkt::IpAddr &a) {
    if (a.family == AF_INET) return (a.bytes[0] & 0xf0) == 0xe0;
    return a.family == AF_INET6 && a.bytes[0] == 0xff;
}

bool is_zero(const pkt::IpAddr &a) {
    return std::all_of(a.bytes.begin(), a.bytes.end(), [](uint8_t b) { return b == 0; });
}

// Cgroup v2 id of a process: the inode number of its cgroup directory.
uint64_t cgroup_id_of(int pid, const std::string &proc_root, const std::string &cgroup_root) {
    auto path = procfs::cgroup_path(pid, proc_root);
    if (!path || path->empty() || (*path)[0] != '/') return 0;
    struct stat st {};
    if (stat((cgroup_root + *path).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    return st.st_ino;
}

}  // namespace

Flow AfPacketCollector::to_flow(const FlowKey &k, const FlowState &st) const {
    Flow f;
    f.tgid = st.pid;
    auto pi = procs_.find(st.pid);
    f.cgroup_id = pi != procs_.end() ? pi->second.cgroup_id : 0;
    f.proto = k.proto;
    f.local = st.local;
    f.remote = st.remote;
    f.lport = k.lport;
    f.rport = k.rport;
    f.delta = st.delta;
    f.total = st.total;
    return f;
}

AfPacketCollector::AfPacketCollector(AfPacketCollectorOptions opts)
    : opts_(std::move(opts)), map_(procnet::SocketMapOptions{opts_.proc_root, opts_.net_dir}) {}

int64_t AfPacketCollector::now_ns() const {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int AfPacketCollector::open(std::string *err) {
    AfPacketOptions o;
    o.filter = with_snap(cbpf::ip_any(), opts_.snap_len);
    o.block_timeout_ms = opts_.block_timeout_ms;
    o.block_size = opts_.block_size;
    o.block_count = opts_.block_count;
    std::string e;
    if (int rc = cap_.open(o, &e); rc != 0) {
        if (err != nullptr) *err = "afpacket mode: " + e;
        return rc;
    }
    // The socket tables must be readable, or nothing can ever be attributed.
    if (!refresh(now_ns(), true)) {
        const int rc = map_.stats().tables.tables_read == 0 ? ENOENT : EIO;
        if (err != nullptr)
            *err = "afpacket mode: cannot read the socket tables " + opts_.proc_root + "/" +
                   opts_.net_dir + "/{tcp,tcp6,udp,udp6}: mount procfs on " + opts_.proc_root +
                   " (mount -t proc proc " + opts_.proc_root + ")";
        cap_.close();
        return rc;
    }
    return 0;
}

int AfPacketCollector::poll(int timeout_ms) {
    if (refresh_wanted_) {
        const int64_t left = last_refresh_ns_ + min_gap_ns_ - now_ns();
        const int due_ms =
            static_cast<int>(std::clamp<int64_t>((left + 999'999) / 1'000'000, 0, INT32_MAX));
        timeout_ms = timeout_ms < 0 ? due_ms : std::min(timeout_ms, due_ms);
    }
    const int n = cap_.poll(timeout_ms, [this](const Frame &f) { handle(f, now_ns()); });
    if (refresh_wanted_ && refresh(now_ns(), false)) resolve_unsettled();
    return n;
}

bool AfPacketCollector::want_refresh(int64_t now) {
    if (refresh(now, false)) return true;
    refresh_wanted_ = true;
    return false;
}

void AfPacketCollector::resolve_unsettled() {
    for (auto &[k, st] : flows_)
        if (st.attr != Attr::Final && st.gen != map_.generation()) lookup(k, st);
}

bool AfPacketCollector::refresh(int64_t now, bool force) {
    if (refreshed_ && !force && now - last_refresh_ns_ < min_gap_ns_) {
        ++st_.refreshes_limited;
        return false;
    }
    const int64_t t0 = now_ns(), c0 = cpu_ns();
    const int rc = map_.refresh();
    // This thread's network namespace, like the tables when net_dir is
    // "thread-self/net" (getifaddrs asks over a netlink socket of this thread).
    ifaddrs *ifa = nullptr;
    if (getifaddrs(&ifa) == 0) {
        local_addrs_.clear();
        for (const ifaddrs *i = ifa; i != nullptr; i = i->ifa_next) {
            if (i->ifa_addr == nullptr) continue;
            if (i->ifa_addr->sa_family == AF_INET) {
                const auto *sin = reinterpret_cast<const sockaddr_in *>(i->ifa_addr);
                local_addrs_.push_back(
                    pkt::IpAddr::v4(reinterpret_cast<const uint8_t *>(&sin->sin_addr)));
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                const auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(i->ifa_addr);
                local_addrs_.push_back(pkt::IpAddr::v6(sin6->sin6_addr.s6_addr));
            }
        }
        freeifaddrs(ifa);
        local_addrs_known_ = true;
    }
    const int64_t dur = now_ns() - t0, cpu = cpu_ns() - c0;
    refreshed_ = true;
    refresh_wanted_ = false;
    last_refresh_ns_ = now;
    // The budget is CPU time (mostly the kernel walking its socket hash
    // tables): wall time would also count being preempted.
    const double share = opts_.refresh_share > 0 ? std::min(opts_.refresh_share, 1.0) : 1.0;
    const int64_t min_gap = int64_t{opts_.min_refresh_ms} * 1'000'000;
    min_gap_ns_ = std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(cpu) / share),
                                      min_gap, std::max(min_gap, kMaxGapNs));
    ++st_.refreshes;
    st_.refresh_ms_last = static_cast<double>(dur) / 1e6;
    st_.refresh_ms_total += st_.refresh_ms_last;
    st_.refresh_cpu_ms_total += static_cast<double>(cpu) / 1e6;
    if (rc != 0) {
        ++st_.refresh_errors;
        return false;
    }
    st_.pids_unreadable = map_.stats().owners.pids_unreadable;
    return true;
}

bool AfPacketCollector::is_local(const pkt::IpAddr &a) const {
    if (!local_addrs_known_ || is_zero(a) || is_multicast(a)) return true;
    if (a.family == AF_INET && (a.bytes[0] == 127 || (a.bytes[0] == 255 && a.bytes[1] == 255 &&
                                                      a.bytes[2] == 255 && a.bytes[3] == 255)))
        return true;
    const pkt::IpAddr u = procnet::unmap_v4(a);
    return std::find(local_addrs_.begin(), local_addrs_.end(), u) != local_addrs_.end();
}

bool AfPacketCollector::alive(uint32_t pid) const {
    // /proc rather than kill(): a zombie has closed its sockets already, and
    // tests can make a process "exit" by removing its fixture directory.
    const std::string path = opts_.proc_root + "/" + std::to_string(pid) + "/stat";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno != ENOENT && errno != ESRCH;
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return n == 0;  // a fixture with an empty stat: alive
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');  // comm may contain anything but ')' ends it
    if (paren == nullptr || paren[1] != ' ') return true;
    return paren[2] != 'Z' && paren[2] != 'X';
}

void AfPacketCollector::note_pid(uint32_t pid, uint32_t socket_uid) {
    if (procs_.count(pid) != 0) return;
    // Now, while the process lives: it may be gone by the next read().
    ProcName name;
    const int p = static_cast<int>(pid);
    if (auto c = procfs::comm(p, opts_.proc_root)) {
        name.comm = *c;
        name.known = true;
    }
    name.uid = procfs::uid(p, opts_.proc_root).value_or(socket_uid);
    name.cgroup_id = cgroup_id_of(p, opts_.proc_root, opts_.cgroup_root);
    procs_.emplace(pid, std::move(name));
}

void AfPacketCollector::count_unattributed(bool tx, uint32_t bytes) {
    add(unattributed_, tx, bytes);
    ++st_.unattributed_frames;
}

void AfPacketCollector::lookup(const FlowKey &k, FlowState &st) {
    st.gen = map_.generation();
    auto m = map_.lookup(k.proto, st.local, k.lport, st.remote, k.rport);
    if (!m) {
        if (st.attr == Attr::None)
            st.forwarded = opts_.skip_forwarded && !st.bcast && !is_local(st.local);
        return;
    }
    const Attr a = m->kind == procnet::MatchKind::Listener ? Attr::Tentative : Attr::Final;
    if (st.attr == Attr::Final && a != Attr::Final) return;  // never trade a socket for a listener
    if (st.pid == m->pid) {
        st.attr = a;
        return;
    }
    if (st.pid != 0 && !st.delta.empty()) {
        // The socket changed hands: the old owner keeps what it moved.
        retired_.push_back(to_flow(k, st));
        st.delta = {};
    }
    st.total = {};
    st.pid = m->pid;
    st.attr = a;
    st.forwarded = false;
    note_pid(m->pid, m->socket.uid);
    if (!st.pending.empty()) {
        // Counted while unmatched in this interval: the owner gets them.
        st.delta += st.pending;
        st.total += st.pending;
        st_.late_frames += frames_of(st.pending);
        st_.attributed_frames += frames_of(st.pending);
        st.pending = {};
    }
}

void AfPacketCollector::handle(const Frame &f, int64_t now) {
    ++st_.frames;
    bool tx = false, bcast = false;
    switch (f.pkttype) {
        case PACKET_OUTGOING:
            tx = true;
            break;
        case PACKET_BROADCAST:
        case PACKET_MULTICAST:
            bcast = true;
            break;
        case PACKET_HOST:
        case PACKET_LOOPBACK:
            break;
        default:
            ++st_.ignored;
            return;
    }
    pkt::Packet p;
    if (parse_frame(f, p) != pkt::Error::Ok) {
        ++malformed_;
        count_unattributed(tx, f.wire_len);
        return;
    }
    const pkt::IpAddr &local = tx ? p.src : p.dst;
    const pkt::IpAddr &remote = tx ? p.dst : p.src;
    if (!p.is_ip || !p.has_ports || (p.ip_proto != IPPROTO_TCP && p.ip_proto != IPPROTO_UDP)) {
        if (p.is_ip && opts_.skip_forwarded && !bcast && !is_local(local)) {
            ++st_.forwarded_frames;
            st_.forwarded_bytes += f.wire_len;
            return;
        }
        ++st_.no_ports_frames;
        count_unattributed(tx, f.wire_len);
        return;
    }

    const FlowKey k =
        FlowKey::of(p.ip_proto, local, tx ? p.sport : p.dport, remote, tx ? p.dport : p.sport);
    auto it = flows_.find(k);
    if (it == flows_.end()) {
        if (flows_.size() >= opts_.max_flows) {
            ++flows_full_;
            bytes_full_ += f.wire_len;
            count_unattributed(tx, f.wire_len);
            return;
        }
        it = flows_.emplace(k, FlowState{}).first;
        ++st_.flows_created;
        FlowState &st = it->second;
        st.local = local;
        st.remote = remote;
        st.bcast = bcast;
        st.backoff_ns = int64_t{opts_.min_refresh_ms} * 1'000'000;
        lookup(k, st);
        // A new socket is not in the map yet: look at once.  (A SYN to a
        // listener matched the listener; its accepted socket comes later.)
        if (st.attr == Attr::None && !st.forwarded && want_refresh(now)) lookup(k, st);
        st.next_retry_ns = now + st.backoff_ns;
    }
    FlowState &st = it->second;

    const int d = tx ? 0 : 1;
    if (st.ifindex[d] != 0 && st.ifindex[d] != f.ifindex && now - st.if_seen_ns[d] < kRelockNs) {
        ++st_.duplicates;  // the same packet on a stacked device
        return;
    }
    st.ifindex[d] = f.ifindex;
    st.if_seen_ns[d] = now;

    if (st.gen != map_.generation()) lookup(k, st);
    if (st.attr != Attr::Final && !st.forwarded && now >= st.next_retry_ns) {
        if (want_refresh(now)) {
            lookup(k, st);
            st.backoff_ns = std::min(st.backoff_ns * 2, kMaxBackoffNs);
        }
        st.next_retry_ns = now + st.backoff_ns;
    }

    st.last_seen_ns = now;
    if (st.pid != 0) {
        add(st.delta, tx, f.wire_len);
        add(st.total, tx, f.wire_len);
        ++st_.attributed_frames;
    } else if (st.forwarded) {
        ++st_.forwarded_frames;
        st_.forwarded_bytes += f.wire_len;
    } else {
        add(st.pending, tx, f.wire_len);
    }
}

Snapshot AfPacketCollector::read(double interval_s) {
    Snapshot s;
    s.interval_s = interval_s;
    s.measures_unattributed = true;
    const int64_t now = now_ns();

    // A last look for flows still unmatched, so that a flow that began just
    // before this read is not reported unattributed for want of a scan. It
    // is not rate-limited: at most one per interval, and only when needed.
    bool pending = false;
    for (const auto &[k, st] : flows_)
        pending |= !st.pending.empty();
    if (pending && refresh(now, true)) resolve_unsettled();

    std::set<uint32_t> pids;
    Counters un = unattributed_;
    unattributed_ = {};
    for (auto &[k, st] : flows_) {
        if (!st.delta.empty()) {
            s.flows.push_back(to_flow(k, st));
            pids.insert(st.pid);
        }
        if (!st.pending.empty()) {
            un += st.pending;
            st_.unattributed_frames += frames_of(st.pending);
        }
        st.delta = {};
        st.pending = {};
    }
    for (auto &f : retired_) {
        pids.insert(f.tgid);
        s.flows.push_back(std::move(f));
    }
    retired_.clear();
    s.unattributed = un;

    // Names for everyone in this snapshot; the dead are reported once, then
    // forgotten with their flows.
    std::set<uint32_t> dead;
    for (const auto &[pid, info] : procs_)
        if (!alive(pid)) dead.insert(pid);
    pids.insert(dead.begin(), dead.end());
    for (uint32_t pid : pids) {
        auto pi = procs_.find(pid);
        if (pi == procs_.end()) continue;
        if (!dead.count(pid)) {
            if (auto c = procfs::comm(static_cast<int>(pid), opts_.proc_root)) {
                pi->second.comm = *c;  // it may have renamed itself
                pi->second.known = true;
            }
        }
        s.names[pid] = pi->second;
    }
    for (uint32_t pid : dead) {
        s.exited.push_back(pid);
        procs_.erase(pid);
    }
    const int64_t idle = int64_t{opts_.idle_expire_s} * 1'000'000'000;
    for (auto it = flows_.begin(); it != flows_.end();) {
        if (it->second.pid != 0 && dead.count(it->second.pid)) {
            ++st_.flows_dead;
            it = flows_.erase(it);
        } else if (now - it->second.last_seen_ns > idle) {
            ++st_.flows_expired;
            it = flows_.erase(it);
        } else {
            ++it;
        }
    }

    if (cap_.is_open()) s.losses.capture_drops = cap_.stats().drops;
    s.losses.malformed = malformed_;
    s.losses.flows_full = flows_full_;
    s.losses.bytes_full = bytes_full_;
    return s;
}

AfPacketCollector::Stats AfPacketCollector::stats() const {
    Stats s = st_;
    s.flows_cached = flows_.size();
    return s;
}

}  // namespace bpfkit::netproc
