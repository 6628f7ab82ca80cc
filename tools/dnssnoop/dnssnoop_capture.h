// SPDX-License-Identifier: GPL-2.0-only
// The two ways packets reach the tracker: the eBPF programs' events (with
// the process named in the kernel), or an AF_PACKET socket with a classic
// BPF filter on the watched ports (processes from /proc).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "afpacket.h"  // common/
#include "events.h"    // common/
#include "dnssnoop_tracker.h"

struct dnssnoop_bpf;

namespace bpfkit::dnssnoop {

using PacketHandler = std::function<void(const CapturedPacket &)>;

// CLOCK_REALTIME - CLOCK_MONOTONIC, now.

// What the kernel counted (eBPF modes), summed over CPUs.
struct KernelStats {
    uint64_t events = 0, ring_drops = 0, truncated = 0, no_owner = 0, owners_seen = 0, v6_ext = 0;
};

class EbpfCapture {
  public:
    // The skeleton stays the caller's (the ladder's trier holds it).
    int open(dnssnoop_bpf *skel, EventTransport transport, PacketHandler handler);
    int fd() const;
    // Hands waiting events to the handler; -errno on failure.
    int poll(int timeout_ms);
    // 0, or the errno of a failed map read (for dropping capabilities).
    int probe_read() const;
    KernelStats stats() const;
    uint64_t perf_lost() const { return sink_.lost(); }

  private:
    dnssnoop_bpf *skel_ = nullptr;
    EventSink sink_;
    PacketHandler handler_;
    uint64_t bad_events_ = 0;
};

class AfPacketCapture {
  public:
    // 0 or errno, with *err saying what and how to fix it.
    int open(const std::vector<uint16_t> &ports, std::string *err);
    int fd() const { return cap_.fd(); }
    int poll(int timeout_ms, const PacketHandler &handler);
    // At the stop: what the kernel captured and did not hand over yet
    // (see AfPacket::drain).
    int drain(int budget_ms, const PacketHandler &handler);
    AfPacketStats stats() { return cap_.stats(); }

  private:
    void deliver(const Frame &f, const PacketHandler &handler) const;

    AfPacket cap_;
    int64_t wall_offset_ns_ = 0;
};

}  // namespace bpfkit::dnssnoop
