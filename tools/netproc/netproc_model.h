// SPDX-License-Identifier: GPL-2.0-only
// What netproc measures, whichever mode measured it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "packet.h"

namespace bpfkit::netproc {

struct Counters {
    uint64_t tx_bytes = 0, rx_bytes = 0, tx_packets = 0, rx_packets = 0;

    Counters &operator+=(const Counters &o) {
        tx_bytes += o.tx_bytes;
        rx_bytes += o.rx_bytes;
        tx_packets += o.tx_packets;
        rx_packets += o.rx_packets;
        return *this;
    }
    bool empty() const { return !tx_bytes && !rx_bytes && !tx_packets && !rx_packets; }
};

// One socket's traffic on behalf of one process.
struct Flow {
    uint32_t tgid = 0;  // 0: not attributed to a process
    uint64_t cgroup_id = 0;
    uint8_t proto = 0;  // IPPROTO_TCP / IPPROTO_UDP
    pkt::IpAddr local, remote;
    uint16_t lport = 0, rport = 0;
    Counters delta;  // in this interval
    Counters total;  // since netproc started
};

struct ProcName {
    std::string comm;
    uint32_t uid = 0;
    uint64_t cgroup_id = 0;
    bool known = false;
};

// Things lost or skipped, cumulative since start: never silent.
struct Losses {
    uint64_t flows_full = 0;      // updates dropped: flow map full
    uint64_t bytes_full = 0;      // their bytes
    uint64_t procs_full = 0;      // processes whose name could not be kept
    uint64_t stash_full = 0;      // kprobe entries lost
    uint64_t peeks_skipped = 0;   // MSG_PEEK / MSG_ERRQUEUE receives not counted
    uint64_t socks_full = 0;      // sockets whose tuple the kernel could not keep
    uint64_t closed_full = 0;     // TCP closes not recorded (their sockets stay until exit)
    uint64_t released_full = 0;   // released sockets whose last counts were lost
    uint64_t released_bytes = 0;  // their bytes (the total at release)
    uint64_t capture_drops = 0;   // AF_PACKET ring drops
    uint64_t malformed = 0;       // frames that did not parse
};

struct Snapshot {
    std::vector<Flow> flows;             // flows that moved bytes this interval
    std::map<uint32_t, ProcName> names;  // from the kernel, for processes that may be gone
    std::vector<uint32_t> exited;        // tgids reported for the last time
    Counters unattributed;               // traffic no process could be found for (AF_PACKET)
    bool measures_unattributed = false;
    Losses losses;
    // Counter entries left in the kernel after this read (eBPF modes): live
    // sockets' storage and flows; released, closed and dead ones are dropped.
    uint64_t kernel_entries = 0;
    double interval_s = 0;
};

}  // namespace bpfkit::netproc
