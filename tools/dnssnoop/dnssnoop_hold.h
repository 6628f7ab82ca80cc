// SPDX-License-Identifier: GPL-2.0-only
// Records whose process is not known yet wait a little before they are
// printed: in afpacket mode (and for sockets opened before dnssnoop started)
// the process is found by scanning /proc, and a scan is made at most every
// few tens of milliseconds, so a socket opened just before its query may not
// be in the last one. A later scan usually finds it, while the socket lives.
// Records keep their order: while one waits, the ones after it wait too.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include "dnssnoop_tracker.h"

namespace bpfkit::dnssnoop {

class OwnerWait {
  public:
    // retry: looks for the owner again (fills e.owner if it can now).
    // emit: the record, in the order it came, owner found or not.
    OwnerWait(uint64_t max_wait_ns, std::function<void(Event &)> retry,
              std::function<void(Event &&)> emit);

    void push(Event &&e, uint64_t now_ns);
    // Looks again for the owners still unknown, then emits from the front
    // every record whose owner is known or whose wait is over (all with
    // `all`, at the end).
    void flush(uint64_t now_ns, bool all = false);
    size_t waiting() const { return q_.size(); }

  private:
    struct Held {
        Event e;
        uint64_t since_ns;
    };
    static bool needs_owner(const Event &e);

    uint64_t max_wait_ns_;
    std::function<void(Event &)> retry_;
    std::function<void(Event &&)> emit_;
    std::deque<Held> q_;
};

}  // namespace bpfkit::dnssnoop
