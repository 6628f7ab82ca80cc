// SPDX-License-Identifier: GPL-2.0-only
// A symbolized profile and its outputs: folded stacks, JSON lines, the top
// functions by self and total time, and a self-contained SVG flame graph.
// Pure logic (no BPF), unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bpfkit::stackprof {

struct Frame {
    std::string name;
    bool kernel = false;
    bool operator==(const Frame &) const = default;
};

struct Stack {
    uint32_t pid = 0;
    uint32_t tid = 0;
    std::string comm;
    std::vector<Frame> frames;  // outermost first: user frames, then kernel frames
    uint64_t count = 0;
};

struct Counters {
    uint64_t taken = 0, filtered = 0, kept = 0;
    uint64_t lost_full = 0, lost_slots = 0, lost_ringbuf = 0;
    uint64_t kstack_err = 0, ustack_err = 0, kstack_trunc = 0, ustack_trunc = 0;
    uint64_t collisions = 0, new_proc_lost = 0, ustack_short = 0;
    uint64_t lost() const { return lost_full + lost_slots + lost_ringbuf; }
};

struct Profile {
    std::vector<Stack> stacks;
    uint64_t total() const;
};

// Merges stacks with the same comm and frame names (different addresses may
// name the same functions), keeping the first pid/tid; sorted by folded line.
Profile merge_by_names(const Profile &p);

// One stack as flamegraph.pl reads it: "comm;outer;...;inner count".
// Kernel frames carry "_[k]"; ';' in a name becomes ':', control bytes '?'.
std::string folded_line(const Stack &s);
std::string folded(const Profile &p);

struct TopEntry {
    std::string name;  // kernel functions with "[k] " in front
    uint64_t self = 0;
    uint64_t total = 0;
};
// Functions by self time (then total), at most n (0 = all).
std::vector<TopEntry> top_functions(const Profile &p, size_t n);
std::string top_text(const Profile &p, size_t n);

// A flame graph as one SVG file with its own script (search, click to zoom).
std::string flamegraph_svg(const Profile &p, const std::string &title);

}  // namespace bpfkit::stackprof
