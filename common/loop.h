// SPDX-License-Identifier: GPL-2.0-only
// Signals and the interval/count/duration loop every tool runs.
#pragma once

#include <cstdint>
#include <functional>

namespace bpfkit {

// SIGINT, SIGTERM and SIGHUP ask the loop to stop (without SA_RESTART, so a
// blocking poll returns at once). A second SIGINT exits at once.
void install_stop_handlers();
bool stop_requested();
void request_stop();
void clear_stop();  // for tests
int stop_signal();  // the signal that asked, or 0

struct LoopOptions {
    double interval_s = 1.0;  // tick every interval
    long count = 0;           // stop after this many ticks; 0 = no limit
    double duration_s = 0;    // stop after this long; 0 = no limit
};

// Until stopped: calls poll(timeout_ms) to wait for events (or sleeps when
// poll is empty), and tick(final) at every interval. After the last tick
// (count reached, duration over, or a signal) tick(true) is called once more
// only if the stop came between ticks. Returns 0, or the first non-zero
// value a callback returned (a negative poll result other than -EINTR).
int run_loop(const LoopOptions &opts, const std::function<int(int timeout_ms)> &poll,
             const std::function<int(bool final)> &tick);

// CLOCK_MONOTONIC now (bpf_ktime_get_ns() runs on it), and the offset that
// turns it into CLOCK_REALTIME.
uint64_t mono_now_ns();
int64_t wall_offset_ns();

}  // namespace bpfkit
