// SPDX-License-Identifier: GPL-2.0-only
#include "dnssnoop_hold.h"

namespace bpfkit::dnssnoop {

OwnerWait::OwnerWait(uint64_t max_wait_ns, std::function<void(Event &)> retry,
                     std::function<void(Event &&)> emit)
    : max_wait_ns_(max_wait_ns), retry_(std::move(retry)), emit_(std::move(emit)) {}

// A record that names a process, and does not know it yet. A malformed
// message from a raw socket, or from another host, has none to find.
bool OwnerWait::needs_owner(const Event &e) {
    return !e.owner.known && e.kind != EventKind::Malformed;
}

void OwnerWait::push(Event &&e, uint64_t now_ns) {
    if (q_.empty() && !needs_owner(e)) {
        emit_(std::move(e));
        return;
    }
    q_.push_back(Held{std::move(e), now_ns});
}

void OwnerWait::flush(uint64_t now_ns, bool all) {
    for (Held &h : q_)
        if (needs_owner(h.e)) retry_(h.e);
    while (!q_.empty()) {
        Held &h = q_.front();
        const bool over = now_ns >= h.since_ns && now_ns - h.since_ns >= max_wait_ns_;
        if (needs_owner(h.e) && !over && !all) break;
        Event e = std::move(h.e);
        q_.pop_front();
        emit_(std::move(e));
    }
}

}  // namespace bpfkit::dnssnoop
