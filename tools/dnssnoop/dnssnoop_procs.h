// SPDX-License-Identifier: GPL-2.0-only
// The user-space side of attribution: the container of a process the kernel
// named, and the process behind a socket the kernel could not name (the
// AF_PACKET mode; sockets opened before dnssnoop started) from /proc.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "procnet.h"  // common/
#include "dnssnoop_tracker.h"

namespace bpfkit::dnssnoop {

class ProcResolver {
  public:
    explicit ProcResolver(std::string proc_root = "/proc");
    // As Tracker::Resolve: names the owner from /proc when it is unknown,
    // then adds its container.
    void resolve(Owner &o, uint8_t proto, const Endpoint &client, const Endpoint &server);

    uint64_t lookups() const { return lookups_; }
    uint64_t misses() const { return misses_; }
    uint64_t refreshes() const { return map_.stats().refreshes; }

  private:
    // What is known of a process, read from /proc at most every kProcTtlNs
    // (pids are reused), and kept for the moment it is gone.
    struct Proc {
        std::string comm;
        std::optional<std::string> container;
        uint64_t at_ns = 0;
    };
    const Proc &proc(uint32_t pid, uint64_t now_ns);

    std::string root_;
    procnet::SocketMap map_;
    uint64_t last_refresh_ns_ = 0;
    std::unordered_map<uint32_t, Proc> procs_;
    uint64_t lookups_ = 0, misses_ = 0;
};

}  // namespace bpfkit::dnssnoop
