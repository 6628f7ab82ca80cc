// SPDX-License-Identifier: GPL-2.0-only
#include "loop.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>

namespace bpfkit {

namespace {

std::atomic<int> g_stop{0};

void on_signal(int sig) {
    int prev = g_stop.exchange(sig);
    if (prev == SIGINT && sig == SIGINT) _exit(130);
}

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: interrupt blocking waits
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

bool stop_requested() {
    return g_stop.load() != 0;
}
void request_stop() {
    g_stop.store(-1);
}
void clear_stop() {
    g_stop.store(0);
}
int stop_signal() {
    return std::max(0, g_stop.load());
}

int run_loop(const LoopOptions &opts, const std::function<int(int)> &poll,
             const std::function<int(bool)> &tick) {
    const double start = now_s();
    const double interval = opts.interval_s > 0 ? opts.interval_s : 1.0;
    const double end = opts.duration_s > 0 ? start + opts.duration_s : INFINITY;
    double next = start + interval;
    long ticks = 0;
    while (!stop_requested()) {
        double t = now_s();
        if (t >= end) break;
        if (t >= next) {
            ticks++;
            bool last = opts.count > 0 && ticks >= opts.count;
            if (int rc = tick(last)) return rc;
            if (last) return 0;
            next += interval;
            if (next <= t) next = t + interval;  // fell behind: do not burst
            continue;
        }
        double wait = std::min(next, end) - t;
        int ms = static_cast<int>(std::ceil(wait * 1000.0));
        ms = std::clamp(ms, 1, 1000);
        if (poll) {
            int rc = poll(ms);
            if (rc < 0 && rc != -EINTR) return rc;
        } else {
            timespec ts{ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, nullptr);
        }
    }
    // Stopped by a signal or the duration: one final report of what came
    // in since the last tick.
    return tick(true);
}

namespace {

int64_t ns_of(const timespec &ts) {
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

uint64_t mono_now_ns() {
    timespec m;
    clock_gettime(CLOCK_MONOTONIC, &m);
    return static_cast<uint64_t>(ns_of(m));
}

int64_t wall_offset_ns() {
    timespec m, r;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &r);
    return ns_of(r) - ns_of(m);
}

}  // namespace bpfkit
