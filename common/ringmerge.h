// SPDX-License-Identifier: GPL-2.0-only
// Several BPF ring buffers read as one stream in time order: a tool whose
// programs write to the ring of the CPU they run on (no lock or position
// shared between CPUs) reads them here. Each record starts with its time,
// a __u64 from bpf_ktime_get_ns() (CLOCK_MONOTONIC), taken no later than
// the record was committed.
//
// A poll reads the clock, then hands on, oldest first across the rings,
// every committed record stamped no later than that reading; later ones
// wait for the next poll. So two records of one thread, made one after the
// other, come out in their order even when they went to different rings:
// the earlier was committed before the later was stamped, so it is in its
// ring, and ahead of every record there stamped after it. Records are read
// in place (no copy), and each ring's consumer position is written back
// once per poll rather than per record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace bpfkit {

class RingMerge {
  public:
    using Handler = std::function<void(const void *data, size_t size)>;

    RingMerge() = default;
    ~RingMerge();
    RingMerge(const RingMerge &) = delete;
    RingMerge &operator=(const RingMerge &) = delete;

    // Adds a loaded BPF_MAP_TYPE_RINGBUF map: 0 or -errno.
    int add(int map_fd);
    size_t size() const { return rings_.size(); }
    // Waits up to timeout_ms until a ring has data, then hands on what is
    // due (above); the number of records handed on, or -errno (a signal
    // while waiting is not an error).
    int poll(int timeout_ms, const Handler &handler);
    // Hands on every committed record, whatever its time (the end of a run).
    int drain(const Handler &handler);

  private:
    struct Ring {
        int fd = -1;
        uint64_t *consumer = nullptr;        // the consumer page (read-write)
        const uint64_t *producer = nullptr;  // the producer page, then the data twice
        const uint8_t *data = nullptr;
        size_t map_len = 0;
        uint64_t mask = 0;
        uint64_t cons = 0, prod = 0, written = 0;
        bool has_head = false;
        uint64_t head_ts = 0;
        uint32_t head_len = 0;
    };
    bool head(Ring &r);
    int merge(uint64_t upto, const Handler &handler);

    std::vector<Ring> rings_;
    int epfd_ = -1;
    size_t page_ = 0;
};

}  // namespace bpfkit
