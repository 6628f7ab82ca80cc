/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One events map that is a ring buffer where the kernel has one and a perf
 * event array where it does not (user space retypes it before load with
 * prepare_events_map()). The branch on the read-only flag is decided at
 * load time, so the verifier never sees the other path.
 */
#ifndef BPFKIT_EVENTS_BPF_H
#define BPFKIT_EVENTS_BPF_H

#include "bpfkit.bpf.h"

#define BPFKIT_EVENTS_MAP(name, bytes)                                                             \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                                                \
		__uint(max_entries, bytes);                                                        \
	} name SEC(".maps")

const volatile bool bpfkit_use_ringbuf = true;

/* Sends size bytes of data; returns 0, or a negative error when the buffer
 * was full (the caller counts the drop). */
static __always_inline long bpfkit_emit(void *ctx, void *map, void *data, __u64 size)
{
	if (bpfkit_use_ringbuf)
		return bpf_ringbuf_output(map, data, size, 0);
	return bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, data, size);
}

#endif
