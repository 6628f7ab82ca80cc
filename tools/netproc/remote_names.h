// SPDX-License-Identifier: GPL-2.0-only
// Remote names, passively: DNS responses seen on this host (port 53, UDP
// and TCP) fill a cache of address -> name. Never a reverse lookup.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "afpacket.h"
#include "dns.h"

namespace bpfkit::netproc {

class RemoteNames {
  public:
    // 0 or errno (needs CAP_NET_RAW), with *err naming the cause.
    int open(std::string *err);
    bool is_open() const { return cap_.is_open(); }
    int fd() const { return cap_.fd(); }
    // Takes in whatever DNS traffic is waiting; -errno on failure.
    int poll(int timeout_ms);
    std::optional<std::string> lookup(const pkt::IpAddr &addr);

    uint64_t responses() const { return responses_; }
    uint64_t malformed() const { return malformed_; }

  private:
    void message(std::span<const uint8_t> bytes);

    AfPacket cap_;
    // Names label connections made after the answer, often long after its
    // TTL (0 for many local answers): keep each at least five minutes.
    dns::NameCache cache_{4096, 300};
    // One framer per TCP connection and direction (in-order segments assumed).
    std::map<std::string, dns::TcpFramer> tcp_;
    uint64_t responses_ = 0, malformed_ = 0;
};

}  // namespace bpfkit::netproc
