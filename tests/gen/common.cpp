// bpfkit-trafficgen: addresses, options, deadline, JSON and socket helpers.
#include "tg.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tg {

void throw_errno(const std::string &what, int err) {
    throw NetError(what + ": " + std::strerror(err));
}

Fd &Fd::operator=(Fd &&o) noexcept {
    if (this != &o) {
        if (fd >= 0) close(fd);
        fd = o.fd;
        o.fd = -1;
    }
    return *this;
}

Fd::~Fd() {
    if (fd >= 0) close(fd);
}

void write_ready_file(const std::string &path, const std::string &json_line) {
    std::string tmp = path + ".tmp";
    FILE *f = std::fopen(tmp.c_str(), "w");
    if (!f) throw_errno("ready file " + tmp, errno);
    std::string line = json_line + "\n";
    bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
        throw_errno("ready file " + path, errno);
}

// ---- addresses -------------------------------------------------------------

uint16_t Endpoint::port() const {
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in *>(&ss)->sin_port);
}

void Endpoint::set_port(uint16_t port) {
    if (family() == AF_INET6)
        reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port = htons(port);
    else
        reinterpret_cast<sockaddr_in *>(&ss)->sin_port = htons(port);
}

std::string Endpoint::host() const {
    char buf[INET6_ADDRSTRLEN] = "";
    if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_addr, buf,
                  sizeof buf);
        return std::string("[") + buf + "]";
    }
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(&ss)->sin_addr, buf, sizeof buf);
    return buf;
}

std::string Endpoint::str() const {
    return host() + ":" + std::to_string(port());
}

namespace {

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

[[noreturn]] void bad_address(const std::string &opt, std::string_view text, const char *why) {
    throw UsageError(opt + ": bad address '" + std::string(text) + "': " + why);
}

}  // namespace

Endpoint parse_endpoint(std::string_view text, bool with_port, const std::string &opt) {
    std::string host, port;
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) bad_address(opt, text, "missing ']'");
        host = std::string(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (with_port) {
            if (rest.size() < 2 || rest[0] != ':') bad_address(opt, text, "want [IPV6]:PORT");
            port = std::string(rest.substr(1));
        } else if (!rest.empty()) {
            bad_address(opt, text, "unexpected text after ']'");
        }
    } else if (with_port) {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos)
            bad_address(opt, text, "want IPV4:PORT or [IPV6]:PORT");
        host = std::string(text.substr(0, colon));
        port = std::string(text.substr(colon + 1));
        if (host.find(':') != std::string::npos)
            bad_address(opt, text, "write IPv6 addresses as [IPV6]:PORT");
    } else {
        host = std::string(text);
    }

    Endpoint e;
    auto *in4 = reinterpret_cast<sockaddr_in *>(&e.ss);
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(&e.ss);
    if (host.find(':') == std::string::npos &&
        inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        e.len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        e.len = sizeof(sockaddr_in6);
    } else {
        bad_address(opt, text, "not a numeric IPv4 or IPv6 address");
    }
    if (with_port) {
        if (!all_digits(port) || port.size() > 5 || std::stoul(port) > 65535)
            bad_address(opt, text, "port must be a number in 0..65535");
        e.set_port(static_cast<uint16_t>(std::stoul(port)));
    }
    return e;
}

Endpoint parse_destination(std::string_view text, const std::string &opt) {
    Endpoint e = parse_endpoint(text, true, opt);
    if (e.port() == 0) bad_address(opt, text, "port 0");
    if (e.family() == AF_INET) {
        uint32_t a = ntohl(reinterpret_cast<const sockaddr_in *>(&e.ss)->sin_addr.s_addr);
        if (a == 0) bad_address(opt, text, "unspecified address");
        if ((a >> 28) == 0xe) bad_address(opt, text, "multicast address");
        if (a == 0xffffffffu) bad_address(opt, text, "broadcast address");
    } else {
        const in6_addr &a = reinterpret_cast<const sockaddr_in6 *>(&e.ss)->sin6_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&a)) bad_address(opt, text, "unspecified address");
        if (IN6_IS_ADDR_MULTICAST(&a)) bad_address(opt, text, "multicast address");
    }
    return e;
}

Endpoint sock_local(int fd) {
    Endpoint e;
    e.len = sizeof e.ss;
    if (getsockname(fd, e.sa(), &e.len) != 0) throw_errno("getsockname", errno);
    return e;
}

// ---- options ---------------------------------------------------------------

Options::Options(std::string cmd, std::vector<Spec> specs) : cmd_(std::move(cmd)), specs_(specs) {
    specs_.push_back({"comm", true});
    specs_.push_back({"timeout", true});
}

const Options::Spec *Options::find(std::string_view name) const {
    for (const Spec &s : specs_)
        if (name == s.name) return &s;
    return nullptr;
}

void Options::parse(int argc, char **argv, int first) {
    for (int i = first; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.size() < 3 || arg.substr(0, 2) != "--")
            throw UsageError(cmd_ + ": unexpected argument '" + std::string(arg) + "'");
        std::string_view name = arg.substr(2);
        std::string value;
        bool inline_value = false;
        if (size_t eq = name.find('='); eq != std::string_view::npos) {
            value = std::string(name.substr(eq + 1));
            name = name.substr(0, eq);
            inline_value = true;
        }
        const Spec *spec = find(name);
        if (!spec) throw UsageError(cmd_ + ": unrecognized option '--" + std::string(name) + "'");
        if (spec->takes_value && !inline_value) {
            if (i + 1 >= argc)
                throw UsageError(cmd_ + ": option '--" + std::string(name) + "' needs a value");
            value = argv[++i];
        } else if (!spec->takes_value && inline_value) {
            throw UsageError(cmd_ + ": option '--" + std::string(name) + "' takes no value");
        }
        if (!spec->repeatable && has(name))
            throw UsageError(cmd_ + ": option '--" + std::string(name) + "' given twice");
        values_.emplace_back(std::string(name), value);
    }
}

bool Options::has(std::string_view name) const {
    for (const auto &[k, v] : values_)
        if (k == name) return true;
    return false;
}

std::string Options::get(std::string_view name) const {
    std::string out;
    for (const auto &[k, v] : values_)
        if (k == name) out = v;
    return out;
}

std::vector<std::string> Options::all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto &[k, v] : values_)
        if (k == name) out.push_back(v);
    return out;
}

std::string Options::require(std::string_view name) const {
    if (!has(name)) throw UsageError(cmd_ + ": option '--" + std::string(name) + "' is required");
    return get(name);
}

uint64_t Options::size(std::string_view name, uint64_t def, uint64_t min, uint64_t max) const {
    if (!has(name)) return def;
    std::string v = get(name);
    std::string opt = cmd_ + ": --" + std::string(name);
    size_t digits = 0;
    while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9')
        ++digits;
    if (digits == 0 || digits > 19) throw UsageError(opt + ": bad number '" + v + "'");
    uint64_t n = std::strtoull(v.substr(0, digits).c_str(), nullptr, 10);
    std::string suffix = v.substr(digits);
    uint64_t mult = 1;
    if (suffix == "K" || suffix == "k")
        mult = 1ull << 10;
    else if (suffix == "M")
        mult = 1ull << 20;
    else if (suffix == "G")
        mult = 1ull << 30;
    else if (!suffix.empty())
        throw UsageError(opt + ": bad number '" + v + "' (suffixes: K, M, G)");
    if (n > UINT64_MAX / mult) throw UsageError(opt + ": '" + v + "' is too large");
    n *= mult;
    if (n < min || n > max)
        throw UsageError(opt + ": " + v + " is out of range " + std::to_string(min) + ".." +
                         std::to_string(max));
    return n;
}

double Options::decimal(std::string_view name, double def, double min, double max) const {
    if (!has(name)) return def;
    std::string v = get(name);
    std::string opt = cmd_ + ": --" + std::string(name);
    char *end = nullptr;
    errno = 0;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(d) || v[0] == '-' ||
        v.find_first_of("xXnNiI") != std::string::npos)
        throw UsageError(opt + ": bad number '" + v + "'");
    if (d < min || d > max) {
        char range[64];
        std::snprintf(range, sizeof range, "%g..%g", min, max);
        throw UsageError(opt + ": " + v + " is out of range " + range);
    }
    return d;
}

void Options::exclusive(std::string_view a, std::string_view b) const {
    if (has(a) && has(b))
        throw UsageError(cmd_ + ": --" + std::string(a) + " and --" + std::string(b) +
                         " exclude each other");
}

// ---- deadline --------------------------------------------------------------

Deadline::Deadline(double seconds)
    : end_(Clock::now() +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))),
      secs_(seconds) {}

int Deadline::poll_ms() const {
    auto left = end_ - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

double Deadline::left() const {
    return std::chrono::duration<double>(end_ - Clock::now()).count();
}

void Deadline::fail(const std::string &what) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", secs_);
    throw NetError(what + ": timed out (--timeout " + buf + " s)");
}

// ---- process name ----------------------------------------------------------

std::string current_comm() {
    char name[17] = "";
    prctl(PR_GET_NAME, name, 0, 0, 0);
    return name;
}

std::string apply_comm(const Options &opts, const std::string &def) {
    std::string name = opts.has("comm") ? opts.get("comm") : def;
    if (name.empty() || name.size() > 15)
        throw UsageError("--comm: '" + name + "' must be 1 to 15 bytes (the kernel's limit)");
    if (prctl(PR_SET_NAME, name.c_str(), 0, 0, 0) != 0) throw_errno("prctl(PR_SET_NAME)", errno);
    return current_comm();
}

Deadline start_run(const Options &opts, const std::string &default_comm) {
    double secs = opts.decimal("timeout", 30, 0.001, 3600);
    apply_comm(opts, default_comm);
    signal(SIGPIPE, SIG_IGN);
    // Backstop only: every wait is bounded by the deadline already.
    alarm(static_cast<unsigned>(std::ceil(secs)) + 5);
    return Deadline(secs);
}

// ---- JSON ------------------------------------------------------------------

std::string json_escape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

void Json::key(std::string_view k) {
    if (buf_.size() > 1) buf_ += ',';
    buf_ += '"';
    buf_ += json_escape(k);
    buf_ += "\":";
}

Json &Json::s(std::string_view k, std::string_view v) {
    key(k);
    buf_ += '"';
    buf_ += json_escape(v);
    buf_ += '"';
    return *this;
}

Json &Json::u(std::string_view k, uint64_t v) {
    key(k);
    buf_ += std::to_string(v);
    return *this;
}

Json &Json::i(std::string_view k, int64_t v) {
    key(k);
    buf_ += std::to_string(v);
    return *this;
}

Json &Json::f(std::string_view k, double v) {
    key(k);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", std::isfinite(v) ? v : 0.0);
    buf_ += buf;
    return *this;
}

Json &Json::b(std::string_view k, bool v) {
    key(k);
    buf_ += v ? "true" : "false";
    return *this;
}

Json &Json::counters(const Counters &c) {
    return u("tx_bytes", c.tx_bytes)
        .u("rx_bytes", c.rx_bytes)
        .u("tx_calls", c.tx_calls)
        .u("rx_calls", c.rx_calls);
}

void emit(const std::string &line) {
    std::string out = line + "\n";
    size_t off = 0;
    while (off < out.size()) {
        ssize_t n = write(STDOUT_FILENO, out.data() + off, out.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += static_cast<size_t>(n);
    }
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

int64_t elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// ---- sockets ---------------------------------------------------------------

short wait_fd(int fd, short events, const Deadline &dl, const std::string &what) {
    for (;;) {
        pollfd p{fd, events, 0};
        int n = poll(&p, 1, dl.poll_ms());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("poll", errno);
        }
        if (n > 0) return p.revents;
        if (dl.expired()) dl.fail(what);
    }
}

void connect_nb(int fd, const Endpoint &to, const Deadline &dl) {
    std::string what = "connect to " + to.str();
    if (connect(fd, to.sa(), to.len) == 0) return;
    if (errno != EINPROGRESS) throw_errno(what, errno);
    wait_fd(fd, POLLOUT, dl, what);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) throw_errno(what, errno);
    if (err != 0) throw_errno(what, err);
}

int make_socket(int family, int type) {
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno("socket", errno);
    return fd;
}

void set_bufs(int fd, int bytes) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

const char *pattern() {
    static const std::vector<char> buf = [] {
        std::vector<char> b(kPatternSize);
        for (size_t i = 0; i < b.size(); ++i)
            b[i] = static_cast<char>('a' + i % 26);
        return b;
    }();
    return buf.data();
}

}  // namespace tg
