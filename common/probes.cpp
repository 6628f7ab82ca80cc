// SPDX-License-Identifier: GPL-2.0-only
// The real feature probes: each attach type is found by loading and
// attaching a tiny program from bpf/probes.bpf.c for a moment. Probes that
// need a network device run in a private network namespace (on its
// loopback, or on a veth pair made there), and those that need a mount
// that is missing try it in a private mount namespace, so nothing is ever
// left on the host.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/perf_event.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "kernel_features.h"
#include "kconfig.h"
#include "ladder.h"
#include "log.h"
#include "probes.skel.h"

// A function of our own for the uprobe probe to attach to.
extern "C" __attribute__((noinline, used)) int bpfkit_uprobe_target(int x) {
    asm volatile("" : "+r"(x));
    return x + 1;
}

namespace bpfkit {

// The first mount point of a file system type, from /proc/self/mountinfo.
namespace {

std::string mount_point_in(const char *mountinfo, const std::string &fstype) {
    std::ifstream in(mountinfo);
    std::string line;
    while (std::getline(in, line)) {
        // id parent maj:min root mountpoint options [optional...] - fstype source superopts
        std::istringstream ss(line);
        std::string id, parent, dev, root, mnt, tok;
        ss >> id >> parent >> dev >> root >> mnt;
        while (ss >> tok && tok != "-") {
        }
        std::string type;
        ss >> type;
        if (type == fstype) return mnt;
    }
    return "";
}

bool same_namespace(const char *a, const char *b) {
    struct stat sa {
    }, sb{};
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

}  // namespace

std::string mount_point(const std::string &fstype) {
    return mount_point_in("/proc/self/mountinfo", fstype);
}

namespace {

pid_t parent_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("PPid:", 0) == 0) return static_cast<pid_t>(std::atoi(line.c_str() + 5));
    return 0;
}

}  // namespace

std::string cgroup2_root(bool *elsewhere) {
    if (elsewhere != nullptr) *elsewhere = false;
    std::string mnt = mount_point("cgroup2");
    if (!mnt.empty()) return mnt;
    // Another process's view holds the same hierarchy if it is in our
    // cgroup namespace: our ancestors first (the shell that ran `ip netns
    // exec`), then init; /proc/PID/root takes ptrace access to each.
    std::vector<pid_t> candidates;
    for (pid_t p = getppid(); p > 1 && candidates.size() < 16; p = parent_of(p))
        candidates.push_back(p);
    candidates.push_back(1);
    for (pid_t pid : candidates) {
        const std::string proc = "/proc/" + std::to_string(pid);
        if (!same_namespace("/proc/self/ns/cgroup", (proc + "/ns/cgroup").c_str())) continue;
        std::string theirs = mount_point_in((proc + "/mountinfo").c_str(), "cgroup2");
        if (theirs.empty()) continue;
        std::string path = proc + "/root" + theirs;
        struct stat st {};
        if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (elsewhere != nullptr) *elsewhere = true;
        return path;
    }
    return "";
}

namespace {

constexpr const char *kSetcapHint =
    "run as root, or give the tool the capabilities bpfcheck lists (setcap)";

FeatureResult yes(std::string value, std::string reason) {
    FeatureResult r;
    r.state = State::Yes;
    r.value = std::move(value);
    r.reason = std::move(reason);
    return r;
}

FeatureResult no(int err, std::string reason, std::string remedy = {}, std::string value = {}) {
    FeatureResult r;
    r.state = State::No;
    r.err = err < 0 ? -err : err;
    r.reason = std::move(reason);
    r.remedy = std::move(remedy);
    r.value = std::move(value);
    return r;
}

FeatureResult unknown(std::string reason, std::string remedy = {}, int err = 0) {
    FeatureResult r;
    r.state = State::Unknown;
    r.err = err < 0 ? -err : err;
    r.reason = std::move(reason);
    r.remedy = std::move(remedy);
    return r;
}

bool read_file(const std::string &path, std::string &out, int *err = nullptr) {
    FILE *f = fopen(path.c_str(), "re");
    if (!f) {
        if (err) *err = errno;
        return false;
    }
    char buf[4096];
    size_t n;
    out.clear();
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        out.append(buf, n);
    fclose(f);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
        out.pop_back();
    return true;
}

// Effective capability bits of this process (capget), and the highest
// capability the kernel knows.
struct Caps {
    bool ok = false;
    uint64_t effective = 0;
    int last_cap = 40;
};

const Caps &caps() {
    static const Caps c = [] {
        Caps c;
        cap_t cap = cap_get_proc();
        if (cap) {
            for (int i = 0; i <= 63; i++) {
                cap_flag_value_t v = CAP_CLEAR;
                if (cap_get_flag(cap, static_cast<cap_value_t>(i), CAP_EFFECTIVE, &v) == 0 &&
                    v == CAP_SET)
                    c.effective |= 1ull << i;
            }
            cap_free(cap);
            c.ok = true;
        }
        std::string s;
        if (read_file("/proc/sys/kernel/cap_last_cap", s)) c.last_cap = atoi(s.c_str());
        return c;
    }();
    return c;
}

bool has_cap(int cap) {
    return caps().effective & (1ull << cap);
}
// CAP_BPF and CAP_PERFMON exist from 5.8; before, CAP_SYS_ADMIN stands in.
bool has_bpf_cap() {
    return has_cap(CAP_SYS_ADMIN) || (caps().last_cap >= CAP_BPF && has_cap(CAP_BPF));
}
bool has_perfmon_cap() {
    return has_cap(CAP_SYS_ADMIN) || (caps().last_cap >= CAP_PERFMON && has_cap(CAP_PERFMON));
}

FeatureResult cap_result(int cap, const char *name, const char *what) {
    if (!caps().ok) return unknown("capget failed: " + std::string(strerror(errno)));
    if (cap > caps().last_cap)
        return no(0,
                  std::string("the kernel does not know ") + name +
                      " (it came in 5.8); CAP_SYS_ADMIN stands in",
                  "run as root or setcap cap_sys_admin+ep");
    if (has_cap(cap)) return yes("effective", std::string("effective: ") + what);
    std::string lower = name;
    for (auto &ch : lower)
        ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    return no(EPERM, std::string("missing from the effective set: ") + what,
              "run as root or setcap " + lower + "+ep <tool>");
}

// Permission failures: name the missing capability rather than the errno.
bool explain_perm(int err, bool perf, FeatureResult &r) {
    if (err != EPERM && err != EACCES) return false;
    if (!has_bpf_cap()) {
        r = no(err,
               "loading BPF programs needs CAP_BPF (or CAP_SYS_ADMIN), which this process lacks",
               kSetcapHint);
        return true;
    }
    if (perf && !has_perfmon_cap()) {
        r = no(err,
               "attaching through perf events needs CAP_PERFMON (or CAP_SYS_ADMIN), which this "
               "process lacks",
               kSetcapHint);
        return true;
    }
    return false;
}

std::string with_detail(int err, const std::string &detail) {
    std::string s = strerror(err);
    if (!detail.empty()) s += " (" + detail + ")";
    return s;
}

// Opens the probe object with only `prog` to be loaded.
struct ProbeObject {
    Skeleton<probes_bpf> skel;
    bpf_program *prog = nullptr;
    std::string detail;  // libbpf's words on failure

    int open_load(const char *name) {
        log::Capture cap;
        int err = skel.open();
        if (!err) {
            bpf_program *p;
            bpf_object__for_each_program(p, skel->obj) {
                bool me = strcmp(bpf_program__name(p), name) == 0;
                bpf_program__set_autoload(p, me);
                if (me) prog = p;
            }
            err = skel.load();
        }
        if (err) detail = cap.summary();
        return err < 0 ? -err : err;
    }
};

// Load, then attach with bpf_program__attach (the section says where).
int load_attach(const char *name, std::string &detail, std::string *stage = nullptr) {
    ProbeObject p;
    int err = p.open_load(name);
    if (err) {
        detail = p.detail;
        if (stage) *stage = "load";
        return err;
    }
    log::Capture cap;
    bpf_link *link = bpf_program__attach(p.prog);
    if (!link) {
        err = errno;
        detail = cap.summary();
        if (stage) *stage = "attach";
        return err;
    }
    bpf_link__destroy(link);
    return 0;
}

// Runs fn in a child process inside a private mount namespace with a
// file system mounted; returns fn's result (an errno), or -1 if the
// namespace could not be set up.
template <class F>
int in_private_mount(const char *fstype, const char *target, F fn) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC)) return -1;
    fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        int rc = -1;
        if (unshare(CLONE_NEWNS) == 0 &&
            mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
            mount(fstype, target, fstype, 0, nullptr) == 0)
            rc = fn();
        ssize_t w = write(pfd[1], &rc, sizeof(rc));
        (void)w;
        _exit(0);
    }
    close(pfd[1]);
    int rc = -1;
    if (read(pfd[0], &rc, sizeof(rc)) != static_cast<ssize_t>(sizeof(rc))) rc = -1;
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return rc;
}

// Runs fn on a thread of its own in a fresh network namespace; the
// namespace and everything in it go away when the thread ends.
template <class F>
FeatureResult in_private_netns(F fn) {
    FeatureResult r;
    int unshare_err = 0;
    std::thread t([&] {
        if (unshare(CLONE_NEWNET)) {
            unshare_err = errno;
            return;
        }
        r = fn();
    });
    t.join();
    if (unshare_err) {
        if (!has_bpf_cap())
            return no(
                unshare_err,
                "loading BPF programs needs CAP_BPF (or CAP_SYS_ADMIN), which this process lacks",
                kSetcapHint);
        return unknown(std::string("cannot make a private network namespace to try it in: ") +
                           strerror(unshare_err),
                       "run bpfcheck as root", unshare_err);
    }
    return r;
}

// A veth pair in the current network namespace, over rtnetlink.
int add_veth(const char *name, const char *peer) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return errno;
    alignas(nlmsghdr) char buf[1024] = {};
    auto *nh = reinterpret_cast<nlmsghdr *>(buf);
    nh->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    nh->nlmsg_type = RTM_NEWLINK;
    nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    nh->nlmsg_seq = 1;
    auto put = [&](unsigned short type, const void *data, size_t len) -> rtattr * {
        auto *a = reinterpret_cast<rtattr *>(buf + NLMSG_ALIGN(nh->nlmsg_len));
        a->rta_type = type;
        a->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
        if (len) memcpy(RTA_DATA(a), data, len);
        nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(a->rta_len);
        return a;
    };
    auto end = [&](rtattr *a) {
        a->rta_len = static_cast<unsigned short>(buf + nh->nlmsg_len - reinterpret_cast<char *>(a));
    };
    put(IFLA_IFNAME, name, strlen(name) + 1);
    rtattr *linkinfo = put(IFLA_LINKINFO, nullptr, 0);
    put(IFLA_INFO_KIND, "veth", 4);
    rtattr *data = put(IFLA_INFO_DATA, nullptr, 0);
    rtattr *peer_attr = put(VETH_INFO_PEER, nullptr, 0);
    ifinfomsg peer_info{};
    memcpy(RTA_DATA(peer_attr), &peer_info, sizeof(peer_info));
    nh->nlmsg_len += static_cast<unsigned>(NLMSG_ALIGN(sizeof(peer_info)));
    put(IFLA_IFNAME, peer, strlen(peer) + 1);
    end(peer_attr);
    end(data);
    end(linkinfo);
    int err = 0;
    if (send(fd, buf, nh->nlmsg_len, 0) < 0) {
        err = errno;
    } else {
        alignas(nlmsghdr) char rbuf[4096];
        ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
        if (n < 0) {
            err = errno;
        } else {
            auto *rh = reinterpret_cast<nlmsghdr *>(rbuf);
            if (NLMSG_OK(rh, static_cast<unsigned>(n)) && rh->nlmsg_type == NLMSG_ERROR)
                err = -reinterpret_cast<nlmsgerr *>(NLMSG_DATA(rh))->error;
        }
    }
    close(fd);
    return err;
}

class KernelProbes : public FeatureSource {
  public:
    FeatureResult probe(Feature f) override;

  private:
    FeatureResult attach_type(Feature f, const char *prog, bool perf);
    FeatureResult kprobe();
    FeatureResult fentry();
    FeatureResult tracepoint();
    FeatureResult uprobe();
    FeatureResult perf_event();
    FeatureResult xdp(bool native);
    FeatureResult tc();
    FeatureResult cgroup_skb();
    FeatureResult socket_filter();
    FeatureResult ringbuf();
    FeatureResult af_packet();
    FeatureResult kernel_btf();
    FeatureResult kconfig();
    FeatureResult jit();
    FeatureResult lockdown();
    FeatureResult unpriv_bpf();
    FeatureResult perf_paranoid();
    FeatureResult memlock();
    FeatureResult mount_fs(const char *fstype, const char *where, const char *remedy);
};

FeatureResult KernelProbes::attach_type(Feature f, const char *prog, bool perf) {
    std::string detail, stage;
    int err = load_attach(prog, detail, &stage);
    if (!err) return yes("", "a program was loaded and attached");
    FeatureResult r;
    if (explain_perm(err, perf, r)) return r;
    (void)f;
    return no(err, stage + " failed: " + with_detail(err, detail));
}

FeatureResult KernelProbes::kprobe() {
    std::string detail, stage;
    int err = load_attach("probe_kprobe", detail, &stage);
    if (!err) return yes("", "a kprobe on vfs_read was attached");
    FeatureResult r;
    if (explain_perm(err, true, r)) return r;
    const Kconfig &k = system_kconfig();
    const char *remedy = "a kernel built with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y";
    if (k.disabled("CONFIG_KPROBES"))
        return no(err,
                  "CONFIG_KPROBES is not set: this kernel has no kprobes (" + stage + ": " +
                      strerror(err) + ")",
                  remedy);
    if (k.disabled("CONFIG_KPROBE_EVENTS"))
        return no(err, "CONFIG_KPROBE_EVENTS is not set: kprobes cannot be created for BPF",
                  remedy);
    struct stat st;
    if (err == ENOENT && stat("/sys/bus/event_source/devices/kprobe", &st) != 0)
        return no(err,
                  "no kprobe PMU (/sys/bus/event_source/devices/kprobe is missing): the kernel was "
                  "built without kprobes",
                  remedy);
    return no(err, stage + " failed: " + with_detail(err, detail));
}

FeatureResult KernelProbes::fentry() {
    std::string detail, stage;
    int err = load_attach("probe_fentry", detail, &stage);
    if (!err)
        return yes("", "an fentry program on vfs_read was loaded and attached (BPF trampoline)");
    FeatureResult r;
    if (explain_perm(err, true, r)) return r;
    const Kconfig &k = system_kconfig();
    const char *remedy =
        "a kernel with BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, 5.5+ on x86_64) "
        "that lets root load tracing programs";
    if (k.found() && !k.enabled("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS") &&
        !k.enabled("CONFIG_HAVE_DYNAMIC_FTRACE_WITH_DIRECT_CALLS"))
        return no(err,
                  "no BPF trampolines: CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS is not set (" +
                      stage + ": " + strerror(err) + ")",
                  remedy);
    if (err == EPERM && stage == "load") {
        std::string why =
            "the kernel refuses to load fentry programs although this process has the capabilities "
            "for "
            "them (load: EPERM)";
        if (k.enabled("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS"))
            why +=
                "; BPF trampolines are built in (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y), so a "
                "security policy "
                "(an LSM or a kernel patch) forbids them";
        return no(err, why, "none from user space on this kernel: the tools use their next mode");
    }
    if (err == 524 || err == EOPNOTSUPP)
        return no(err,
                  "BPF trampolines are not supported here (" + stage + ": " + errno_name(err) + ")",
                  remedy);
    return no(err, stage + " failed: " + with_detail(err, detail), remedy);
}

FeatureResult KernelProbes::tracepoint() {
    std::string detail, stage;
    int err = load_attach("probe_tracepoint", detail, &stage);
    if (!err)
        return yes("",
                   "a program was attached to sched:sched_process_fork through perf_event_open");
    FeatureResult r;
    if (explain_perm(err, true, r)) return r;
    std::string tracefs = mount_point("tracefs");
    if (tracefs.empty() && err == ENOENT) {
        const char *remedy = "mount -t tracefs nodev /sys/kernel/tracing";
        int rc = in_private_mount("tracefs", "/sys/kernel/tracing", [] {
            std::string d;
            return load_attach("probe_tracepoint", d);
        });
        if (rc == 0)
            return no(err,
                      "tracefs is not mounted, so tracepoint ids cannot be read (with tracefs "
                      "mounted in a "
                      "private mount namespace, the attach worked)",
                      remedy);
        return no(err, "tracefs is not mounted, so tracepoint ids cannot be read", remedy);
    }
    return no(err, stage + " failed: " + with_detail(err, detail));
}

FeatureResult KernelProbes::uprobe() {
    // Our own function, by file offset: needs no symbol table.
    uintptr_t addr = reinterpret_cast<uintptr_t>(&bpfkit_uprobe_target);
    std::ifstream maps("/proc/self/maps");
    std::string line, path;
    uint64_t offset = 0;
    while (std::getline(maps, line)) {
        unsigned long start, end, off;
        char perms[5];
        int pathpos = 0;
        if (sscanf(line.c_str(), "%lx-%lx %4s %lx %*s %*s %n", &start, &end, perms, &off,
                   &pathpos) < 4)
            continue;
        if (addr < start || addr >= end || pathpos <= 0) continue;
        path = line.substr(static_cast<size_t>(pathpos));
        offset = addr - start + off;
        break;
    }
    if (path.empty() || path[0] != '/')
        return unknown("cannot find this program's own code in /proc/self/maps");
    ProbeObject p;
    int err = p.open_load("probe_uprobe");
    if (!err) {
        log::Capture cap;
        bpf_link *link = bpf_program__attach_uprobe(p.prog, false, getpid(), path.c_str(), offset);
        if (link) {
            bpf_link__destroy(link);
            return yes("", "a uprobe on this program's own code was attached");
        }
        err = errno;
        p.detail = cap.summary();
    }
    FeatureResult r;
    if (explain_perm(err, true, r)) return r;
    if (system_kconfig().disabled("CONFIG_UPROBE_EVENTS"))
        return no(err, "CONFIG_UPROBE_EVENTS is not set",
                  "a kernel built with CONFIG_UPROBES=y and CONFIG_UPROBE_EVENTS=y");
    return no(err, with_detail(err, p.detail));
}

FeatureResult KernelProbes::perf_event() {
    ProbeObject p;
    int err = p.open_load("probe_perf_event");
    if (!err) {
        perf_event_attr attr{};
        attr.size = sizeof(attr);
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.freq = 1;
        attr.sample_freq = 49;
        int fd =
            static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
        if (fd < 0) {
            err = errno;
            p.detail = "perf_event_open(cpu-clock, cpu 0)";
        } else {
            log::Capture cap;
            bpf_link *link = bpf_program__attach_perf_event(p.prog, fd);
            if (link) {
                bpf_link__destroy(link);  // closes fd too
                return yes("", "a program was attached to a cpu-clock perf event on CPU 0");
            }
            err = errno;
            p.detail = cap.summary();
            close(fd);
        }
    }
    FeatureResult r;
    if (explain_perm(err, true, r)) return r;
    return no(err, with_detail(err, p.detail));
}

FeatureResult KernelProbes::xdp(bool native) {
    ProbeObject p;
    int err = p.open_load("probe_xdp");
    if (err) {
        FeatureResult r;
        if (explain_perm(err, false, r)) return r;
        return no(err, "load failed: " + with_detail(err, p.detail));
    }
    int prog_fd = bpf_program__fd(p.prog);
    return in_private_netns([&]() -> FeatureResult {
        int ifindex = static_cast<int>(if_nametoindex("lo"));
        std::string dev = "lo";
        if (native) {
            int e = add_veth("bpfkit0", "bpfkit1");
            if (e)
                return unknown(
                    std::string("cannot make a veth pair to try native XDP on: ") + strerror(e),
                    "load the veth module (modprobe veth)", e);
            ifindex = static_cast<int>(if_nametoindex("bpfkit0"));
            dev = "veth";
        }
        __u32 flags = native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
        LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = flags);
        int lfd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lopts);
        if (lfd >= 0) {
            close(lfd);
            return yes("bpf_link", std::string(native ? "native" : "generic") +
                                       " XDP attached to a " + dev +
                                       " device through bpf_link, in a private network namespace");
        }
        int lerr = errno;
        // Kernels before 5.9 attach XDP only through netlink.
        LIBBPF_OPTS(bpf_xdp_attach_opts, xopts);
        if (bpf_xdp_attach(ifindex, prog_fd, flags, &xopts) == 0) {
            bpf_xdp_detach(ifindex, flags, &xopts);
            return yes("netlink", std::string(native ? "native" : "generic") +
                                      " XDP attached to a " + dev +
                                      " device through netlink (no XDP bpf_link on this kernel)");
        }
        int nerr = errno;
        return no(nerr, std::string("attach to a ") + dev + " device failed: " + strerror(nerr) +
                            " (bpf_link: " + strerror(lerr) + ")");
    });
}

FeatureResult KernelProbes::tc() {
    ProbeObject p;
    int err = p.open_load("probe_tc");
    if (err) {
        FeatureResult r;
        if (explain_perm(err, false, r)) return r;
        return no(err, "load failed: " + with_detail(err, p.detail));
    }
    int prog_fd = bpf_program__fd(p.prog);
    return in_private_netns([&]() -> FeatureResult {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(if_nametoindex("lo")),
                    .attach_point = BPF_TC_EGRESS);
        int e = bpf_tc_hook_create(&hook);
        if (e && e != -EEXIST) {
            if (system_kconfig().disabled("CONFIG_NET_SCH_INGRESS"))
                return no(-e, "no clsact qdisc: CONFIG_NET_SCH_INGRESS is not set",
                          "a kernel with CONFIG_NET_SCH_INGRESS");
            return no(-e, std::string("cannot create a clsact qdisc: ") + strerror(-e));
        }
        LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd);
        e = bpf_tc_attach(&hook, &opts);
        FeatureResult r =
            e ? no(-e, std::string("bpf_tc_attach failed: ") + strerror(-e))
              : yes("netlink",
                    "a classifier was attached to clsact egress of a loopback device in a "
                    "private network namespace");
        hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
        return r;
    });
}

FeatureResult KernelProbes::cgroup_skb() {
    std::string mnt = cgroup2_root();
    if (mnt.empty())
        return no(
            ENOENT, "no cgroup2 hierarchy is mounted",
            "mount -t cgroup2 none /sys/fs/cgroup (or /sys/fs/cgroup/unified on hybrid systems)");
    ProbeObject p;
    int err = p.open_load("probe_cgroup_skb");
    if (err) {
        FeatureResult r;
        if (explain_perm(err, false, r)) return r;
        return no(err, "load failed: " + with_detail(err, p.detail));
    }
    std::string dir = mnt + "/bpfkit-probe-" + std::to_string(getpid());
    bool made = mkdir(dir.c_str(), 0700) == 0;
    int fd = open(made ? dir.c_str() : mnt.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    FeatureResult r;
    if (fd < 0) {
        r = unknown("cannot open " + (made ? dir : mnt) + ": " + strerror(errno));
    } else {
        bpf_link *link = bpf_program__attach_cgroup(p.prog, fd);
        if (link) {
            bpf_link__destroy(link);
            r = yes(mnt, "attached to a cgroup under " + mnt + " through bpf_link");
        } else {
            r = no(errno, std::string("attach failed: ") + strerror(errno));
        }
        close(fd);
    }
    if (made) rmdir(dir.c_str());
    return r;
}

FeatureResult KernelProbes::socket_filter() {
    ProbeObject p;
    int err = p.open_load("probe_socket_filter");
    if (err) {
        FeatureResult r;
        if (explain_perm(err, false, r)) return r;
        return no(err, "load failed: " + with_detail(err, p.detail));
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return unknown(std::string("socket: ") + strerror(errno));
    int fd = bpf_program__fd(p.prog);
    int rc = setsockopt(s, SOL_SOCKET, SO_ATTACH_BPF, &fd, sizeof(fd));
    int e = errno;
    close(s);
    if (rc) return no(e, std::string("SO_ATTACH_BPF failed: ") + strerror(e));
    return yes("", "attached to a socket with SO_ATTACH_BPF");
}

FeatureResult KernelProbes::ringbuf() {
    int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "bpfkit_probe", 0, 0,
                            static_cast<__u32>(getpagesize()) * 4, nullptr);
    if (fd >= 0) {
        close(fd);
        return yes("", "a BPF ring buffer map was created");
    }
    int err = errno;
    FeatureResult r;
    if (explain_perm(err, false, r)) return r;
    if (err == EINVAL)
        return no(err,
                  "the kernel has no BPF ring buffer (5.8+); the tools use a perf buffer instead");
    return no(err, std::string("map create failed: ") + strerror(err));
}

FeatureResult KernelProbes::af_packet() {
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        close(s);
        return yes("", "an AF_PACKET socket was opened");
    }
    int err = errno;
    if (err == EPERM || err == EACCES)
        return no(err, "AF_PACKET sockets need CAP_NET_RAW, which this process lacks", kSetcapHint);
    if (err == EAFNOSUPPORT)
        return no(err, "the kernel has no AF_PACKET (CONFIG_PACKET is not set)",
                  "a kernel with CONFIG_PACKET=y");
    return no(err, std::string("socket(AF_PACKET) failed: ") + strerror(err));
}

FeatureResult KernelProbes::kernel_btf() {
    const char *path = "/sys/kernel/btf/vmlinux";
    struct stat st;
    if (stat(path, &st) != 0) {
        const std::string &custom = open_options().btf_path;
        if (!custom.empty())
            return no(ENOENT,
                      "the kernel has no /sys/kernel/btf/vmlinux (built without "
                      "CONFIG_DEBUG_INFO_BTF); the tools "
                      "will use the BTF given with --btf or BPFKIT_BTF: " +
                          custom);
        return no(ENOENT,
                  "the kernel has no /sys/kernel/btf/vmlinux (built without CONFIG_DEBUG_INFO_BTF)",
                  "give the tools a BTF file for this kernel with --btf FILE or BPFKIT_BTF=FILE");
    }
    btf *b = btf__load_vmlinux_btf();
    if (!b) return no(errno, std::string("cannot parse ") + path + ": " + strerror(errno));
    unsigned types = btf__type_cnt(b);
    btf__free(b);
    char size[32];
    snprintf(size, sizeof(size), "%.1f MiB", static_cast<double>(st.st_size) / (1024.0 * 1024.0));
    return yes(path, std::string(path) + " parsed: " + std::to_string(types) + " types, " + size);
}

FeatureResult KernelProbes::kconfig() {
    const Kconfig &k = system_kconfig();
    if (k.found()) return yes(k.source, "read " + k.source);
    struct utsname u;
    uname(&u);
    return unknown(
        std::string("no /proc/config.gz and no /boot/config-") + u.release +
            ": kernel options are not known, so reasons name errors rather than options",
        "modprobe configs (gives /proc/config.gz when the kernel has CONFIG_IKCONFIG=m)");
}

FeatureResult KernelProbes::jit() {
    std::string sysctl;
    int serr = 0;
    bool have_sysctl = read_file("/proc/sys/net/core/bpf_jit_enable", sysctl, &serr);
    std::string value = have_sysctl ? "bpf_jit_enable=" + sysctl : "";
    const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0},  // r0 = 0
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "bpfkit_jit", "GPL", insns, 2, nullptr);
    if (fd >= 0) {
        bpf_prog_info info{};
        __u32 len = sizeof(info);
        int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
        close(fd);
        if (rc == 0) {
            if (info.jited_prog_len > 0) return yes(value, "a loaded program was JIT-compiled");
            return no(0,
                      "a loaded program was not JIT-compiled: BPF runs in the interpreter, several "
                      "times slower",
                      "sysctl net.core.bpf_jit_enable=1");
        }
    }
    if (have_sysctl) {
        if (sysctl == "0")
            return no(0, "bpf_jit_enable is 0 (interpreter)", "sysctl net.core.bpf_jit_enable=1",
                      value);
        return yes(value, "from the sysctl only (loading a program to check was refused)");
    }
    if (system_kconfig().enabled("CONFIG_BPF_JIT_ALWAYS_ON"))
        return yes("always on", "CONFIG_BPF_JIT_ALWAYS_ON=y");
    return unknown(std::string("cannot read net.core.bpf_jit_enable: ") + strerror(serr), "", serr);
}

FeatureResult KernelProbes::lockdown() {
    const char *file = "/sys/kernel/security/lockdown";
    std::string text;
    int err = 0;
    std::string how = "read " + std::string(file);
    if (!read_file(file, text, &err)) {
        if (!mount_point("securityfs").empty()) {
            if (err == ENOENT)
                return yes("none", "the kernel has no lockdown LSM (no " + std::string(file) + ")");
            return unknown(std::string("cannot read ") + file + ": " + strerror(err), "", err);
        }
        // securityfs is not mounted: read the file through a private mount.
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) == 0) {
            int rc = in_private_mount("securityfs", "/sys/kernel/security", [&] {
                std::string t;
                int e = 0;
                if (!read_file(file, t, &e)) return e ? e : EIO;
                ssize_t w = write(pfd[1], t.data(), t.size());
                (void)w;
                return 0;
            });
            close(pfd[1]);
            char buf[256];
            ssize_t n = rc == 0 ? read(pfd[0], buf, sizeof(buf) - 1) : -1;
            close(pfd[0]);
            if (n > 0) {
                text.assign(buf, static_cast<size_t>(n));
                how = "securityfs is not mounted; read through a private mount";
            } else if (rc == ENOENT) {
                return yes("none", "the kernel has no lockdown LSM");
            }
        }
        if (text.empty())
            return unknown("securityfs is not mounted, so the lockdown state cannot be read",
                           "mount -t securityfs securityfs /sys/kernel/security");
    }
    // "none [integrity] confidentiality"
    size_t a = text.find('['), b = text.find(']');
    std::string mode = (a != std::string::npos && b != std::string::npos && b > a)
                           ? text.substr(a + 1, b - a - 1)
                           : text;
    if (mode == "confidentiality")
        return no(
            EPERM,
            "lockdown=confidentiality (" + how + "): reading kernel memory from BPF is forbidden",
            "boot with lockdown=integrity or lockdown=none (or with Secure Boot off)", mode);
    if (mode == "integrity")
        return yes(mode, "lockdown=integrity (" + how +
                             "): BPF may read kernel memory but not write user memory");
    return yes(mode, "lockdown=" + mode + " (" + how + ")");
}

FeatureResult KernelProbes::unpriv_bpf() {
    std::string v;
    int err = 0;
    if (!read_file("/proc/sys/kernel/unprivileged_bpf_disabled", v, &err))
        return unknown(
            std::string("cannot read kernel.unprivileged_bpf_disabled: ") + strerror(err), "", err);
    if (v == "0") return yes(v, "unprivileged users may load socket filter programs");
    const char *why = v == "1" ? "unprivileged BPF is disabled until reboot"
                               : "unprivileged BPF is disabled (an administrator may re-enable it)";
    return no(0, std::string(why) + "; bpfkit's tools need capabilities either way", "", v);
}

FeatureResult KernelProbes::perf_paranoid() {
    std::string v;
    int err = 0;
    if (!read_file("/proc/sys/kernel/perf_event_paranoid", v, &err))
        return unknown(std::string("cannot read kernel.perf_event_paranoid: ") + strerror(err), "",
                       err);
    int n = atoi(v.c_str());
    std::string what = n <= -1  ? "no restrictions on perf events"
                       : n == 0 ? "unprivileged users may profile CPUs, not kernel tracepoints"
                       : n == 1 ? "unprivileged users may profile the kernel in their own processes"
                       : n == 2 ? "unprivileged users may profile only their own user space"
                                : "perf events are for privileged users only";
    return yes(v, what + "; processes with CAP_PERFMON are not limited");
}

FeatureResult KernelProbes::memlock() {
    rlimit rl{};
    getrlimit(RLIMIT_MEMLOCK, &rl);
    std::string value =
        rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur / 1024) + " KiB";
    if (!has_bpf_cap())
        return unknown("RLIMIT_MEMLOCK is " + value +
                       "; whether BPF memory is charged to it cannot be tried without CAP_BPF");
    // In a child, lower RLIMIT_MEMLOCK to zero and create a map: it works
    // only when the kernel charges BPF memory to the memory cgroup (5.11+).
    fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        rlimit zero{0, 0};
        setrlimit(RLIMIT_MEMLOCK, &zero);
        int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bpfkit_memlock", 4, 8, 1, nullptr);
        _exit(fd >= 0 ? 0 : (errno & 0x7f));
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return unknown("RLIMIT_MEMLOCK is " + value + "; the trial process failed");
    if (WEXITSTATUS(status) == 0)
        return yes(
            value,
            "RLIMIT_MEMLOCK is " + value +
                " but does not limit BPF: the kernel charges BPF memory to the memory cgroup");
    bool can_raise = has_cap(CAP_SYS_RESOURCE) || rl.rlim_max == RLIM_INFINITY;
    return no(WEXITSTATUS(status), "BPF memory counts against RLIMIT_MEMLOCK (" + value + ")",
              can_raise ? ""
                        : "ulimit -l unlimited (LimitMEMLOCK=infinity in a systemd unit), or grant "
                          "CAP_SYS_RESOURCE",
              value);
}

FeatureResult KernelProbes::mount_fs(const char *fstype, const char *where, const char *remedy) {
    std::string mnt = mount_point(fstype);
    if (!mnt.empty()) return yes(mnt, std::string(fstype) + " is mounted at " + mnt);
    return no(ENOENT, std::string(fstype) + " is not mounted (usually at " + where + ")", remedy);
}

FeatureResult KernelProbes::probe(Feature f) {
    switch (f) {
        case Feature::Fentry:
            return fentry();
        case Feature::Kprobe:
            return kprobe();
        case Feature::Tracepoint:
            return tracepoint();
        case Feature::RawTp:
            return attach_type(f, "probe_raw_tp", false);
        case Feature::TpBtf:
            return attach_type(f, "probe_tp_btf", false);
        case Feature::Uprobe:
            return uprobe();
        case Feature::PerfEvent:
            return perf_event();
        case Feature::XdpGeneric:
            return xdp(false);
        case Feature::XdpNative:
            return xdp(true);
        case Feature::TcClsact:
            return tc();
        case Feature::CgroupSkb:
            return cgroup_skb();
        case Feature::SocketFilter:
            return socket_filter();
        case Feature::Ringbuf:
            return ringbuf();
        case Feature::AfPacket:
            return af_packet();
        case Feature::KernelBtf:
            return kernel_btf();
        case Feature::Kconfig:
            return kconfig();
        case Feature::Jit:
            return jit();
        case Feature::Lockdown:
            return lockdown();
        case Feature::UnprivBpf:
            return unpriv_bpf();
        case Feature::PerfParanoid:
            return perf_paranoid();
        case Feature::Memlock:
            return memlock();
        case Feature::Tracefs:
            return mount_fs("tracefs", "/sys/kernel/tracing",
                            "mount -t tracefs nodev /sys/kernel/tracing");
        case Feature::Debugfs:
            return mount_fs("debugfs", "/sys/kernel/debug",
                            "mount -t debugfs nodev /sys/kernel/debug");
        case Feature::Bpffs:
            return mount_fs("bpf", "/sys/fs/bpf", "mount -t bpf bpf /sys/fs/bpf");
        case Feature::Cgroup2: {
            bool elsewhere = false;
            std::string root = cgroup2_root(&elsewhere);
            if (elsewhere)
                return yes(root,
                           "cgroup2 is not mounted in this mount namespace (as under ip netns "
                           "exec); the hierarchy is reached through another process's view, in "
                           "the same cgroup namespace, at " +
                               root);
            return mount_fs("cgroup2", "/sys/fs/cgroup", "mount -t cgroup2 none /sys/fs/cgroup");
        }
        case Feature::CapBpf:
            if (caps().last_cap < CAP_BPF)
                return cap_result(CAP_SYS_ADMIN, "CAP_SYS_ADMIN",
                                  "load BPF programs (this kernel has no CAP_BPF)");
            if (!has_cap(CAP_BPF) && has_cap(CAP_SYS_ADMIN))
                return yes("via CAP_SYS_ADMIN",
                           "CAP_BPF is not effective, but CAP_SYS_ADMIN covers it");
            return cap_result(CAP_BPF, "CAP_BPF", "load BPF programs and create maps");
        case Feature::CapPerfmon:
            if (caps().last_cap < CAP_PERFMON)
                return cap_result(CAP_SYS_ADMIN, "CAP_SYS_ADMIN",
                                  "tracing and perf events (this kernel has no CAP_PERFMON)");
            if (!has_cap(CAP_PERFMON) && has_cap(CAP_SYS_ADMIN))
                return yes("via CAP_SYS_ADMIN",
                           "CAP_PERFMON is not effective, but CAP_SYS_ADMIN covers it");
            return cap_result(CAP_PERFMON, "CAP_PERFMON",
                              "tracing programs, kprobes, uprobes and perf events");
        case Feature::CapNetAdmin:
            return cap_result(CAP_NET_ADMIN, "CAP_NET_ADMIN",
                              "XDP, TC and cgroup network programs");
        case Feature::CapNetRaw:
            return cap_result(CAP_NET_RAW, "CAP_NET_RAW", "AF_PACKET capture");
        case Feature::CapSysAdmin:
            return cap_result(CAP_SYS_ADMIN, "CAP_SYS_ADMIN",
                              "namespaces, mounts, and BPF on kernels before 5.8");
        case Feature::CapSysResource: {
            FeatureResult r = cap_result(CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE",
                                         "raising RLIMIT_MEMLOCK on kernels before 5.11");
            if (r.no() && system_features().yes(Feature::Memlock)) {
                r.reason += "; not needed here: the kernel charges BPF memory to the memory cgroup";
                r.remedy.clear();
            }
            return r;
        }
        case Feature::Count_:
            break;
    }
    return unknown("no probe for this feature");
}

}  // namespace

std::unique_ptr<FeatureSource> make_kernel_probes() {
    return std::make_unique<KernelProbes>();
}

}  // namespace bpfkit
