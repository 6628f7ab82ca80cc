// SPDX-License-Identifier: GPL-2.0-only
#include "httpsnoop_tracker.h"

#include <algorithm>

namespace bpfkit::httpsnoop {

const char *role_name(Role r) {
    switch (r) {
        case Role::Client:
            return "client";
        case Role::Server:
            return "server";
        default:
            return "unknown";
    }
}

const char *kind_name(RecordKind k) {
    switch (k) {
        case RecordKind::Exchange:
            return "exchange";
        case RecordKind::Timeout:
            return "timeout";
        case RecordKind::Unanswered:
            return "unanswered";
        case RecordKind::ResponseOnly:
            return "response_only";
        case RecordKind::Incomplete:
            return "incomplete";
    }
    return "?";
}

Record Tracker::base(const Conn &c, uint64_t ts) const {
    Record r;
    r.conn = c.info;
    r.role = c.role;
    r.ts_ns = ts;
    if (c.h2) r.proto = c.h2->mid_stream() ? "h2 (mid-stream)" : "h2";
    return r;
}

std::string_view Tracker::proto_of(const Message &m) const {
    return m.http10 ? "http/1.0" : "http/1.1";
}

Tracker::Conn::Conn(Tracker &t, const ConnKey &k, const ConnInfo &i)
    : key(k), info(i), out(stream(t, true)), in(stream(t, false)) {}

Http1Stream Tracker::Conn::stream(Tracker &t, bool written) {
    // A response answers a HEAD request when the oldest one waiting is one.
    return Http1Stream(
        [&t, this, written](Message &&m, Http1Stream::End how) {
            t.on_message(*this, written, std::move(m), how);
        },
        [this]() { return !pending.empty() && pending.front().msg.method == "HEAD"; },
        t.opts_.body_keep);
}

Tracker::Conn &Tracker::conn(const DataEvent &e) {
    // A connection is the process and the socket: the fds that name it
    // (dups) are kept with it, and a new socket behind a reused fd number
    // is a new connection.
    ConnKey key = e.key;
    key.fd = 0;
    auto note_fd = [&](Conn &c) {
        if (e.key.fd >= 0 && std::find(c.fds.begin(), c.fds.end(), e.key.fd) == c.fds.end() &&
            c.fds.size() < 16)
            c.fds.push_back(e.key.fd);
    };
    auto it = conns_.find(key);
    if (it != conns_.end()) {
        it->second.info.tid = e.info.tid;
        note_fd(it->second);
        return it->second;
    }
    if (conns_.size() >= opts_.max_conns) {
        // The least recently used goes, reported as it stands.
        auto oldest = std::min_element(conns_.begin(), conns_.end(), [](auto &a, auto &b) {
            return a.second.last_ns < b.second.last_ns;
        });
        ++stats_.conns_evicted;
        end_conn(oldest->second, e.chunk.ts_ns);
        conns_.erase(oldest);
    }
    Conn &c = conns_.try_emplace(key, *this, key, e.info).first->second;
    note_fd(c);
    return c;
}

void Tracker::on_message(Conn &c, bool written, Message &&m, Http1Stream::End how) {
    const uint64_t now = m.first_ts;
    if (m.request) {
        if (c.role == Role::Unknown) c.role = written ? Role::Client : Role::Server;
        if (how == Http1Stream::End::Closed && m.method.empty()) return;
        if (how == Http1Stream::End::Closed) {
            // Cut off by the close before its head or body was all there.
            ++stats_.incomplete;
            Record r = base(c, now);
            r.kind = RecordKind::Incomplete;
            r.proto = proto_of(m);
            r.request = std::move(m);
            emit_(std::move(r));
            return;
        }
        if (c.pending.size() >= opts_.max_pending) {
            ++stats_.pending_overflow;
            c.pending.pop_front();
        }
        c.pending.emplace_back(std::move(m));
        return;
    }
    if (c.role == Role::Unknown) c.role = written ? Role::Server : Role::Client;
    if (m.status >= 100 && m.status < 200 && m.status != 101) {
        ++stats_.informational;
        return;
    }
    Record r = base(c, now);
    r.proto = proto_of(m);
    if (c.pending.empty()) {
        // The request may still be arriving (an early response).
        Http1Stream &req_stream = c.role == Role::Client ? c.out : c.in;
        if (req_stream.in_message() && !req_stream.current().method.empty()) {
            r.request = req_stream.current();
            r.request->truncated = true;
        }
    } else {
        // An answer later than the timeout is late whether or not a sweep
        // came in between (the sweep runs every 100 ms): its timeout is
        // reported first, at the time it fell due.
        Pending &front = c.pending.front();
        if (!front.reported && m.first_ts >= front.msg.first_ts + opts_.timeout_ns)
            time_out(c, front, front.msg.first_ts + opts_.timeout_ns);
        r.late = front.reported;
        r.request = std::move(c.pending.front().msg);
        c.pending.pop_front();
    }
    if (r.request) {
        ++stats_.exchanges;
        r.kind = RecordKind::Exchange;
        r.latency_ns = m.first_ts >= r.request->first_ts
                           ? static_cast<int64_t>(m.first_ts - r.request->first_ts)
                           : 0;
        if (r.request->method == "CONNECT" && m.status >= 200 && m.status < 300) {
            c.out.set_opaque();
            c.in.set_opaque();
        }
    } else {
        ++stats_.response_only;
        r.kind = RecordKind::ResponseOnly;
    }
    if (m.status == 101) {  // switched protocols: not HTTP/1 from here
        c.out.set_opaque();
        c.in.set_opaque();
    }
    r.response = std::move(m);
    emit_(std::move(r));
}

void Tracker::on_h2(Conn &c, H2Exchange &&x) {
    Record r = base(c, x.has_request ? x.request.first_ts : x.response.first_ts);
    if (x.mid_stream) r.proto = "h2 (mid-stream)";
    if (x.has_request) r.request = std::move(x.request);
    if (x.has_response) r.response = std::move(x.response);
    if (r.request && r.response) {
        ++stats_.exchanges;
        r.kind = RecordKind::Exchange;
        r.latency_ns = r.response->first_ts >= r.request->first_ts
                           ? static_cast<int64_t>(r.response->first_ts - r.request->first_ts)
                           : 0;
    } else if (r.request) {
        ++stats_.unanswered;
        r.kind = RecordKind::Unanswered;
    } else {
        ++stats_.response_only;
        r.kind = RecordKind::ResponseOnly;
    }
    emit_(std::move(r));
}

void Tracker::data(const DataEvent &e) {
    ++stats_.events;
    Conn &c = conn(e);
    c.last_ns = e.chunk.ts_ns;
    // The kernel side sends the comm, cgroup and addresses in a connection's
    // first event only (and in TLS events); the others keep what came.
    if (!e.info.comm.empty()) c.info.comm = e.info.comm;
    if (e.info.cgroup_id) c.info.cgroup_id = e.info.cgroup_id;
    if (e.info.family) {
        c.info.family = e.info.family;
        std::copy(std::begin(e.info.laddr), std::end(e.info.laddr), c.info.laddr);
        std::copy(std::begin(e.info.raddr), std::end(e.info.raddr), c.info.raddr);
        c.info.lport = e.info.lport;
        c.info.rport = e.info.rport;
    }
    std::string_view first(reinterpret_cast<const char *>(e.chunk.data.data()),
                           std::min<size_t>(e.chunk.data.size(), 24));
    if (!c.h2_checked && !c.h2) {
        c.h2_checked = true;
        if (is_h2_preface(first)) {
            ++stats_.h2_conns;
            c.role = e.write ? Role::Client : Role::Server;
            Conn *cp = &c;
            c.h2 = std::make_unique<H2Conn>(
                true, [this, cp](H2Exchange &&x) { on_h2(*cp, std::move(x)); });
        }
    }
    if (c.h2) {
        const bool from_client = (c.role == Role::Client) == e.write;
        c.h2->feed(from_client, e.chunk);
        return;
    }
    Http1Stream &s = e.write ? c.out : c.in;
    Http1Stream &other = e.write ? c.in : c.out;
    // A new message on one side while the other side's response waits for
    // body bytes never seen (sent by sendfile): that response is over.
    if (!s.in_message() && other.in_body() && !other.current().request &&
        e.chunk.data.size() >= 4 && starts_message(first) && !first.starts_with("HTTP/"))
        other.supersede();
    s.feed(e.chunk);
}

void Tracker::end_conn(Conn &c, uint64_t now_ns) {
    c.out.close();
    c.in.close();
    if (c.h2) c.h2->close();
    while (!c.pending.empty()) {
        Pending p = std::move(c.pending.front());
        c.pending.pop_front();
        if (p.reported) continue;
        ++stats_.unanswered;
        Record r = base(c, now_ns);
        r.kind = RecordKind::Unanswered;
        r.proto = proto_of(p.msg);
        r.request = std::move(p.msg);
        emit_(std::move(r));
    }
    auto add = [](const StreamStats &s, uint64_t &mal, uint64_t &gaps, uint64_t &tr) {
        mal += s.malformed;
        gaps += s.gaps;
        tr += s.truncated;
    };
    add(c.out.stats(), retired_malformed_, retired_gaps_, retired_trunc_);
    add(c.in.stats(), retired_malformed_, retired_gaps_, retired_trunc_);
    if (c.h2) retired_gaps_ += c.h2->stats().lost;
}

void Tracker::close(uint32_t tgid, int32_t fd, uint64_t sk, uint64_t now_ns) {
    for (auto it = conns_.begin(); it != conns_.end();) {
        const ConnKey &k = it->first;
        Conn &c = it->second;
        bool match = k.sk == sk && (tgid == 0 || k.tgid == tgid);
        if (match && tgid != 0) {
            // close() of one of its fds: the connection ends with the last
            // (a server may read from fd 0 and write to fd 1, dups of one
            // socket); the socket's own end (tgid 0) ends it in any case.
            std::erase(c.fds, fd);
            match = c.fds.empty();
        }
        if (!match) {
            ++it;
            continue;
        }
        end_conn(it->second, now_ns);
        it = conns_.erase(it);
    }
}

void Tracker::time_out(Conn &c, Pending &p, uint64_t now_ns) {
    p.reported = true;
    ++stats_.timeouts;
    Record r = base(c, now_ns);
    r.kind = RecordKind::Timeout;
    r.proto = proto_of(p.msg);
    r.request = p.msg;
    emit_(std::move(r));
}

void Tracker::sweep(uint64_t now_ns) {
    for (auto &[k, c] : conns_) {
        for (auto &p : c.pending) {
            if (p.reported || now_ns < p.msg.first_ts + opts_.timeout_ns) continue;
            time_out(c, p, now_ns);
        }
    }
}

void Tracker::finish(uint64_t now_ns) {
    sweep(now_ns);
    // Still open at the end: pending requests are reported by their timeout only.
    for (auto &[k, c] : conns_) {
        auto add = [this](const StreamStats &s) {
            retired_malformed_ += s.malformed;
            retired_gaps_ += s.gaps;
            retired_trunc_ += s.truncated;
        };
        add(c.out.stats());
        add(c.in.stats());
    }
    conns_.clear();
}

const TrackerStats &Tracker::stats() const {
    stats_.malformed = retired_malformed_;
    stats_.gaps = retired_gaps_;
    stats_.truncated_heads = retired_trunc_;
    for (auto &[k, c] : conns_) {
        stats_.malformed += c.out.stats().malformed + c.in.stats().malformed;
        stats_.gaps += c.out.stats().gaps + c.in.stats().gaps;
        stats_.truncated_heads += c.out.stats().truncated + c.in.stats().truncated;
        if (c.h2) stats_.gaps += c.h2->stats().lost;
    }
    return stats_;
}

}  // namespace bpfkit::httpsnoop
