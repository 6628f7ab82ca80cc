// SPDX-License-Identifier: GPL-2.0-only
#include "dnssnoop_tcp.h"

#include <algorithm>

namespace bpfkit::dnssnoop {

namespace {

// Signed distance from b to a in sequence space (RFC 1982 arithmetic).
int32_t seq_diff(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b);
}

}  // namespace

void TcpStream::gap() {
    ++stats_.gaps;
    framer_.reset();
}

void TcpStream::take(uint32_t seq, std::span<const uint8_t> payload, uint32_t wire_len,
                     const OnMessage &on_message) {
    if (seq_diff(seq, next_) > 0) return;  // not its turn yet (the caller holds it)
    const uint32_t behind = next_ - seq;   // bytes of it before next_, seen already
    const uint32_t end = seq + wire_len;
    if (behind >= wire_len) {
        stats_.duplicate_bytes += wire_len;
        return;
    }
    stats_.duplicate_bytes += behind;
    const size_t skip = behind;
    if (skip < payload.size()) {
        auto fresh = payload.subspan(skip);
        framer_.feed(fresh, [&](std::span<const uint8_t> m) {
            ++stats_.messages;
            on_message(m, false);
        });
    }
    next_ = end;
    // The capture cut the segment: the rest of its bytes were never seen.
    if (payload.size() < wire_len) {
        ++stats_.cut;
        const size_t lost = wire_len - std::max<size_t>(payload.size(), skip);
        if (!framer_.lose(lost, [&](std::span<const uint8_t> m) { on_message(m, true); }))
            ++stats_.gaps;
    }
}

void TcpStream::drain(const OnMessage &on_message) {
    for (;;) {
        auto it = std::find_if(held_.begin(), held_.end(),
                               [&](const Held &h) { return seq_diff(h.seq, next_) <= 0; });
        if (it == held_.end()) return;
        Held h = std::move(*it);
        held_bytes_ -= h.bytes.size();
        held_.erase(it);
        take(h.seq, h.bytes, h.wire_len, on_message);
    }
}

void TcpStream::segment(uint32_t seq, bool syn, std::span<const uint8_t> payload, uint32_t wire_len,
                        const OnMessage &on_message) {
    wire_len = std::max<uint32_t>(wire_len, static_cast<uint32_t>(payload.size()));
    if (syn) {
        // A new connection (or the SYN again): data starts after it.
        if (!synced_ || seq + 1 != next_) {
            held_.clear();
            held_bytes_ = 0;
            framer_.reset();
        }
        synced_ = true;
        next_ = seq + 1;
        seq += 1;
    }
    if (wire_len == 0) return;
    if (!synced_) {
        // Joined mid-connection: hope this segment starts a message.
        synced_ = true;
        next_ = seq;
    }
    if (seq_diff(seq, next_) > 0) {
        // Ahead of its turn: keep it until the bytes before it come.
        ++stats_.held;
        held_.push_back(Held{seq, wire_len, {payload.begin(), payload.end()}});
        held_bytes_ += payload.size();
        if (held_.size() > kMaxHeld || held_bytes_ > kMaxHeldBytes) {
            // The missing bytes are not coming: go on from the earliest held segment.
            auto first =
                std::min_element(held_.begin(), held_.end(), [&](const Held &a, const Held &b) {
                    return seq_diff(a.seq, next_) < seq_diff(b.seq, next_);
                });
            next_ = first->seq;
            gap();
            drain(on_message);
        }
        return;
    }
    take(seq, payload, wire_len, on_message);
    drain(on_message);
}

}  // namespace bpfkit::dnssnoop
