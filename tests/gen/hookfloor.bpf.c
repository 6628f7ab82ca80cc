// SPDX-License-Identifier: GPL-2.0-only
/*
 * The hooks httpsnoop attaches, each doing nothing: what a hook costs by
 * itself (bench/httpsnoop.sh's floor rows). bpfkit-hookfloor attaches one
 * of the two sets.
 */
#include "bpfkit.bpf.h"
#include "httpsnoop.h"

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/sys_enter")
int hookfloor_raw_enter(void *ctx) {
    return 0;
}

SEC("raw_tp/sys_exit")
int hookfloor_raw_exit(void *ctx) {
    return 0;
}

/* httpsnoop's socket rung (Linux 6.3 and later). */
SEC("raw_tp/sock_send_length")
int hookfloor_sock_send(void *ctx) {
    return 0;
}

SEC("raw_tp/sock_recv_length")
int hookfloor_sock_recv(void *ctx) {
    return 0;
}

#define TP_PAIR(name)                          \
    SEC("tp/syscalls/sys_enter_" #name)        \
    int hookfloor_tp_enter_##name(void *ctx) { \
        return 0;                              \
    }                                          \
    SEC("tp/syscalls/sys_exit_" #name)         \
    int hookfloor_tp_exit_##name(void *ctx) {  \
        return 0;                              \
    }

HTTPSNOOP_FOLLOWED_SYSCALLS(TP_PAIR)

/* httpsnoop's tracepoint rung also has close's entry. */
SEC("tp/syscalls/sys_enter_close")
int hookfloor_tp_enter_close(void *ctx) {
    return 0;
}

/* The least a capture at the socket rung's hooks must do, with no state and
 * no filter but TCP: the call's buffer from the saved registers (read and
 * write; the first iovec of writev), the time, the first bytes copied from
 * user memory into a ring buffer slot, which user space empties without
 * looking at it (bpfkit-hookfloor copy). */
#if defined(__TARGET_ARCH_x86)
#define FLOOR_NR_WRITEV 20
#elif defined(__TARGET_ARCH_arm64)
#define FLOOR_NR_WRITEV 66
#endif
#define FLOOR_CAP 512

struct floor_event {
    __u64 ts;
    __u64 sk;
    __u32 len;
    __u32 cap;
    __u8 data[FLOOR_CAP];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 << 20);
} floor_ring SEC(".maps");

static __always_inline void floor_copy(struct sock *sk, int ret) {
    struct pt_regs *regs;
    struct floor_event *e;
    __u64 buf, n = ret;

    if (ret <= 0 || sk->sk_protocol != IPPROTO_TCP) return;
    regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    buf = PT_REGS_PARM2_SYSCALL(regs);
    if (BPFKIT_SYSCALL_NR(regs) == FLOOR_NR_WRITEV) {
        struct iovec v = {};

        if (bpf_probe_read_user(&v, sizeof(v), (void *)buf)) return;
        buf = (__u64)v.iov_base;
        if (v.iov_len < n) n = v.iov_len;
    }
    e = bpf_ringbuf_reserve(&floor_ring, sizeof(*e), 0);
    if (!e) return;
    e->ts = bpf_ktime_get_ns();
    e->sk = (__u64)sk;
    e->len = ret;
    if (n > FLOOR_CAP) n = FLOOR_CAP;
    e->cap = n;
    if (n && bpf_probe_read_user(e->data, n, (void *)buf)) e->cap = 0;
    bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(hookfloor_copy_send, struct sock *sk, int ret, int flags) {
    floor_copy(sk, ret);
    return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(hookfloor_copy_recv, struct sock *sk, int ret, int flags) {
    floor_copy(sk, ret);
    return 0;
}
