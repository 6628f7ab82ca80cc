// SPDX-License-Identifier: GPL-2.0-only
// dnssnoop: every DNS query and answer on this host, its latency, and the
// process that asked.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dns.h"
#include "dnssnoop.h"
#include "dnssnoop.skel.h"
#include "dnssnoop_capture.h"
#include "dnssnoop_hold.h"
#include "dnssnoop_ladder.h"
#include "dnssnoop_output.h"
#include "dnssnoop_procs.h"
#include "dnssnoop_tracker.h"
#include "kernel_features.h"
#include "ladder.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "privileges.h"
#include "text.h"

using namespace bpfkit;
using namespace bpfkit::dnssnoop;

namespace {

constexpr uint16_t kDotPort = 853;
// How long a record may wait for its process to show in /proc.
constexpr uint64_t kOwnerWaitNs = 250'000'000;

struct Options {
    CommonOptions common;
    std::vector<std::string> names;
    std::set<uint16_t> qtypes;
    std::set<uint16_t> rcodes;
    std::vector<uint16_t> ports;
    double timeout_s = 5.0;
    bool queries = false;
    bool summary = false;
};

std::optional<uint16_t> parse_rcode(const std::string &s) {
    long v;
    if (parse_positive_long(s, 4095, v)) return static_cast<uint16_t>(v);
    if (s == "0") return 0;
    std::string up = s;
    for (auto &c : up)
        c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    for (uint16_t r = 0; r < 4096; r++)
        if (dns::rcode_name(r) == up) return r;
    return std::nullopt;
}

std::optional<uint16_t> parse_qtype(const std::string &s) {
    long v;
    if (parse_positive_long(s, 65535, v)) return static_cast<uint16_t>(v);
    return dns::type_from_name(s);
}

// Whether a record passes the filters (the pid, comm, name, type and rcode asked for).
bool wanted(const Options &o, const Event &e) {
    if (!o.common.pids.empty()) {
        if (!e.owner.known) return false;
        if (std::find(o.common.pids.begin(), o.common.pids.end(), static_cast<int>(e.owner.pid)) ==
            o.common.pids.end())
            return false;
    }
    if (!o.common.comms.empty()) {
        if (!e.owner.known) return false;
        if (std::find(o.common.comms.begin(), o.common.comms.end(), e.owner.comm) ==
            o.common.comms.end())
            return false;
    }
    const bool dns_filters = !o.names.empty() || !o.qtypes.empty() || !o.rcodes.empty();
    if (!dns_filters) return true;
    if (e.kind == EventKind::Malformed || e.kind == EventKind::Dot) return false;
    const dns::Message *m = e.query ? &*e.query : e.response ? &*e.response : nullptr;
    const dns::Question *q = m && !m->questions.empty() ? &m->questions.front() : nullptr;
    if (!o.names.empty()) {
        if (!q) return false;
        std::string name = q->name.presentation();
        bool any = false;
        for (const auto &n : o.names)
            any |= name_has_suffix(name, n);
        if (!any) return false;
    }
    if (!o.qtypes.empty() && (!q || !o.qtypes.count(q->type))) return false;
    if (!o.rcodes.empty()) {
        if (!e.response || !o.rcodes.count(e.response->rcode)) return false;
    }
    return true;
}

}  // namespace

int main(int argc, char **argv) {
    Options o;
    ToolInfo info{
        "dnssnoop", "[OPTIONS]",
        "Every DNS query and answer on this host, its latency, and the process that asked.",
        "Modes, best first: fentry, kprobe, cgroup (eBPF: DNS packets copied by cgroup_skb on\n"
        "the root cgroup, the process named in the kernel where its socket sends) and afpacket\n"
        "(AF_PACKET capture, processes from /proc). Port 853 (DNS over TLS) is always watched:\n"
        "its connections are shown, their content is not decoded.\n"
        "\n"
        "Exit status: 0 ok; 1 runtime failure; 2 usage error, missing privileges, or no mode\n"
        "can run here (bpfcheck says why).\n"
        "\n"
        "See dnssnoop(8)."};
    OptionParser parser(info,
                        kHelp | kVersion | kVerbose | kJson | kCount | kDuration | kPid | kComm);
    parser.describe(kCount, "stop after N transaction lines (answers and timeouts)", "N");
    parser.describe(kPid, "only queries of these processes (tgid; repeatable, comma-separated)",
                    "PID");
    auto flag = [&](const char *name, const char *help, bool &target) {
        parser.add(
            ToolOption{name, 0, false, nullptr, help, [&target](const char *, std::string &) {
                           target = true;
                           return true;
                       }});
    };
    parser.add(ToolOption{"name", 0, true, "SUFFIX",
                          "only names ending in SUFFIX, at a label boundary (repeatable)",
                          [&](const char *arg, std::string &err) {
                              if (!*arg) {
                                  err = "expected a domain name";
                                  return false;
                              }
                              o.names.push_back(arg);
                              return true;
                          }});
    parser.add(ToolOption{"qtype", 0, true, "TYPE",
                          "only this query type: a name (A, AAAA, TYPE65) or a number (repeatable)",
                          [&](const char *arg, std::string &err) {
                              auto t = parse_qtype(arg);
                              if (!t) {
                                  err = "expected a type name like AAAA, or a number";
                                  return false;
                              }
                              o.qtypes.insert(*t);
                              return true;
                          }});
    parser.add(ToolOption{"rcode", 0, true, "RCODE",
                          "only answers with this rcode: NOERROR, NXDOMAIN, SERVFAIL, ... or a "
                          "number (repeatable)",
                          [&](const char *arg, std::string &err) {
                              auto r = parse_rcode(arg);
                              if (!r) {
                                  err = "expected an rcode name like NXDOMAIN, or a number";
                                  return false;
                              }
                              o.rcodes.insert(*r);
                              return true;
                          }});
    parser.add(ToolOption{"port", 0, true, "PORT",
                          "watch this server port for DNS (repeatable; default 53)",
                          [&](const char *arg, std::string &err) {
                              long v;
                              if (!parse_positive_long(arg, 65535, v)) {
                                  err = "expected a port number 1-65535";
                                  return false;
                              }
                              if (v == kDotPort) {
                                  err = "853 is DNS over TLS, always watched (not decoded)";
                                  return false;
                              }
                              auto p = static_cast<uint16_t>(v);
                              if (std::find(o.ports.begin(), o.ports.end(), p) == o.ports.end())
                                  o.ports.push_back(p);
                              return true;
                          }});
    parser.add(ToolOption{"timeout", 0, true, "SECS",
                          "report a query unanswered after this long as a timeout (default 5)",
                          [&](const char *arg, std::string &err) {
                              if (!parse_seconds(arg, false, o.timeout_s) || o.timeout_s > 3600) {
                                  err = "expected seconds, from 0.001 to 3600";
                                  return false;
                              }
                              if (o.timeout_s < 0.001) {
                                  err = "expected seconds, from 0.001 to 3600";
                                  return false;
                              }
                              return true;
                          }});
    flag("queries", "also print each query as it leaves", o.queries);
    flag("summary", "at exit, print top names, top processes, rcodes and latency percentiles",
         o.summary);
    std::string family;
    for (auto &opt : ladder_options(ladder(), o.common.mode, family))
        parser.add(std::move(opt));
    // A usage error is one line: what is wrong, and the pointer to --help.
    auto usage_error = [](const std::string &msg) {
        fprintf(stderr, "dnssnoop: %s (see dnssnoop --help)\n", msg.c_str());
        return 2;
    };
    {
        char *buf = nullptr;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (mem) parser.set_streams(stdout, mem);
        std::optional<int> code = parser.parse(argc, argv, o.common);
        if (mem) fclose(mem);
        std::string err = buf ? std::string(buf, len) : "";
        free(buf);
        if (code) {
            if (*code == 0) return 0;
            std::string first = err.substr(0, err.find('\n'));
            const std::string prefix = "dnssnoop: ";
            if (first.compare(0, prefix.size(), prefix) == 0) first.erase(0, prefix.size());
            return usage_error(first);
        }
    }
    log::init(argv[0], o.common.verbose);
    if (o.ports.empty()) o.ports.push_back(53);
    if (o.ports.size() > DNSSNOOP_MAX_PORTS - 1)
        return usage_error("at most " + std::to_string(DNSSNOOP_MAX_PORTS - 1) + " --port values");
    for (int pid : o.common.pids)
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return usage_error("-p " + std::to_string(pid) + ": no such process");

    // Watched: the DNS ports, and DoT.
    std::vector<uint16_t> watch = o.ports;
    watch.push_back(kDotPort);

    const LadderSpec &spec = ladder();
    LadderRequest req{o.common.mode, family};
    if (std::string e = check_request(spec, req); !e.empty()) return usage_error(e);
    KernelConfig kc;
    kc.ports = watch;
    kc.snap_len = DNSSNOOP_SNAP_MAX;
    EventTransport transport = EventTransport::Ringbuf;
    auto trier = make_trier(kc, &transport);
    LadderResult result = climb(spec, req, *trier, system_features());
    if (!result.ok()) return report_no_mode(spec, req, result, "cgroup", argv[0]);
    const ModeSpec &mode = spec.modes[static_cast<size_t>(result.chosen)];

    OutputContext ctx;
    ctx.mode = mode.name;
    ctx.wall_offset_ns = wall_offset_ns();

    RunStats run;
    Summary summary;
    LineBuffer out;  // written after each batch

    ProcResolver procs;
    TrackerOptions topts;
    topts.ports = o.ports;
    topts.dot_port = kDotPort;
    topts.timeout_ns = static_cast<uint64_t>(std::llround(o.timeout_s * 1e9));
    long printed = 0;
    auto print = [&](Event &&e) {
        if (!wanted(o, e)) return;
        if (o.common.count > 0 && printed >= o.common.count) return;
        switch (e.kind) {
            case EventKind::Answer:
                ++run.transactions;
                run.retransmits += e.retransmits;
                ++printed;
                break;
            case EventKind::Timeout:
                ++run.timeouts;
                run.retransmits += e.retransmits;
                ++printed;
                break;
            case EventKind::Unmatched:
                ++run.unmatched;
                break;
            default:
                break;
        }
        if (o.summary) summary.add(e);
        out.line(o.common.json ? json_event(e, ctx) : text_event(e, ctx));
        if (o.common.count > 0 && printed >= o.common.count) request_stop();
    };
    // A record whose process /proc did not show yet waits for a later scan.
    OwnerWait owner_wait(
        kOwnerWaitNs, [&](Event &e) { procs.resolve(e.owner, e.proto, e.client, e.server); },
        print);
    Tracker tracker(
        topts,
        [&](Event &&e) {
            if (e.kind == EventKind::Query && !o.queries) return;
            owner_wait.push(std::move(e), mono_now_ns());
        },
        [&](Owner &ow, uint8_t proto, const Endpoint &client, const Endpoint &server) {
            procs.resolve(ow, proto, client, server);
        });

    std::unique_ptr<EbpfCapture> ebpf;
    std::unique_ptr<AfPacketCapture> afp;
    auto handle = [&](const CapturedPacket &p) { tracker.packet(p); };
    if (mode.family == "ebpf") {
        ebpf = std::make_unique<EbpfCapture>();
        if (int err =
                ebpf->open(static_cast<dnssnoop_bpf *>(trier->skeleton()), transport, handle)) {
            log::error("cannot read the events: %s", strerror(-err));
            return 1;
        }
        // Matching sockets to processes from /proc (sockets opened before
        // the start) reads other users' /proc/PID/fd.
        drop_capabilities_after_bpf([&] { return ebpf->probe_read(); },
                                    {CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE});
    } else {
        trier->release();
        afp = std::make_unique<AfPacketCapture>();
        std::string err;
        if (int e = afp->open(watch, &err)) {
            log::error("%s", err.c_str());
            return e == EPERM || e == EACCES ? 2 : 1;
        }
        keep_only_capabilities({CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE});
    }

    // Before "mode:": a SIGINT right after it is never lost (a shell's
    // background job starts with SIGINT ignored).
    install_stop_handlers();
    // Said only now that capture has begun: "mode:" means running.
    say_mode(spec, result);
    if (!o.common.json) {
        out.line(text_header(ctx));
        out.flush();
    }

    LoopOptions lo;
    lo.interval_s = 0.1;  // timeouts are looked for this often
    lo.duration_s = o.common.duration_s;
    int rc = run_loop(
        lo,
        [&](int ms) -> int {
            int r = ebpf ? ebpf->poll(ms) : afp->poll(ms, handle);
            if (owner_wait.waiting()) owner_wait.flush(mono_now_ns());
            out.flush();
            return r;
        },
        [&](bool) {
            tracker.sweep(mono_now_ns());
            owner_wait.flush(mono_now_ns());
            out.flush();
            return out.failed() ? 1 : 0;
        });
    // What the kernel captured before the stop and was not read yet (an
    // AF_PACKET block is handed over within two of its 10 ms timeouts), then
    // the timeouts that are due by now.
    if (rc == 0) {
        if (ebpf) {
            ebpf->poll(0);
        } else {
            afp->drain(500, handle);
        }
        tracker.sweep(mono_now_ns());
    }
    owner_wait.flush(mono_now_ns(), true);

    // The end: pending queries whose timeout passed were reported by the
    // last sweep; then what was lost, and the summary.
    const TrackerStats &ts = tracker.stats();
    run.malformed = ts.malformed;
    run.pending_evicted = ts.pending_evicted;
    run.tcp_gaps = ts.tcp_gaps;
    if (ebpf) {
        KernelStats k = ebpf->stats();
        run.ring_drops = k.ring_drops;
        run.truncated = k.truncated;
        run.no_owner = k.no_owner;
    } else {
        AfPacketStats a = afp->stats();
        // dropped because the ring was full, or captured and still unread
        // when the drain's budget ran out
        run.ring_drops = a.drops + a.unread;
        run.truncated = ts.truncated;
        run.no_owner = procs.misses();
    }
    const uint64_t now = mono_now_ns();
    if (o.summary) out.line(o.common.json ? summary.json(ctx, now) : summary.text());
    out.line(o.common.json ? json_stats(run, ctx, now) : text_stats(run));
    out.flush();
    log::info("%llu packets, %llu DNS messages, %llu left pending, %llu /proc lookups",
              static_cast<unsigned long long>(ts.packets),
              static_cast<unsigned long long>(ts.messages),
              static_cast<unsigned long long>(tracker.pending()),
              static_cast<unsigned long long>(procs.lookups()));
    if (out.failed()) {
        log::error("cannot write output: %s", strerror(errno));
        return 1;
    }
    if (rc < 0) {
        log::error("reading the events failed: %s", strerror(-rc));
        return 1;
    }
    return rc ? 1 : 0;
}
