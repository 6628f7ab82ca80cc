// SPDX-License-Identifier: GPL-2.0-only
/* For common/'s own tests: one event per fork of a chosen process, through
 * the events map (ring buffer, or perf buffer when user space says so). */
#include "bpfkit_events.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct selftest_event {
	__u32 parent;
	__u32 child;
	__u64 pad;
};

const volatile __u32 parent_tgid = 0;
__u64 seq = 0;
__u64 dropped = 0;

BPFKIT_EVENTS_MAP(events, 64 * 1024);

SEC("raw_tp/sched_process_fork")
int BPF_PROG(selftest_fork, struct task_struct *parent, struct task_struct *child)
{
	struct selftest_event e = {};

	e.parent = BPF_CORE_READ(parent, tgid);
	if (e.parent != parent_tgid)
		return 0;
	e.child = BPF_CORE_READ(child, pid);
	/* An atomic add whose result is unused: fetching atomics need 5.12. */
	__sync_fetch_and_add(&seq, 1);
	if (bpfkit_emit(ctx, &events, &e, sizeof(e)))
		__sync_fetch_and_add(&dropped, 1);
	return 0;
}
