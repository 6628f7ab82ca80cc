// SPDX-License-Identifier: GPL-2.0-only
// xdpflow: per-flow packet and byte counters of an interface's traffic in
// both directions, at XDP ingress and TC egress, as lines, JSON or IPFIX.
#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernel_features.h"
#include "ladder.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "xdpflow.h"
#include "xdpflow.skel.h"
#include "xdpflow_afpacket.h"
#include "xdpflow_collect.h"
#include "xdpflow_flows.h"
#include "xdpflow_ipfix.h"
#include "xdpflow_ladder.h"

using namespace bpfkit;
using namespace bpfkit::xdpflow;

namespace {

// The VLAN devices stacked on an interface (its upper devices that 8021q
// lists in /proc/net/vlan), comma-separated.
std::string vlan_uppers(const std::string &ifname) {
    std::string out;
    DIR *d = opendir(("/sys/class/net/" + ifname).c_str());
    if (d == nullptr) return out;
    while (dirent *e = readdir(d)) {
        std::string n = e->d_name;
        if (n.rfind("upper_", 0) != 0) continue;
        std::string upper = n.substr(6);
        if (access(("/proc/net/vlan/" + upper).c_str(), F_OK) == 0)
            out += (out.empty() ? "" : ",") + upper;
    }
    closedir(d);
    return out;
}

struct Options {
    CommonOptions common;
    std::vector<std::string> ifaces;
    double interval_s = 1.0;
    double idle_s = 15.0;
    double active_s = 60.0;
    std::string xdp_mode = "auto";
    std::string ingress = "xdp";
    bool force = false;
    bool cleanup = false;
    long max_flows = 65536;
    long sample = 1;
    bool sample_random = false;
    long top = 0;
    Filters filters;
    std::string ipfix;
    double template_s = 30.0;
};

// A second SIGINT must not leave a netlink TC filter behind: every signal
// only asks the loop to stop, and the attachments are removed on the way out.
void on_stop(int) {
    request_stop();
}

// The interfaces of this network namespace that are up (IFF_UP), by name.
std::vector<std::string> interfaces_up() {
    std::vector<std::string> out;
    struct if_nameindex *ni = if_nameindex();
    if (!ni) return out;
    for (struct if_nameindex *p = ni; p->if_index; p++) {
        std::string path = std::string("/sys/class/net/") + p->if_name + "/flags";
        FILE *f = fopen(path.c_str(), "re");
        if (!f) continue;
        unsigned long flags = 0;
        if (fscanf(f, "%lx", &flags) == 1 && (flags & 0x1)) out.push_back(p->if_name);
        fclose(f);
    }
    if_freenameindex(ni);
    return out;
}

std::string self_path(const char *argv0) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return argv0;
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

int main(int argc, char **argv) {
    Options o;
    bool ingress_given = false;
    ToolInfo info{
        "xdpflow", "[-i IFACE]... [OPTIONS]",
        "Per-flow packet and byte counters of an interface's traffic in both directions.",
        "Modes, best first: xdp+tcx (XDP and tcx bpf_links), xdp+tc (XDP link, TC filter by\n"
        "netlink on egress), tc (TC on both directions). Counts are L2 frame bytes; TC egress\n"
        "counts a GSO super-frame as its segments with their headers (wire bytes).\n"
        "\n"
        "Exit status: 0 ok; 1 runtime failure; 2 usage error, missing privileges, another XDP\n"
        "program on the interface, or no mode can run here (bpfcheck says why).\n"
        "\n"
        "See xdpflow(8)."};
    OptionParser parser(info, kHelp | kVersion | kVerbose | kJson | kCount | kDuration);
    parser.describe(kCount, "stop after N intervals", "N");
    auto seconds = [&](const char *name, const char *help, double &target, double max) {
        parser.add(ToolOption{
            name, 0, true, "SECS", help, [&target, max](const char *arg, std::string &err) {
                if (!parse_seconds(arg, false, target) || target > max || target < 0.01) {
                    err =
                        "expected seconds, from 0.01 to " + std::to_string(static_cast<long>(max));
                    return false;
                }
                return true;
            }});
    };
    auto number = [&](const char *name, const char *arg_name, const char *help, long &target,
                      long max) {
        parser.add(ToolOption{name, 0, true, arg_name, help,
                              [&target, max](const char *arg, std::string &err) {
                                  if (!parse_positive_long(arg, max, target)) {
                                      err = "expected a number from 1 to " + std::to_string(max);
                                      return false;
                                  }
                                  return true;
                              }});
    };
    auto flag = [&](const char *name, const char *help, bool &target) {
        parser.add(
            ToolOption{name, 0, false, nullptr, help, [&target](const char *, std::string &) {
                           target = true;
                           return true;
                       }});
    };
    parser.add(ToolOption{"interface", 'i', true, "IFACE",
                          "count this interface (repeatable; default: every interface that is "
                          "up, with TC only)",
                          [&](const char *arg, std::string &err) {
                              if (!*arg || strlen(arg) >= IF_NAMESIZE) {
                                  err = "expected an interface name";
                                  return false;
                              }
                              o.ifaces.push_back(arg);
                              return true;
                          }});
    seconds("interval", "print the flows active in each interval of SECS (default 1)", o.interval_s,
            86400);
    seconds("idle-timeout", "a flow idle this long is expired: last record, removed (default 15)",
            o.idle_s, 86400);
    seconds("active-timeout",
            "an IPFIX record of a flow at least this often while it lasts (default 60)", o.active_s,
            86400);
    parser.add(ToolOption{"xdp-mode", 0, true, "auto|native|generic",
                          "XDP in the driver, or generic (default auto: native, else generic)",
                          [&](const char *arg, std::string &err) {
                              o.xdp_mode = arg;
                              if (o.xdp_mode == "auto" || o.xdp_mode == "native" ||
                                  o.xdp_mode == "generic")
                                  return true;
                              err = "expected auto, native or generic";
                              return false;
                          }});
    parser.add(ToolOption{"ingress", 0, true, "xdp|tc",
                          "the ingress hook (default xdp; tc where XDP cannot attach)",
                          [&](const char *arg, std::string &err) {
                              o.ingress = arg;
                              ingress_given = true;
                              if (o.ingress == "xdp" || o.ingress == "tc") return true;
                              err = "expected xdp or tc";
                              return false;
                          }});
    flag("force", "replace an XDP program already attached to the interface (by netlink)", o.force);
    number("max-flows", "N", "size of the kernel's flow table (default 65536)", o.max_flows,
           1 << 24);
    number("sample", "N", "count 1 packet in N (default 1: every packet)", o.sample, 1 << 30);
    flag("sample-random", "sample at random rather than every N-th packet per CPU",
         o.sample_random);
    number("top", "N", "print only the N flows with the most bytes in each interval", o.top,
           1 << 20);
    parser.add(
        ToolOption{"proto", 0, true, "PROTO",
                   "only this protocol: tcp, udp, icmp, icmp6, sctp or a number (repeatable)",
                   [&](const char *arg, std::string &err) {
                       auto p = parse_proto(arg);
                       if (!p) {
                           err = "expected tcp, udp, icmp, icmp6, sctp or 0-255";
                           return false;
                       }
                       o.filters.protos.push_back(*p);
                       return true;
                   }});
    parser.add(ToolOption{"port", 0, true, "PORT", "only flows with this port (repeatable)",
                          [&](const char *arg, std::string &err) {
                              long v;
                              if (!parse_positive_long(arg, 65535, v)) {
                                  err = "expected a port number 1-65535";
                                  return false;
                              }
                              o.filters.ports.push_back(static_cast<uint16_t>(v));
                              return true;
                          }});
    parser.add(ToolOption{"host", 0, true, "ADDR[/LEN]",
                          "only flows from or to this address or network (repeatable)",
                          [&](const char *arg, std::string &err) {
                              auto c = Cidr::parse(arg);
                              if (!c) {
                                  err = "expected an IPv4 or IPv6 address, optionally /LEN";
                                  return false;
                              }
                              o.filters.hosts.push_back(*c);
                              return true;
                          }});
    parser.add(ToolOption{"ipfix", 0, true, "HOST:PORT",
                          "export the flows as IPFIX over UDP to a collector",
                          [&](const char *arg, std::string &err) {
                              if (!parse_host_port(arg)) {
                                  err = "expected ADDR:PORT or [ADDR6]:PORT (numeric)";
                                  return false;
                              }
                              o.ipfix = arg;
                              return true;
                          }});
    seconds("template-interval", "re-send the IPFIX templates this often (default 30)",
            o.template_s, 86400);
    flag("cleanup",
         "remove TC filters a killed xdpflow left on the interfaces (kernels without tcx), "
         "then exit",
         o.cleanup);
    std::string family;
    for (auto &opt : ladder_options(ladder(), o.common.mode, family))
        parser.add(std::move(opt));
    if (auto rc = parser.parse(argc, argv, o.common)) return *rc;
    log::init(argv[0], o.common.verbose);
    if (o.ifaces.empty()) {
        // Every interface that is up, with TC only unless a mode was asked
        // for: attaching XDP to a NIC can reset its queues, so XDP is for
        // interfaces named with -i.
        o.ifaces = interfaces_up();
        if (o.ifaces.empty()) return parser.usage_error("no interface is up: name one with -i");
        if (!ingress_given && o.common.mode.empty()) o.ingress = "tc";
    }
    if (o.ingress == "tc" && !o.common.mode.empty() && o.common.mode != "tc")
        return parser.usage_error("--ingress tc and --hooks " + o.common.mode + " disagree");
    if (o.ingress == "tc") o.common.mode = "tc";

    KernelConfig kc;
    for (const auto &name : o.ifaces) {
        unsigned idx = if_nametoindex(name.c_str());
        if (!idx) return parser.usage_error("no interface " + name + " here");
        bool dup = std::any_of(kc.ifaces.begin(), kc.ifaces.end(),
                               [&](const Iface &i) { return i.ifindex == idx; });
        if (!dup) kc.ifaces.push_back(Iface{name, idx});
    }
    if (o.cleanup) {
        int total = 0;
        for (const auto &ifc : kc.ifaces) {
            std::string detail;
            int n = cleanup_netlink(ifc.ifindex, detail);
            if (n < 0) {
                log::error("%s: %s", ifc.name.c_str(), detail.c_str());
                return n == -EPERM ? 2 : 1;
            }
            total += n;
        }
        printf("removed %d TC filter%s left by xdpflow\n", total, total == 1 ? "" : "s");
        return 0;
    }
    kc.xdp_mode = o.xdp_mode == "native"    ? XdpMode::Native
                  : o.xdp_mode == "generic" ? XdpMode::Generic
                                            : XdpMode::Auto;
    kc.force = o.force;
    kc.max_flows = static_cast<uint32_t>(o.max_flows);
    kc.sample_n = o.sample > 1 ? static_cast<uint32_t>(o.sample) : 0;
    kc.sample_random = o.sample_random;

    const LadderSpec &spec = ladder();
    LadderRequest req{o.common.mode, family};
    if (std::string e = check_request(spec, req); !e.empty()) return parser.usage_error(e);

    // Signals only ask the loop to stop: the attachments come off on the way out.
    {
        struct sigaction sa {};
        sa.sa_handler = on_stop;
        sigemptyset(&sa.sa_mask);
        for (int s : {SIGINT, SIGTERM, SIGHUP})
            sigaction(s, &sa, nullptr);
    }
    // Another program on an XDP hook: say which, and stop (the ladder would
    // otherwise go on to TC, which the user did not ask for).
    if (o.ingress != "tc" && !o.force && (req.mode.empty() || req.mode != "tc")) {
        for (const auto &ifc : kc.ifaces) {
            std::string what;
            uint32_t id = 0;
            if (describe_xdp(ifc.ifindex, what, &id) == 0 && id) {
                log::error(
                    "%s already has XDP %s; --force replaces it, --ingress tc counts "
                    "beside it",
                    ifc.name.c_str(), what.c_str());
                return 2;
            }
        }
    }
    Trier trier(kc);
    LadderResult result = climb(spec, req, trier, system_features());
    std::vector<std::string> why = describe(spec, result);
    if (!result.ok()) {
        if (trier.refused_for_xdp_program()) {
            for (const auto &a : result.attempts)
                if (!a.ok && !a.skipped && a.err == EBUSY) {
                    log::error("%s", a.reason.c_str());
                    return 2;
                }
        }
        if (!system_features().get(Feature::CapBpf).yes() ||
            !system_features().get(Feature::CapPerfmon).yes() ||
            !system_features().get(Feature::CapNetAdmin).yes()) {
            log::error(
                "missing CAP_BPF/CAP_PERFMON/CAP_NET_ADMIN (CAP_NET_RAW for --capture-mode "
                "afpacket): "
                "run as root, or grant them: %s",
                setcap_line(*spec.find("tc"), self_path(argv[0])).c_str());
            return 2;
        }
        log::error("cannot attach here:");
        for (const auto &l : why)
            fprintf(stderr, "  %s\n", l.c_str());
        log::hint("bpfcheck -t xdpflow says what this kernel can do");
        return 2;
    }
    const ModeSpec &mode = spec.modes[static_cast<size_t>(result.chosen)];
    if (stop_requested()) return 0;

    OutputContext ctx;
    ctx.mode = mode.name;
    ctx.wall_offset_ns = wall_offset_ns();
    ctx.sample_n = kc.sample_n > 1 ? kc.sample_n : 1;
    std::vector<std::pair<unsigned, std::string>> names;
    for (const auto &ifc : kc.ifaces)
        names.push_back({ifc.ifindex, ifc.name});
    ctx.ifname = [names](uint32_t idx) {
        for (const auto &[i, n] : names)
            if (i == idx) return n;
        char buf[IF_NAMESIZE];
        if (if_indextoname(idx, buf)) return std::string(buf);
        return std::to_string(idx);
    };

    std::unique_ptr<IpfixExporter> ipfix;
    if (!o.ipfix.empty()) {
        ipfix = std::make_unique<IpfixExporter>();
        std::string err;
        if (ipfix->open(o.ipfix, ctx, &err)) {
            log::error("--ipfix %s: %s", o.ipfix.c_str(), err.c_str());
            return 1;
        }
    }

    std::unique_ptr<Collector> collector;
    std::unique_ptr<AfPacketFlows> afp;
    if (mode.family == "afpacket") {
        trier.release();
        afp = std::make_unique<AfPacketFlows>();
        std::string err;
        if (int e = afp->open(kc.ifaces, kc.max_flows, kc.sample_n, ctx.wall_offset_ns, &err)) {
            log::error("%s", err.c_str());
            return e == EPERM || e == EACCES ? 2 : 1;
        }
    } else {
        collector = std::make_unique<Collector>(trier.skeleton());
    }
    // Said only once counting has begun: "mode:" means running.
    {
        std::string where;
        for (const auto &a : trier.attached())
            where += (where.empty() ? "" : "; ") + a.iface.name + ": ingress " + a.ingress +
                     ", egress " + a.egress;
        if (mode.family == "afpacket")
            for (const auto &ifc : kc.ifaces)
                where += (where.empty() ? "AF_PACKET capture of " : ", ") + ifc.name;
        std::string refused;
        for (const auto &a : result.attempts) {
            if (a.ok) continue;
            refused += "; " + a.mode + ": " + (a.skipped ? "" : "refused: ") + a.reason;
        }
        fprintf(stderr, "xdpflow: mode: %s (%s%s)\n", mode.name.c_str(), where.c_str(),
                refused.c_str());
        for (size_t i = 1; i < why.size(); i++)
            log::info("%s", why[i].c_str());
        // XDP sees a VLAN tag only inside the frame: one the driver strips
        // or carries beside it (a VLAN device on a veth) is lost to it.
        for (const auto &a : trier.attached()) {
            if (a.ingress.rfind("xdp", 0) != 0) continue;
            std::string vlans = vlan_uppers(a.iface.name);
            if (!vlans.empty())
                log::warn(
                    "%s has VLAN devices (%s): XDP on ingress sees no tag the driver keeps "
                    "outside the frame, and counts such frames as VLAN 0 and 4 bytes "
                    "shorter; --ingress tc counts them under their VLAN",
                    a.iface.name.c_str(), vlans.c_str());
        }
        fflush(stderr);
    }

    FlowTable table;
    bool write_failed = false;
    std::string out;
    auto flush = [&]() {
        if (out.empty() || write_failed) return;
        if (fwrite(out.data(), 1, out.size(), stdout) != out.size() || fflush(stdout) != 0)
            write_failed = true;
        out.clear();
    };
    auto emit = [&](const std::string &line) {
        out += line;
        out += '\n';
    };
    if (!o.common.json) {
        emit(text_header());
        flush();
    }
    const uint64_t idle_ns = static_cast<uint64_t>(std::llround(o.idle_s * 1e9));
    const uint64_t active_ns = static_cast<uint64_t>(std::llround(o.active_s * 1e9));
    const uint64_t template_ns = static_cast<uint64_t>(std::llround(o.template_s * 1e9));
    int scan_err = 0;
    auto report = [&](bool final) -> int {
        uint64_t now = mono_now_ns();
        if (afp) {
            afp->scan(table, now, final ? 0 : idle_ns);
        } else if (int err = collector->scan(table, now, final ? 0 : idle_ns)) {
            scan_err = err;
            return 1;
        }
        std::vector<Record> recs = table.interval(now);
        if (!o.filters.empty())
            recs.erase(
                std::remove_if(recs.begin(), recs.end(),
                               [&](const Record &r) { return !o.filters.pass(r.flow->key); }),
                recs.end());
        std::sort(recs.begin(), recs.end(), [](const Record &a, const Record &b) {
            return a.bytes != b.bytes ? a.bytes > b.bytes : a.packets > b.packets;
        });
        if (o.top > 0 && recs.size() > static_cast<size_t>(o.top))
            recs.resize(static_cast<size_t>(o.top));
        for (const auto &r : recs)
            emit(o.common.json ? json_record(r, ctx, now) : text_record(r, ctx));
        if (ipfix) {
            std::vector<Record> due = table.export_due(now, active_ns, final);
            if (!o.filters.empty())
                due.erase(
                    std::remove_if(due.begin(), due.end(),
                                   [&](const Record &r) { return !o.filters.pass(r.flow->key); }),
                    due.end());
            ipfix->send(due, now, template_ns, final);
        }
        table.collect(ipfix != nullptr);
        flush();
        return write_failed ? 1 : 0;
    };
    LoopOptions lo;
    lo.interval_s = o.interval_s;
    lo.count = o.common.count;
    lo.duration_s = o.common.duration_s;
    std::function<int(int)> poll;
    if (afp) poll = [&](int ms) { return afp->poll(ms); };
    int rc = run_loop(lo, poll, [&](bool) { return report(false); });
    // The programs off first, so the last read is the whole story.
    trier.detach();
    if (afp) afp->drain();
    if (rc == 0 || !scan_err) report(true);
    Totals t = table.totals();
    t.lost_on_expiry = collector ? collector->failed_expiries() : 0;
    t.capture_drops = afp ? afp->drops() : 0;
    emit(o.common.json ? json_summary(t, ctx, mono_now_ns()) : text_summary(t));
    flush();
    if (ipfix && ipfix->errors())
        log::error("%llu IPFIX messages could not be sent: %s",
                   static_cast<unsigned long long>(ipfix->errors()), ipfix->last_error().c_str());
    if (scan_err) {
        log::error("reading the flow table failed: %s", strerror(-scan_err));
        return 1;
    }
    if (write_failed) {
        log::error("cannot write output: %s", strerror(errno));
        return 1;
    }
    return rc ? 1 : 0;
}
