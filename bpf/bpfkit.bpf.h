/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared includes and constants for bpfkit's BPF programs. */
#ifndef BPFKIT_BPF_H
#define BPFKIT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

/* Macros that vmlinux.h cannot carry. */
#define BPFKIT_TC_ACT_OK 0
#define BPFKIT_AF_INET	 2
#define BPFKIT_AF_INET6	 10
#define BPFKIT_E2BIG	 7
#define BPFKIT_EEXIST	 17

/* The number of the system call whose saved user registers these are. */
#if defined(__TARGET_ARCH_x86)
#define BPFKIT_SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define BPFKIT_SYSCALL_NR(regs) ((regs)->syscallno)
#endif

/* A one-entry per-CPU array `scratch` of the given struct: room to build an
 * event bigger than the BPF stack. */
#define BPFKIT_SCRATCH_MAP(vtype)                                                                  \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, vtype);                                                              \
	} scratch SEC(".maps")

/* A per-CPU array of n __u64 counters named `stats`, user space sums them
 * over CPUs (percpu_sum()); stat_add() bumps one. */
#define BPFKIT_STATS_MAP(n)                                                                        \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, n);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} stats SEC(".maps");                                                                      \
	static __always_inline void stat_add(__u32 idx, __u64 v)                                   \
	{                                                                                          \
		__u64 *p = bpf_map_lookup_elem(&stats, &idx);                                      \
		if (p)                                                                             \
			*p += v;                                                                   \
	}

#endif
