// SPDX-License-Identifier: GPL-2.0-only
/* xdpflow: per-flow packet and byte counters at XDP ingress and TC egress
 * (or TC ingress), in one per-CPU hash that user space reads and expires. */
#include "bpfkit.bpf.h"
#include "xdpflow.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_HLEN_	  14
#define ETH_P_IP_	  0x0800
#define ETH_P_IPV6_	  0x86DD
#define ETH_P_8021Q_	  0x8100
#define ETH_P_8021AD_	  0x88A8
#define IPPROTO_HOPOPTS_  0
#define IPPROTO_ROUTING_  43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_DSTOPTS_  60
#define IPPROTO_ICMPV6_	  58
#define XDP_PASS_	  2

/* 1-in-N sampling; 0 or 1 counts every packet. */
const volatile __u32 sample_n = 0;
/* Random (1) or deterministic every N-th per CPU (0) sampling. */
const volatile __u32 sample_random = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536); /* --max-flows */
	__type(key, struct xdpflow_key);
	__type(value, struct xdpflow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * XDPFLOW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Per CPU and direction, the last flow counted: a run of packets of one
 * flow (a burst, a TSO train) is counted here without a hash lookup, and
 * added to the table when another flow comes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct xdpflow_cached);
} flow_cache SEC(".maps");

/* Deterministic sampling: packets seen on this CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sample_ctr SEC(".maps");

static __always_inline void stat_add(__u32 dir, __u32 which, __u64 v)
{
	__u32 idx = dir * XDPFLOW_STAT_MAX + which;
	__u64 *p = bpf_map_lookup_elem(&stats, &idx);

	if (p)
		*p += v;
}

static __always_inline __u64 now_ns(void)
{
	/* The coarse clock is a plain read of the last tick (5.11 and later). */
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_coarse_ns))
		return bpf_ktime_get_coarse_ns();
	return bpf_ktime_get_ns();
}

/* Whether this packet is counted under 1-in-N sampling. */
static __always_inline bool sampled(__u32 dir)
{
	bool take;

	if (sample_n <= 1)
		return true;
	stat_add(dir, XDPFLOW_STAT_SEEN, 1);
	if (sample_random) {
		take = bpf_get_prandom_u32() % sample_n == 0;
	} else {
		__u32 zero = 0;
		__u64 *c = bpf_map_lookup_elem(&sample_ctr, &zero);

		take = !c || (*c)++ % sample_n == 0;
	}
	if (take)
		stat_add(dir, XDPFLOW_STAT_SAMPLED, 1);
	return take;
}

struct parsed {
	__u32 hdr_len; /* L2 to the end of the L4 header, for GSO wire bytes */
	__u8 tcp_flags;
	__u8 truncated;
};

/* Fills the key from the frame at data; bounds checked against data_end. */
static __always_inline void parse(void *data, void *data_end, struct xdpflow_key *k,
				  struct parsed *p)
{
	struct ethhdr *eth = data;
	__u32 off = ETH_HLEN_;
	__u16 proto;

	if ((void *)(eth + 1) > data_end) {
		p->truncated = 1;
		return;
	}
	proto = bpf_ntohs(eth->h_proto);
	if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_) {
		struct vlan_hdr *vh = data + off;

		if ((void *)(vh + 1) > data_end) {
			p->truncated = 1;
			return;
		}
		if (!k->vlan)
			k->vlan = bpf_ntohs(vh->h_vlan_TCI) & 0xfff;
		proto = bpf_ntohs(vh->h_vlan_encapsulated_proto);
		off += sizeof(*vh);
		if (proto == ETH_P_8021Q_) {
			vh = data + off;
			if ((void *)(vh + 1) > data_end) {
				p->truncated = 1;
				k->ethertype = proto;
				return;
			}
			proto = bpf_ntohs(vh->h_vlan_encapsulated_proto);
			off += sizeof(*vh);
		}
	}
	k->ethertype = proto;
	__u8 l4;
	if (proto == ETH_P_IP_) {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) > data_end) {
			p->truncated = 1;
			return;
		}
		__builtin_memcpy(k->src, &ip->saddr, 4);
		__builtin_memcpy(k->dst, &ip->daddr, 4);
		k->proto = ip->protocol;
		/* A fragment other than the first has no L4 header. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return;
		__u32 ihl = ip->ihl * 4;
		if (ihl < 20)
			return;
		off += ihl;
		l4 = ip->protocol;
	} else if (proto == ETH_P_IPV6_) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > data_end) {
			p->truncated = 1;
			return;
		}
		__builtin_memcpy(k->src, &ip6->saddr, 16);
		__builtin_memcpy(k->dst, &ip6->daddr, 16);
		l4 = ip6->nexthdr;
		off += sizeof(*ip6);
		for (int i = 0; i < 4; i++) {
			if (l4 != IPPROTO_HOPOPTS_ && l4 != IPPROTO_ROUTING_ &&
			    l4 != IPPROTO_DSTOPTS_ && l4 != IPPROTO_FRAGMENT_)
				break;
			__u8 *eh = data + (off & 0x3ff);
			if ((void *)(eh + 8) > data_end) {
				p->truncated = 1;
				k->proto = l4;
				return;
			}
			if (l4 == IPPROTO_FRAGMENT_) {
				l4 = eh[0];
				k->proto = l4;
				/* offset field non-zero: no L4 header here */
				if ((eh[2] << 8 | eh[3]) & 0xfff8)
					return;
				off += 8;
			} else {
				l4 = eh[0];
				off += (eh[1] + 1) * 8;
			}
		}
		k->proto = l4;
	} else {
		return;
	}
	off &= 0x3ff;
	if (l4 == IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > data_end) {
			p->truncated = 1;
			return;
		}
		k->sport = bpf_ntohs(th->source);
		k->dport = bpf_ntohs(th->dest);
		p->tcp_flags = ((__u8 *)th)[13];
		p->hdr_len = off + th->doff * 4;
	} else if (l4 == IPPROTO_UDP || l4 == IPPROTO_SCTP) {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > data_end) {
			p->truncated = 1;
			return;
		}
		k->sport = bpf_ntohs(uh->source);
		k->dport = bpf_ntohs(uh->dest);
		p->hdr_len = off + (l4 == IPPROTO_UDP ? 8 : 12);
	} else if (l4 == IPPROTO_ICMP || l4 == IPPROTO_ICMPV6_) {
		__u8 *ic = data + off;

		if ((void *)(ic + 2) > data_end) {
			p->truncated = 1;
			return;
		}
		k->icmp_type = ic[0];
		k->icmp_code = ic[1];
	}
}

static __always_inline bool key_eq(const struct xdpflow_key *a, const struct xdpflow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	_Static_assert(sizeof(struct xdpflow_key) == 48, "the key is compared as 6 words");
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4] &&
	       x[5] == y[5];
}

static __always_inline void add(struct xdpflow_val *v, __u64 packets, __u64 bytes, __u64 first,
				__u64 last, __u8 flags)
{
	/* Per-CPU: this CPU's slot, no other writer. A slot another CPU
	 * created is zero here. */
	if (!v->first_ns)
		v->first_ns = first;
	v->packets += packets;
	v->bytes += bytes;
	v->last_ns = last;
	v->tcp_flags |= flags;
}

/* Adds to the table's entry for k, making it if needed; false if the table
 * is full (then the packets and bytes are counted as overflow). */
static __always_inline bool table_add(const struct xdpflow_key *k, __u64 packets, __u64 bytes,
				      __u64 first, __u64 last, __u8 flags)
{
	struct xdpflow_val *v = bpf_map_lookup_elem(&flows, k);

	if (v) {
		add(v, packets, bytes, first, last, flags);
		return true;
	}
	struct xdpflow_val nv = {
	    .packets = packets,
	    .bytes = bytes,
	    .first_ns = first,
	    .last_ns = last,
	    .tcp_flags = flags,
	};
	long err = bpf_map_update_elem(&flows, k, &nv, BPF_NOEXIST);
	if (err == -BPFKIT_EEXIST) {
		/* Another CPU made it meanwhile. */
		v = bpf_map_lookup_elem(&flows, k);
		if (v) {
			add(v, packets, bytes, first, last, flags);
			return true;
		}
	}
	if (err) {
		stat_add(k->dir, XDPFLOW_STAT_FULL_PACKETS, packets);
		stat_add(k->dir, XDPFLOW_STAT_FULL_BYTES, bytes);
		return false;
	}
	return true;
}

static __always_inline void account(struct xdpflow_key *k, struct parsed *p, __u64 packets,
				    __u64 bytes)
{
	__u32 slot = k->dir & 1;
	struct xdpflow_cached *c = bpf_map_lookup_elem(&flow_cache, &slot);
	__u64 now = now_ns();

	if (p->truncated)
		stat_add(k->dir, XDPFLOW_STAT_TRUNCATED, packets);
	if (c && key_eq(&c->key, k)) {
		add(&c->val, packets, bytes, now, now, p->tcp_flags);
		return;
	}
	/* Another flow: the cached one's packets go to the table (user space
	 * counted them only while its key was there, so a flow it expired
	 * meanwhile comes back as a new one), this packet too, and its flow
	 * is cached from now on. */
	if (c && c->val.packets) {
		/* Taken out of the cache first: a read in between misses the
		 * run once (user space keeps totals growing), never counts it
		 * twice. */
		struct xdpflow_val run = c->val;

		c->val.packets = 0;
		table_add(&c->key, run.packets, run.bytes, run.first_ns, run.last_ns,
			  run.tcp_flags);
	}
	bool in_table = table_add(k, packets, bytes, now, now, p->tcp_flags);
	if (!c)
		return;
	if (in_table) {
		c->key = *k;
	} else {
		/* Not cached: its next packet must try the table again. */
		__builtin_memset(&c->key, 0xff, sizeof(c->key));
	}
	__builtin_memset(&c->val, 0, sizeof(c->val));
}

SEC("xdp")
int xdpflow_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xdpflow_key k __attribute__((aligned(8))) = {};
	struct parsed p = {};

	if (!sampled(XDPFLOW_DIR_INGRESS))
		return XDP_PASS_;
	k.ifindex = ctx->ingress_ifindex;
	k.dir = XDPFLOW_DIR_INGRESS;
	parse(data, data_end, &k, &p);
	account(&k, &p, 1, data_end - data);
	return XDP_PASS_;
}

static __always_inline int tc_count(struct __sk_buff *skb, __u8 dir)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct xdpflow_key k __attribute__((aligned(8))) = {};
	struct parsed p = {};
	__u64 packets = 1, bytes = skb->len;

	if (!sampled(dir))
		return BPFKIT_TC_ACT_OK;
	k.ifindex = skb->ifindex;
	k.dir = dir;
	/* A tag kept in the skb's metadata is on the wire all the same. */
	if (skb->vlan_present) {
		k.vlan = skb->vlan_tci & 0xfff;
		bytes += 4;
	}
	parse(data, data_end, &k, &p);
	/* A GSO super-frame leaves as gso_segs frames, each with the headers. */
	__u32 segs = skb->gso_segs;
	if (segs > 1) {
		packets = segs;
		bytes += (__u64)(segs - 1) * (p.hdr_len + (skb->vlan_present ? 4 : 0));
	}
	account(&k, &p, packets, bytes);
	return BPFKIT_TC_ACT_OK;
}

SEC("tc")
int xdpflow_tc_egress(struct __sk_buff *skb)
{
	return tc_count(skb, XDPFLOW_DIR_EGRESS);
}

SEC("tc")
int xdpflow_tc_ingress(struct __sk_buff *skb)
{
	return tc_count(skb, XDPFLOW_DIR_INGRESS);
}

/* The floor for bench/xdpflow.sh: an XDP program that only passes. */
SEC("xdp")
int xdpflow_pass(struct xdp_md *ctx)
{
	return XDP_PASS_;
}
