// SPDX-License-Identifier: GPL-2.0-only
#include "xdpflow_ladder.h"

#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "kernel_features.h"
#include "xdpflow.h"
#include "xdpflow.skel.h"

namespace bpfkit::xdpflow {

namespace {

// Linux 6.6's tcx attach types; libbpf 1.1's headers do not have them.
constexpr int kTcxIngress = 46;
constexpr int kTcxEgress = 47;
// Netlink TC filters go at these priorities, so that --cleanup finds them.
constexpr uint32_t kTcHandle = 0x7866;
constexpr uint32_t kTcPrioFirst = 0xc7f0;
constexpr uint32_t kTcPrioCount = 16;

std::string prog_name(uint32_t id) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return "";
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    std::string name;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
    close(fd);
    return name;
}

}  // namespace

const LadderSpec &ladder() {
    static const LadderSpec spec = [] {
        LadderSpec s;
        s.tool = "xdpflow";
        s.modes.push_back(
            ModeSpec{"xdp+tcx",
                     "ebpf",
                     "XDP on ingress and tcx on egress, both bpf_links (nothing stays when killed)",
                     {"xdpflow_xdp", "xdpflow_tc_egress"},
                     {Feature::CapBpf, Feature::CapPerfmon, Feature::CapNetAdmin,
                      Feature::XdpGeneric, Feature::TcClsact},
                     {},
                     "XDP links (Linux 5.9) and tcx links (Linux 6.6)"});
        s.modes.push_back(
            ModeSpec{"xdp+tc",
                     "ebpf",
                     "XDP link on ingress, TC clsact filter by netlink on egress (removed on exit; "
                     "SIGKILL leaves it: xdpflow --cleanup)",
                     {"xdpflow_xdp", "xdpflow_tc_egress"},
                     {Feature::CapBpf, Feature::CapPerfmon, Feature::CapNetAdmin,
                      Feature::XdpGeneric, Feature::TcClsact},
                     {},
                     "XDP links (Linux 5.9) and TC clsact"});
        s.modes.push_back(ModeSpec{
            "tc",
            "ebpf",
            "TC on ingress and egress (tcx links where the kernel has them, else netlink)",
            {"xdpflow_tc_ingress", "xdpflow_tc_egress"},
            {Feature::CapBpf, Feature::CapPerfmon, Feature::CapNetAdmin, Feature::TcClsact},
            {},
            "TC clsact (sch_clsact, cls_bpf)"});
        s.modes.push_back(ModeSpec{"afpacket",
                                   "afpacket",
                                   "AF_PACKET capture of each interface, flows counted in user "
                                   "space (GSO super-frames count as one frame)",
                                   {},
                                   {Feature::CapNetRaw, Feature::AfPacket},
                                   try_afpacket_socket,
                                   "an AF_PACKET socket (CAP_NET_RAW)"});
        return s;
    }();
    return spec;
}

int describe_xdp(unsigned ifindex, std::string &what, uint32_t *prog_id) {
    what.clear();
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (int err = bpf_xdp_query(static_cast<int>(ifindex), 0, &q)) return err;
    uint32_t id = 0;
    const char *mode = "";
    if (q.drv_prog_id) {
        id = q.drv_prog_id;
        mode = "native";
    } else if (q.skb_prog_id) {
        id = q.skb_prog_id;
        mode = "generic";
    } else if (q.hw_prog_id) {
        id = q.hw_prog_id;
        mode = "offload";
    } else if (q.prog_id) {
        id = q.prog_id;
        mode = "unknown mode";
    }
    if (prog_id) *prog_id = id;
    if (!id) return 0;
    what = "program " + std::to_string(id) + " '" + prog_name(id) + "' (" + mode + ")";
    return 0;
}

int cleanup_netlink(unsigned ifindex, std::string &detail) {
    int removed = 0;
    for (int point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
                    .attach_point = static_cast<bpf_tc_attach_point>(point));
        for (uint32_t p = kTcPrioFirst; p < kTcPrioFirst + kTcPrioCount; p++) {
            LIBBPF_OPTS(bpf_tc_opts, q, .handle = kTcHandle, .priority = p);
            if (bpf_tc_query(&hook, &q) != 0) continue;
            std::string name = prog_name(q.prog_id);
            if (name.rfind("xdpflow_", 0) != 0) continue;
            LIBBPF_OPTS(bpf_tc_opts, d, .handle = kTcHandle, .priority = p);
            if (int err = bpf_tc_detach(&hook, &d)) {
                detail = "cannot remove the filter at priority " + std::to_string(p) + ": " +
                         strerror(-err);
                return err;
            }
            removed++;
        }
    }
    return removed;
}

Trier::Trier(KernelConfig config) : config_(std::move(config)) {}

Trier::~Trier() {
    release();
}

void Trier::detach() {
    for (int fd : links_)
        close(fd);
    links_.clear();
    for (const auto &f : netlink_) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(f.ifindex),
                    .attach_point = static_cast<bpf_tc_attach_point>(f.attach_point));
        LIBBPF_OPTS(bpf_tc_opts, d, .handle = f.handle, .priority = f.priority);
        bpf_tc_detach(&hook, &d);
        if (f.created_hook) {
            // Only the clsact qdisc this run made, and only if it holds
            // nothing else now.
            LIBBPF_OPTS(bpf_tc_opts, any);
            if (bpf_tc_query(&hook, &any) != 0) {
                hook.attach_point =
                    static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
                bpf_tc_hook_destroy(&hook);
            }
        }
    }
    netlink_.clear();
    attached_.clear();
}

void Trier::release() {
    detach();
    if (skel_) xdpflow_bpf::destroy(skel_);
    skel_ = nullptr;
}

int Trier::attach_xdp(const Iface &ifc, IfaceAttach &a, std::string &detail) {
    std::string what;
    uint32_t other = 0;
    describe_xdp(ifc.ifindex, what, &other);
    if (other) {
        if (!config_.force) {
            xdp_busy_ = true;
            detail = ifc.name + " already has XDP " + what +
                     "; --force replaces it, --ingress tc counts beside it";
            return -EBUSY;
        }
        // --force: only a netlink attachment can be taken off; a link
        // belongs to its owner.
        LIBBPF_OPTS(bpf_xdp_query_opts, q);
        bpf_xdp_query(static_cast<int>(ifc.ifindex), 0, &q);
        uint32_t flags = q.drv_prog_id  ? XDP_FLAGS_DRV_MODE
                         : q.hw_prog_id ? XDP_FLAGS_HW_MODE
                                        : XDP_FLAGS_SKB_MODE;
        int err = bpf_xdp_detach(static_cast<int>(ifc.ifindex), flags, nullptr);
        if (err) {
            detail = "cannot remove XDP " + what + " from " + ifc.name + ": " + strerror(-err) +
                     " (attached by a bpf_link, which only its owner can remove)";
            return err;
        }
    }
    int prog_fd = bpf_program__fd(skel_->progs.xdpflow_xdp);
    std::vector<std::pair<uint32_t, const char *>> tries;
    if (config_.xdp_mode != XdpMode::Generic) tries.push_back({XDP_FLAGS_DRV_MODE, "xdp native"});
    if (config_.xdp_mode != XdpMode::Native) tries.push_back({XDP_FLAGS_SKB_MODE, "xdp generic"});
    int err = -EINVAL;
    for (auto [flags, name] : tries) {
        LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);
        int fd = bpf_link_create(prog_fd, static_cast<int>(ifc.ifindex), BPF_XDP, &lo);
        if (fd >= 0) {
            links_.push_back(fd);
            a.ingress = name;
            return 0;
        }
        err = -errno;
        detail = std::string(name) + " on " + ifc.name + ": " + strerror(errno);
    }
    return err;
}

int Trier::attach_tc(bpf_program *prog, const Iface &ifc, bool egress, bool allow_tcx,
                     bool allow_netlink, std::string &how, std::string &detail) {
    int prog_fd = bpf_program__fd(prog);
    if (allow_tcx) {
        int fd = bpf_link_create(prog_fd, static_cast<int>(ifc.ifindex),
                                 static_cast<bpf_attach_type>(egress ? kTcxEgress : kTcxIngress),
                                 nullptr);
        if (fd >= 0) {
            links_.push_back(fd);
            how = "tcx";
            return 0;
        }
        int err = -errno;
        detail = "tcx on " + ifc.name + ": " + strerror(errno) +
                 (err == -EINVAL ? " (tcx needs Linux 6.6)" : "");
        if (!allow_netlink) return err;
    }
    const int point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifc.ifindex),
                .attach_point = static_cast<bpf_tc_attach_point>(point));
    int err = bpf_tc_hook_create(&hook);
    bool created = err == 0;
    if (err && err != -EEXIST) {
        detail = "clsact qdisc on " + ifc.name + ": " + strerror(-err);
        return err;
    }
    for (uint32_t p = kTcPrioFirst; p < kTcPrioFirst + kTcPrioCount; p++) {
        LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd, .handle = kTcHandle, .priority = p);
        err = bpf_tc_attach(&hook, &o);
        if (err == -EEXIST) continue;
        if (err) break;
        netlink_.push_back({ifc.ifindex, point, kTcHandle, p, created});
        how = "tc netlink";
        return 0;
    }
    detail = "TC filter on " + ifc.name + ": " + strerror(-err);
    if (created) {
        hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
    }
    return err;
}

int Trier::attach_iface(const ModeSpec &mode, const Iface &ifc, std::string &detail) {
    IfaceAttach a;
    a.iface = ifc;
    int err;
    if (mode.name == "tc") {
        err = attach_tc(skel_->progs.xdpflow_tc_ingress, ifc, false, true, true, a.ingress, detail);
        if (!err)
            err =
                attach_tc(skel_->progs.xdpflow_tc_egress, ifc, true, true, true, a.egress, detail);
    } else {
        err = attach_xdp(ifc, a, detail);
        if (!err)
            err = attach_tc(skel_->progs.xdpflow_tc_egress, ifc, true, mode.name == "xdp+tcx",
                            mode.name == "xdp+tc", a.egress, detail);
    }
    if (!err) attached_.push_back(a);
    return err;
}

int Trier::try_mode(const ModeSpec &mode, std::string &detail) {
    release();
    xdp_busy_ = false;
    skel_ = xdpflow_bpf::open(nullptr);
    if (!skel_) {
        int err = -errno;
        detail = std::string("cannot open the BPF object: ") + strerror(errno);
        return err;
    }
    bpf_program *prog;
    bpf_object__for_each_program(prog, skel_->obj) {
        const char *n = bpf_program__name(prog);
        bool want = std::find(mode.programs.begin(), mode.programs.end(), n) != mode.programs.end();
        bpf_program__set_autoload(prog, want);
    }
    bpf_map__set_max_entries(skel_->maps.flows, std::max<uint32_t>(config_.max_flows, 1));
    skel_->rodata->sample_n = config_.sample_n;
    skel_->rodata->sample_random = config_.sample_random ? 1 : 0;
    if (int err = xdpflow_bpf::load(skel_)) {
        detail = std::string("load: ") + strerror(-err);
        release();
        return err;
    }
    int err = 0;
    if (config_.ifaces.empty()) {
        // bpfcheck: the real attachments, on lo of a network namespace of
        // our own, made and left on a thread.
        std::thread t([&] {
            if (unshare(CLONE_NEWNET)) {
                err = -errno;
                detail =
                    std::string("cannot make a network namespace to try in: ") + strerror(errno);
                return;
            }
            err = attach_iface(mode, Iface{"lo", 1}, detail);
            detach();
        });
        t.join();
    } else {
        for (const auto &ifc : config_.ifaces) {
            err = attach_iface(mode, ifc, detail);
            if (err) break;
        }
    }
    if (err) {
        release();
        return err;
    }
    return 0;
}

}  // namespace bpfkit::xdpflow

// For bpfcheck's matrix.
bpfkit::ToolEntry bpfkit_tool_xdpflow() {
    return bpfkit::ToolEntry{
        "xdpflow", &bpfkit::xdpflow::ladder, [] {
            return std::unique_ptr<bpfkit::ModeTrier>(
                std::make_unique<bpfkit::xdpflow::Trier>(bpfkit::xdpflow::KernelConfig{}));
        }};
}
