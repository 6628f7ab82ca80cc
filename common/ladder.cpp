// SPDX-License-Identifier: GPL-2.0-only
#include "ladder.h"

#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "btf_parse.h"
#include "log.h"
#include "privileges.h"

namespace bpfkit {

const ModeSpec *LadderSpec::find(const std::string &name) const {
    for (const auto &m : modes)
        if (m.name == name) return &m;
    return nullptr;
}

std::string LadderSpec::mode_names() const {
    std::string s;
    for (const auto &m : modes) {
        if (!s.empty()) s += ", ";
        s += m.name;
    }
    return s;
}

const Attempt *LadderResult::refused(const std::string &mode) const {
    for (const auto &a : attempts)
        if (a.mode == mode && !a.ok) return &a;
    return nullptr;
}

std::string check_request(const LadderSpec &spec, const LadderRequest &req) {
    if (!req.mode.empty() && !spec.find(req.mode))
        return "unknown mode '" + req.mode + "': " + spec.tool + " has " + spec.mode_names();
    if (!req.family.empty()) {
        bool any = false;
        std::string families;
        for (const auto &m : spec.modes) {
            if (m.family == req.family) any = true;
            if (families.find(m.family) == std::string::npos)
                families += (families.empty() ? "" : ", ") + m.family;
        }
        if (!any) return "unknown capture mode '" + req.family + "': expected auto, " + families;
        if (!req.mode.empty() && spec.find(req.mode)->family != req.family)
            return "mode '" + req.mode + "' is not in the " + req.family + " family";
    }
    return "";
}

namespace {

bool wanted(const ModeSpec &m, const LadderRequest &req) {
    if (!req.mode.empty() && m.name != req.mode) return false;
    if (!req.family.empty() && m.family != req.family) return false;
    return true;
}

// Why a mode failed: the first feature it needs that this kernel or
// process lacks says it best; otherwise the errno and libbpf's words.
void explain(Attempt &a, const ModeSpec &mode, Features &features, const std::string &detail) {
    for (Feature f : mode.needs) {
        const FeatureResult &r = features.get(f);
        if (r.no()) {
            a.reason = std::string(feature_name(f)) + ": " + r.reason;
            a.remedy = r.remedy;
            return;
        }
    }
    a.reason = std::string(strerror(a.err));
    if (!detail.empty()) a.reason += " (" + detail + ")";
    if (!mode.hint.empty()) a.reason += "; this mode needs " + mode.hint;
}

}  // namespace

LadderResult climb(const LadderSpec &spec, const LadderRequest &req, ModeTrier &trier,
                   Features &features) {
    LadderResult result;
    for (size_t i = 0; i < spec.modes.size(); i++) {
        const ModeSpec &mode = spec.modes[i];
        Attempt a;
        a.mode = mode.name;
        if (!wanted(mode, req)) {
            a.skipped = true;
            a.reason = !req.mode.empty()
                           ? "not tried: mode " + req.mode + " was asked for"
                           : "not tried: capture mode " + req.family + " was asked for";
            result.attempts.push_back(std::move(a));
            continue;
        }
        std::string detail;
        int err;
        {
            log::Capture capture;
            err = mode.try_fn ? mode.try_fn(detail) : trier.try_mode(mode, detail);
            if (detail.empty()) detail = capture.summary();
        }
        if (err == 0) {
            a.ok = true;
            result.chosen = static_cast<int>(i);
            result.attempts.push_back(std::move(a));
            break;
        }
        a.err = err < 0 ? -err : err;
        explain(a, mode, features, detail);
        log::info("%s: mode %s refused: %s", spec.tool.c_str(), mode.name.c_str(),
                  a.reason.c_str());
        result.attempts.push_back(std::move(a));
    }
    if (kernel_btf_mapped()) log::info("kernel BTF read through a read-only mapping: one copy");
    return result;
}

std::vector<std::string> describe(const LadderSpec &spec, const LadderResult &result) {
    std::vector<std::string> lines;
    if (result.ok())
        lines.push_back("mode: " + spec.modes[static_cast<size_t>(result.chosen)].name + " (" +
                        spec.modes[static_cast<size_t>(result.chosen)].description + ")");
    else
        lines.push_back("mode: none of " + spec.mode_names() + " can run here");
    for (const auto &a : result.attempts) {
        if (a.ok) continue;
        std::string l = "  " + a.mode + ": " + (a.skipped ? "" : "refused: ") + a.reason;
        if (!a.remedy.empty()) l += "; fix: " + a.remedy;
        lines.push_back(l);
    }
    return lines;
}

std::string setcap_line(const ModeSpec &mode, const std::string &binary) {
    std::string caps;
    for (Feature f : mode.needs) {
        if (std::string(feature_group(f)) != "capability") continue;
        std::string name = feature_name(f);
        for (auto &c : name)
            c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        if (caps.find(name) != std::string::npos) continue;
        caps += (caps.empty() ? "" : ",") + name;
    }
    if (caps.empty()) return "";
    return "setcap " + caps + "+ep " + binary;
}

std::vector<ToolOption> ladder_options(const LadderSpec &spec, std::string &mode,
                                       std::string &family) {
    std::vector<std::string> rungs;
    for (const auto &m : spec.modes)
        if (m.family == "ebpf") rungs.push_back(m.name);
    std::string bar, words;
    for (size_t i = 0; i < rungs.size(); i++) {
        bar += (i ? "|" : "") + rungs[i];
        words += (i == 0 ? "" : i + 1 == rungs.size() ? " or " : ", ") + rungs[i];
    }
    // The strings live as long as the process: ToolOption keeps char pointers.
    static std::vector<std::unique_ptr<std::string>> keep;
    keep.push_back(std::make_unique<std::string>(bar));
    const char *arg_name = keep.back()->c_str();
    std::vector<ToolOption> opts;
    opts.push_back(ToolOption{"capture-mode", 0, true, "auto|ebpf|afpacket",
                              "force a family of modes (default auto)",
                              [&family](const char *arg, std::string &err) {
                                  std::string v = arg;
                                  if (v != "auto" && v != "ebpf" && v != "afpacket") {
                                      err = "expected auto, ebpf or afpacket";
                                      return false;
                                  }
                                  family = v == "auto" ? "" : v;
                                  return true;
                              }});
    opts.push_back(ToolOption{"hooks", 0, true, arg_name, "force one eBPF rung",
                              [&mode, rungs, words](const char *arg, std::string &err) {
                                  if (std::find(rungs.begin(), rungs.end(), arg) == rungs.end()) {
                                      err = "expected " + words;
                                      return false;
                                  }
                                  mode = arg;
                                  return true;
                              }});
    opts.push_back(
        ToolOption{"btf", 0, true, "FILE",
                   "kernel BTF to use instead of /sys/kernel/btf/vmlinux (also BPFKIT_BTF)",
                   [](const char *arg, std::string &) {
                       set_open_options(OpenOptions{arg});
                       return true;
                   }});
    return opts;
}

int try_afpacket_socket(std::string &detail) {
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0) {
        int err = errno;
        detail = "socket(AF_PACKET)";
        return -err;
    }
    close(s);
    return 0;
}

namespace {
OpenOptions g_open_options = [] {
    OpenOptions o;
    if (const char *p = getenv("BPFKIT_BTF")) o.btf_path = p;
    return o;
}();
}  // namespace

void set_open_options(OpenOptions opts) {
    g_open_options = std::move(opts);
}
const OpenOptions &open_options() {
    return g_open_options;
}

SkeletonTrier::SkeletonTrier(SkeletonOps ops, Configure configure, Attach attach)
    : ops_(ops), configure_(std::move(configure)), attach_(std::move(attach)) {}

SkeletonTrier::~SkeletonTrier() {
    release();
}

void SkeletonTrier::release() {
    for (auto *l : links_)
        bpf_link__destroy(l);
    links_.clear();
    if (skel_) ops_.destroy(skel_);
    skel_ = nullptr;
}

int SkeletonTrier::try_mode(const ModeSpec &mode, std::string &detail) {
    release();
    // Loading parses the kernel's BTF (11 MiB at its peak here): hand the
    // pages earlier rungs and probes freed back first, so they do not add up.
    malloc_trim(0);
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (!open_options().btf_path.empty()) opts.btf_custom_path = open_options().btf_path.c_str();
    skel_ = ops_.open(&opts);
    if (!skel_) {
        int err = errno ? -errno : -EINVAL;
        detail = "cannot open the BPF object";
        return err;
    }
    bpf_object *obj = ops_.object(skel_);
    bpf_program *prog;
    size_t found = 0;
    bpf_object__for_each_program(prog, obj) {
        bool in_mode = false;
        for (const auto &p : mode.programs)
            in_mode |= p == bpf_program__name(prog);
        found += in_mode;
        bpf_program__set_autoload(prog, in_mode);
    }
    if (found != mode.programs.size()) {
        detail = "the BPF object lacks a program the mode lists";
        release();
        return -ENOENT;
    }
    int err = configure_ ? configure_(skel_, mode) : 0;
    if (!err) err = ops_.load(skel_);
    if (err) {
        release();
        return err < 0 ? err : -err;
    }
    if (attach_) {
        err = attach_(skel_, mode, links_);
    } else {
        bpf_object__for_each_program(prog, obj) {
            if (!bpf_program__autoload(prog)) continue;
            bpf_link *link = bpf_program__attach(prog);
            if (!link) {
                err = -errno;
                break;
            }
            links_.push_back(link);
        }
    }
    if (err) {
        release();
        return err;
    }
    return 0;
}

std::string mode_reasons(const LadderResult &result) {
    std::string refused;
    for (const auto &a : result.attempts) {
        if (a.ok) continue;
        refused += (refused.empty() ? "" : "; ") + a.mode + ": " + (a.skipped ? "" : "refused: ") +
                   a.reason;
    }
    if (refused.empty()) refused = result.best() ? "the best mode" : "as asked";
    return refused;
}

namespace {

// The capabilities the modes asked for lack, as "CAP_BPF, CAP_PERFMON, ...".
std::string missing_caps(const LadderSpec &spec, const LadderRequest &req) {
    std::vector<std::string> miss;
    for (const auto &m : spec.modes) {
        if (!req.mode.empty() && m.name != req.mode) continue;
        if (!req.family.empty() && m.family != req.family) continue;
        for (Feature f : m.needs) {
            if (std::string(feature_group(f)) != "capability") continue;
            if (!system_features().get(f).no()) continue;
            std::string n = feature_name(f);
            if (std::find(miss.begin(), miss.end(), n) == miss.end()) miss.push_back(n);
        }
    }
    std::string s;
    for (const auto &n : miss)
        s += (s.empty() ? "" : ", ") + n;
    return s;
}

}  // namespace

int report_no_mode(const LadderSpec &spec, const LadderRequest &req, const LadderResult &result,
                   const std::string &setcap_mode, const char *argv0) {
    std::vector<std::string> why = describe(spec, result);
    std::string caps = missing_caps(spec, req);
    const ModeSpec *m = spec.find(setcap_mode);
    if (!caps.empty() && m) {
        log::error("missing %s: run as root, or grant them: %s", caps.c_str(),
                   setcap_line(*m, self_exe(argv0)).c_str());
        for (const auto &l : why)
            log::info("%s", l.c_str());
        return 2;
    }
    log::error("cannot run on this kernel:");
    for (const auto &l : why)
        fprintf(stderr, "  %s\n", l.c_str());
    log::hint("bpfcheck -t %s says the same with the fixes", spec.tool.c_str());
    return 2;
}

void say_mode(const LadderSpec &spec, const LadderResult &result, const std::string &extra) {
    std::vector<std::string> why = describe(spec, result);
    fprintf(stderr, "%s: mode: %s (%s)%s\n", spec.tool.c_str(),
            spec.modes[static_cast<size_t>(result.chosen)].name.c_str(),
            mode_reasons(result).c_str(), extra.c_str());
    for (size_t i = 1; i < why.size(); i++)
        log::info("%s", why[i].c_str());
    fflush(stderr);
}

}  // namespace bpfkit
