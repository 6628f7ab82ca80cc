// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tiny programs, one per attach type, that common/probes.cpp loads and
 * attaches one at a time to find out what this kernel really allows.
 * Each does nothing: attaching them for a moment has no effect on the
 * system.
 */
#include "bpfkit.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("fentry/vfs_read")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(probe_kprobe)
{
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sched_process_fork")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_tp_btf)
{
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(probe_uprobe)
{
	return 0;
}

SEC("perf_event")
int probe_perf_event(void *ctx)
{
	return 0;
}

SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int probe_tc(struct __sk_buff *skb)
{
	return BPFKIT_TC_ACT_OK;
}

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1;
}

SEC("socket")
int probe_socket_filter(struct __sk_buff *skb)
{
	return skb->len;
}
