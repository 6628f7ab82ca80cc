// Tests for tools/netproc/afpacket_collector.h.
//
// Without privileges: frames made by hand (tests/common/frames.h) against a
// fake /proc in a temporary directory.
//
// As root (CAP_NET_RAW): real traffic between child processes (each side its
// own pid) on loopback, in the host's namespace and in private network
// namespaces of a test thread (unshare(CLONE_NEWNET) on that thread only),
// and over a veth pair between two such namespaces.  Namespaces and links
// are gone when the test ends; every transfer is bounded in bytes and time.
#include <gtest/gtest.h>

#include "../common/tempdir.h"

#include "../common/capture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "afpacket.h"
#include "afpacket_collector.h"
#include "procnet.h"
#include "../common/frames.h"

using namespace bpfkit;
using namespace bpfkit::netproc;
namespace tf = bpfkit::testframes;
namespace fs = std::filesystem;

namespace {

int64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr int64_t kMs = 1'000'000;

pkt::IpAddr ip(const char *text) {
    auto a = pkt::IpAddr::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(pkt::IpAddr{});
}

// ===========================================================================
// Frames made by hand, against a fake /proc

// The address as the kernel prints it in /proc/net/*: each 32-bit word of
// the network-order bytes as a native integer.
std::string hex_addr(const pkt::IpAddr &a) {
    std::string out;
    const size_t words = a.family == AF_INET ? 1 : 4;
    for (size_t w = 0; w < words; ++w) {
        uint32_t v;
        std::memcpy(&v, a.bytes.data() + 4 * w, 4);
        char buf[9];
        snprintf(buf, sizeof buf, "%08X", v);
        out += buf;
    }
    return out;
}

struct FakeSocket {
    uint8_t proto;
    const char *local;
    uint16_t lport;
    const char *remote;
    uint16_t rport;
    uint8_t state;
    uint64_t inode;
};

class FakeProc {
  public:
    FakeProc() : dir_("bpfkit-apc"), root_(dir_.path()) {
        fs::create_directories(root_ + "/net");
        sockets({});
    }
    const std::string &root() const { return root_; }

    // Rewrites the four tables.
    void sockets(const std::vector<FakeSocket> &socks) {
        const char *names[4] = {"tcp", "tcp6", "udp", "udp6"};
        std::string text[4];
        for (auto &t : text)
            t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   "
                "uid  timeout inode\n";
        int sl = 0;
        for (const auto &s : socks) {
            const pkt::IpAddr l = ip(s.local), r = ip(s.remote);
            const int t = (s.proto == IPPROTO_UDP ? 2 : 0) + (l.family == AF_INET6 ? 1 : 0);
            char line[256];
            snprintf(line, sizeof line,
                     "%4d: %s:%04X %s:%04X %02X 00000000:00000000 00:00000000 00000000  1000 "
                     "       0 %llu 1 0000000000000000\n",
                     sl++, hex_addr(l).c_str(), s.lport, hex_addr(r).c_str(), s.rport, s.state,
                     static_cast<unsigned long long>(s.inode));
            text[t] += line;
        }
        for (int i = 0; i < 4; ++i)
            std::ofstream(root_ + "/net/" + names[i]) << text[i];
    }
    void process(int pid, const std::string &comm) {
        const std::string dir = root_ + "/" + std::to_string(pid);
        fs::create_directories(dir + "/fd");
        std::ofstream(dir + "/comm") << comm << "\n";
        std::ofstream(dir + "/stat") << pid << " (" << comm << ") S 1 1 1 0 -1\n";
        std::ofstream(dir + "/status") << "Name:\t" << comm << "\nUid:\t1234\t1234\t1234\t1234\n";
    }
    void give(int pid, int fd, uint64_t inode) {
        fs::create_symlink("socket:[" + std::to_string(inode) + "]",
                           root_ + "/" + std::to_string(pid) + "/fd/" + std::to_string(fd));
    }
    void exit(int pid) { fs::remove_all(root_ + "/" + std::to_string(pid)); }

  private:
    bpfkit::testfs::TempDir dir_;
    std::string root_;
};

tf::Ip4 ip4(const char *s) {
    tf::Ip4 a{};
    inet_pton(AF_INET, s, a.data());
    return a;
}
tf::Ip6 ip6(const char *s) {
    tf::Ip6 a{};
    inet_pton(AF_INET6, s, a.data());
    return a;
}

tf::Bytes tcp4(const char *src, uint16_t sport, const char *dst, uint16_t dport, size_t payload,
               uint8_t flags = pkt::kTcpAck) {
    return tf::cat({tf::eth(pkt::kEthPIp),
                    tf::ipv4(IPPROTO_TCP, 20 + payload, {}, 0, 64, ip4(src), ip4(dst)),
                    tf::tcp(sport, dport, flags), tf::payload(payload)});
}
tf::Bytes udp4(const char *src, uint16_t sport, const char *dst, uint16_t dport, size_t payload) {
    return tf::cat({tf::eth(pkt::kEthPIp),
                    tf::ipv4(IPPROTO_UDP, 8 + payload, {}, 0, 64, ip4(src), ip4(dst)),
                    tf::udp(sport, dport, payload), tf::payload(payload)});
}
tf::Bytes tcp6(const char *src, uint16_t sport, const char *dst, uint16_t dport, size_t payload) {
    return tf::cat({tf::eth(pkt::kEthPIpv6),
                    tf::ipv6(IPPROTO_TCP, 20 + payload, 64, ip6(src), ip6(dst)),
                    tf::tcp(sport, dport, pkt::kTcpAck), tf::payload(payload)});
}

Frame frame(const tf::Bytes &b, uint8_t pkttype, int ifindex = 1) {
    Frame f;
    f.data = std::span<const uint8_t>(b.data(), b.size());
    f.wire_len = static_cast<uint32_t>(b.size());
    f.snap_len = static_cast<uint32_t>(b.size());
    f.ifindex = ifindex;
    f.pkttype = pkttype;
    f.hatype = ARPHRD_ETHER;
    f.protocol = b.size() >= 14 ? static_cast<uint16_t>(b[12] << 8 | b[13]) : 0;
    return f;
}

AfPacketCollectorOptions fake_opts(const FakeProc &p) {
    AfPacketCollectorOptions o;
    o.proc_root = p.root();
    o.cgroup_root = p.root() + "/no-cgroup";
    o.skip_forwarded = false;
    // Refreshes min_refresh_ms apart, whatever their CPU time: at the default
    // share a slow machine (an emulated VM on a busy host) spent over 5 ms of
    // CPU on a refresh, and the gap outgrew the tests' 50-60 ms steps.
    o.refresh_share = 1.0;
    return o;
}

// Per-pid sums of a snapshot's flows.
std::map<uint32_t, Counters> by_pid(const Snapshot &s) {
    std::map<uint32_t, Counters> m;
    for (const auto &f : s.flows)
        m[f.tgid] += f.delta;
    return m;
}

TEST(AfPacketCollectorFake, LoopbackEachSideOnce) {
    FakeProc p;
    p.process(10, "server");
    p.process(20, "client");
    p.sockets({{IPPROTO_TCP, "127.0.0.1", 5000, "127.0.0.1", 40000, procnet::kTcpEstablished, 11},
               {IPPROTO_TCP, "127.0.0.1", 40000, "127.0.0.1", 5000, procnet::kTcpEstablished, 21}});
    p.give(10, 3, 11);
    p.give(20, 3, 21);
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    // Client -> server, 1000 bytes of payload: OUTGOING then HOST on lo.
    const auto req = tcp4("127.0.0.1", 40000, "127.0.0.1", 5000, 1000);
    c.handle(frame(req, PACKET_OUTGOING), t);
    c.handle(frame(req, PACKET_HOST), t + 1);
    const auto ack = tcp4("127.0.0.1", 5000, "127.0.0.1", 40000, 0);
    c.handle(frame(ack, PACKET_OUTGOING), t + 2);
    c.handle(frame(ack, PACKET_HOST), t + 3);

    Snapshot s = c.read(1.0);
    EXPECT_TRUE(s.measures_unattributed);
    EXPECT_EQ(s.interval_s, 1.0);
    EXPECT_TRUE(s.unattributed.empty());
    auto m = by_pid(s);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[20].tx_bytes, req.size());
    EXPECT_EQ(m[20].tx_packets, 1u);
    EXPECT_EQ(m[20].rx_bytes, ack.size());
    EXPECT_EQ(m[20].rx_packets, 1u);
    EXPECT_EQ(m[10].rx_bytes, req.size());
    EXPECT_EQ(m[10].rx_packets, 1u);
    EXPECT_EQ(m[10].tx_bytes, ack.size());
    EXPECT_EQ(m[10].tx_packets, 1u);
    for (const auto &f : s.flows) {
        EXPECT_EQ(f.proto, IPPROTO_TCP);
        EXPECT_EQ(f.local, ip("127.0.0.1"));
        EXPECT_EQ(f.lport, f.tgid == 10 ? 5000 : 40000);
        EXPECT_EQ(f.total.tx_bytes + f.total.rx_bytes, f.delta.tx_bytes + f.delta.rx_bytes);
    }
    ASSERT_EQ(s.names.count(10), 1u);
    EXPECT_EQ(s.names[10].comm, "server");
    EXPECT_TRUE(s.names[10].known);
    EXPECT_EQ(s.names[10].uid, 1234u);
    EXPECT_TRUE(s.exited.empty());
    EXPECT_EQ(c.stats().duplicates, 0u);
    EXPECT_EQ(c.stats().refreshes, 1u);

    // Deltas: the next interval starts from zero; totals go on.
    c.handle(frame(req, PACKET_OUTGOING), t + 4);
    s = c.read(1.0);
    ASSERT_EQ(s.flows.size(), 1u);
    EXPECT_EQ(s.flows[0].tgid, 20u);
    EXPECT_EQ(s.flows[0].delta.tx_packets, 1u);
    EXPECT_EQ(s.flows[0].total.tx_packets, 2u);
    EXPECT_EQ(s.flows[0].total.rx_packets, 1u);
}

TEST(AfPacketCollectorFake, StackedDevicesCountOnce) {
    FakeProc p;
    p.process(10, "app");
    p.sockets({{IPPROTO_TCP, "10.1.0.1", 443, "10.1.0.2", 50000, procnet::kTcpEstablished, 11}});
    p.give(10, 3, 11);
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    const auto in = tcp4("10.1.0.2", 50000, "10.1.0.1", 443, 100);
    const auto out = tcp4("10.1.0.1", 443, "10.1.0.2", 50000, 200);
    // Received on eth0 (2), then again on eth0.100 (3) after the VLAN is
    // taken off; sent on eth0.100, then on eth0.
    c.handle(frame(in, PACKET_HOST, 2), t);
    c.handle(frame(in, PACKET_HOST, 3), t + 1);
    c.handle(frame(out, PACKET_OUTGOING, 3), t + 2);
    c.handle(frame(out, PACKET_OUTGOING, 2), t + 3);
    c.handle(frame(in, PACKET_HOST, 2), t + 4);
    c.handle(frame(in, PACKET_HOST, 3), t + 5);
    Snapshot s = c.read(1.0);
    auto m = by_pid(s);
    EXPECT_EQ(m[10].rx_packets, 2u);
    EXPECT_EQ(m[10].rx_bytes, 2 * in.size());
    EXPECT_EQ(m[10].tx_packets, 1u);
    EXPECT_EQ(c.stats().duplicates, 3u);
    // The flow moves to another device (the first fell silent): followed.
    c.handle(frame(in, PACKET_HOST, 4), t + 5 + AfPacketCollector::kRelockNs);
    c.handle(frame(in, PACKET_HOST, 4), t + 6 + AfPacketCollector::kRelockNs);
    s = c.read(1.0);
    EXPECT_EQ(by_pid(s)[10].rx_packets, 2u);
    EXPECT_EQ(c.stats().duplicates, 3u);
}

TEST(AfPacketCollectorFake, LateOwnerGetsTheIntervalsFrames) {
    FakeProc p;
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    const auto f = udp4("10.2.0.1", 7000, "10.2.0.2", 53, 50);
    c.handle(frame(f, PACKET_OUTGOING), t);  // unknown: refresh, still unknown
    EXPECT_EQ(c.stats().refreshes, 1u);
    c.handle(frame(f, PACKET_OUTGOING), t + 10 * kMs);  // too soon to look again
    EXPECT_EQ(c.stats().refreshes, 1u);
    // The socket shows up in /proc.
    p.process(30, "resolver");
    p.sockets({{IPPROTO_UDP, "0.0.0.0", 7000, "0.0.0.0", 0, procnet::kTcpClose, 31}});
    p.give(30, 4, 31);
    c.handle(frame(f, PACKET_OUTGOING), t + 60 * kMs);
    EXPECT_EQ(c.stats().refreshes, 2u);
    Snapshot s = c.read(1.0);
    EXPECT_TRUE(s.unattributed.empty());
    auto m = by_pid(s);
    EXPECT_EQ(m[30].tx_packets, 3u);
    EXPECT_EQ(m[30].tx_bytes, 3 * f.size());
    EXPECT_EQ(c.stats().late_frames, 2u);
    EXPECT_EQ(c.stats().attributed_frames, 3u);
}

TEST(AfPacketCollectorFake, NeverMatchedIsUnattributed) {
    FakeProc p;
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    const auto f = tcp4("10.3.0.1", 40000, "10.3.0.2", 80, 500);
    const auto g = tcp4("10.3.0.2", 80, "10.3.0.1", 40000, 0);
    c.handle(frame(f, PACKET_OUTGOING), t);
    c.handle(frame(g, PACKET_HOST), t + 1);
    c.handle(frame(f, PACKET_OUTGOING), t + 2);
    Snapshot s = c.read(1.0);
    EXPECT_TRUE(s.flows.empty());
    EXPECT_EQ(s.unattributed.tx_packets, 2u);
    EXPECT_EQ(s.unattributed.tx_bytes, 2 * f.size());
    EXPECT_EQ(s.unattributed.rx_packets, 1u);
    EXPECT_EQ(s.unattributed.rx_bytes, g.size());
    EXPECT_EQ(c.stats().unattributed_frames, 3u);
    // Reported once: the next interval starts empty.
    s = c.read(1.0);
    EXPECT_TRUE(s.unattributed.empty());
}

TEST(AfPacketCollectorFake, OddFrames) {
    FakeProc p;
    p.process(10, "dhclient");
    p.sockets({{IPPROTO_UDP, "0.0.0.0", 68, "0.0.0.0", 0, procnet::kTcpClose, 11}});
    p.give(10, 3, 11);
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    // A broadcast answer to the DHCP client.
    const auto offer = udp4("10.4.0.1", 67, "255.255.255.255", 68, 300);
    c.handle(frame(offer, PACKET_BROADCAST), t);
    // Someone else's frame (promiscuous interface): not ours at all.
    c.handle(frame(tcp4("10.4.0.7", 1, "10.4.0.8", 2, 10), PACKET_OTHERHOST), t + 1);
    // ICMP: no socket to find.
    const auto ping = tf::cat(
        {tf::eth(pkt::kEthPIp),
         tf::ipv4(IPPROTO_ICMP, 8, {}, 0, 64, ip4("10.4.0.1"), ip4("10.4.0.9")), tf::icmp(8, 0)});
    c.handle(frame(ping, PACKET_HOST), t + 2);
    // A cut IPv4 header.
    tf::Bytes cut = tf::cat({tf::eth(pkt::kEthPIp), tf::Bytes{0x45, 0, 0, 40, 0, 0}});
    c.handle(frame(cut, PACKET_HOST), t + 3);

    Snapshot s = c.read(1.0);
    auto m = by_pid(s);
    EXPECT_EQ(m[10].rx_packets, 1u);
    EXPECT_EQ(m[10].rx_bytes, offer.size());
    EXPECT_EQ(s.unattributed.rx_packets, 2u);
    EXPECT_EQ(s.unattributed.rx_bytes, ping.size() + cut.size());
    EXPECT_EQ(s.losses.malformed, 1u);
    EXPECT_EQ(s.losses.capture_drops, 0u);
    auto st = c.stats();
    EXPECT_EQ(st.frames, 4u);
    EXPECT_EQ(st.ignored, 1u);
    EXPECT_EQ(st.no_ports_frames, 1u);
}

TEST(AfPacketCollectorFake, ListenerThenAcceptedSocket) {
    FakeProc p;
    p.process(10, "master");
    p.process(11, "worker");
    p.sockets({{IPPROTO_TCP, "::", 80, "::", 0, procnet::kTcpListen, 1}});
    p.give(10, 3, 1);  // both hold the listener: the lowest pid gets it
    p.give(11, 3, 1);
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    const auto syn = tcp4("10.5.0.2", 5555, "10.5.0.1", 80, 0, pkt::kTcpSyn);
    c.handle(frame(syn, PACKET_HOST), t);
    // The worker accepts the connection.
    p.sockets({{IPPROTO_TCP, "::", 80, "::", 0, procnet::kTcpListen, 1},
               {IPPROTO_TCP, "::ffff:10.5.0.1", 80, "::ffff:10.5.0.2", 5555,
                procnet::kTcpEstablished, 2}});
    p.give(11, 4, 2);
    const auto data = tcp4("10.5.0.2", 5555, "10.5.0.1", 80, 700);
    c.handle(frame(data, PACKET_HOST), t + 10 * kMs);  // not time to look again yet
    c.handle(frame(data, PACKET_HOST), t + 60 * kMs);  // looks again: the worker
    c.handle(frame(data, PACKET_HOST), t + 61 * kMs);
    Snapshot s = c.read(1.0);
    auto m = by_pid(s);
    EXPECT_EQ(m[10].rx_packets, 2u);  // the SYN and the first data frame
    EXPECT_EQ(m[10].rx_bytes, syn.size() + data.size());
    EXPECT_EQ(m[11].rx_packets, 2u);
    EXPECT_EQ(m[11].rx_bytes, 2 * data.size());
    EXPECT_EQ(s.names[10].comm, "master");
    EXPECT_EQ(s.names[11].comm, "worker");
    // From now on the worker's, even after its socket leaves the tables
    // (TIME_WAIT: inode 0) and the listener would match again.
    p.sockets(
        {{IPPROTO_TCP, "::", 80, "::", 0, procnet::kTcpListen, 1},
         {IPPROTO_TCP, "::ffff:10.5.0.1", 80, "::ffff:10.5.0.2", 5555, procnet::kTcpTimeWait, 0}});
    c.handle(frame(tcp4("10.5.0.2", 5555, "10.5.0.1", 80, 0, pkt::kTcpAck), PACKET_HOST),
             t + 200 * kMs);
    // (that frame did not ask for a refresh: the flow is settled)
    s = c.read(1.0);
    EXPECT_EQ(by_pid(s)[11].rx_packets, 1u);
    EXPECT_EQ(by_pid(s).count(10), 0u);
}

TEST(AfPacketCollectorFake, ExitedReportedOnce) {
    FakeProc p;
    p.process(40, "shortjob");
    p.sockets(
        {{IPPROTO_TCP, "2001:db8::1", 22, "2001:db8::2", 60000, procnet::kTcpEstablished, 41}});
    p.give(40, 3, 41);
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    const auto f = tcp6("2001:db8::1", 22, "2001:db8::2", 60000, 100);
    c.handle(frame(f, PACKET_OUTGOING), t);
    p.exit(40);
    Snapshot s = c.read(1.0);
    ASSERT_EQ(s.flows.size(), 1u);
    EXPECT_EQ(s.flows[0].tgid, 40u);
    EXPECT_EQ(s.flows[0].local, ip("2001:db8::1"));
    EXPECT_EQ(s.flows[0].remote, ip("2001:db8::2"));
    ASSERT_EQ(s.exited.size(), 1u);
    EXPECT_EQ(s.exited[0], 40u);
    EXPECT_EQ(s.names[40].comm, "shortjob");  // kept from when it lived
    EXPECT_EQ(c.stats().flows_dead, 1u);
    EXPECT_EQ(c.stats().flows_cached, 0u);
    s = c.read(1.0);
    EXPECT_TRUE(s.exited.empty());
    EXPECT_TRUE(s.names.empty());
    EXPECT_TRUE(s.flows.empty());
}

TEST(AfPacketCollectorFake, FlowCacheFull) {
    FakeProc p;
    auto o = fake_opts(p);
    o.max_flows = 1;
    AfPacketCollector c(o);
    const int64_t t = mono_ns();
    const auto a = udp4("10.6.0.1", 1000, "10.6.0.2", 2000, 10);
    const auto b = udp4("10.6.0.1", 1001, "10.6.0.2", 2000, 20);
    c.handle(frame(a, PACKET_OUTGOING), t);
    c.handle(frame(b, PACKET_OUTGOING), t + 1);
    Snapshot s = c.read(1.0);
    EXPECT_EQ(s.losses.flows_full, 1u);
    EXPECT_EQ(s.losses.bytes_full, b.size());
    EXPECT_EQ(s.unattributed.tx_bytes, a.size() + b.size());  // still counted, not attributed
}

TEST(AfPacketCollectorFake, RefreshesAreRateLimited) {
    FakeProc p;
    AfPacketCollector c(fake_opts(p));
    const int64_t t = mono_ns();
    for (int i = 0; i < 20; ++i)
        c.handle(frame(udp4("10.7.0.1", static_cast<uint16_t>(3000 + i), "10.7.0.2", 9, 1),
                       PACKET_OUTGOING),
                 t + i * kMs);
    EXPECT_EQ(c.stats().refreshes, 1u);
    EXPECT_EQ(c.stats().refreshes_limited, 19u);
    c.handle(frame(udp4("10.7.0.1", 4000, "10.7.0.2", 9, 1), PACKET_OUTGOING), t + 51 * kMs);
    EXPECT_EQ(c.stats().refreshes, 2u);
}

TEST(AfPacketCollectorFake, ForwardedIsNotThisHostsTraffic) {
    FakeProc p;
    auto o = fake_opts(p);
    o.skip_forwarded = true;
    AfPacketCollector c(o);
    const int64_t t = mono_ns();
    // Routed through: neither end is an address of this host.
    const auto fwd = tcp4("192.0.2.1", 1234, "198.51.100.2", 80, 100);
    c.handle(frame(fwd, PACKET_HOST), t);
    c.handle(frame(fwd, PACKET_OUTGOING, 2), t + 1);
    const auto ping =
        tf::cat({tf::eth(pkt::kEthPIp),
                 tf::ipv4(IPPROTO_ICMP, 8, {}, 0, 64, ip4("192.0.2.1"), ip4("198.51.100.2")),
                 tf::icmp(8, 0)});
    c.handle(frame(ping, PACKET_OUTGOING), t + 2);
    // To this host (loopback is always local), with no socket: unattributed.
    const auto local = tcp4("127.0.0.1", 1234, "127.0.0.1", 81, 10);
    c.handle(frame(local, PACKET_HOST), t + 3);
    Snapshot s = c.read(1.0);
    EXPECT_EQ(s.unattributed.rx_packets, 1u);
    EXPECT_EQ(s.unattributed.rx_bytes, local.size());
    EXPECT_EQ(s.unattributed.tx_packets, 0u);
    EXPECT_EQ(c.stats().forwarded_frames, 3u);
    EXPECT_EQ(c.stats().forwarded_bytes, 2 * fwd.size() + ping.size());
}

// ===========================================================================
// Real traffic (root)

constexpr int64_t kDeadlineNs = 30'000'000'000;  // per test

// ---- child processes (only system calls in them; no gtest) ----

bool write_all(int fd, const void *p, size_t n) {
    const auto *b = static_cast<const uint8_t *>(p);
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        b += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

// Reads exactly n bytes within timeout_ms; false on EOF, error or timeout.
bool read_exact(int fd, void *p, size_t n, int timeout_ms) {
    auto *b = static_cast<uint8_t *>(p);
    const int64_t end = mono_ns() + int64_t{timeout_ms} * kMs;
    while (n > 0) {
        pollfd pfd{fd, POLLIN, 0};
        const int left = static_cast<int>(std::max<int64_t>(0, (end - mono_ns()) / kMs));
        if (::poll(&pfd, 1, left) <= 0) return false;
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        b += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

// Runs fn in a child process named comm; the child dies with the thread
// that made it.
pid_t spawn(const char *comm, const std::function<int()> &fn) {
    const pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, comm);
        _exit(fn());
    }
    return pid;
}

// Waits for a child; kills it when the deadline passes.  Its exit status, or -1.
int reap(pid_t pid, int64_t deadline_ns) {
    int st = 0;
    while (true) {
        const pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0) return -1;
        if (mono_ns() > deadline_ns) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(1000);
    }
}

socklen_t make_addr(int family, const char *addr, uint16_t port, sockaddr_storage &ss) {
    ss = {};
    if (family == AF_INET) {
        auto *sin = reinterpret_cast<sockaddr_in *>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        inet_pton(AF_INET, addr, &sin->sin_addr);
        return sizeof *sin;
    }
    auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    inet_pton(AF_INET6, addr, &sin6->sin6_addr);
    return sizeof *sin6;
}

uint16_t port_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len);
    return ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port)
                                   : ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
}

// Payload bytes the kernel sent again on this socket (they are frame bytes too).
uint64_t retransmitted(int fd) {
    tcp_info ti{};
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(tcp_info, tcpi_bytes_retrans) + sizeof ti.tcpi_bytes_retrans)
        return 0;
    return ti.tcpi_bytes_retrans;
}

uint8_t g_buf[1 << 16];  // children's send/receive buffer

uint64_t send_n(int fd, uint64_t n) {
    uint64_t sent = 0;
    while (sent < n) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof g_buf, n - sent));
        const ssize_t w = send(fd, g_buf, want, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        sent += static_cast<uint64_t>(w);
    }
    return sent;
}

uint64_t recv_all(int fd) {
    uint64_t got = 0;
    while (true) {
        const ssize_t r = recv(fd, g_buf, sizeof g_buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += static_cast<uint64_t>(r);
    }
    return got;
}

struct Pipe {
    int r = -1, w = -1;
    Pipe() {
        int p[2];
        if (pipe2(p, O_CLOEXEC) == 0) {
            r = p[0];
            w = p[1];
        }
    }
    ~Pipe() {
        if (r >= 0) close(r);
        if (w >= 0) close(w);
    }
    Pipe(const Pipe &) = delete;
    Pipe &operator=(const Pipe &) = delete;
    // Whether a whole T can be read now (without waiting).
    template <class T>
    bool take(T &out) {
        pollfd pfd{r, POLLIN, 0};
        return ::poll(&pfd, 1, 0) == 1 && read_exact(r, &out, sizeof out, 1000);
    }
};

// What a child reports when its traffic is done.
struct Result {
    uint64_t got = 0;      // payload bytes received
    uint64_t retrans = 0;  // payload bytes retransmitted
    int32_t ok = 0;
    int32_t pad = 0;
};

// Long-lived processes are modelled by children that, once done, wait for
// a byte on a release pipe before they exit (one byte per child, so that
// write ends inherited by other children do not matter).
void hold(int release_fd) {
    if (release_fd < 0) return;
    char b;
    read_exact(release_fd, &b, 1, 20000);
}

// A TCP server child: listens on addr (port 0), reports its port, accepts
// `conns` connections one after the other, reads each to EOF, sends
// `reply` bytes back, closes; reports a Result, then holds.
struct TcpServer {
    pid_t pid = -1;
    uint16_t port = 0;
    Pipe info;  // port (2 bytes), then the Result

    bool start(int family, const char *addr, uint64_t reply, int conns, int release_fd) {
        pid = spawn("apc-server", [&, family, addr, reply, conns, release_fd] {
            const int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_storage ss;
            const socklen_t len = make_addr(family, addr, 0, ss);
            if (l < 0 || bind(l, reinterpret_cast<sockaddr *>(&ss), len) != 0 || listen(l, 64) != 0)
                return 2;
            const uint16_t p = port_of(l);
            if (!write_all(info.w, &p, sizeof p)) return 2;
            Result r;
            for (int i = 0; i < conns; ++i) {
                const int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
                if (c < 0) return 3;
                r.got += recv_all(c);
                if (send_n(c, reply) != reply) return 4;
                r.retrans += retransmitted(c);
                close(c);
            }
            r.ok = 1;
            write_all(info.w, &r, sizeof r);
            hold(release_fd);
            return 0;
        });
        return pid > 0 && read_exact(info.r, &port, sizeof port, 5000);
    }
};

struct ClientOpts {
    int go_fd = -1;       // wait for a byte here before sending
    int result_fd = -1;   // write a Result here when done
    int release_fd = -1;  // then hold until released
    int linger_ms = 0;    // keep the connection open this long after sending
};

// A TCP client child: connects, (waits for go), sends n bytes, (lingers),
// shuts down writing, reads to EOF, reports, (holds); exits 0 if it read
// `expect` bytes.
pid_t tcp_client(const char *comm, int family, const char *addr, uint16_t port, uint64_t n,
                 uint64_t expect, ClientOpts o) {
    return spawn(comm, [=] {
        const int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_storage ss;
        const socklen_t len = make_addr(family, addr, port, ss);
        if (s < 0 || connect(s, reinterpret_cast<sockaddr *>(&ss), len) != 0) return 2;
        char b;
        if (o.go_fd >= 0 && !read_exact(o.go_fd, &b, 1, 10000)) return 4;
        if (send_n(s, n) != n) return 5;
        if (o.linger_ms > 0) usleep(static_cast<useconds_t>(o.linger_ms) * 1000);
        shutdown(s, SHUT_WR);
        Result r;
        r.got = recv_all(s);
        r.retrans = retransmitted(s);
        r.ok = r.got == expect;
        close(s);
        if (o.result_fd >= 0) write_all(o.result_fd, &r, sizeof r);
        hold(o.release_fd);
        return r.ok ? 0 : 6;
    });
}

// ---- capture helpers ----

std::vector<sock_filter> with_snap(std::vector<sock_filter> prog, uint32_t snap) {
    for (auto &in : prog)
        if (in.code == (BPF_RET | BPF_K) && in.k != 0) in.k = std::min(in.k, snap);
    return prog;
}

// An independent count of what crossed the wire: a second AF_PACKET socket.
struct Truth {
    AfPacket cap;
    Counters all;  // every frame, both copies on loopback (OUTGOING = tx)

    int open(std::vector<sock_filter> filter, std::string *err) {
        AfPacketOptions o;
        o.filter = with_snap(std::move(filter), 128);
        o.block_timeout_ms = 10;
        return cap.open(o, err);
    }
    void poll() {
        cap.poll(0, [this](const Frame &f) {
            if (f.pkttype == PACKET_OUTGOING) {
                all.tx_bytes += f.wire_len;
                ++all.tx_packets;
            } else if (f.pkttype == PACKET_HOST) {
                all.rx_bytes += f.wire_len;
                ++all.rx_packets;
            }
        });
    }
};

// Polls the collector (and the truth capture) until done() or the deadline.
void pump(AfPacketCollector &c, Truth *truth, const std::function<bool()> &done,
          int64_t deadline_ns) {
    while (!done() && mono_ns() < deadline_ns) {
        c.poll(5);
        if (truth != nullptr) truth->poll();
    }
}
void pump_for(AfPacketCollector &c, Truth *truth, int ms) {
    const int64_t end = mono_ns() + int64_t{ms} * kMs;
    pump(
        c, truth, [&] { return mono_ns() >= end; }, end);
}

// Sums of the flows of one TCP/UDP port (either end).
std::map<uint32_t, Counters> by_pid_port(const Snapshot &s, uint8_t proto, uint16_t port) {
    std::map<uint32_t, Counters> m;
    for (const auto &f : s.flows)
        if (f.proto == proto && (f.lport == port || f.rport == port)) m[f.tgid] += f.delta;
    return m;
}

uint64_t bytes(const Counters &c) {
    return c.tx_bytes + c.rx_bytes;
}

bool lo_up() {
    const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    ifreq r{};
    std::strncpy(r.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = ioctl(s, SIOCGIFFLAGS, &r) == 0;
    r.ifr_flags = static_cast<short>(r.ifr_flags | IFF_UP);
    ok = ok && ioctl(s, SIOCSIFFLAGS, &r) == 0;
    close(s);
    return ok;
}

// A sender's tx frame bytes: its payload (retransmissions included) plus
// one set of headers per frame: Ethernet + IP + TCP (20..60 bytes).
void expect_frame_bytes(const Counters &c, uint64_t payload, uint64_t retrans, int family,
                        const char *who) {
    const uint64_t ip = family == AF_INET ? 20 : 40;
    const uint64_t min = 14 + ip + 20, max = 14 + ip + 60;
    EXPECT_GE(c.tx_bytes, payload + c.tx_packets * min) << who;
    EXPECT_LE(c.tx_bytes, payload + retrans + c.tx_packets * max) << who;
}

// One bulk transfer between two children over loopback, checked from both
// ends.  n bytes client -> server, m bytes back.
void loopback_bulk(int family, const char *addr, uint64_t n, uint64_t m) {
    const int64_t deadline = mono_ns() + kDeadlineNs;
    AfPacketCollector c;
    std::string err;
    ASSERT_EQ(c.open(&err), 0) << err;
    Pipe release, go, cres;
    TcpServer server;
    ASSERT_TRUE(server.start(family, addr, m, 1, release.r)) << "server did not start";
    Truth truth;
    ASSERT_EQ(truth.open(cbpf::l4_port(server.port, true, false), &err), 0) << err;
    const pid_t client = tcp_client("apc-client", family, addr, server.port, n, m,
                                    ClientOpts{go.r, cres.w, release.r, 0});
    ASSERT_GT(client, 0);
    // The connection is set up first; then the bulk data.
    pump_for(c, &truth, 300);
    ASSERT_TRUE(write_all(go.w, "g", 1));
    Result cr, sr;
    bool cdone = false, sdone = false;
    const int64_t t0 = mono_ns();
    pump(
        c, &truth,
        [&] {
            cdone = cdone || cres.take(cr);
            sdone = sdone || server.info.take(sr);
            return cdone && sdone;
        },
        deadline);
    const double secs = static_cast<double>(mono_ns() - t0) / 1e9;
    pump_for(c, &truth, 300);  // the last blocks of the ring, while they live
    ASSERT_TRUE(write_all(release.w, "rr", 2));
    int cst = reap(client, deadline), sst = reap(server.pid, deadline);
    ASSERT_TRUE(cdone && sdone) << "the transfer did not finish in time";
    ASSERT_EQ(cst, 0) << "client failed";
    ASSERT_EQ(sst, 0) << "server failed";
    EXPECT_EQ(sr.got, n);
    EXPECT_EQ(cr.got, m);
    pump_for(c, &truth, 50);

    const Snapshot s = c.read(secs);
    const auto st = c.stats();
    auto sums = by_pid_port(s, IPPROTO_TCP, server.port);
    const auto cp = static_cast<uint32_t>(client), sp = static_cast<uint32_t>(server.pid);
    const Counters cl = sums[cp], sv = sums[sp];
    sums.erase(cp);
    sums.erase(sp);
    EXPECT_TRUE(sums.empty()) << "the port's traffic went to another pid";
    EXPECT_EQ(s.losses.capture_drops, 0u);
    EXPECT_EQ(truth.cap.stats().drops, 0u);
    EXPECT_EQ(s.losses.malformed, 0u);
    EXPECT_EQ(st.duplicates, 0u);

    // Each frame once per side: the sender's tx is the receiver's rx.
    EXPECT_EQ(cl.tx_packets, sv.rx_packets);
    EXPECT_EQ(cl.tx_bytes, sv.rx_bytes);
    EXPECT_EQ(sv.tx_packets, cl.rx_packets);
    EXPECT_EQ(sv.tx_bytes, cl.rx_bytes);
    expect_frame_bytes(cl, n, cr.retrans, family, "client");
    expect_frame_bytes(sv, m, sr.retrans, family, "server");
    // Against the independent capture: every copy of every frame of the
    // connection (OUTGOING = a sender's tx, HOST = a receiver's rx).
    const uint64_t attributed = bytes(cl) + bytes(sv);
    const uint64_t total = bytes(truth.all);
    ASSERT_GT(total, 2 * n);
    const double share = static_cast<double>(attributed) / static_cast<double>(total);
    EXPECT_GE(share, 0.95);
    EXPECT_LE(attributed, total);
    EXPECT_EQ(cl.tx_packets + sv.tx_packets, truth.all.tx_packets);
    printf(
        "  %s bulk %llu+%llu bytes in %.3f s: %llu frames, attributed %.2f%% of %llu frame "
        "bytes; %llu refreshes (%.1f ms CPU), %llu late frames\n",
        family == AF_INET ? "IPv4" : "IPv6", static_cast<unsigned long long>(n),
        static_cast<unsigned long long>(m), secs,
        static_cast<unsigned long long>(truth.all.tx_packets + truth.all.rx_packets), 100 * share,
        static_cast<unsigned long long>(total), static_cast<unsigned long long>(st.refreshes),
        st.refresh_cpu_ms_total, static_cast<unsigned long long>(st.late_frames));
    ::testing::Test::RecordProperty("attributed_permille", static_cast<int>(share * 1000 + 0.5));

    // Names from when they lived; both have exited and are reported once.
    auto name = [&](uint32_t pid) {
        auto it = s.names.find(pid);
        return it == s.names.end() ? std::string("<none>") : it->second.comm;
    };
    EXPECT_EQ(name(cp), "apc-client");
    EXPECT_EQ(name(sp), "apc-server");
    if (auto it = s.names.find(cp); it != s.names.end()) {
        EXPECT_EQ(it->second.uid, getuid());
    }
    EXPECT_NE(std::find(s.exited.begin(), s.exited.end(), cp), s.exited.end());
    EXPECT_NE(std::find(s.exited.begin(), s.exited.end(), sp), s.exited.end());
    const Snapshot s2 = c.read(0.1);
    EXPECT_EQ(std::find(s2.exited.begin(), s2.exited.end(), cp), s2.exited.end());
    EXPECT_TRUE(by_pid_port(s2, IPPROTO_TCP, server.port).empty());
}

TEST(AfPacketCollectorLoopback, TcpBulkIpv4) {
    SKIP_WITHOUT_CAPTURE();
    loopback_bulk(AF_INET, "127.0.0.1", 32u << 20, 1u << 20);
}

TEST(AfPacketCollectorLoopback, TcpBulkIpv6) {
    SKIP_WITHOUT_CAPTURE();
    {
        const int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_storage ss;
        const socklen_t len = make_addr(AF_INET6, "::1", 0, ss);
        const bool ok = s >= 0 && bind(s, reinterpret_cast<sockaddr *>(&ss), len) == 0;
        if (s >= 0) close(s);
        if (!ok) GTEST_SKIP() << "no IPv6 loopback here";
    }
    loopback_bulk(AF_INET6, "::1", 20u << 20, 64u << 10);
}

// UDP: a dual-stack server socket on [::] (unconnected, reached over IPv4),
// an unconnected IPv4 client bound to 0.0.0.0 and a connected IPv6 client
// talking to ::ffff:127.0.0.1 (its table entry has IPv4-mapped addresses).
TEST(AfPacketCollectorLoopback, UdpUnconnectedAndMapped) {
    SKIP_WITHOUT_CAPTURE();
    const int64_t deadline = mono_ns() + kDeadlineNs;
    AfPacketCollector c;
    std::string err;
    ASSERT_EQ(c.open(&err), 0) << err;
    constexpr int kCount = 200;
    constexpr size_t kSize = 1000;
    Pipe info, go, release, results;
    const pid_t server = spawn("apc-udpserver", [&] {
        const int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int off = 0;
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        sockaddr_storage ss;
        const socklen_t len = make_addr(AF_INET6, "::", 0, ss);
        if (s < 0 || bind(s, reinterpret_cast<sockaddr *>(&ss), len) != 0) return 2;
        const uint16_t p = port_of(s);
        write_all(info.w, &p, sizeof p);
        // Echo 2 * kCount datagrams.
        for (int i = 0; i < 2 * kCount; ++i) {
            sockaddr_storage from{};
            socklen_t flen = sizeof from;
            const ssize_t r =
                recvfrom(s, g_buf, sizeof g_buf, 0, reinterpret_cast<sockaddr *>(&from), &flen);
            if (r < 0) return 3;
            sendto(s, g_buf, static_cast<size_t>(r), 0, reinterpret_cast<sockaddr *>(&from), flen);
        }
        Result r;
        r.ok = 1;
        write_all(results.w, &r, sizeof r);
        hold(release.r);
        return 0;
    });
    uint16_t port = 0;
    ASSERT_TRUE(read_exact(info.r, &port, sizeof port, 5000));
    auto udp_client = [&](const char *comm, bool v6_connected) {
        return spawn(comm, [&, v6_connected] {
            const int s = socket(v6_connected ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            sockaddr_storage to;
            const socklen_t len = v6_connected ? make_addr(AF_INET6, "::ffff:127.0.0.1", port, to)
                                               : make_addr(AF_INET, "127.0.0.1", port, to);
            if (v6_connected && connect(s, reinterpret_cast<sockaddr *>(&to), len) != 0) return 2;
            if (!v6_connected) {
                // Bound to 0.0.0.0 and a port, as sendto() would bind it.
                sockaddr_storage any;
                const socklen_t alen = make_addr(AF_INET, "0.0.0.0", 0, any);
                if (bind(s, reinterpret_cast<sockaddr *>(&any), alen) != 0) return 2;
            }
            char b;
            if (!read_exact(go.r, &b, 1, 10000)) return 4;
            Result r;
            for (int i = 0; i < kCount; ++i) {
                if (sendto(s, g_buf, kSize, 0,
                           v6_connected ? nullptr : reinterpret_cast<sockaddr *>(&to),
                           v6_connected ? 0 : len) != static_cast<ssize_t>(kSize))
                    return 5;
                pollfd pfd{s, POLLIN, 0};
                if (::poll(&pfd, 1, 2000) != 1 ||
                    recv(s, g_buf, sizeof g_buf, 0) != static_cast<ssize_t>(kSize))
                    return 6;
                r.got += kSize;
            }
            r.ok = 1;
            write_all(results.w, &r, sizeof r);
            hold(release.r);
            return 0;
        });
    };
    const pid_t c4 = udp_client("apc-udp4", false);
    const pid_t c6 = udp_client("apc-udp6", true);
    pump_for(c, nullptr, 300);
    ASSERT_TRUE(write_all(go.w, "gg", 2));
    int done = 0;
    pump(
        c, nullptr,
        [&] {
            Result r;
            while (done < 3 && results.take(r))
                done += r.ok;
            return done == 3;
        },
        deadline);
    pump_for(c, nullptr, 300);
    ASSERT_TRUE(write_all(release.w, "rrr", 3));
    EXPECT_EQ(reap(c4, deadline), 0);
    EXPECT_EQ(reap(c6, deadline), 0);
    EXPECT_EQ(reap(server, deadline), 0);
    ASSERT_EQ(done, 3) << "the exchange did not finish in time";
    const Snapshot s = c.read(1.0);
    auto m = by_pid_port(s, IPPROTO_UDP, port);
    constexpr uint64_t kFrame = kSize + 8 + 20 + 14;  // IPv4 on the wire, even from [::]
    for (pid_t p : {c4, c6}) {
        const Counters &cl = m[static_cast<uint32_t>(p)];
        EXPECT_EQ(cl.tx_packets, static_cast<uint64_t>(kCount)) << p;
        EXPECT_EQ(cl.tx_bytes, kCount * kFrame) << p;
        EXPECT_EQ(cl.rx_packets, static_cast<uint64_t>(kCount)) << p;
        EXPECT_EQ(cl.rx_bytes, kCount * kFrame) << p;
    }
    const Counters &sv = m[static_cast<uint32_t>(server)];
    EXPECT_EQ(sv.rx_packets, 2u * kCount);
    EXPECT_EQ(sv.rx_bytes, 2 * kCount * kFrame);
    EXPECT_EQ(sv.tx_packets, 2u * kCount);
    EXPECT_EQ(sv.tx_bytes, 2 * kCount * kFrame);
    EXPECT_EQ(m.size(), 3u);
    EXPECT_EQ(s.losses.capture_drops, 0u);
}

// ---- private network namespaces, on test threads ----

// Runs fn on a new thread in a new network namespace with lo up; returns
// false (with why) if the namespace cannot be made.
bool in_netns(const std::function<void()> &fn, std::string *why) {
    bool ok = false;
    std::thread t([&] {
        if (unshare(CLONE_NEWNET) != 0) {
            *why = std::string("unshare(CLONE_NEWNET): ") + strerror(errno);
            return;
        }
        if (!lo_up()) {
            *why = std::string("cannot bring lo up: ") + strerror(errno);
            return;
        }
        ok = true;
        fn();
    });
    t.join();
    return ok;
}

AfPacketCollectorOptions thread_opts() {
    AfPacketCollectorOptions o;
    o.net_dir = "thread-self/net";  // this thread's namespace, not the process's
    return o;
}

// Short-lived processes: the known weakness of this mode, measured.  Each
// client is a fresh process that connects, sends, closes and exits; in one
// round at once, in the other it keeps its connection open a while after
// sending.  In a private namespace, so that every frame there is ours:
// attributed plus unattributed must add up to everything captured.
TEST(AfPacketCollectorNetns, ShortLivedProcessesMeasured) {
    SKIP_WITHOUT_CAPTURE();
    constexpr int kClients = 16;
    constexpr uint64_t kBytes = 256u << 10;
    struct Round {
        int linger_ms;
        double share = -1;
        uint64_t client_tx = 0, server_rx = 0;
    };
    std::vector<Round> rounds = {{0}, {200}};
    std::string why;
    const bool made = in_netns(
        [&] {
            for (Round &r : rounds) {
                const int64_t deadline = mono_ns() + kDeadlineNs;
                // Refreshes 50 ms apart whatever their CPU time: at the
                // default share, a refresh's CPU time in an emulated VM on a
                // busy host spaced them up to the 1 s cap, longer than the
                // 200 ms a client lingers (0.62 was measured there).
                auto o = thread_opts();
                o.refresh_share = 1.0;
                AfPacketCollector c(o);
                std::string err;
                ASSERT_EQ(c.open(&err), 0) << err;
                Truth truth;
                ASSERT_EQ(truth.open(cbpf::ip_any(), &err), 0) << err;
                Pipe release;
                TcpServer server;
                ASSERT_TRUE(server.start(AF_INET, "127.0.0.1", 0, kClients, release.r));
                std::vector<pid_t> clients;
                for (int i = 0; i < kClients; ++i) {
                    ClientOpts o;
                    o.linger_ms = r.linger_ms;
                    const pid_t p =
                        tcp_client("apc-short", AF_INET, "127.0.0.1", server.port, kBytes, 0, o);
                    ASSERT_GT(p, 0);
                    clients.push_back(p);
                    pump_for(c, &truth, 40);
                }
                Result sr;
                pump(
                    c, &truth, [&] { return server.info.take(sr); }, deadline);
                for (pid_t p : clients)
                    EXPECT_EQ(reap(p, deadline), 0);
                pump_for(c, &truth, 300);
                write_all(release.w, "r", 1);
                EXPECT_EQ(reap(server.pid, deadline), 0);
                const Snapshot s = c.read(1.0);
                auto m = by_pid_port(s, IPPROTO_TCP, server.port);
                const Counters sv = m[static_cast<uint32_t>(server.pid)];
                for (pid_t p : clients)
                    r.client_tx += m[static_cast<uint32_t>(p)].tx_bytes;
                r.server_rx = sv.rx_bytes;
                // The long-lived server is always found (its listener, then its sockets).
                EXPECT_GE(sv.rx_bytes, kClients * kBytes);
                // Nothing lost: every captured frame is attributed or unattributed.
                Counters sum = s.unattributed;
                for (const auto &f : s.flows)
                    sum += f.delta;
                EXPECT_EQ(truth.cap.stats().drops, 0u);
                EXPECT_EQ(s.losses.capture_drops, 0u);
                EXPECT_EQ(sum.tx_bytes, truth.all.tx_bytes);
                EXPECT_EQ(sum.rx_bytes, truth.all.rx_bytes);
                EXPECT_EQ(sum.tx_packets + sum.rx_packets,
                          truth.all.tx_packets + truth.all.rx_packets);
                // On loopback a client's tx is the server's rx.
                r.share = static_cast<double>(r.client_tx) / static_cast<double>(r.server_rx);
            }
        },
        &why);
    if (!made) GTEST_SKIP() << why;
    for (const Round &r : rounds) {
        printf(
            "  short-lived clients (connection open %d ms after sending): %.1f%% of their tx "
            "attributed\n",
            r.linger_ms, 100 * r.share);
        ::testing::Test::RecordProperty(
            "short_lived_linger" + std::to_string(r.linger_ms) + "_permille",
            static_cast<int>(r.share * 1000 + 0.5));
        EXPECT_LE(r.client_tx, r.server_rx);
    }
    // Connections that outlive a refresh are found.
    EXPECT_GE(rounds[1].share, 0.9);
}

// A veth pair between two private namespaces: client in A, server in B, a
// collector in each.  The client's frames leave A's veth as OUTGOING and
// arrive on B's as HOST.
TEST(AfPacketCollectorNetns, VethPair) {
    SKIP_WITHOUT_CAPTURE();
    if (system("ip -V >/dev/null 2>&1") != 0) GTEST_SKIP() << "needs ip(8) (iproute2)";
    constexpr uint64_t kUp = 8u << 20, kDown = 512u << 10;
    std::atomic<pid_t> tid_b{0};
    std::atomic<uint16_t> port{0};
    std::atomic<bool> a_done{false}, b_ready{false}, fail{false};
    std::string why_a, why_b, err_a, err_b;
    Snapshot snap_a, snap_b;
    AfPacketCollector::Stats stats_a{}, stats_b{};
    Result cres, sres;
    pid_t client = -1, server_pid = -1;
    const int64_t deadline = mono_ns() + kDeadlineNs;

    auto wait_for = [&](const std::function<bool()> &cond) {
        while (!cond() && !fail && mono_ns() < deadline)
            usleep(1000);
        return cond();
    };

    std::thread tb([&] {
        in_netns(
            [&] {
                tid_b = gettid();
                // A makes the pair and moves our end here.
                if (!wait_for([&] { return if_nametoindex("apcvb") != 0; })) {
                    err_b = "apcvb never arrived";
                    fail = true;
                    return;
                }
                if (system("ip addr add 10.231.0.2/24 dev apcvb && ip link set apcvb up") != 0) {
                    err_b = "cannot configure apcvb";
                    fail = true;
                    return;
                }
                AfPacketCollector c(thread_opts());
                if (c.open(&err_b) != 0) {
                    fail = true;
                    return;
                }
                Pipe release;
                TcpServer server;
                if (!server.start(AF_INET, "10.231.0.2", kDown, 1, release.r)) {
                    err_b = "server did not start";
                    fail = true;
                    return;
                }
                server_pid = server.pid;
                port = server.port;
                b_ready = true;
                bool got = false;
                pump(
                    c, nullptr, [&] { return (got = got || server.info.take(sres)) && a_done; },
                    deadline);
                pump_for(c, nullptr, 300);
                snap_b = c.read(1.0);
                stats_b = c.stats();
                write_all(release.w, "r", 1);
                if (reap(server.pid, deadline) != 0) err_b = "server failed";
            },
            &why_b);
        if (!why_b.empty()) fail = true;
    });
    std::thread ta([&] {
        in_netns(
            [&] {
                if (!wait_for([&] { return tid_b.load() != 0; })) return;
                const std::string mk = "ip link add apcva type veth peer name apcvb netns " +
                                       std::to_string(tid_b.load()) +
                                       " && ip addr add 10.231.0.1/24 dev apcva && ip link set "
                                       "apcva up";
                if (system(mk.c_str()) != 0) {
                    err_a = "cannot make the veth pair (modprobe veth?)";
                    fail = true;
                    return;
                }
                AfPacketCollector c(thread_opts());
                if (c.open(&err_a) != 0) {
                    fail = true;
                    return;
                }
                if (!wait_for([&] { return b_ready.load(); })) return;
                Pipe go, result, release;
                client = tcp_client("apc-vethcli", AF_INET, "10.231.0.2", port, kUp, kDown,
                                    ClientOpts{go.r, result.w, release.r, 0});
                pump_for(c, nullptr, 300);
                write_all(go.w, "g", 1);
                pump(
                    c, nullptr, [&] { return result.take(cres) || fail; }, deadline);
                pump_for(c, nullptr, 300);
                snap_a = c.read(1.0);
                stats_a = c.stats();
                write_all(release.w, "r", 1);
                if (reap(client, deadline) != 0) err_a = "client failed";
                if (system("ip link del apcva") != 0) err_a = "cannot delete apcva";
            },
            &why_a);
        a_done = true;
        if (!why_a.empty()) fail = true;
    });
    ta.join();
    tb.join();
    if (!why_a.empty() || !why_b.empty()) GTEST_SKIP() << why_a << why_b;
    ASSERT_TRUE(err_a.empty()) << err_a;
    ASSERT_TRUE(err_b.empty()) << err_b;
    ASSERT_EQ(cres.ok, 1);
    ASSERT_EQ(sres.ok, 1);
    EXPECT_EQ(sres.got, kUp);
    EXPECT_EQ(system("ip link show apcva >/dev/null 2>&1"), 256) << "apcva left in the host";

    const auto cp = static_cast<uint32_t>(client), sp = static_cast<uint32_t>(server_pid);
    auto ma = by_pid_port(snap_a, IPPROTO_TCP, port), mb = by_pid_port(snap_b, IPPROTO_TCP, port);
    const Counters cl = ma[cp], sv = mb[sp];
    EXPECT_EQ(ma.size(), 1u);  // the server is not in A, the client not in B
    EXPECT_EQ(mb.size(), 1u);
    EXPECT_EQ(cl.tx_packets, sv.rx_packets);
    EXPECT_EQ(cl.tx_bytes, sv.rx_bytes);
    EXPECT_EQ(sv.tx_packets, cl.rx_packets);
    EXPECT_EQ(sv.tx_bytes, cl.rx_bytes);
    expect_frame_bytes(cl, kUp, cres.retrans, AF_INET, "client");
    expect_frame_bytes(sv, kDown, sres.retrans, AF_INET, "server");
    EXPECT_EQ(snap_a.names[cp].comm, "apc-vethcli");
    EXPECT_EQ(snap_b.names[sp].comm, "apc-server");
    // What else crossed (IPv6 neighbour discovery and the like) is small.
    EXPECT_LT(bytes(snap_a.unattributed), bytes(cl) / 100);
    EXPECT_LT(bytes(snap_b.unattributed), bytes(sv) / 100);
    EXPECT_EQ(stats_a.duplicates + stats_b.duplicates, 0u);
    EXPECT_EQ(snap_a.losses.capture_drops + snap_b.losses.capture_drops, 0u);
}

TEST(AfPacketCollector, OpenNamesCauseWithoutPrivilege) {
    if (bpfkit::testcapture::capture_unavailable().empty() && geteuid() == 0) {
        // As root: a proc root without tables is the failure to check.
        AfPacketCollectorOptions o;
        o.proc_root = "/nonexistent-proc";
        AfPacketCollector c(o);
        std::string err;
        EXPECT_NE(c.open(&err), 0);
        EXPECT_NE(err.find("mount"), std::string::npos) << err;
        EXPECT_LT(c.fd(), 0);
        return;
    }
    AfPacketCollector c;
    std::string err;
    EXPECT_NE(c.open(&err), 0);
    EXPECT_NE(err.find("CAP_NET_RAW"), std::string::npos) << err;
}

}  // namespace
