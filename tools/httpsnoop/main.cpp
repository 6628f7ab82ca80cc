// SPDX-License-Identifier: GPL-2.0-only
// httpsnoop: HTTP requests and responses per process, TLS included, with
// their latency.
#include <signal.h>
#include <sys/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "httpsnoop.h"
#include "httpsnoop.skel.h"
#include "httpsnoop_capture.h"
#include "httpsnoop_ladder.h"
#include "httpsnoop_output.h"
#include "httpsnoop_tracker.h"
#include "kernel_features.h"
#include "ladder.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "privileges.h"
#include "text.h"
#include "procfs.h"

using namespace bpfkit;
using namespace bpfkit::httpsnoop;

namespace {

struct Options {
    CommonOptions common;
    std::set<uint16_t> ports;
    std::set<std::string> methods;
    std::vector<std::pair<int, int>> statuses;  // [lo, hi] ranges
    double min_latency_ms = 0;
    uint32_t max_capture = 512;
    size_t body = 0;
    bool no_query = false;
    bool tls = true;
    double timeout_s = 10.0;
};

bool wanted(const Options &o, const Record &r) {
    if (!o.common.pids.empty() && std::find(o.common.pids.begin(), o.common.pids.end(),
                                            static_cast<int>(r.conn.pid)) == o.common.pids.end())
        return false;
    if (!o.common.comms.empty() && std::find(o.common.comms.begin(), o.common.comms.end(),
                                             r.conn.comm.view()) == o.common.comms.end())
        return false;
    if (!o.ports.empty() && !o.ports.count(r.conn.lport) && !o.ports.count(r.conn.rport))
        return false;
    if (!o.methods.empty() && (!r.request || !o.methods.count(r.request->method))) return false;
    if (!o.statuses.empty()) {
        if (!r.response) return false;
        bool any = false;
        for (auto [lo, hi] : o.statuses)
            any |= r.response->status >= lo && r.response->status <= hi;
        if (!any) return false;
    }
    if (o.min_latency_ms > 0 && r.kind == RecordKind::Exchange &&
        static_cast<double>(r.latency_ns) < o.min_latency_ms * 1e6)
        return false;
    return true;
}

// A process's container (id or name), looked up once per pid.
class Containers {
  public:
    const std::string &of(uint32_t pid) {
        auto it = cache_.find(pid);
        if (it != cache_.end()) return it->second;
        if (cache_.size() > 4096) cache_.clear();
        std::string c;
        if (auto cg = procfs::cgroup_path(static_cast<int>(pid))) {
            procfs::CgroupIdentity id = procfs::classify_cgroup(*cg);
            c = !id.container_id.empty() ? id.container_id : id.container_name;
        }
        return cache_[pid] = c;
    }

  private:
    std::map<uint32_t, std::string> cache_;
};

}  // namespace

int main(int argc, char **argv) {
    Options o;
    ToolInfo info{
        "httpsnoop", "[OPTIONS]",
        "HTTP requests and responses per process, TLS included, with their latency.",
        "Modes, best first: fentry (BPF trampolines on the followed syscalls' wrappers),\n"
        "kprobe (kprobes on the same), socket (the sock:sock_send_length and\n"
        "sock_recv_length tracepoints, Linux 6.3+), raw_syscalls (raw tracepoints on every\n"
        "syscall, filtered by number) and tracepoint (the syscalls:* read/write tracepoints;\n"
        "needs tracefs). Whichever runs, TLS plaintext comes from uprobes on OpenSSL's\n"
        "SSL_read/SSL_write(_ex) and GnuTLS's gnutls_record_recv/send in every such library\n"
        "found. Header values are never shown (Authorization, Cookie and the like included);\n"
        "bodies only with --body.\n"
        "\n"
        "Exit status: 0 ok; 1 runtime failure; 2 usage error, missing privileges, or no mode\n"
        "can run here (bpfcheck says why).\n"
        "\n"
        "See httpsnoop(8)."};
    OptionParser parser(info,
                        kHelp | kVersion | kVerbose | kJson | kCount | kDuration | kPid | kComm);
    parser.describe(kCount, "stop after N records", "N");
    parser.describe(kPid, "only these processes (tgid; repeatable, comma-separated)", "PID");
    parser.add(
        port_option(o.ports, "only connections with this local or remote port (repeatable)"));
    parser.add(ToolOption{"method", 0, true, "METHOD", "only this request method (repeatable)",
                          [&](const char *arg, std::string &err) {
                              std::string m = arg;
                              if (m.empty() || m.size() > 32) {
                                  err = "expected a method like GET";
                                  return false;
                              }
                              for (auto &ch : m)
                                  ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
                              o.methods.insert(m);
                              return true;
                          }});
    parser.add(ToolOption{"status", 0, true, "CODE",
                          "only responses with this status: 404, or a class like 5xx (repeatable)",
                          [&](const char *arg, std::string &err) {
                              std::string s = arg;
                              if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' &&
                                  (s.substr(1) == "xx" || s.substr(1) == "XX")) {
                                  int lo = (s[0] - '0') * 100;
                                  o.statuses.push_back({lo, lo + 99});
                                  return true;
                              }
                              long v;
                              if (s.size() == 3 && parse_positive_long(s, 999, v) && v >= 100) {
                                  o.statuses.push_back({static_cast<int>(v), static_cast<int>(v)});
                                  return true;
                              }
                              err = "expected a status like 404 or a class like 5xx";
                              return false;
                          }});
    parser.add(ToolOption{"min-latency", 0, true, "MS",
                          "only exchanges slower than this many milliseconds",
                          [&](const char *arg, std::string &err) {
                              double s;
                              if (!parse_seconds(arg, false, s) || s > 3.6e6) {
                                  err = "expected milliseconds, like 100 or 0.5";
                                  return false;
                              }
                              o.min_latency_ms = s;
                              return true;
                          }});
    parser.add(ToolOption{"max-capture", 0, true, "BYTES",
                          "bytes copied from each read or write (default 512, at most 4096)",
                          [&](const char *arg, std::string &err) {
                              long v;
                              if (!parse_positive_long(arg, HTTPSNOOP_CAP_MAX, v) || v < 64) {
                                  err = "expected 64 to 4096";
                                  return false;
                              }
                              o.max_capture = static_cast<uint32_t>(v);
                              return true;
                          }});
    parser.add(ToolOption{"body", 0, true, "N",
                          "show the first N bytes of each body (JSON; captured bytes only)",
                          [&](const char *arg, std::string &err) {
                              long v;
                              if (!parse_positive_long(arg, HTTPSNOOP_CAP_MAX, v)) {
                                  err = "expected 1 to 4096";
                                  return false;
                              }
                              o.body = static_cast<size_t>(v);
                              return true;
                          }});
    parser.add(ToolOption{"no-query", 0, false, nullptr, "cut query strings from paths",
                          [&](const char *, std::string &) {
                              o.no_query = true;
                              return true;
                          }});
    parser.add(ToolOption{"tls", 0, true, "on|off",
                          "follow TLS libraries with uprobes (default on)",
                          [&](const char *arg, std::string &err) {
                              std::string v = arg;
                              if (v != "on" && v != "off") {
                                  err = "expected on or off";
                                  return false;
                              }
                              o.tls = v == "on";
                              return true;
                          }});
    parser.add(ToolOption{"timeout", 0, true, "SECS",
                          "report a request with no response after this long (default 10)",
                          [&](const char *arg, std::string &err) {
                              if (!parse_seconds(arg, false, o.timeout_s) || o.timeout_s > 3600 ||
                                  o.timeout_s < 0.01) {
                                  err = "expected seconds, from 0.01 to 3600";
                                  return false;
                              }
                              return true;
                          }});
    std::string family;
    for (auto &opt : ladder_options(ladder(), o.common.mode, family))
        parser.add(std::move(opt));
    if (std::optional<int> code = parser.parse(argc, argv, o.common)) return *code;
    log::init(argv[0], o.common.verbose);
    for (int pid : o.common.pids)
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return parser.usage_error("-p " + std::to_string(pid) + ": no such process");
    if (o.body > o.max_capture)
        o.max_capture = static_cast<uint32_t>(std::min<size_t>(o.body + 512, HTTPSNOOP_CAP_MAX));

    const LadderSpec &spec = ladder();
    LadderRequest req{o.common.mode, family};
    if (std::string e = check_request(spec, req); !e.empty()) return parser.usage_error(e);
    KernelConfig kc;
    kc.max_capture = o.max_capture;
    kc.tls = o.tls;
    kc.self_tgid = static_cast<uint32_t>(getpid());
    EventTransport transport = EventTransport::Ringbuf;
    auto trier = make_trier(kc, &transport);
    LadderResult result = climb(spec, req, *trier, system_features());
    if (!result.ok()) return report_no_mode(spec, req, result, "raw_syscalls", argv[0]);
    const ModeSpec &mode = spec.modes[static_cast<size_t>(result.chosen)];

    OutputContext ctx;
    ctx.mode = mode.name;
    ctx.wall_offset_ns = wall_offset_ns();
    ctx.no_query = o.no_query;
    ctx.body = o.body > 0;

    LineBuffer out;

    Containers containers;
    long printed = 0;
    TrackerOptions topts;
    topts.timeout_ns = static_cast<uint64_t>(std::llround(o.timeout_s * 1e9));
    topts.body_keep = o.body;
    Tracker tracker(topts, [&](Record &&r) {
        if (!wanted(o, r)) return;
        if (o.common.count > 0 && printed >= o.common.count) return;
        ++printed;
        const std::string &c = containers.of(r.conn.pid);
        if (o.common.json)
            out.build([&](std::string &b) { json_record_append(b, r, ctx, c); });
        else
            out.line(text_record(r, ctx, c));
        if (o.common.count > 0 && printed >= o.common.count) request_stop();
    });

    Capture cap;
    if (int err = cap.open(
            static_cast<httpsnoop_bpf *>(trier->skeleton()), transport,
            [&](const DataEvent &e) { tracker.data(e); },
            [&](uint32_t tgid, int32_t fd, uint64_t sk, uint64_t ts) {
                tracker.close(tgid, fd, sk, ts);
            })) {
        log::error("cannot read the events: %s", strerror(-err));
        return 1;
    }
    if (o.tls) {
        cap.attach_tls_system();
        cap.scan_processes();
    }
    // Reading other processes' maps for TLS libraries needs these.
    drop_capabilities_after_bpf(
        [&] { return cap.probe_read(); },
        {CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN});

    // Before "mode:": a SIGINT right after it is never lost (a shell's
    // background job starts with SIGINT ignored).
    install_stop_handlers();
    say_mode(spec, result,
             "; tls: " + (o.tls ? std::to_string(cap.tls_libraries()) + " libraries" : "off"));
    if (!o.common.json) {
        out.line(text_header(ctx));
        out.flush();
    }

    LoopOptions lo;
    lo.interval_s = 0.1;
    lo.duration_s = o.common.duration_s;
    uint64_t last_scan = mono_now_ns();
    uint64_t drops_shown = 0;
    auto show_drops = [&](uint64_t now) {
        RunStats s;
        cap.stats(s);
        if (s.ring_drops > drops_shown) {
            uint64_t d = s.ring_drops - drops_shown;
            drops_shown = s.ring_drops;
            out.line(o.common.json ? json_lost(d, drops_shown, ctx, now)
                                   : text_lost(d, drops_shown));
        }
    };
    int rc = run_loop(
        lo,
        [&](int ms) -> int {
            int r = cap.poll(ms);
            out.flush();
            return r;
        },
        [&](bool) {
            uint64_t now = mono_now_ns();
            tracker.sweep(now);
            if (o.tls && now - last_scan >= 1'000'000'000ULL) {
                cap.scan_processes();
                last_scan = now;
            }
            show_drops(now);
            out.flush();
            return out.failed() ? 1 : 0;
        });
    if (rc == 0) cap.finish();
    const uint64_t now = mono_now_ns();
    show_drops(now);
    tracker.finish(now);
    RunStats s;
    cap.stats(s);
    s.tracker = tracker.stats();
    out.line(o.common.json ? json_stats(s, ctx, now) : text_stats(s));
    out.flush();
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
