// SPDX-License-Identifier: GPL-2.0-only
// What the running kernel and this process can do, each fact found by a
// real action where one exists (load and attach a tiny program, create a
// map, open a socket) and cached on first use.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bpfkit {

enum class Feature : uint8_t {
    // Attach types: a tiny program loaded and attached for real.
    Fentry,
    Kprobe,
    Tracepoint,
    RawTp,
    TpBtf,
    Uprobe,
    PerfEvent,
    XdpGeneric,
    XdpNative,
    TcClsact,
    CgroupSkb,
    SocketFilter,
    // Maps and sockets.
    Ringbuf,
    AfPacket,
    // Kernel facts.
    KernelBtf,
    Kconfig,
    Jit,
    Lockdown,
    UnprivBpf,
    PerfParanoid,
    Memlock,
    // Mounts.
    Tracefs,
    Debugfs,
    Bpffs,
    Cgroup2,
    // Effective capabilities of this process.
    CapBpf,
    CapPerfmon,
    CapNetAdmin,
    CapNetRaw,
    CapSysAdmin,
    CapSysResource,
    Count_
};
constexpr size_t kFeatureCount = static_cast<size_t>(Feature::Count_);

enum class State : uint8_t { Yes, No, Unknown };

struct FeatureResult {
    State state = State::Unknown;
    int err = 0;          // errno of the action that failed (positive), 0 if none
    std::string value;    // what was found: "integrity", "/sys/kernel/tracing", "2" ...
    std::string reason;   // one line: how it was seen, or why it is not there
    std::string remedy;   // one line: the exact change that would make it work; empty if none
    double probe_ms = 0;  // how long finding it out took

    bool yes() const { return state == State::Yes; }
    bool no() const { return state == State::No; }
};

const char *feature_name(Feature f);
const char *feature_group(Feature f);  // "attach", "map", "kernel", "mount", "capability"
std::optional<Feature> feature_from_name(std::string_view name);
const char *state_name(State s);  // "yes", "no", "unknown"
std::string errno_name(int err);  // "EPERM", "ENOENT", ... or the number
// The first mount point of a file system type ("cgroup2"), or empty.
std::string mount_point(const std::string &fstype);
// A path to the root of the cgroup2 hierarchy: where it is mounted here, or,
// in a mount namespace without it (`ip netns exec` remounts /sys), the mount
// of an ancestor process or of init in our cgroup namespace, seen through
// /proc/PID/root. Empty if none. *elsewhere (if given) says it came from
// another process's view.
std::string cgroup2_root(bool *elsewhere = nullptr);

// Where results come from: the real kernel, or a fake in unit tests.
class FeatureSource {
  public:
    virtual ~FeatureSource() = default;
    virtual FeatureResult probe(Feature f) = 0;
};

// Lazily cached results over a source.
class Features {
  public:
    explicit Features(std::unique_ptr<FeatureSource> source) : source_(std::move(source)) {}
    const FeatureResult &get(Feature f);
    bool yes(Feature f) { return get(f).yes(); }
    bool cached(Feature f) const { return cache_[static_cast<size_t>(f)].has_value(); }

  private:
    std::unique_ptr<FeatureSource> source_;
    std::array<std::optional<FeatureResult>, kFeatureCount> cache_;
};

// The running kernel (common/probes.cpp).
std::unique_ptr<FeatureSource> make_kernel_probes();
// The process-wide instance over the running kernel.
Features &system_features();

// A fake for unit tests: every feature Yes unless set otherwise.
class FakeFeatureSource : public FeatureSource {
  public:
    FakeFeatureSource &set(Feature f, FeatureResult r) {
        results_[f] = std::move(r);
        return *this;
    }
    FakeFeatureSource &set_no(Feature f, int err, std::string reason, std::string remedy = {});
    FeatureResult probe(Feature f) override;
    int probes_run(Feature f) const;

  private:
    std::map<Feature, FeatureResult> results_;
    std::map<Feature, int> runs_;
};

}  // namespace bpfkit
