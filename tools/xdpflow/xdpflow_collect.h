// SPDX-License-Identifier: GPL-2.0-only
// Reads xdpflow's kernel maps into the FlowTable and expires idle flows.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "xdpflow_flows.h"

struct xdpflow_bpf;

namespace bpfkit::xdpflow {

class Collector {
  public:
    explicit Collector(xdpflow_bpf *skel);
    // Reads every flow and the loss counters; deletes the flows idle for
    // idle_ns (0: none) and hands their last counters to the table.
    // 0 or -errno.
    int scan(FlowTable &table, uint64_t now_ns, uint64_t idle_ns);
    uint64_t failed_expiries() const { return failed_expiries_; }

  private:
    // Deletes an idle flow from the table; its last counters in out. False
    // if it is not idle any more (then observed) or the delete failed.
    bool take(const xdpflow_key &k, uint64_t now_ns, uint64_t idle_ns, FlowTable &table,
              Counters &out);
    // The flow's packets the CPUs' caches hold now.
    Counters cached_counts(const xdpflow_key &k);
    // Drops a flow with nothing new since its last record from the table.
    void forget(const xdpflow_key &k);

    int flows_fd_, stats_fd_, cache_fd_;
    int ncpus_;
    bool lookup_and_delete_ = true;
    uint64_t failed_expiries_ = 0;
    std::vector<xdpflow_val> vals_;
    std::vector<xdpflow_cached> cached_;
    // Flows expired while a CPU's cache held some of their packets: what of
    // them the last record counted and the kernel still has, not to be
    // counted again when the cache hands it to the table.
    std::unordered_map<std::string, Counters> baseline_;
};

}  // namespace bpfkit::xdpflow
