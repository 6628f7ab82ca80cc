// SPDX-License-Identifier: GPL-2.0-only
#include "dnssnoop_ladder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dnssnoop.h"
#include "dnssnoop.skel.h"
#include "kernel_features.h"

namespace bpfkit::dnssnoop {

namespace {

// The capture programs every eBPF rung shares.
const char *const kCapture[] = {"dnssnoop_egress", "dnssnoop_ingress"};

std::vector<std::string> with_capture(std::vector<std::string> programs) {
    for (const char *p : kCapture)
        programs.push_back(p);
    return programs;
}

bool is_cgroup_program(bpf_program *p) {
    switch (bpf_program__type(p)) {
        case BPF_PROG_TYPE_CGROUP_SKB:
        case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
        case BPF_PROG_TYPE_CGROUP_SOCK:
            return true;
        default:
            return false;
    }
}

// Attaches every program of the mode: cgroup programs to the root of the
// cgroup2 hierarchy, the others where their section says. bpf_link only, so
// nothing stays attached when the process goes.
int attach(void *p, const ModeSpec &, std::vector<bpf_link *> &links) {
    auto *skel = static_cast<dnssnoop_bpf *>(p);
    const FeatureResult &cg = system_features().get(Feature::Cgroup2);
    int cgfd = -1;
    bpf_program *prog;
    int err = 0;
    bpf_object__for_each_program(prog, skel->obj) {
        if (!bpf_program__autoload(prog)) continue;
        bpf_link *link;
        if (is_cgroup_program(prog)) {
            if (cgfd < 0) {
                if (!cg.yes()) return -ENOENT;
                cgfd = open(cg.value.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (cgfd < 0) return -errno;
            }
            link = bpf_program__attach_cgroup(prog, cgfd);
        } else {
            link = bpf_program__attach(prog);
        }
        if (!link) {
            err = -errno;
            break;
        }
        links.push_back(link);
    }
    if (cgfd >= 0) close(cgfd);
    return err;
}

}  // namespace

const LadderSpec &ladder() {
    static const LadderSpec spec = [] {
        LadderSpec s;
        s.tool = "dnssnoop";
        s.modes.push_back(ModeSpec{
            "fentry",
            "ebpf",
            "fentry on udp/udpv6/tcp sendmsg names the process; cgroup_skb copies DNS packets",
            with_capture({"dnssnoop_fentry_udp_sendmsg", "dnssnoop_fentry_udpv6_sendmsg",
                          "dnssnoop_fentry_tcp_sendmsg"}),
            {Feature::CapBpf, Feature::CapPerfmon, Feature::CapNetAdmin, Feature::KernelBtf,
             Feature::Fentry, Feature::Cgroup2, Feature::CgroupSkb},
            {},
            "BPF trampolines (fentry) and cgroup_skb programs on the cgroup2 root"});
        s.modes.push_back(ModeSpec{
            "kprobe",
            "ebpf",
            "kprobes on udp/udpv6/tcp sendmsg name the process; cgroup_skb copies DNS packets",
            with_capture({"dnssnoop_kp_udp_sendmsg", "dnssnoop_kp_udpv6_sendmsg",
                          "dnssnoop_kp_tcp_sendmsg"}),
            {Feature::CapBpf, Feature::CapPerfmon, Feature::CapNetAdmin, Feature::Kprobe,
             Feature::Cgroup2, Feature::CgroupSkb},
            {},
            "kprobes on udp_sendmsg, udpv6_sendmsg and tcp_sendmsg"});
        s.modes.push_back(
            ModeSpec{"cgroup",
                     "ebpf",
                     "cgroup connect/sendmsg hooks name the process; cgroup_skb copies DNS packets",
                     with_capture({"dnssnoop_connect4", "dnssnoop_connect6", "dnssnoop_sendmsg4",
                                   "dnssnoop_sendmsg6"}),
                     {Feature::CapBpf, Feature::CapPerfmon, Feature::CapNetAdmin, Feature::Cgroup2,
                      Feature::CgroupSkb},
                     {},
                     "cgroup sock_addr programs (connect4/6, sendmsg4/6) on the cgroup2 root"});
        s.modes.push_back(
            ModeSpec{"afpacket",
                     "afpacket",
                     "AF_PACKET capture with a classic BPF port filter; processes from /proc",
                     {},
                     {Feature::CapNetRaw, Feature::AfPacket},
                     try_afpacket_socket,
                     "an AF_PACKET socket (CAP_NET_RAW)"});
        return s;
    }();
    return spec;
}

std::unique_ptr<SkeletonTrier> make_trier(KernelConfig config, EventTransport *transport) {
    auto configure = [config, transport](void *p, const ModeSpec &) {
        auto *skel = static_cast<dnssnoop_bpf *>(p);
        size_t n = std::min<size_t>(config.ports.size(), DNSSNOOP_MAX_PORTS);
        for (size_t i = 0; i < n; i++)
            skel->rodata->ports[i] = config.ports[i];
        skel->rodata->nports = static_cast<__u32>(n);
        skel->rodata->snap_len = std::clamp<uint32_t>(config.snap_len, 64, DNSSNOOP_SNAP_MAX);
        EventTransport t = prepare_events_map(skel->maps.events, &skel->rodata->bpfkit_use_ringbuf);
        if (transport) *transport = t;
        return 0;
    };
    return std::make_unique<SkeletonTrier>(make_skeleton_ops<dnssnoop_bpf>(), configure, attach);
}

}  // namespace bpfkit::dnssnoop

// For bpfcheck's matrix.
bpfkit::ToolEntry bpfkit_tool_dnssnoop() {
    return bpfkit::ToolEntry{
        "dnssnoop", &bpfkit::dnssnoop::ladder,
        [] { return std::unique_ptr<bpfkit::ModeTrier>(bpfkit::dnssnoop::make_trier()); }};
}
