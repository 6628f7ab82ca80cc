// SPDX-License-Identifier: GPL-2.0-only
/*
 * stackprof: a perf_event program run by a sampling event on every CPU.
 *
 * Frame-pointer mode (stackprof_sample): the kernel and user stacks from
 * bpf_get_stack (never bpf_get_stackid, which loses stacks to collisions of
 * its bucket hash) into a per-CPU scratch value, then counted in a hash map
 * keyed by (tgid, a hash of both stacks, their lengths, a slot). A hash hit
 * is compared frame by frame; a different stack under the same hash goes to
 * the next slot, so no two stacks are ever merged. What cannot be kept is
 * counted (map full, slots exhausted).
 *
 * DWARF mode (stackprof_sample_dwarf): the kernel stack, the user registers
 * and a bounded copy of the user stack go to user space in the events ring
 * buffer, to be unwound there with the binaries' CFI (as perf's DWARF mode).
 *
 * Both note each process's first sample, so that user space reads its maps
 * while it still exists.
 */
#include "bpfkit_events.bpf.h"
#include "stackprof.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD_ 0x00200000

const volatile __u32 npids = 0;
const volatile __u32 pids[STACKPROF_MAX_PIDS] = {};
const volatile __u32 ntids = 0;
const volatile __u32 tids[STACKPROF_MAX_PIDS] = {};
const volatile bool filter_cgroup = false;
const volatile bool want_kernel = true;
const volatile bool want_user = true;
/* Set by user space before it reads the maps, so the totals agree. */
bool paused = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* set by user space (--max-stacks) */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct stackprof_key);
	__type(value, struct stackprof_value);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stackprof_value);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stackprof_sample);
} dwarf_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SP_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Processes already announced to user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32); /* samples seen */
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup SEC(".maps");

BPFKIT_EVENTS_MAP(events, 256 * 1024);

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1;
}

/* Whether this sample is one the user asked for. */
static __always_inline bool wanted(__u32 tgid, __u32 tid)
{
	if (npids) {
		bool hit = false;

		for (__u32 i = 0; i < STACKPROF_MAX_PIDS; i++) {
			if (i >= npids)
				break;
			if (pids[i] == tgid)
				hit = true;
		}
		if (!hit)
			return false;
	}
	if (ntids) {
		bool hit = false;

		for (__u32 i = 0; i < STACKPROF_MAX_PIDS; i++) {
			if (i >= ntids)
				break;
			if (tids[i] == tid)
				hit = true;
		}
		if (!hit)
			return false;
	}
	if (filter_cgroup && bpf_current_task_under_cgroup(&cgroup, 0) != 1)
		return false;
	return true;
}

/* Counts the sample; false when it is not to be kept (paused, or filtered out). */
static __always_inline bool take_sample(__u32 tgid, __u32 tid)
{
	if (paused)
		return false;
	count(SP_TAKEN);
	if (!wanted(tgid, tid)) {
		count(SP_FILTERED);
		return false;
	}
	return true;
}

static __always_inline bool is_kthread(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(t, flags) & PF_KTHREAD_;
}

/*
 * Tells user space about a process at its 1st, 2nd, 4th, 8th ... 1024th
 * sample: the first makes it read the maps, the later ones make it read them
 * again, for the libraries a process maps after its first sample (often
 * taken in the dynamic loader) and for an exec.
 */
static __always_inline void note_process(void *ctx, __u32 tgid)
{
	__u32 one = 1, *n, c;
	struct stackprof_new_proc ev = {.kind = SP_EV_NEW_PROC, .tgid = tgid};

	if (tgid == 0)
		return;
	n = bpf_map_lookup_elem(&seen, &tgid);
	if (n) {
		/* Not an atomic fetch (5.12+): two CPUs may see the same count, and
		 * a note may come twice or not at all; the next power of two comes. */
		c = *n + 1;
		__sync_fetch_and_add(n, 1);
		if (c > 1024 || (c & (c - 1)))
			return;
		ev.again = 1;
	} else if (bpf_map_update_elem(&seen, &tgid, &one, BPF_NOEXIST) != 0) {
		return; /* another CPU announced it just now (or the map is full) */
	}
	if (bpfkit_emit(ctx, &events, &ev, sizeof(ev)) != 0) {
		count(SP_NEW_PROC_LOST);
		if (!ev.again)
			bpf_map_delete_elem(&seen, &tgid); /* try again at the next sample */
	}
}

/* Kernel stack into kstack; its frame count (0 when none or on error).
 * bpf_get_stack zeroes what it does not fill, so the rest is zero too. */
static __always_inline __u16 kernel_stack(void *ctx, __u64 *kstack)
{
	long n = bpf_get_stack(ctx, kstack, STACKPROF_MAX_DEPTH * sizeof(__u64), 0);

	if (!want_kernel)
		return 0;
	if (n < 0) {
		count(SP_KSTACK_ERR);
		return 0;
	}
	n /= sizeof(__u64);
	if (n >= STACKPROF_MAX_DEPTH)
		count(SP_KSTACK_TRUNC);
	return n;
}

#define FNV_PRIME 0x100000001b3ULL
#define NWORDS	  (2 * STACKPROF_MAX_DEPTH)

SEC("perf_event")
int stackprof_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id, zero = 0;
	struct stackprof_value *v, *old;
	struct stackprof_key key = {};
	__u64 h = 0xcbf29ce484222325ULL, *w, *o;
	bool kthread;
	long n;

	if (!take_sample(tgid, tid))
		return 0;
	v = bpf_map_lookup_elem(&scratch, &zero);
	if (!v)
		return 0;
	v->count = 1;
	v->tid = tid;
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	key.tgid = tgid;
	/*
	 * Both stacks are taken always: bpf_get_stack zeroes the part of the
	 * buffer it does not fill (all of it on an error), so the words past each
	 * stack are zero and stacks hash and compare as whole arrays, without a
	 * branch per frame (which keeps the verifier's work small).
	 */
	key.klen = kernel_stack(ctx, v->kstack);
	if (!want_kernel)
		__builtin_memset(v->kstack, 0, sizeof(v->kstack));
	kthread = is_kthread();
	n = bpf_get_stack(ctx, v->ustack, sizeof(v->ustack), BPF_F_USER_STACK);
	if (!want_user || kthread) {
		if (n > 0)
			__builtin_memset(v->ustack, 0, sizeof(v->ustack));
	} else if (n < 0) {
		count(SP_USTACK_ERR);
	} else {
		n /= sizeof(__u64);
		if (n >= STACKPROF_MAX_DEPTH)
			count(SP_USTACK_TRUNC);
		key.ulen = n;
	}
	if (want_user && !kthread)
		note_process(ctx, tgid);
	w = v->kstack; /* kstack and ustack are contiguous: NWORDS words */
	for (__u32 i = 0; i < NWORDS; i++)
		h = (h ^ w[i]) * FNV_PRIME;
	key.hash = (__u32)(h ^ (h >> 32));

	for (__u32 slot = 0; slot < STACKPROF_MAX_SLOTS; slot++) {
		__u64 diff = 0;

		key.slot = slot;
		old = bpf_map_lookup_elem(&stacks, &key);
		if (!old) {
			long err = bpf_map_update_elem(&stacks, &key, v, BPF_NOEXIST);

			if (err == 0) {
				count(SP_KEPT);
				return 0;
			}
			if (err != -BPFKIT_EEXIST) {
				count(SP_LOST_FULL);
				return 0;
			}
			/* Another CPU put a stack in this slot meanwhile. */
			old = bpf_map_lookup_elem(&stacks, &key);
			if (!old)
				continue;
		}
		o = old->kstack;
		for (__u32 i = 0; i < NWORDS; i++)
			diff |= o[i] ^ w[i];
		if (!diff) {
			__sync_fetch_and_add(&old->count, 1);
			count(SP_KEPT);
			return 0;
		}
		count(SP_COLLISIONS);
	}
	count(SP_LOST_SLOTS);
	return 0;
}

SEC("perf_event")
int stackprof_sample_dwarf(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id, zero = 0;
	struct stackprof_sample *s;
	struct pt_regs *regs = NULL;
	__u64 len;

	if (!take_sample(tgid, tid))
		return 0;
	s = bpf_map_lookup_elem(&dwarf_scratch, &zero);
	if (!s)
		return 0;
	s->kind = SP_EV_SAMPLE;
	s->tgid = tgid;
	s->tid = tid;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	s->klen = kernel_stack(ctx, s->kstack);
	s->user_regs_ok = 0;
	s->stack_len = 0;
	s->ip = s->sp = s->bp = 0;
	if (want_user && !is_kthread()) {
		note_process(ctx, tgid);
		/* Context reads of the registers must be whole words. */
		__u64 cs = *(__u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, cs));

		if (cs & 3) {
			s->ip = ctx->regs.ip;
			s->sp = ctx->regs.sp;
			s->bp = ctx->regs.bp;
			s->user_regs_ok = 1;
		} else if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
			regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
			s->ip = BPF_CORE_READ(regs, ip);
			s->sp = BPF_CORE_READ(regs, sp);
			s->bp = BPF_CORE_READ(regs, bp);
			s->user_regs_ok = 1;
		}
		if (s->user_regs_ok) {
			/* The whole slice, or the largest power of two below it that reads. */
			for (len = STACKPROF_DWARF_STACK; len >= 512; len /= 2) {
				if (bpf_probe_read_user(s->stack, len, (void *)s->sp) == 0) {
					s->stack_len = len;
					break;
				}
			}
			if (s->stack_len < STACKPROF_DWARF_STACK)
				count(SP_USTACK_SHORT);
		} else {
			count(SP_USTACK_ERR);
		}
	}
	if (bpfkit_emit(ctx, &events, s, sizeof(*s)) != 0) {
		count(SP_LOST_RINGBUF);
		return 0;
	}
	count(SP_KEPT);
	return 0;
}
