// bpfkit-trafficgen http-get: one HTTP/1.0 GET with the socket system calls
// (sendto/recvfrom or sendmsg/recvmsg) rather than write/read, so that a
// test can check httpsnoop's hooks on those calls.
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tg.h"

namespace tg {

int run_http_get(int argc, char **argv) {
    Options o("http-get", {{"to", true}, {"path", true}, {"api", true}});
    o.parse(argc, argv, 2);
    Endpoint to = parse_destination(o.require("to"), "http-get: --to");
    const std::string path = o.has("path") ? o.get("path") : "/";
    if (path.empty() || path[0] != '/' || path.find_first_of(" \r\n") != std::string::npos)
        throw UsageError("http-get: --path must start with / and hold no space or newline");
    const std::string api = o.has("api") ? o.get("api") : "sendto";
    if (api != "sendto" && api != "sendmsg")
        throw UsageError("http-get: --api is sendto or sendmsg");
    Deadline dl = start_run(o, "tg-http-get");

    Fd s(make_socket(to.family(), SOCK_STREAM));
    connect_nb(s.fd, to, dl);
    // The request line and the headers in two pieces (two iovecs with
    // sendmsg), sent whole.
    const std::string line = "GET " + path + " HTTP/1.0\r\n";
    const std::string head = "Host: " + to.host() + "\r\nConnection: close\r\n\r\n";
    const std::string req = line + head;
    size_t sent = 0;
    while (sent < req.size()) {
        wait_fd(s.fd, POLLOUT, dl, "http-get: send to " + to.str());
        ssize_t n;
        if (api == "sendto") {
            n = sendto(s.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL, nullptr, 0);
        } else {
            iovec iov[2];
            size_t first = sent < line.size() ? line.size() - sent : 0;
            int niov = 0;
            if (first) iov[niov++] = {const_cast<char *>(line.data()) + sent, first};
            size_t off = sent < line.size() ? 0 : sent - line.size();
            iov[niov++] = {const_cast<char *>(head.data()) + off, head.size() - off};
            msghdr mh{};
            mh.msg_iov = iov;
            mh.msg_iovlen = static_cast<size_t>(niov);
            n = sendmsg(s.fd, &mh, MSG_NOSIGNAL);
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            throw_errno("http-get: send to " + to.str(), errno);
        }
        sent += static_cast<size_t>(n);
    }
    // The answer, until the server closes.
    std::string got;
    char buf[4096];
    for (;;) {
        wait_fd(s.fd, POLLIN, dl, "http-get: answer from " + to.str());
        ssize_t n;
        if (api == "sendto") {
            n = recvfrom(s.fd, buf, sizeof(buf), 0, nullptr, nullptr);
        } else {
            iovec iov{buf, sizeof(buf)};
            msghdr mh{};
            mh.msg_iov = &iov;
            mh.msg_iovlen = 1;
            n = recvmsg(s.fd, &mh, 0);
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            throw_errno("http-get: receive from " + to.str(), errno);
        }
        if (n == 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    if (got.size() >= 12 && got.compare(0, 5, "HTTP/") == 0) status = std::atoi(got.c_str() + 9);
    emit(Json()
             .i("pid", getpid())
             .s("comm", current_comm())
             .s("api", api)
             .s("path", path)
             .i("status", status)
             .u("bytes", got.size())
             .line());
    return status ? 0 : 1;
}

}  // namespace tg
