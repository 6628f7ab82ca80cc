// SPDX-License-Identifier: GPL-2.0-only
#include "netproc_ladder.h"

#include <bpf/btf.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fcntl.h>
#include <iterator>

#include <cerrno>
#include <linux/if_ether.h>

#include "netproc.skel.h"

namespace bpfkit::netproc {

namespace {

// The number of arguments a kernel function takes, from kernel BTF; 0 if
// unknown. recvmsg lost its "noblock" argument in 5.19.
unsigned func_nargs(const btf *b, const char *name) {
    if (!b) return 0;
    int id = btf__find_by_name_kind(b, name, BTF_KIND_FUNC);
    if (id < 0) return 0;
    const btf_type *fn = btf__type_by_id(b, static_cast<__u32>(id));
    const btf_type *proto = btf__type_by_id(b, fn->type);
    return proto ? btf_vlen(proto) : 0;
}

struct RecvArgs {
    unsigned tcp = 0, udp = 0, udpv6 = 0;
};

// The kernel's own BTF has every function; a reduced BTF given with --btf
// (bpftool gen min_core_btf) has types but no functions. Without either,
// the release decides: the argument went in 5.19.
unsigned nargs_by_release() {
    struct utsname u;
    unsigned major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2) return 0;
    return major > 5 || (major == 5 && minor >= 19) ? 5 : 6;
}

// Read once, and the BTF freed at once.
const RecvArgs &recv_args() {
    static const RecvArgs a = [] {
        RecvArgs r;
        btf *b = btf__load_vmlinux_btf();
        if (!b && !open_options().btf_path.empty())
            b = btf__parse(open_options().btf_path.c_str(), nullptr);
        r.tcp = func_nargs(b, "tcp_recvmsg");
        r.udp = func_nargs(b, "udp_recvmsg");
        r.udpv6 = func_nargs(b, "udpv6_recvmsg");
        btf__free(b);
        unsigned fallback = nargs_by_release();
        if (!r.tcp) r.tcp = fallback;
        if (!r.udp) r.udp = fallback;
        if (!r.udpv6) r.udpv6 = r.udp;
        return r;
    }();
    return a;
}

}  // namespace

const LadderSpec &ladder() {
    static const LadderSpec spec = [] {
        LadderSpec s;
        s.tool = "netproc";
        s.modes.push_back(
            ModeSpec{"fentry",
                     "ebpf",
                     "fexit on tcp/udp/udpv6 sendmsg and recvmsg; counts socket payload",
                     {"netproc_fexit_tcp_sendmsg", "netproc_fexit_udp_sendmsg",
                      "netproc_fexit_udpv6_sendmsg", "netproc_fexit_tcp_recvmsg",
                      "netproc_fexit_udp_recvmsg", "netproc_fexit_udpv6_recvmsg"},
                     {Feature::CapBpf, Feature::CapPerfmon, Feature::KernelBtf, Feature::Fentry},
                     {},
                     "BPF trampolines (fentry/fexit)"});
        s.modes.push_back(ModeSpec{
            "kprobe",
            "ebpf",
            "kprobe/kretprobe on tcp/udp/udpv6 sendmsg and recvmsg; counts socket payload",
            {"netproc_kp_tcp_sendmsg", "netproc_krp_tcp_sendmsg", "netproc_kp_udp_sendmsg",
             "netproc_krp_udp_sendmsg", "netproc_kp_udpv6_sendmsg", "netproc_krp_udpv6_sendmsg",
             "netproc_kp_tcp_recvmsg", "netproc_krp_tcp_recvmsg", "netproc_kp_udp_recvmsg",
             "netproc_krp_udp_recvmsg", "netproc_kp_udpv6_recvmsg", "netproc_krp_udpv6_recvmsg"},
            {Feature::CapBpf, Feature::CapPerfmon, Feature::Kprobe},
            {},
            "kprobes on tcp/udp sendmsg and recvmsg"});
        s.modes.push_back(ModeSpec{
            "tracepoint",
            "ebpf",
            "sock:sock_send_length and sock:sock_recv_length (6.3+, tp_btf) into socket "
            "storage, cgroup sock_release and inet_sock_set_state for ends; counts socket payload",
            {"netproc_tp_send", "netproc_tp_recv", "netproc_tp_state", "netproc_sock_release",
             "netproc_iter_socks"},
            {Feature::CapBpf, Feature::CapPerfmon, Feature::CapNetAdmin, Feature::KernelBtf,
             Feature::TpBtf, Feature::Cgroup2},
            {},
            "the sock:sock_send_length and sock:sock_recv_length tracepoints (Linux 6.3 and "
            "later)"});
        s.modes.push_back(
            ModeSpec{"afpacket",
                     "afpacket",
                     "AF_PACKET capture matched to processes through /proc; counts frames",
                     {},
                     {Feature::CapNetRaw, Feature::AfPacket},
                     try_afpacket_socket,
                     "an AF_PACKET socket (CAP_NET_RAW)"});
        return s;
    }();
    return spec;
}

bpf_link *attach_socket_iter(netproc_bpf *skel) {
    union bpf_iter_link_info info = {};
    info.map.map_fd = static_cast<__u32>(bpf_map__fd(skel->maps.sk_counts));
    LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
    return bpf_program__attach_iter(skel->progs.netproc_iter_socks, &opts);
}

namespace {

// Every program of the mode through a bpf_link: the release hook on the
// root of the cgroup v2 hierarchy (so every socket), the iterator on the
// socket storage map, the rest where their section names say.
int attach(void *p, const ModeSpec &mode, std::vector<bpf_link *> &links) {
    auto *skel = static_cast<netproc_bpf *>(p);
    bpf_program *prog;
    bpf_object__for_each_program(prog, skel->obj) {
        if (!bpf_program__autoload(prog)) continue;
        bpf_link *link = nullptr;
        if (prog == skel->progs.netproc_sock_release) {
            int cg = open(cgroup2_root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (cg < 0) return -errno;
            link = bpf_program__attach_cgroup(prog, cg);
            int err = errno;
            close(cg);
            errno = err;
        } else if (prog == skel->progs.netproc_iter_socks) {
            link = attach_socket_iter(skel);
        } else {
            link = bpf_program__attach(prog);
        }
        if (!link) return errno ? -errno : -EINVAL;
        links.push_back(link);
    }
    (void)mode;
    return 0;
}

}  // namespace

std::unique_ptr<SkeletonTrier> make_trier(KernelFilter filter) {
    auto configure = [filter](void *p, const ModeSpec &mode) {
        auto *skel = static_cast<netproc_bpf *>(p);
        // The tracepoint rung counts per socket (sock_flows, socks, closed),
        // the others per tuple (flows); the kprobe rung alone stashes
        // arguments. A map the mode does not use is made with one entry.
        const bool per_socket = mode.name == "tracepoint";
        const uint32_t flows = filter.max_flows ? filter.max_flows : 16384;
        bpf_map *sized[] = {skel->maps.flows,  skel->maps.sock_flows, skel->maps.socks,
                            skel->maps.closed, skel->maps.released,   skel->maps.stashed};
        const bool used[] = {!per_socket, per_socket, per_socket,
                             per_socket,  per_socket, mode.name == "kprobe"};
        for (size_t i = 0; i < std::size(sized); ++i) {
            if (!used[i]) {
                if (int err = bpf_map__set_max_entries(sized[i], 1)) return err;
            } else if (sized[i] != skel->maps.stashed) {
                if (int err = bpf_map__set_max_entries(sized[i], flows)) return err;
            }
        }
        const RecvArgs &a = recv_args();
        if (a.tcp) skel->rodata->tcp_recvmsg_nargs = a.tcp;
        if (a.udp) skel->rodata->udp_recvmsg_nargs = a.udp;
        if (a.udpv6) skel->rodata->udpv6_recvmsg_nargs = a.udpv6;
        skel->rodata->filter_tgid = filter.tgid;
        return 0;
    };
    return std::make_unique<SkeletonTrier>(make_skeleton_ops<netproc_bpf>(), configure, attach);
}

}  // namespace bpfkit::netproc

// For bpfcheck's matrix.
bpfkit::ToolEntry bpfkit_tool_netproc() {
    return bpfkit::ToolEntry{
        "netproc", &bpfkit::netproc::ladder,
        [] { return std::unique_ptr<bpfkit::ModeTrier>(bpfkit::netproc::make_trier()); }};
}
