// SPDX-License-Identifier: GPL-2.0-only
#include "xdpflow_collect.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>

#include "xdpflow.skel.h"

namespace bpfkit::xdpflow {

uint64_t mono_now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

int64_t wall_offset_ns() {
    timespec r, m;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m);
    return (static_cast<int64_t>(r.tv_sec) - m.tv_sec) * 1'000'000'000ll + (r.tv_nsec - m.tv_nsec);
}

Collector::Collector(xdpflow_bpf *skel)
    : flows_fd_(bpf_map__fd(skel->maps.flows)),
      stats_fd_(bpf_map__fd(skel->maps.stats)),
      ncpus_(libbpf_num_possible_cpus()) {
    if (ncpus_ < 1) ncpus_ = 1;
    vals_.resize(static_cast<size_t>(ncpus_));
}

int Collector::scan(FlowTable &table, uint64_t now_ns, uint64_t idle_ns) {
    xdpflow_key key{}, next{};
    const void *prev = nullptr;
    while (bpf_map_get_next_key(flows_fd_, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(flows_fd_, &key, vals_.data()) != 0) continue;  // just expired
        table.observe(key, sum_percpu(vals_.data(), ncpus_));
    }
    uint64_t stats[2 * XDPFLOW_STAT_MAX] = {};
    std::vector<uint64_t> per(static_cast<size_t>(ncpus_));
    for (uint32_t i = 0; i < 2 * XDPFLOW_STAT_MAX; i++) {
        if (bpf_map_lookup_elem(stats_fd_, &i, per.data()) != 0) return -errno;
        for (uint64_t v : per)
            stats[i] += v;
    }
    table.set_kernel_stats(stats);
    if (!idle_ns) return 0;
    for (const xdpflow_key &k : table.idle(now_ns, idle_ns)) {
        // The last counters and the delete in one step where the kernel can
        // (5.14 for hash maps); else read then delete, where a packet of the
        // idle flow arriving between the two would be lost (counted below
        // only when the delete fails).
        if (lookup_and_delete_) {
            if (bpf_map_lookup_and_delete_elem(flows_fd_, &k, vals_.data()) == 0) {
                table.expire(k, sum_percpu(vals_.data(), ncpus_));
                continue;
            }
            if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP) {
                failed_expiries_++;
                continue;
            }
            lookup_and_delete_ = false;
        }
        if (bpf_map_lookup_elem(flows_fd_, &k, vals_.data()) != 0) {
            failed_expiries_++;
            continue;
        }
        Counters c = sum_percpu(vals_.data(), ncpus_);
        // Not idle any more: keep it.
        if (c.last_ns && now_ns - c.last_ns < idle_ns) {
            table.observe(k, c);
            continue;
        }
        if (bpf_map_delete_elem(flows_fd_, &k) != 0) {
            failed_expiries_++;
            continue;
        }
        table.expire(k, c);
    }
    return 0;
}

}  // namespace bpfkit::xdpflow
