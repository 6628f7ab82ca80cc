// SPDX-License-Identifier: GPL-2.0-only
// stackprof: samples what the CPUs are doing, with kernel and user stacks,
// and prints where the time goes: folded stacks, JSON, the top functions or
// an SVG flame graph. Symbols are looked up locally at the end of the run.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "json.h"
#include "kernel_features.h"
#include "ladder.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "stackprof.h"
#include "stackprof.skel.h"
#include "stackprof_ladder.h"
#include "stackprof_output.h"
#include "stackprof_symbols.h"
#include "text.h"

using namespace bpfkit;
using namespace bpfkit::stackprof;

namespace {

struct Options {
    CommonOptions common;
    long hz = 49;
    std::string event = "cpu-clock";
    std::vector<int> tids;
    bool kernel_only = false;
    bool user_only = false;
    std::string unwind = "fp";
    std::string svg;
    long top = 0;
    long max_stacks = 8192;
};

// Raw stacks before symbolization: addresses, innermost first.
struct RawKey {
    uint32_t tgid;
    std::string comm;
    std::vector<uint64_t> kstack;
    std::vector<UserFrame> ustack;
    bool operator<(const RawKey &o) const {
        if (tgid != o.tgid) return tgid < o.tgid;
        if (comm != o.comm) return comm < o.comm;
        if (kstack != o.kstack) return kstack < o.kstack;
        if (ustack.size() != o.ustack.size()) return ustack.size() < o.ustack.size();
        for (size_t i = 0; i < ustack.size(); i++)
            if (ustack[i].pc != o.ustack[i].pc) return ustack[i].pc < o.ustack[i].pc;
        return false;
    }
};
struct RawValue {
    uint32_t tid = 0;
    uint64_t count = 0;
};

std::string comm_of(const char *c) {
    return std::string(c, strnlen(c, STACKPROF_COMM_LEN));
}

Counters read_counters(stackprof_bpf *skel) {
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> vals(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    uint64_t sum[SP_NSTATS] = {};
    for (uint32_t i = 0; i < SP_NSTATS; i++) {
        if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &i, vals.data()) != 0) continue;
        for (auto v : vals)
            sum[i] += v;
    }
    Counters c;
    c.taken = sum[SP_TAKEN];
    c.filtered = sum[SP_FILTERED];
    c.kept = sum[SP_KEPT];
    c.lost_full = sum[SP_LOST_FULL];
    c.lost_slots = sum[SP_LOST_SLOTS];
    c.lost_ringbuf = sum[SP_LOST_RINGBUF];
    c.kstack_err = sum[SP_KSTACK_ERR];
    c.ustack_err = sum[SP_USTACK_ERR];
    c.kstack_trunc = sum[SP_KSTACK_TRUNC];
    c.ustack_trunc = sum[SP_USTACK_TRUNC];
    c.collisions = sum[SP_COLLISIONS];
    c.new_proc_lost = sum[SP_NEW_PROC_LOST];
    c.ustack_short = sum[SP_USTACK_SHORT];
    return c;
}

// The stacks the frame-pointer program counted in the kernel.
void read_stacks(stackprof_bpf *skel, std::map<RawKey, RawValue> &out) {
    int fd = bpf_map__fd(skel->maps.stacks);
    stackprof_key key{}, next{};
    auto val = std::make_unique<stackprof_value>();
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        if (bpf_map_lookup_elem(fd, &key, val.get()) != 0) continue;
        RawKey k;
        k.tgid = key.tgid;
        k.comm = comm_of(val->comm);
        size_t kl = std::min<size_t>(key.klen, STACKPROF_MAX_DEPTH);
        size_t ul = std::min<size_t>(key.ulen, STACKPROF_MAX_DEPTH);
        k.kstack.assign(val->kstack, val->kstack + kl);
        for (size_t i = 0; i < ul; i++)
            k.ustack.push_back(UserFrame{val->ustack[i], i > 0});
        RawValue &v = out[k];
        if (!v.count) v.tid = val->tid;
        v.count += val->count;
    }
}

Profile symbolize(const std::map<RawKey, RawValue> &raw, Symbolizer &sym) {
    Profile p;
    for (const auto &[k, v] : raw) {
        Stack s;
        s.pid = k.tgid;
        s.tid = v.tid;
        s.comm = k.comm;
        s.count = v.count;
        for (auto it = k.ustack.rbegin(); it != k.ustack.rend(); ++it)
            s.frames.push_back(Frame{sym.user(k.tgid, it->pc, it->call_site), false});
        for (size_t i = k.kstack.size(); i-- > 0;)
            s.frames.push_back(Frame{sym.kernel(i > 0 ? k.kstack[i] - 1 : k.kstack[i]), true});
        p.stacks.push_back(std::move(s));
    }
    return p;
}

std::string counters_text(const Counters &c, const SymbolStats &ss) {
    char b[1024];
    snprintf(b, sizeof(b),
             "samples: taken %llu, filtered out %llu, kept %llu, lost %llu (stacks map full %llu, "
             "hash slots full %llu, ring buffer full %llu); stack errors kernel %llu user %llu; "
             "truncated at %d frames kernel %llu user %llu; hash collisions kept apart %llu; "
             "processes symbolized %llu, gone before their maps were read %llu, unreadable "
             "files %llu",
             (unsigned long long)c.taken, (unsigned long long)c.filtered,
             (unsigned long long)c.kept, (unsigned long long)c.lost(),
             (unsigned long long)c.lost_full, (unsigned long long)c.lost_slots,
             (unsigned long long)c.lost_ringbuf, (unsigned long long)c.kstack_err,
             (unsigned long long)c.ustack_err, STACKPROF_MAX_DEPTH,
             (unsigned long long)c.kstack_trunc, (unsigned long long)c.ustack_trunc,
             (unsigned long long)c.collisions, (unsigned long long)ss.processes,
             (unsigned long long)(ss.capture_failed + c.new_proc_lost),
             (unsigned long long)ss.module_failed);
    return b;
}

std::string now_iso() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return iso8601_utc(ts);
}

double mono_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

long max_sample_rate() {
    FILE *f = fopen("/proc/sys/kernel/perf_event_max_sample_rate", "re");
    long v = 100000;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = 100000;
        fclose(f);
    }
    return v;
}

}  // namespace

int main(int argc, char **argv) {
    Options o;
    // Installed as bpfkit-stackprof where the packages rename it (options.h).
    const std::string cmd = command_name("stackprof");
    const std::string epilog =
        "Output: folded stacks (comm;outer;...;inner COUNT, for flamegraph.pl and speedscope)\n"
        "on stdout; the mode and the sample counters (taken, kept, lost) on stderr.\n"
        "\n"
        "Example: " +
        cmd +
        " -F 99 -d 10 --svg profile.svg > profile.folded\n"
        "\n"
        "Exit status: 0 ok; 1 runtime failure; 2 usage error, missing privileges, or no mode\n"
        "can run here (bpfcheck says why).\n"
        "\n"
        "See " +
        cmd + "(8).";
    ToolInfo info{cmd.c_str(), "[OPTIONS]",
                  "Sample the CPUs' kernel and user stacks and show where the time goes.",
                  epilog.c_str()};
    OptionParser parser(info, kHelp | kVersion | kVerbose | kJson | kDuration | kPid | kCgroup);
    parser.describe(kPid, "only these processes (tgid; repeatable, comma-separated), in the kernel",
                    "PID");
    parser.describe(kCgroup, "only tasks in this cgroup v2 directory or below, in the kernel",
                    "PATH");
    parser.describe(kDuration, "sample this long (default: until Ctrl-C)", "SECONDS");
    auto flag = [&](const char *name, const char *help, bool &target) {
        parser.add(
            ToolOption{name, 0, false, nullptr, help, [&target](const char *, std::string &) {
                           target = true;
                           return true;
                       }});
    };
    parser.add(ToolOption{"frequency", 'F', true, "HZ",
                          "samples per second on each CPU (default 49)",
                          [&](const char *arg, std::string &err) {
                              if (!parse_positive_long(arg, 1000000, o.hz)) {
                                  err = "expected a rate in Hz, 1 or more";
                                  return false;
                              }
                              return true;
                          }});
    parser.add(ToolOption{"event", 'e', true, "EVENT",
                          "cpu-clock (default), task-clock, cycles, instructions, cache-misses, "
                          "branch-misses; a missing hardware event falls back to cpu-clock",
                          [&](const char *arg, std::string &err) {
                              SampleEvent ev;
                              if (!parse_event(arg, ev)) {
                                  err =
                                      "expected cpu-clock, task-clock, cycles, instructions, "
                                      "cache-misses or branch-misses";
                                  return false;
                              }
                              o.event = arg;
                              return true;
                          }});
    parser.add(ToolOption{"tid", 0, true, "TID",
                          "only these threads (repeatable, comma-separated), in the kernel",
                          [&](const char *arg, std::string &err) {
                              if (!parse_pid_list(arg, o.tids)) {
                                  err = "expected thread ids";
                                  return false;
                              }
                              return true;
                          }});
    flag("kernel-only", "only kernel stacks (samples in the kernel)", o.kernel_only);
    flag("user-only", "only user stacks (samples in user space)", o.user_only);
    parser.add(ToolOption{"unwind", 0, true, "fp|dwarf",
                          "user stacks by frame pointers (default), or by DWARF CFI from a copy "
                          "of the stack (for code built without frame pointers)",
                          [&](const char *arg, std::string &err) {
                              if (strcmp(arg, "fp") != 0 && strcmp(arg, "dwarf") != 0) {
                                  err = "expected fp or dwarf";
                                  return false;
                              }
                              o.unwind = arg;
                              return true;
                          }});
    parser.add(ToolOption{"svg", 0, true, "FILE",
                          "also write an interactive flame graph (search, zoom) to FILE",
                          [&](const char *arg, std::string &err) {
                              if (!*arg) {
                                  err = "expected a file name";
                                  return false;
                              }
                              o.svg = arg;
                              return true;
                          }});
    parser.add(ToolOption{"top", 0, true, "N",
                          "print the N hottest functions by self and total time instead of "
                          "folded stacks",
                          [&](const char *arg, std::string &err) {
                              if (!parse_positive_long(arg, 1000000, o.top)) {
                                  err = "expected a number of functions, 1 or more";
                                  return false;
                              }
                              return true;
                          }});
    parser.add(ToolOption{"max-stacks", 0, true, "N",
                          "distinct stacks the kernel keeps (default 8192); samples that find "
                          "it full are counted as lost",
                          [&](const char *arg, std::string &err) {
                              if (!parse_positive_long(arg, 1 << 20, o.max_stacks)) {
                                  err = "expected a number from 1 to 1048576";
                                  return false;
                              }
                              return true;
                          }});
    std::string family;
    for (auto &opt : ladder_options(ladder(), o.common.mode, family))
        parser.add(std::move(opt));
    if (auto code = parser.parse(argc, argv, o.common)) return *code;
    log::init(cmd.c_str(), o.common.verbose);

    if (o.kernel_only && o.user_only)
        return parser.usage_error("--kernel-only and --user-only exclude each other");
    if (long max = max_sample_rate(); o.hz > max)
        return parser.usage_error("-F " + std::to_string(o.hz) +
                                  ": above kernel.perf_event_max_sample_rate (" +
                                  std::to_string(max) + ")");
    if (o.common.pids.size() > STACKPROF_MAX_PIDS || o.tids.size() > STACKPROF_MAX_PIDS)
        return parser.usage_error("at most " + std::to_string(STACKPROF_MAX_PIDS) +
                                  " -p and --tid values each");
    for (int pid : o.common.pids)
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return parser.usage_error("-p " + std::to_string(pid) + ": no such process");
    for (int tid : o.tids) {
        struct stat st;
        if (stat(("/proc/" + std::to_string(tid)).c_str(), &st) != 0)
            return parser.usage_error("--tid " + std::to_string(tid) + ": no such thread");
    }
    int cgroup_fd = -1;
    if (!o.common.cgroup.empty()) {
        cgroup_fd = open(o.common.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgroup_fd < 0)
            return parser.usage_error("--cgroup " + o.common.cgroup + ": not a cgroup directory (" +
                                      strerror(errno) + ")");
    }
    FILE *svg = nullptr;
    if (!o.svg.empty()) {
        svg = fopen(o.svg.c_str(), "we");
        if (!svg) {
            log::error("--svg %s: %s", o.svg.c_str(), strerror(errno));
            log::hint("give a path in a directory you may write to");
            return 2;
        }
    }

    const bool dwarf = o.unwind == "dwarf";
    const LadderSpec &spec = dwarf ? dwarf_ladder() : ladder();
    LadderRequest req{o.common.mode, family};
    if (std::string e = check_request(spec, req); !e.empty()) return parser.usage_error(e);
    KernelConfig kc;
    kc.hz = static_cast<unsigned>(o.hz);
    parse_event(o.event, kc.event);
    for (int p : o.common.pids)
        kc.pids.push_back(static_cast<uint32_t>(p));
    for (int t : o.tids)
        kc.tids.push_back(static_cast<uint32_t>(t));
    kc.cgroup_fd = cgroup_fd;
    kc.kernel = !o.user_only;
    kc.user = !o.kernel_only;
    kc.max_stacks = static_cast<uint32_t>(o.max_stacks);
    // DWARF mode sends every sample (about 9 KiB) through the ring buffer.
    kc.ringbuf_bytes = dwarf ? 32u << 20 : 256u << 10;
    auto ainfo = std::make_shared<AttachInfo>();
    auto trier = make_trier(kc, ainfo);
    LadderResult result = climb(spec, req, *trier, system_features());
    std::vector<std::string> why = describe(spec, result);
    if (cgroup_fd >= 0) close(cgroup_fd);
    if (!result.ok()) {
        bool caps = false;
        for (Feature f : spec.modes[0].needs)
            if (std::string(feature_group(f)) == "capability" && system_features().get(f).no())
                caps = true;
        if (caps) {
            char self[4096];
            ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
            std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : argv[0];
            log::error("missing CAP_BPF and CAP_PERFMON: run as root, or grant them: %s",
                       setcap_line(spec.modes[0], path).c_str());
            return 2;
        }
        log::error("cannot run on this kernel:");
        for (const auto &l : why)
            fprintf(stderr, "  %s\n", l.c_str());
        log::hint("bpfcheck -t stackprof says the same with the fixes");
        return 2;
    }
    const ModeSpec &mode = spec.modes[static_cast<size_t>(result.chosen)];
    auto *skel = static_cast<stackprof_bpf *>(trier->skeleton());

    Symbolizer sym;
    sym.set_unwinding(dwarf);
    bool have_kallsyms = o.user_only || sym.load_kernel();
    std::map<RawKey, RawValue> raw;
    double capture_ms = 0;  // reading maps and opening files of new processes
    auto on_event = [&](const void *data, size_t size) {
        if (size < sizeof(uint32_t)) return;
        uint32_t kind;
        memcpy(&kind, data, sizeof(kind));
        if (kind == SP_EV_NEW_PROC && size >= sizeof(stackprof_new_proc)) {
            stackprof_new_proc ev;
            memcpy(&ev, data, sizeof(ev));
            double t = mono_ms();
            if (ev.again)
                sym.refresh_one(ev.tgid);
            else
                sym.capture(ev.tgid, t);
            capture_ms += mono_ms() - t;
        } else if (kind == SP_EV_SAMPLE && size >= sizeof(stackprof_sample)) {
            const auto *s = static_cast<const stackprof_sample *>(data);
            RawKey k;
            k.tgid = s->tgid;
            k.comm = comm_of(s->comm);
            k.kstack.assign(s->kstack, s->kstack + std::min<size_t>(s->klen, STACKPROF_MAX_DEPTH));
            if (s->user_regs_ok) {
                StackCopy c{s->ip, s->sp, s->bp, s->stack,
                            std::min<size_t>(s->stack_len, STACKPROF_DWARF_STACK)};
                k.ustack = sym.unwind(s->tgid, s->tid, c);
            }
            RawValue &v = raw[k];
            if (!v.count) v.tid = s->tid;
            v.count++;
        }
    };
    EventSink sink;
    if (int err = sink.open(skel->maps.events, ainfo->transport, on_event)) {
        log::error("cannot read the events: %s", strerror(-err));
        return 1;
    }

    // Before "mode:": a SIGINT right after it is never lost (a shell's
    // background job starts with SIGINT ignored).
    install_stop_handlers();
    {
        std::string refused;
        for (const auto &a : result.attempts) {
            if (a.ok) continue;
            refused += (refused.empty() ? "" : "; ") + a.mode + ": " +
                       (a.skipped ? "" : "refused: ") + a.reason;
        }
        if (refused.empty()) refused = result.best() ? "the best mode" : "as asked";
        fprintf(stderr, "%s: mode: %s (%s); unwind %s; event %s at %ld Hz on %d CPUs\n",
                cmd.c_str(), mode.name.c_str(), refused.c_str(), o.unwind.c_str(),
                ainfo->event.name.c_str(), o.hz, ainfo->cpus);
        if (!ainfo->fallback.empty()) log::warn("%s", ainfo->fallback.c_str());
        if (trier->preallocated())
            log::info(
                "the stacks map is preallocated (%ld entries): this kernel wants that of "
                "perf_event programs",
                o.max_stacks);
        if (!have_kallsyms)
            log::warn(
                "no kernel symbols in /proc/kallsyms (kernel.kptr_restrict): kernel frames "
                "are [unknown]");
        fflush(stderr);
    }

    LoopOptions lo;
    lo.interval_s = 0.2;
    lo.duration_s = o.common.duration_s;
    double t0 = mono_ms();
    int rc = run_loop(
        lo, [&](int ms) { return sink.poll(ms); }, [&](bool) { return 0; });
    double secs = (mono_ms() - t0) / 1e3;
    // Stop counting, then read: what was taken is then what is in the maps.
    skel->bss->paused = true;
    usleep(2000);
    sink.consume();
    if (!dwarf) read_stacks(skel, raw);
    {
        double t = mono_ms();
        sym.refresh(t, 1e18);  // every process still alive: what it mapped since
        capture_ms += mono_ms() - t;
    }
    Counters counters = read_counters(skel);
    trier->release();
    if (rc < 0 && rc != -EINTR) {
        log::error("reading the events failed: %s", strerror(-rc));
        return 1;
    }

    double sym_t0 = mono_ms();
    Profile profile = symbolize(raw, sym);
    double symbolize_ms = mono_ms() - sym_t0;
    log::info("symbolized %zu stacks in %.1f ms; new processes' maps read in %.1f ms", raw.size(),
              symbolize_ms, capture_ms);
    const SymbolStats &ss = sym.stats();
    std::string out;
    if (o.common.json) {
        JsonWriter w;
        const std::string ts = now_iso();
        for (const auto &s : merge_by_names(profile).stacks) {
            w.begin_object()
                .kv("schema", "stackprof/1")
                .kv("type", "stack")
                .kv("mode", mode.name)
                .kv("unwind", o.unwind)
                .kv("ts", ts)
                .kv("pid", s.pid)
                .kv("tid", s.tid)
                .kv("comm", s.comm)
                .kv("count", static_cast<unsigned long long>(s.count));
            w.key("frames").begin_array();
            for (const auto &f : s.frames)
                w.begin_object().kv("name", f.name).kv("kernel", f.kernel).end_object();
            w.end_array().end_object();
            out += w.take() + "\n";
        }
        w.begin_object()
            .kv("schema", "stackprof/1")
            .kv("type", "summary")
            .kv("mode", mode.name)
            .kv("unwind", o.unwind)
            .kv("ts", ts)
            .kv("event", ainfo->event.name)
            .kv("event_fallback", ainfo->fallback)
            .kv("hz", o.hz)
            .kv("cpus", ainfo->cpus)
            .kv("seconds", secs)
            .kv("taken", static_cast<unsigned long long>(counters.taken))
            .kv("filtered", static_cast<unsigned long long>(counters.filtered))
            .kv("kept", static_cast<unsigned long long>(counters.kept))
            .kv("lost", static_cast<unsigned long long>(counters.lost()))
            .kv("lost_map_full", static_cast<unsigned long long>(counters.lost_full))
            .kv("lost_hash_slots", static_cast<unsigned long long>(counters.lost_slots))
            .kv("lost_ringbuf", static_cast<unsigned long long>(counters.lost_ringbuf))
            .kv("kernel_stack_errors", static_cast<unsigned long long>(counters.kstack_err))
            .kv("user_stack_errors", static_cast<unsigned long long>(counters.ustack_err))
            .kv("kernel_stacks_truncated", static_cast<unsigned long long>(counters.kstack_trunc))
            .kv("user_stacks_truncated", static_cast<unsigned long long>(counters.ustack_trunc))
            .kv("user_stack_copies_short", static_cast<unsigned long long>(counters.ustack_short))
            .kv("hash_collisions", static_cast<unsigned long long>(counters.collisions))
            .kv("stacks", static_cast<unsigned long long>(raw.size()))
            .kv("processes_symbolized", static_cast<unsigned long long>(ss.processes))
            .kv("processes_gone",
                static_cast<unsigned long long>(ss.capture_failed + counters.new_proc_lost))
            .kv("files_opened", static_cast<unsigned long long>(ss.modules))
            .kv("files_unreadable", static_cast<unsigned long long>(ss.module_failed))
            .kv("unwind_failed", static_cast<unsigned long long>(ss.unwind_failed))
            .kv("symbolize_ms", symbolize_ms)
            .kv("capture_ms", capture_ms)
            .end_object();
        out += w.take() + "\n";
    } else if (o.top > 0) {
        char head[256];
        snprintf(head, sizeof(head), "%s: %s, unwind %s, %s at %ld Hz, %.1f s, %llu samples\n",
                 "stackprof", mode.name.c_str(), o.unwind.c_str(), ainfo->event.name.c_str(), o.hz,
                 secs, static_cast<unsigned long long>(profile.total()));
        out = head + top_text(profile, static_cast<size_t>(o.top));
    } else {
        out = folded(profile);
    }
    fprintf(stderr, "%s: %s\n", cmd.c_str(), counters_text(counters, ss).c_str());
    int status = 0;
    if (fwrite(out.data(), 1, out.size(), stdout) != out.size() || fflush(stdout) != 0) {
        log::error("writing the output failed: %s", strerror(errno));
        status = 1;
    }
    if (svg) {
        char title[256];
        snprintf(title, sizeof(title), "stackprof: %s at %ld Hz, %.1f s, %llu samples",
                 ainfo->event.name.c_str(), o.hz, secs,
                 static_cast<unsigned long long>(profile.total()));
        std::string doc = flamegraph_svg(profile, title);
        if (fwrite(doc.data(), 1, doc.size(), svg) != doc.size() || fclose(svg) != 0) {
            log::error("--svg %s: %s", o.svg.c_str(), strerror(errno));
            status = 1;
        }
    }
    return status;
}
