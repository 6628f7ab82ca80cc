// SPDX-License-Identifier: GPL-2.0-only
#include "dnssnoop_procs.h"

#include <time.h>

#include "procfs.h"  // common/

namespace bpfkit::dnssnoop {

namespace {

uint64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A /proc scan reads every process's fd table: at most this often.
constexpr uint64_t kRefreshNs = 20'000'000ull;
// A snapshot of the socket tables is trusted at most this long.
constexpr uint64_t kStaleNs = 1'000'000'000ull;
// A process's container is looked up again after this long (pids are reused).
constexpr uint64_t kProcTtlNs = 10'000'000'000ull;

}  // namespace

ProcResolver::ProcResolver(std::string proc_root)
    : root_(proc_root), map_(procnet::SocketMapOptions{proc_root, "net"}) {}

const ProcResolver::Proc &ProcResolver::proc(uint32_t pid, uint64_t now_ns) {
    auto it = procs_.find(pid);
    if (it != procs_.end() && now_ns - it->second.at_ns < kProcTtlNs) return it->second;
    if (procs_.size() > 65536) {
        procs_.clear();
        it = procs_.end();
    }
    Proc p;
    p.at_ns = now_ns;
    const int ipid = static_cast<int>(pid);
    if (auto c = procfs::comm(ipid, root_)) {
        p.comm = *c;
    } else if (it != procs_.end()) {
        p.comm = it->second.comm;  // gone since: the name it had
    }
    if (auto cg = procfs::cgroup_path(ipid, root_)) {
        procfs::CgroupIdentity id = procfs::classify_cgroup(*cg);
        if (!id.container_id.empty()) {
            p.container = id.container_id;
        } else if (!id.container_name.empty()) {
            p.container = id.container_name;
        }
    } else if (it != procs_.end()) {
        p.container = it->second.container;
    }
    return procs_[pid] = std::move(p);
}

void ProcResolver::resolve(Owner &o, uint8_t proto, const Endpoint &client,
                           const Endpoint &server) {
    const uint64_t now = mono_ns();
    if (!o.known) {
        ++lookups_;
        // A snapshot older than this may name the last owner of a reused port.
        if (now - last_refresh_ns_ >= kStaleNs) {
            last_refresh_ns_ = now;
            map_.refresh();
        }
        auto m = map_.lookup(proto, client.addr, client.port, server.addr, server.port);
        if (!m && now - last_refresh_ns_ >= kRefreshNs) {
            last_refresh_ns_ = now;
            map_.refresh();
            m = map_.lookup(proto, client.addr, client.port, server.addr, server.port);
        }
        if (!m) {
            ++misses_;
            return;
        }
        o.known = true;
        o.pid = m->pid;
        o.uid = m->socket.uid;
        o.comm = proc(o.pid, now).comm;
    }
    if (!o.container) o.container = proc(o.pid, now).container;
}

}  // namespace bpfkit::dnssnoop
