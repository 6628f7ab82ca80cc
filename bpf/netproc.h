/* SPDX-License-Identifier: GPL-2.0-only */
/* Structures netproc's BPF programs share with user space. */
#ifndef BPFKIT_NETPROC_H
#define BPFKIT_NETPROC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NETPROC_COMM_LEN 16

/* One socket's traffic, per process: the per-CPU map key. */
struct netproc_key {
	__u32 tgid;
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 lport; /* host byte order */
	__u64 cgroup_id;
	__u8 laddr[16]; /* IPv4 in the first 4 bytes */
	__u8 raddr[16]; /* all zero when unknown (unconnected UDP, tracepoint mode) */
	__u16 rport;
	__u16 pad[3];
};

struct netproc_val {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls; /* sendmsg calls that moved bytes */
	__u64 rx_calls;
};

/* The process behind a tgid, kept so a process that exits between two
 * reads is still named. */
struct netproc_proc {
	char comm[NETPROC_COMM_LEN];
	__u32 uid;
	__u32 pad;
	__u64 cgroup_id;
};

/* Tracepoint rung: counters per (socket, process), the socket named by its
 * cookie. A 16-byte key hashes in a third of the time of netproc_key; the
 * socket's tuple and cgroup are kept once per socket in `socks`. */
struct netproc_sock_key {
	__u64 cookie;
	__u32 tgid;
	__u32 pad;
};

/* Tracepoint rung: one socket's counters for the process that first moved
 * bytes on it, in socket local storage. Read live by an iterator; copied to
 * the `released` map when the socket is released. */
struct netproc_sk_counts {
	__u64 cookie;
	__u32 tgid;
	__u32 released;
	struct netproc_val v;
};

enum netproc_stat {
	NETPROC_STAT_FLOWS_FULL = 0, /* updates lost because the flow map was full */
	NETPROC_STAT_BYTES_FULL,     /* bytes of those updates */
	NETPROC_STAT_PROCS_FULL,     /* processes not recorded: proc map full */
	NETPROC_STAT_STASH_FULL,     /* kprobe entries lost: stash map full */
	NETPROC_STAT_PEEK_SKIPPED,   /* MSG_PEEK / MSG_ERRQUEUE receives not counted */
	NETPROC_STAT_SOCKS_FULL,     /* sockets whose tuple could not be kept */
	NETPROC_STAT_CLOSED_FULL,    /* TCP closes not recorded: closed map full */
	NETPROC_STAT_RELEASED_FULL,  /* released sockets whose last counts were lost */
	NETPROC_STAT_RELEASED_BYTES, /* their bytes */
	NETPROC_STAT_MAX,
};

#endif
