// SPDX-License-Identifier: GPL-2.0-only
// Reads xdpflow's kernel maps into the FlowTable and expires idle flows.
#pragma once

#include <cstdint>
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
    int flows_fd_, stats_fd_;
    int ncpus_;
    bool lookup_and_delete_ = true;
    uint64_t failed_expiries_ = 0;
    std::vector<xdpflow_val> vals_;
};

uint64_t mono_now_ns();
int64_t wall_offset_ns();

}  // namespace bpfkit::xdpflow
