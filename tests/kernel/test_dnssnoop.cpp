// SPDX-License-Identifier: GPL-2.0-only
// dnssnoop's real programs in the real kernel: this process asks a DNS
// server of its own on loopback (UDP, then TCP) and the eBPF rung the ladder
// picks, then AF_PACKET, must give each query one answer, attributed to this
// process with its name. Skips without root, or where no rung can run.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "dnssnoop.skel.h"
#include "dnssnoop_capture.h"
#include "dnssnoop_ladder.h"
#include "dnssnoop_procs.h"
#include "dnssnoop_tracker.h"
#include "kernel_features.h"
#include "ladder.h"
#include "procfs.h"

using namespace bpfkit;
using namespace bpfkit::dnssnoop;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes query(uint16_t id, const char *label) {
    Bytes q = {
        static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    q.push_back(static_cast<uint8_t>(strlen(label)));
    q.insert(q.end(), label, label + strlen(label));
    q.insert(q.end(), {4, 't', 'e', 's', 't', 0, 0, 1, 0, 1});
    return q;
}

// The response to a query: QR, RA, one A record 10.9.9.9.
Bytes response(const Bytes &q) {
    Bytes r = q;
    r[2] = 0x81;
    r[3] = 0x80;
    r[7] = 1;
    r.insert(r.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 9, 9});
    return r;
}

struct Sock {
    int fd = -1;
    explicit Sock(int type) : fd(socket(AF_INET, type | SOCK_CLOEXEC, 0)) {}
    ~Sock() {
        if (fd >= 0) close(fd);
    }
};

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

uint16_t bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    return ntohs(a.sin_port);
}

// A UDP and a TCP server on 127.0.0.1, one port for both.
struct Server {
    Sock udp{SOCK_DGRAM}, tcp{SOCK_STREAM};
    uint16_t port = 0;
    Server() {
        sockaddr_in a = loopback(0);
        bind(udp.fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
        port = bound_port(udp.fd);
        a = loopback(port);
        int one = 1;
        setsockopt(tcp.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(tcp.fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 ||
            listen(tcp.fd, 4) != 0)
            port = 0;
    }
};

// One query over UDP and two over one TCP connection, each answered.
void ask(Server &srv, Sock &ucli, Sock &tcli) {
    sockaddr_in to = loopback(srv.port);
    ASSERT_EQ(connect(ucli.fd, reinterpret_cast<sockaddr *>(&to), sizeof(to)), 0);
    Bytes q = query(0x1111, "udp");
    ASSERT_EQ(send(ucli.fd, q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
    uint8_t buf[512];
    sockaddr_in from{};
    socklen_t flen = sizeof(from);
    ssize_t n =
        recvfrom(srv.udp.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr *>(&from), &flen);
    ASSERT_EQ(n, static_cast<ssize_t>(q.size()));
    Bytes r = response(q);
    sendto(srv.udp.fd, r.data(), r.size(), 0, reinterpret_cast<sockaddr *>(&from), flen);
    ASSERT_GT(recv(ucli.fd, buf, sizeof(buf), 0), 0);

    ASSERT_EQ(connect(tcli.fd, reinterpret_cast<sockaddr *>(&to), sizeof(to)), 0);
    int conn = accept4(srv.tcp.fd, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(conn, 0);
    Bytes stream;
    for (uint16_t id : {uint16_t{0x2222}, uint16_t{0x3333}}) {
        Bytes tq = query(id, "tcp");
        stream.push_back(0);
        stream.push_back(static_cast<uint8_t>(tq.size()));
        stream.insert(stream.end(), tq.begin(), tq.end());
    }
    // Both queries in one write; the server answers both in one write.
    ASSERT_EQ(send(tcli.fd, stream.data(), stream.size(), 0), static_cast<ssize_t>(stream.size()));
    size_t got = 0;
    uint8_t in[512];
    while (got < stream.size()) {
        n = recv(conn, in + got, sizeof(in) - got, 0);
        ASSERT_GT(n, 0);
        got += static_cast<size_t>(n);
    }
    Bytes out;
    for (size_t off = 0; off < got;) {
        size_t len = (size_t{in[off]} << 8) | in[off + 1];
        Bytes tr = response(Bytes(in + off + 2, in + off + 2 + len));
        out.push_back(0);
        out.push_back(static_cast<uint8_t>(tr.size()));
        out.insert(out.end(), tr.begin(), tr.end());
        off += 2 + len;
    }
    ASSERT_EQ(send(conn, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    got = 0;
    while (got < out.size()) {
        n = recv(tcli.fd, buf + got, sizeof(buf) - got, 0);
        ASSERT_GT(n, 0);
        got += static_cast<size_t>(n);
    }
    close(conn);
}

// The answers of this test's server, after polling `poll` for up to 3 s.
template <class Poll>
std::vector<Event> collect(std::vector<Event> &events, uint16_t port, Poll poll) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    std::vector<Event> mine;
    while (std::chrono::steady_clock::now() < end) {
        poll(100);
        mine.clear();
        for (const Event &e : events)
            if (e.kind == EventKind::Answer && e.server.port == port) mine.push_back(e);
        if (mine.size() >= 3) break;
    }
    return mine;
}

void expect_ours(const std::vector<Event> &answers, bool with_tid) {
    ASSERT_EQ(answers.size(), 3u);
    const std::string comm = procfs::comm(getpid()).value_or("?");
    std::vector<uint16_t> ids;
    for (const Event &e : answers) {
        EXPECT_TRUE(e.owner.known);
        EXPECT_EQ(e.owner.pid, static_cast<uint32_t>(getpid()));
        EXPECT_EQ(e.owner.comm, comm);
        if (with_tid) {
            EXPECT_EQ(e.owner.tid, static_cast<uint32_t>(gettid()));
        }
        EXPECT_GT(e.latency_ns, 0u);
        ASSERT_TRUE(e.response);
        ASSERT_EQ(e.response->answers.size(), 1u);
        EXPECT_EQ(e.response->answers[0].addr->str(), "10.9.9.9");
        ids.push_back(e.response->id);
    }
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<uint16_t>{0x1111, 0x2222, 0x3333}));
    EXPECT_EQ(answers[0].proto + answers[1].proto + answers[2].proto,
              IPPROTO_UDP + 2 * IPPROTO_TCP);
}

TEST(DnssnoopKernel, EbpfRungAttributesQueriesToThisProcess) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
    Server srv;
    ASSERT_NE(srv.port, 0);
    KernelConfig kc;
    kc.ports = {srv.port, 853};
    EventTransport transport = EventTransport::Ringbuf;
    auto trier = make_trier(kc, &transport);
    LadderResult r = climb(ladder(), LadderRequest{"", "ebpf"}, *trier, system_features());
    if (!r.ok()) {
        std::string why;
        for (const auto &l : describe(ladder(), r))
            why += l + "\n";
        GTEST_SKIP() << "no eBPF rung of dnssnoop runs here:\n" << why;
    }
    std::vector<Event> events;
    TrackerOptions opts;
    opts.ports = {srv.port};
    Tracker tracker(opts, [&](Event &&e) { events.push_back(std::move(e)); });
    EbpfCapture cap;
    ASSERT_EQ(cap.open(static_cast<dnssnoop_bpf *>(trier->skeleton()), transport,
                       [&](const CapturedPacket &p) { tracker.packet(p); }),
              0);
    Sock ucli(SOCK_DGRAM), tcli(SOCK_STREAM);
    ask(srv, ucli, tcli);
    std::vector<Event> mine = collect(events, srv.port, [&](int ms) { cap.poll(ms); });
    SCOPED_TRACE("mode " + ladder().modes[static_cast<size_t>(r.chosen)].name);
    expect_ours(mine, true);
    KernelStats k = cap.stats();
    EXPECT_EQ(k.ring_drops, 0u);
    EXPECT_GE(k.events, 6u);
    EXPECT_GE(k.owners_seen, 2u);
}

TEST(DnssnoopKernel, AfPacketFindsThisProcessInProc) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for AF_PACKET";
    Server srv;
    ASSERT_NE(srv.port, 0);
    AfPacketCapture cap;
    std::string err;
    ASSERT_EQ(cap.open({srv.port}, &err), 0) << err;
    std::vector<Event> events;
    TrackerOptions opts;
    opts.ports = {srv.port};
    ProcResolver procs;
    Tracker tracker(
        opts, [&](Event &&e) { events.push_back(std::move(e)); },
        [&](Owner &o, uint8_t proto, const Endpoint &c, const Endpoint &s) {
            procs.resolve(o, proto, c, s);
        });
    Sock ucli(SOCK_DGRAM), tcli(SOCK_STREAM);
    ask(srv, ucli, tcli);
    std::vector<Event> mine = collect(events, srv.port, [&](int ms) {
        cap.poll(ms, [&](const CapturedPacket &p) { tracker.packet(p); });
    });
    expect_ours(mine, false);
}

}  // namespace
