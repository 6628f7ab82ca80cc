// SPDX-License-Identifier: GPL-2.0-only
#include "dnssnoop_output.h"

#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bpfkit_config.h"
#include "json.h"  // common/
#include "text.h"  // common/

namespace bpfkit::dnssnoop {

std::string proto_name(uint8_t proto) {
    return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : std::to_string(proto);
}

std::string answer_data(const dns::Record &r) {
    return r.rdata_presentation();
}

std::string wall_time(const OutputContext &ctx, uint64_t mono_ns) {
    return mono_iso8601(mono_ns, ctx.wall_offset_ns, 6);
}

namespace {

// The message that says what was asked: the query if seen, else the response.
const dns::Message *asked(const Event &e) {
    if (e.query) return &*e.query;
    if (e.response) return &*e.response;
    return nullptr;
}

const dns::Question *question(const Event &e) {
    if (e.query && !e.query->questions.empty()) return &e.query->questions.front();
    if (e.response && !e.response->questions.empty()) return &e.response->questions.front();
    return nullptr;
}

// The message whose flags and EDNS the record shows: the response if there is one.
const dns::Message *shown(const Event &e) {
    if (e.response) return &*e.response;
    return asked(e);
}

// Every record starts the same way.
void begin_record(JsonWriter &w, const OutputContext &ctx, uint64_t mono_ns, const char *event) {
    w.begin_object()
        .kv("schema", "dnssnoop/1")
        .kv("mode", ctx.mode)
        .kv("time", wall_time(ctx, mono_ns))
        .kv("event", event);
}

void owner_fields(JsonWriter &w, const Owner &o, bool full) {
    if (o.known) {
        w.kv("pid", o.pid);
    } else {
        w.key("pid").null();
    }
    if (full) {
        if (o.known && o.tid) {
            w.kv("tid", *o.tid);
        } else {
            w.key("tid").null();
        }
    }
    if (o.known && !o.comm.empty()) {
        w.kv("comm", o.comm);
    } else {
        w.key("comm").null();  // unknown, or the process was gone before its name was read
    }
    if (!full) return;
    if (o.known && o.uid) {
        w.kv("uid", *o.uid);
    } else {
        w.key("uid").null();
    }
    if (o.container) {
        w.kv("container", *o.container);
    } else {
        w.key("container").null();
    }
}

void tuple_fields(JsonWriter &w, const Event &e) {
    w.kv("client", e.client.addr.str())
        .kv("client_port", e.client.port)
        .kv("server", e.server.addr.str())
        .kv("server_port", e.server.port);
}

void question_fields(JsonWriter &w, const Event &e) {
    const dns::Message *m = asked(e);
    w.kv("id", m ? m->id : 0);
    if (const dns::Question *q = question(e)) {
        w.kv("qname", q->name.presentation())
            .kv("qtype", dns::type_name(q->type))
            .kv("qclass", dns::class_name(q->klass));
    } else {
        w.key("qname").null().key("qtype").null().key("qclass").null();
    }
}

void flags_fields(JsonWriter &w, const dns::Message &m) {
    w.key("flags")
        .begin_object()
        .kv("aa", m.aa)
        .kv("tc", m.tc)
        .kv("rd", m.rd)
        .kv("ra", m.ra)
        .kv("ad", m.ad)
        .kv("cd", m.cd)
        .end_object();
    if (m.edns.present) {
        w.key("edns")
            .begin_object()
            .kv("udp_size", m.edns.udp_size)
            .kv("do", m.edns.do_bit)
            .end_object();
    } else {
        w.key("edns").null();
    }
}

void answers_field(JsonWriter &w, const dns::Message &m) {
    w.key("answers").begin_array();
    for (const dns::Record &r : m.answers) {
        w.begin_object()
            .kv("name", r.name.presentation())
            .kv("type", dns::type_name(r.type))
            .kv("ttl", r.ttl)
            .kv("data", answer_data(r))
            .end_object();
    }
    w.end_array();
}

}  // namespace

std::string json_event(const Event &e, const OutputContext &ctx) {
    JsonWriter w;
    begin_record(w, ctx, e.ts_ns, event_name(e.kind));
    switch (e.kind) {
        case EventKind::Malformed:
            w.kv("reason", e.reason).kv("proto", proto_name(e.proto));
            tuple_fields(w, e);
            w.kv("length", e.length);
            owner_fields(w, e.owner, false);
            break;
        case EventKind::Dot:
            owner_fields(w, e.owner, false);
            w.kv("proto", proto_name(e.proto));
            tuple_fields(w, e);
            break;
        case EventKind::Query:
        case EventKind::Answer:
        case EventKind::Timeout:
        case EventKind::Unmatched: {
            owner_fields(w, e.owner, true);
            w.kv("proto", proto_name(e.proto));
            tuple_fields(w, e);
            question_fields(w, e);
            const dns::Message *m = shown(e);
            if (e.kind == EventKind::Answer || e.kind == EventKind::Unmatched) {
                w.kv("rcode", dns::rcode_name(e.response->rcode));
                if (e.kind == EventKind::Answer) {
                    w.kv("latency_us", e.latency_ns / 1000);
                } else {
                    w.key("latency_us").null();
                }
            }
            if (m) flags_fields(w, *m);
            if (e.kind == EventKind::Query) break;
            if (e.kind != EventKind::Timeout) answers_field(w, *e.response);
            w.kv("authority", m ? m->authority.size() : 0)
                .kv("additional", m ? m->additional.size() : 0)
                .kv("retransmits", e.retransmits);
            if (e.kind == EventKind::Timeout) w.kv("timeout_us", e.timeout_ns / 1000);
            if (e.truncated) w.kv("truncated", true);
            break;
        }
    }
    w.end_object();
    return w.take();
}

std::string text_header(const OutputContext &ctx) {
    char cols[160];
    snprintf(cols, sizeof(cols), "%-15s %7s %-15s %-22s %-5s %-6s %-30s %-9s %11s %s", "TIME",
             "PID", "COMM", "SERVER", "PROTO", "QTYPE", "QNAME", "RCODE", "LATENCY", "ANSWERS");
    return std::string("# dnssnoop ") + BPFKIT_VERSION + ", mode " + ctx.mode + "\n" + cols + "\n";
}

std::string text_event(const Event &e, const OutputContext &ctx) {
    std::string time = wall_time(ctx, e.ts_ns);
    time = time.size() > 11 ? time.substr(11, 15) : time;  // HH:MM:SS.uuuuuu
    std::string pid = e.owner.known ? std::to_string(e.owner.pid) : "-";
    std::string comm = e.owner.known && !e.owner.comm.empty() ? text_escape(e.owner.comm) : "-";
    std::string server = e.server.addr.str();
    if (e.server.port != 53)
        server = (e.server.addr.family == AF_INET6 ? "[" + server + "]" : server) + ":" +
                 std::to_string(e.server.port);
    std::string proto = proto_name(e.proto), qtype = "-", qname = "-", rcode = "-", latency = "-",
                answers = "-";
    if (const dns::Question *q = question(e)) {
        qtype = dns::type_name(q->type);
        qname = q->name.presentation();
    }
    switch (e.kind) {
        case EventKind::Query:
            rcode = "query";
            break;
        case EventKind::Timeout:
            rcode = "timeout";
            break;
        case EventKind::Malformed:
            rcode = "malformed";
            answers = e.reason;
            break;
        case EventKind::Dot:
            proto = "dot";
            break;
        case EventKind::Answer:
        case EventKind::Unmatched: {
            rcode = dns::rcode_name(e.response->rcode);
            if (e.kind == EventKind::Answer) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%.3fms",
                         static_cast<double>(e.latency_ns / 1000) / 1000.0);
                latency = buf;
            } else {
                latency = "unmatched";
            }
            std::string a;
            for (const dns::Record &r : e.response->answers)
                a += (a.empty() ? "" : ",") + text_escape(answer_data(r));
            if (!a.empty()) answers = a;
            break;
        }
    }
    char head[200];
    snprintf(head, sizeof(head), "%-15s %7s %-15s %-22s %-5s %-6s ", time.c_str(), pid.c_str(),
             comm.c_str(), server.c_str(), proto.c_str(), qtype.c_str());
    char tail[64];
    snprintf(tail, sizeof(tail), " %-9s %11s ", rcode.c_str(), latency.c_str());
    std::string line = head;
    line += qname;
    if (qname.size() < 30) line.append(30 - qname.size(), ' ');
    line += tail;
    line += answers;
    line += "\n";
    return line;
}

namespace {

// The stats fields in order, for both forms.
std::vector<std::pair<const char *, uint64_t>> stats_fields(const RunStats &s) {
    return {{"transactions", s.transactions},
            {"timeouts", s.timeouts},
            {"unmatched", s.unmatched},
            {"malformed", s.malformed},
            {"ring_drops", s.ring_drops},
            {"truncated", s.truncated},
            {"retransmits", s.retransmits},
            {"no_owner", s.no_owner},
            {"pending_evicted", s.pending_evicted},
            {"tcp_gaps", s.tcp_gaps}};
}

}  // namespace

std::string json_stats(const RunStats &s, const OutputContext &ctx, uint64_t now_mono_ns) {
    JsonWriter w;
    begin_record(w, ctx, now_mono_ns, "stats");
    for (const auto &[name, v] : stats_fields(s))
        w.kv(name, v);
    w.end_object();
    return w.take();
}

std::string text_stats(const RunStats &s) {
    std::string line = "# stats:";
    for (const auto &[name, v] : stats_fields(s))
        line += std::string(" ") + name + "=" + std::to_string(v);
    return line + "\n";
}

// ---- summary ----

namespace {

template <class K>
void count(std::map<K, uint64_t> &m, const K &k) {
    auto it = m.find(k);
    if (it != m.end()) {
        ++it->second;
    } else if (m.size() < Summary::kMaxKeys) {
        m.emplace(k, 1);
    }
}

}  // namespace

void Summary::add(const Event &e) {
    if (e.kind != EventKind::Answer && e.kind != EventKind::Timeout) return;
    if (const dns::Question *q = question(e)) count(names_, q->name.presentation());
    count(procs_, Proc{e.owner.known ? e.owner.pid : 0, e.owner.known ? e.owner.comm : ""});
    if (e.kind == EventKind::Timeout) {
        ++timeouts_;
        return;
    }
    ++transactions_;
    rcodes_[dns::rcode_name(e.response->rcode)]++;
    uint64_t us = e.latency_ns / 1000;
    ++seen_latencies_;
    if (latencies_us_.size() < kMaxSamples) {
        latencies_us_.push_back(us);
    } else {
        // Reservoir sampling (xorshift): every latency equally likely to be kept.
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        uint64_t j = rng_ % seen_latencies_;
        if (j < kMaxSamples) latencies_us_[j] = us;
    }
}

int64_t Summary::percentile_us(double p) const {
    if (latencies_us_.empty()) return -1;
    std::vector<uint64_t> v = latencies_us_;
    std::sort(v.begin(), v.end());
    double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
    size_t i = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
    return static_cast<int64_t>(v[std::min(i, v.size() - 1)]);
}

namespace {

template <class K>
std::vector<std::pair<K, uint64_t>> top(const std::map<K, uint64_t> &m, size_t n) {
    std::vector<std::pair<K, uint64_t>> v(m.begin(), m.end());
    std::stable_sort(v.begin(), v.end(),
                     [](const auto &a, const auto &b) { return a.second > b.second; });
    if (v.size() > n) v.resize(n);
    return v;
}

}  // namespace

std::string Summary::json(const OutputContext &ctx, uint64_t now_mono_ns) const {
    JsonWriter w;
    begin_record(w, ctx, now_mono_ns, "summary");
    w.kv("transactions", transactions_).kv("timeouts", timeouts_);
    w.key("rcodes").begin_object();
    for (const auto &[name, n] : rcodes_)
        w.kv(name, n);
    w.end_object();
    w.key("top_names").begin_array();
    for (const auto &[name, n] : top(names_, kTop))
        w.begin_object().kv("name", name).kv("count", n).end_object();
    w.end_array();
    w.key("top_processes").begin_array();
    for (const auto &[p, n] : top(procs_, kTop)) {
        w.begin_object();
        if (p.pid) {
            w.kv("pid", p.pid).kv("comm", p.comm);
        } else {
            w.key("pid").null().key("comm").null();
        }
        w.kv("count", n).end_object();
    }
    w.end_array();
    if (latencies_us_.empty()) {
        w.key("latency_us").null();
    } else {
        w.key("latency_us")
            .begin_object()
            .kv("p50", percentile_us(50))
            .kv("p90", percentile_us(90))
            .kv("p99", percentile_us(99))
            .end_object();
    }
    w.end_object();
    return w.take();
}

std::string Summary::text() const {
    std::string s = "# summary: " + std::to_string(transactions_) + " transactions, " +
                    std::to_string(timeouts_) + " timeouts\n";
    std::string r;
    for (const auto &[name, n] : rcodes_)
        r += " " + name + "=" + std::to_string(n);
    s += "# rcodes:" + (r.empty() ? std::string(" -") : r) + "\n";
    if (!latencies_us_.empty()) {
        char buf[128];
        snprintf(buf, sizeof(buf), "# latency: p50 %.3fms p90 %.3fms p99 %.3fms\n",
                 static_cast<double>(percentile_us(50)) / 1000.0,
                 static_cast<double>(percentile_us(90)) / 1000.0,
                 static_cast<double>(percentile_us(99)) / 1000.0);
        s += buf;
    }
    s += "# top names:\n";
    for (const auto &[name, n] : top(names_, kTop))
        s += "#   " + std::to_string(n) + " " + name + "\n";
    s += "# top processes:\n";
    for (const auto &[p, n] : top(procs_, kTop))
        s += "#   " + std::to_string(n) + " " + (p.pid ? std::to_string(p.pid) : "-") + " " +
             (p.pid ? text_escape(p.comm) : "-") + "\n";
    return s;
}

}  // namespace bpfkit::dnssnoop
