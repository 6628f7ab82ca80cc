/* SPDX-License-Identifier: GPL-2.0-only */
/* Structures httpsnoop's BPF programs share with user space. */
#ifndef BPFKIT_HTTPSNOOP_H
#define BPFKIT_HTTPSNOOP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HTTPSNOOP_COMM_LEN 16
/* At most this many bytes of one read or write are copied (--max-capture). */
#define HTTPSNOOP_CAP_MAX 4096
/* iovecs of one readv/writev/sendmsg/recvmsg that are copied from. */
#define HTTPSNOOP_MAX_IOV 16
/* User space is woken once this much is waiting; it also reads every 100 ms. */
#define HTTPSNOOP_WAKE_BYTES (512 * 1024)

/* The syscalls followed from entry to exit, for X-macros: X(name) each. The
 * tracepoint rung attaches sys_enter_/sys_exit_<name> of each (and
 * sys_enter_close), the fentry and kprobe rungs the entry and exit of their
 * wrappers (and the entry of close's); bpfkit-hookfloor attaches the
 * tracepoints of the same set, empty. */
#define HTTPSNOOP_FOLLOWED_SYSCALLS(X)                                                             \
	X(read) X(write) X(readv) X(writev) X(sendto) X(recvfrom) X(sendmsg) X(recvmsg)

enum httpsnoop_kind {
	HTTPSNOOP_EV_DATA = 0,	/* bytes a process wrote or read (or TLS plaintext) */
	HTTPSNOOP_EV_CLOSE = 1, /* close() of an HTTP connection's fd, or its socket closed */
};

enum httpsnoop_dir {
	HTTPSNOOP_WRITE = 0, /* the process sent these bytes */
	HTTPSNOOP_READ = 1,  /* the process received them */
};

/* httpsnoop_event.flags */
#define HTTPSNOOP_F_TLS	   0x1 /* plaintext from SSL_read/SSL_write or GnuTLS */
#define HTTPSNOOP_F_NOFD   0x2 /* TLS bytes whose fd is not known yet (sk is the SSL object) */
#define HTTPSNOOP_F_SKGONE 0x4 /* CLOSE: the socket itself closed (fd and tgid unknown) */

/* One read or write on a TCP socket that carries HTTP (or may); the first
 * cap bytes of it follow. */
struct httpsnoop_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): at entry for a write, at exit for a read */
	__u64 sk;    /* the struct sock's address: with tgid and fd, the connection */
	__u64 cgroup_id;
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u32 len; /* bytes the call moved */
	__u16 cap; /* bytes of them in data[] */
	__u8 kind; /* enum httpsnoop_kind */
	__u8 dir;  /* enum httpsnoop_dir */
	__u8 flags;
	__u8 family; /* AF_INET or AF_INET6, 0 if unknown */
	__u16 lport; /* host order */
	__u16 rport;
	__u8 laddr[16]; /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	char comm[HTTPSNOOP_COMM_LEN];
};

enum httpsnoop_stat {
	HTTPSNOOP_STAT_EVENTS = 0,  /* events sent to user space */
	HTTPSNOOP_STAT_RING_DROPS,  /* events lost: the ring buffer was full */
	HTTPSNOOP_STAT_TRUNCATED,   /* reads/writes longer than the capture (cut) */
	HTTPSNOOP_STAT_ARGS_FULL,   /* syscalls not followed: the per-thread map was full */
	HTTPSNOOP_STAT_CONNS_FULL,  /* sockets not classified: the connection map was full */
	HTTPSNOOP_STAT_NOT_HTTP,    /* TCP connections given up on as not HTTP */
	HTTPSNOOP_STAT_TLS_CALLS,   /* SSL_read/SSL_write (GnuTLS) calls seen */
	HTTPSNOOP_STAT_TLS_NOFD,    /* TLS calls whose socket was not known */
	HTTPSNOOP_STAT_READ_FAULTS, /* user buffers that could not be read */
	HTTPSNOOP_STAT_MAX,
};

/* Kernel-side connection states (map conns, keyed by sk; sk|1 for TLS). */
enum httpsnoop_conn_state {
	HTTPSNOOP_CONN_UNKNOWN = 0,
	HTTPSNOOP_CONN_HTTP = 1,
	HTTPSNOOP_CONN_OTHER = 2,
};

/* A connection whose first this-many data calls did not look like HTTP is
 * given up on. */
#define HTTPSNOOP_CLASSIFY_TRIES 8

#endif
