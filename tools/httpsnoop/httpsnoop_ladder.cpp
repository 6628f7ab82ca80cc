// SPDX-License-Identifier: GPL-2.0-only
#include "httpsnoop_ladder.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "btf_parse.h"
#include "httpsnoop.h"
#include "httpsnoop.skel.h"
#include "kernel_features.h"

namespace bpfkit::httpsnoop {

namespace {

const char *const kTls[] = {
    "httpsnoop_ssl_read",      "httpsnoop_ssl_read_ret",     "httpsnoop_ssl_write",
    "httpsnoop_ssl_write_ret", "httpsnoop_ssl_read_ex",      "httpsnoop_ssl_read_ex_ret",
    "httpsnoop_ssl_write_ex",  "httpsnoop_ssl_write_ex_ret", "httpsnoop_gnutls_recv",
    "httpsnoop_gnutls_send",   "httpsnoop_gnutls_ret",
};

// Every rung: the socket's end, and the TLS uprobes.
std::vector<std::string> with_common(std::vector<std::string> programs) {
    programs.push_back("httpsnoop_sock_state");
    programs.push_back("httpsnoop_task_exit");
    for (const char *p : kTls)
        programs.push_back(p);
    return programs;
}

// The entry and exit programs of each followed syscall, and the entry of
// close: httpsnoop_<enter><name>, httpsnoop_<exit><name>.
std::vector<std::string> syscall_programs(const char *enter, const char *exit) {
    std::vector<std::string> v;
    for (const char *n :
         {"read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg"}) {
        v.push_back(std::string("httpsnoop_") + enter + n);
        v.push_back(std::string("httpsnoop_") + exit + n);
    }
    v.push_back(std::string("httpsnoop_") + enter + "close");
    return with_common(v);
}

// Attaches every loaded program but the uprobes (bpf_link only).
int attach(void *p, const ModeSpec &, std::vector<bpf_link *> &links) {
    auto *skel = static_cast<httpsnoop_bpf *>(p);
    bpf_program *prog;
    bpf_object__for_each_program(prog, skel->obj) {
        if (!bpf_program__autoload(prog) || is_tls_program(bpf_program__name(prog))) continue;
        bpf_link *link = bpf_program__attach(prog);
        if (!link) return -errno;
        links.push_back(link);
    }
    return 0;
}

// Where the kernel has bpf_rdonly_cast (Linux 6.2), each loaded program with
// a "<name>_cast" flavour (the raw_syscalls and tracepoint entries) gives way
// to it: the same code, the fd's socket found with two helper calls instead of
// seven. BPFKIT_HTTPSNOOP_CAST=0 keeps the first flavour (to compare them).
void prefer_cast_flavours(bpf_object *obj) {
    static const bool have = [] {
        const char *env = getenv("BPFKIT_HTTPSNOOP_CAST");
        if (env && strcmp(env, "0") == 0) return false;
        return kernel_btf_has_name("bpf_rdonly_cast");
    }();
    if (!have) return;
    bpf_program *prog;
    bpf_object__for_each_program(prog, obj) {
        if (!bpf_program__autoload(prog)) continue;
        std::string name = std::string(bpf_program__name(prog)) + "_cast";
        bpf_program *cast = bpf_object__find_program_by_name(obj, name.c_str());
        if (!cast) continue;
        bpf_program__set_autoload(prog, false);
        bpf_program__set_autoload(cast, true);
    }
}

// Whether this kernel takes ring buffers as the values of a map of maps
// (Linux 5.10; the per-CPU rings of bpf/httpsnoop.bpf.c); seen by making one.
bool ringbuf_in_map_of_maps() {
    int inner = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "hs_probe_rb", 0, 0, 4096, nullptr);
    if (inner < 0) return false;
    LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = static_cast<__u32>(inner));
    int outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "hs_probe_rbs", sizeof(__u32),
                               sizeof(__u32), 1, &o);
    close(inner);
    if (outer < 0) return false;
    close(outer);
    return true;
}

// The events' rings: one per CPU of 16 MiB / CPUs each (at least 1 MiB), and
// a shared one of 1 MiB for what comes before user space has put the
// per-CPU rings in place (Capture::open makes them); or only the shared one,
// of 16 MiB, where the kernel has no ring buffer (perf buffer), cannot hold
// rings in a map, or has more than 64 CPUs, or with
// BPFKIT_HTTPSNOOP_RINGS=shared (to compare).
void size_event_rings(httpsnoop_bpf *skel, EventTransport transport) {
    const int cpus = libbpf_num_possible_cpus();
    const char *env = getenv("BPFKIT_HTTPSNOOP_RINGS");
    const bool shared = env && strcmp(env, "shared") == 0;
    static const bool can = ringbuf_in_map_of_maps();
    if (transport == EventTransport::Ringbuf && !shared && cpus > 0 && cpus <= 64 && can) {
        uint32_t each = std::bit_floor(16u * 1024 * 1024 / static_cast<uint32_t>(cpus));
        each = std::max<uint32_t>(each, 1024 * 1024);
        bpf_map__set_max_entries(skel->maps.cpu_events, static_cast<uint32_t>(cpus));
        bpf_map__set_max_entries(skel->maps.events, 1024 * 1024);
        skel->rodata->cpu_ring_bytes = each;
        return;
    }
    // No per-CPU rings: the map of maps stays empty, with a small array as
    // its inner map's template where a ring buffer could not be one (the
    // template is made once and kept: libbpf needs it at each load).
    skel->rodata->cpu_ring_bytes = 0;
    if (!can) {
        static const int array = bpf_map_create(BPF_MAP_TYPE_ARRAY, "hs_no_rings", sizeof(__u32),
                                                sizeof(__u32), 1, nullptr);
        if (array >= 0) bpf_map__set_inner_map_fd(skel->maps.cpu_events, array);
    }
}

}  // namespace

bool is_tls_program(const char *name) {
    for (const char *p : kTls)
        if (strcmp(p, name) == 0) return true;
    return false;
}

const LadderSpec &ladder() {
    static const LadderSpec spec = [] {
        LadderSpec s;
        s.tool = "httpsnoop";
        // fentry first: a BPF trampoline on each followed syscall's wrapper
        // (__x64_sys_read...; the entries of the socket calls on __sys_sendto
        // and the like, see bpf/httpsnoop.bpf.c) and nothing on the others,
        // with the arguments read without a helper call. kprobe next: the same
        // wrappers through kprobes (an int3 or ftrace call each way, and a
        // kretprobe follows at most max(10, 2 x CPUs) calls of one syscall
        // blocked at once). Then socket (Linux 6.3): one program at the end of
        // each sendmsg/recvmsg on a socket, which takes the call's fd and
        // buffer from the caller's saved registers; no other system call pays
        // anything, and no syscall tracepoint puts every system call of the
        // host on the kernel's slow path. Measured with bench/httpsnoop.sh
        // (httpsnoop(8), OVERHEAD) it keeps a clearly larger share of a full
        // HTTP load than the two syscall tracepoint modes. raw_syscalls needs
        // no tracefs but runs for every system call on the host (BTF-typed,
        // so one that is not followed costs a compare at entry and exit, no
        // lookup); the syscalls:* tracepoints cost nothing to the system calls
        // httpsnoop does not follow, and are the rung where raw tracepoints are
        // refused; the two keep about the same share of the load, within the
        // noise. The fentry and kprobe rungs were not measured: neither loads
        // on the machines the bench ran on.
        s.modes.push_back(ModeSpec{
            "fentry",
            "ebpf",
            "fentry/fexit on the syscall wrappers of read, write, readv, writev, sendto, "
            "recvfrom, sendmsg, recvmsg and close (__x64_sys_*; the socket calls' entries on "
            "__sys_sendto and the like); uprobes on TLS libraries",
            syscall_programs("fe_enter_", "fe_exit_"),
            {Feature::CapBpf, Feature::CapPerfmon, Feature::KernelBtf, Feature::Fentry,
             Feature::RawTp},
            {},
            "BPF trampolines (fentry/fexit, Linux 5.5) on the syscall wrappers __x64_sys_* "
            "(__arm64_sys_* on arm64), and kernel BTF"});
        s.modes.push_back(ModeSpec{
            "kprobe",
            "ebpf",
            "kprobes and kretprobes (ksyscall) on the wrappers of read, write, readv, writev, "
            "sendto, recvfrom, sendmsg, recvmsg and close; uprobes on TLS libraries",
            syscall_programs("ks_enter_", "ks_exit_"),
            {Feature::CapBpf, Feature::CapPerfmon, Feature::Kprobe, Feature::KernelBtf,
             Feature::RawTp},
            {},
            "kprobes and kretprobes on the syscall wrappers (__x64_sys_read...)"});
        s.modes.push_back(ModeSpec{
            "socket",
            "ebpf",
            "sock:sock_send_length and sock:sock_recv_length tracepoints (BTF-typed, Linux "
            "6.3) with each call's fd and buffer from the caller's registers; uprobes on TLS "
            "libraries",
            with_common({"httpsnoop_sk_send", "httpsnoop_sk_recv", "httpsnoop_sk_closed"}),
            {Feature::CapBpf, Feature::CapPerfmon, Feature::KernelBtf, Feature::TpBtf,
             Feature::RawTp},
            {},
            "the sock:sock_send_length and sock:sock_recv_length tracepoints (Linux 6.3 and "
            "later), BTF-typed"});
        s.modes.push_back(ModeSpec{
            "raw_syscalls",
            "ebpf",
            "raw_syscalls sys_enter/sys_exit raw tracepoints (BTF-typed) filtered by syscall "
            "number; uprobes on TLS libraries",
            with_common({"httpsnoop_raw_enter", "httpsnoop_raw_exit"}),
            {Feature::CapBpf, Feature::CapPerfmon, Feature::KernelBtf, Feature::TpBtf,
             Feature::RawTp},
            {},
            "BTF-typed raw tracepoints (tp_btf, Linux 5.5), raw tracepoints and kernel BTF"});
        s.modes.push_back(ModeSpec{
            "tracepoint",
            "ebpf",
            "syscalls:sys_enter/exit_{read,write,readv,writev,sendto,recvfrom,sendmsg,recvmsg} "
            "tracepoints; uprobes on TLS libraries",
            syscall_programs("tp_enter_", "tp_exit_"),
            {Feature::CapBpf, Feature::CapPerfmon, Feature::KernelBtf, Feature::Tracefs,
             Feature::Tracepoint, Feature::RawTp},
            {},
            "the syscalls:* tracepoints, which need tracefs mounted at /sys/kernel/tracing"});
        return s;
    }();
    return spec;
}

std::unique_ptr<SkeletonTrier> make_trier(KernelConfig config, EventTransport *transport) {
    auto configure = [config, transport](void *p, const ModeSpec &) {
        auto *skel = static_cast<httpsnoop_bpf *>(p);
        skel->rodata->max_capture = std::clamp<uint32_t>(config.max_capture, 16, HTTPSNOOP_CAP_MAX);
        skel->rodata->self_tgid = config.self_tgid;
        if (!config.tls) {
            bpf_program *prog;
            bpf_object__for_each_program(prog, skel->obj) {
                if (is_tls_program(bpf_program__name(prog))) bpf_program__set_autoload(prog, false);
            }
        }
        prefer_cast_flavours(skel->obj);
        EventTransport t = prepare_events_map(skel->maps.events, &skel->rodata->bpfkit_use_ringbuf);
        size_event_rings(skel, t);
        if (transport) *transport = t;
        return 0;
    };
    return std::make_unique<SkeletonTrier>(make_skeleton_ops<httpsnoop_bpf>(), configure, attach);
}

}  // namespace bpfkit::httpsnoop

// For bpfcheck's matrix.
bpfkit::ToolEntry bpfkit_tool_httpsnoop() {
    return bpfkit::ToolEntry{
        "httpsnoop", &bpfkit::httpsnoop::ladder,
        [] { return std::unique_ptr<bpfkit::ModeTrier>(bpfkit::httpsnoop::make_trier()); }};
}
