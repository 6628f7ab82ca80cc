// libFuzzer target for dnssnoop's user space (tools/dnssnoop/): hostile
// packets, in any order, into the tracker (IP parsing, TCP reassembly per
// connection and direction, DNS parsing, matching, timeouts) and every record
// it makes through the JSON and text formatters. Nothing may crash, hang or
// leak, state stays bounded, and every record is one line of valid UTF-8.
//
// The input is a list of packets, each: op (1 byte), length (1 byte), then
// that many bytes. op's low bits choose what the bytes are:
//   0  a whole IP packet as captured (raw)
//   1  a UDP payload, to the server (query side)
//   2  a UDP payload, from the server
//   3  a TCP segment to the server: seq (4 bytes), flags (1), payload
//   4  a TCP segment from the server: the same
//   5  time passes (the byte is tens of ms) and the timeouts are swept
// and its high bits pick one of four client ports and two sockets, so
// streams and queries meet.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "dnssnoop_output.h"
#include "dnssnoop_tcp.h"
#include "dnssnoop_tracker.h"
#include "json_decode.h"

namespace {

using namespace bpfkit;
using namespace bpfkit::dnssnoop;
using Bytes = std::vector<uint8_t>;

void check(bool ok) {
    if (!ok) std::abort();
}

void put16(Bytes &b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

// An IPv4 packet 10.0.0.1:cport <-> 10.0.0.53:53 around a payload.
Bytes wrap(bool tcp, bool to_server, uint16_t cport, uint32_t seq, uint8_t flags, const uint8_t *p,
           size_t n) {
    const size_t l4 = tcp ? 20 : 8;
    Bytes b(20 + l4 + n, 0);
    b[0] = 0x45;
    put16(b, 2, static_cast<uint16_t>(b.size()));
    b[8] = 64;
    b[9] = tcp ? IPPROTO_TCP : IPPROTO_UDP;
    const uint8_t client[4] = {10, 0, 0, 1}, server[4] = {10, 0, 0, 53};
    const uint8_t *src = to_server ? client : server, *dst = to_server ? server : client;
    for (int i = 0; i < 4; i++) {
        b[12 + static_cast<size_t>(i)] = src[i];
        b[16 + static_cast<size_t>(i)] = dst[i];
    }
    put16(b, 20, to_server ? cport : 53);
    put16(b, 22, to_server ? 53 : cport);
    if (tcp) {
        put16(b, 24, static_cast<uint16_t>(seq >> 16));
        put16(b, 26, static_cast<uint16_t>(seq));
        b[32] = 5 << 4;
        b[33] = flags;
    } else {
        put16(b, 24, static_cast<uint16_t>(8 + n));
    }
    for (size_t i = 0; i < n; i++)
        b[20 + l4 + i] = p[i];
    return b;
}

void check_line(const std::string &s, bool json) {
    check(bpfkit_test::is_record_line(s, json));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TrackerOptions opts;
    opts.ports = {53};
    opts.timeout_ns = 300'000'000;
    opts.max_pending = 8;
    opts.max_tcp_streams = 4;
    OutputContext ctx{"fuzz", 0};
    Summary summary;
    size_t events = 0;
    Tracker t(
        opts,
        [&](Event &&e) {
            ++events;
            check_line(json_event(e, ctx), true);
            check_line(text_event(e, ctx), false);
            summary.add(e);
            if (e.kind == EventKind::Answer) check(e.query.has_value() && e.response.has_value());
            if (e.kind == EventKind::Timeout) check(e.query.has_value() && !e.response);
        },
        [](Owner &o, uint8_t, const Endpoint &, const Endpoint &) {
            if (!o.known && o.container) std::abort();
        });
    uint64_t now = 1'000'000'000;
    size_t i = 0;
    while (i + 2 <= size) {
        const uint8_t op = data[i];
        size_t n = data[i + 1];
        i += 2;
        if (n > size - i) n = size - i;
        const uint8_t *p = data + i;
        i += n;
        const uint16_t cport = static_cast<uint16_t>(40000 + ((op >> 4) & 3));
        CapturedPacket c;
        c.ts_ns = now;
        c.sock_cookie = (op >> 6) & 1;
        c.owner.known = op & 0x80;
        c.owner.pid = 1;
        c.owner.comm = "fuzz";
        Bytes pkt;
        switch (op & 7) {
            case 0:
                pkt.assign(p, p + n);
                c.dir = (op & 8) ? Dir::Ingress : Dir::Egress;
                break;
            case 1:
            case 2:
                pkt = wrap(false, (op & 7) == 1, cport, 0, 0, p, n);
                c.dir = (op & 7) == 1 ? Dir::Egress : Dir::Ingress;
                break;
            case 3:
            case 4: {
                if (n < 5) continue;
                uint32_t seq =
                    (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
                pkt = wrap(true, (op & 7) == 3, cport, seq, p[4], p + 5, n - 5);
                c.dir = (op & 7) == 3 ? Dir::Egress : Dir::Ingress;
                break;
            }
            case 5:
                now += (n ? p[0] : 1) * 10'000'000ull;
                t.sweep(now);
                continue;
            default:
                continue;
        }
        // Sometimes the capture holds only part of the packet (the snap length).
        size_t cap = (op & 8) && (op & 7) != 0 && pkt.size() > 30 ? pkt.size() - 7 : pkt.size();
        c.ip = std::span<const uint8_t>(pkt.data(), cap);
        c.wire_len = static_cast<uint32_t>(pkt.size());
        t.packet(c);
        now += 1000;
        check(t.pending() <= opts.max_pending);
        check(t.tcp_streams() <= opts.max_tcp_streams);
    }
    t.sweep(now + opts.timeout_ns);
    check(t.pending() == 0);
    const TrackerStats &s = t.stats();
    check(s.answers + s.timeouts + s.unmatched + s.malformed + s.queries + s.dot_connections ==
          events);
    check_line(summary.json(ctx, now), true);
    (void)summary.text();

    // The same bytes as one TCP stream, cut into segments at input-chosen
    // places and delivered out of order, frame like the stream fed whole.
    if (size > 0) {
        std::vector<Bytes> whole, cut;
        TcpStream a, b;
        a.segment(0, true, {}, 0, [](std::span<const uint8_t>, bool) {});
        a.segment(
            1, false, std::span<const uint8_t>(data, size), static_cast<uint32_t>(size),
            [&](std::span<const uint8_t> m, bool) { whole.emplace_back(m.begin(), m.end()); });
        b.segment(0, true, {}, 0, [](std::span<const uint8_t>, bool) {});
        const size_t k = 1 + data[0] % 7;  // pieces
        std::vector<std::pair<size_t, size_t>> pieces;
        for (size_t j = 0; j < k; j++)
            pieces.emplace_back(size * j / k, size * (j + 1) / k);
        // Every other piece first, then the rest: held, then drained.
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = 0; j < pieces.size(); j++) {
                if ((j % 2 == 1) != (pass == 0)) continue;
                auto [from, to] = pieces[j];
                b.segment(static_cast<uint32_t>(1 + from), false,
                          std::span<const uint8_t>(data + from, to - from),
                          static_cast<uint32_t>(to - from), [&](std::span<const uint8_t> m, bool) {
                              cut.emplace_back(m.begin(), m.end());
                          });
            }
        check(whole == cut);
        check(b.held_bytes() == 0);
    }
    return 0;
}
