// SPDX-License-Identifier: GPL-2.0-only
// xdpflow's AF_PACKET fallback: the same flows, counted in user space from
// an AF_PACKET capture of each interface (both directions).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "afpacket.h"  // common/
#include "xdpflow_flows.h"
#include "xdpflow_ladder.h"

namespace bpfkit::xdpflow {

class AfPacketFlows {
  public:
    // 0 or a positive errno, with one line in *err.
    int open(const std::vector<Iface> &ifaces, uint32_t max_flows, uint32_t sample_n,
             int64_t wall_offset_ns, std::string *err);
    // Waits up to timeout_ms for frames and counts them. 0 or -errno.
    int poll(int timeout_ms);
    // Hands the flows to the table and expires the idle ones (0: none).
    void scan(FlowTable &table, uint64_t now_ns, uint64_t idle_ns);
    // At the end: waits for the blocks the kernel has not handed over yet
    // (it does within two block timeouts) and counts their frames.
    void drain();
    // Frames the capture rings dropped (ring full), and, after drain(),
    // frames captured and still unread.
    uint64_t drops();

  private:
    void count(const Frame &f);
    std::vector<std::unique_ptr<AfPacket>> socks_;
    std::unordered_map<std::string, std::pair<xdpflow_key, Counters>> flows_;
    uint32_t max_flows_ = 0, sample_n_ = 0;
    uint64_t sample_ctr_ = 0;
    int64_t wall_offset_ns_ = 0;
    uint64_t stats_[2 * XDPFLOW_STAT_MAX] = {};
};

}  // namespace bpfkit::xdpflow
