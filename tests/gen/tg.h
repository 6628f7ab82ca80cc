// bpfkit-trafficgen: shared pieces of the test traffic generator.
// Everything here is self-contained (no bpfkit library) so the generator can
// be built and run on its own.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tg {

using Clock = std::chrono::steady_clock;

inline constexpr const char *kProg = "bpfkit-trafficgen";

// Exit 2: the command line is wrong.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Exit 1: a socket call failed, the peer misbehaved, or the time ran out.
struct NetError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_errno(const std::string &what, int err);

// A numeric IPv4 or IPv6 socket address. Never resolved through DNS.
struct Endpoint {
    sockaddr_storage ss{};
    socklen_t len = 0;

    int family() const { return ss.ss_family; }
    int family_num() const { return family() == AF_INET6 ? 6 : 4; }
    const sockaddr *sa() const { return reinterpret_cast<const sockaddr *>(&ss); }
    sockaddr *sa() { return reinterpret_cast<sockaddr *>(&ss); }
    uint16_t port() const;
    void set_port(uint16_t port);
    std::string host() const;  // "10.0.0.1" or "[fd00::1]"
    std::string str() const;   // "10.0.0.1:80" or "[fd00::1]:80"
};

// "ADDR:PORT" or "[ADDR6]:PORT" (with_port) or "ADDR" / "ADDR6" / "[ADDR6]".
Endpoint parse_endpoint(std::string_view text, bool with_port, const std::string &opt);
// A --to destination: a unicast address and a port in 1..65535.
Endpoint parse_destination(std::string_view text, const std::string &opt);
Endpoint sock_local(int fd);

// Command-line options of one sub-command: "--name VALUE", "--name=VALUE" or
// "--flag". --comm, --timeout and --help are accepted by every sub-command.
class Options {
  public:
    struct Spec {
        const char *name;  // without the leading "--"
        bool takes_value;
        bool repeatable = false;
    };
    Options(std::string cmd, std::vector<Spec> specs);
    void parse(int argc, char **argv, int first);

    bool has(std::string_view name) const;
    std::string get(std::string_view name) const;  // last value, "" if absent
    std::vector<std::string> all(std::string_view name) const;
    std::string require(std::string_view name) const;
    // Non-negative integer with an optional K, M or G suffix (powers of 1024).
    uint64_t size(std::string_view name, uint64_t def, uint64_t min, uint64_t max) const;
    double decimal(std::string_view name, double def, double min, double max) const;
    void exclusive(std::string_view a, std::string_view b) const;

  private:
    const Spec *find(std::string_view name) const;
    std::string cmd_;
    std::vector<Spec> specs_;
    std::vector<std::pair<std::string, std::string>> values_;
};

// The hard time limit of a run (--timeout).
class Deadline {
  public:
    explicit Deadline(double seconds);
    bool expired() const { return Clock::now() >= end_; }
    int poll_ms() const;  // time left for poll(), rounded up, 0 when expired
    double seconds() const { return secs_; }
    double left() const;
    [[noreturn]] void fail(const std::string &what) const;

  private:
    Clock::time_point end_;
    double secs_;
};

// Validates and applies --comm (PR_SET_NAME); returns the name now in effect.
std::string apply_comm(const Options &opts, const std::string &def);
std::string current_comm();
// Common start of every sub-command: --comm, SIGPIPE ignored, backstop alarm.
Deadline start_run(const Options &opts, const std::string &default_comm);

struct Counters {
    uint64_t tx_bytes = 0, rx_bytes = 0, tx_calls = 0, rx_calls = 0;
    void add(const Counters &o) {
        tx_bytes += o.tx_bytes;
        rx_bytes += o.rx_bytes;
        tx_calls += o.tx_calls;
        rx_calls += o.rx_calls;
    }
};

// One JSON object on one line, built by hand.
class Json {
  public:
    Json &s(std::string_view key, std::string_view value);
    Json &u(std::string_view key, uint64_t value);
    Json &i(std::string_view key, int64_t value);
    Json &f(std::string_view key, double value);  // three decimals
    Json &b(std::string_view key, bool value);
    Json &counters(const Counters &c);
    std::string line() const { return buf_ + "}"; }

  private:
    void key(std::string_view k);
    std::string buf_ = "{";
};
std::string json_escape(std::string_view s);

// Writes one line to stdout with a single write() where possible.
void emit(const std::string &line);

double ms_between(Clock::time_point a, Clock::time_point b);
int64_t elapsed_ms(Clock::time_point since);

// Waits for `events` on fd; throws NetError naming `what` at the deadline.
short wait_fd(int fd, short events, const Deadline &dl, const std::string &what);
// Non-blocking connect on fd, bounded by the deadline. Errors name the address.
void connect_nb(int fd, const Endpoint &to, const Deadline &dl);
int make_socket(int family, int type);  // non-blocking, close-on-exec
void set_bufs(int fd, int bytes);       // SO_{SND,RCV}BUFFORCE, falls back to the plain ones

// A file descriptor closed with its owner.
struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd &&o) noexcept : fd(o.fd) { o.fd = -1; }
    Fd &operator=(Fd &&o) noexcept;
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    ~Fd();
};

// Writes one JSON line to path atomically (a temporary file, then rename).
void write_ready_file(const std::string &path, const std::string &json_line);

// A constant byte pattern to send from.
const char *pattern();
inline constexpr size_t kPatternSize = 256 * 1024;

int run_serve(int argc, char **argv);
int run_tcp_bulk(int argc, char **argv);
int run_udp(int argc, char **argv);
int run_short_lived(int argc, char **argv);
int run_child(int argc, char **argv);
int run_dns_serve(int argc, char **argv);
int run_dns_query(int argc, char **argv);
int run_http_get(int argc, char **argv);

}  // namespace tg
