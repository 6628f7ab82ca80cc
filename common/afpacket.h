// AF_PACKET capture through a TPACKET_V3 mmap ring, with an optional classic
// BPF filter, plus a few hand-assembled filters (no libpcap).
#pragma once

#include <linux/filter.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "packet.h"

namespace bpfkit {

struct AfPacketOptions {
    std::string ifname;               // empty = all interfaces
    uint32_t block_size = 1u << 20;   // multiple of the page size
    uint32_t block_count = 8;         // ring = block_size * block_count bytes
    uint32_t frame_size = 2048;       // multiple of 16; block_size must be a multiple
    int block_timeout_ms = 100;       // a non-full block is handed over after this
    std::vector<sock_filter> filter;  // classic BPF; empty = no filter
    bool promisc = false;             // needs ifname
    bool ignore_outgoing = false;     // drop PACKET_OUTGOING (kernel-side when possible)
};

// One captured frame.  `data` points into the ring and is valid only during
// the callback.  For Ethernet-like devices (ARPHRD_ETHER, ARPHRD_LOOPBACK) it
// starts at the Ethernet header; for header-less devices (tun, wireguard,
// ipip: see link_kind()) it starts at the IP header.
struct Frame {
    std::span<const uint8_t> data;  // snap_len bytes
    uint32_t wire_len = 0;          // length on the wire
    uint32_t snap_len = 0;          // bytes captured (== data.size())
    int ifindex = 0;
    uint8_t pkttype = 0;    // PACKET_HOST, PACKET_BROADCAST, PACKET_OUTGOING, ...
    uint16_t protocol = 0;  // ethertype from sockaddr_ll (host order)
    uint16_t hatype = 0;    // ARPHRD_*
    struct timespec ts = {};
    bool vlan_valid = false;  // the kernel stripped a VLAN tag (offload): see vlan_tci
    uint16_t vlan_tci = 0;
};

// Cumulative counters since open().  The kernel resets its counters on every
// read; stats() accumulates them.  `packets` counts every packet that passed
// the filter, including the dropped ones (kernel semantics for TPACKET_V3).
struct AfPacketStats {
    uint64_t packets = 0;
    uint64_t drops = 0;     // ring full
    uint64_t freeze_q = 0;  // times the queue was frozen because no block was free
    // Frames that reached the ring and were not handed to a callback yet:
    // packets - drops - frames read. After drain() at the end, what is left
    // here was captured and never read, and is lost.
    uint64_t unread = 0;
};

class AfPacket {
  public:
    AfPacket() = default;
    ~AfPacket();
    AfPacket(const AfPacket &) = delete;
    AfPacket &operator=(const AfPacket &) = delete;
    AfPacket(AfPacket &&other) noexcept;
    AfPacket &operator=(AfPacket &&other) noexcept;

    // Opens the socket, attaches the filter, maps the ring and binds.
    // Returns 0 or a positive errno; on failure *err (if not null) gets one
    // line naming the cause and the fix.  Reopening closes the previous socket.
    int open(const AfPacketOptions &opts, std::string *err);
    void close();
    bool is_open() const { return fd_ >= 0; }

    // Waits up to timeout_ms (-1 = forever, 0 = don't wait) for a ready block,
    // then hands every frame of every ready block to cb and gives the blocks
    // back to the kernel.  Returns the number of frames (0 on timeout or
    // EINTR) or -errno (-EBADF if not open, the socket error on POLLERR).
    int poll(int timeout_ms, const std::function<void(const Frame &)> &cb);

    // At the end of a capture: reads every ready block, then waits for the
    // kernel to hand over the block it is filling (it does within the block
    // timeout), until a wait brings nothing or budget_ms is spent. Returns the
    // number of frames, or -errno.
    int drain(int budget_ms, const std::function<void(const Frame &)> &cb);

    // Cumulative statistics (see AfPacketStats).
    AfPacketStats stats();

    int fd() const { return fd_; }
    int ifindex() const { return ifindex_; }  // 0 = all interfaces

  private:
    int fd_ = -1;
    int ifindex_ = 0;
    uint8_t *ring_ = nullptr;
    size_t ring_size_ = 0;
    uint32_t block_size_ = 0;
    uint32_t block_count_ = 0;
    uint32_t cur_block_ = 0;
    bool drop_outgoing_ = false;  // PACKET_IGNORE_OUTGOING unavailable: filter here
    int block_timeout_ms_ = 0;
    uint64_t frames_read_ = 0;  // every frame walked in the ring, filtered here or not
    AfPacketStats acc_{};
};

// How a device's frames start (by ARPHRD_* type).
enum class LinkKind : uint8_t {
    Ethernet,  // ARPHRD_ETHER, ARPHRD_LOOPBACK: Ethernet II header
    RawIp,     // ARPHRD_NONE (tun, wireguard), ARPHRD_RAWIP, ARPHRD_TUNNEL(6), ARPHRD_SIT
    Other,     // anything else (not parsed)
};
LinkKind link_kind(uint16_t hatype);

// Parses a captured frame according to its link type.  A VLAN tag stripped by
// the kernel (f.vlan_valid) is reported as the outermost tag in out.vlan_ids.
// Frames of LinkKind::Other give Ok with is_ip == false and everything after
// offset 0 as payload.
pkt::Error parse_frame(const Frame &f, pkt::Packet &out);

// Classic BPF programs for SO_ATTACH_FILTER on an AF_PACKET SOCK_RAW socket.
//
// They dispatch on the device type (ancillary load SKF_AD_HATYPE): Ethernet
// frames (LinkKind::Ethernet) with no or one VLAN tag (0x8100 / 0x88a8) in the
// frame data, and raw IP frames (LinkKind::RawIp).  Packets of other device
// types are rejected.  A VLAN tag removed by the kernel (offload; the usual
// case on receive) is not in the data the filter sees, so such frames match
// as untagged ones.  Accepted packets are captured in full.
namespace cbpf {

// Accepts IPv4 and IPv6.
std::vector<sock_filter> ip_any();

// Accepts TCP (if tcp) and/or UDP (if udp) packets whose source or
// destination port is `port`, over IPv4 or IPv6.  Limitations: IPv4
// non-first fragments never match (they carry no ports); IPv6 matches only if
// the TCP/UDP header directly follows the 40-byte IPv6 header (no extension
// headers).  With tcp and udp both false the program rejects everything.
std::vector<sock_filter> l4_port(uint16_t port, bool tcp, bool udp);

// As l4_port, for any of up to kMaxFilterPorts ports (more, or none, reject everything).
inline constexpr size_t kMaxFilterPorts = 16;
std::vector<sock_filter> l4_ports(std::span<const uint16_t> ports, bool tcp, bool udp);

// As l4_ports, but by direction: packets this host sends (PACKET_OUTGOING)
// must go to one of the ports, the others come from one. What a client-side
// monitor wants: its queries and their answers, not a local server's side,
// and on lo one copy of each packet instead of two.
std::vector<sock_filter> l4_ports_by_direction(std::span<const uint16_t> ports, bool tcp, bool udp);

}  // namespace cbpf

}  // namespace bpfkit
