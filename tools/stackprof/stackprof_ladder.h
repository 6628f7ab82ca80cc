// SPDX-License-Identifier: GPL-2.0-only
// stackprof's modes, and the sampling events its trier opens on every CPU;
// bpfcheck reads the same declaration.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "events.h"  // common/
#include "ladder.h"  // common/

namespace bpfkit::stackprof {

const LadderSpec &ladder();
// The same ladder with the DWARF-mode program in place of the frame-pointer one.
const LadderSpec &dwarf_ladder();

struct SampleEvent {
    std::string name = "cpu-clock";  // cpu-clock, task-clock, cycles, instructions, ...
    uint32_t type = 1;               // PERF_TYPE_SOFTWARE
    uint64_t config = 0;             // PERF_COUNT_SW_CPU_CLOCK
};
// Parses a --event name; false if unknown.
bool parse_event(const std::string &name, SampleEvent &out);

struct KernelConfig {
    unsigned hz = 49;
    SampleEvent event;
    std::vector<uint32_t> pids;  // at most STACKPROF_MAX_PIDS
    std::vector<uint32_t> tids;
    int cgroup_fd = -1;  // a cgroup2 directory, or -1
    bool kernel = true;  // collect kernel stacks (and sample in the kernel)
    bool user = true;
    uint32_t max_stacks = 8192;
    uint32_t ringbuf_bytes = 256 * 1024;
};

// What the trier did: the event it really opened (a hardware event falls
// back to cpu-clock where the CPU or the hypervisor has none), on how many
// CPUs, and the events map's transport.
struct AttachInfo {
    SampleEvent event;
    std::string fallback;  // why the asked event was replaced; empty if it was not
    int cpus = 0;
    EventTransport transport = EventTransport::Ringbuf;
};

// Tries each rung with the stacks map allocated as used, and again
// preallocated where the kernel wants that of perf_event programs (before 6.1).
class Trier : public ModeTrier {
  public:
    Trier(std::unique_ptr<SkeletonTrier> inner, std::shared_ptr<bool> prealloc)
        : inner_(std::move(inner)), prealloc_(std::move(prealloc)) {}
    int try_mode(const ModeSpec &mode, std::string &detail) override;
    void release() override { inner_->release(); }
    void *skeleton() const { return inner_->skeleton(); }
    bool preallocated() const { return *prealloc_; }

  private:
    std::unique_ptr<SkeletonTrier> inner_;
    std::shared_ptr<bool> prealloc_;
};

std::unique_ptr<Trier> make_trier(KernelConfig config = {},
                                  std::shared_ptr<AttachInfo> info = nullptr);

}  // namespace bpfkit::stackprof
