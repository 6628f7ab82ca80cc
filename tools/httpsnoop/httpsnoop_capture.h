// SPDX-License-Identifier: GPL-2.0-only
// The kernel side of httpsnoop at run time: the events from the ring
// buffer, the counters, and the TLS uprobes attached to each TLS library
// found (in the usual library directories at the start, and in the maps
// of every process as processes appear).
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "events.h"
#include "ringmerge.h"
#include "httpsnoop_output.h"
#include "httpsnoop_tracker.h"

struct httpsnoop_bpf;

namespace bpfkit::httpsnoop {

class Capture {
  public:
    using OnData = std::function<void(const DataEvent &)>;
    using OnClose = std::function<void(uint32_t tgid, int32_t fd, uint64_t sk, uint64_t ts)>;

    Capture() = default;
    ~Capture();
    Capture(const Capture &) = delete;
    Capture &operator=(const Capture &) = delete;

    int open(httpsnoop_bpf *skel, EventTransport transport, OnData on_data, OnClose on_close);
    // Waits up to timeout_ms for events and hands them on: 0 or -errno.
    int poll(int timeout_ms);
    // Hands on every event still waiting (at the end of the run).
    int finish();
    // How many rings the events come through (one per CPU, or one).
    size_t rings() const { return merge_ ? rings_.size() : 1; }
    int probe_read() const;
    // Kernel counters into s (TLS figures from this object).
    void stats(RunStats &s) const;

    // TLS: attaches the uprobes to every libssl/libgnutls in the usual
    // library directories; then scan() looks through the maps of processes
    // not seen before. Returns the number of libraries newly attached.
    int attach_tls_system();
    int scan_processes();
    size_t tls_libraries() const { return libs_.size(); }
    const std::vector<std::string> &tls_paths() const { return paths_; }

  private:
    int attach_library(const std::string &path);
    // One event, as the kernel sent it, to on_data_ or on_close_.
    void deliver(const void *data, size_t size);

    httpsnoop_bpf *skel_ = nullptr;
    EventSink sink_;
    bool merge_ = false;
    RingMerge rings_;  // the per-CPU rings and the shared one, when merge_
    std::vector<int> ring_fds_;
    OnData on_data_;
    OnClose on_close_;
    uint64_t bad_events_ = 0;
    std::set<std::pair<uint64_t, uint64_t>> libs_;  // (dev, inode) attached or tried
    std::vector<std::string> paths_;
    std::set<int> seen_pids_;
    std::vector<bpf_link *> links_;
    uint64_t attach_failed_ = 0;
};

}  // namespace bpfkit::httpsnoop
