// SPDX-License-Identifier: GPL-2.0-only
// xdpflow's modes, best first, and the trier that attaches them to the
// interfaces asked for; bpfcheck reads the same declaration.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ladder.h"  // common/

struct xdpflow_bpf;

namespace bpfkit::xdpflow {

const LadderSpec &ladder();

enum class XdpMode { Auto, Native, Generic };

struct Iface {
    std::string name;
    unsigned ifindex = 0;
};

struct KernelConfig {
    std::vector<Iface> ifaces;  // empty: a private network namespace's lo (bpfcheck)
    XdpMode xdp_mode = XdpMode::Auto;
    bool force = false;  // replace an XDP program attached by netlink
    uint32_t max_flows = 65536;
    uint32_t sample_n = 0;  // 1-in-N; 0 or 1 = every packet
    bool sample_random = false;
};

// How one interface is hooked.
struct IfaceAttach {
    Iface iface;
    std::string ingress;  // "xdp native", "xdp generic", "tcx", "tc netlink"
    std::string egress;   // "tcx", "tc netlink"
};

// What is attached to an interface's XDP hook now: "" if nothing, else
// "program 42 'name' (generic)". 0 or -errno.
int describe_xdp(unsigned ifindex, std::string &what, uint32_t *prog_id = nullptr);

// Removes TC filters a killed xdpflow left by netlink (kernels without tcx):
// those at xdpflow's priorities whose program is named xdpflow_*. Returns the
// number removed, or -errno.
int cleanup_netlink(unsigned ifindex, std::string &detail);

class Trier : public ModeTrier {
  public:
    explicit Trier(KernelConfig config);
    ~Trier() override;
    Trier(const Trier &) = delete;
    Trier &operator=(const Trier &) = delete;

    int try_mode(const ModeSpec &mode, std::string &detail) override;
    // Detaches everything and closes the skeleton.
    void release() override;
    // Detaches the programs but keeps the maps for a last read.
    void detach();
    xdpflow_bpf *skeleton() const { return skel_; }
    const std::vector<IfaceAttach> &attached() const { return attached_; }
    // True when the last refusal was another program on the XDP hook.
    bool refused_for_xdp_program() const { return xdp_busy_; }

  private:
    struct NetlinkFilter {
        unsigned ifindex;
        int attach_point;  // BPF_TC_INGRESS / BPF_TC_EGRESS
        uint32_t handle, priority;
        bool created_hook;
    };
    int attach_iface(const ModeSpec &mode, const Iface &ifc, std::string &detail);
    int attach_xdp(const Iface &ifc, IfaceAttach &a, std::string &detail);
    int attach_tc(bpf_program *prog, const Iface &ifc, bool egress, bool allow_tcx,
                  bool allow_netlink, std::string &how, std::string &detail);

    KernelConfig config_;
    xdpflow_bpf *skel_ = nullptr;
    std::vector<int> links_;  // bpf_link fds
    std::vector<NetlinkFilter> netlink_;
    std::vector<IfaceAttach> attached_;
    bool xdp_busy_ = false;
};

}  // namespace bpfkit::xdpflow
