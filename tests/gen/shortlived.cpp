// bpfkit-trafficgen short-lived: many processes, one short TCP connection each.
//
// The parent starts each child with posix_spawn of its own executable and the
// hidden sub-command "__child"; the child names itself (PR_SET_NAME), connects,
// sends, closes, and writes a fixed-size binary report into a pipe shared with
// the parent (one write of less than PIPE_BUF bytes, so reports never mix).
// The parent prints one line per child and a summary.
#include "tg.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

extern char **environ;

namespace tg {
namespace {

struct ChildReport {
    int32_t pid;
    int32_t index;
    int32_t failed;
    int32_t family;
    int32_t rt;  // the connection ran under SCHED_FIFO
    uint64_t tx_bytes;
    uint64_t tx_calls;
    int64_t conn_ns;  // connect() called .. close() returned
    char comm[16];
    char local[64];
    char error[192];
};
static_assert(sizeof(ChildReport) < PIPE_BUF, "a report must be written atomically");

template <size_t N>
void copy_str(char (&dst)[N], const std::string &src) {
    size_t n = std::min(src.size(), N - 1);
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
}

std::string describe_status(int st) {
    if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
    if (WIFSIGNALED(st)) return std::string("killed by signal ") + strsignal(WTERMSIG(st));
    return "ended with wait status " + std::to_string(st);
}

}  // namespace

int run_child(int argc, char **argv) {
    Options o("__child",
              {{"to", true}, {"bytes", true}, {"report-fd", true}, {"index", true}, {"rt", false}});
    o.parse(argc, argv, 2);
    Endpoint to = parse_destination(o.require("to"), "__child: --to");
    const uint64_t bytes = o.size("bytes", 0, 0, 1ull << 30);
    const int fd_out = static_cast<int>(o.size("report-fd", 0, 3, INT_MAX));
    const int index = static_cast<int>(o.size("index", 0, 0, INT_MAX));
    Deadline dl = start_run(o, "bpfkit-tg-child");

    ChildReport r{};
    r.pid = getpid();
    r.index = index;
    r.family = to.family_num();
    copy_str(r.comm, current_comm());
    std::string what = "tcp to " + to.str();
    int s = -1;
    (void)pattern();  // fault the send buffer in before the clock starts
    // Run the connection unpreempted by ordinary tasks where allowed (root):
    // a busy machine otherwise stretches it by whole time slices. The window
    // is short and bounded, and the kernel's RT throttling still applies.
    if (o.has("rt")) {
        sched_param sp{};
        sp.sched_priority = 1;
        r.rt = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0;
    }
    try {
        s = make_socket(to.family(), SOCK_STREAM);
        Clock::time_point t0 = Clock::now();
        connect_nb(s, to, dl);
        copy_str(r.local, sock_local(s).str());
        while (r.tx_bytes < bytes) {
            size_t len = static_cast<size_t>(std::min<uint64_t>(bytes - r.tx_bytes, kPatternSize));
            ssize_t n = send(s, pattern(), len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) {
                    wait_fd(s, POLLOUT, dl, what);
                    continue;
                }
                throw_errno(what + ": send", errno);
            }
            r.tx_bytes += static_cast<uint64_t>(n);
            ++r.tx_calls;
        }
        int rc = close(s);
        s = -1;
        r.conn_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        if (r.rt) {
            sched_param sp{};
            sched_setscheduler(0, SCHED_OTHER, &sp);
        }
        if (rc != 0) throw_errno(what + ": close", errno);
    } catch (const NetError &e) {
        r.failed = 1;
        copy_str(r.error, e.what());
    }
    if (s >= 0) close(s);
    ssize_t n = write(fd_out, &r, sizeof r);
    if (n != static_cast<ssize_t>(sizeof r)) return 1;
    return r.failed ? 1 : 0;
}

int run_short_lived(int argc, char **argv) {
    Options o("short-lived", {{"to", true},
                              {"procs", true},
                              {"bytes", true},
                              {"parallel", true},
                              {"child-comm", true},
                              {"max-conn-ms", true},
                              {"no-rt", false}});
    o.parse(argc, argv, 2);
    const std::string to_text = o.require("to");
    Endpoint to = parse_destination(to_text, "short-lived: --to");
    const uint64_t procs = o.size("procs", 0, 1, 100000);
    o.require("procs");
    const uint64_t bytes = o.size("bytes", 0, 0, 1ull << 30);
    o.require("bytes");
    // One child per CPU by default: more only queue up on the run queue and
    // stretch connection lifetimes through preemption.
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    const uint64_t parallel = o.size("parallel", std::clamp<long>(ncpu, 1, 8), 1, 1024);
    const std::string child_comm = o.has("child-comm") ? o.get("child-comm") : "bpfkit-tg-child";
    if (child_comm.empty() || child_comm.size() > 15)
        throw UsageError("short-lived: --child-comm: '" + child_comm + "' must be 1 to 15 bytes");
    const bool limit_conn = o.has("max-conn-ms");
    const double max_conn_limit = o.decimal("max-conn-ms", 0, 0.001, 1e6);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, nullptr);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) throw_errno("signalfd", errno);

    Deadline dl = start_run(o, "tg-short");
    const std::string comm = current_comm();
    const Clock::time_point start = Clock::now();

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) throw_errno("pipe", errno);
    const int rd = pipefd[0];
    const int wr = pipefd[1];  // the only descriptor the children inherit
    if (fcntl(wr, F_SETFD, 0) != 0 || fcntl(rd, F_SETFL, O_NONBLOCK) != 0)
        throw_errno("fcntl", errno);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defs;
    sigemptyset(&none);
    sigemptyset(&defs);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGPIPE, SIGALRM})
        sigaddset(&defs, sig);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defs);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::map<pid_t, uint64_t> running;  // pid -> index
    std::map<uint64_t, ChildReport> reports;
    std::map<pid_t, std::string> failures;  // child pid (0: spawn) -> what went wrong
    std::string rbuf;
    uint64_t next = 0;
    bool stop = false, timed_out = false, interrupted = false;

    auto read_reports = [&] {
        char tmp[64 * sizeof(ChildReport)];
        for (;;) {
            ssize_t n = read(rd, tmp, sizeof tmp);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            rbuf.append(tmp, static_cast<size_t>(n));
        }
        while (rbuf.size() >= sizeof(ChildReport)) {
            ChildReport r;
            std::memcpy(&r, rbuf.data(), sizeof r);
            rbuf.erase(0, sizeof r);
            reports[static_cast<uint64_t>(r.index)] = r;
            if (r.failed) {
                failures[r.pid] = "child " + std::to_string(r.pid) + ": " + r.error;
                stop = true;
            }
        }
    };
    auto reap = [&](bool block) {
        for (;;) {
            int st = 0;
            pid_t pid = waitpid(-1, &st, block ? 0 : WNOHANG);
            if (pid < 0 && errno == EINTR) continue;
            if (pid <= 0) return;
            auto it = running.find(pid);
            if (it == running.end()) continue;
            if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !timed_out && !interrupted) {
                failures.emplace(pid, "child " + std::to_string(pid) + " " + describe_status(st));
                stop = true;
            }
            running.erase(it);
            if (block && running.empty()) return;
        }
    };
    auto kill_all = [&] {
        for (const auto &[pid, idx] : running)
            kill(pid, SIGKILL);
        if (!running.empty()) reap(true);
    };

    const std::string bytes_s = std::to_string(bytes);
    const std::string fd_s = std::to_string(wr);
    std::string rt_arg = "--rt";
    while ((next < procs && !stop) || !running.empty()) {
        while (!stop && next < procs && running.size() < parallel) {
            char secs[32];
            std::snprintf(secs, sizeof secs, "%.3f", std::max(dl.left(), 0.001));
            std::string idx = std::to_string(next);
            std::vector<std::string> args = {
                child_comm, "__child", "--to",     to_text,     "--bytes", bytes_s,   "--report-fd",
                fd_s,       "--comm",  child_comm, "--timeout", secs,      "--index", idx};
            std::vector<char *> av;
            for (std::string &a : args)
                av.push_back(a.data());
            if (!o.has("no-rt")) av.push_back(rt_arg.data());
            av.push_back(nullptr);
            pid_t pid;
            int err = posix_spawn(&pid, "/proc/self/exe", nullptr, &attr, av.data(), environ);
            if (err != 0) {
                failures.emplace(0, "spawn of child " + idx + ": " + std::strerror(err));
                stop = true;
                break;
            }
            running[pid] = next++;
        }
        if (running.empty()) break;
        pollfd p[2] = {{sfd, POLLIN, 0}, {rd, POLLIN, 0}};
        int n = poll(p, 2, dl.poll_ms());
        if (n < 0 && errno != EINTR) throw_errno("poll", errno);
        if (p[1].revents) read_reports();
        if (p[0].revents) {
            signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) interrupted = stop = true;
            }
        }
        if (interrupted) kill_all();
        reap(false);
        if (dl.expired() && !running.empty()) {
            timed_out = stop = true;
            kill_all();
        }
    }
    close(wr);
    read_reports();
    posix_spawnattr_destroy(&attr);

    std::set<int32_t> pids;
    uint64_t ok = 0, tx_total = 0, tx_calls = 0;
    double max_ms = 0;
    for (const auto &[idx, r] : reports) {
        pids.insert(r.pid);
        if (r.failed) continue;
        ++ok;
        tx_total += r.tx_bytes;
        tx_calls += r.tx_calls;
        double ms = static_cast<double>(r.conn_ns) / 1e6;
        max_ms = std::max(max_ms, ms);
        Json j;
        j.s("role", "child")
            .i("pid", r.pid)
            .i("ppid", getpid())
            .u("index", idx)
            .s("comm", r.comm)
            .s("proto", "tcp")
            .i("family", r.family)
            .s("local", r.local)
            .s("remote", to.str())
            .u("tx_bytes", r.tx_bytes)
            .u("rx_bytes", 0)
            .u("tx_calls", r.tx_calls)
            .u("rx_calls", 0)
            .f("conn_ms", ms)
            .b("rt", r.rt != 0);
        emit(j.line());
    }
    Json j;
    j.s("role", "summary")
        .i("pid", getpid())
        .s("comm", comm)
        .s("proto", "tcp")
        .i("family", to.family_num())
        .s("remote", to.str())
        .u("procs", procs)
        .u("started", next)
        .u("ok", ok)
        .u("distinct_pids", pids.size())
        .u("bytes_per_proc", bytes)
        .u("tx_bytes", tx_total)
        .u("rx_bytes", 0)
        .u("tx_calls", tx_calls)
        .u("rx_calls", 0)
        .f("max_conn_ms", max_ms)
        .i("elapsed_ms", elapsed_ms(start));
    emit(j.line());

    if (timed_out)
        dl.fail("short-lived (" + std::to_string(ok) + " of " + std::to_string(procs) +
                " children done)");
    if (interrupted) throw NetError("short-lived: interrupted by a signal");
    if (!failures.empty()) {
        std::string msg = failures.begin()->second;
        if (failures.size() > 1)
            msg += " (" + std::to_string(failures.size()) + " children failed)";
        throw NetError(msg);
    }
    if (ok != procs)
        throw NetError("short-lived: " + std::to_string(procs - ok) + " children sent no report");
    if (limit_conn && max_ms >= max_conn_limit) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "short-lived: a connection lived %.3f ms (--max-conn-ms %g)",
                      max_ms, max_conn_limit);
        throw NetError(buf);
    }
    return 0;
}

}  // namespace tg
