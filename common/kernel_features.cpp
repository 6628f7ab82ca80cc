// SPDX-License-Identifier: GPL-2.0-only
#include "kernel_features.h"

#include <cerrno>
#include <cstring>
#include <ctime>

namespace bpfkit {

namespace {

struct FeatureInfo {
    const char *name;
    const char *group;
};

constexpr std::array<FeatureInfo, kFeatureCount> kInfo = {{
    {"fentry", "attach"},
    {"kprobe", "attach"},
    {"tracepoint", "attach"},
    {"raw_tp", "attach"},
    {"tp_btf", "attach"},
    {"uprobe", "attach"},
    {"perf_event", "attach"},
    {"xdp_generic", "attach"},
    {"xdp_native", "attach"},
    {"tc_clsact", "attach"},
    {"cgroup_skb", "attach"},
    {"socket_filter", "attach"},
    {"ringbuf", "map"},
    {"af_packet", "socket"},
    {"kernel_btf", "kernel"},
    {"kconfig", "kernel"},
    {"jit", "kernel"},
    {"lockdown", "kernel"},
    {"unprivileged_bpf", "kernel"},
    {"perf_event_paranoid", "kernel"},
    {"memlock", "kernel"},
    {"tracefs", "mount"},
    {"debugfs", "mount"},
    {"bpffs", "mount"},
    {"cgroup2", "mount"},
    {"CAP_BPF", "capability"},
    {"CAP_PERFMON", "capability"},
    {"CAP_NET_ADMIN", "capability"},
    {"CAP_NET_RAW", "capability"},
    {"CAP_SYS_ADMIN", "capability"},
    {"CAP_SYS_RESOURCE", "capability"},
}};

}  // namespace

const char *feature_name(Feature f) {
    return kInfo[static_cast<size_t>(f)].name;
}
const char *feature_group(Feature f) {
    return kInfo[static_cast<size_t>(f)].group;
}

std::optional<Feature> feature_from_name(std::string_view name) {
    for (size_t i = 0; i < kFeatureCount; i++)
        if (name == kInfo[i].name) return static_cast<Feature>(i);
    return std::nullopt;
}

const char *state_name(State s) {
    switch (s) {
        case State::Yes:
            return "yes";
        case State::No:
            return "no";
        case State::Unknown:
            break;
    }
    return "unknown";
}

std::string errno_name(int err) {
    if (err < 0) err = -err;
    switch (err) {
        case 0:
            return "";
        case EPERM:
            return "EPERM";
        case ENOENT:
            return "ENOENT";
        case ESRCH:
            return "ESRCH";
        case EINTR:
            return "EINTR";
        case EIO:
            return "EIO";
        case E2BIG:
            return "E2BIG";
        case EBADF:
            return "EBADF";
        case EAGAIN:
            return "EAGAIN";
        case ENOMEM:
            return "ENOMEM";
        case EACCES:
            return "EACCES";
        case EFAULT:
            return "EFAULT";
        case EBUSY:
            return "EBUSY";
        case EEXIST:
            return "EEXIST";
        case ENODEV:
            return "ENODEV";
        case EINVAL:
            return "EINVAL";
        case ENOSPC:
            return "ENOSPC";
        case ENOSYS:
            return "ENOSYS";
        case EOPNOTSUPP:
            return "EOPNOTSUPP";
        case EAFNOSUPPORT:
            return "EAFNOSUPPORT";
        case ESOCKTNOSUPPORT:
            return "ESOCKTNOSUPPORT";
        case EPROTONOSUPPORT:
            return "EPROTONOSUPPORT";
        case ENXIO:
            return "ENXIO";
        case 524:
            return "ENOTSUPP";
        default:
            return std::to_string(err);
    }
}

const FeatureResult &Features::get(Feature f) {
    auto &slot = cache_[static_cast<size_t>(f)];
    if (!slot) {
        timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        FeatureResult r = source_->probe(f);
        clock_gettime(CLOCK_MONOTONIC, &b);
        r.probe_ms = static_cast<double>(b.tv_sec - a.tv_sec) * 1e3 +
                     static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e6;
        slot = std::move(r);
    }
    return *slot;
}

Features &system_features() {
    static Features features(make_kernel_probes());
    return features;
}

FakeFeatureSource &FakeFeatureSource::set_no(Feature f, int err, std::string reason,
                                             std::string remedy) {
    FeatureResult r;
    r.state = State::No;
    r.err = err;
    r.reason = std::move(reason);
    r.remedy = std::move(remedy);
    return set(f, std::move(r));
}

FeatureResult FakeFeatureSource::probe(Feature f) {
    runs_[f]++;
    auto it = results_.find(f);
    if (it != results_.end()) return it->second;
    FeatureResult r;
    r.state = State::Yes;
    r.reason = "fake";
    return r;
}

int FakeFeatureSource::probes_run(Feature f) const {
    auto it = runs_.find(f);
    return it == runs_.end() ? 0 : it->second;
}

}  // namespace bpfkit
