// SPDX-License-Identifier: GPL-2.0-only
// dnssnoop's modes, best first; bpfcheck reads the same declaration.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "events.h"  // common/
#include "ladder.h"  // common/

struct dnssnoop_bpf;

namespace bpfkit::dnssnoop {

const LadderSpec &ladder();

struct KernelConfig {
    std::vector<uint16_t> ports = {53, 853};  // watched ports, at most DNSSNOOP_MAX_PORTS
    uint32_t snap_len = 4096;                 // bytes copied per packet, from the IP header
};

// Opens dnssnoop's skeleton for each rung with the ports set, and attaches
// the cgroup programs to the root of the cgroup2 hierarchy (bpf_link only).
// *transport (if given) gets the events map's transport of the last try.
std::unique_ptr<SkeletonTrier> make_trier(KernelConfig config = {},
                                          EventTransport *transport = nullptr);

}  // namespace bpfkit::dnssnoop
