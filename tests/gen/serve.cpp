// bpfkit-trafficgen serve: TCP and UDP receiver that counts every byte.
#include "tg.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>

namespace tg {
namespace {

constexpr size_t kReadBuf = 256 * 1024;
constexpr size_t kOutCap = 4 << 20;         // echo bytes pending per TCP connection
constexpr size_t kUdpQueueCap = 1 << 16;    // echo datagrams pending per UDP socket
constexpr size_t kMaxConnRecords = 200000;  // --per-conn lines kept
constexpr int kSockBuf = 16 << 20;

struct UdpOut {
    Endpoint peer;
    std::vector<char> data;
};

struct Listener {
    int fd = -1;
    bool udp = false;
    Endpoint local;
    Counters c;  // closed connections (TCP) or all datagrams (UDP)
    uint64_t conns = 0, closed = 0, resets = 0;
    uint64_t rx_datagrams = 0, tx_datagrams = 0, drops = 0, echo_errors = 0;
    std::deque<UdpOut> q;
};

struct Conn {
    int fd = -1;
    size_t lidx = 0;
    Endpoint local, peer;
    Counters c;
    std::vector<char> out;
    size_t out_off = 0;
    uint64_t gen_left = 0;
    bool eof = false, done = false, aborted = false;
    Clock::time_point start;
    size_t pending() const { return out.size() - out_off; }
};

struct ConnRecord {
    Endpoint local, peer;
    Counters c;
    double ms;
    bool reset, open;
};

class Server {
  public:
    explicit Server(const Options &o) : opts_(o) {}
    int run();

  private:
    void open_sockets();
    void write_ready_file();
    void accept_all(size_t li);
    void udp_read(Listener &l);
    void udp_flush(Listener &l);
    void conn_io(Conn &c);
    void conn_write(Conn &c);
    void record(const Conn &c, bool open);
    bool complete() const;
    void print();

    const Options &opts_;
    bool echo_ = false, per_conn_ = false;
    uint64_t tcp_send_ = 0, want_conns_ = 0, want_dgrams_ = 0;
    std::vector<Listener> ls_;
    std::vector<std::unique_ptr<Conn>> conns_;
    std::vector<ConnRecord> records_;
    uint64_t records_dropped_ = 0;
    std::vector<char> buf_ = std::vector<char>(kReadBuf);
    Clock::time_point start_;
    std::string comm_;
};

void Server::open_sockets() {
    std::vector<std::string> binds = opts_.all("bind");
    if (binds.empty()) binds = {"127.0.0.1", "::1"};
    for (int udp = 0; udp < 2; ++udp) {
        const char *opt = udp ? "udp" : "tcp";
        if (!opts_.has(opt)) continue;
        uint16_t port = static_cast<uint16_t>(opts_.size(opt, 0, 0, 65535));
        for (const std::string &b : binds) {
            Endpoint addr = parse_endpoint(b, false, "serve: --bind");
            addr.set_port(port);
            Listener l;
            l.udp = udp;
            l.fd = make_socket(addr.family(), udp ? SOCK_DGRAM : SOCK_STREAM);
            int one = 1;
            setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (addr.family() == AF_INET6)
                setsockopt(l.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            if (udp) {
                set_bufs(l.fd, kSockBuf);
                setsockopt(l.fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
            }
            std::string what = std::string(opt) + " bind to " + addr.str();
            if (bind(l.fd, addr.sa(), addr.len) != 0) throw_errno(what, errno);
            if (!udp && listen(l.fd, 4096) != 0)
                throw_errno(std::string("listen on ") + addr.str(), errno);
            l.local = sock_local(l.fd);
            port = l.local.port();  // --tcp 0: the other addresses take the same port
            ls_.push_back(std::move(l));
        }
    }
}

void Server::write_ready_file() {
    if (!opts_.has("ready-file")) return;
    std::string path = opts_.get("ready-file");
    Json j;
    j.i("pid", getpid());
    bool seen[2] = {false, false};  // every address of a protocol has the same port
    for (const Listener &l : ls_) {
        if (seen[l.udp]) continue;
        seen[l.udp] = true;
        j.u(l.udp ? "udp_port" : "tcp_port", l.local.port());
    }
    tg::write_ready_file(path, j.line());
}

void Server::accept_all(size_t li) {
    Listener &l = ls_[li];
    for (;;) {
        auto c = std::make_unique<Conn>();
        c->peer.len = sizeof c->peer.ss;
        c->fd = accept4(l.fd, c->peer.sa(), &c->peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c->fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN) return;
            throw_errno("accept on " + l.local.str(), errno);
        }
        c->lidx = li;
        c->local = sock_local(c->fd);
        c->gen_left = tcp_send_;
        c->start = Clock::now();
        ++l.conns;
        conns_.push_back(std::move(c));
    }
}

void Server::udp_read(Listener &l) {
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(uint32_t))];
    for (int k = 0; k < 256 && l.q.size() < kUdpQueueCap; ++k) {
        Endpoint peer;
        iovec iov{buf_.data(), buf_.size()};
        msghdr mh{};
        mh.msg_name = &peer.ss;
        mh.msg_namelen = sizeof peer.ss;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctrl;
        mh.msg_controllen = sizeof ctrl;
        ssize_t n = recvmsg(l.fd, &mh, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) continue;
            throw_errno("udp receive on " + l.local.str(), errno);
        }
        peer.len = mh.msg_namelen;
        l.c.rx_bytes += static_cast<uint64_t>(n);
        ++l.c.rx_calls;
        ++l.rx_datagrams;
        for (cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL) {
                uint32_t drops;
                std::memcpy(&drops, CMSG_DATA(cm), sizeof drops);
                l.drops = drops;
            }
        }
        if (echo_) l.q.push_back({peer, std::vector<char>(buf_.begin(), buf_.begin() + n)});
    }
}

void Server::udp_flush(Listener &l) {
    while (!l.q.empty()) {
        const UdpOut &o = l.q.front();
        ssize_t n =
            sendto(l.fd, o.data.data(), o.data.size(), MSG_NOSIGNAL, o.peer.sa(), o.peer.len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == ENOBUFS) return;
            ++l.echo_errors;  // the peer went away; nothing was sent
        } else {
            l.c.tx_bytes += static_cast<uint64_t>(n);
            ++l.c.tx_calls;
            ++l.tx_datagrams;
        }
        l.q.pop_front();
    }
}

void Server::conn_write(Conn &c) {
    while (!c.done && (c.pending() > 0 || c.gen_left > 0)) {
        const char *p;
        size_t len;
        if (c.pending() > 0) {
            p = c.out.data() + c.out_off;
            len = c.pending();
        } else {
            p = pattern();
            len = static_cast<size_t>(std::min<uint64_t>(c.gen_left, kPatternSize));
        }
        ssize_t n = send(c.fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            c.aborted = c.done = true;  // the peer reset or left: not the server's failure
            return;
        }
        c.c.tx_bytes += static_cast<uint64_t>(n);
        ++c.c.tx_calls;
        if (c.pending() > 0) {
            c.out_off += static_cast<size_t>(n);
            if (c.out_off == c.out.size()) {
                c.out.clear();
                c.out_off = 0;
            }
        } else {
            c.gen_left -= static_cast<uint64_t>(n);
        }
    }
}

void Server::conn_io(Conn &c) {
    for (int k = 0; k < 64 && !c.eof && !c.done; ++k) {
        size_t room = buf_.size();
        if (echo_) room = std::min(room, kOutCap > c.pending() ? kOutCap - c.pending() : 0);
        if (room == 0) break;
        ssize_t n = recv(c.fd, buf_.data(), room, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            c.aborted = c.done = true;
            break;
        }
        if (n == 0) {
            c.eof = true;
            break;
        }
        c.c.rx_bytes += static_cast<uint64_t>(n);
        ++c.c.rx_calls;
        if (echo_) c.out.insert(c.out.end(), buf_.begin(), buf_.begin() + n);
    }
    conn_write(c);
    if (c.eof && c.pending() == 0 && c.gen_left == 0) c.done = true;
}

void Server::record(const Conn &c, bool open) {
    if (!per_conn_) return;
    if (records_.size() >= kMaxConnRecords) {
        ++records_dropped_;
        return;
    }
    records_.push_back({c.local, c.peer, c.c, ms_between(c.start, Clock::now()), c.aborted, open});
}

bool Server::complete() const {
    if (want_conns_ == 0 && want_dgrams_ == 0) return false;
    uint64_t closed = 0, dgrams = 0;
    for (const Listener &l : ls_) {
        closed += l.closed;
        dgrams += l.rx_datagrams;
        if (!l.q.empty()) return false;
    }
    return closed >= want_conns_ && dgrams >= want_dgrams_;
}

void Server::print() {
    for (const auto &c : conns_)
        record(*c, true);
    for (size_t li = 0; li < ls_.size(); ++li) {
        const Listener &l = ls_[li];
        Counters total = l.c;
        for (const auto &c : conns_)
            if (c->lidx == li) total.add(c->c);
        Json j;
        j.s("role", "server")
            .i("pid", getpid())
            .s("comm", comm_)
            .s("proto", l.udp ? "udp" : "tcp")
            .i("family", l.local.family_num())
            .s("local", l.local.str())
            .counters(total);
        if (l.udp)
            j.u("rx_datagrams", l.rx_datagrams)
                .u("tx_datagrams", l.tx_datagrams)
                .u("drops", l.drops)
                .u("echo_errors", l.echo_errors);
        else
            j.u("conns", l.conns).u("conns_closed", l.closed).u("resets", l.resets);
        j.i("elapsed_ms", elapsed_ms(start_));
        emit(j.line());
    }
    for (const ConnRecord &r : records_) {
        Json j;
        j.s("role", "server-conn")
            .i("pid", getpid())
            .s("comm", comm_)
            .s("proto", "tcp")
            .i("family", r.local.family_num())
            .s("local", r.local.str())
            .s("remote", r.peer.str())
            .counters(r.c)
            .f("conn_ms", r.ms)
            .b("reset", r.reset)
            .b("open", r.open);
        emit(j.line());
    }
    if (records_dropped_)
        std::fprintf(stderr, "%s: serve: --per-conn: %llu connection lines left out\n", kProg,
                     static_cast<unsigned long long>(records_dropped_));
}

int Server::run() {
    echo_ = opts_.has("echo");
    per_conn_ = opts_.has("per-conn");
    if (!opts_.has("tcp") && !opts_.has("udp"))
        throw UsageError("serve: give --tcp PORT and/or --udp PORT");
    if (opts_.has("tcp-conns") && !opts_.has("tcp"))
        throw UsageError("serve: --tcp-conns needs --tcp");
    if (opts_.has("udp-count") && !opts_.has("udp"))
        throw UsageError("serve: --udp-count needs --udp");
    if (opts_.has("tcp-send") && !opts_.has("tcp"))
        throw UsageError("serve: --tcp-send needs --tcp");
    tcp_send_ = opts_.size("tcp-send", 0, 0, 1ull << 40);
    want_conns_ = opts_.size("tcp-conns", 0, 1, 10000000);
    want_dgrams_ = opts_.size("udp-count", 0, 1, 1ull << 32);
    for (const std::string &b : opts_.all("bind"))
        parse_endpoint(b, false, "serve: --bind");
    opts_.size("tcp", 0, 0, 65535);
    opts_.size("udp", 0, 0, 65535);

    // SIGTERM and SIGINT end the run through a signalfd; block them first.
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_sigs, nullptr);
    int sfd = signalfd(-1, &stop_sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) throw_errno("signalfd", errno);

    Deadline dl = start_run(opts_, "tg-serve");
    comm_ = current_comm();
    open_sockets();
    start_ = Clock::now();
    write_ready_file();

    bool stopping = false, timed_out = false;
    Clock::time_point stop_until{};
    std::vector<pollfd> pfds;
    for (;;) {
        pfds.clear();
        pfds.push_back({sfd, POLLIN, 0});
        for (const Listener &l : ls_) {
            short ev = 0;
            if (!l.udp || l.q.size() < kUdpQueueCap) ev |= POLLIN;
            if (l.udp && !l.q.empty()) ev |= POLLOUT;
            pfds.push_back({l.fd, ev, 0});
        }
        size_t nconns = conns_.size();
        for (const auto &c : conns_) {
            short ev = 0;
            if (!c->eof && (!echo_ || c->pending() < kOutCap)) ev |= POLLIN;
            if (c->pending() > 0 || c->gen_left > 0) ev |= POLLOUT;
            pfds.push_back({c->fd, ev, 0});
        }
        int n = poll(pfds.data(), pfds.size(), stopping ? 0 : dl.poll_ms());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("poll", errno);
        }
        if (stopping && (n == 0 || Clock::now() >= stop_until)) break;
        if (!stopping && n == 0 && dl.expired()) {
            timed_out = true;
            break;
        }
        if (pfds[0].revents & POLLIN) {
            signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            }
            if (!stopping) {
                stopping = true;  // drain what is already queued, then stop
                stop_until = Clock::now() + std::chrono::milliseconds(250);
            }
        }
        for (size_t li = 0; li < ls_.size(); ++li) {
            short re = pfds[1 + li].revents;
            if (!re) continue;
            Listener &l = ls_[li];
            if (!l.udp) {
                accept_all(li);
                continue;
            }
            if (re & (POLLIN | POLLERR)) udp_read(l);
            if (!l.q.empty()) udp_flush(l);
        }
        for (size_t ci = 0; ci < nconns; ++ci) {
            if (pfds[1 + ls_.size() + ci].revents) conn_io(*conns_[ci]);
        }
        for (auto &c : conns_) {
            if (!c->done) continue;
            Listener &l = ls_[c->lidx];
            l.c.add(c->c);
            ++l.closed;
            if (c->aborted) ++l.resets;
            record(*c, false);
            close(c->fd);
            c.reset();
        }
        std::erase(conns_, nullptr);
        if (complete()) break;
        if (!stopping && dl.expired()) {
            timed_out = true;
            break;
        }
    }
    print();
    if (timed_out) {
        std::fprintf(stderr, "%s: serve: timed out after %g s (--timeout); counts so far printed\n",
                     kProg, dl.seconds());
        return 1;
    }
    return 0;
}

}  // namespace

int run_serve(int argc, char **argv) {
    Options o("serve", {{"tcp", true},
                        {"udp", true},
                        {"bind", true, true},
                        {"echo", false},
                        {"tcp-send", true},
                        {"tcp-conns", true},
                        {"udp-count", true},
                        {"per-conn", false},
                        {"ready-file", true}});
    o.parse(argc, argv, 2);
    Server s(o);
    return s.run();
}

}  // namespace tg
