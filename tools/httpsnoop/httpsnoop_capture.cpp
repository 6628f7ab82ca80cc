// SPDX-License-Identifier: GPL-2.0-only
#include "httpsnoop_capture.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <glob.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "httpsnoop.h"
#include "httpsnoop.skel.h"
#include "log.h"
#include "procfs.h"

namespace bpfkit::httpsnoop {

namespace {

// Which TLS library a file name is: 1 OpenSSL's libssl, 2 GnuTLS, 0 neither.
int tls_library_kind(const std::string &path) {
    std::string base = path.substr(path.rfind('/') + 1);
    if (base.starts_with("libssl.so")) return 1;
    if (base.starts_with("libgnutls.so")) return 2;
    return 0;
}

}  // namespace

Capture::~Capture() {
    for (bpf_link *l : links_)
        bpf_link__destroy(l);
    for (int fd : ring_fds_)
        close(fd);
}

int Capture::open(httpsnoop_bpf *skel, EventTransport transport, OnData on_data, OnClose on_close) {
    skel_ = skel;
    on_data_ = std::move(on_data);
    on_close_ = std::move(on_close);
    const uint32_t each = skel->rodata->cpu_ring_bytes;
    if (transport != EventTransport::Ringbuf || each == 0) {
        log::info("events: one %s", transport_name(transport));
        return sink_.open(skel->maps.events, transport,
                          [this](const void *data, size_t size) { deliver(data, size); });
    }
    // One ring per CPU, put in the map of maps the programs look in; the
    // shared ring is read too (events from before this).
    if (int rc = rings_.add(bpf_map__fd(skel->maps.events)); rc < 0) return rc;
    const int outer = bpf_map__fd(skel->maps.cpu_events);
    const uint32_t cpus = bpf_map__max_entries(skel->maps.cpu_events);
    for (uint32_t cpu = 0; cpu < cpus; cpu++) {
        int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "httpsnoop_cpu", 0, 0, each, nullptr);
        if (fd < 0) return -errno;
        ring_fds_.push_back(fd);
        if (int rc = rings_.add(fd); rc < 0) return rc;
        if (bpf_map_update_elem(outer, &cpu, &fd, BPF_ANY) < 0) return -errno;
    }
    merge_ = true;
    log::info("events: %u rings of %u KiB, one per CPU, and a shared one", cpus, each / 1024);
    return 0;
}

void Capture::deliver(const void *data, size_t size) {
    httpsnoop_event ev;
    if (size < sizeof(ev)) {
        ++bad_events_;
        return;
    }
    memcpy(&ev, data, sizeof(ev));
    if (ev.cap > size - sizeof(ev)) {
        ++bad_events_;
        return;
    }
    if (ev.kind == HTTPSNOOP_EV_CLOSE) {
        on_close_(ev.tgid, ev.fd, ev.sk, ev.ts_ns);
        return;
    }
    DataEvent d;
    d.key.tgid = ev.tgid;
    d.key.fd = ev.fd;
    d.key.sk = ev.sk;
    d.key.tls = ev.flags & HTTPSNOOP_F_TLS;
    d.info.pid = ev.tgid;
    d.info.tid = ev.tid;
    if (ev.comm[0])
        d.info.comm.assign(std::string_view(ev.comm, strnlen(ev.comm, sizeof(ev.comm))));
    d.info.cgroup_id = ev.cgroup_id;
    d.info.family = ev.family;
    memcpy(d.info.laddr, ev.laddr, 16);
    memcpy(d.info.raddr, ev.raddr, 16);
    d.info.lport = ev.lport;
    d.info.rport = ev.rport;
    d.info.tls = d.key.tls;
    d.info.fd = ev.fd;
    d.write = ev.dir == HTTPSNOOP_WRITE;
    d.chunk.ts_ns = ev.ts_ns;
    d.chunk.data =
        std::span<const uint8_t>(static_cast<const uint8_t *>(data) + sizeof(ev), ev.cap);
    d.chunk.len = ev.len;
    on_data_(d);
}

int Capture::poll(int timeout_ms) {
    // The programs wake the reader only when much is waiting.
    if (!merge_) return sink_.drain(timeout_ms);
    int n = rings_.poll(timeout_ms, [this](const void *d, size_t size) { deliver(d, size); });
    return n < 0 ? n : 0;
}

int Capture::finish() {
    if (!merge_) return sink_.drain(0);
    int n = rings_.drain([this](const void *d, size_t size) { deliver(d, size); });
    return n < 0 ? n : 0;
}

int Capture::probe_read() const {
    return percpu_readable(bpf_map__fd(skel_->maps.stats));
}

void Capture::stats(RunStats &s) const {
    if (!skel_) return;
    const int fd = bpf_map__fd(skel_->maps.stats);
    auto stat = [&](__u32 idx) { return percpu_sum(fd, idx); };
    s.events = stat(HTTPSNOOP_STAT_EVENTS);
    s.ring_drops = stat(HTTPSNOOP_STAT_RING_DROPS) + sink_.lost();
    s.truncated = stat(HTTPSNOOP_STAT_TRUNCATED);
    s.args_full = stat(HTTPSNOOP_STAT_ARGS_FULL);
    s.conns_full = stat(HTTPSNOOP_STAT_CONNS_FULL);
    s.not_http = stat(HTTPSNOOP_STAT_NOT_HTTP);
    s.tls_calls = stat(HTTPSNOOP_STAT_TLS_CALLS);
    s.tls_nofd = stat(HTTPSNOOP_STAT_TLS_NOFD);
    s.read_faults = stat(HTTPSNOOP_STAT_READ_FAULTS);
    s.bad_events = bad_events_;
    s.tls_libraries = libs_.size();
    s.tls_attach_failed = attach_failed_;
}

int Capture::attach_library(const std::string &path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return 0;
    auto id = std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
    if (!libs_.insert(id).second) return 0;
    int kind = tls_library_kind(path);
    struct Probe {
        const char *func;
        bpf_program *prog;
        bool ret;
    };
    std::vector<Probe> probes;
    if (kind == 1) {
        probes = {{"SSL_read", skel_->progs.httpsnoop_ssl_read, false},
                  {"SSL_read", skel_->progs.httpsnoop_ssl_read_ret, true},
                  {"SSL_write", skel_->progs.httpsnoop_ssl_write, false},
                  {"SSL_write", skel_->progs.httpsnoop_ssl_write_ret, true},
                  {"SSL_read_ex", skel_->progs.httpsnoop_ssl_read_ex, false},
                  {"SSL_read_ex", skel_->progs.httpsnoop_ssl_read_ex_ret, true},
                  {"SSL_write_ex", skel_->progs.httpsnoop_ssl_write_ex, false},
                  {"SSL_write_ex", skel_->progs.httpsnoop_ssl_write_ex_ret, true}};
    } else {
        probes = {{"gnutls_record_recv", skel_->progs.httpsnoop_gnutls_recv, false},
                  {"gnutls_record_recv", skel_->progs.httpsnoop_gnutls_ret, true},
                  {"gnutls_record_send", skel_->progs.httpsnoop_gnutls_send, false},
                  {"gnutls_record_send", skel_->progs.httpsnoop_gnutls_ret, true}};
    }
    int attached = 0;
    for (const Probe &p : probes) {
        LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = p.ret, .func_name = p.func);
        bpf_link *l = bpf_program__attach_uprobe_opts(p.prog, -1, path.c_str(), 0, &o);
        if (!l) {
            // SSL_read_ex and SSL_write_ex are OpenSSL 1.1.1 and later.
            log::info("tls: %s in %s: %s", p.func, path.c_str(), strerror(errno));
            continue;
        }
        links_.push_back(l);
        ++attached;
    }
    if (!attached) {
        ++attach_failed_;
        return 0;
    }
    paths_.push_back(path);
    log::info("tls: %d probes on %s", attached, path.c_str());
    return 1;
}

int Capture::attach_tls_system() {
    int n = 0;
    for (const char *pat : {"/lib/*-linux-gnu/libssl.so*", "/usr/lib/*-linux-gnu/libssl.so*",
                            "/usr/lib64/libssl.so*", "/lib64/libssl.so*", "/usr/lib/libssl.so*",
                            "/usr/local/lib/libssl.so*", "/usr/local/lib64/libssl.so*",
                            "/lib/*-linux-gnu/libgnutls.so*", "/usr/lib/*-linux-gnu/libgnutls.so*",
                            "/usr/lib64/libgnutls.so*", "/usr/lib/libgnutls.so*"}) {
        glob_t g{};
        if (glob(pat, 0, nullptr, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                std::string p = g.gl_pathv[i];
                if (p.ends_with(".a")) continue;
                n += attach_library(p);
            }
        }
        globfree(&g);
    }
    return n;
}

int Capture::scan_processes() {
    int n = 0;
    std::set<int> now;
    for (int pid : procfs::pids()) {
        now.insert(pid);
        if (seen_pids_.count(pid)) continue;
        std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
        std::string line;
        std::set<std::string> found;
        while (std::getline(maps, line)) {
            size_t slash = line.find('/');
            if (slash == std::string::npos) continue;
            std::string path = line.substr(slash);
            if (path.ends_with(" (deleted)") || !tls_library_kind(path)) continue;
            found.insert(path);
        }
        for (const auto &p : found)  // seen from the process's own root (containers)
            n += attach_library("/proc/" + std::to_string(pid) + "/root" + p);
    }
    seen_pids_ = std::move(now);
    return n;
}

}  // namespace bpfkit::httpsnoop
