// SPDX-License-Identifier: GPL-2.0-only
// Which process owns which TCP/UDP socket, from /proc alone: the socket
// tables /proc/net/{tcp,tcp6,udp,udp6} (one network namespace's view) and the
// /proc/<pid>/fd/* links "socket:[INODE]".  No netlink, no eBPF.
//
// Every reader takes the proc root (default "/proc") so that tests can point
// it at fixtures.  None of them throws or prints.
//
// Limits: a socket held by several processes (inherited over fork, passed
// over a unix socket) is given to the lowest pid holding it (counted in
// OwnerStats::shared_sockets); fd tables unshared by a single thread
// (unshare(CLONE_FILES)) are not scanned; sockets in TIME_WAIT or SYN_RECV
// have inode 0 in the tables and no owner.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "packet.h"

namespace bpfkit::procnet {

// TCP states as the tables print them (include/net/tcp_states.h).  UDP
// sockets show kTcpEstablished when connected and kTcpClose when not.
inline constexpr uint8_t kTcpEstablished = 0x01;
inline constexpr uint8_t kTcpSynSent = 0x02;
inline constexpr uint8_t kTcpSynRecv = 0x03;
inline constexpr uint8_t kTcpTimeWait = 0x06;
inline constexpr uint8_t kTcpClose = 0x07;
inline constexpr uint8_t kTcpListen = 0x0a;

// One line of a socket table.  Addresses are as the table shows them: a
// tcp6/udp6 socket talking IPv4 has IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d); unmap_v4() turns those into IPv4.
struct SocketEntry {
    uint8_t proto = 0;      // IPPROTO_TCP / IPPROTO_UDP
    bool v6_table = false;  // from tcp6 / udp6
    pkt::IpAddr local, remote;
    uint16_t lport = 0, rport = 0;
    uint8_t state = 0;
    uint32_t uid = 0;
    uint64_t inode = 0;  // 0: no file (TIME_WAIT, SYN_RECV, some kernel sockets)

    bool operator==(const SocketEntry &) const = default;
};

// The table's hex address: 8 digits (IPv4) or 32 digits (IPv6).  The kernel
// prints each 32-bit word of the network-order address as a native integer
// ("%08X"), so on little-endian hosts every 4-byte group reads reversed:
// "0100007F" is 127.0.0.1.
std::optional<pkt::IpAddr> parse_hex_addr(std::string_view hex);

// One data line of a table ("   0: 0100007F:0277 00000000:0000 0A ...").
// std::nullopt for the header line and for anything that does not parse.
std::optional<SocketEntry> parse_line(std::string_view line, uint8_t proto, bool v6_table);

// Every line of a table's text; the header line is skipped, other lines that
// do not parse are counted in *bad (if given).
std::vector<SocketEntry> parse_table(std::string_view text, uint8_t proto, bool v6_table,
                                     size_t *bad = nullptr);

// The net directory of a process relative to the proc root: "net" for pid 0
// (the reader's own view: /proc/net follows the thread group leader's
// namespace), "<pid>/net" otherwise.  A thread that entered another network
// namespace reads "thread-self/net".
std::string net_dir_of(int pid);

struct TableStats {
    unsigned tables_read = 0;
    unsigned tables_missing = 0;  // e.g. no tcp6/udp6 with IPv6 disabled
    size_t bad_lines = 0;
    size_t entries = 0;
};

// Reads <root>/<net_dir>/{tcp,tcp6,udp,udp6}, appending to out.  Returns 0 if
// at least one table was read, else the errno of the first failure.
int read_tables(const std::string &root, const std::string &net_dir, std::vector<SocketEntry> &out,
                TableStats *stats = nullptr);

// "socket:[12345]" -> 12345; std::nullopt for any other link text.
std::optional<uint64_t> socket_inode(std::string_view link);

struct OwnerStats {
    size_t pids_scanned = 0;
    size_t pids_unreadable = 0;  // fd directory not readable (no CAP_SYS_PTRACE / other user)
    size_t pids_gone = 0;        // exited during the scan
    size_t sockets = 0;          // inodes found (of the wanted ones, if a set was given)
    size_t shared_sockets = 0;   // inodes held by more than one process
};

// Socket inode -> pid, from the links in <root>/<pid>/fd/.  With `wanted`,
// only those inodes are kept.  A shared socket goes to the lowest pid.
std::unordered_map<uint64_t, uint32_t> socket_owners(
    const std::string &root, const std::unordered_set<uint64_t> *wanted = nullptr,
    OwnerStats *stats = nullptr);

// ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged.
pkt::IpAddr unmap_v4(const pkt::IpAddr &a);

enum class MatchKind : uint8_t {
    Exact,     // the socket of this 4-tuple
    Listener,  // no socket of this 4-tuple, but a TCP listener on the local port (its
               // connection may not be accepted yet: look again later)
    Bound,     // an unconnected UDP socket bound to the local port (address or wildcard)
};

struct Match {
    uint32_t pid = 0;
    MatchKind kind = MatchKind::Exact;
    SocketEntry socket;
};

// (proto, local:lport, remote:rport) as a hash-map key: the family is local's, the addresses'
// bytes are taken as given (SocketMap unmaps IPv4-mapped addresses before building one).
struct TupleKey {
    uint8_t proto = 0, family = 0;
    uint16_t lport = 0, rport = 0;
    std::array<uint8_t, 16> laddr{}, raddr{};
    bool operator==(const TupleKey &) const = default;

    static TupleKey of(uint8_t proto, const pkt::IpAddr &local, uint16_t lport,
                       const pkt::IpAddr &remote, uint16_t rport);
};

// FNV-1a over the fields of a TupleKey.
struct TupleKeyHash {
    size_t operator()(const TupleKey &k) const;
};

struct SocketMapOptions {
    std::string root = "/proc";
    std::string net_dir = "net";  // see net_dir_of()
};

// Lookup from a packet's endpoints to the owning process, over one snapshot
// of the tables and fd links.  refresh() re-reads everything; how often to
// call it is the caller's policy (a refresh scans every process's fds).
class SocketMap {
  public:
    struct Stats {
        TableStats tables;  // of the last refresh
        OwnerStats owners;  // of the last refresh
        uint64_t refreshes = 0;
        uint64_t failures = 0;  // refresh() calls that could read no table
        int last_error = 0;     // errno of the last failure
        double last_refresh_ms = 0;
    };

    explicit SocketMap(SocketMapOptions opts = {});

    // Re-reads the tables and the fd links.  Returns 0, or the errno of
    // read_tables() (the previous contents are then kept).
    int refresh();

    // Replaces the contents (what refresh() does after reading), for tests
    // and for callers with their own sources.
    void assign(std::vector<SocketEntry> entries, std::unordered_map<uint64_t, uint32_t> owners);

    // The process behind (proto, local:lport, remote:rport), as seen from
    // this host.  Order: the socket of the exact 4-tuple (if it has an
    // owner); else a socket bound to lport with no peer (TCP: listening;
    // UDP: unconnected) whose address is, best first, `local` itself, the
    // wildcard of local's family, or (IPv4 only) the IPv6 wildcard "::" of a
    // dual-stack socket (the tables do not show IPV6_V6ONLY).  IPv4-mapped
    // addresses match their IPv4 form.
    std::optional<Match> lookup(uint8_t proto, const pkt::IpAddr &local, uint16_t lport,
                                const pkt::IpAddr &remote, uint16_t rport) const;

    // Bumped by every successful refresh() / assign().
    uint64_t generation() const { return generation_; }
    const Stats &stats() const { return stats_; }
    const std::vector<SocketEntry> &entries() const { return entries_; }
    std::optional<uint32_t> owner(uint64_t inode) const;

  private:
    SocketMapOptions opts_;
    std::vector<SocketEntry> entries_;
    std::unordered_map<uint64_t, uint32_t> owners_;
    std::unordered_map<TupleKey, std::vector<size_t>, TupleKeyHash> exact_;  // connected sockets
    std::unordered_map<uint32_t, std::vector<size_t>> bound_;  // (proto << 16) | lport
    uint64_t generation_ = 0;
    Stats stats_;
};

}  // namespace bpfkit::procnet
