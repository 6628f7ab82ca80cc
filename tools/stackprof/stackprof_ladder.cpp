// SPDX-License-Identifier: GPL-2.0-only
#include "stackprof_ladder.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "stackprof.h"
#include "stackprof.skel.h"

namespace bpfkit::stackprof {

namespace {

LadderSpec make_ladder(const char *program, const char *what) {
    LadderSpec s;
    s.tool = "stackprof";
    s.modes.push_back(ModeSpec{"perf_event",
                               "ebpf",
                               what,
                               {program},
                               {Feature::CapBpf, Feature::CapPerfmon, Feature::PerfEvent},
                               {},
                               "perf_event_open of a sampling event on every CPU and a BPF "
                               "perf_event program (Linux 4.9 and later)"});
    return s;
}

int perf_event_open(perf_event_attr *attr, int cpu) {
    return static_cast<int>(syscall(__NR_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

int open_on_cpu(const KernelConfig &c, const SampleEvent &ev, int cpu) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = ev.type;
    attr.config = ev.config;
    attr.freq = 1;
    attr.sample_freq = c.hz;
    attr.exclude_user = !c.user;
    attr.exclude_kernel = !c.kernel;
    return perf_event_open(&attr, cpu);
}

// Opens the sampling event on every online CPU and attaches the program to
// each (bpf_link: closing the link closes the event).
int attach(void *p, const ModeSpec &mode, std::vector<bpf_link *> &links, const KernelConfig &c,
           AttachInfo *info) {
    auto *skel = static_cast<stackprof_bpf *>(p);
    bpf_program *prog = bpf_object__find_program_by_name(skel->obj, mode.programs.at(0).c_str());
    if (!prog) return -ENOENT;
    SampleEvent ev = c.event;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return ncpu ? ncpu : -EINVAL;
    int opened = 0;
    for (int cpu = 0; cpu < ncpu; cpu++) {
        int fd = open_on_cpu(c, ev, cpu);
        if (fd < 0 && ev.type == PERF_TYPE_HARDWARE && (errno == ENOENT || errno == EOPNOTSUPP)) {
            if (info)
                info->fallback = "no hardware event " + ev.name + " here (" + strerror(errno) +
                                 "): sampling cpu-clock instead";
            ev = SampleEvent{};
            fd = open_on_cpu(c, ev, cpu);
        }
        if (fd < 0) {
            if (errno == ENODEV) continue;  // an offline CPU
            return -errno;
        }
        bpf_link *link = bpf_program__attach_perf_event(prog, fd);
        if (!link) {
            int err = -errno;
            close(fd);
            return err;
        }
        links.push_back(link);
        opened++;
    }
    if (info) {
        info->event = ev;
        info->cpus = opened;
    }
    return opened ? 0 : -ENODEV;
}

}  // namespace

const LadderSpec &ladder() {
    static const LadderSpec spec = make_ladder(
        "stackprof_sample",
        "a sampling perf event on every CPU runs a BPF program that counts kernel and user "
        "stacks (frame pointers) in the kernel");
    return spec;
}

const LadderSpec &dwarf_ladder() {
    static const LadderSpec spec = make_ladder(
        "stackprof_sample_dwarf",
        "a sampling perf event on every CPU runs a BPF program that sends the kernel stack, "
        "the user registers and a copy of the user stack to be unwound with DWARF CFI");
    return spec;
}

bool parse_event(const std::string &name, SampleEvent &out) {
    static const struct {
        const char *name;
        uint32_t type;
        uint64_t config;
    } known[] = {
        {"cpu-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK},
        {"task-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
        {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
        {"cpu-cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
        {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
        {"cache-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
        {"branch-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES},
    };
    for (const auto &k : known) {
        if (name == k.name) {
            out = SampleEvent{k.name, k.type, k.config};
            return true;
        }
    }
    return false;
}

int Trier::try_mode(const ModeSpec &mode, std::string &detail) {
    *prealloc_ = false;
    int err = inner_->try_mode(mode, detail);
    if (err == 0) return 0;
    // "perf_event programs can only use preallocated hash map" before 6.1.
    std::string again;
    *prealloc_ = true;
    int err2 = inner_->try_mode(mode, again);
    if (err2 == 0) {
        detail.clear();
        return 0;
    }
    detail = again;
    return err2;
}

std::unique_ptr<Trier> make_trier(KernelConfig config, std::shared_ptr<AttachInfo> info) {
    auto prealloc = std::make_shared<bool>(false);
    auto configure = [config, info, prealloc](void *p, const ModeSpec &) {
        auto *skel = static_cast<stackprof_bpf *>(p);
        if (*prealloc) {
            if (int err = bpf_map__set_map_flags(skel->maps.stacks, 0)) return err;
        }
        size_t n = std::min<size_t>(config.pids.size(), STACKPROF_MAX_PIDS);
        for (size_t i = 0; i < n; i++)
            skel->rodata->pids[i] = config.pids[i];
        skel->rodata->npids = static_cast<__u32>(n);
        n = std::min<size_t>(config.tids.size(), STACKPROF_MAX_PIDS);
        for (size_t i = 0; i < n; i++)
            skel->rodata->tids[i] = config.tids[i];
        skel->rodata->ntids = static_cast<__u32>(n);
        skel->rodata->filter_cgroup = config.cgroup_fd >= 0;
        skel->rodata->want_kernel = config.kernel;
        skel->rodata->want_user = config.user;
        if (int err = bpf_map__set_max_entries(skel->maps.stacks, config.max_stacks)) return err;
        if (int err = bpf_map__set_max_entries(skel->maps.events, config.ringbuf_bytes)) return err;
        EventTransport t = prepare_events_map(skel->maps.events, &skel->rodata->bpfkit_use_ringbuf);
        if (info) info->transport = t;
        return 0;
    };
    auto attach_fn = [config, info](void *p, const ModeSpec &mode, std::vector<bpf_link *> &links) {
        auto *skel = static_cast<stackprof_bpf *>(p);
        if (config.cgroup_fd >= 0) {
            __u32 zero = 0;
            if (bpf_map__update_elem(skel->maps.cgroup, &zero, sizeof(zero), &config.cgroup_fd,
                                     sizeof(int), BPF_ANY) != 0)
                return -errno;
        }
        return attach(p, mode, links, config, info.get());
    };
    return std::make_unique<Trier>(
        std::make_unique<SkeletonTrier>(make_skeleton_ops<stackprof_bpf>(), configure, attach_fn),
        prealloc);
}

}  // namespace bpfkit::stackprof

// For bpfcheck's matrix.
bpfkit::ToolEntry bpfkit_tool_stackprof() {
    return bpfkit::ToolEntry{
        "stackprof", &bpfkit::stackprof::ladder,
        [] { return std::unique_ptr<bpfkit::ModeTrier>(bpfkit::stackprof::make_trier()); }};
}
