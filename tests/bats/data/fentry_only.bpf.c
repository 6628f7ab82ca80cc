// SPDX-License-Identifier: GPL-2.0-only
/* An fentry program loaded by bpftool, not by bpfkit: the independent
 * fact that bpfcheck's fentry line is checked against. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("fentry/vfs_read")
int BPF_PROG(independent_fentry)
{
	return 0;
}
