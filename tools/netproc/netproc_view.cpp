// SPDX-License-Identifier: GPL-2.0-only
#include "netproc_view.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstdio>

#include "json.h"
#include "procfs.h"
#include "text.h"

namespace bpfkit::netproc {

ProcessRow ProcessResolver::describe(uint32_t pid, const ProcName &kernel_name, bool exited) {
    auto it = cache_.find(pid);
    if (it == cache_.end() || !exited) {
        ProcessRow r = it == cache_.end() ? ProcessRow{} : it->second;
        r.pid = pid;
        int p = static_cast<int>(pid);
        if (auto c = procfs::comm(p)) r.comm = *c;
        if (auto c = procfs::cmdline(p)) r.cmdline = *c;
        std::optional<uint32_t> uid = procfs::uid(p);
        if (!uid && kernel_name.known) uid = kernel_name.uid;
        if (uid) r.user = procfs::user_name(*uid);
        if (auto cg = procfs::cgroup_path(p)) {
            procfs::CgroupIdentity id = procfs::classify_cgroup(*cg);
            r.container = id.container_id.substr(0, 12);
            r.unit = id.unit;
        }
        if (r.comm.empty() && kernel_name.known) r.comm = kernel_name.comm;
        it = cache_.insert_or_assign(pid, r).first;
    }
    ProcessRow r = it->second;
    r.exited = exited;
    if (r.comm.empty()) r.comm = kernel_name.known ? kernel_name.comm : "?";
    return r;
}

std::vector<ProcessRow> process_rows(const Snapshot &s, ProcessResolver &resolver,
                                     std::map<uint32_t, Counters> &totals) {
    std::map<uint32_t, Counters> delta;
    for (const auto &f : s.flows)
        if (f.tgid) delta[f.tgid] += f.delta;
    std::vector<uint32_t> exited = s.exited;
    std::sort(exited.begin(), exited.end());
    std::vector<ProcessRow> rows;
    for (const auto &[pid, d] : delta) {
        totals[pid] += d;
        bool gone = std::binary_search(exited.begin(), exited.end(), pid);
        auto n = s.names.find(pid);
        ProcessRow r = resolver.describe(pid, n == s.names.end() ? ProcName{} : n->second, gone);
        r.delta = d;
        r.total = totals[pid];
        rows.push_back(std::move(r));
    }
    for (uint32_t pid : exited) {
        totals.erase(pid);
        resolver.forget(pid);
    }
    std::stable_sort(rows.begin(), rows.end(), [](const ProcessRow &a, const ProcessRow &b) {
        return a.delta.tx_bytes + a.delta.rx_bytes > b.delta.tx_bytes + b.delta.rx_bytes;
    });
    return rows;
}

std::string proto_name(uint8_t proto) {
    return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : std::to_string(proto);
}

std::string endpoint(const pkt::IpAddr &a, uint16_t port) {
    bool zero = std::all_of(a.bytes.begin(), a.bytes.end(), [](uint8_t b) { return b == 0; });
    std::string host = zero && port == 0 ? "*" : a.str();
    if (a.family == AF_INET6) host = "[" + host + "]";
    return host + ":" + (port ? std::to_string(port) : "*");
}

std::string losses_line(const Losses &l) {
    std::string s;
    auto add = [&](uint64_t n, const std::string &what) {
        if (n) s += (s.empty() ? "" : "; ") + std::to_string(n) + " " + what;
    };
    add(l.flows_full,
        "updates lost to a full flow map (" + std::to_string(l.bytes_full) + " bytes)");
    add(l.procs_full, "process names not kept (name map full)");
    add(l.stash_full, "kprobe calls lost (stash map full)");
    add(l.socks_full, "sockets counted without their tuple (socket map full)");
    add(l.closed_full, "TCP closes not recorded (closed map full)");
    add(l.released_full, "released sockets' last counts lost (" + std::to_string(l.released_bytes) +
                             " bytes at most)");
    add(l.capture_drops, "frames dropped by the capture ring");
    add(l.malformed, "malformed frames");
    return s;
}

namespace {

std::string name_of(const ViewContext &ctx, const pkt::IpAddr &a) {
    if (ctx.remote_name)
        if (auto n = ctx.remote_name(a)) return *n;
    return a.str();
}

std::string rate(uint64_t bytes, double s) {
    return s > 0 ? human_rate(static_cast<double>(bytes) / s) : "-";
}

std::string header(const ViewContext &ctx) {
    char interval[32];
    snprintf(interval, sizeof(interval), "%.1f s", ctx.interval_s);
    return "netproc: mode " + ctx.mode + ", counting " + ctx.layer + " bytes; interval " +
           interval + "; " + ctx.ts + "\n";
}

void json_head(JsonWriter &w, const ViewContext &ctx, const char *type) {
    w.begin_object()
        .kv("schema", "netproc/1")
        .kv("ts", ctx.ts)
        .kv("type", type)
        .kv("mode", ctx.mode);
    w.kv("layer", ctx.layer).kv("interval_s", ctx.interval_s);
}

void json_counters(JsonWriter &w, const Counters &c, const char *prefix = "") {
    std::string p = prefix;
    w.kv(p + "tx_bytes", c.tx_bytes).kv(p + "rx_bytes", c.rx_bytes);
    w.kv(p + "tx_packets", c.tx_packets).kv(p + "rx_packets", c.rx_packets);
}

Counters sum(const Snapshot &s) {
    Counters c;
    for (const auto &f : s.flows)
        c += f.delta;
    return c;
}

}  // namespace

std::string text_processes(const ViewContext &ctx, const std::vector<ProcessRow> &rows,
                           const Snapshot &s) {
    std::string out = header(ctx);
    TextTable t;
    t.add_column("PID", Align::kRight)
        .add_column("USER")
        .add_column("COMM")
        .add_column("TX", Align::kRight);
    t.add_column("RX", Align::kRight)
        .add_column("TX/s", Align::kRight)
        .add_column("RX/s", Align::kRight);
    t.add_column("TXPKT", Align::kRight)
        .add_column("RXPKT", Align::kRight)
        .add_column("CONTAINER/UNIT", Align::kLeft, 24);
    t.add_column("CMDLINE", Align::kLeft, 60);
    for (const auto &r : rows) {
        std::string where = !r.container.empty() ? r.container : r.unit;
        t.add_row({std::to_string(r.pid) + (r.exited ? "x" : ""), r.user, r.comm,
                   human_bytes(r.delta.tx_bytes), human_bytes(r.delta.rx_bytes),
                   rate(r.delta.tx_bytes, ctx.interval_s), rate(r.delta.rx_bytes, ctx.interval_s),
                   std::to_string(r.delta.tx_packets), std::to_string(r.delta.rx_packets), where,
                   r.cmdline});
    }
    Counters total = sum(s);
    if (s.measures_unattributed) {
        t.add_row({"-", "-", "unattributed", human_bytes(s.unattributed.tx_bytes),
                   human_bytes(s.unattributed.rx_bytes),
                   rate(s.unattributed.tx_bytes, ctx.interval_s),
                   rate(s.unattributed.rx_bytes, ctx.interval_s),
                   std::to_string(s.unattributed.tx_packets),
                   std::to_string(s.unattributed.rx_packets), "", ""});
        total += s.unattributed;
    }
    t.add_row({"-", "-", "TOTAL", human_bytes(total.tx_bytes), human_bytes(total.rx_bytes),
               rate(total.tx_bytes, ctx.interval_s), rate(total.rx_bytes, ctx.interval_s),
               std::to_string(total.tx_packets), std::to_string(total.rx_packets), "", ""});
    out += t.render();
    if (std::string l = losses_line(s.losses); !l.empty()) out += "lost: " + l + "\n";
    return out;
}

std::string text_connections(const ViewContext &ctx, const Snapshot &s, ProcessResolver &resolver) {
    std::string out = header(ctx);
    TextTable t;
    t.add_column("PROTO")
        .add_column("LOCAL")
        .add_column("REMOTE")
        .add_column("PID", Align::kRight)
        .add_column("COMM");
    t.add_column("TX", Align::kRight)
        .add_column("RX", Align::kRight)
        .add_column("TXPKT", Align::kRight);
    t.add_column("RXPKT", Align::kRight);
    std::vector<const Flow *> flows;
    for (const auto &f : s.flows)
        flows.push_back(&f);
    std::stable_sort(flows.begin(), flows.end(), [](const Flow *a, const Flow *b) {
        return a->delta.tx_bytes + a->delta.rx_bytes > b->delta.tx_bytes + b->delta.rx_bytes;
    });
    for (const Flow *f : flows) {
        auto n = s.names.find(f->tgid);
        std::string comm =
            f->tgid ? resolver.describe(f->tgid, n == s.names.end() ? ProcName{} : n->second, false)
                          .comm
                    : "unattributed";
        t.add_row({proto_name(f->proto), endpoint(f->local, f->lport),
                   endpoint(f->remote, f->rport), f->tgid ? std::to_string(f->tgid) : "-", comm,
                   human_bytes(f->delta.tx_bytes), human_bytes(f->delta.rx_bytes),
                   std::to_string(f->delta.tx_packets), std::to_string(f->delta.rx_packets)});
    }
    out += t.render();
    if (std::string l = losses_line(s.losses); !l.empty()) out += "lost: " + l + "\n";
    return out;
}

std::vector<std::string> json_processes(const ViewContext &ctx,
                                        const std::vector<ProcessRow> &rows) {
    std::vector<std::string> lines;
    for (const auto &r : rows) {
        JsonWriter w;
        json_head(w, ctx, "process");
        w.kv("pid", r.pid).kv("user", r.user).kv("comm", r.comm).kv("cmdline", r.cmdline);
        w.kv("container", r.container).kv("unit", r.unit).kv("exited", r.exited);
        json_counters(w, r.delta);
        w.kv("tx_rate",
             ctx.interval_s > 0 ? static_cast<double>(r.delta.tx_bytes) / ctx.interval_s : 0.0);
        w.kv("rx_rate",
             ctx.interval_s > 0 ? static_cast<double>(r.delta.rx_bytes) / ctx.interval_s : 0.0);
        json_counters(w, r.total, "total_");
        w.end_object();
        lines.push_back(w.take());
    }
    return lines;
}

std::vector<std::string> json_connections(const ViewContext &ctx, const Snapshot &s,
                                          ProcessResolver &resolver) {
    std::vector<std::string> lines;
    for (const auto &f : s.flows) {
        JsonWriter w;
        json_head(w, ctx, "connection");
        auto n = s.names.find(f.tgid);
        w.kv("proto", proto_name(f.proto)).kv("local", endpoint(f.local, f.lport));
        w.kv("remote", endpoint(f.remote, f.rport)).kv("remote_name", name_of(ctx, f.remote));
        w.key("pid");
        if (f.tgid)
            w.value(f.tgid);
        else
            w.null();
        w.kv(
            "comm",
            f.tgid
                ? resolver.describe(f.tgid, n == s.names.end() ? ProcName{} : n->second, false).comm
                : "");
        w.kv("cgroup_id", f.cgroup_id);
        json_counters(w, f.delta);
        w.end_object();
        lines.push_back(w.take());
    }
    return lines;
}

std::string json_totals(const ViewContext &ctx, const Snapshot &s) {
    JsonWriter w;
    json_head(w, ctx, "totals");
    Counters total = sum(s);
    if (s.measures_unattributed) total += s.unattributed;
    json_counters(w, total);
    w.key("unattributed");
    if (s.measures_unattributed) {
        w.begin_object();
        json_counters(w, s.unattributed);
        w.end_object();
    } else {
        w.null();
    }
    w.kv("processes_exited", static_cast<unsigned>(s.exited.size()));
    w.kv("kernel_map_entries", s.kernel_entries);
    w.key("lost").begin_object();
    w.kv("flow_map_full_updates", s.losses.flows_full)
        .kv("flow_map_full_bytes", s.losses.bytes_full);
    w.kv("proc_map_full", s.losses.procs_full).kv("kprobe_stash_full", s.losses.stash_full);
    w.kv("socket_map_full", s.losses.socks_full).kv("closed_map_full", s.losses.closed_full);
    w.kv("released_map_full", s.losses.released_full)
        .kv("released_map_full_bytes", s.losses.released_bytes);
    w.kv("capture_drops", s.losses.capture_drops).kv("malformed_frames", s.losses.malformed);
    w.end_object();
    w.kv("peeks_skipped", s.losses.peeks_skipped);
    w.end_object();
    return w.take();
}

namespace {

// A Prometheus label value: backslash, quote and newline escaped, and
// anything that is not printable valid UTF-8 as \xNN, so the file stays valid.
std::string label(const std::string &v) {
    std::string esc = text_escape(v);  // already escapes backslash as "\\"
    std::string out;
    for (char c : esc) {
        if (c == '"')
            out += "\\\"";
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string prometheus_text(const ViewContext &ctx, const std::vector<ProcessRow> &rows,
                            const Snapshot &s) {
    std::string out;
    struct Metric {
        const char *name, *help;
        uint64_t Counters::*field;
    };
    const Metric metrics[] = {
        {"netproc_transmit_bytes_total", "Bytes sent by the process since netproc started",
         &Counters::tx_bytes},
        {"netproc_receive_bytes_total", "Bytes received by the process since netproc started",
         &Counters::rx_bytes},
        {"netproc_transmit_packets_total",
         "Send calls (eBPF modes) or frames (afpacket) since netproc started",
         &Counters::tx_packets},
        {"netproc_receive_packets_total",
         "Receive calls (eBPF modes) or frames (afpacket) since netproc started",
         &Counters::rx_packets},
    };
    for (const auto &m : metrics) {
        out += std::string("# HELP ") + m.name + " " + m.help + " (" + ctx.layer + ").\n";
        out += std::string("# TYPE ") + m.name + " counter\n";
        for (const auto &r : rows) {
            out += std::string(m.name) + "{pid=\"" + std::to_string(r.pid) + "\",comm=\"" +
                   label(r.comm) + "\",container=\"" + label(r.container) + "\",unit=\"" +
                   label(r.unit) + "\",mode=\"" + ctx.mode + "\"} " +
                   std::to_string(r.total.*m.field) + "\n";
        }
    }
    out += "# HELP netproc_lost_updates_total Updates netproc could not record, by reason.\n";
    out += "# TYPE netproc_lost_updates_total counter\n";
    out += "netproc_lost_updates_total{reason=\"flow_map_full\"} " +
           std::to_string(s.losses.flows_full) + "\n";
    out += "netproc_lost_updates_total{reason=\"capture_drops\"} " +
           std::to_string(s.losses.capture_drops) + "\n";
    out += "netproc_lost_updates_total{reason=\"malformed\"} " +
           std::to_string(s.losses.malformed) + "\n";
    return out;
}

}  // namespace bpfkit::netproc
