// SPDX-License-Identifier: GPL-2.0-only
// One direction of a TCP connection carrying DNS (RFC 7766): segments as a
// capture sees them (out of order, repeated, cut short by the snap length)
// put back in stream order and framed into messages with dns::TcpFramer.
// Pure logic on bytes, bounded in memory; fuzzed with the DNS parser.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "dns.h"  // common/

namespace bpfkit::dnssnoop {

class TcpStream {
  public:
    // Segments held while an earlier one is missing, at most.
    static constexpr size_t kMaxHeld = 16;
    static constexpr size_t kMaxHeldBytes = 64 * 1024;

    // A message, and whether the capture cut it (only its first bytes are there).
    using OnMessage = std::function<void(std::span<const uint8_t>, bool cut)>;

    // seq: the segment's sequence number (the SYN's own with syn); payload:
    // the bytes captured; wire_len: the payload's length on the wire (more
    // than payload.size() when the capture cut it). Messages complete in
    // stream order go to on_message (the span lives during the call only);
    // a message the cut fell into goes there too, as far as it came.
    void segment(uint32_t seq, bool syn, std::span<const uint8_t> payload, uint32_t wire_len,
                 const OnMessage &on_message);

    struct Stats {
        uint64_t duplicate_bytes = 0;  // seen before (retransmissions, overlaps)
        uint64_t held = 0;             // segments that came before their turn
        uint64_t gaps = 0;             // losses after which framing had to start afresh
        uint64_t cut = 0;              // segments the capture cut short
        uint64_t messages = 0;
    };
    const Stats &stats() const { return stats_; }
    // Stream bytes taken in but never part of a delivered message.
    uint64_t discarded() const { return framer_.discarded(); }
    size_t held_bytes() const { return held_bytes_; }

  private:
    struct Held {
        uint32_t seq;
        uint32_t wire_len;
        std::vector<uint8_t> bytes;
    };
    // Feeds a segment that starts at or before next_.
    void take(uint32_t seq, std::span<const uint8_t> payload, uint32_t wire_len,
              const OnMessage &on_message);
    void drain(const OnMessage &on_message);
    void gap();

    bool synced_ = false;
    uint32_t next_ = 0;  // sequence number of the next stream byte expected
    std::vector<Held> held_;
    size_t held_bytes_ = 0;
    dns::TcpFramer framer_;
    Stats stats_;
};

}  // namespace bpfkit::dnssnoop
