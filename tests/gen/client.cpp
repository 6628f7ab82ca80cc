// bpfkit-trafficgen tcp-bulk and udp: one socket each, every byte counted.
#include "tg.h"

#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace tg {
namespace {

constexpr size_t kReadBuf = 256 * 1024;

// Prints the client's line; on failure the line carries the error and the
// counts of what did move before it.
void print_client(const char *proto, const std::string &comm, const Endpoint &local,
                  const Endpoint &remote, const Counters &c, Clock::time_point start,
                  const std::string &error) {
    Json j;
    j.s("role", "client")
        .i("pid", getpid())
        .s("comm", comm)
        .s("proto", proto)
        .i("family", remote.family_num())
        .s("local", local.str())
        .s("remote", remote.str())
        .counters(c)
        .i("elapsed_ms", elapsed_ms(start));
    if (!error.empty()) j.s("error", error);
    emit(j.line());
}

}  // namespace

int run_tcp_bulk(int argc, char **argv) {
    Options o(
        "tcp-bulk",
        {{"to", true}, {"bytes", true}, {"chunk", true}, {"recv-bytes", true}, {"rate", true}});
    o.parse(argc, argv, 2);
    Endpoint to = parse_destination(o.require("to"), "tcp-bulk: --to");
    const uint64_t bytes = o.size("bytes", 0, 0, 1ull << 40);
    o.require("bytes");
    const size_t chunk = o.size("chunk", 64 * 1024, 1, kPatternSize);
    const bool check_rx = o.has("recv-bytes");
    const uint64_t want_rx = o.size("recv-bytes", 0, 0, 1ull << 40);
    const uint64_t rate =
        o.size("rate", 0, 1, 1ull << 40);  // bytes per second; 0 = as fast as it goes
    Deadline dl = start_run(o, "tg-bulk");
    const std::string comm = current_comm();

    Fd s;
    s.fd = make_socket(to.family(), SOCK_STREAM);
    const Clock::time_point start = Clock::now();
    connect_nb(s.fd, to, dl);
    const Endpoint local = sock_local(s.fd);
    Counters c;
    std::string error;
    std::vector<char> rbuf(kReadBuf);
    const std::string what = "tcp to " + to.str();
    try {
        bool shut = false, eof = false;
        while (!eof) {
            if (!shut && c.tx_bytes == bytes) {
                // Everything is sent: the server sees EOF, sends its reply
                // (if any) and closes, which ends this loop.
                if (shutdown(s.fd, SHUT_WR) != 0) throw_errno(what + ": shutdown", errno);
                shut = true;
            }
            short ev = POLLIN;
            if (!shut) ev |= POLLOUT;
            short re = wait_fd(s.fd, ev, dl, what);
            if (re & (POLLIN | POLLERR | POLLHUP)) {
                for (;;) {
                    ssize_t n = recv(s.fd, rbuf.data(), rbuf.size(), 0);
                    if (n < 0) {
                        if (errno == EINTR) continue;
                        if (errno == EAGAIN) break;
                        throw_errno(what + ": receive", errno);
                    }
                    if (n == 0) {
                        eof = true;
                        break;
                    }
                    c.rx_bytes += static_cast<uint64_t>(n);
                    ++c.rx_calls;
                }
            }
            if (eof && !shut)
                throw NetError(what + ": the server closed after " + std::to_string(c.tx_bytes) +
                               " of " + std::to_string(bytes) + " bytes");
            while (!shut && c.tx_bytes < bytes) {
                size_t len = static_cast<size_t>(std::min<uint64_t>(bytes - c.tx_bytes, chunk));
                if (rate) {
                    // Paced: no more than rate * elapsed bytes so far.
                    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
                    double allowed = static_cast<double>(rate) * elapsed;
                    if (static_cast<double>(c.tx_bytes) >= allowed) {
                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                        break;
                    }
                    len = static_cast<size_t>(std::min<double>(
                        static_cast<double>(len), allowed - static_cast<double>(c.tx_bytes) + 1));
                }
                ssize_t n = send(s.fd, pattern(), len, MSG_NOSIGNAL);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN) break;
                    throw_errno(what + ": send", errno);
                }
                c.tx_bytes += static_cast<uint64_t>(n);
                ++c.tx_calls;
            }
        }
        if (check_rx && c.rx_bytes != want_rx)
            throw NetError(what + ": received " + std::to_string(c.rx_bytes) +
                           " bytes, --recv-bytes wants " + std::to_string(want_rx));
    } catch (const NetError &e) {
        error = e.what();
    }
    close(s.fd);
    s.fd = -1;
    print_client("tcp", comm, local, to, c, start, error);
    if (!error.empty()) throw NetError(error);
    return 0;
}

int run_udp(int argc, char **argv) {
    Options o("udp", {{"to", true},
                      {"count", true},
                      {"size", true},
                      {"connected", false},
                      {"unconnected", false},
                      {"expect-replies", false},
                      {"pps", true}});
    o.parse(argc, argv, 2);
    Endpoint to = parse_destination(o.require("to"), "udp: --to");
    o.exclusive("connected", "unconnected");
    const uint64_t count = o.size("count", 0, 0, 100000000);
    o.require("count");
    const uint64_t max_size = to.family() == AF_INET6 ? 65527 : 65507;
    const size_t size = o.size("size", 0, 0, max_size);
    o.require("size");
    const bool connected = !o.has("unconnected");
    const bool replies = o.has("expect-replies");
    const uint64_t pps = o.size("pps", 0, 1, 10000000);
    Deadline dl = start_run(o, "tg-udp");
    const std::string comm = current_comm();

    Fd s;
    s.fd = make_socket(to.family(), SOCK_DGRAM);
    set_bufs(s.fd, 16 << 20);
    const std::string what = "udp to " + to.str();
    const Clock::time_point start = Clock::now();
    if (connected && connect(s.fd, to.sa(), to.len) != 0) throw_errno(what + ": connect", errno);
    Counters c;
    uint64_t sent = 0, got = 0;
    std::string error;
    std::vector<char> rbuf(65536);
    Clock::time_point next_send = start;
    const auto gap = pps ? std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(1.0 / static_cast<double>(pps)))
                         : Clock::duration::zero();
    Endpoint local;
    try {
        while (sent < count || (replies && got < count)) {
            // Send as many as the socket and the --pps pacing allow.
            while (sent < count && Clock::now() >= next_send) {
                ssize_t n = connected
                                ? send(s.fd, pattern(), size, MSG_NOSIGNAL)
                                : sendto(s.fd, pattern(), size, MSG_NOSIGNAL, to.sa(), to.len);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN || errno == ENOBUFS) break;
                    throw_errno(what + ": send", errno);
                }
                if (static_cast<size_t>(n) != size)
                    throw NetError(what + ": short datagram send of " + std::to_string(n) +
                                   " bytes");
                c.tx_bytes += static_cast<uint64_t>(n);
                ++c.tx_calls;
                ++sent;
                if (pps) next_send += gap;
            }
            if (replies) {
                for (;;) {
                    ssize_t n = recv(s.fd, rbuf.data(), rbuf.size(), 0);
                    if (n < 0) {
                        if (errno == EINTR) continue;
                        if (errno == EAGAIN) break;
                        throw_errno(what + ": receive", errno);
                    }
                    c.rx_bytes += static_cast<uint64_t>(n);
                    ++c.rx_calls;
                    ++got;
                }
            }
            if (sent == count && (!replies || got >= count)) break;
            short ev = 0;
            if (replies) ev |= POLLIN;
            int wait_ms = dl.poll_ms();
            if (sent < count) {
                if (Clock::now() >= next_send) {
                    ev |= POLLOUT;
                } else {
                    auto ms =
                        std::chrono::ceil<std::chrono::milliseconds>(next_send - Clock::now());
                    wait_ms = std::min<int>(wait_ms, static_cast<int>(ms.count()));
                }
            }
            pollfd p{s.fd, ev, 0};
            if (poll(&p, 1, wait_ms) < 0 && errno != EINTR) throw_errno("poll", errno);
            if (dl.expired())
                dl.fail(what + " (" + std::to_string(sent) + " sent, " + std::to_string(got) +
                        " replies)");
        }
        // A port unreachable on a connected socket shows up as a pending error.
        int err = 0;
        socklen_t len = sizeof err;
        if (connected && getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
            throw_errno(what, err);
    } catch (const NetError &e) {
        error = e.what();
    }
    local = sock_local(s.fd);
    Json j;
    j.s("role", "client")
        .i("pid", getpid())
        .s("comm", comm)
        .s("proto", "udp")
        .s("mode", connected ? "connected" : "unconnected")
        .i("family", to.family_num())
        .s("local", local.str())
        .s("remote", to.str())
        .counters(c)
        .u("tx_datagrams", sent)
        .u("rx_datagrams", got)
        .i("elapsed_ms", elapsed_ms(start));
    if (!error.empty()) j.s("error", error);
    emit(j.line());
    if (!error.empty()) throw NetError(error);
    return 0;
}

}  // namespace tg
