// SPDX-License-Identifier: GPL-2.0-only
// Dropping capabilities once BPF programs are loaded and attached.
#pragma once

#include <sys/capability.h>

#include <functional>
#include <string>
#include <vector>

namespace bpfkit {

// This program's own path (/proc/self/exe), for setcap lines; argv0 if unknown.
std::string self_exe(const char *argv0);

// Keeps only the capabilities in `keep` that are held now (effective and
// permitted); drops every other one, and all of them if `keep` is empty.
void keep_only_capabilities(const std::vector<cap_value_t> &keep);

// After load and attach: drops every capability but `keep`, unless this
// kernel wants CAP_BPF (or CAP_SYS_ADMIN) for every bpf() call while
// unprivileged BPF is disabled (kernels before about 5.19): then keeps just
// the one that makes `probe_read` (a map read, 0 or an errno) work.
// Returns true when CAP_BPF or CAP_SYS_ADMIN had to be kept.
bool drop_capabilities_after_bpf(const std::function<int()> &probe_read,
                                 std::vector<cap_value_t> keep = {});

}  // namespace bpfkit
