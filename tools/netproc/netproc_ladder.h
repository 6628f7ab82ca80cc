// SPDX-License-Identifier: GPL-2.0-only
// netproc's modes, best first; bpfcheck reads the same declaration.
#pragma once

#include <cstdint>
#include <memory>

#include "ladder.h"  // common/

struct netproc_bpf;
struct bpf_link;

namespace bpfkit::netproc {

const LadderSpec &ladder();
struct KernelFilter {
    uint32_t tgid = 0;       // count only this process (0: every process)
    uint32_t max_flows = 0;  // size of the flow map (0: as built, 16384)
};

// Opens netproc's skeleton for each rung with the kernel's recvmsg
// argument counts and the filter set.
std::unique_ptr<SkeletonTrier> make_trier(KernelFilter filter = {});

// The iterator over the sockets' counters (tracepoint rung); each link
// made gives its own reads.
bpf_link *attach_socket_iter(netproc_bpf *skel);

}  // namespace bpfkit::netproc
