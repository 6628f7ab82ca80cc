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
