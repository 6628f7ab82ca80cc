// SPDX-License-Identifier: GPL-2.0-only
// The fallback ladder: a tool declares its modes in order of preference,
// each with the BPF programs and the features it needs. climb() tries
// them in order with a real load + attach, records why each refused one
// failed, and stops at the first that works. bpfcheck climbs the same
// ladders the same way, so its answer is the tool's answer.
#pragma once

#include <bpf/libbpf.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernel_features.h"
#include "options.h"

namespace bpfkit {

struct ModeSpec {
    std::string name;                   // "fentry", "kprobe", "tracepoint", "afpacket"
    std::string family;                 // "ebpf" or "afpacket"
    std::string description;            // one line for -v, bpfcheck and man pages
    std::vector<std::string> programs;  // skeleton programs this mode loads (BPF modes)
    std::vector<Feature> needs;         // capabilities first, then attach types and mounts
    // For modes that load no BPF program (AF_PACKET): the real action that
    // shows whether the mode can run. Returns 0 or -errno.
    std::function<int(std::string &detail)> try_fn;
    // Said after an unexplained refusal: what the mode needs that no feature
    // probe covers ("sock:sock_send_length, Linux 6.3 and later").
    std::string hint;
};

struct LadderSpec {
    std::string tool;  // "netproc"
    std::vector<ModeSpec> modes;

    const ModeSpec *find(const std::string &name) const;
    std::string mode_names() const;  // "fentry, kprobe, tracepoint, afpacket"
};

struct Attempt {
    std::string mode;
    bool ok = false;
    bool skipped = false;  // not tried: the user forced another mode or family
    int err = 0;           // positive errno
    std::string reason;    // one line
    std::string remedy;    // one line; may be empty
};

struct LadderResult {
    int chosen = -1;  // index into LadderSpec::modes, -1 if none could run
    std::vector<Attempt> attempts;

    bool ok() const { return chosen >= 0; }
    bool best() const { return chosen == 0; }
    const Attempt *refused(const std::string &mode) const;
};

// What the user asked for: a mode by name (--mode/--hooks) or a family
// (--capture-mode). Empty means auto.
struct LadderRequest {
    std::string mode;
    std::string family;
};

// The options of a tool with a ladder, for its OptionParser:
//   --capture-mode auto|ebpf|afpacket  the family ("" for auto) into `family`;
//   --hooks RUNG                       one of the ladder's eBPF modes into `mode`;
//   --btf FILE                         kernel BTF for the skeletons (set_open_options).
std::vector<ToolOption> ladder_options(const LadderSpec &spec, std::string &mode,
                                       std::string &family);

// The real action of an AF_PACKET mode: can this process open an AF_PACKET
// socket? 0 or -errno.
int try_afpacket_socket(std::string &detail);

// Loads and attaches one mode for real; the skeleton-backed one is below.
class ModeTrier {
  public:
    virtual ~ModeTrier() = default;
    // Returns 0 when loaded and attached (the state is kept until release()
    // or the next try_mode), or -errno; may fill detail with the kernel's or
    // libbpf's words.
    virtual int try_mode(const ModeSpec &mode, std::string &detail) = 0;
    virtual void release() {}
};

// Validates a request against a ladder; returns an error message or "".
std::string check_request(const LadderSpec &spec, const LadderRequest &req);

LadderResult climb(const LadderSpec &spec, const LadderRequest &req, ModeTrier &trier,
                   Features &features);

// The lines -v prints: the chosen mode and why the better ones were refused.
std::vector<std::string> describe(const LadderSpec &spec, const LadderResult &result);

// When climb() found no mode: says why on stderr (the missing capabilities
// and the setcap line for `setcap_mode` of this program, or every mode's
// refusal and the bpfcheck hint) and returns 2, the exit status.
int report_no_mode(const LadderSpec &spec, const LadderRequest &req, const LadderResult &result,
                   const std::string &setcap_mode, const char *argv0);

// Once capture has begun, says on stderr "<tool>: mode: <mode> (<reasons>)<extra>"
// and, with -v, why the better modes were refused.
void say_mode(const LadderSpec &spec, const LadderResult &result, const std::string &extra = "");

// What the "mode:" line says after the chosen mode's name: each better
// mode and why it was refused or skipped, else "the best mode" / "as asked".
std::string mode_reasons(const LadderResult &result);

// The capabilities a mode needs, as a setcap line for the given binary
// ("setcap cap_bpf,cap_perfmon+ep /usr/sbin/netproc"); "" if none.
std::string setcap_line(const ModeSpec &mode, const std::string &binary);

// A tool as bpfcheck sees it: its ladder, and a trier that loads its
// own skeleton. Each tool with a ladder provides one; meson collects them.
struct ToolEntry {
    const char *name;
    const LadderSpec &(*ladder)();
    std::unique_ptr<ModeTrier> (*make_trier)();
};

// The tools meson registered (generated for bpfcheck).
std::vector<ToolEntry> registered_tools();

// Options for opening a tool's skeleton: a BTF path for kernels without
// /sys/kernel/btf/vmlinux (--btf, or the BPFKIT_BTF environment variable).
struct OpenOptions {
    std::string btf_path;
};
void set_open_options(OpenOptions opts);
const OpenOptions &open_options();

// Type-erased skeleton operations, made by make_skeleton_ops<Skel>().
struct SkeletonOps {
    void *(*open)(const bpf_object_open_opts *opts);
    int (*load)(void *skel);
    void (*destroy)(void *skel);
    bpf_object *(*object)(void *skel);
};

template <class Skel>
SkeletonOps make_skeleton_ops() {
    return SkeletonOps{
        [](const bpf_object_open_opts *o) -> void * { return Skel::open(o); },
        [](void *s) { return Skel::load(static_cast<Skel *>(s)); },
        [](void *s) { Skel::destroy(static_cast<Skel *>(s)); },
        [](void *s) { return static_cast<Skel *>(s)->obj; },
    };
}

// Opens the tool's skeleton afresh for every rung, turns autoload off for
// every program the mode does not list, loads and attaches.
class SkeletonTrier : public ModeTrier {
  public:
    // Called after open and before load: set rodata and map sizes.
    using Configure = std::function<int(void *skel, const ModeSpec &mode)>;
    // Attaches the mode's programs; null attaches each with
    // bpf_program__attach (the section name says where).
    using Attach =
        std::function<int(void *skel, const ModeSpec &mode, std::vector<bpf_link *> &links)>;

    explicit SkeletonTrier(SkeletonOps ops, Configure configure = {}, Attach attach = {});
    ~SkeletonTrier() override;
    SkeletonTrier(const SkeletonTrier &) = delete;
    SkeletonTrier &operator=(const SkeletonTrier &) = delete;

    int try_mode(const ModeSpec &mode, std::string &detail) override;
    void release() override;
    void *skeleton() const { return skel_; }

  private:
    SkeletonOps ops_;
    Configure configure_;
    Attach attach_;
    void *skel_ = nullptr;
    std::vector<bpf_link *> links_;
};

// A skeleton handle for code that does not need the ladder.
template <class Skel>
class Skeleton {
  public:
    Skeleton() = default;
    ~Skeleton() { reset(); }
    Skeleton(const Skeleton &) = delete;
    Skeleton &operator=(const Skeleton &) = delete;
    Skeleton(Skeleton &&o) noexcept : skel_(o.skel_) { o.skel_ = nullptr; }
    Skeleton &operator=(Skeleton &&o) noexcept {
        if (this != &o) {
            reset();
            skel_ = o.skel_;
            o.skel_ = nullptr;
        }
        return *this;
    }
    // 0 or -errno.
    int open(const bpf_object_open_opts *opts = nullptr) {
        reset();
        skel_ = Skel::open(opts);
        return skel_ ? 0 : -errno;
    }
    int load() { return Skel::load(skel_); }
    void reset() {
        if (skel_) Skel::destroy(skel_);
        skel_ = nullptr;
    }
    Skel *get() const { return skel_; }
    Skel *operator->() const { return skel_; }
    explicit operator bool() const { return skel_ != nullptr; }

  private:
    Skel *skel_ = nullptr;
};

}  // namespace bpfkit
