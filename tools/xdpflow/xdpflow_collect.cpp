// SPDX-License-Identifier: GPL-2.0-only
#include "xdpflow_collect.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "xdpflow.skel.h"

namespace bpfkit::xdpflow {

Collector::Collector(xdpflow_bpf *skel)
    : flows_fd_(bpf_map__fd(skel->maps.flows)),
      stats_fd_(bpf_map__fd(skel->maps.stats)),
      cache_fd_(bpf_map__fd(skel->maps.flow_cache)),
      ncpus_(libbpf_num_possible_cpus()) {
    if (ncpus_ < 1) ncpus_ = 1;
    vals_.resize(static_cast<size_t>(ncpus_));
    cached_.resize(static_cast<size_t>(ncpus_));
}

int Collector::scan(FlowTable &table, uint64_t now_ns, uint64_t idle_ns) {
    // The table first, then each CPU's cached flows (in that order: packets
    // that move from a cache into the table between the two reads are missed
    // once, never counted twice; FlowTable::observe keeps totals growing).
    struct Read {
        xdpflow_key key;
        Counters c;
        bool in_table;
    };
    std::unordered_map<std::string, Read> read;
    xdpflow_key key{}, next{};
    const void *prev = nullptr;
    while (bpf_map_get_next_key(flows_fd_, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(flows_fd_, &key, vals_.data()) != 0) continue;  // just expired
        read.emplace(key_bytes(key), Read{key, sum_percpu(vals_.data(), ncpus_), true});
    }
    // A flow may be only in a cache: user space expired it while a CPU held
    // a run of it, and that CPU has counted nothing else since.
    std::unordered_set<std::string> busy;  // flows with packets in a cache
    for (uint32_t slot = 0; slot < 2; slot++) {
        if (bpf_map_lookup_elem(cache_fd_, &slot, cached_.data()) != 0) return -errno;
        for (const xdpflow_cached &c : cached_) {
            if (!c.val.packets) continue;
            const std::string kb = key_bytes(c.key);
            auto it = read.try_emplace(kb, Read{c.key, {}, false}).first;
            merge(it->second.c, sum_percpu(&c.val, 1));
            busy.insert(kb);
        }
    }
    for (auto &[kb, r] : read) {
        Counters c = r.c;
        auto b = baseline_.find(kb);
        if (b != baseline_.end()) {
            if (c.packets <= b->second.packets) {
                // Only what its last record had: a cache's run handed to the
                // table after the flow expired. Gone for good once no cache
                // holds it any more.
                if (!busy.count(kb)) forget(r.key);
                continue;
            }
            c.packets -= b->second.packets;
            c.bytes -= std::min(c.bytes, b->second.bytes);
        }
        table.observe(r.key, c);
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
        const std::string kb = key_bytes(k);
        auto r = read.find(kb);
        Counters c;
        if ((r == read.end() || r->second.in_table) && !take(k, now_ns, idle_ns, table, c))
            continue;
        // A CPU that counted this flow last and nothing since still holds its
        // run: counted in this last record, and kept as the part the flow's
        // next life must not count again.
        Counters left = cached_counts(k);
        merge(c, left);
        if (auto b = baseline_.find(kb); b != baseline_.end()) {
            c.packets -= std::min(c.packets, b->second.packets);
            c.bytes -= std::min(c.bytes, b->second.bytes);
        }
        if (left.packets)
            baseline_[kb] = left;
        else
            baseline_.erase(kb);
        table.expire(k, c);
    }
    return 0;
}

bool Collector::take(const xdpflow_key &k, uint64_t now_ns, uint64_t idle_ns, FlowTable &table,
                     Counters &out) {
    // The last counters and the delete in one step where the kernel can
    // (5.14 for hash maps); else read then delete, where a packet of the
    // idle flow arriving between the two would be lost (counted below
    // only when the delete fails).
    if (lookup_and_delete_) {
        if (bpf_map_lookup_and_delete_elem(flows_fd_, &k, vals_.data()) == 0) {
            out = sum_percpu(vals_.data(), ncpus_);
            return true;
        }
        if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP) {
            failed_expiries_++;
            return false;
        }
        lookup_and_delete_ = false;
    }
    if (bpf_map_lookup_elem(flows_fd_, &k, vals_.data()) != 0) {
        failed_expiries_++;
        return false;
    }
    Counters c = sum_percpu(vals_.data(), ncpus_);
    // Not idle any more: keep it.
    if (c.last_ns && now_ns - c.last_ns < idle_ns) {
        table.observe(k, c);
        return false;
    }
    if (bpf_map_delete_elem(flows_fd_, &k) != 0) {
        failed_expiries_++;
        return false;
    }
    out = c;
    return true;
}

Counters Collector::cached_counts(const xdpflow_key &k) {
    Counters sum;
    for (uint32_t slot = 0; slot < 2; slot++) {
        if (bpf_map_lookup_elem(cache_fd_, &slot, cached_.data()) != 0) continue;
        for (const xdpflow_cached &c : cached_)
            if (c.val.packets && key_bytes(c.key) == key_bytes(k))
                merge(sum, sum_percpu(&c.val, 1));
    }
    return sum;
}

void Collector::forget(const xdpflow_key &k) {
    const std::string kb = key_bytes(k);
    if (bpf_map_lookup_and_delete_elem(flows_fd_, &k, vals_.data()) != 0 &&
        bpf_map_delete_elem(flows_fd_, &k) != 0)
        return;
    baseline_.erase(kb);
}

}  // namespace bpfkit::xdpflow
