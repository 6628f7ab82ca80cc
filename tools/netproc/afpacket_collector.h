// SPDX-License-Identifier: GPL-2.0-only
// netproc's last rung, for kernels where eBPF cannot run: capture every IP
// frame of this network namespace with an AF_PACKET TPACKET_V3 ring
// (cbpf::ip_any(), cut to snap_len bytes: only headers are read) and find the
// process behind each frame's socket through /proc (common/procnet.h).
//
// What is counted: frame bytes (Frame::wire_len: link header included,
// retransmissions included; a GSO/TSO super-frame counts as one frame of its
// full length) and frames as packets.
//
// Direction.  A PACKET_OUTGOING frame is tx of the local socket whose
// endpoint is the frame's source; PACKET_HOST, PACKET_BROADCAST,
// PACKET_MULTICAST and PACKET_LOOPBACK frames are rx of the local socket
// whose endpoint is the frame's destination.  PACKET_OTHERHOST (another
// host's frames, seen when an interface is promiscuous) and other kinds are
// ignored (Stats::ignored).  On loopback every packet is captured twice,
// OUTGOING then HOST: the first is the sender's tx, the second the
// receiver's rx; the flow keys differ (local = source vs destination), so
// each socket counts each frame once per direction.  A packet that crosses
// stacked devices (VLAN on a NIC, bridge and port, bond and slave) is
// captured once per device: a flow's direction is locked to the interface it
// was first seen on, and the same flow and direction on another interface
// within kRelockNs of the last frame on the locked one is a duplicate,
// skipped (Stats::duplicates); after kRelockNs of silence the lock moves.
//
// Attribution.  A frame of an unknown flow is looked up in the socket map.
// If that fails the map is refreshed at once and looked up again, unless the
// rate limit says no: refreshes are at least min_refresh_ms apart and at
// least (CPU time of the last refresh / refresh_share) apart, at most 1 s
// (a refresh costs ~11 ms of CPU on a 6.x kernel with a large TCP hash, most
// of it the kernel walking empty buckets for /proc/net/tcp{,6}).  A refresh
// refused by the limit is done by poll() as soon as the limit allows.  Until
// a flow is found its frames are "pending"; when a later refresh finds the
// owner it gets the pending frames of the current interval too (the
// intervals already read reported them unattributed).  Unmatched flows, and
// TCP flows matched only to a listening socket (the SYN of a connection not
// accepted yet), ask for refreshes again, min_refresh_ms doubling up to
// 10 s.  read() tries one last refresh for pending flows; what stays pending
// goes to Snapshot::unattributed, with frames without TCP/UDP ports (ICMP,
// non-first fragments, other protocols), malformed frames, and frames of new
// flows when max_flows are cached (also in Losses::flows_full/bytes_full).
//
// Forwarded traffic (no socket, and the local side is not an address of this
// host, loopback, multicast or broadcast: routed packets, a bridge's
// container traffic before NAT) is no process's traffic here: it is counted
// in Stats::forwarded_* only, so NAT'd container traffic is counted once, on
// the host side of the NAT (unattributed).  skip_forwarded = false counts it
// as unattributed instead.
//
// Caches: flow -> pid entries are dropped after idle_expire_s without
// frames, and at read() when their process is gone.  Every pid is looked up
// in /proc (comm, uid, cgroup) when first attributed, so its name survives
// its exit; a dead process is reported in Snapshot::exited once.  A socket
// held by several processes goes to the lowest pid (procnet.h).  A pid
// reused between two reads is not noticed.
//
// The known weakness: a connection that opens, moves its data and closes
// before a refresh sees it (within block_timeout_ms plus the rate limit:
// tens to ~150 ms) is never found in /proc; its bytes are unattributed.
// tests/kernel/test_afpacket_collector.cpp measures it.
//
// Privileges: open() needs CAP_NET_RAW; reading other users' /proc/<pid>/fd
// needs CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE for as long as it runs
// (Stats::pids_unreadable counts the processes that could not be read).
//
// Not thread-safe; use from one thread.  With net_dir "thread-self/net", that
// thread's network namespace is the one whose sockets are looked up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "afpacket.h"
#include "netproc_model.h"
#include "procnet.h"

namespace bpfkit::netproc {

struct AfPacketCollectorOptions {
    std::string proc_root = "/proc";
    std::string net_dir = "net";  // socket tables, relative to proc_root (procnet::net_dir_of)
    std::string cgroup_root = "/sys/fs/cgroup";  // for Flow::cgroup_id (cgroup v2 inode)
    int min_refresh_ms = 50;
    double refresh_share = 0.1;  // refreshes wait their last CPU time / this (at most 1 s)
    int idle_expire_s = 30;
    size_t max_flows = 65536;   // flows cached; frames of new flows beyond are unattributed
    uint32_t snap_len = 256;    // bytes kept per frame: headers are enough
    int block_timeout_ms = 20;  // how late a frame may reach us when traffic is low
    uint32_t block_size = 1u << 20;
    uint32_t block_count = 8;
    bool skip_forwarded = true;  // see above; false counts forwarded frames as unattributed
};

class AfPacketCollector {
  public:
    // Cumulative since open(); for diagnostics and tests.
    struct Stats {
        uint64_t frames = 0;               // handed to handle()
        uint64_t attributed_frames = 0;    // counted for a process
        uint64_t late_frames = 0;          // of those: counted pending, attributed later
        uint64_t unattributed_frames = 0;  // reported in Snapshot::unattributed
        uint64_t no_ports_frames = 0;      // of those: not TCP/UDP, or no ports
        uint64_t duplicates = 0;           // same flow and direction on a second device
        uint64_t ignored = 0;              // PACKET_OTHERHOST and other pkttypes
        uint64_t forwarded_frames = 0, forwarded_bytes = 0;
        uint64_t refreshes = 0, refreshes_limited = 0;
        double refresh_ms_total = 0, refresh_ms_last = 0;  // wall time
        double refresh_cpu_ms_total = 0;                   // this thread's CPU time
        uint64_t refresh_errors = 0;                       // socket tables unreadable
        size_t pids_unreadable = 0;  // at the last refresh (fd dirs we may not read)
        uint64_t flows_created = 0, flows_expired = 0, flows_dead = 0;
        size_t flows_cached = 0;
    };

    static constexpr int64_t kRelockNs = 1'000'000'000;

    explicit AfPacketCollector(AfPacketCollectorOptions opts = {});

    // AF_PACKET on all interfaces of this network namespace with
    // cbpf::ip_any() (cut to snap_len bytes per frame), then a first /proc
    // scan.  0 or an errno, with *err naming the cause and the fix.
    int open(std::string *err);
    int fd() const { return cap_.fd(); }
    // Waits up to timeout_ms for frames and counts them; frames handled or
    // -errno.  Waits less when a refresh put off by the rate limit is due,
    // and does it: call it often (it is what attributes flows on time).
    int poll(int timeout_ms);
    // Deltas since the last read, like EbpfCollector::read;
    // measures_unattributed is set.
    Snapshot read(double interval_s);

    // Counts one frame seen at now_ns (CLOCK_MONOTONIC): what poll() does for
    // each captured frame; public for tests and replays.
    void handle(const Frame &f, int64_t now_ns);

    Stats stats() const;
    const procnet::SocketMap &socket_map() const { return map_; }

  private:
    // Local is the frame's source for tx, its destination for rx; addresses as in the frame.
    using FlowKey = procnet::TupleKey;
    enum class Attr : uint8_t { None, Tentative, Final };
    struct FlowState {
        pkt::IpAddr local, remote;
        uint32_t pid = 0;
        Attr attr = Attr::None;
        bool forwarded = false;
        bool bcast = false;  // seen as broadcast/multicast rx: local whatever the address
        uint64_t gen = 0;    // socket map generation of the last lookup
        int64_t next_retry_ns = 0, backoff_ns = 0;
        int64_t last_seen_ns = 0;
        int ifindex[2] = {0, 0};  // [0] tx, [1] rx
        int64_t if_seen_ns[2] = {0, 0};
        Counters delta, total, pending;
    };
    int64_t now_ns() const;
    // A flow's counters as the Snapshot reports them.
    Flow to_flow(const FlowKey &k, const FlowState &st) const;
    bool refresh(int64_t now_ns, bool force);
    bool want_refresh(int64_t now_ns);
    void resolve_unsettled();
    void lookup(const FlowKey &k, FlowState &st);
    void note_pid(uint32_t pid, uint32_t socket_uid);
    bool is_local(const pkt::IpAddr &a) const;
    bool alive(uint32_t pid) const;
    void count_unattributed(bool tx, uint32_t bytes);

    AfPacketCollectorOptions opts_;
    AfPacket cap_;
    procnet::SocketMap map_;
    std::unordered_map<FlowKey, FlowState, procnet::TupleKeyHash> flows_;
    std::vector<Flow> retired_;           // deltas of flows whose owner changed this interval
    std::map<uint32_t, ProcName> procs_;  // every pid attributed and not yet reported exited
    std::vector<pkt::IpAddr> local_addrs_;
    bool local_addrs_known_ = false;
    Counters unattributed_;  // this interval, besides the flows' pending
    bool refreshed_ = false;
    bool refresh_wanted_ = false;  // asked for while rate-limited: poll() does it when allowed
    int64_t last_refresh_ns_ = 0, min_gap_ns_ = 0;
    uint64_t malformed_ = 0, flows_full_ = 0, bytes_full_ = 0;
    Stats st_;
};

}  // namespace bpfkit::netproc
