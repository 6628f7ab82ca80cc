// SPDX-License-Identifier: GPL-2.0-only
// The kernel's BTF parsed from a read-only mapping where the kernel allows
// it (6.16 and later): one copy in memory instead of libbpf 1.1's two.
#pragma once

namespace bpfkit {

// Whether a parse of the kernel's BTF used the mapping.
bool kernel_btf_mapped();

// Whether the kernel's BTF (/sys/kernel/btf/vmlinux) holds the name, such as
// a kfunc's, among its strings; false without the file. A scan of the file
// in 64 KiB pieces: no parse, no copy of it in memory.
bool kernel_btf_has_name(const char *name);

}  // namespace bpfkit
