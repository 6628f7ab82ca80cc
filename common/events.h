// SPDX-License-Identifier: GPL-2.0-only
// Events from BPF programs to user space: over a BPF ring buffer, or a
// perf buffer on kernels without one (before 5.8). The BPF side declares
// one map with BPFKIT_EVENTS_MAP (bpf/bpfkit_events.bpf.h); before load,
// prepare_events_map() turns it into a perf event array when the kernel
// has no ring buffer, and the programs follow a read-only flag.
#pragma once

#include <bpf/libbpf.h>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace bpfkit {

enum class EventTransport { Ringbuf, Perfbuf };

const char *transport_name(EventTransport t);

// Chooses the transport for this kernel (or BPFKIT_EVENTS=perfbuf to force
// the fallback), retypes `map` when needed and sets the BPF program's
// read-only flag `*use_ringbuf` accordingly. Call between open and load.
EventTransport prepare_events_map(bpf_map *map, bool *use_ringbuf);

class EventSink {
  public:
    using Handler = std::function<void(const void *data, size_t size)>;

    EventSink() = default;
    ~EventSink();
    EventSink(const EventSink &) = delete;
    EventSink &operator=(const EventSink &) = delete;

    // 0 or -errno. `map` must be loaded.
    int open(bpf_map *map, EventTransport transport, Handler handler,
             size_t perf_pages_per_cpu = 64);
    // Waits up to timeout_ms, hands every waiting event to the handler;
    // returns the number handled or -errno (-EINTR when a signal came).
    int poll(int timeout_ms);
    // Hands every waiting event to the handler without waiting (for
    // producers that do not wake the reader for each event); the number
    // handled or -errno.
    int consume();
    // poll(), then consume() what producers that wake the reader only when
    // much is waiting left behind: 0 or -errno (not -EINTR).
    int drain(int timeout_ms);
    // Events the kernel could not deliver to a perf buffer because it was
    // full (ring buffer drops are counted by the BPF programs themselves).
    uint64_t lost() const { return lost_; }
    EventTransport transport() const { return transport_; }

  private:
    static int on_ringbuf(void *ctx, void *data, size_t size);
    static void on_perf_sample(void *ctx, int cpu, void *data, __u32 size);
    static void on_perf_lost(void *ctx, int cpu, __u64 count);

    Handler handler_;
    EventTransport transport_ = EventTransport::Ringbuf;
    ring_buffer *rb_ = nullptr;
    perf_buffer *pb_ = nullptr;
    uint64_t lost_ = 0;
    int handled_ = 0;
};

// The sum over CPUs of a per-CPU array's __u64 at key (0 if unreadable).
uint64_t percpu_sum(int map_fd, uint32_t key);
// Whether the per-CPU array can be read (0 or an errno): the probe of
// drop_capabilities_after_bpf().
int percpu_readable(int map_fd);

}  // namespace bpfkit
