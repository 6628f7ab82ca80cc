// SPDX-License-Identifier: GPL-2.0-only
/*
 * netproc: bytes per process and socket, counted where the process is
 * known. Three rungs share the counting code:
 *   fentry:     fexit on tcp/udp/udpv6 sendmsg and recvmsg
 *   kprobe:     kprobe + kretprobe on the same functions
 *   tracepoint: tp_btf on sock:sock_send_length / sock:sock_recv_length (6.3+),
 *               and sock:inet_sock_set_state for the end of TCP connections
 * Receive-side peeks (MSG_PEEK) and error-queue reads are not counted.
 * tcp_cleanup_rbuf is never used: it over-counts received bytes.
 */
#include "bpfkit.bpf.h"
#include "netproc.h"

char LICENSE[] SEC("license") = "GPL";

#define MSG_PEEK_     0x2
#define MSG_ERRQUEUE_ 0x2000
#define IPPROTO_TCP_  6
#define IPPROTO_UDP_  17

/* The recvmsg functions lost their "noblock" argument in 5.19: user space
 * reads the argument count from kernel BTF and sets these before load. */
const volatile __u32 tcp_recvmsg_nargs = 5;
const volatile __u32 udp_recvmsg_nargs = 5;
const volatile __u32 udpv6_recvmsg_nargs = 5;
/* 0 = every process; else only this tgid. */
const volatile __u32 filter_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct netproc_key);
	__type(value, struct netproc_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct netproc_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETPROC_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* kprobe rung: arguments kept from entry to return, per thread. */
struct stash {
	struct sock *sk;
	struct msghdr *msg;
	__u32 flags;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct stash);
} stashed SEC(".maps");

/* The last thread seen on this CPU and its cgroup: looking the cgroup up
 * costs ~40 ns per event here, and bulk traffic comes from one thread. A
 * thread moved to another cgroup is seen there after a jiffy (1-10 ms). */
struct cg_cache {
	__u64 pid_tgid;
	__u64 cgroup_id;
	__u64 jiffies;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cg_cache);
} cg_cache SEC(".maps");

static __always_inline __u64 current_cgroup(__u64 pid_tgid)
{
	__u32 zero = 0;
	struct cg_cache *c = bpf_map_lookup_elem(&cg_cache, &zero);
	__u64 now = bpf_jiffies64();

	if (!c)
		return bpf_get_current_cgroup_id();
	if (c->pid_tgid != pid_tgid || now != c->jiffies) {
		c->pid_tgid = pid_tgid;
		c->cgroup_id = bpf_get_current_cgroup_id();
		c->jiffies = now;
	}
	return c->cgroup_id;
}

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += n;
}

/* Remote address of an unconnected UDP socket: from msg_name. */
static __always_inline void read_msg_name(struct msghdr *msg, struct netproc_key *k)
{
	void *name;
	__u16 family = 0;

	if (!msg)
		return;
	name = BPF_CORE_READ(msg, msg_name);
	if (!name || BPF_CORE_READ(msg, msg_namelen) < (int)sizeof(struct sockaddr_in))
		return;
	bpf_probe_read_kernel(&family, sizeof(family), name);
	if (family == BPFKIT_AF_INET && k->family == BPFKIT_AF_INET) {
		struct sockaddr_in sin;

		bpf_probe_read_kernel(&sin, sizeof(sin), name);
		__builtin_memcpy(k->raddr, &sin.sin_addr, 4);
		k->rport = bpf_ntohs(sin.sin_port);
	} else if (family == BPFKIT_AF_INET6 && k->family == BPFKIT_AF_INET6 &&
		   BPF_CORE_READ(msg, msg_namelen) >= (int)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;

		bpf_probe_read_kernel(&sin6, sizeof(sin6), name);
		__builtin_memcpy(k->raddr, &sin6.sin6_addr, 16);
		k->rport = bpf_ntohs(sin6.sin6_port);
	}
}

static __always_inline void record_proc(__u32 tgid, __u64 cgroup_id)
{
	struct netproc_proc p = {};

	bpf_get_current_comm(p.comm, sizeof(p.comm));
	p.uid = (__u32)bpf_get_current_uid_gid();
	p.cgroup_id = cgroup_id;
	if (bpf_map_update_elem(&procs, &tgid, &p, BPF_NOEXIST) == -BPFKIT_E2BIG)
		stat_add(NETPROC_STAT_PROCS_FULL, 1);
}

/* Reads a field of the socket: directly where the pointer is BTF-typed
 * (fexit, tp_btf: a plain load), through bpf_probe_read_kernel where it is
 * not (kprobe). `direct` is a constant, so each caller keeps one path. */
#define SK_READ(direct, sk, field) ((direct) ? (sk)->field : BPF_CORE_READ(sk, field))

/* The socket's tuple, protocol and the process's cgroup; false for sockets
 * netproc does not count (not TCP or UDP over IPv4/IPv6). */
static __always_inline bool fill_key(struct sock *sk, struct msghdr *msg, __u64 id, bool direct,
				     struct netproc_key *k)
{
	__u16 family;
	__u8 proto;

	k->tgid = id >> 32;
	family = SK_READ(direct, sk, __sk_common.skc_family);
	if (family != BPFKIT_AF_INET && family != BPFKIT_AF_INET6)
		return false;
	proto = direct ? BPF_CORE_READ_BITFIELD(sk, sk_protocol)
		       : BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)
		return false;
	k->family = family;
	k->proto = proto;
	k->cgroup_id = current_cgroup(id);
	k->lport = SK_READ(direct, sk, __sk_common.skc_num);
	k->rport = bpf_ntohs(SK_READ(direct, sk, __sk_common.skc_dport));
	if (family == BPFKIT_AF_INET) {
		__u32 l = SK_READ(direct, sk, __sk_common.skc_rcv_saddr);
		__u32 r = SK_READ(direct, sk, __sk_common.skc_daddr);

		__builtin_memcpy(k->laddr, &l, 4);
		__builtin_memcpy(k->raddr, &r, 4);
	} else if (direct) {
		__builtin_memcpy(k->laddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(k->raddr, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		BPF_CORE_READ_INTO(&k->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&k->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	if (proto == IPPROTO_UDP_ && k->rport == 0)
		read_msg_name(msg, k);
	return true;
}

static __always_inline void add(struct netproc_val *v, long bytes, bool tx)
{
	if (tx) {
		v->tx_bytes += bytes;
		v->tx_calls++;
	} else {
		v->rx_bytes += bytes;
		v->rx_calls++;
	}
}

/* An entry of a per-CPU counter map, made on first use; NULL when the map
 * is full (counted with the bytes lost). */
static __always_inline struct netproc_val *new_entry(void *map, const void *key, long bytes)
{
	struct netproc_val zero = {};
	long err;

	err = bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
	if (err && err != -BPFKIT_EEXIST) {
		stat_add(NETPROC_STAT_FLOWS_FULL, 1);
		stat_add(NETPROC_STAT_BYTES_FULL, bytes);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

/* fentry and kprobe rungs: one entry per (process, cgroup, tuple). */
static __always_inline int count(struct sock *sk, struct msghdr *msg, long bytes, bool tx,
				 bool direct)
{
	struct netproc_key k = {};
	struct netproc_val *v;
	__u64 id;

	if (bytes <= 0 || !sk)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (filter_tgid && (id >> 32) != filter_tgid)
		return 0;
	if (!fill_key(sk, msg, id, direct, &k))
		return 0;
	v = bpf_map_lookup_elem(&flows, &k);
	if (!v) {
		/* A new flow: the only time the process's name is recorded. */
		record_proc(k.tgid, k.cgroup_id);
		v = new_entry(&flows, &k, bytes);
		if (!v)
			return 0;
	}
	add(v, bytes, tx);
	return 0;
}

static __always_inline bool skip_recv(__u32 flags)
{
	if (flags & (MSG_PEEK_ | MSG_ERRQUEUE_)) {
		stat_add(NETPROC_STAT_PEEK_SKIPPED, 1);
		return true;
	}
	return false;
}

/* ---- fentry rung: fexit sees the arguments and the return value ---- */

SEC("fexit/tcp_sendmsg")
int BPF_PROG(netproc_fexit_tcp_sendmsg, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	return count(sk, msg, ret, true, true);
}

SEC("fexit/udp_sendmsg")
int BPF_PROG(netproc_fexit_udp_sendmsg, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	return count(sk, msg, ret, true, true);
}

SEC("fexit/udpv6_sendmsg")
int BPF_PROG(netproc_fexit_udpv6_sendmsg, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	return count(sk, msg, ret, true, true);
}

/* Argument n of a tracing program's context, loaded at an immediate offset. */
#define CTX_ARG(ctx, n)                                                                            \
	({                                                                                         \
		__u64 __v;                                                                         \
		asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(__v) : "r"(ctx), "i"((n)*8));         \
		__v;                                                                               \
	})

/* recvmsg(sk, msg, len, [noblock,] flags, addr_len): the flags and the
 * return value move by one with the argument count. */
static __always_inline int fexit_recv(__u64 *ctx, __u32 nargs)
{
	struct sock *sk = (void *)ctx[0];
	struct msghdr *msg = (void *)ctx[1];
	__u32 flags;
	long ret;

	/* The verifier refuses any load from a computed ctx pointer, even at a
	 * known offset, and clang would merge the two branches into one load at
	 * ctx + (nargs == 6 ? 32 : 24): so each load is an immediate offset. */
	if (nargs == 6) {
		flags = (__u32)CTX_ARG(ctx, 4);
		ret = (int)CTX_ARG(ctx, 6);
	} else {
		flags = (__u32)CTX_ARG(ctx, 3);
		ret = (int)CTX_ARG(ctx, 5);
	}
	if (skip_recv(flags))
		return 0;
	return count(sk, msg, ret, false, true);
}

SEC("fexit/tcp_recvmsg")
int netproc_fexit_tcp_recvmsg(__u64 *ctx)
{
	return fexit_recv(ctx, tcp_recvmsg_nargs);
}

SEC("fexit/udp_recvmsg")
int netproc_fexit_udp_recvmsg(__u64 *ctx)
{
	return fexit_recv(ctx, udp_recvmsg_nargs);
}

SEC("fexit/udpv6_recvmsg")
int netproc_fexit_udpv6_recvmsg(__u64 *ctx)
{
	return fexit_recv(ctx, udpv6_recvmsg_nargs);
}

/* ---- kprobe rung: entry keeps the arguments, return counts ---- */

static __always_inline int stash_args(struct sock *sk, struct msghdr *msg, __u32 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct stash s = {.sk = sk, .msg = msg, .flags = flags};

	if (filter_tgid && (id >> 32) != filter_tgid)
		return 0;
	if (bpf_map_update_elem(&stashed, &id, &s, BPF_ANY))
		stat_add(NETPROC_STAT_STASH_FULL, 1);
	return 0;
}

static __always_inline int count_stashed(long ret, bool tx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct stash *s = bpf_map_lookup_elem(&stashed, &id);
	struct stash copy;

	if (!s)
		return 0;
	copy = *s;
	bpf_map_delete_elem(&stashed, &id);
	if (!tx && skip_recv(copy.flags))
		return 0;
	return count(copy.sk, copy.msg, ret, tx, false);
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(netproc_kp_tcp_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return stash_args(sk, msg, 0);
}

SEC("kretprobe/tcp_sendmsg")
int BPF_KRETPROBE(netproc_krp_tcp_sendmsg, int ret)
{
	return count_stashed(ret, true);
}

SEC("kprobe/udp_sendmsg")
int BPF_KPROBE(netproc_kp_udp_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return stash_args(sk, msg, 0);
}

SEC("kretprobe/udp_sendmsg")
int BPF_KRETPROBE(netproc_krp_udp_sendmsg, int ret)
{
	return count_stashed(ret, true);
}

SEC("kprobe/udpv6_sendmsg")
int BPF_KPROBE(netproc_kp_udpv6_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return stash_args(sk, msg, 0);
}

SEC("kretprobe/udpv6_sendmsg")
int BPF_KRETPROBE(netproc_krp_udpv6_sendmsg, int ret)
{
	return count_stashed(ret, true);
}

static __always_inline int kp_recv(struct pt_regs *ctx, __u32 nargs)
{
	struct sock *sk = (void *)PT_REGS_PARM1_CORE(ctx);
	struct msghdr *msg = (void *)PT_REGS_PARM2_CORE(ctx);
	__u32 flags = nargs == 6 ? (__u32)PT_REGS_PARM5_CORE(ctx) : (__u32)PT_REGS_PARM4_CORE(ctx);

	return stash_args(sk, msg, flags);
}

SEC("kprobe/tcp_recvmsg")
int netproc_kp_tcp_recvmsg(struct pt_regs *ctx)
{
	return kp_recv(ctx, tcp_recvmsg_nargs);
}

SEC("kretprobe/tcp_recvmsg")
int BPF_KRETPROBE(netproc_krp_tcp_recvmsg, int ret)
{
	return count_stashed(ret, false);
}

SEC("kprobe/udp_recvmsg")
int netproc_kp_udp_recvmsg(struct pt_regs *ctx)
{
	return kp_recv(ctx, udp_recvmsg_nargs);
}

SEC("kretprobe/udp_recvmsg")
int BPF_KRETPROBE(netproc_krp_udp_recvmsg, int ret)
{
	return count_stashed(ret, false);
}

SEC("kprobe/udpv6_recvmsg")
int netproc_kp_udpv6_recvmsg(struct pt_regs *ctx)
{
	return kp_recv(ctx, udpv6_recvmsg_nargs);
}

SEC("kretprobe/udpv6_recvmsg")
int BPF_KRETPROBE(netproc_krp_udpv6_recvmsg, int ret)
{
	return count_stashed(ret, false);
}

/* ---- tracepoint rung: sock:sock_send_length / sock:sock_recv_length ----
 * Counters per (socket cookie, tgid): the hot path reads two socket fields,
 * the cookie and the tgid, and hashes 16 bytes. The tuple and cgroup are
 * read once per socket, into `socks`. sock:inet_sock_set_state marks TCP
 * sockets that reached CLOSE, so user space can drop them after their last
 * report and the maps hold only live sockets. */

#define TCP_CLOSE_ 7

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct netproc_sock_key);
	__type(value, struct netproc_val);
} sock_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct netproc_key);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} closed SEC(".maps");

/* First bytes of a (socket, process): keep the socket's tuple and the name. */
static __noinline int new_sock(struct sock *sk, __u64 id, __u64 cookie)
{
	struct netproc_key k = {};

	if (!sk || !fill_key(sk, NULL, id, true, &k))
		return 0;
	record_proc(k.tgid, k.cgroup_id);
	if (bpf_map_update_elem(&socks, &cookie, &k, BPF_NOEXIST) == -BPFKIT_E2BIG)
		stat_add(NETPROC_STAT_SOCKS_FULL, 1);
	return 1;
}

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct netproc_sk_counts);
} sk_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct netproc_sk_counts);
} released SEC(".maps");

static __always_inline void add_atomic(struct netproc_val *v, long bytes, bool tx)
{
	if (tx) {
		__sync_fetch_and_add(&v->tx_bytes, bytes);
		__sync_fetch_and_add(&v->tx_calls, 1);
	} else {
		__sync_fetch_and_add(&v->rx_bytes, bytes);
		__sync_fetch_and_add(&v->rx_calls, 1);
	}
}

/* The hot path is the socket's own storage: no hashing. A socket another
 * process also uses counts that process's bytes in sock_flows. */
static __always_inline int count_sock(struct sock *sk, long bytes, bool tx)
{
	struct netproc_sock_key key = {};
	struct netproc_sk_counts *st;
	struct netproc_val *v;
	__u16 family;
	__u8 proto;
	__u64 id;

	if (bytes <= 0)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != BPFKIT_AF_INET && family != BPFKIT_AF_INET6)
		return 0;
	proto = BPF_CORE_READ_BITFIELD(sk, sk_protocol);
	if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)
		return 0;
	id = bpf_get_current_pid_tgid();
	key.tgid = id >> 32;
	if (filter_tgid && key.tgid != filter_tgid)
		return 0;
	st = bpf_sk_storage_get(&sk_counts, sk, NULL, 0);
	if (st && st->tgid == key.tgid) {
		add_atomic(&st->v, bytes, tx);
		return 0;
	}
	key.cookie = bpf_get_socket_cookie(sk);
	if (!st) {
		/* The socket's first bytes: its tuple, and storage for this process. */
		if (!new_sock(sk, id, key.cookie))
			return 0;
		st = bpf_sk_storage_get(&sk_counts, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (st) {
			if (!st->tgid) {
				st->cookie = key.cookie;
				st->tgid = key.tgid;
			}
			if (st->tgid == key.tgid) {
				add_atomic(&st->v, bytes, tx);
				return 0;
			}
		}
	}
	v = bpf_map_lookup_elem(&sock_flows, &key);
	if (!v) {
		v = new_entry(&sock_flows, &key, bytes);
		if (!v)
			return 0;
	}
	add(v, bytes, tx);
	return 0;
}

/* A socket's last counts, kept when it is released (its fd closed): UDP
 * sockets end here with no state change to see. */
SEC("cgroup/sock_release")
int netproc_sock_release(struct bpf_sock *ctx)
{
	struct netproc_sk_counts *st, copy;

	st = bpf_sk_storage_get(&sk_counts, ctx, NULL, 0);
	if (!st || !st->tgid || st->released)
		return 1;
	st->released = 1;
	copy = *st;
	if (bpf_map_update_elem(&released, &copy.cookie, &copy, BPF_ANY)) {
		stat_add(NETPROC_STAT_RELEASED_FULL, 1);
		stat_add(NETPROC_STAT_RELEASED_BYTES, copy.v.tx_bytes + copy.v.rx_bytes);
	}
	return 1;
}

/* Live sockets' counters, one record each, for user space's read. */
SEC("iter/bpf_sk_storage_map")
int netproc_iter_socks(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct netproc_sk_counts *st = ctx->value;

	if (!ctx->sk || !st || !st->tgid || st->released)
		return 0;
	bpf_seq_write(ctx->meta->seq, st, sizeof(*st));
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(netproc_tp_send, struct sock *sk, int ret, int flags)
{
	return count_sock(sk, ret, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(netproc_tp_recv, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || skip_recv(flags))
		return 0;
	return count_sock(sk, ret, false);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(netproc_tp_state, const struct sock *sk, int oldstate, int newstate)
{
	__u64 cookie, now;

	if (newstate != TCP_CLOSE_)
		return 0;
	cookie = bpf_get_socket_cookie((struct sock *)sk);
	if (!bpf_map_lookup_elem(&socks, &cookie))
		return 0;
	now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&closed, &cookie, &now, BPF_ANY) == -BPFKIT_E2BIG)
		stat_add(NETPROC_STAT_CLOSED_FULL, 1);
	return 0;
}
