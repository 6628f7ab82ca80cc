// SPDX-License-Identifier: GPL-2.0-only
// httpsnoop's modes, best first; bpfcheck reads the same declaration.
#pragma once

#include <cstdint>
#include <memory>

#include "events.h"  // common/
#include "ladder.h"  // common/

struct httpsnoop_bpf;

namespace bpfkit::httpsnoop {

const LadderSpec &ladder();

struct KernelConfig {
    uint32_t max_capture = 512;  // bytes copied per read/write
    bool tls = true;             // load the TLS uprobe programs
    uint32_t self_tgid = 0;      // not followed
};

// Opens httpsnoop's skeleton for each rung; attaches the syscall and socket
// programs (bpf_link only). The TLS uprobes are loaded, not attached: the
// tool attaches them to each TLS library it finds.
std::unique_ptr<SkeletonTrier> make_trier(KernelConfig config = {},
                                          EventTransport *transport = nullptr);

// Whether a program of the skeleton is one of the TLS uprobes.
bool is_tls_program(const char *name);

}  // namespace bpfkit::httpsnoop
