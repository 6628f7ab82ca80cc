// SPDX-License-Identifier: GPL-2.0-only
#include "httpsnoop_output.h"

#include <sys/socket.h>
#include <time.h>

#include <array>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "json.h"
#include "packet.h"
#include "text.h"

namespace bpfkit::httpsnoop {

namespace {

std::string wall_time(const OutputContext &ctx, uint64_t mono_ns, int digits) {
    return mono_iso8601(mono_ns, ctx.wall_offset_ns, digits);
}

std::string ms(int64_t ns) {
    char b[32];
    snprintf(b, sizeof(b), "%.3f", static_cast<double>(ns) / 1e6);
    return b;
}

}  // namespace

std::string shown_path(const std::string &path, bool no_query) {
    if (!no_query) return path;
    size_t q = path.find('?');
    return q == std::string::npos ? path : path.substr(0, q);
}

void address_append(std::string &out, const ConnInfo &c, bool local) {
    const uint8_t *a = local ? c.laddr : c.raddr;
    if (c.family == AF_INET) {
        // IPv4 made in place, without a string of its own (a record per exchange).
        char b[16];
        char *p = b;
        for (int i = 0; i < 4; i++) {
            if (i) *p++ = '.';
            p = std::to_chars(p, b + sizeof(b), a[i]).ptr;
        }
        out.append(b, static_cast<size_t>(p - b));
    } else if (c.family == AF_INET6) {
        out += '[';
        out += pkt::IpAddr::v6(a).str();
        out += ']';
    } else {
        return;
    }
    out += ':';
    json_number_append(out, static_cast<unsigned long long>(local ? c.lport : c.rport));
}

std::string address(const ConnInfo &c, bool local) {
    std::string s;
    address_append(s, c, local);
    return s;
}

std::string text_header(const OutputContext &ctx) {
    char b[256];
    snprintf(b, sizeof(b),
             "# httpsnoop mode: %s\n%-12s %7s %-15s %-6s %-3s %-8s %-7s %6s %10s %8s %8s  %s",
             ctx.mode.c_str(), "TIME", "PID", "COMM", "ROLE", "TLS", "PROTO", "METHOD", "STATUS",
             "LAT_MS", "REQ_B", "RESP_B", "HOST PATH");
    return b;
}

namespace {

// A cell padded to width w (display columns), left- or right-aligned.
std::string cell(const std::string &text, size_t w, bool right = false) {
    std::string s = text_escape(text);
    size_t dw = display_width(s);
    std::string pad = dw < w ? std::string(w - dw, ' ') : "";
    return right ? pad + s : s + pad;
}

}  // namespace

std::string text_record(const Record &r, const OutputContext &ctx, const std::string &) {
    std::string time = wall_time(ctx, r.request ? r.request->first_ts : r.ts_ns, 3);
    size_t t = time.find('T');
    if (t != std::string::npos) time = time.substr(t + 1, 12);
    std::string method = r.request && !r.request->method.empty() ? r.request->method : "-";
    std::string status = r.response ? std::to_string(r.response->status) : kind_name(r.kind);
    if (r.kind == RecordKind::Exchange && !r.response) status = "-";
    std::string lat = r.latency_ns >= 0 ? ms(r.latency_ns) : "-";
    std::string host = r.request ? r.request->host : "";
    std::string path = r.request ? shown_path(r.request->path, ctx.no_query) : "";
    // Strings from the wire go through text_escape() and are never cut
    // inside a character.
    std::string line = cell(time, 12) + ' ' + cell(std::to_string(r.conn.pid), 7, true) + ' ' +
                       cell(std::string(r.conn.comm.view()), 15) + ' ' +
                       cell(role_name(r.role), 6) + ' ' + cell(r.conn.tls ? "yes" : "no", 3) + ' ' +
                       cell(r.proto == "h2 (mid-stream)" ? "h2-mid" : std::string(r.proto), 8) +
                       ' ' + cell(method, 7) + ' ' + cell(status, 6, true) + ' ' +
                       cell(lat, 10, true) + ' ' +
                       cell(std::to_string(r.request ? r.request->bytes() : 0), 8, true) + ' ' +
                       cell(std::to_string(r.response ? r.response->bytes() : 0), 8, true) + "  ";
    line += text_escape(host.empty() ? "-" : host);
    line += ' ';
    line += text_escape(path.empty() ? "-" : path);
    if (r.kind != RecordKind::Exchange) line += std::string("  [") + kind_name(r.kind) + "]";
    return line;
}

namespace {

// The members of a record go in with their keys as literals, comma and
// quotes included: one append per key (the record is made per exchange).
template <size_t N>
void lit(std::string &o, const char (&s)[N]) {
    o.append(s, N - 1);
}

void number(std::string &o, long long v) {
    json_number_append(o, v);
}

// The address as a JSON string ("" when unknown; nothing in it to escape).
void json_address(std::string &o, const ConnInfo &c, bool local) {
    o += '"';
    address_append(o, c, local);
    o += '"';
}

// The members from "comm" to "tls" are the same in every record of a
// connection: they are made once and kept for the connections seen last,
// found by what they were made from (so a record never gets another's).
struct ConnJson {
    bool used = false;
    ConnInfo conn;
    Role role = Role::Unknown;
    std::string container, json;
};

bool same_conn(const ConnJson &e, const Record &r, const std::string &container) {
    const ConnInfo &a = e.conn, &b = r.conn;
    return e.used && a.pid == b.pid && a.fd == b.fd && a.lport == b.lport && a.rport == b.rport &&
           a.family == b.family && a.tls == b.tls && e.role == r.role &&
           memcmp(a.laddr, b.laddr, sizeof(a.laddr)) == 0 &&
           memcmp(a.raddr, b.raddr, sizeof(a.raddr)) == 0 && a.comm == b.comm &&
           e.container == container;
}

void conn_json_append(std::string &out, const Record &r, const std::string &container) {
    lit(out, R"(,"comm":)");
    json_escape_append(out, r.conn.comm);
    lit(out, R"(,"container":)");
    json_escape_append(out, container);
    lit(out, R"(,"role":")");
    out += role_name(r.role);
    lit(out, R"(","fd":)");
    number(out, r.conn.fd);
    lit(out, R"(,"local":)");
    json_address(out, r.conn, true);
    lit(out, R"(,"remote":)");
    json_address(out, r.conn, false);
    if (r.conn.tls)
        lit(out, R"(,"tls":true)");
    else
        lit(out, R"(,"tls":false)");
}

const std::string &conn_json(const Record &r, const std::string &container) {
    thread_local std::array<ConnJson, 256> kept;
    uint64_t h = (static_cast<uint64_t>(r.conn.pid) << 32 | static_cast<uint32_t>(r.conn.fd)) ^
                 (static_cast<uint64_t>(r.conn.lport) << 16 | r.conn.rport);
    h *= 0x9e3779b97f4a7c15ULL;
    ConnJson &e = kept[(h >> 56) % kept.size()];
    if (!same_conn(e, r, container)) {
        e.used = true;
        e.conn = r.conn;
        e.role = r.role;
        e.container = container;
        e.json.clear();
        conn_json_append(e.json, r, container);
    }
    return e.json;
}

// Writes a record at a pointer into room made beforehand for the most it
// can take: one resize per record instead of an append per member.
struct At {
    char *p;
    template <size_t N>
    void lit(const char (&s)[N]) {
        memcpy(p, s, N - 1);
        p += N - 1;
    }
    void str(std::string_view s) {
        memcpy(p, s.data(), s.size());
        p += s.size();
    }
    template <class T>
    void num(T v) {
        p = std::to_chars(p, p + 24, v).ptr;
    }
    void esc(std::string_view s) { p = json_escape_to(p, s); }
    void esc_or_null(bool have, std::string_view s) {
        if (have)
            esc(s);
        else
            lit("null");
    }
};

// Room for everything but the strings from the wire and the kept parts:
// the keys, numbers, the time, the words.
constexpr size_t kFixedRoom = 640;

}  // namespace

void json_record_append(std::string &out, const Record &r, const OutputContext &ctx,
                        const std::string &container) {
    // The record's constant start, made again only when the mode differs.
    thread_local std::string head_mode, head;
    if (head.empty() || head_mode != ctx.mode) {
        head_mode = ctx.mode;
        head.clear();
        lit(head, R"({"schema":"httpsnoop/1","mode":)");
        json_escape_append(head, ctx.mode);
        lit(head, R"(,"time":")");
    }
    const std::string &cj = conn_json(r, container);
    const Message *q = r.request ? &*r.request : nullptr;
    const Message *s = r.response ? &*r.response : nullptr;
    std::string_view method = q ? std::string_view(q->method) : "";
    std::string_view path = q ? std::string_view(q->path) : "";
    if (ctx.no_query) path = path.substr(0, path.find('?'));
    std::string_view host = q ? std::string_view(q->host) : "";
    size_t room = kFixedRoom + head.size() + cj.size() + r.proto.size() +
                  json_escape_room(method.size()) + json_escape_room(path.size()) +
                  json_escape_room(host.size());
    if (ctx.body)
        room += json_escape_room(q ? q->body.size() : 0) + json_escape_room(s ? s->body.size() : 0);
    const size_t at = out.size();
    out.resize(at + room);
    At w{out.data() + at};
    w.str(head);
    // The time is digits and punctuation: nothing to escape.
    w.p = mono_iso8601_to(w.p, r.ts_ns, ctx.wall_offset_ns, 6);
    // kind_name() and role_name() are plain ASCII words.
    w.lit(R"(","event":")");
    w.str(kind_name(r.kind));
    w.lit(R"(","pid":)");
    w.num(r.conn.pid);
    w.lit(R"(,"tid":)");
    w.num(r.conn.tid);
    w.str(cj);
    // The protocol is one of the literals in Record: nothing to escape.
    w.lit(R"(,"proto":")");
    w.str(r.proto);
    w.lit(R"(","method":)");
    w.esc_or_null(!method.empty(), method);
    w.lit(R"(,"path":)");
    w.esc_or_null(q && !q->path.empty(), path);
    w.lit(R"(,"host":)");
    w.esc_or_null(!host.empty(), host);
    w.lit(R"(,"status":)");
    if (s && s->status)
        w.num(s->status);
    else
        w.lit("null");
    w.lit(R"(,"latency_us":)");
    if (r.latency_ns >= 0)
        w.num(r.latency_ns / 1000);
    else
        w.lit("null");
    w.lit(R"(,"request_bytes":)");
    if (q)
        w.num(q->bytes());
    else
        w.lit("null");
    w.lit(R"(,"response_bytes":)");
    if (s)
        w.num(s->bytes());
    else
        w.lit("null");
    if ((q && q->truncated) || (s && s->truncated))
        w.lit(R"(,"truncated":true)");
    else
        w.lit(R"(,"truncated":false)");
    if (s && s->body_unseen) w.lit(R"(,"body_unseen":true)");
    if (r.late) w.lit(R"(,"late":true)");
    if (ctx.body) {
        w.lit(R"(,"request_body":)");
        w.esc_or_null(q != nullptr, q ? std::string_view(q->body) : "");
        w.lit(R"(,"response_body":)");
        w.esc_or_null(s != nullptr, s ? std::string_view(s->body) : "");
    }
    *w.p++ = '}';
    out.resize(static_cast<size_t>(w.p - out.data()));
}

std::string json_record(const Record &r, const OutputContext &ctx, const std::string &container) {
    std::string out;
    out.reserve(384);
    json_record_append(out, r, ctx, container);
    return out;
}

std::string text_lost(uint64_t drops, uint64_t total) {
    return "# lost " + std::to_string(drops) + " events (ring buffer full; " +
           std::to_string(total) + " in all)";
}

std::string json_lost(uint64_t drops, uint64_t total, const OutputContext &ctx, uint64_t now_ns) {
    JsonWriter w;
    w.begin_object()
        .kv("schema", "httpsnoop/1")
        .kv("mode", ctx.mode)
        .kv("time", wall_time(ctx, now_ns, 6))
        .kv("event", "lost")
        .kv("lost_events", static_cast<unsigned long long>(drops))
        .kv("lost_total", static_cast<unsigned long long>(total))
        .end_object();
    return w.take();
}

namespace {

template <class F>
void each_stat(const RunStats &s, F f) {
    const TrackerStats &t = s.tracker;
    f("exchanges", t.exchanges);
    f("timeouts", t.timeouts);
    f("unanswered", t.unanswered);
    f("response_only", t.response_only);
    f("incomplete", t.incomplete);
    f("informational", t.informational);
    f("h2_connections", t.h2_conns);
    f("events", s.events);
    f("lost_events", s.ring_drops);
    f("truncated_captures", s.truncated);
    f("truncated_heads", t.truncated_heads);
    f("framing_lost", t.gaps);
    f("malformed", t.malformed);
    f("pending_overflow", t.pending_overflow);
    f("connections_evicted", t.conns_evicted);
    f("not_http_connections", s.not_http);
    f("untracked_calls", s.args_full);
    f("unclassified_sockets", s.conns_full);
    f("unreadable_buffers", s.read_faults);
    f("bad_events", s.bad_events);
    f("tls_calls", s.tls_calls);
    f("tls_without_fd", s.tls_nofd);
    f("tls_libraries", s.tls_libraries);
    f("tls_attach_failed", s.tls_attach_failed);
}

}  // namespace

std::string text_stats(const RunStats &s) {
    std::string line = "# totals:";
    each_stat(s, [&](const char *k, uint64_t v) {
        line += ' ';
        line += k;
        line += '=';
        line += std::to_string(v);
    });
    return line;
}

std::string json_stats(const RunStats &s, const OutputContext &ctx, uint64_t now_ns) {
    JsonWriter w;
    w.begin_object()
        .kv("schema", "httpsnoop/1")
        .kv("mode", ctx.mode)
        .kv("time", wall_time(ctx, now_ns, 6))
        .kv("event", "stats");
    each_stat(s, [&](const char *k, uint64_t v) { w.kv(k, static_cast<unsigned long long>(v)); });
    w.end_object();
    return w.take();
}

}  // namespace bpfkit::httpsnoop
