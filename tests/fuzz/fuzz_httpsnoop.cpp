// libFuzzer target for httpsnoop's user space (tools/httpsnoop/): hostile
// reads and writes on a few connections, in any order, into the tracker
// (HTTP/1 framing with bytes past the capture, pairing, HTTP/2 frames and
// HPACK, closes, timeouts) and every record through the JSON and text
// formatters. Nothing may crash, hang or leak, state stays bounded, every
// record is one line of valid UTF-8, and the counts add up.
//
// The input is a list of calls, each: op (1 byte), length (1 byte), extra
// (1 byte), then that many bytes. op's low two bits: 0 a write, 1 a read,
// 2 the fd closes, 3 time passes (length * 10 ms) and timeouts are swept;
// bits 2-3 pick one of four connections, bit 4 makes it TLS. extra is how
// many bytes the call moved past the captured ones (times 16).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "httpsnoop_output.h"
#include "httpsnoop_tracker.h"
#include "json_decode.h"

namespace {

using namespace bpfkit::httpsnoop;

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TrackerOptions opts;
    opts.timeout_ns = 300'000'000;
    opts.max_conns = 3;
    opts.max_pending = 4;
    opts.body_keep = 16;
    OutputContext ctx{"fuzz", 0, (size & 1) != 0, true};
    uint64_t records = 0;
    Tracker t(opts, [&](Record &&r) {
        ++records;
        check(bpfkit_test::is_record_line(json_record(r, ctx, "c"), true));
        check(bpfkit_test::is_record_line(text_record(r, ctx, "c") + "\n", false));
        if (r.kind == RecordKind::Exchange) check(r.request.has_value() && r.response.has_value());
        if (r.kind == RecordKind::ResponseOnly) check(!r.request && r.response);
    });
    uint64_t now = 1'000'000'000;
    size_t i = 0;
    while (i + 3 <= size) {
        const uint8_t op = data[i];
        size_t n = data[i + 1];
        const uint64_t extra = uint64_t{data[i + 2]} * 16;
        i += 3;
        if (n > size - i) n = size - i;
        const uint8_t *p = data + i;
        i += n;
        const int conn = (op >> 2) & 3;
        const bool tls = op & 0x10;
        switch (op & 3) {
            case 0:
            case 1: {
                DataEvent e;
                e.key = ConnKey{100, conn, 0x1000u + static_cast<uint64_t>(conn) * 64, tls};
                e.info.pid = 100;
                e.info.comm = "fuzz";
                e.info.family = 2;
                e.info.tls = tls;
                e.write = (op & 3) == 0;
                e.chunk.ts_ns = now;
                e.chunk.data = std::span<const uint8_t>(p, n);
                e.chunk.len = n + extra;
                t.data(e);
                break;
            }
            case 2:
                t.close(100, conn, 0x1000u + static_cast<uint64_t>(conn) * 64, now);
                break;
            case 3:
                now += (n + 1) * 10'000'000ull;
                t.sweep(now);
                break;
        }
        now += 1000;
        check(t.connections() <= opts.max_conns);
    }
    t.finish(now + opts.timeout_ns);
    check(t.connections() == 0);
    RunStats s;
    s.tracker = t.stats();
    check(bpfkit_test::is_record_line(json_stats(s, ctx, now), true));
    check(bpfkit_test::is_record_line(text_stats(s) + "\n", false));
    return 0;
}
