/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared includes and constants for bpfkit's BPF programs. */
#ifndef BPFKIT_BPF_H
#define BPFKIT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

/* Macros that vmlinux.h cannot carry. */
#define BPFKIT_TC_ACT_OK 0
#define BPFKIT_AF_INET	 2
#define BPFKIT_AF_INET6	 10
#define BPFKIT_E2BIG	 7
#define BPFKIT_EEXIST	 17

#endif
