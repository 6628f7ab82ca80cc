// SPDX-License-Identifier: GPL-2.0-only
// netproc's modes, best first; bpfcheck reads the same declaration.
#pragma once

#include <memory>

#include "ladder.h"  // common/

struct netproc_bpf;

namespace bpfkit::netproc {

const LadderSpec &ladder();
// Opens netproc's skeleton for each rung with the kernel's recvmsg
// argument counts set.
std::unique_ptr<SkeletonTrier> make_trier();

}  // namespace bpfkit::netproc
