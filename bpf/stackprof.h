/* SPDX-License-Identifier: GPL-2.0-only */
/* stackprof: what the BPF side and user space share. */
#ifndef STACKPROF_H
#define STACKPROF_H

#define STACKPROF_MAX_DEPTH   127 /* frames per stack, kernel and user each */
#define STACKPROF_MAX_PIDS    16  /* -p values filtered in the kernel */
#define STACKPROF_MAX_SLOTS   8	  /* distinct stacks one hash may hold */
#define STACKPROF_COMM_LEN    16
#define STACKPROF_DWARF_STACK 8192 /* bytes of user stack copied per sample (--unwind dwarf) */

/* Counters, one per CPU. */
enum stackprof_stat {
	SP_TAKEN = 0,	  /* the program ran (a sample) */
	SP_FILTERED,	  /* not the process, thread or cgroup asked for */
	SP_KEPT,	  /* counted in the stacks map (or sent, in DWARF mode) */
	SP_LOST_FULL,	  /* the stacks map was full */
	SP_LOST_SLOTS,	  /* more distinct stacks than slots under one hash */
	SP_LOST_RINGBUF,  /* DWARF mode: the ring buffer was full */
	SP_KSTACK_ERR,	  /* bpf_get_stack failed for the kernel stack */
	SP_USTACK_ERR,	  /* bpf_get_stack failed for the user stack */
	SP_KSTACK_TRUNC,  /* kernel stack deeper than STACKPROF_MAX_DEPTH */
	SP_USTACK_TRUNC,  /* user stack deeper than STACKPROF_MAX_DEPTH */
	SP_COLLISIONS,	  /* hash hits with a different stack (kept in another slot) */
	SP_NEW_PROC_LOST, /* a new-process note that found the ring buffer full */
	SP_USTACK_SHORT,  /* DWARF mode: less user stack readable than asked */
	SP_NSTATS
};

struct stackprof_key {
	__u32 tgid;
	__u32 hash;
	__u16 klen; /* frames */
	__u16 ulen;
	__u32 slot; /* 0.. STACKPROF_MAX_SLOTS-1: stacks whose hashes collide */
};

struct stackprof_value {
	__u64 count;
	__u32 tid; /* the first thread seen with this stack */
	__u32 pad;
	char comm[STACKPROF_COMM_LEN];
	__u64 kstack[STACKPROF_MAX_DEPTH];
	__u64 ustack[STACKPROF_MAX_DEPTH];
};

enum stackprof_event_kind {
	SP_EV_NEW_PROC = 1, /* a process's 1st, 2nd, 4th ... sample: read its maps now */
	SP_EV_SAMPLE = 2,   /* DWARF mode: one sample with a copy of the user stack */
};

struct stackprof_new_proc {
	__u32 kind;
	__u32 tgid;
	__u32 again; /* 1: seen before, read its maps again */
	__u32 pad;
};

/* DWARF mode: registers x86-64 unwinding starts from, then the copied stack. */
struct stackprof_sample {
	__u32 kind;
	__u32 tgid;
	__u32 tid;
	__u16 klen;
	__u16 pad;
	char comm[STACKPROF_COMM_LEN];
	__u64 ip, sp, bp;
	__u64 user_regs_ok; /* 0: the sample had no user context (a kernel thread) */
	__u64 stack_len;    /* bytes of stack[] that were read */
	__u64 kstack[STACKPROF_MAX_DEPTH];
	__u8 stack[STACKPROF_DWARF_STACK];
};

#endif
