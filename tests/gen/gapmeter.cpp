// SPDX-License-Identifier: GPL-2.0-only
// bpfkit-gapmeter: how much time the kernel takes from a busy user thread.
// It spins on the time stamp counter at the bottom of a call chain of
// --depth frames (frame pointers kept, so a profiler has a real stack to
// walk) and records every gap between two consecutive reads: a gap is time
// the CPU spent elsewhere (an interrupt, a sampling profiler's handler, or
// another task). For measuring a profiler's in-kernel cost per sample, which
// no process's CPU time shows: run it with and without the profiler, pinned
// to one CPU, and compare the time in gaps of --lo..--hi ns.
// At exit it prints one JSON line:
//   {"seconds":..,"gaps":N,"gap_ns":..,"p50_ns":..,"p90_ns":..,"longer":N,"longer_ns":..}
// gaps/gap_ns: the gaps within --lo..--hi; longer: the gaps above --hi (the
// task was descheduled: another task ran; not an interrupt's cost).
//
//   bpfkit-gapmeter [--seconds S] [--depth D] [--lo NS] [--hi NS] [--cpu N]
#include <sched.h>
#include <x86intrin.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace {

struct Options {
    double seconds = 5;
    int depth = 24;
    uint64_t lo_ns = 400;
    uint64_t hi_ns = 50000;
    int cpu = -1;
};

struct Result {
    uint64_t gaps = 0;
    uint64_t gap_cycles = 0;
    uint64_t longer = 0;
    uint64_t longer_cycles = 0;
    std::vector<uint64_t> hist;  // gaps within lo..hi, in 10 ns bins
};

uint64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The spin at the bottom of the chain: reads the TSC back to back.
__attribute__((noinline)) void gm_spin(uint64_t end_tsc, uint64_t lo, uint64_t hi,
                                       double ns_per_cycle, Result &r) {
    uint64_t prev = __rdtsc();
    for (;;) {
        uint64_t t = __rdtsc();
        uint64_t d = t - prev;
        prev = t;
        if (d >= lo) {
            if (d <= hi) {
                r.gaps++;
                r.gap_cycles += d;
                size_t bin = static_cast<size_t>(static_cast<double>(d) * ns_per_cycle / 10);
                if (bin < r.hist.size()) r.hist[bin]++;
            } else {
                r.longer++;
                r.longer_cycles += d;
            }
        }
        if (t >= end_tsc) break;
    }
}

// One frame of the chain per call (not a sibling call: the build keeps
// -fno-optimize-sibling-calls; the asm keeps the frame from being merged).
__attribute__((noinline)) void gm_frame(int left, uint64_t end_tsc, uint64_t lo, uint64_t hi,
                                        double ns_per_cycle, Result &r) {
    if (left <= 0)
        gm_spin(end_tsc, lo, hi, ns_per_cycle, r);
    else
        gm_frame(left - 1, end_tsc, lo, hi, ns_per_cycle, r);
    asm volatile("" ::: "memory");
}

[[noreturn]] void usage(const char *why) {
    std::fprintf(stderr,
                 "bpfkit-gapmeter: %s\nusage: bpfkit-gapmeter [--seconds S] [--depth D] [--lo NS] "
                 "[--hi NS] [--cpu N]\n",
                 why);
    std::exit(2);
}

double number(const char *opt, const char *s, double lo, double hi) {
    char *end = nullptr;
    double v = std::strtod(s, &end);
    if (end == s || *end != '\0' || v < lo || v > hi) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
        usage(msg);
    }
    return v;
}

}  // namespace

int main(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (std::strcmp(a, "--help") == 0) {
            std::printf(
                "usage: bpfkit-gapmeter [--seconds S] [--depth D] [--lo NS] [--hi NS] "
                "[--cpu N]\n");
            return 0;
        }
        if (i + 1 >= argc) usage("an option without its value, or an unknown argument");
        const char *v = argv[++i];
        if (std::strcmp(a, "--seconds") == 0)
            o.seconds = number(a, v, 0.1, 3600);
        else if (std::strcmp(a, "--depth") == 0)
            o.depth = static_cast<int>(number(a, v, 0, 1000));
        else if (std::strcmp(a, "--lo") == 0)
            o.lo_ns = static_cast<uint64_t>(number(a, v, 50, 1e6));
        else if (std::strcmp(a, "--hi") == 0)
            o.hi_ns = static_cast<uint64_t>(number(a, v, 100, 1e8));
        else if (std::strcmp(a, "--cpu") == 0)
            o.cpu = static_cast<int>(number(a, v, 0, 4095));
        else
            usage("unknown option");
    }
    if (o.hi_ns <= o.lo_ns) usage("--hi must be above --lo");
    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            std::perror("bpfkit-gapmeter: sched_setaffinity");
            return 1;
        }
    }
    // The TSC's rate against CLOCK_MONOTONIC, over 50 ms.
    uint64_t n0 = mono_ns(), c0 = __rdtsc();
    while (mono_ns() - n0 < 50000000) {
    }
    uint64_t n1 = mono_ns(), c1 = __rdtsc();
    double ns_per_cycle = static_cast<double>(n1 - n0) / static_cast<double>(c1 - c0);
    auto cycles = [&](double ns) { return static_cast<uint64_t>(ns / ns_per_cycle); };

    Result r;
    r.hist.assign(o.hi_ns / 10 + 1, 0);
    uint64_t start_ns = mono_ns();
    uint64_t end_tsc = __rdtsc() + cycles(o.seconds * 1e9);
    gm_frame(o.depth, end_tsc, cycles(static_cast<double>(o.lo_ns)),
             cycles(static_cast<double>(o.hi_ns)), ns_per_cycle, r);
    double secs = static_cast<double>(mono_ns() - start_ns) / 1e9;

    auto pct = [&](double q) {
        uint64_t want = static_cast<uint64_t>(q * static_cast<double>(r.gaps)), seen = 0;
        for (size_t b = 0; b < r.hist.size(); b++) {
            seen += r.hist[b];
            if (seen > want) return b * 10 + 5;
        }
        return static_cast<size_t>(o.hi_ns);
    };
    std::printf(
        "{\"seconds\":%.3f,\"gaps\":%llu,\"gap_ns\":%.0f,\"p50_ns\":%zu,\"p90_ns\":%zu,"
        "\"longer\":%llu,\"longer_ns\":%.0f}\n",
        secs, static_cast<unsigned long long>(r.gaps),
        static_cast<double>(r.gap_cycles) * ns_per_cycle, pct(0.5), pct(0.9),
        static_cast<unsigned long long>(r.longer),
        static_cast<double>(r.longer_cycles) * ns_per_cycle);
    return 0;
}
