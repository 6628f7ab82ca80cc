// SPDX-License-Identifier: GPL-2.0-only
// netproc: which process is using the network, how much, and to whom.
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "afpacket_collector.h"
#include "ebpf_collector.h"
#include "kernel_features.h"
#include "ladder.h"
#include "log.h"
#include "loop.h"
#include "netproc.skel.h"
#include "netproc_ladder.h"
#include "netproc_view.h"
#include "remote_names.h"
#include "options.h"
#include "privileges.h"
#include "text.h"

using namespace bpfkit;
using namespace bpfkit::netproc;

namespace {

struct Options {
    CommonOptions common;
    bool connections = false;
    bool lines = false;
    std::string prometheus;
    std::set<uint16_t> ports;
    bool v4_only = false, v6_only = false, tcp_only = false, udp_only = false;
    uint64_t cgroup_id = 0;
    uint32_t max_flows = 0;
};

bool want(const Options &o, const Flow &f, const std::string &comm) {
    if (o.v4_only && f.local.family != AF_INET) return false;
    if (o.v6_only && f.local.family != AF_INET6) return false;
    if (o.tcp_only && f.proto != IPPROTO_TCP) return false;
    if (o.udp_only && f.proto != IPPROTO_UDP) return false;
    if (!o.ports.empty() && !o.ports.count(f.lport) && !o.ports.count(f.rport)) return false;
    if (o.cgroup_id && f.cgroup_id != o.cgroup_id) return false;
    if (!o.common.pids.empty()) {
        bool found = false;
        for (int p : o.common.pids)
            found |= static_cast<uint32_t>(p) == f.tgid;
        if (!found) return false;
    }
    if (!o.common.comms.empty()) {
        bool found = false;
        for (const auto &c : o.common.comms)
            found |= c == comm;
        if (!found) return false;
    }
    return true;
}

// eBPF modes: drop everything (CAP_BPF stays only where the kernel checks it
// on every bpf() call, or the counters go unread).
void drop_capabilities_ebpf(const EbpfCollector &c) {
    drop_capabilities_after_bpf([&] { return c.probe_read(); });
}

// Writes a file atomically: a temporary file in the same directory, then rename.
int write_atomic(const std::string &path, const std::string &text, std::string &err) {
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = "cannot create " + tmp + ": " + strerror(errno);
        return errno;
    }
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp.c_str());
            err = "cannot write " + tmp + ": " + strerror(e);
            return e;
        }
        off += static_cast<size_t>(n);
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        err = "cannot replace " + path + ": " + strerror(e);
        return e;
    }
    return 0;
}

std::string now_iso() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return iso8601_utc(ts);
}

}  // namespace

int main(int argc, char **argv) {
    Options o;
    // Installed as bpfkit-netproc where the packages rename it (options.h).
    const std::string cmd = command_name("netproc");
    const std::string epilog =
        "Modes, best first: fentry, kprobe, tracepoint (eBPF, counting socket payload in the\n"
        "kernel per process) and afpacket (frames matched to processes through /proc).\n"
        "\n"
        "A cron snapshot: " +
        cmd +
        " --json --duration 5\n"
        "\n"
        "Exit status: 0 ok; 1 runtime failure; 2 usage error, missing privileges, or no mode\n"
        "can run here (bpfcheck says why).\n"
        "\n"
        "See " +
        cmd + "(8).";
    ToolInfo info{cmd.c_str(), "[OPTIONS]",
                  "Which process is using the network, how much, and to whom.", epilog.c_str()};
    OptionParser parser(info, kHelp | kVersion | kVerbose | kJson | kInterval | kCount | kDuration |
                                  kPid | kComm | kCgroup | kMode);
    parser.describe(kMode, "force one mode: fentry, kprobe, tracepoint or afpacket (as --hooks)",
                    "MODE");
    auto flag = [&](const char *name, int short_name, const char *help, bool &target) {
        parser.add(ToolOption{name, short_name, false, nullptr, help,
                              [&target](const char *, std::string &) {
                                  target = true;
                                  return true;
                              }});
    };
    std::string family;
    for (auto &opt : ladder_options(ladder(), o.common.mode, family))
        parser.add(std::move(opt));
    flag("connections", 0, "one row per connection instead of per process", o.connections);
    flag("lines", 0, "plain lines even on a terminal (no refreshing screen)", o.lines);
    parser.add(ToolOption{"prometheus", 0, true, "FILE",
                          "also write a node_exporter textfile each interval (atomically)",
                          [&](const char *arg, std::string &) {
                              o.prometheus = arg;
                              return true;
                          }});
    parser.add(port_option(o.ports, "only traffic on this local or remote port (repeatable)"));
    flag("ipv4", '4', "only IPv4", o.v4_only);
    flag("ipv6", '6', "only IPv6", o.v6_only);
    flag("tcp", 0, "only TCP", o.tcp_only);
    flag("udp", 0, "only UDP", o.udp_only);
    parser.add(ToolOption{
        "max-flows", 0, true, "N",
        "size of the in-kernel flow table (default 16384); updates that find it full are counted",
        [&](const char *arg, std::string &err) {
            long v;
            if (!parse_positive_long(arg, 1 << 24, v)) {
                err = "expected a number of flows from 1 to 16777216";
                return false;
            }
            o.max_flows = static_cast<uint32_t>(v);
            return true;
        }});
    if (auto code = parser.parse(argc, argv, o.common)) return *code;
    log::init(argv[0], o.common.verbose);

    if (o.v4_only && o.v6_only) return parser.usage_error("-4 and -6 exclude each other");
    if (o.tcp_only && o.udp_only) return parser.usage_error("--tcp and --udp exclude each other");
    for (int pid : o.common.pids) {
        if (!process_alive(static_cast<uint32_t>(pid)))
            return parser.usage_error("no process with pid " + std::to_string(pid));
    }
    if (!o.common.cgroup.empty()) {
        struct stat st;
        if (stat(o.common.cgroup.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            return parser.usage_error("--cgroup " + o.common.cgroup + ": not a cgroup directory (" +
                                      strerror(errno) + ")");
        o.cgroup_id = st.st_ino;  // a cgroup v2 directory's inode number is its cgroup id
    }
    if (!o.prometheus.empty()) {
        std::string err;
        if (write_atomic(o.prometheus, "", err)) {
            log::error("--prometheus: %s", err.c_str());
            log::hint(
                "give a path in a directory netproc may write to (node_exporter's textfile "
                "directory)");
            return 2;
        }
    }

    const LadderSpec &spec = ladder();
    LadderRequest req{o.common.mode, family};
    if (std::string e = check_request(spec, req); !e.empty()) return parser.usage_error(e);
    KernelFilter kfilter;
    if (o.common.pids.size() == 1) kfilter.tgid = static_cast<uint32_t>(o.common.pids[0]);
    kfilter.max_flows = o.max_flows;
    auto trier = make_trier(kfilter);
    LadderResult result = climb(spec, req, *trier, system_features());
    std::vector<std::string> why = describe(spec, result);
    if (!result.ok()) {
        log::error("cannot run on this kernel:");
        for (const auto &l : why)
            fprintf(stderr, "  %s\n", l.c_str());
        log::hint("bpfcheck -t netproc says the same with the fixes");
        return 2;
    }
    const ModeSpec &mode = spec.modes[static_cast<size_t>(result.chosen)];
    // Remote names from DNS answers; opened while CAP_NET_RAW is still held.
    RemoteNames names;
    if (std::string err; names.open(&err) != 0) log::info("remote names off: %s", err.c_str());
    // The two families differ only in how a snapshot is made.
    std::function<Snapshot(double)> read_snapshot;
    std::function<int(int)> poll;
    std::unique_ptr<EbpfCollector> ebpf;
    std::unique_ptr<AfPacketCollector> afpacket;
    std::string layer = "socket payload";
    if (mode.family == "ebpf") {
        ebpf = std::make_unique<EbpfCollector>(static_cast<netproc_bpf *>(trier->skeleton()));
        read_snapshot = [&](double s) { return ebpf->read(s); };
        drop_capabilities_ebpf(*ebpf);
    } else {
        trier->release();
        afpacket = std::make_unique<AfPacketCollector>();
        std::string err;
        if (int e = afpacket->open(&err)) {
            log::error("%s", err.c_str());
            return e == EPERM || e == EACCES ? 2 : 1;
        }
        read_snapshot = [&](double s) { return afpacket->read(s); };
        layer = "frame";
        // matching frames to processes reads other users' /proc/PID/fd, which
        // needs CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE.
        keep_only_capabilities({CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE});
    }

    // Waits for frames (afpacket mode) and DNS answers; the AF_PACKET
    // collector wants to be called often, for the scans it put off.
    poll = [&](int ms) -> int {
        pollfd fds[2];
        nfds_t n = 0;
        if (afpacket) fds[n++] = pollfd{afpacket->fd(), POLLIN, 0};
        if (names.is_open()) fds[n++] = pollfd{names.fd(), POLLIN, 0};
        if (afpacket) ms = std::min(ms, 50);
        if (n == 0) {
            timespec ts{ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, nullptr);
            return 0;
        }
        if (::poll(fds, n, ms) < 0) return errno == EINTR ? -EINTR : -errno;
        if (afpacket)
            if (int rc = afpacket->poll(0); rc < 0 && rc != -EINTR) return rc;
        if (names.is_open()) names.poll(0);
        return 0;
    };

    // Said only now that counting has begun, so "mode:" means running; the
    // stop handlers are in place first, so a SIGINT right after "mode:" is
    // never lost (a background job of a shell starts with SIGINT ignored).
    install_stop_handlers();
    for (const auto &l : why)
        log::info("%s", l.c_str());
    ProcessResolver resolver;
    std::map<uint32_t, Counters> totals;
    std::map<uint32_t, ProcessRow>
        known;  // for the Prometheus file: every process seen, until it exits

    LoopOptions lo;
    lo.interval_s = o.common.interval_s > 0 ? o.common.interval_s : 1.0;
    lo.count = o.common.count;
    lo.duration_s = o.common.duration_s;
    if (o.common.duration_s > 0 && o.common.interval_s <= 0 && o.common.count == 0) {
        lo.interval_s = o.common.duration_s;  // one snapshot of the whole duration
        lo.count = 1;
    }
    const bool tty = isatty(STDOUT_FILENO) && !o.lines && !o.common.json;
    timespec last;
    clock_gettime(CLOCK_MONOTONIC, &last);

    int rc = run_loop(lo, poll, [&](bool) {
        timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = static_cast<double>(now.tv_sec - last.tv_sec) +
                         static_cast<double>(now.tv_nsec - last.tv_nsec) / 1e9;
        last = now;
        Snapshot s = read_snapshot(elapsed);
        if (ebpf && ebpf->error()) {
            log::error("cannot read the counters: %s", strerror(ebpf->error()));
            return 1;
        }
        // Filters that the kernel did not apply.
        std::vector<Flow> kept;
        for (auto &f : s.flows) {
            auto n = s.names.find(f.tgid);
            std::string comm = n != s.names.end() && n->second.known ? n->second.comm : "";
            if (!o.common.comms.empty() && process_alive(f.tgid))
                if (auto c =
                        resolver
                            .describe(f.tgid, n == s.names.end() ? ProcName{} : n->second, false)
                            .comm;
                    !c.empty())
                    comm = c;
            if (want(o, f, comm)) kept.push_back(f);
        }
        s.flows = std::move(kept);
        ViewContext ctx{mode.name, layer, elapsed, now_iso(), [&](const pkt::IpAddr &a) {
                            return names.is_open() ? names.lookup(a) : std::nullopt;
                        }};
        std::vector<ProcessRow> rows = process_rows(s, resolver, totals);
        std::string out;
        if (o.common.json) {
            for (const auto &l :
                 o.connections ? json_connections(ctx, s, resolver) : json_processes(ctx, rows))
                out += l + "\n";
            out += json_totals(ctx, s) + "\n";
        } else {
            if (tty) out += "\033[H\033[2J";
            out +=
                o.connections ? text_connections(ctx, s, resolver) : text_processes(ctx, rows, s);
            if (!tty) out += "\n";
        }
        if (fwrite(out.data(), 1, out.size(), stdout) != out.size() || fflush(stdout) != 0) {
            log::error("cannot write output: %s", strerror(errno));
            return 1;
        }
        if (!o.prometheus.empty()) {
            for (const auto &r : rows)
                known[r.pid] = r;
            std::vector<ProcessRow> all;
            for (const auto &[pid, r] : known)
                all.push_back(r);
            std::string err;
            if (write_atomic(o.prometheus, prometheus_text(ctx, all, s), err))
                log::warn("%s", err.c_str());
            for (uint32_t pid : s.exited)
                known.erase(pid);
        }
        return 0;
    });
    if (names.is_open())
        log::info("remote names: %llu DNS responses seen, %llu malformed",
                  static_cast<unsigned long long>(names.responses()),
                  static_cast<unsigned long long>(names.malformed()));
    if (rc < 0) {
        log::error("reading the counters failed: %s", strerror(-rc));
        return 1;
    }
    return rc ? 1 : 0;
}
