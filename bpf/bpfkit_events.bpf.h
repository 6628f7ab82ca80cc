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

/* As bpfkit_emit, but a ring buffer's reader is woken only when the data
 * waiting crosses a multiple of wake_bytes: a wakeup is an interrupt of its
 * own (irq_work, a self-IPI), costly in a VM, and a reader that polls with a
 * timeout and then consumes (EventSink::consume) loses nothing but a little
 * delay. Waking at every event past wake_bytes instead (until the reader
 * caught up) cost an IPI per event under load. Two CPUs that both miss a
 * crossing leave it to the next multiple, or to the reader's timeout. */
static __always_inline long bpfkit_emit_lazy(void *ctx, void *map, void *data, __u64 size,
					     __u64 wake_bytes)
{
	if (bpfkit_use_ringbuf) {
		__u64 avail = bpf_ringbuf_query(map, BPF_RB_AVAIL_DATA);
		__u64 flags = avail / wake_bytes != (avail + size) / wake_bytes
				  ? BPF_RB_FORCE_WAKEUP
				  : BPF_RB_NO_WAKEUP;

		return bpf_ringbuf_output(map, data, size, flags);
	}
	return bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, data, size);
}

#endif
