// Tests for common/procnet.h: socket tables and fd links from a fake /proc
// (tables under data/procnet/, pid directories with fd symlinks made at run
// time in a temporary directory), then the same against the real /proc with
// sockets of this process.
#include <gtest/gtest.h>

#include "../common/tempdir.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "procnet.h"

#ifndef BPFKIT_TEST_DATA
#error "BPFKIT_TEST_DATA must point at tests/unit/data"
#endif

namespace {

namespace procnet = bpfkit::procnet;
namespace fs = std::filesystem;
using bpfkit::pkt::IpAddr;
using procnet::MatchKind;

const std::string kData = std::string(BPFKIT_TEST_DATA) + "/procnet";

IpAddr ip(const char *text) {
    auto a = IpAddr::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(IpAddr{});
}

// The fixture tables are written as a little-endian host prints them.
#define SKIP_UNLESS_LITTLE_ENDIAN()                                                      \
    do {                                                                                 \
        if constexpr (std::endian::native != std::endian::little)                        \
            GTEST_SKIP() << "fixture tables are in a little-endian kernel's byte order"; \
    } while (0)

// A fake proc root: net/ points at the fixture tables; pid directories and
// their fd links are made by the tests.
class FakeProc {
  public:
    FakeProc() : dir_("bpfkit-procnet"), root_(dir_.path()) {
        fs::create_directory_symlink(kData + "/net", root_ + "/net");
    }

    const std::string &root() const { return root_; }

    void link(int pid, int fd, const std::string &target) {
        const std::string dir = root_ + "/" + std::to_string(pid) + "/fd";
        fs::create_directories(dir);
        fs::create_symlink(target, dir + "/" + std::to_string(fd));
    }
    void socket(int pid, int fd, uint64_t inode) {
        link(pid, fd, "socket:[" + std::to_string(inode) + "]");
    }
    void dir(const std::string &rel) { fs::create_directories(root_ + "/" + rel); }
    void file(const std::string &rel, const std::string &text) {
        std::ofstream(root_ + "/" + rel) << text;
    }

    // The set of processes the lookup tests use.
    void populate() {
        socket(100, 3, 1001);  // sshd: 0.0.0.0:22 listening
        socket(100, 4, 1003);  //        10.0.2.15:22 <- 10.0.2.2:54321
        link(100, 0, "/dev/null");
        link(100, 1, "pipe:[555]");
        link(100, 2, "anon_inode:[eventfd]");
        socket(200, 10, 1002);  // mysqld: 127.0.0.1:3306 listening
        socket(300, 6, 2001);   // nginx master: [::]:80 listening
        socket(301, 6, 2001);   // nginx worker: the same listener, inherited
        socket(301, 7, 2003);   //               ::ffff:10.0.2.15:80 <- ::ffff:10.0.2.2:58010
        socket(400, 3, 2002);   // python: [::1]:8080 <- [::1]:46566
        socket(400, 4, 2004);   //         [2001:db8::1]:443 listening
        socket(500, 5, 3001);   // dhclient: 0.0.0.0:68
        socket(501, 5, 3002);   // resolved: 127.0.0.53:53
        socket(600, 3, 3003);   // a connected UDP client 127.0.0.1:39938 -> 127.0.0.1:60880
        socket(600, 4, 3004);   // and its server 127.0.0.1:60880
        socket(700, 3, 3005);   // dnsmasq: 0.0.0.0:53
        socket(700, 4, 4001);   //          [::]:5353
        socket(700, 5, 4002);   //          [::]:5001 (dual-stack)
        socket(700, 6, 77777);  // a unix socket: not in the tables
    }

  private:
    bpfkit::testfs::TempDir dir_;
    std::string root_;
};

// ---- parsing ----

TEST(ProcNet, HexAddr) {
    SKIP_UNLESS_LITTLE_ENDIAN();
    EXPECT_EQ(procnet::parse_hex_addr("0100007F"), ip("127.0.0.1"));
    EXPECT_EQ(procnet::parse_hex_addr("0F02000A"), ip("10.0.2.15"));
    EXPECT_EQ(procnet::parse_hex_addr("0f02000a"), ip("10.0.2.15"));  // either case
    EXPECT_EQ(procnet::parse_hex_addr("00000000"), ip("0.0.0.0"));
    EXPECT_EQ(procnet::parse_hex_addr("00000000000000000000000001000000"), ip("::1"));
    EXPECT_EQ(procnet::parse_hex_addr("B80D0120000000000000000001000000"), ip("2001:db8::1"));
    EXPECT_EQ(procnet::parse_hex_addr("000080FE000000000000000001000000"), ip("fe80::1"));
    EXPECT_EQ(procnet::parse_hex_addr("0000000000000000FFFF00000F02000A"), ip("::ffff:10.0.2.15"));
}

TEST(ProcNet, HexAddrRejects) {
    EXPECT_EQ(procnet::parse_hex_addr(""), std::nullopt);
    EXPECT_EQ(procnet::parse_hex_addr("0100007"), std::nullopt);    // 7 digits
    EXPECT_EQ(procnet::parse_hex_addr("0100007F0"), std::nullopt);  // 9 digits
    EXPECT_EQ(procnet::parse_hex_addr("0100007G"), std::nullopt);   // not hex
    EXPECT_EQ(procnet::parse_hex_addr("-100007F"), std::nullopt);   // sign
    EXPECT_EQ(procnet::parse_hex_addr(" 100007F"), std::nullopt);   // space
    EXPECT_EQ(procnet::parse_hex_addr(std::string(31, '0')), std::nullopt);
    EXPECT_EQ(procnet::parse_hex_addr(std::string(33, '0')), std::nullopt);
    EXPECT_EQ(procnet::parse_hex_addr(std::string(31, '0') + "x"), std::nullopt);
}

TEST(ProcNet, ParseLineTcp) {
    SKIP_UNLESS_LITTLE_ENDIAN();
    auto e = procnet::parse_line(
        "   2: 0F02000A:0016 0202000A:D431 01 00000000:00000000 02:000A7B1C 00000000     0        "
        "0 1003 4 0000000000000000 20 4 31 10 -1                     ",
        IPPROTO_TCP, false);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->proto, IPPROTO_TCP);
    EXPECT_FALSE(e->v6_table);
    EXPECT_EQ(e->local, ip("10.0.2.15"));
    EXPECT_EQ(e->lport, 22);
    EXPECT_EQ(e->remote, ip("10.0.2.2"));
    EXPECT_EQ(e->rport, 54321);
    EXPECT_EQ(e->state, procnet::kTcpEstablished);
    EXPECT_EQ(e->uid, 0u);
    EXPECT_EQ(e->inode, 1003u);
}

TEST(ProcNet, ParseLineTcp6Mapped) {
    SKIP_UNLESS_LITTLE_ENDIAN();
    auto e = procnet::parse_line(
        "   2: 0000000000000000FFFF00000F02000A:0050 0000000000000000FFFF00000202000A:E29A 01 "
        "00000000:00000000 02:00000A1F 00000000    33        0 2003 2 0000000000000000 20 4 1 "
        "10 -1",
        IPPROTO_TCP, true);
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(e->v6_table);
    EXPECT_EQ(e->local, ip("::ffff:10.0.2.15"));
    EXPECT_EQ(e->remote, ip("::ffff:10.0.2.2"));
    EXPECT_EQ(procnet::unmap_v4(e->local), ip("10.0.2.15"));
    EXPECT_EQ(e->lport, 80);
    EXPECT_EQ(e->rport, 58010);
    EXPECT_EQ(e->uid, 33u);
    EXPECT_EQ(e->inode, 2003u);
}

TEST(ProcNet, ParseLineUdpAndTabs) {
    SKIP_UNLESS_LITTLE_ENDIAN();
    auto e = procnet::parse_line(
        "\t300:\t0100007F:9C02\t0100007F:EDD0 07 00000000:00000000 00:00000000 00000000 "
        "4294967295 0 18446744073709551615 2 0000000000000000 0",
        IPPROTO_UDP, false);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->proto, IPPROTO_UDP);
    EXPECT_EQ(e->state, procnet::kTcpClose);
    EXPECT_EQ(e->uid, 4294967295u);
    EXPECT_EQ(e->inode, 18446744073709551615ull);
    EXPECT_EQ(e->lport, 39938);
    EXPECT_EQ(e->rport, 60880);
}

TEST(ProcNet, ParseLineRejects) {
    const char *bad[] = {
        "",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode",
        // too few fields
        "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0",
        // no colon after sl
        "   0 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
        // port of 3 digits
        "   0: 0100007F:016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
        // no port
        "   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
        // v4 local, v6 remote
        "   0: 0100007F:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 "
        "00:00000000 00000000 0 0 1 1",
        // state of 3 digits
        "   0: 0100007F:0016 00000000:0000 0A0 00000000:00000000 00:00000000 00000000 0 0 1 1",
        // uid not decimal / too big
        "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 x 0 1 1",
        "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 "
        "0 1 1",
        // inode overflows 64 bits / negative
        "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
        "18446744073709551616 1",
        "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 -1 1",
    };
    for (const char *l : bad)
        EXPECT_EQ(procnet::parse_line(l, IPPROTO_TCP, false), std::nullopt) << l;
    // A v4 line in a v6 table (and the reverse) is not believed either.
    EXPECT_EQ(procnet::parse_line("   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 "
                                  "00:00000000 00000000 0 0 1 1",
                                  IPPROTO_TCP, true),
              std::nullopt);
}

TEST(ProcNet, ParseTableCountsBadLines) {
    size_t bad = 0;
    auto v = procnet::parse_table(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 11 1\n"
        "garbage\n"
        "\n"
        "   1: 0100007F:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 12 1",
        IPPROTO_TCP, false, &bad);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].inode, 11u);
    EXPECT_EQ(v[1].inode, 12u);  // no final newline
    EXPECT_EQ(bad, 1u);
    EXPECT_TRUE(procnet::parse_table("", IPPROTO_TCP, false).empty());
}

TEST(ProcNet, ReadTablesFixtures) {
    SKIP_UNLESS_LITTLE_ENDIAN();
    std::vector<procnet::SocketEntry> v;
    procnet::TableStats st;
    ASSERT_EQ(procnet::read_tables(kData, "net", v, &st), 0);
    EXPECT_EQ(st.tables_read, 4u);
    EXPECT_EQ(st.tables_missing, 0u);
    EXPECT_EQ(st.bad_lines, 0u);
    EXPECT_EQ(st.entries, 17u);
    ASSERT_EQ(v.size(), 17u);
    size_t tcp = 0, udp = 0, v6 = 0, listen = 0, no_inode = 0;
    for (const auto &e : v) {
        tcp += e.proto == IPPROTO_TCP;
        udp += e.proto == IPPROTO_UDP;
        v6 += e.v6_table;
        listen += e.state == procnet::kTcpListen;
        no_inode += e.inode == 0;
    }
    EXPECT_EQ(tcp, 10u);
    EXPECT_EQ(udp, 7u);
    EXPECT_EQ(v6, 6u);
    EXPECT_EQ(listen, 5u);
    EXPECT_EQ(no_inode, 2u);  // TIME_WAIT and SYN_RECV
    // The order is tcp, tcp6, udp, udp6, each in file order.
    EXPECT_EQ(v[0].inode, 1001u);
    EXPECT_EQ(v[6].local, ip("::"));
    EXPECT_EQ(v[6].lport, 80);
    EXPECT_EQ(v[9].local, ip("2001:db8::1"));
    EXPECT_EQ(v[11].local, ip("127.0.0.53"));
    EXPECT_EQ(v[11].uid, 101u);
    EXPECT_EQ(v[16].lport, 5001);
}

TEST(ProcNet, ReadTablesMissingAndBad) {
    FakeProc p;
    p.dir("4242");
    fs::create_directory_symlink(kData + "/ns2", p.root() + "/4242/net");
    std::vector<procnet::SocketEntry> v;
    procnet::TableStats st;
    ASSERT_EQ(procnet::read_tables(p.root(), procnet::net_dir_of(4242), v, &st), 0);
    EXPECT_EQ(st.tables_read, 1u);
    EXPECT_EQ(st.tables_missing, 3u);
    EXPECT_EQ(st.bad_lines, 1u);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].inode, 9001u);

    v.clear();
    EXPECT_EQ(procnet::read_tables(p.root(), procnet::net_dir_of(99), v, &st), ENOENT);
    EXPECT_EQ(st.tables_read, 0u);
    EXPECT_EQ(st.tables_missing, 4u);
    EXPECT_TRUE(v.empty());
}

TEST(ProcNet, NetDirOf) {
    EXPECT_EQ(procnet::net_dir_of(0), "net");
    EXPECT_EQ(procnet::net_dir_of(1234), "1234/net");
}

TEST(ProcNet, SocketInode) {
    EXPECT_EQ(procnet::socket_inode("socket:[12345]"), 12345u);
    EXPECT_EQ(procnet::socket_inode("socket:[0]"), 0u);
    EXPECT_EQ(procnet::socket_inode("socket:[18446744073709551615]"), 18446744073709551615ull);
    EXPECT_EQ(procnet::socket_inode("socket:[18446744073709551616]"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode("socket:[]"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode("socket:[12a]"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode("socket:[12"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode("socket:12]"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode("pipe:[12345]"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode("anon_inode:[eventfd]"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode("/dev/null"), std::nullopt);
    EXPECT_EQ(procnet::socket_inode(""), std::nullopt);
}

TEST(ProcNet, UnmapV4) {
    EXPECT_EQ(procnet::unmap_v4(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
    EXPECT_EQ(procnet::unmap_v4(ip("::ffff:0.0.0.0")), ip("0.0.0.0"));
    EXPECT_EQ(procnet::unmap_v4(ip("::1")), ip("::1"));
    EXPECT_EQ(procnet::unmap_v4(ip("::")), ip("::"));
    EXPECT_EQ(procnet::unmap_v4(ip("64:ff9b::7f00:1")), ip("64:ff9b::7f00:1"));  // NAT64: no
    EXPECT_EQ(procnet::unmap_v4(ip("10.0.0.1")), ip("10.0.0.1"));
}

// ---- fd links ----

TEST(ProcNet, SocketOwners) {
    FakeProc p;
    p.populate();
    p.file("100/comm", "sshd\n");  // other files do not matter
    p.dir("900");                  // exited between the listing and the scan: no fd dir
    p.dir("901");
    p.file("901/fd", "not a directory");  // unreadable
    p.dir("self");                        // not a pid

    procnet::OwnerStats st;
    auto all = procnet::socket_owners(p.root(), nullptr, &st);
    EXPECT_EQ(st.pids_scanned, 11u);
    EXPECT_EQ(st.pids_gone, 1u);
    EXPECT_EQ(st.pids_unreadable, 1u);
    EXPECT_EQ(st.sockets, 15u);
    EXPECT_EQ(st.shared_sockets, 1u);
    EXPECT_EQ(all.at(1001), 100u);
    EXPECT_EQ(all.at(2001), 300u);  // shared: the lowest pid
    EXPECT_EQ(all.at(2003), 301u);
    EXPECT_EQ(all.at(77777), 700u);
    EXPECT_EQ(all.count(555), 0u);  // a pipe

    std::unordered_set<uint64_t> wanted = {1001, 2001, 424242};
    auto some = procnet::socket_owners(p.root(), &wanted, &st);
    EXPECT_EQ(some.size(), 2u);
    EXPECT_EQ(st.sockets, 2u);
    EXPECT_EQ(some.at(2001), 300u);

    EXPECT_TRUE(procnet::socket_owners(p.root() + "/nonexistent").empty());
}

// ---- lookup ----

class ProcNetLookup : public ::testing::Test {
  protected:
    void SetUp() override {
        if constexpr (std::endian::native != std::endian::little)
            GTEST_SKIP() << "fixture tables are in a little-endian kernel's byte order";
        proc_.populate();
        map_ = std::make_unique<procnet::SocketMap>(procnet::SocketMapOptions{proc_.root(), "net"});
        ASSERT_EQ(map_->refresh(), 0);
    }
    // pid and kind, or pid 0 for no match.
    std::pair<uint32_t, MatchKind> find(uint8_t proto, const char *local, uint16_t lport,
                                        const char *remote, uint16_t rport) {
        auto m = map_->lookup(proto, ip(local), lport, ip(remote), rport);
        if (!m) return {0, MatchKind::Exact};
        return {m->pid, m->kind};
    }
    using R = std::pair<uint32_t, MatchKind>;

    FakeProc proc_;
    std::unique_ptr<procnet::SocketMap> map_;
};

TEST_F(ProcNetLookup, Stats) {
    const auto &st = map_->stats();
    EXPECT_EQ(st.refreshes, 1u);
    EXPECT_EQ(st.tables.entries, 17u);
    EXPECT_EQ(st.owners.sockets, 14u);  // only inodes in the tables; 1005 has no holder
    EXPECT_EQ(st.owners.shared_sockets, 1u);
    EXPECT_EQ(map_->generation(), 1u);
    EXPECT_EQ(map_->owner(2002), 400u);
    EXPECT_EQ(map_->owner(1005), std::nullopt);
    EXPECT_EQ(map_->owner(0), std::nullopt);
    EXPECT_EQ(map_->owner(77777), std::nullopt);  // not a TCP/UDP socket of the tables
}

TEST_F(ProcNetLookup, TcpExact) {
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 22, "10.0.2.2", 54321), R(100, MatchKind::Exact));
    EXPECT_EQ(find(IPPROTO_TCP, "::1", 8080, "::1", 46566), R(400, MatchKind::Exact));
    // The peer's view of the same connection is not ours.
    EXPECT_EQ(find(IPPROTO_TCP, "::1", 46566, "::1", 8080).first, 0u);
    // UDP never matches a TCP socket.
    EXPECT_EQ(find(IPPROTO_UDP, "10.0.2.15", 22, "10.0.2.2", 54321).first, 0u);
}

TEST_F(ProcNetLookup, TcpMapped) {
    // A tcp6 socket talking IPv4: the frames carry IPv4 addresses.
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 80, "10.0.2.2", 58010), R(301, MatchKind::Exact));
    // Asking with the mapped form works too.
    EXPECT_EQ(find(IPPROTO_TCP, "::ffff:10.0.2.15", 80, "::ffff:10.0.2.2", 58010),
              R(301, MatchKind::Exact));
}

TEST_F(ProcNetLookup, TcpListener) {
    // SYN_RECV has inode 0: the listener on 0.0.0.0:22 answers.
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 22, "10.0.2.3", 54322), R(100, MatchKind::Listener));
    // A connection not in the tables at all.
    EXPECT_EQ(find(IPPROTO_TCP, "192.0.2.7", 22, "198.51.100.1", 4000),
              R(100, MatchKind::Listener));
    // Bound to 127.0.0.1 only.
    EXPECT_EQ(find(IPPROTO_TCP, "127.0.0.1", 3306, "127.0.0.1", 40000),
              R(200, MatchKind::Listener));
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 3306, "10.0.2.2", 40000).first, 0u);
    // [::]:80 also takes IPv4 (dual-stack): the shared listener goes to the lowest pid.
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 80, "10.0.2.9", 1234), R(300, MatchKind::Listener));
    EXPECT_EQ(find(IPPROTO_TCP, "2001:db8::5", 80, "2001:db8::9", 1234),
              R(300, MatchKind::Listener));
    // Bound to 2001:db8::1 only.
    EXPECT_EQ(find(IPPROTO_TCP, "2001:db8::1", 443, "2001:db8::9", 1234),
              R(400, MatchKind::Listener));
    EXPECT_EQ(find(IPPROTO_TCP, "2001:db8::2", 443, "2001:db8::9", 1234).first, 0u);
    // A listener whose inode nobody holds (other user's process, unreadable).
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 8000, "10.0.2.2", 1234).first, 0u);
}

TEST_F(ProcNetLookup, TcpTimeWaitHasNoOwner) {
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 50000, "142.250.74.46", 443).first, 0u);
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 40000, "10.0.2.2", 22).first, 0u);  // unknown port
}

TEST_F(ProcNetLookup, Udp) {
    // Connected socket, then the unconnected one it talks to.
    EXPECT_EQ(find(IPPROTO_UDP, "127.0.0.1", 39938, "127.0.0.1", 60880), R(600, MatchKind::Exact));
    EXPECT_EQ(find(IPPROTO_UDP, "127.0.0.1", 60880, "127.0.0.1", 39938), R(600, MatchKind::Bound));
    // 127.0.0.53:53 beats 0.0.0.0:53; other addresses get the wildcard.
    EXPECT_EQ(find(IPPROTO_UDP, "127.0.0.53", 53, "127.0.0.1", 41000), R(501, MatchKind::Bound));
    EXPECT_EQ(find(IPPROTO_UDP, "10.0.2.15", 53, "10.0.2.2", 41000), R(700, MatchKind::Bound));
    // No IPv6 socket on 53.
    EXPECT_EQ(find(IPPROTO_UDP, "::1", 53, "::1", 41000).first, 0u);
    // Broadcast to 0.0.0.0:68.
    EXPECT_EQ(find(IPPROTO_UDP, "255.255.255.255", 68, "10.0.2.2", 67), R(500, MatchKind::Bound));
    // [::]:5353 for IPv6 and (dual-stack) IPv4, multicast included.
    EXPECT_EQ(find(IPPROTO_UDP, "ff02::fb", 5353, "fe80::1", 5353), R(700, MatchKind::Bound));
    EXPECT_EQ(find(IPPROTO_UDP, "224.0.0.251", 5353, "10.0.2.2", 5353), R(700, MatchKind::Bound));
    EXPECT_EQ(find(IPPROTO_UDP, "10.0.2.15", 5001, "10.0.2.2", 9), R(700, MatchKind::Bound));
}

TEST_F(ProcNetLookup, RefreshSeesChanges) {
    // The socket of sshd's connection changes hands (passed over a unix socket).
    fs::remove(proc_.root() + "/100/fd/4");
    proc_.socket(250, 9, 1003);
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 22, "10.0.2.2", 54321).first, 100u);  // not yet
    ASSERT_EQ(map_->refresh(), 0);
    EXPECT_EQ(map_->generation(), 2u);
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 22, "10.0.2.2", 54321), R(250, MatchKind::Exact));
    // The process holding the listener is gone: nothing on port 22 any more
    // except the connection.
    fs::remove_all(proc_.root() + "/100");
    ASSERT_EQ(map_->refresh(), 0);
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 22, "10.0.2.3", 54322).first, 0u);
}

TEST_F(ProcNetLookup, RefreshFailureKeepsContents) {
    fs::remove(proc_.root() + "/net");
    EXPECT_EQ(map_->refresh(), ENOENT);
    EXPECT_EQ(map_->generation(), 1u);
    EXPECT_EQ(find(IPPROTO_TCP, "10.0.2.15", 22, "10.0.2.2", 54321).first, 100u);
}

TEST(ProcNet, AssignAndEmptyMap) {
    procnet::SocketMap m;
    EXPECT_EQ(m.lookup(IPPROTO_TCP, ip("127.0.0.1"), 1, ip("127.0.0.1"), 2), std::nullopt);
    procnet::SocketEntry e;
    e.proto = IPPROTO_UDP;
    e.local = ip("0.0.0.0");
    e.remote = ip("0.0.0.0");
    e.lport = 9;
    e.state = procnet::kTcpClose;
    e.inode = 5;
    // Two sockets on the same port (SO_REUSEPORT): the first with an owner.
    procnet::SocketEntry e2 = e;
    e2.inode = 6;
    m.assign({e, e2}, {{6, 42}});
    EXPECT_EQ(m.generation(), 1u);
    auto r = m.lookup(IPPROTO_UDP, ip("192.0.2.1"), 9, ip("192.0.2.2"), 1000);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->pid, 42u);
    EXPECT_EQ(r->socket.inode, 6u);
    // TCP needs LISTEN: a bound but closed TCP socket never matches.
    e.proto = IPPROTO_TCP;
    m.assign({e}, {{5, 1}});
    EXPECT_EQ(m.lookup(IPPROTO_TCP, ip("192.0.2.1"), 9, ip("192.0.2.2"), 1000), std::nullopt);
}

// ---- the real /proc, with this process's own sockets ----

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len);
    return ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port)
                                   : ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
}

TEST(ProcNetReal, OwnSockets) {
    if (access("/proc/net/tcp", R_OK) != 0) GTEST_SKIP() << "no /proc/net/tcp";
    const auto me = static_cast<uint32_t>(getpid());

    Fd lst(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(lst.fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    ASSERT_EQ(listen(lst.fd, 4), 0);
    a.sin_port = htons(local_port(lst.fd));
    Fd cli(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(connect(cli.fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    Fd srv(accept(lst.fd, nullptr, nullptr));
    ASSERT_GE(srv.fd, 0);
    const uint16_t sport = ntohs(a.sin_port), cport = local_port(cli.fd);

    // A dual-stack UDP socket on [::]: IPv4 datagrams come to it too.
    Fd udp(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int off = 0;
    setsockopt(udp.fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    sockaddr_in6 a6{};
    a6.sin6_family = AF_INET6;
    const bool have_v6 = bind(udp.fd, reinterpret_cast<sockaddr *>(&a6), sizeof a6) == 0;

    procnet::SocketMap m;
    ASSERT_EQ(m.refresh(), 0);
    EXPECT_GE(m.stats().owners.pids_scanned, 1u);
    const IpAddr lo = ip("127.0.0.1");
    auto r = m.lookup(IPPROTO_TCP, lo, cport, lo, sport);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->pid, me);
    EXPECT_EQ(r->kind, MatchKind::Exact);
    EXPECT_EQ(r->socket.state, procnet::kTcpEstablished);
    r = m.lookup(IPPROTO_TCP, lo, sport, lo, cport);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->pid, me);
    EXPECT_EQ(r->kind, MatchKind::Exact);
    r = m.lookup(IPPROTO_TCP, lo, sport, lo, 1);  // a connection not accepted yet
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->kind, MatchKind::Listener);
    EXPECT_EQ(r->socket.uid, static_cast<uint32_t>(getuid()));
    if (have_v6) {
        const uint16_t uport = local_port(udp.fd);
        r = m.lookup(IPPROTO_UDP, lo, uport, lo, 1);
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->pid, me);
        EXPECT_EQ(r->kind, MatchKind::Bound);
        EXPECT_TRUE(r->socket.v6_table);
    }
}

}  // namespace
