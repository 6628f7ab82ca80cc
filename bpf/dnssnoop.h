/* SPDX-License-Identifier: GPL-2.0-only */
/* Structures dnssnoop's BPF programs share with user space. */
#ifndef BPFKIT_DNSSNOOP_H
#define BPFKIT_DNSSNOOP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define DNSSNOOP_COMM_LEN  16
#define DNSSNOOP_MAX_PORTS 8
/* At most this many bytes of each packet (from its IP header) are copied. */
#define DNSSNOOP_SNAP_MAX 4096
/* User space is woken once this much is waiting in the ring buffer; it also
 * reads every 100 ms without being woken. */
#define DNSSNOOP_WAKE_BYTES (256 * 1024)

/* The process behind a socket, noted in its context when it sends (or
 * connects) to a watched port. */
struct dnssnoop_owner {
	__u32 tgid;
	__u32 tid;
	__u32 uid;
	__u32 pad;
	__u64 cgroup_id;
	char comm[DNSSNOOP_COMM_LEN];
};

enum dnssnoop_dir {
	DNSSNOOP_EGRESS = 0,
	DNSSNOOP_INGRESS = 1,
};

/* dnssnoop_event.flags */
#define DNSSNOOP_F_OWNER 0x1 /* owner is valid */

/* One packet to or from a watched port, as cgroup_skb saw it; the first
 * cap_len bytes of the IP packet follow it. */
struct dnssnoop_event {
	__u64 ts_ns;	   /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 sock_cookie; /* the socket's cookie */
	struct dnssnoop_owner owner;
	__u32 pkt_len; /* the whole IP packet */
	__u16 cap_len; /* bytes of it in data[] */
	__u8 dir;      /* enum dnssnoop_dir */
	__u8 flags;    /* DNSSNOOP_F_* */
};

enum dnssnoop_stat {
	DNSSNOOP_STAT_EVENTS = 0,  /* packets sent to user space */
	DNSSNOOP_STAT_RING_DROPS,  /* packets lost: the ring buffer was full */
	DNSSNOOP_STAT_TRUNCATED,   /* packets longer than the snap length (cut) */
	DNSSNOOP_STAT_NO_OWNER,	   /* packets whose socket had no owner noted */
	DNSSNOOP_STAT_OWNERS_SEEN, /* owner notes made by the send-side hooks */
	DNSSNOOP_STAT_V6_EXT,	   /* IPv6 packets with extension headers (not parsed) */
	DNSSNOOP_STAT_MAX,
};

#endif
