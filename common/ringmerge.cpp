// SPDX-License-Identifier: GPL-2.0-only
#include "ringmerge.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bpfkit {

namespace {

// A record's length in the ring: its header and data, 8-byte aligned.
uint64_t record_span(uint32_t len) {
    len &= ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    return (static_cast<uint64_t>(len) + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
}

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

RingMerge::~RingMerge() {
    for (Ring &r : rings_) {
        if (r.consumer) munmap(r.consumer, page_);
        if (r.producer) munmap(const_cast<uint64_t *>(r.producer), r.map_len);
    }
    if (epfd_ >= 0) close(epfd_);
}

int RingMerge::add(int map_fd) {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(map_fd, &info, &len) < 0) return -errno;
    if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0) return -EINVAL;
    if (!page_) page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (epfd_ < 0) {
        epfd_ = epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) return -errno;
    }
    Ring r;
    r.fd = map_fd;
    void *c = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (c == MAP_FAILED) return -errno;
    r.consumer = static_cast<uint64_t *>(c);
    // The data is mapped twice in a row, so a record that wraps around the
    // end reads as one piece.
    r.map_len = page_ + 2 * static_cast<size_t>(info.max_entries);
    void *p = mmap(nullptr, r.map_len, PROT_READ, MAP_SHARED, map_fd, static_cast<off_t>(page_));
    if (p == MAP_FAILED) {
        int e = errno;
        munmap(c, page_);
        return -e;
    }
    r.producer = static_cast<const uint64_t *>(p);
    r.data = static_cast<const uint8_t *>(p) + page_;
    r.mask = info.max_entries - 1;
    r.cons = r.written = __atomic_load_n(r.consumer, __ATOMIC_ACQUIRE);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(rings_.size());
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, map_fd, &ev) < 0) {
        int e = errno;
        munmap(c, page_);
        munmap(p, r.map_len);
        return -e;
    }
    rings_.push_back(r);
    return 0;
}

// Finds the ring's next committed record within this round's snapshot of
// its producer position (discarded ones are stepped over).
bool RingMerge::head(Ring &r) {
    if (r.has_head) return true;
    while (r.cons < r.prod) {
        const auto *hdr = reinterpret_cast<const uint32_t *>(r.data + (r.cons & r.mask));
        uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
        if (len & BPF_RINGBUF_BUSY_BIT) return false;  // not committed yet
        if (len & BPF_RINGBUF_DISCARD_BIT) {
            r.cons += record_span(len);
            continue;
        }
        r.head_len = len;
        r.head_ts = 0;
        if (len >= sizeof(uint64_t))
            memcpy(&r.head_ts, reinterpret_cast<const uint8_t *>(hdr) + BPF_RINGBUF_HDR_SZ,
                   sizeof(uint64_t));
        r.has_head = true;
        return true;
    }
    return false;
}

int RingMerge::merge(uint64_t upto, const Handler &handler) {
    for (Ring &r : rings_)
        r.prod = __atomic_load_n(r.producer, __ATOMIC_ACQUIRE);
    int n = 0;
    for (;;) {
        Ring *best = nullptr;
        for (Ring &r : rings_) {
            if (!head(r) || r.head_ts > upto) continue;
            if (!best || r.head_ts < best->head_ts) best = &r;
        }
        if (!best) break;
        const uint8_t *rec = best->data + (best->cons & best->mask);
        handler(rec + BPF_RINGBUF_HDR_SZ, best->head_len);
        best->cons += record_span(best->head_len);
        best->has_head = false;
        // Give space back now and then on a long run, not per record.
        if (best->cons - best->written >= (best->mask + 1) / 4) {
            __atomic_store_n(best->consumer, best->cons, __ATOMIC_RELEASE);
            best->written = best->cons;
        }
        ++n;
    }
    for (Ring &r : rings_) {
        if (r.cons != r.written) {
            __atomic_store_n(r.consumer, r.cons, __ATOMIC_RELEASE);
            r.written = r.cons;
        }
    }
    return n;
}

int RingMerge::poll(int timeout_ms, const Handler &handler) {
    if (epfd_ < 0) return -EINVAL;
    epoll_event evs[8];
    if (epoll_wait(epfd_, evs, 8, timeout_ms) < 0 && errno != EINTR) return -errno;
    return merge(monotonic_ns(), handler);
}

int RingMerge::drain(const Handler &handler) {
    return merge(UINT64_MAX, handler);
}

}  // namespace bpfkit
