/* SPDX-License-Identifier: GPL-2.0-only */
/* Structures xdpflow's BPF programs share with user space. */
#ifndef BPFKIT_XDPFLOW_H
#define BPFKIT_XDPFLOW_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define XDPFLOW_DIR_INGRESS 0
#define XDPFLOW_DIR_EGRESS  1

/* One flow: the per-CPU hash key. 48 bytes, no holes. */
struct xdpflow_key {
	__u8 src[16]; /* network order; IPv4 in the first 4 bytes; zero for non-IP */
	__u8 dst[16];
	__u32 ifindex;
	__u16 sport; /* host order; 0 for ICMP, non-first fragments and non-TCP/UDP/SCTP */
	__u16 dport;
	__u16 ethertype; /* host order, after VLAN tags: 0x0800, 0x86dd, or another (ARP ...) */
	__u16 vlan;	 /* VLAN id of the outermost tag, 0 when untagged */
	__u8 proto;	 /* IP protocol */
	__u8 dir;	 /* XDPFLOW_DIR_* */
	__u8 icmp_type;
	__u8 icmp_code;
};

/* A flow's counters on one CPU. */
struct xdpflow_val {
	__u64 packets;
	__u64 bytes;	/* L2 frame bytes, VLAN tag included; GSO: wire bytes */
	__u64 first_ns; /* CLOCK_MONOTONIC (coarse where the kernel has it) */
	__u64 last_ns;
	__u8 tcp_flags; /* OR of every packet's flags */
	__u8 pad[7];
};

/* The flow a CPU counted last in one direction (per-CPU array, index = dir):
 * its packets since it was cached, not yet added to the table. The table
 * always has an entry for a cached key when it is cached; user space counts
 * a cached entry only while the table has its key. */
struct xdpflow_cached {
	struct xdpflow_key key;
	struct xdpflow_val val;
};

/* What could not go into the flow table, and other losses; per-CPU array. */
enum xdpflow_stat {
	XDPFLOW_STAT_FULL_PACKETS = 0, /* packets of flows that found the table full */
	XDPFLOW_STAT_FULL_BYTES,
	XDPFLOW_STAT_TRUNCATED, /* packets whose headers ended early (counted with what was read) */
	XDPFLOW_STAT_SEEN,	/* packets the programs saw (before sampling) */
	XDPFLOW_STAT_SAMPLED,	/* packets counted (after sampling) */
	XDPFLOW_STAT_MAX,
};

#endif
