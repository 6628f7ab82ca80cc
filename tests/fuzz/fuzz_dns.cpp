// libFuzzer target for common/dns.h: parse() on arbitrary bytes must never read outside the input
// (the sanitizers check that) and what it returns must hold together (checked here); TcpFramer
// must frame the same messages however the stream is split; NameCache stays bounded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "dns.h"

namespace {

using namespace bpfkit::dns;

void check(bool ok) {
    if (!ok) std::abort();
}

// Errors a record's RDATA can have (Ok included); the parse goes on after them.
bool record_level(Error e) {
    switch (e) {
        case Error::Ok:
        case Error::BadRdata:
        case Error::BadOpt:
        case Error::BadLabelType:
        case Error::NameTooLong:
        case Error::TooManyPointers:
        case Error::PointerLoop:
        case Error::ForwardPointer:
            return true;
        default:
            return false;
    }
}

void check_name(const Name &n) {
    check(n.wire.size() <= kMaxNameLen);
    if (n.wire.empty()) return;
    // Well-formed uncompressed wire form: labels of 1..63 bytes, then exactly one root byte.
    size_t i = 0, labels = 0;
    while (static_cast<uint8_t>(n.wire[i]) != 0) {
        auto len = static_cast<uint8_t>(n.wire[i]);
        check(len <= kMaxLabelLen);
        check(i + 1 + len < n.wire.size());
        i += 1 + len;
        ++labels;
    }
    check(i + 1 == n.wire.size());
    check(n.label_count() == labels);
    std::vector<std::string_view> ls = n.labels();
    std::optional<Name> again = Name::from_labels(ls);
    check(again && again->wire == n.wire);
    check(n.equals(*again));
    std::string p = n.presentation();
    check(!p.empty() && p.size() <= 4 * kMaxNameLen);
}

void check_record(const Record &r, std::span<const uint8_t> in) {
    check_name(r.name);
    check_name(r.target);
    check_name(r.soa.mname);
    check_name(r.soa.rname);
    check(uint64_t{r.rdata_offset} + r.rdata.size() <= in.size());
    check(r.rdata.size() <= 0xffff);
    if (!r.rdata.empty())
        check(std::memcmp(r.rdata.data(), in.data() + r.rdata_offset, r.rdata.size()) == 0);
    check(error_name(r.rdata_error) != std::string("unknown"));
    check(record_level(r.rdata_error));
    if (r.decoded) check(r.rdata_error == Error::Ok);
    if (r.addr) check(r.decoded && (r.type == kTypeA || r.type == kTypeAaaa));
    size_t txt_bytes = 0;
    for (const std::string &s : r.txt)
        txt_bytes += 1 + s.size();
    check(txt_bytes <= r.rdata.size());
    size_t svc_bytes = 0;
    for (const SvcParam &sp : r.svc_params)
        svc_bytes += 4 + sp.value.size();
    check(svc_bytes <= r.rdata.size());
    (void)r.rdata_presentation();
    (void)type_name(r.type);
    (void)class_name(r.klass);
}

void check_message(const Message &m, Error e, std::span<const uint8_t> in) {
    check(error_name(e) != std::string("unknown"));
    if (in.size() < kHeaderLen) check(e == Error::TruncatedHeader);
    if (e == Error::Ok) check(m.complete);
    if (m.complete) {
        check(record_level(e));
    } else {
        check(e != Error::Ok && e != Error::BadRdata && e != Error::BadOpt);
    }
    check(m.questions.size() <= m.qdcount);
    check(m.answers.size() <= m.ancount);
    check(m.authority.size() <= m.nscount);
    check(m.additional.size() <= m.arcount);
    if (m.complete) {
        check(m.questions.size() == m.qdcount && m.answers.size() == m.ancount &&
              m.authority.size() == m.nscount && m.additional.size() == m.arcount);
        check(m.trailing <= in.size() - kHeaderLen);
    } else {
        check(m.trailing == 0);
    }
    if (!m.edns.present) check(m.rcode <= 0xf);
    check(m.rcode <= 0xfff);
    for (const Question &q : m.questions)
        check_name(q.name);
    for (const auto *sec : {&m.answers, &m.authority, &m.additional})
        for (const Record &r : *sec)
            check_record(r, in);
    (void)rcode_name(m.rcode);
    (void)opcode_name(m.opcode);
}

void exercise_cache(const Message &parsed, uint64_t now) {
    NameCache cache(4);
    Message m = parsed;
    m.qr = true;
    m.rcode = 0;
    m.opcode = 0;
    if (!m.questions.empty()) m.questions[0].klass = kClassIn;
    cache.observe(parsed, now);
    cache.observe(m, now);
    check(cache.size() <= 4);
    for (const Record &r : m.answers) {
        if (!r.addr) continue;
        std::optional<std::string> n = cache.lookup(*r.addr, now);
        if (n) check(!m.questions.empty() && *n == m.questions[0].name.presentation());
    }
    cache.observe(m, now + 1000000);
    check(cache.size() <= 4);
}

struct Framed {
    std::vector<std::vector<uint8_t>> messages;
    uint64_t discarded = 0, buffered = 0, delivered = 0;
};

Framed frame(std::span<const uint8_t> in, size_t cut1, size_t cut2, size_t max_message) {
    TcpFramer f(max_message);
    Framed out;
    auto on = [&](std::span<const uint8_t> msg) {
        check(!msg.empty() && msg.size() <= max_message && msg.size() <= 0xffff);
        out.messages.emplace_back(msg.begin(), msg.end());
        out.delivered += msg.size() + 2;
    };
    f.feed(in.subspan(0, cut1), on);
    check(f.buffered() <= 0xffff + 2);
    f.feed(in.subspan(cut1, cut2 - cut1), on);
    check(f.buffered() <= 0xffff + 2);
    f.feed(in.subspan(cut2), on);
    check(f.buffered() <= max_message + 2);
    out.discarded = f.discarded();
    out.buffered = f.buffered();
    check(f.messages() == out.messages.size());
    // Every byte fed is delivered (with its prefix), discarded, or still buffered.
    check(out.delivered + out.discarded + out.buffered == in.size());
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::span<const uint8_t> in(data, size);

    Message m;
    Error e = parse(in, m);
    check_message(m, e, in);
    // Parsing is deterministic, also into a used Message.
    Message again = m;
    check(parse(in, again) == e);
    check(again.answers.size() == m.answers.size() && again.rcode == m.rcode);
    exercise_cache(m, size);

    // The same bytes as a TCP stream, split at two input-derived points, must frame exactly as
    // when fed at once.
    if (size > 0) {
        size_t cut1 = data[0] % (size + 1);
        size_t cut2 = cut1 + (size > 1 ? data[size - 1] : 0) % (size - cut1 + 1);
        size_t max_message = size > 2 && (data[1] & 1) ? 64 : 65535;
        Framed whole = frame(in, size, size, max_message);
        Framed split = frame(in, cut1, cut2, max_message);
        check(whole.messages == split.messages);
        check(whole.discarded == split.discarded && whole.buffered == split.buffered);
        // A loss of input-chosen length at the first cut: what was begun comes out partial,
        // nothing stays buffered, and every byte fed is still delivered, discarded or buffered.
        {
            TcpFramer f(max_message);
            uint64_t delivered = 0, fed = 0;
            auto on = [&](std::span<const uint8_t> msg) { delivered += msg.size() + 2; };
            f.feed(in.subspan(0, cut1), on);
            fed += cut1;
            const size_t lost = size > 2 ? data[2] * 3u : 1;
            f.lose(lost, [&](std::span<const uint8_t> part) {
                check(!part.empty() && part.size() < 0xffff);
            });
            if (lost > 0) check(f.buffered() == 0);
            f.feed(in.subspan(cut2), on);
            fed += size - cut2;
            check(delivered + f.discarded() + f.buffered() == fed);
        }
        for (const std::vector<uint8_t> &msg : split.messages) {
            Message tm;
            Error te = parse(msg, tm);
            check_message(tm, te, msg);
            exercise_cache(tm, 0);
        }
    }
    return 0;
}
