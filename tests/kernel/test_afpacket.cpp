// Tests for common/afpacket.h.
//
// The capture tests need CAP_NET_RAW (root) and are skipped otherwise; they
// send a few UDP datagrams to 127.0.0.1 / ::1 only.  The classic BPF programs
// are also checked without privileges: against the kernel's program checker
// (attached to an AF_UNIX socket) and against a small interpreter here.
#include <gtest/gtest.h>

#include "../common/capture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "afpacket.h"
#include "packet.h"
#include "../common/frames.h"

using namespace bpfkit;

namespace {

// ---------------------------------------------------------------------------
// Helpers

// A bound UDP socket (so that datagrams to it do not produce ICMP errors).
struct UdpSocket {
    int fd = -1;
    uint16_t port = 0;
    int family = 0;

    explicit UdpSocket(int fam) : family(fam) {
        fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return;
        sockaddr_storage ss{};
        socklen_t len;
        if (fam == AF_INET) {
            auto *sin = reinterpret_cast<sockaddr_in *>(&ss);
            sin->sin_family = AF_INET;
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            len = sizeof *sin;
        } else {
            auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&ss);
            sin6->sin6_family = AF_INET6;
            sin6->sin6_addr = in6addr_loopback;
            len = sizeof *sin6;
        }
        if (bind(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0 ||
            getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) != 0) {
            close(fd);
            fd = -1;
            return;
        }
        port = ntohs(fam == AF_INET ? reinterpret_cast<sockaddr_in *>(&ss)->sin_port
                                    : reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
    }
    ~UdpSocket() {
        if (fd >= 0) close(fd);
    }
    UdpSocket(const UdpSocket &) = delete;
    UdpSocket &operator=(const UdpSocket &) = delete;

    bool ok() const { return fd >= 0; }

    bool send_to(uint16_t dport, const std::vector<uint8_t> &data) const {
        sockaddr_storage ss{};
        socklen_t len;
        if (family == AF_INET) {
            auto *sin = reinterpret_cast<sockaddr_in *>(&ss);
            sin->sin_family = AF_INET;
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            sin->sin_port = htons(dport);
            len = sizeof *sin;
        } else {
            auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&ss);
            sin6->sin6_family = AF_INET6;
            sin6->sin6_addr = in6addr_loopback;
            sin6->sin6_port = htons(dport);
            len = sizeof *sin6;
        }
        ssize_t n = sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr *>(&ss), len);
        return n == static_cast<ssize_t>(data.size());
    }

    // Receives datagrams until none arrives for 200 ms; returns how many.
    int drain() const {
        int n = 0;
        uint8_t buf[2048];
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) return n;
            while (recv(fd, buf, sizeof buf, 0) >= 0)
                ++n;
        }
    }
};

constexpr uint8_t kMagic[4] = {'B', 'P', 'F', 'K'};

// Datagram `index` of a test: magic, index, then a pattern; `size` >= 5.
std::vector<uint8_t> datagram(uint8_t index, size_t size) {
    std::vector<uint8_t> d(size);
    std::memcpy(d.data(), kMagic, 4);
    d[4] = index;
    for (size_t i = 5; i < size; ++i)
        d[i] = static_cast<uint8_t>(i * 7 + index);
    return d;
}

// Index of a test datagram in `payload`, or -1.
int datagram_index(std::span<const uint8_t> payload) {
    if (payload.size() < 5 || std::memcmp(payload.data(), kMagic, 4) != 0) return -1;
    for (size_t i = 5; i < payload.size(); ++i)
        if (payload[i] != static_cast<uint8_t>(i * 7 + payload[4])) return -1;
    return payload[4];
}

using Clock = std::chrono::steady_clock;

// Polls until done() or the deadline.
int capture_until(AfPacket &cap, Clock::duration limit, const std::function<bool()> &done,
                  const std::function<void(const Frame &)> &cb) {
    int total = 0;
    auto deadline = Clock::now() + limit;
    while (!done() && Clock::now() < deadline) {
        int n = cap.poll(50, cb);
        EXPECT_GE(n, 0) << "poll: " << std::strerror(-n);
        if (n < 0) break;
        total += n;
    }
    return total;
}

// ---------------------------------------------------------------------------
// Frame builders for the filter tests

using testframes::Bytes;
using testframes::cat;
using testframes::put16;
using testframes::vlan;

// Both MACs 02:02:02:02:02:02, both addresses loopback, IPv4 ID 1, TTL and hop
// limit 64; IPv4 options are NOPs.
constexpr testframes::Mac kMac = {2, 2, 2, 2, 2, 2};
constexpr testframes::Ip4 kLo4 = {127, 0, 0, 1};
constexpr testframes::Ip6 kLo6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

Bytes eth(uint16_t type) {
    return testframes::eth(type, kMac, kMac);
}

Bytes ipv4(uint8_t proto, size_t after, size_t option_bytes = 0, uint16_t frag = 0) {
    return testframes::ipv4(proto, after, Bytes(option_bytes, 1), frag, 64, kLo4, kLo4, 1);
}

Bytes ipv6(uint8_t next, size_t plen) {
    return testframes::ipv6(next, plen, 64, kLo6, kLo6);
}

Bytes l4(uint16_t sport, uint16_t dport, bool is_tcp) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    b.resize(is_tcp ? 20 : 8, 0);
    if (is_tcp) b[12] = 0x50;
    return b;
}

Bytes udp4(uint16_t sport, uint16_t dport) {
    return cat({eth(ETH_P_IP), ipv4(IPPROTO_UDP, 8), l4(sport, dport, false)});
}
Bytes tcp4(uint16_t sport, uint16_t dport) {
    return cat({eth(ETH_P_IP), ipv4(IPPROTO_TCP, 20), l4(sport, dport, true)});
}
Bytes udp6(uint16_t sport, uint16_t dport) {
    return cat({eth(ETH_P_IPV6), ipv6(IPPROTO_UDP, 8), l4(sport, dport, false)});
}
Bytes tcp6(uint16_t sport, uint16_t dport) {
    return cat({eth(ETH_P_IPV6), ipv6(IPPROTO_TCP, 20), l4(sport, dport, true)});
}

// ---------------------------------------------------------------------------
// A classic BPF interpreter for the instructions the programs use, with the
// kernel's semantics for out-of-bounds loads (the packet is dropped).

std::optional<uint32_t> run_cbpf(const std::vector<sock_filter> &prog, const Bytes &pkt,
                                 uint16_t hatype, uint8_t pkttype = PACKET_HOST) {
    uint32_t a = 0, x = 0;
    auto load = [&](uint64_t off, unsigned size, uint32_t *out) {
        if (off > pkt.size() || size > pkt.size() - off) return false;
        uint32_t v = 0;
        for (unsigned i = 0; i < size; ++i)
            v = (v << 8) | pkt[off + i];
        *out = v;
        return true;
    };
    auto size_of = [](uint16_t code) -> unsigned {
        switch (BPF_SIZE(code)) {
            case BPF_W:
                return 4;
            case BPF_H:
                return 2;
            default:
                return 1;
        }
    };
    size_t pc = 0;
    // Jumps only go forward, so a valid program runs at most prog.size() steps.
    for (size_t step = 0; step < prog.size() && pc < prog.size(); ++step) {
        const sock_filter &in = prog[pc++];
        uint32_t t = 0;
        switch (in.code) {
            case BPF_LD | BPF_W | BPF_ABS:
            case BPF_LD | BPF_H | BPF_ABS:
            case BPF_LD | BPF_B | BPF_ABS:
                if (in.k == static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_HATYPE)) {
                    a = hatype;
                } else if (in.k == static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)) {
                    a = pkttype;
                } else if (in.k >= static_cast<uint32_t>(SKF_AD_OFF)) {
                    return std::nullopt;
                } else if (!load(in.k, size_of(in.code), &a)) {
                    return 0;
                }
                break;
            case BPF_LD | BPF_W | BPF_IND:
            case BPF_LD | BPF_H | BPF_IND:
            case BPF_LD | BPF_B | BPF_IND:
                if (!load(uint64_t{x} + in.k, size_of(in.code), &a)) return 0;
                break;
            case BPF_LDX | BPF_B | BPF_MSH:
                if (!load(in.k, 1, &t)) return 0;
                x = (t & 0xf) * 4;
                break;
            case BPF_LD | BPF_IMM:
                a = in.k;
                break;
            case BPF_LDX | BPF_IMM:
                x = in.k;
                break;
            case BPF_ALU | BPF_AND | BPF_K:
                a &= in.k;
                break;
            case BPF_ALU | BPF_ADD | BPF_K:
                a += in.k;
                break;
            case BPF_MISC | BPF_TAX:
                x = a;
                break;
            case BPF_MISC | BPF_TXA:
                a = x;
                break;
            case BPF_JMP | BPF_JA:
                pc += in.k;
                break;
            case BPF_JMP | BPF_JEQ | BPF_K:
                pc += a == in.k ? in.jt : in.jf;
                break;
            case BPF_JMP | BPF_JGT | BPF_K:
                pc += a > in.k ? in.jt : in.jf;
                break;
            case BPF_JMP | BPF_JGE | BPF_K:
                pc += a >= in.k ? in.jt : in.jf;
                break;
            case BPF_JMP | BPF_JSET | BPF_K:
                pc += (a & in.k) != 0 ? in.jt : in.jf;
                break;
            case BPF_RET | BPF_K:
                return in.k;
            case BPF_RET | BPF_A:
                return a;
            default:
                ADD_FAILURE() << "unsupported opcode 0x" << std::hex << in.code;
                return std::nullopt;
        }
    }
    ADD_FAILURE() << "program fell off its end";
    return std::nullopt;
}

bool accepts(const std::vector<sock_filter> &prog, const Bytes &pkt, uint16_t hatype = ARPHRD_ETHER,
             uint8_t pkttype = PACKET_HOST) {
    auto r = run_cbpf(prog, pkt, hatype, pkttype);
    EXPECT_TRUE(r.has_value());
    return r.value_or(0) != 0;
}

// Static structure: ends in RET, every jump lands inside the program.
void expect_well_formed(const std::vector<sock_filter> &prog) {
    ASSERT_FALSE(prog.empty());
    ASSERT_LE(prog.size(), size_t{BPF_MAXINSNS});
    EXPECT_EQ(BPF_CLASS(prog.back().code), BPF_RET);
    for (size_t i = 0; i < prog.size(); ++i) {
        const sock_filter &in = prog[i];
        if (BPF_CLASS(in.code) != BPF_JMP) continue;
        if (BPF_OP(in.code) == BPF_JA) {
            EXPECT_LT(i + 1 + in.k, prog.size()) << "insn " << i;
        } else {
            EXPECT_LT(i + 1 + in.jt, prog.size()) << "insn " << i;
            EXPECT_LT(i + 1 + in.jf, prog.size()) << "insn " << i;
        }
    }
}

// The kernel's classic BPF checker, reachable without privileges: attach to
// an AF_UNIX socket.
int kernel_attach(const std::vector<sock_filter> &prog) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    sock_fprog fp{};
    fp.len = static_cast<unsigned short>(prog.size());
    fp.filter = const_cast<sock_filter *>(prog.data());
    int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

// ---------------------------------------------------------------------------
// Classic BPF programs (no privileges needed)

TEST(Cbpf, KernelAcceptsPrograms) {
    std::vector<std::vector<sock_filter>> progs = {
        cbpf::ip_any(),
        cbpf::l4_port(53, true, true),
        cbpf::l4_port(53, true, false),
        cbpf::l4_port(65535, false, true),
        cbpf::l4_port(1, false, false),
        cbpf::l4_ports(std::vector<uint16_t>{53, 853, 5353}, true, true),
        cbpf::l4_ports_by_direction(std::vector<uint16_t>{53, 853}, true, true)};
    for (const auto &p : progs) {
        expect_well_formed(p);
        EXPECT_EQ(kernel_attach(p), 0) << std::strerror(kernel_attach(p));
    }
}

TEST(Cbpf, IpAny) {
    auto prog = cbpf::ip_any();
    EXPECT_TRUE(accepts(prog, udp4(1, 2)));
    EXPECT_TRUE(accepts(prog, tcp6(1, 2)));
    EXPECT_TRUE(accepts(prog, udp4(1, 2), ARPHRD_LOOPBACK));
    EXPECT_TRUE(
        accepts(prog, cat({eth(ETH_P_8021Q), vlan(5, ETH_P_IP), ipv4(17, 8), l4(1, 2, 0)})));
    EXPECT_TRUE(accepts(prog, cat({eth(ETH_P_8021AD), vlan(5, ETH_P_IPV6), ipv6(17, 8)})));
    EXPECT_FALSE(accepts(prog, cat({eth(ETH_P_8021Q), vlan(5, ETH_P_ARP), Bytes(28, 0)})));
    EXPECT_FALSE(accepts(prog, cat({eth(ETH_P_ARP), Bytes(28, 0)})));
    EXPECT_FALSE(accepts(prog, Bytes(10, 0)));  // shorter than an Ethernet header
    // Raw IP devices: version nibble.
    EXPECT_TRUE(accepts(prog, ipv4(17, 0), ARPHRD_NONE));
    EXPECT_TRUE(accepts(prog, ipv6(17, 0), ARPHRD_RAWIP));
    EXPECT_FALSE(accepts(prog, Bytes(40, 0), ARPHRD_NONE));
    // Unknown device types are rejected.
    EXPECT_FALSE(accepts(prog, udp4(1, 2), ARPHRD_IEEE80211_RADIOTAP));
}

TEST(Cbpf, L4PortIpv4) {
    auto udp_only = cbpf::l4_port(5353, false, true);
    auto tcp_only = cbpf::l4_port(5353, true, false);
    auto both = cbpf::l4_port(5353, true, true);
    EXPECT_TRUE(accepts(udp_only, udp4(40000, 5353)));
    EXPECT_TRUE(accepts(udp_only, udp4(5353, 40000)));
    EXPECT_FALSE(accepts(udp_only, udp4(5352, 5354)));
    EXPECT_FALSE(accepts(udp_only, tcp4(40000, 5353)));
    EXPECT_TRUE(accepts(tcp_only, tcp4(40000, 5353)));
    EXPECT_FALSE(accepts(tcp_only, udp4(40000, 5353)));
    EXPECT_TRUE(accepts(both, tcp4(5353, 1)));
    EXPECT_TRUE(accepts(both, udp4(1, 5353)));
    EXPECT_FALSE(accepts(both, cat({eth(ETH_P_IP), ipv4(IPPROTO_SCTP, 12), l4(1, 5353, false)})));
    // IP options move the UDP header.
    EXPECT_TRUE(accepts(udp_only, cat({eth(ETH_P_IP), ipv4(17, 8, 8), l4(1, 5353, false)})));
    EXPECT_FALSE(accepts(udp_only, cat({eth(ETH_P_IP), ipv4(17, 8, 8), l4(1, 5352, false)})));
    // First fragment (MF) matches; a later fragment never does.
    EXPECT_TRUE(
        accepts(udp_only, cat({eth(ETH_P_IP), ipv4(17, 8, 0, 0x2000), l4(1, 5353, false)})));
    EXPECT_FALSE(accepts(udp_only, cat({eth(ETH_P_IP), ipv4(17, 8, 0, 185), l4(1, 5353, false)})));
    // Truncated inside the UDP header.
    Bytes cut = udp4(1, 5353);
    cut.resize(14 + 20 + 3);
    EXPECT_FALSE(accepts(udp_only, cut));
    EXPECT_FALSE(accepts(udp_only, cat({eth(ETH_P_ARP), Bytes(28, 0x14)})));
    // Port 0 and 65535 are ordinary values.
    EXPECT_TRUE(accepts(cbpf::l4_port(65535, false, true), udp4(1, 65535)));
    EXPECT_TRUE(accepts(cbpf::l4_port(0, false, true), udp4(0, 9)));
}

TEST(Cbpf, L4PortIpv6VlanRaw) {
    auto prog = cbpf::l4_port(443, true, true);
    EXPECT_TRUE(accepts(prog, tcp6(50000, 443)));
    EXPECT_TRUE(accepts(prog, udp6(443, 50000)));
    EXPECT_FALSE(accepts(prog, udp6(444, 50000)));
    // Documented limitation: IPv6 extension headers are not walked.
    EXPECT_FALSE(accepts(prog, cat({eth(ETH_P_IPV6), ipv6(0, 16), Bytes{17, 0, 1, 4, 0, 0, 0, 0},
                                    l4(1, 443, false)})));
    // One VLAN tag, either TPID.
    EXPECT_TRUE(
        accepts(prog, cat({eth(ETH_P_8021Q), vlan(7, ETH_P_IP), ipv4(6, 20), l4(1, 443, true)})));
    EXPECT_TRUE(accepts(
        prog, cat({eth(ETH_P_8021AD), vlan(7, ETH_P_IPV6), ipv6(17, 8), l4(443, 1, false)})));
    EXPECT_FALSE(
        accepts(prog, cat({eth(ETH_P_8021Q), vlan(7, ETH_P_IP), ipv4(6, 20), l4(1, 442, true)})));
    // lo and raw IP devices.
    EXPECT_TRUE(accepts(prog, tcp4(1, 443), ARPHRD_LOOPBACK));
    EXPECT_TRUE(accepts(prog, cat({ipv4(17, 8), l4(1, 443, false)}), ARPHRD_NONE));
    EXPECT_TRUE(accepts(prog, cat({ipv6(6, 20), l4(443, 1, true)}), ARPHRD_TUNNEL6));
    EXPECT_FALSE(accepts(prog, cat({ipv6(6, 20), l4(444, 1, true)}), ARPHRD_NONE));
    EXPECT_FALSE(accepts(prog, tcp4(1, 443), ARPHRD_IEEE80211_RADIOTAP));
    // Neither TCP nor UDP: nothing matches.
    auto none = cbpf::l4_port(443, false, false);
    EXPECT_FALSE(accepts(none, tcp4(1, 443)));
    EXPECT_FALSE(accepts(none, udp4(1, 443)));
}

TEST(Cbpf, L4PortsAnyOfSeveral) {
    std::vector<uint16_t> ports = {53, 853, 5353};
    auto prog = cbpf::l4_ports(ports, true, true);
    for (uint16_t p : ports) {
        EXPECT_TRUE(accepts(prog, udp4(40000, p))) << p;
        EXPECT_TRUE(accepts(prog, tcp6(p, 40000))) << p;
    }
    EXPECT_FALSE(accepts(prog, udp4(40000, 54)));
    EXPECT_FALSE(accepts(cbpf::l4_ports(std::vector<uint16_t>{}, true, true), udp4(1, 53)));
    EXPECT_FALSE(accepts(cbpf::l4_ports(std::vector<uint16_t>(17, 53), true, true), udp4(1, 53)));
}

TEST(Cbpf, L4PortsByDirection) {
    auto prog = cbpf::l4_ports_by_direction(std::vector<uint16_t>{53, 853}, true, true);
    // Leaving: to a listed port; arriving: from one.
    EXPECT_TRUE(accepts(prog, udp4(40000, 53), ARPHRD_ETHER, PACKET_OUTGOING));
    EXPECT_FALSE(accepts(prog, udp4(53, 40000), ARPHRD_ETHER, PACKET_OUTGOING));
    EXPECT_TRUE(accepts(prog, udp4(53, 40000), ARPHRD_ETHER, PACKET_HOST));
    EXPECT_FALSE(accepts(prog, udp4(40000, 53), ARPHRD_ETHER, PACKET_HOST));
    EXPECT_TRUE(accepts(prog, tcp6(50000, 853), ARPHRD_LOOPBACK, PACKET_OUTGOING));
    EXPECT_TRUE(accepts(prog, tcp6(853, 50000), ARPHRD_LOOPBACK, PACKET_HOST));
    EXPECT_FALSE(accepts(prog, tcp6(50000, 853), ARPHRD_LOOPBACK, PACKET_HOST));
    // IP options and raw IP devices, as l4_port.
    EXPECT_TRUE(accepts(prog, cat({eth(ETH_P_IP), ipv4(17, 8, 8), l4(53, 1, false)})));
    EXPECT_TRUE(accepts(prog, cat({ipv4(17, 8), l4(1, 53, false)}), ARPHRD_NONE, PACKET_OUTGOING));
    EXPECT_FALSE(accepts(prog, cat({ipv4(17, 8), l4(53, 1, false)}), ARPHRD_NONE, PACKET_OUTGOING));
    EXPECT_FALSE(accepts(prog, udp4(40000, 54), ARPHRD_ETHER, PACKET_OUTGOING));
}

// ---------------------------------------------------------------------------
// Link types and parse_frame (no privileges needed)

TEST(AfPacketFrame, LinkKind) {
    EXPECT_EQ(link_kind(ARPHRD_ETHER), LinkKind::Ethernet);
    EXPECT_EQ(link_kind(ARPHRD_LOOPBACK), LinkKind::Ethernet);
    EXPECT_EQ(link_kind(ARPHRD_NONE), LinkKind::RawIp);
    EXPECT_EQ(link_kind(ARPHRD_RAWIP), LinkKind::RawIp);
    EXPECT_EQ(link_kind(ARPHRD_IEEE80211_RADIOTAP), LinkKind::Other);
}

TEST(AfPacketFrame, ParseFrame) {
    Bytes f = udp4(1000, 2000);
    Frame fr;
    fr.data = f;
    fr.hatype = ARPHRD_ETHER;
    fr.protocol = ETH_P_IP;
    fr.vlan_valid = true;
    fr.vlan_tci = 0x3005;  // PCP 1, VID 5
    pkt::Packet p;
    ASSERT_EQ(parse_frame(fr, p), pkt::Error::Ok);
    EXPECT_EQ(p.dport, 2000);
    EXPECT_EQ(p.vlan_count, 1);
    EXPECT_EQ(p.vlan_ids[0], 5);

    Bytes raw = cat({ipv6(17, 8), l4(7, 8, false)});
    fr = Frame{};
    fr.data = raw;
    fr.hatype = ARPHRD_NONE;
    fr.protocol = ETH_P_IPV6;
    ASSERT_EQ(parse_frame(fr, p), pkt::Error::Ok);
    EXPECT_EQ(p.src.family, AF_INET6);
    EXPECT_EQ(p.sport, 7);
    EXPECT_EQ(p.l3_offset, 0u);

    fr.hatype = ARPHRD_IEEE80211_RADIOTAP;
    fr.protocol = 0x1234;
    ASSERT_EQ(parse_frame(fr, p), pkt::Error::Ok);
    EXPECT_FALSE(p.is_ip);
    EXPECT_EQ(p.ethertype, 0x1234);
    EXPECT_EQ(p.payload_len, raw.size());
}

// ---------------------------------------------------------------------------
// open() errors

// Threads of this process (entries of /proc/self/task), or -1.
int thread_count() {
    DIR *d = opendir("/proc/self/task");
    if (d == nullptr) return -1;
    int n = 0;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n;
}

TEST(AfPacketOpen, UnknownInterface) {
    AfPacket cap;
    AfPacketOptions o;
    o.ifname = "nonexistent0";
    std::string err;
    EXPECT_EQ(cap.open(o, &err), ENODEV);
    EXPECT_NE(err.find("nonexistent0"), std::string::npos) << err;
    EXPECT_FALSE(cap.is_open());
    EXPECT_EQ(cap.fd(), -1);

    o.ifname = std::string(40, 'x');
    EXPECT_EQ(cap.open(o, &err), ENODEV);
    EXPECT_NE(err.find("xxxx"), std::string::npos) << err;
}

TEST(AfPacketOpen, BadGeometry) {
    AfPacket cap;
    std::string err;
    AfPacketOptions o;
    o.block_size = 1000;  // not a page multiple
    EXPECT_EQ(cap.open(o, &err), EINVAL);
    EXPECT_NE(err.find("block_size"), std::string::npos) << err;

    o = AfPacketOptions{};
    o.frame_size = 2047;
    EXPECT_EQ(cap.open(o, &err), EINVAL);
    EXPECT_NE(err.find("frame_size"), std::string::npos) << err;

    o = AfPacketOptions{};
    o.block_count = 0;
    EXPECT_EQ(cap.open(o, &err), EINVAL);
    EXPECT_NE(err.find("block_count"), std::string::npos) << err;

    o = AfPacketOptions{};
    o.promisc = true;  // without an interface
    EXPECT_EQ(cap.open(o, &err), EINVAL);
    EXPECT_NE(err.find("promisc"), std::string::npos) << err;

    EXPECT_EQ(cap.poll(0, nullptr), -EBADF);
}

TEST(AfPacketOpen, WithoutCapNetRawExplainsTheFix) {
    if (geteuid() != 0) {
        // Unprivileged already: the real error path.
        if (bpfkit::testcapture::capture_unavailable().empty())
            GTEST_SKIP() << "has CAP_NET_RAW without being root";
        AfPacket cap;
        std::string err;
        EXPECT_EQ(cap.open(AfPacketOptions{}, &err), EPERM);
        EXPECT_NE(err.find("CAP_NET_RAW"), std::string::npos) << err;
        return;
    }
    // As root: drop to nobody in a child process (which loses all
    // capabilities) and report back through the exit status.  The child
    // allocates, which is only safe after fork() in a single-threaded process.
    if (thread_count() != 1) GTEST_SKIP() << "process has other threads; not forking";
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(3);
        AfPacket cap;
        std::string err;
        int rc = cap.open(AfPacketOptions{}, &err);
        if (rc != EPERM) _exit(1);
        if (err.find("CAP_NET_RAW") == std::string::npos) _exit(2);
        if (err.find("socket(AF_PACKET)") == std::string::npos) _exit(2);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) GTEST_SKIP() << "cannot drop privileges in a child";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: open() did not return EPERM, 2: bad message";
}

// ---------------------------------------------------------------------------
// Capture on lo (needs CAP_NET_RAW)

AfPacketOptions lo_options(std::vector<sock_filter> filter) {
    AfPacketOptions o;
    o.ifname = "lo";
    o.block_size = 1u << 18;
    o.block_count = 4;
    o.block_timeout_ms = 20;
    o.filter = std::move(filter);
    return o;
}

struct Seen {
    std::vector<int> outgoing, host;
    int other_port = 0;  // passed the filter but has neither port: a filter bug
    int foreign = 0;     // the port, but not one of our datagrams (someone else's)
    int parse_errors = 0;
    int bad_fields = 0;
    int frames = 0;
    explicit Seen(size_t n) : outgoing(n, 0), host(n, 0) {}
    bool complete() const {
        for (size_t i = 0; i < outgoing.size(); ++i)
            if (outgoing[i] == 0 || host[i] == 0) return false;
        return true;
    }
};

// Checks one captured frame of the loopback tests.
void check_frame(const Frame &f, int family, uint16_t sport, uint16_t port,
                 const std::vector<size_t> &sizes, Seen &seen) {
    ++seen.frames;
    static const int lo_index = static_cast<int>(if_nametoindex("lo"));
    if (f.ifindex != lo_index || f.hatype != ARPHRD_LOOPBACK || f.snap_len != f.data.size() ||
        f.wire_len != f.snap_len || f.ts.tv_sec == 0 ||
        f.protocol != (family == AF_INET ? ETH_P_IP : ETH_P_IPV6)) {
        ++seen.bad_fields;
        ADD_FAILURE() << "frame fields: ifindex " << f.ifindex << " hatype " << f.hatype << " snap "
                      << f.snap_len << " wire " << f.wire_len << " proto 0x" << std::hex
                      << f.protocol;
    }
    pkt::Packet p;
    pkt::Error e = pkt::parse_ethernet(f.data, p);
    if (e != pkt::Error::Ok) {
        ++seen.parse_errors;
        ADD_FAILURE() << "parse_ethernet: " << pkt::error_name(e);
        return;
    }
    if (!p.has_ports || (p.sport != port && p.dport != port)) {
        ++seen.other_port;
        return;
    }
    int idx = datagram_index(pkt::payload(f.data, p));
    if (idx < 0 || static_cast<size_t>(idx) >= sizes.size() || p.sport != sport) {
        ++seen.foreign;
        return;
    }
    auto lo = *pkt::IpAddr::parse(family == AF_INET ? "127.0.0.1" : "::1");
    EXPECT_EQ(p.src, lo);
    EXPECT_EQ(p.dst, lo);
    EXPECT_EQ(p.ip_proto, IPPROTO_UDP);
    EXPECT_EQ(p.dport, port);
    EXPECT_EQ(p.payload_len, sizes[static_cast<size_t>(idx)]);
    EXPECT_EQ(p.ip_len, (family == AF_INET ? 20u : 40u) + 8 + sizes[static_cast<size_t>(idx)]);
    if (f.pkttype == PACKET_OUTGOING)
        ++seen.outgoing[static_cast<size_t>(idx)];
    else if (f.pkttype == PACKET_HOST)
        ++seen.host[static_cast<size_t>(idx)];
    else
        ADD_FAILURE() << "pkttype " << int{f.pkttype};
}

void run_loopback_udp(int family, int count, bool ignore_outgoing) {
    UdpSocket rx(family), rx_other(family), tx(family);
    if (family == AF_INET6 && (!rx.ok() || !rx_other.ok() || !tx.ok()))
        GTEST_SKIP() << "no IPv6 on lo (cannot bind ::1)";
    ASSERT_TRUE(rx.ok() && rx_other.ok() && tx.ok()) << std::strerror(errno);
    ASSERT_NE(rx.port, rx_other.port);

    AfPacket cap;
    std::string err;
    AfPacketOptions o = lo_options(cbpf::l4_port(rx.port, false, true));
    o.ignore_outgoing = ignore_outgoing;
    ASSERT_EQ(cap.open(o, &err), 0) << err;
    ASSERT_GE(cap.fd(), 0);
    EXPECT_EQ(cap.ifindex(), static_cast<int>(if_nametoindex("lo")));

    std::vector<size_t> sizes;
    for (int i = 0; i < count; ++i) {
        sizes.push_back(5 + static_cast<size_t>(i) * 53);
        ASSERT_TRUE(tx.send_to(rx.port, datagram(static_cast<uint8_t>(i), sizes.back())));
        if (i % 2 == 0) {  // traffic the filter must keep out
            ASSERT_TRUE(tx.send_to(rx_other.port, datagram(static_cast<uint8_t>(i), 64)));
        }
    }

    Seen seen(sizes.size());
    auto cb = [&](const Frame &f) { check_frame(f, family, tx.port, rx.port, sizes, seen); };
    auto all_seen = [&] {
        if (!ignore_outgoing) return seen.complete();
        for (int h : seen.host)
            if (h == 0) return false;
        return true;
    };
    capture_until(cap, std::chrono::seconds(3), all_seen, cb);
    // Anything that should not have passed arrives in the same blocks, but
    // give the kernel one more block timeout to hand over stragglers.
    capture_until(
        cap, std::chrono::milliseconds(150), [] { return false; }, cb);

    for (size_t i = 0; i < sizes.size(); ++i) {
        EXPECT_EQ(seen.host[i], 1) << "datagram " << i << " (PACKET_HOST)";
        EXPECT_EQ(seen.outgoing[i], ignore_outgoing ? 0 : 1)
            << "datagram " << i << " (PACKET_OUTGOING)";
    }
    EXPECT_EQ(seen.other_port, 0) << "frames for other ports passed the filter";
    EXPECT_EQ(seen.parse_errors, 0);
    EXPECT_EQ(seen.bad_fields, 0);

    AfPacketStats st = cap.stats();
    EXPECT_GE(st.packets, static_cast<uint64_t>(seen.frames));
    EXPECT_EQ(st.drops, 0u);
    AfPacketStats again = cap.stats();  // cumulative, not reset
    EXPECT_GE(again.packets, st.packets);

    EXPECT_EQ(rx.drain(), count);
    EXPECT_EQ(rx_other.drain(), (count + 1) / 2);
}

TEST(AfPacketLoopback, UdpIpv4) {
    SKIP_WITHOUT_CAPTURE();
    run_loopback_udp(AF_INET, 20, false);
}

TEST(AfPacketLoopback, UdpIpv6) {
    SKIP_WITHOUT_CAPTURE();
    run_loopback_udp(AF_INET6, 6, false);
}

TEST(AfPacketLoopback, IgnoreOutgoing) {
    SKIP_WITHOUT_CAPTURE();
    run_loopback_udp(AF_INET, 5, true);
}

// A 4-block ring of one page each: walking it wraps around many times, and
// overrunning it shows up as drops, with packets == delivered + dropped.
TEST(AfPacketLoopback, TinyRingWrapsAndCountsDrops) {
    SKIP_WITHOUT_CAPTURE();
    UdpSocket rx(AF_INET), tx(AF_INET);
    ASSERT_TRUE(rx.ok() && tx.ok());
    AfPacket cap;
    std::string err;
    AfPacketOptions o = lo_options(cbpf::l4_port(rx.port, false, true));
    o.block_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    o.frame_size = 2048;
    o.block_count = 4;
    o.block_timeout_ms = 5;
    ASSERT_EQ(cap.open(o, &err), 0) << err;

    // Phase 1: one datagram at a time, 24 times (48 frames through 4 blocks).
    uint64_t seen = 0;
    for (int i = 0; i < 24; ++i) {
        ASSERT_TRUE(tx.send_to(rx.port, datagram(static_cast<uint8_t>(i), 600)));
        int got = 0;
        bool good = true;
        capture_until(
            cap, std::chrono::seconds(2), [&] { return got >= 2; },
            [&](const Frame &f) {
                ++got;
                pkt::Packet p;
                good = good && pkt::parse_ethernet(f.data, p) == pkt::Error::Ok &&
                       datagram_index(pkt::payload(f.data, p)) == i;
            });
        ASSERT_EQ(got, 2) << "round " << i;
        EXPECT_TRUE(good) << "round " << i;
        seen += static_cast<uint64_t>(got);
    }
    AfPacketStats st = cap.stats();
    EXPECT_EQ(st.packets, seen);
    EXPECT_EQ(st.drops, 0u);

    // Phase 2: 40 datagrams (80 frames of ~650 bytes) without reading: the
    // ring holds far fewer, the rest is dropped.
    for (int i = 0; i < 40; ++i)
        ASSERT_TRUE(tx.send_to(rx.port, datagram(1, 600)));
    uint64_t delivered = 0;
    int idle = 0;
    auto deadline = Clock::now() + std::chrono::seconds(3);
    while (idle < 3 && Clock::now() < deadline) {  // until 3 empty polls in a row
        int n = cap.poll(50, [](const Frame &) {});
        ASSERT_GE(n, 0);
        idle = n == 0 ? idle + 1 : 0;
        delivered += static_cast<uint64_t>(n);
    }
    AfPacketStats st2 = cap.stats();
    EXPECT_GT(st2.drops, 0u);
    EXPECT_LT(delivered, 80u);
    EXPECT_EQ(st2.packets - st.packets, 80u);
    EXPECT_EQ(st2.packets - st.packets, delivered + st2.drops);
    EXPECT_GE(st2.freeze_q, st.freeze_q);
    EXPECT_EQ(rx.drain(), 24 + 40);
}

// A burst read only at the end, as a tool does when it is stopped: the
// frames wait in ready blocks and in the block the kernel is still filling;
// drain() reads them all, and until then stats() counts them unread.
TEST(AfPacketLoopback, DrainReadsTheBlockStillBeingFilled) {
    SKIP_WITHOUT_CAPTURE();
    UdpSocket rx(AF_INET), tx(AF_INET);
    ASSERT_TRUE(rx.ok() && tx.ok());
    AfPacket cap;
    std::string err;
    AfPacketOptions o = lo_options(cbpf::l4_port(rx.port, false, true));
    o.ignore_outgoing = true;
    o.block_size = 1u << 16;  // 64 KiB blocks: 3000 frames fill several
    o.block_count = 64;
    o.block_timeout_ms = 10;
    ASSERT_EQ(cap.open(o, &err), 0) << err;

    constexpr int kCount = 3000;
    for (int i = 0; i < kCount; ++i)
        ASSERT_TRUE(tx.send_to(rx.port, datagram(static_cast<uint8_t>(i), 100)));
    // Nothing read yet: every frame that reached the ring is unread.
    AfPacketStats before = cap.stats();
    EXPECT_EQ(before.drops, 0u);
    EXPECT_EQ(before.unread, before.packets);
    EXPECT_EQ(before.packets, static_cast<uint64_t>(kCount));

    int got = cap.drain(2000, [](const Frame &) {});
    EXPECT_EQ(got, kCount);
    AfPacketStats after = cap.stats();
    EXPECT_EQ(after.packets, static_cast<uint64_t>(kCount));
    EXPECT_EQ(after.drops, 0u);
    EXPECT_EQ(after.unread, 0u);
    // Nothing more comes: a drain of an idle ring returns at its first wait.
    auto t0 = Clock::now();
    EXPECT_EQ(cap.drain(2000, [](const Frame &) {}), 0);
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500));
    // (rx's own buffer overflows on such a burst; that is not what is tested)
}

TEST(AfPacketLoopback, MoveAndReopen) {
    SKIP_WITHOUT_CAPTURE();
    UdpSocket rx(AF_INET), tx(AF_INET);
    ASSERT_TRUE(rx.ok() && tx.ok());
    AfPacket a;
    std::string err;
    ASSERT_EQ(a.open(lo_options(cbpf::l4_port(rx.port, false, true)), &err), 0) << err;
    int fd = a.fd();
    AfPacket b(std::move(a));
    EXPECT_EQ(a.fd(), -1);
    EXPECT_EQ(a.poll(0, nullptr), -EBADF);
    EXPECT_EQ(b.fd(), fd);
    AfPacket c;
    c = std::move(b);
    EXPECT_EQ(c.fd(), fd);

    ASSERT_TRUE(tx.send_to(rx.port, datagram(0, 10)));
    int frames = 0;
    capture_until(
        c, std::chrono::seconds(3), [&] { return frames >= 2; }, [&](const Frame &) { ++frames; });
    EXPECT_EQ(frames, 2);  // outgoing + host

    // Reopening replaces the socket; close() is idempotent.
    ASSERT_EQ(c.open(lo_options(cbpf::ip_any()), &err), 0) << err;
    EXPECT_TRUE(c.is_open());
    c.close();
    c.close();
    EXPECT_FALSE(c.is_open());
    EXPECT_EQ(rx.drain(), 1);
}

}  // namespace
