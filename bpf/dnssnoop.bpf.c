// SPDX-License-Identifier: GPL-2.0-only
/*
 * dnssnoop: DNS packets copied where the socket is known, with the process
 * that owns the socket.
 *
 * Capture (every rung): cgroup_skb egress and ingress on the root of the
 * cgroup2 hierarchy. Egress packets to a watched port (queries) and ingress
 * packets from one (responses) are copied, up to snap_len bytes from the IP
 * header, into the events ring buffer with the sending/receiving socket's
 * owner. A local server's side (ingress to port 53, egress from it) is not
 * copied, so a query and its response are each seen once.
 *
 * Attribution: a hook in the process's context notes the owner (tgid, tid,
 * uid, cgroup, comm) of a socket that sends to, or connects to, a watched
 * port, keyed by the socket's address, before the packet leaves:
 *   fentry:  fentry on udp_sendmsg, udpv6_sendmsg, tcp_sendmsg
 *   kprobe:  kprobes on the same functions
 *   cgroup:  cgroup/connect4, connect6, sendmsg4, sendmsg6 (sock_addr)
 * cgroup_skb reads the note through skb->sk. (Socket local storage would be
 * neater, but kprobes cannot use it and fentry only from 5.11.)
 */
#include "bpfkit_events.bpf.h"
#include "dnssnoop.h"

char LICENSE[] SEC("license") = "GPL";

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN_     0x01
#define TCP_SYN_     0x02
#define TCP_RST_     0x04

/* Set by user space before load. */
const volatile __u16 ports[DNSSNOOP_MAX_PORTS] = {53, 853};
const volatile __u32 nports = 2;
const volatile __u32 snap_len = 1500;

BPFKIT_EVENTS_MAP(events, 4 << 20);

/* Socket address -> owner. LRU: a socket's note is rewritten at every send
 * to a watched port, and notes of closed sockets age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct dnssnoop_owner);
} owners SEC(".maps");

BPFKIT_STATS_MAP(DNSSNOOP_STAT_MAX)

struct scratch {
	struct dnssnoop_event ev;
	__u8 data[DNSSNOOP_SNAP_MAX];
};

BPFKIT_SCRATCH_MAP(struct scratch);

static __always_inline bool watched(__u16 port)
{
	for (__u32 i = 0; i < DNSSNOOP_MAX_PORTS; i++) {
		if (i >= nports)
			break;
		if (ports[i] == port)
			return true;
	}
	return false;
}

/* Notes the current task as the owner of the socket at `key`. */
static __always_inline void note_owner(__u64 key)
{
	struct dnssnoop_owner o = {};
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task;

	if (!key)
		return;
	o.tgid = id >> 32;
	o.tid = (__u32)id;
	o.uid = (__u32)bpf_get_current_uid_gid();
	o.cgroup_id = bpf_get_current_cgroup_id();
	/* The process's name (its main thread's), not the sending thread's:
	 * dig sends from a thread called isc-net-0000. */
	task = (struct task_struct *)bpf_get_current_task();
	if (bpf_probe_read_kernel_str(o.comm, sizeof(o.comm),
				      &BPF_CORE_READ(task, group_leader)->comm) <= 0)
		bpf_get_current_comm(o.comm, sizeof(o.comm));
	bpf_map_update_elem(&owners, &key, &o, BPF_ANY);
	stat_add(DNSSNOOP_STAT_OWNERS_SEEN, 1);
}

/* ---- capture: cgroup_skb on the root cgroup ---- */

/* Reads len bytes at off: straight from the packet (data, data_end) where
 * the headers are in its linear part (the usual case, and about twice as
 * fast), else through the helper. len is a constant. */
static __always_inline int hdr_read(struct __sk_buff *skb, void *data, void *end, __u32 off,
				    void *to, __u32 len)
{
	if (off <= 128 && data + off + len <= end) {
		__builtin_memcpy(to, data + off, len);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline int capture(struct __sk_buff *skb, __u8 dir)
{
	__u32 zero = 0, len = skb->len, l4, cap;
	__u8 b0, proto, tcp[14];
	__u16 pp[2], port;
	struct scratch *s;
	struct dnssnoop_owner *o;
	__u64 key;
	/* Loaded once, each at its own offset: the verifier refuses a load
	 * through a computed context pointer. */
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (hdr_read(skb, data, end, 0, &b0, 1))
		return 1;
	if ((b0 >> 4) == 4) {
		__u16 frag;

		l4 = (b0 & 0xf) * 4;
		if (l4 < 20 || hdr_read(skb, data, end, 9, &proto, 1) ||
		    hdr_read(skb, data, end, 6, &frag, 2))
			return 1;
		if (bpf_ntohs(frag) & 0x1fff) /* a later fragment: no ports */
			return 1;
	} else if ((b0 >> 4) == 6) {
		l4 = 40;
		if (hdr_read(skb, data, end, 6, &proto, 1))
			return 1;
		if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_) {
			/* Extension headers are not walked: count what is missed. */
			if (proto == 0 || proto == 43 || proto == 44 || proto == 60)
				stat_add(DNSSNOOP_STAT_V6_EXT, 1);
			return 1;
		}
	} else {
		return 1;
	}
	if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)
		return 1;
	if (hdr_read(skb, data, end, l4, pp, 4))
		return 1;
	/* Queries leave for a watched port; responses come from one. */
	port = bpf_ntohs(dir == DNSSNOOP_EGRESS ? pp[1] : pp[0]);
	if (!watched(port))
		return 1;
	if (proto == IPPROTO_TCP_) {
		/* Only segments with data, and the ones that open or close. */
		if (hdr_read(skb, data, end, l4, tcp, sizeof(tcp)))
			return 1;
		if (len <= l4 + (tcp[12] >> 4) * 4 && !(tcp[13] & (TCP_SYN_ | TCP_FIN_ | TCP_RST_)))
			return 1;
	}

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 1;
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.sock_cookie = bpf_get_socket_cookie(skb);
	s->ev.pkt_len = len;
	s->ev.dir = dir;
	s->ev.flags = 0;
	key = (__u64)skb->sk;
	o = key ? bpf_map_lookup_elem(&owners, &key) : NULL;
	if (o) {
		s->ev.owner = *o;
		s->ev.flags |= DNSSNOOP_F_OWNER;
	} else {
		__builtin_memset(&s->ev.owner, 0, sizeof(s->ev.owner));
		stat_add(DNSSNOOP_STAT_NO_OWNER, 1);
	}
	cap = len;
	if (cap > snap_len) {
		cap = snap_len;
		stat_add(DNSSNOOP_STAT_TRUNCATED, 1);
	}
	if (cap < 1)
		return 1;
	/* 1..DNSSNOOP_SNAP_MAX in a form every verifier follows (6.1 loses a
	 * lower bound checked on the 32-bit half). */
	cap = ((cap - 1) & (DNSSNOOP_SNAP_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, 0, s->data, cap))
		return 1;
	s->ev.cap_len = cap;
	if (bpfkit_emit_lazy(skb, &events, s, sizeof(s->ev) + cap, DNSSNOOP_WAKE_BYTES))
		stat_add(DNSSNOOP_STAT_RING_DROPS, 1);
	else
		stat_add(DNSSNOOP_STAT_EVENTS, 1);
	return 1;
}

SEC("cgroup_skb/egress")
int dnssnoop_egress(struct __sk_buff *skb)
{
	return capture(skb, DNSSNOOP_EGRESS);
}

SEC("cgroup_skb/ingress")
int dnssnoop_ingress(struct __sk_buff *skb)
{
	return capture(skb, DNSSNOOP_INGRESS);
}

/* ---- attribution, fentry and kprobe rungs: the send path ---- */

#define SK_READ(direct, sk, field) ((direct) ? (sk)->field : BPF_CORE_READ(sk, field))

/* The destination port of this send: the connected peer's, else the
 * address given to sendto()/sendmsg(). */
static __always_inline __u16 send_port(struct sock *sk, struct msghdr *msg, bool direct)
{
	__u16 port = bpf_ntohs(SK_READ(direct, sk, __sk_common.skc_dport));
	struct sockaddr_in sin = {};
	void *name;

	if (port || !msg)
		return port;
	name = BPF_CORE_READ(msg, msg_name);
	if (!name || BPF_CORE_READ(msg, msg_namelen) < (int)sizeof(struct sockaddr_in))
		return 0;
	/* sin_port and sin6_port are at the same offset. */
	bpf_probe_read_kernel(&sin, sizeof(sin), name);
	if (sin.sin_family != BPFKIT_AF_INET && sin.sin_family != BPFKIT_AF_INET6)
		return 0;
	return bpf_ntohs(sin.sin_port);
}

static __always_inline int on_send(struct sock *sk, struct msghdr *msg, bool direct)
{
	if (sk && watched(send_port(sk, msg, direct)))
		note_owner((__u64)sk);
	return 0;
}

SEC("fentry/udp_sendmsg")
int BPF_PROG(dnssnoop_fentry_udp_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return on_send(sk, msg, true);
}

SEC("fentry/udpv6_sendmsg")
int BPF_PROG(dnssnoop_fentry_udpv6_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return on_send(sk, msg, true);
}

SEC("fentry/tcp_sendmsg")
int BPF_PROG(dnssnoop_fentry_tcp_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return on_send(sk, NULL, true);
}

SEC("kprobe/udp_sendmsg")
int BPF_KPROBE(dnssnoop_kp_udp_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return on_send(sk, msg, false);
}

SEC("kprobe/udpv6_sendmsg")
int BPF_KPROBE(dnssnoop_kp_udpv6_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return on_send(sk, msg, false);
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(dnssnoop_kp_tcp_sendmsg, struct sock *sk)
{
	return on_send(sk, NULL, false);
}

/* ---- attribution, cgroup rung: connect() and sendto() ---- */

static __always_inline int on_sock_addr(struct bpf_sock_addr *ctx)
{
	if (watched(bpf_ntohs((__u16)ctx->user_port)))
		note_owner((__u64)ctx->sk);
	return 1;
}

SEC("cgroup/connect4")
int dnssnoop_connect4(struct bpf_sock_addr *ctx)
{
	return on_sock_addr(ctx);
}

SEC("cgroup/connect6")
int dnssnoop_connect6(struct bpf_sock_addr *ctx)
{
	return on_sock_addr(ctx);
}

SEC("cgroup/sendmsg4")
int dnssnoop_sendmsg4(struct bpf_sock_addr *ctx)
{
	return on_sock_addr(ctx);
}

SEC("cgroup/sendmsg6")
int dnssnoop_sendmsg6(struct bpf_sock_addr *ctx)
{
	return on_sock_addr(ctx);
}
