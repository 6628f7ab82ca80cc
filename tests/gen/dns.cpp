// bpfkit-trafficgen dns-serve / dns-query: a tiny DNS responder and client
// with exact ground truth (pid, tid, ports, ids), for checking dnssnoop where
// no real resolver or dig is at hand (the kernel-matrix VMs).
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "tg.h"

namespace tg {

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes &b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v & 0xff));
}

uint16_t get16(const uint8_t *p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// "www.example.com" -> wire form; labels of 1..63 bytes.
Bytes wire_name(const std::string &name) {
    Bytes b;
    size_t i = 0;
    while (i < name.size()) {
        size_t dot = name.find('.', i);
        if (dot == std::string::npos) dot = name.size();
        if (dot == i || dot - i > 63) throw UsageError("bad name '" + name + "'");
        b.push_back(static_cast<uint8_t>(dot - i));
        b.insert(b.end(), name.begin() + static_cast<long>(i),
                 name.begin() + static_cast<long>(dot));
        i = dot + 1;
    }
    b.push_back(0);
    return b;
}

// The question of a query: its name (dotted, lowercase kept) and where it ends; false if the
// message is not a one-question query this responder understands.
bool read_question(const uint8_t *m, size_t n, std::string &name, size_t &end) {
    if (n < 12 || (m[2] & 0x80) || get16(m + 4) != 1) return false;
    size_t i = 12;
    name.clear();
    while (i < n && m[i] != 0) {
        size_t len = m[i];
        if (len > 63 || i + 1 + len >= n) return false;
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<const char *>(m + i + 1), len);
        i += 1 + len;
    }
    if (i + 5 > n) return false;
    end = i + 5;
    return true;
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return !suffix.empty() && s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The answer to a query: A queries get one A record, other types none
// (NOERROR); names under --nx get NXDOMAIN; names under --drop none at all;
// names under --slow after --slow-ms.
struct Rules {
    in_addr addr{};
    std::string drop, nx, slow;
    int slow_ms = 200;
};

bool answer(const uint8_t *m, size_t n, const Rules &r, Bytes &out) {
    const in_addr &addr = r.addr;
    std::string name;
    size_t end;
    if (!read_question(m, n, name, end)) return false;
    if (ends_with(name, r.drop)) return false;
    // The responder is sequential: a slow answer holds the others back.
    if (ends_with(name, r.slow)) usleep(static_cast<useconds_t>(r.slow_ms) * 1000);
    const std::string &nx = r.nx;
    const uint16_t qtype = get16(m + end - 4);
    const bool is_nx = ends_with(name, nx);
    const bool with_a = qtype == 1 && !is_nx;
    out.assign(m, m + end);
    out[2] = static_cast<uint8_t>(0x80 | 0x04 | (m[2] & 0x01));  // QR, AA, RD copied
    out[3] = static_cast<uint8_t>(0x80 | (is_nx ? 3 : 0));       // RA, rcode
    out[6] = 0;
    out[7] = with_a ? 1 : 0;
    for (int i = 8; i < 12; i++)
        out[static_cast<size_t>(i)] = 0;
    if (with_a) {
        out.insert(out.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4});
        const auto *a = reinterpret_cast<const uint8_t *>(&addr);
        out.insert(out.end(), a, a + 4);
    }
    return true;
}

struct TcpConn {
    Fd fd;
    Bytes buf;
};

}  // namespace

int run_dns_serve(int argc, char **argv) {
    Options o("dns-serve", {{"listen", true},
                            {"answer", true},
                            {"drop", true},
                            {"nx", true},
                            {"slow", true},
                            {"slow-ms", true},
                            {"ready-file", true}});
    o.parse(argc, argv, 2);
    Endpoint at = parse_endpoint(o.require("listen"), true, "dns-serve: --listen");
    Rules rules;
    if (inet_pton(AF_INET, o.has("answer") ? o.get("answer").c_str() : "10.9.9.9", &rules.addr) !=
        1)
        throw UsageError("dns-serve: --answer wants an IPv4 address");
    rules.drop = o.get("drop");
    rules.nx = o.get("nx");
    rules.slow = o.get("slow");
    rules.slow_ms = static_cast<int>(o.size("slow-ms", 200, 0, 10000));
    Deadline dl = start_run(o, "tg-dns-serve");

    Fd udp(make_socket(at.family(), SOCK_DGRAM)), tcp(make_socket(at.family(), SOCK_STREAM));
    int one = 1;
    setsockopt(tcp.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(udp.fd, at.sa(), at.len) != 0) throw_errno("dns-serve: bind udp " + at.str(), errno);
    Endpoint bound = sock_local(udp.fd);
    if (at.port() == 0) at.set_port(bound.port());
    if (bind(tcp.fd, at.sa(), at.len) != 0 || listen(tcp.fd, 64) != 0)
        throw_errno("dns-serve: tcp " + at.str(), errno);
    if (o.has("ready-file")) {
        Json j;
        j.i("pid", getpid()).u("port", at.port());
        write_ready_file(o.get("ready-file"), j.line());
    }
    std::vector<TcpConn> conns;
    uint8_t buf[65536];
    while (!dl.expired()) {
        std::vector<pollfd> p = {{udp.fd, POLLIN, 0}, {tcp.fd, POLLIN, 0}};
        for (const TcpConn &c : conns)
            p.push_back({c.fd.fd, POLLIN, 0});
        if (poll(p.data(), p.size(), dl.poll_ms()) < 0 && errno != EINTR)
            throw_errno("dns-serve: poll", errno);
        if (p[0].revents) {
            sockaddr_storage from{};
            socklen_t flen = sizeof(from);
            ssize_t n =
                recvfrom(udp.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr *>(&from), &flen);
            Bytes out;
            if (n > 0 && answer(buf, static_cast<size_t>(n), rules, out))
                sendto(udp.fd, out.data(), out.size(), 0, reinterpret_cast<sockaddr *>(&from),
                       flen);
        }
        if (p[1].revents) {
            int c = accept4(tcp.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) conns.push_back(TcpConn{Fd(c), {}});
        }
        for (size_t i = 0; i < conns.size() && i + 2 < p.size(); i++) {
            if (!p[i + 2].revents) continue;
            TcpConn &c = conns[i];
            ssize_t n = read(c.fd.fd, buf, sizeof(buf));
            if (n <= 0) {
                if (n < 0 && errno == EAGAIN) continue;
                c.fd = Fd();
                continue;
            }
            c.buf.insert(c.buf.end(), buf, buf + n);
            while (c.buf.size() >= 2 && c.buf.size() >= 2u + get16(c.buf.data())) {
                size_t len = get16(c.buf.data());
                Bytes out, framed;
                if (answer(c.buf.data() + 2, len, rules, out)) {
                    put16(framed, static_cast<uint16_t>(out.size()));
                    framed.insert(framed.end(), out.begin(), out.end());
                    if (write(c.fd.fd, framed.data(), framed.size()) < 0) break;
                }
                c.buf.erase(c.buf.begin(), c.buf.begin() + static_cast<long>(2 + len));
            }
        }
        std::erase_if(conns, [](const TcpConn &c) { return c.fd.fd < 0; });
    }
    return 0;
}

int run_dns_query(int argc, char **argv) {
    Options o("dns-query", {{"to", true},
                            {"tcp", false},
                            {"wait-ms", true},
                            {"linger-ms", true},
                            {"name", true, true}});
    o.parse(argc, argv, 2);
    // The names to ask, each NAME or NAME/AAAA.
    const std::vector<std::string> names = o.all("name");
    if (names.empty()) throw UsageError("dns-query: no --name to ask");
    Endpoint to = parse_destination(o.require("to"), "dns-query: --to");
    const bool tcp = o.has("tcp");
    const int wait_ms = static_cast<int>(o.size("wait-ms", 2000, 1, 600000));
    const int linger_ms = static_cast<int>(o.size("linger-ms", 0, 0, 600000));
    Deadline dl = start_run(o, "tg-dns-query");
    const std::string comm = current_comm();
    const long tid = syscall(SYS_gettid);

    // Every socket stays open until the end (and --linger-ms), so a /proc
    // scan can still find its owner.
    std::vector<Fd> done;
    Fd s;
    auto open_socket = [&] {
        if (s.fd >= 0) done.push_back(std::move(s));
        s = Fd(make_socket(to.family(), tcp ? SOCK_STREAM : SOCK_DGRAM));
        if (tcp) {
            connect_nb(s.fd, to, dl);
        } else if (connect(s.fd, to.sa(), to.len) != 0) {
            throw_errno("dns-query: connect " + to.str(), errno);
        }
    };
    if (tcp) open_socket();
    uint16_t id = static_cast<uint16_t>(getpid() * 7 + 1);
    for (const std::string &arg : names) {
        std::string name = arg;
        uint16_t qtype = 1;
        if (ends_with(name, "/AAAA")) {
            name.resize(name.size() - 5);
            qtype = 28;
        }
        if (!tcp) open_socket();  // a socket (and a port) per query, as stub resolvers do
        ++id;
        Bytes q;
        put16(q, id);
        put16(q, 0x0100);  // RD
        put16(q, 1);
        for (int i = 0; i < 3; i++)
            put16(q, 0);
        Bytes wn = wire_name(name);
        q.insert(q.end(), wn.begin(), wn.end());
        put16(q, qtype);
        put16(q, 1);
        Bytes msg;
        if (tcp) put16(msg, static_cast<uint16_t>(q.size()));
        msg.insert(msg.end(), q.begin(), q.end());
        Clock::time_point t0 = Clock::now();
        if (send(s.fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size()))
            throw_errno("dns-query: send to " + to.str(), errno);
        // The response with our id, or none within --wait-ms.
        int rcode = -1;
        Bytes got;
        uint8_t buf[65536];
        while (rcode < 0) {
            int left = wait_ms - static_cast<int>(ms_between(t0, Clock::now()));
            if (left <= 0) break;
            pollfd p{s.fd, POLLIN, 0};
            if (poll(&p, 1, left) <= 0) continue;
            ssize_t n = recv(s.fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                break;
            }
            got.insert(got.end(), buf, buf + n);
            const uint8_t *m = got.data();
            size_t len = got.size();
            if (tcp) {
                if (len < 2 || len < 2u + get16(m)) continue;
                len = get16(m);
                m += 2;
            }
            if (len >= 12 && get16(m) == id) rcode = m[3] & 0x0f;
            got.clear();
        }
        const double ms = ms_between(t0, Clock::now());
        Endpoint local = sock_local(s.fd);
        Json j;
        j.i("pid", getpid())
            .i("tid", tid)
            .s("comm", comm)
            .s("proto", tcp ? "tcp" : "udp")
            .s("client", local.host())
            .u("client_port", local.port())
            .s("server", to.host())
            .u("server_port", to.port())
            .u("id", id)
            .s("qname", name)
            .s("qtype", qtype == 1 ? "A" : "AAAA")
            .s("rcode", rcode < 0    ? ""
                        : rcode == 0 ? "NOERROR"
                        : rcode == 3 ? "NXDOMAIN"
                                     : "OTHER")
            .f("ms", ms);
        emit(j.line());
    }
    if (linger_ms) usleep(static_cast<useconds_t>(linger_ms) * 1000);
    return 0;
}

}  // namespace tg
