// SPDX-License-Identifier: GPL-2.0-only
#include "events.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernel_features.h"

namespace bpfkit {

const char *transport_name(EventTransport t) {
    return t == EventTransport::Ringbuf ? "ringbuf" : "perfbuf";
}

EventTransport prepare_events_map(bpf_map *map, bool *use_ringbuf) {
    const char *force = getenv("BPFKIT_EVENTS");
    bool ringbuf = force ? strcmp(force, "perfbuf") != 0 : system_features().yes(Feature::Ringbuf);
    if (!ringbuf) {
        bpf_map__set_type(map, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
        bpf_map__set_key_size(map, sizeof(int));
        bpf_map__set_value_size(map, sizeof(int));
        bpf_map__set_max_entries(map, 0);  // libbpf sizes it to the CPU count
    }
    if (use_ringbuf) *use_ringbuf = ringbuf;
    return ringbuf ? EventTransport::Ringbuf : EventTransport::Perfbuf;
}

EventSink::~EventSink() {
    ring_buffer__free(rb_);
    perf_buffer__free(pb_);
}

int EventSink::open(bpf_map *map, EventTransport transport, Handler handler,
                    size_t perf_pages_per_cpu) {
    handler_ = std::move(handler);
    transport_ = transport;
    int fd = bpf_map__fd(map);
    if (transport == EventTransport::Ringbuf) {
        rb_ = ring_buffer__new(fd, on_ringbuf, this, nullptr);
        return rb_ ? 0 : -errno;
    }
    pb_ = perf_buffer__new(fd, perf_pages_per_cpu, on_perf_sample, on_perf_lost, this, nullptr);
    return pb_ ? 0 : -errno;
}

int EventSink::poll(int timeout_ms) {
    handled_ = 0;
    int rc = rb_   ? ring_buffer__poll(rb_, timeout_ms)
             : pb_ ? perf_buffer__poll(pb_, timeout_ms)
                   : -EINVAL;
    if (rc < 0) return rc;
    return handled_;
}

int EventSink::consume() {
    handled_ = 0;
    int rc = rb_ ? ring_buffer__consume(rb_) : pb_ ? perf_buffer__consume(pb_) : -EINVAL;
    if (rc < 0) return rc;
    return handled_;
}

int EventSink::on_ringbuf(void *ctx, void *data, size_t size) {
    auto *self = static_cast<EventSink *>(ctx);
    self->handled_++;
    self->handler_(data, size);
    return 0;
}

void EventSink::on_perf_sample(void *ctx, int, void *data, __u32 size) {
    auto *self = static_cast<EventSink *>(ctx);
    self->handled_++;
    self->handler_(data, size);
}

void EventSink::on_perf_lost(void *ctx, int, __u64 count) {
    static_cast<EventSink *>(ctx)->lost_ += count;
}

int EventSink::drain(int timeout_ms) {
    int n = poll(timeout_ms);
    if (n < 0 && n != -EINTR) return n;
    int m = consume();
    return m < 0 ? m : 0;
}

uint64_t percpu_sum(int map_fd, uint32_t key) {
    std::vector<uint64_t> vals(static_cast<size_t>(libbpf_num_possible_cpus()));
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(map_fd, &key, vals.data()) == 0)
        for (uint64_t v : vals)
            sum += v;
    return sum;
}

int percpu_readable(int map_fd) {
    std::vector<uint64_t> vals(static_cast<size_t>(libbpf_num_possible_cpus()));
    uint32_t key = 0;
    return bpf_map_lookup_elem(map_fd, &key, vals.data()) == 0 ? 0 : errno;
}

}  // namespace bpfkit
