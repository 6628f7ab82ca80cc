// Unit tests for common/dns.h: messages are built byte by byte with the small builder below.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>

#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dns.h"
#include "../common/dns_builder.h"

using namespace bpfkit::dns;
using bpfkit::pkt::IpAddr;

namespace {

// The message builder is tests/common/dns_builder.h.
using namespace bpfkit::testdns;

// Parses from an exactly-sized heap copy, so that a sanitizer catches any over-read.
Error parse_copy(const Bytes &m, size_t len, Message &out) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[len == 0 ? 1 : len]);
    if (len != 0) std::memcpy(copy.get(), m.data(), len);
    return parse(std::span<const uint8_t>(copy.get(), len), out);
}

Message parse_ok(const Bytes &m) {
    Message out;
    Error e = parse_copy(m, m.size(), out);
    EXPECT_EQ(e, Error::Ok) << error_name(e);
    EXPECT_TRUE(out.complete);
    return out;
}

Error parse_err(const Bytes &m, Message &out) {
    return parse_copy(m, m.size(), out);
}

// Checks the invariants the parser promises for every record of `m`, parsed from `size` bytes.
void expect_sane(const Message &m, const Bytes &input, size_t size) {
    auto check_name = [](const Name &n) {
        EXPECT_LE(n.wire.size(), kMaxNameLen);
        if (!n.wire.empty()) {
            EXPECT_EQ(n.wire.back(), '\0');
        }
    };
    for (const Question &q : m.questions)
        check_name(q.name);
    for (const auto *sec : {&m.answers, &m.authority, &m.additional}) {
        for (const Record &r : *sec) {
            check_name(r.name);
            check_name(r.target);
            EXPECT_LE(r.rdata_offset + r.rdata.size(), size);
            if (!r.rdata.empty()) {
                EXPECT_EQ(
                    std::memcmp(r.rdata.data(), input.data() + r.rdata_offset, r.rdata.size()), 0);
            }
        }
    }
}

// ---- fixtures ----

// Offsets in the messages below: the question name www.example.com starts at 12.
constexpr uint16_t kQname = 12;    // www.example.com
constexpr uint16_t kExample = 16;  // example.com (inside the question name)
constexpr uint16_t kCom = 24;      // com

// A query for www.example.com/A with RD and an EDNS OPT (4096, DO, a cookie option).
Bytes query_a() {
    return cat({header(0xbeef, kRD | kAD, 1, 0, 0, 1), question(name("www.example.com"), kTypeA),
                opt(4096, 0, 0, true, edns_option(10, {1, 2, 3, 4, 5, 6, 7, 8}))});
}

// A response with every type the parser decodes, and a few it does not.
Bytes rich_response() {
    Bytes https = u16b(1);
    append(https, name(""));
    append(https, svc_param(0, cat({u16b(1), u16b(3)})));    // mandatory=alpn,port
    append(https, svc_param(1, charstrings({"h2", "h3"})));  // alpn=h2,h3
    append(https, svc_param(3, u16b(443)));                  // port=443
    append(https, svc_param(4, cat({a_rdata(192, 0, 2, 1), a_rdata(192, 0, 2, 2)})));
    append(https, svc_param(5, Bytes{1, 2, 3, 4}));        // ech (base64)
    append(https, svc_param(6, ip_rdata("2001:db8::1")));  // ipv6hint
    append(https, svc_param(9, Bytes{'x', '"', 0}));       // unknown key

    Bytes svcb = u16b(0);
    append(svcb, name("svc.example.net"));

    Bytes srv = cat({u16b(1), u16b(2), u16b(8443)});
    append(srv, name_ptr("srv", kExample));

    Bytes soa = name_ptr("ns1", kExample);
    append(soa, name_ptr("hostmaster", kExample));
    for (uint32_t v : {2024010101u, 7200u, 3600u, 1209600u, 300u})
        put32(soa, v);

    return cat({
        header(0xbeef, kQR | kRD | kRA, 1, 13, 1, 2),
        question(name("www.example.com"), kTypeA),
        rr(ptr(kQname), kTypeCname, 300, name_ptr("web", kExample)),
        rr(name_ptr("web", kExample), kTypeA, 60, a_rdata(192, 0, 2, 1)),
        rr(ptr(kQname), kTypeAaaa, 60, ip_rdata("2001:db8::1")),
        rr(ptr(kExample), kTypeMx, 3600, cat({u16b(10), name_ptr("mail", kExample)})),
        rr(ptr(kExample), kTypeTxt, 3600,
           charstrings({"v=spf1 -all", "", std::string_view("\0\xff\"\\", 4)})),
        rr(name_ptr("_https._tcp", kExample), kTypeSrv, 3600, srv),
        rr(ptr(kExample), kTypeNs, 3600, name_ptr("ns1", kExample)),
        rr(name("1.2.0.192.in-addr.arpa"), kTypePtr, 3600, ptr(kQname)),
        rr(ptr(kExample), kTypeHttps, 300, https),
        rr(name_ptr("_dns", kExample), kTypeSvcb, 300, svcb),
        rr(name_ptr("old", kExample), kTypeDname, 300, name("new.example.org")),
        rr(ptr(kExample), 65534, 300, Bytes{1, 2, 3}),
        rr(ptr(kExample), 257, 300, Bytes{}),
        rr(ptr(kExample), kTypeSoa, 3600, soa),
        rr(name_ptr("ns1", kExample), kTypeA, 3600, a_rdata(192, 0, 2, 53)),
        opt(1232, 0, 0, false),
    });
}

// ---------------------------------------------------------------------------

TEST(Dns, Query) {
    Bytes m = query_a();
    Message q = parse_ok(m);
    EXPECT_EQ(q.id, 0xbeef);
    EXPECT_FALSE(q.qr);
    EXPECT_EQ(q.opcode, 0);
    EXPECT_TRUE(q.rd);
    EXPECT_TRUE(q.ad);
    EXPECT_FALSE(q.aa || q.tc || q.ra || q.z || q.cd);
    EXPECT_EQ(q.rcode, 0);
    EXPECT_EQ(q.qdcount, 1);
    EXPECT_EQ(q.arcount, 1);
    ASSERT_EQ(q.questions.size(), 1u);
    EXPECT_EQ(q.questions[0].name.wire, std::string("\3www\7example\3com\0", 17));
    EXPECT_EQ(q.questions[0].name.presentation(), "www.example.com");
    EXPECT_EQ(q.questions[0].name.presentation(true), "www.example.com.");
    EXPECT_EQ(q.questions[0].type, kTypeA);
    EXPECT_EQ(q.questions[0].klass, kClassIn);
    EXPECT_TRUE(q.answers.empty());
    EXPECT_TRUE(q.authority.empty());
    ASSERT_EQ(q.additional.size(), 1u);
    EXPECT_EQ(q.additional[0].type, kTypeOpt);
    ASSERT_TRUE(q.edns.present);
    EXPECT_EQ(q.edns.udp_size, 4096);
    EXPECT_TRUE(q.edns.do_bit);
    EXPECT_EQ(q.edns.flags, 0x8000);
    EXPECT_EQ(q.edns.version, 0);
    EXPECT_EQ(q.edns.ext_rcode, 0);
    ASSERT_EQ(q.edns.options.size(), 1u);
    EXPECT_EQ(q.edns.options[0].code, 10);
    EXPECT_EQ(q.edns.options[0].data, (Bytes{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(q.trailing, 0u);
    expect_sane(q, m, m.size());
}

TEST(Dns, HeaderFlags) {
    struct Case {
        uint16_t flags;
        bool Message::*field;
    };
    const Case cases[] = {{kQR, &Message::qr}, {kAA, &Message::aa}, {kTC, &Message::tc},
                          {kRD, &Message::rd}, {kRA, &Message::ra}, {kZ, &Message::z},
                          {kAD, &Message::ad}, {kCD, &Message::cd}};
    for (const Case &c : cases) {
        Message m = parse_ok(header(1, c.flags, 0, 0, 0, 0));
        for (const Case &o : cases)
            EXPECT_EQ(m.*(o.field), o.flags == c.flags) << std::hex << c.flags << " " << o.flags;
        EXPECT_EQ(m.opcode, 0);
        EXPECT_EQ(m.rcode, 0);
    }
    for (unsigned op = 0; op < 16; ++op) {
        Message m = parse_ok(header(1, opcode_bits(op) | kQR, 0, 0, 0, 0));
        EXPECT_EQ(m.opcode, op);
        EXPECT_TRUE(m.qr);
        EXPECT_FALSE(m.aa || m.tc || m.rd);
    }
    for (uint16_t rc = 0; rc < 16; ++rc) {
        Message m = parse_ok(header(1, kQR | rc, 0, 0, 0, 0));
        EXPECT_EQ(m.rcode, rc);
        EXPECT_FALSE(m.cd || m.ad || m.z || m.ra);
    }
    EXPECT_EQ(opcode_name(0), "QUERY");
    EXPECT_EQ(opcode_name(4), "NOTIFY");
    EXPECT_EQ(opcode_name(5), "UPDATE");
    EXPECT_EQ(opcode_name(15), "OPCODE15");
}

TEST(Dns, TruncatedFlagResponse) {
    Bytes m = cat(
        {header(7, kQR | kTC | kRD | kRA, 1, 0, 0, 0), question(name("big.example"), kTypeTxt)});
    Message r = parse_ok(m);
    EXPECT_TRUE(r.tc);
    EXPECT_TRUE(r.qr);
    EXPECT_TRUE(r.answers.empty());
    EXPECT_EQ(r.questions[0].type, kTypeTxt);
}

TEST(Dns, Rcodes) {
    Bytes nx = cat(
        {header(1, kQR | kRD | kRA | kRcodeNxDomain, 1, 0, 1, 0),
         question(name("nope.example"), kTypeA),
         rr(ptr(17), kTypeSoa, 300, cat({name_ptr("ns", 17), name_ptr("h", 17), Bytes(20, 0)}))});
    Message r = parse_ok(nx);
    EXPECT_EQ(r.rcode, kRcodeNxDomain);
    EXPECT_EQ(rcode_name(r.rcode), "NXDOMAIN");
    ASSERT_EQ(r.authority.size(), 1u);
    EXPECT_EQ(r.authority[0].soa.mname.presentation(), "ns.example");

    Message sf = parse_ok(
        cat({header(1, kQR | kRcodeServFail, 1, 0, 0, 0), question(name("x.example"), kTypeAaaa)}));
    EXPECT_EQ(sf.rcode, kRcodeServFail);
    EXPECT_EQ(rcode_name(sf.rcode), "SERVFAIL");

    EXPECT_EQ(rcode_name(0), "NOERROR");
    EXPECT_EQ(rcode_name(1), "FORMERR");
    EXPECT_EQ(rcode_name(5), "REFUSED");
    EXPECT_EQ(rcode_name(16), "BADVERS");
    EXPECT_EQ(rcode_name(23), "BADCOOKIE");
    EXPECT_EQ(rcode_name(12), "RCODE12");
    EXPECT_EQ(rcode_name(4095), "RCODE4095");
}

TEST(Dns, EdnsExtendedRcode) {
    // Header rcode 0 + extended rcode 1 = 16 (BADVERS); version 1, DO set, 65535 bytes.
    Bytes m = cat(
        {header(9, kQR, 1, 0, 0, 1), question(name("example"), kTypeA), opt(65535, 1, 1, true)});
    Message r = parse_ok(m);
    ASSERT_TRUE(r.edns.present);
    EXPECT_EQ(r.edns.udp_size, 65535);
    EXPECT_EQ(r.edns.version, 1);
    EXPECT_EQ(r.edns.ext_rcode, 1);
    EXPECT_TRUE(r.edns.do_bit);
    EXPECT_EQ(r.rcode, kRcodeBadVers);
    EXPECT_EQ(rcode_name(r.rcode), "BADVERS");

    // 12-bit rcode: header 0xf, extended 0xff.
    Message big = parse_ok(cat({header(9, kQR | 0xf, 0, 0, 0, 1), opt(512, 0xff, 0, false)}));
    EXPECT_EQ(big.rcode, 0xfff);
    EXPECT_FALSE(big.edns.do_bit);
    EXPECT_EQ(big.edns.udp_size, 512);

    // Without EDNS the rcode is the header's 4 bits.
    Message none = parse_ok(header(9, kQR | kRcodeRefused, 0, 0, 0, 0));
    EXPECT_FALSE(none.edns.present);
    EXPECT_EQ(none.rcode, kRcodeRefused);
}

TEST(Dns, EdnsOptionsRaw) {
    Bytes opts = cat({edns_option(10, Bytes(24, 0xaa)), edns_option(12, Bytes(3, 0)),
                      edns_option(65001, Bytes{})});
    Message r = parse_ok(cat({header(1, 0, 0, 0, 0, 1), opt(1400, 0, 0, false, opts)}));
    ASSERT_EQ(r.edns.options.size(), 3u);
    EXPECT_EQ(r.edns.options[0].code, 10);
    EXPECT_EQ(r.edns.options[0].data, Bytes(24, 0xaa));
    EXPECT_EQ(r.edns.options[1].code, 12);
    EXPECT_EQ(r.edns.options[1].data.size(), 3u);
    EXPECT_EQ(r.edns.options[2].code, 65001);
    EXPECT_TRUE(r.edns.options[2].data.empty());
}

TEST(Dns, BadOpt) {
    // An option running past RDLENGTH: BadOpt, record kept, EDNS header fields still read.
    Bytes bad_option = {0, 10, 0, 9, 1, 2};
    Bytes m = cat({header(1, kQR, 0, 0, 0, 2), opt(1400, 0, 0, true, bad_option),
                   rr(name("a.example"), kTypeA, 5, a_rdata(10, 0, 0, 1))});
    Message r;
    EXPECT_EQ(parse_err(m, r), Error::BadOpt);
    EXPECT_TRUE(r.complete);
    ASSERT_EQ(r.additional.size(), 2u);
    EXPECT_EQ(r.additional[0].rdata_error, Error::BadOpt);
    EXPECT_TRUE(r.edns.present);
    EXPECT_TRUE(r.edns.do_bit);
    EXPECT_TRUE(r.additional[1].decoded);

    // A second OPT is flagged and ignored.
    Message two;
    EXPECT_EQ(
        parse_err(cat({header(1, kQR, 0, 0, 0, 2), opt(1400, 0, 0, false), opt(512, 0, 0, true)}),
                  two),
        Error::BadOpt);
    EXPECT_EQ(two.edns.udp_size, 1400);
    EXPECT_FALSE(two.edns.do_bit);
    EXPECT_EQ(two.additional[1].rdata_error, Error::BadOpt);

    // OPT not owned by the root.
    Message owned;
    EXPECT_EQ(
        parse_err(cat({header(1, kQR, 0, 0, 0, 1), rr(name("x"), kTypeOpt, 0, {}, 512)}), owned),
        Error::BadOpt);
    EXPECT_FALSE(owned.edns.present);

    // OPT outside the additional section: an ordinary raw record.
    Message ans = parse_ok(cat({header(1, kQR, 0, 1, 0, 0), opt(512, 0, 0, true)}));
    EXPECT_FALSE(ans.edns.present);
    ASSERT_EQ(ans.answers.size(), 1u);
    EXPECT_EQ(ans.answers[0].type, kTypeOpt);
}

TEST(Dns, EveryType) {
    Bytes m = rich_response();
    Message r = parse_ok(m);
    expect_sane(r, m, m.size());
    EXPECT_TRUE(r.qr && r.rd && r.ra);
    ASSERT_EQ(r.answers.size(), 13u);
    ASSERT_EQ(r.authority.size(), 1u);
    ASSERT_EQ(r.additional.size(), 2u);
    const std::vector<Record> &a = r.answers;

    EXPECT_EQ(a[0].name.presentation(), "www.example.com");
    EXPECT_EQ(a[0].type, kTypeCname);
    EXPECT_EQ(a[0].ttl, 300u);
    EXPECT_EQ(a[0].klass, kClassIn);
    EXPECT_TRUE(a[0].decoded);
    EXPECT_EQ(a[0].target.presentation(), "web.example.com");
    EXPECT_EQ(a[0].rdata_presentation(), "web.example.com");

    EXPECT_EQ(a[1].name.presentation(), "web.example.com");
    ASSERT_TRUE(a[1].addr.has_value());
    EXPECT_EQ(*a[1].addr, ip("192.0.2.1"));
    EXPECT_EQ(a[1].rdata_presentation(), "192.0.2.1");
    EXPECT_EQ(a[1].rdata, (Bytes{192, 0, 2, 1}));
    EXPECT_EQ(a[1].ttl, 60u);

    ASSERT_TRUE(a[2].addr.has_value());
    EXPECT_EQ(*a[2].addr, ip("2001:db8::1"));
    EXPECT_EQ(a[2].rdata_presentation(), "2001:db8::1");

    EXPECT_EQ(a[3].name.presentation(), "example.com");
    EXPECT_EQ(a[3].pref, 10);
    EXPECT_EQ(a[3].target.presentation(), "mail.example.com");
    EXPECT_EQ(a[3].rdata_presentation(), "10 mail.example.com");

    ASSERT_EQ(a[4].txt.size(), 3u);
    EXPECT_EQ(a[4].txt[0], "v=spf1 -all");
    EXPECT_EQ(a[4].txt[1], "");
    EXPECT_EQ(a[4].txt[2], std::string("\0\xff\"\\", 4));
    EXPECT_EQ(a[4].rdata_presentation(), "\"v=spf1 -all\" \"\" \"\\000\\255\\\"\\\\\"");

    EXPECT_EQ(a[5].name.presentation(), "_https._tcp.example.com");
    EXPECT_EQ(a[5].priority, 1);
    EXPECT_EQ(a[5].weight, 2);
    EXPECT_EQ(a[5].port, 8443);
    EXPECT_EQ(a[5].target.presentation(), "srv.example.com");
    EXPECT_EQ(a[5].rdata_presentation(), "1 2 8443 srv.example.com");

    EXPECT_EQ(a[6].type, kTypeNs);
    EXPECT_EQ(a[6].target.presentation(), "ns1.example.com");

    EXPECT_EQ(a[7].name.presentation(), "1.2.0.192.in-addr.arpa");
    EXPECT_EQ(a[7].type, kTypePtr);
    EXPECT_EQ(a[7].target.presentation(), "www.example.com");

    EXPECT_EQ(a[8].type, kTypeHttps);
    EXPECT_TRUE(a[8].decoded);
    EXPECT_EQ(a[8].priority, 1);
    EXPECT_TRUE(a[8].target.is_root());
    ASSERT_EQ(a[8].svc_params.size(), 7u);
    EXPECT_EQ(a[8].svc_params[1].key, 1);
    EXPECT_EQ(a[8].svc_params[1].value, charstrings({"h2", "h3"}));
    EXPECT_EQ(a[8].svc_params[2].key, 3);
    EXPECT_EQ(a[8].svc_params[2].value, u16b(443));
    EXPECT_EQ(a[8].rdata_presentation(),
              "1 . mandatory=alpn,port alpn=h2,h3 port=443 ipv4hint=192.0.2.1,192.0.2.2 "
              "ech=AQIDBA== ipv6hint=2001:db8::1 key9=\"x\\\"\\000\"");

    EXPECT_EQ(a[9].type, kTypeSvcb);
    EXPECT_EQ(a[9].priority, 0);
    EXPECT_EQ(a[9].target.presentation(), "svc.example.net");
    EXPECT_TRUE(a[9].svc_params.empty());
    EXPECT_EQ(a[9].rdata_presentation(), "0 svc.example.net");

    EXPECT_EQ(a[10].type, kTypeDname);
    EXPECT_EQ(a[10].target.presentation(), "new.example.org");

    EXPECT_EQ(a[11].type, 65534);
    EXPECT_FALSE(a[11].decoded);
    EXPECT_EQ(a[11].rdata_error, Error::Ok);
    EXPECT_EQ(a[11].rdata, (Bytes{1, 2, 3}));
    EXPECT_EQ(a[11].rdata_presentation(), "\\# 3 010203");
    EXPECT_EQ(type_name(a[11].type), "TYPE65534");

    EXPECT_EQ(a[12].type, 257);
    EXPECT_EQ(type_name(257), "CAA");
    EXPECT_EQ(a[12].rdata_presentation(), "\\# 0");

    const Record &soa = r.authority[0];
    EXPECT_EQ(soa.type, kTypeSoa);
    EXPECT_EQ(soa.soa.mname.presentation(), "ns1.example.com");
    EXPECT_EQ(soa.soa.rname.presentation(), "hostmaster.example.com");
    EXPECT_EQ(soa.soa.serial, 2024010101u);
    EXPECT_EQ(soa.soa.refresh, 7200u);
    EXPECT_EQ(soa.soa.retry, 3600u);
    EXPECT_EQ(soa.soa.expire, 1209600u);
    EXPECT_EQ(soa.soa.minimum, 300u);
    EXPECT_EQ(soa.rdata_presentation(),
              "ns1.example.com hostmaster.example.com 2024010101 7200 3600 1209600 300");

    EXPECT_EQ(r.additional[0].name.presentation(), "ns1.example.com");
    EXPECT_EQ(*r.additional[0].addr, ip("192.0.2.53"));
    EXPECT_TRUE(r.edns.present);
    EXPECT_EQ(r.edns.udp_size, 1232);

    // Re-parsing into a used Message starts afresh.
    Message reused = r;
    EXPECT_EQ(parse(query_a(), reused), Error::Ok);
    EXPECT_TRUE(reused.answers.empty());
    EXPECT_EQ(reused.questions.size(), 1u);
}

TEST(Dns, SvcParamPresentation) {
    // Values of the wrong size for their key are shown quoted; unknown keys as keyN.
    Bytes https = cat({u16b(2), name("pool.example"), svc_param(2, {}),
                       svc_param(3, Bytes{1, 2, 3}), svc_param(4, Bytes{10, 0, 0}),
                       svc_param(5, Bytes{1, 2}), svc_param(1, Bytes{3, 'h', '2'}),
                       svc_param(7, Bytes{'/', 'q'}), svc_param(65535, {})});
    Message r = parse_ok(cat({header(1, kQR, 0, 1, 0, 0), rr(name("s"), kTypeSvcb, 1, https)}));
    ASSERT_TRUE(r.answers[0].decoded);
    EXPECT_EQ(
        r.answers[0].rdata_presentation(),
        "2 pool.example no-default-alpn port=\"\\001\\002\\003\" ipv4hint=\"\\010\\000\\000\" "
        "ech=AQI= alpn=\"\\003h2\" dohpath=\"/q\" key65535");
    // An alpn id with a comma: escaped.
    Bytes alpn = cat({u16b(1), name(""), svc_param(1, Bytes{3, 'a', ',', 'b'})});
    Message a = parse_ok(cat({header(1, kQR, 0, 1, 0, 0), rr(name("s"), kTypeHttps, 1, alpn)}));
    EXPECT_EQ(a.answers[0].rdata_presentation(), "1 . alpn=a\\,b");
}

TEST(Dns, TypeNames) {
    EXPECT_EQ(type_name(1), "A");
    EXPECT_EQ(type_name(28), "AAAA");
    EXPECT_EQ(type_name(65), "HTTPS");
    EXPECT_EQ(type_name(64), "SVCB");
    EXPECT_EQ(type_name(41), "OPT");
    EXPECT_EQ(type_name(255), "ANY");
    EXPECT_EQ(type_name(0), "TYPE0");
    EXPECT_EQ(type_name(65534), "TYPE65534");
    EXPECT_EQ(type_from_name("aaaa"), 28);
    EXPECT_EQ(type_from_name("Https"), 65);
    EXPECT_EQ(type_from_name("TYPE65534"), 65534);
    EXPECT_EQ(type_from_name("type1"), 1);
    EXPECT_EQ(type_from_name("TYPE65536"), std::nullopt);
    EXPECT_EQ(type_from_name("TYPE"), std::nullopt);
    EXPECT_EQ(type_from_name("TYPE1x"), std::nullopt);
    EXPECT_EQ(type_from_name("nosuch"), std::nullopt);
    for (unsigned t = 0; t <= 0xffff; ++t)
        ASSERT_EQ(type_from_name(type_name(static_cast<uint16_t>(t))), t) << t;
    EXPECT_EQ(class_name(1), "IN");
    EXPECT_EQ(class_name(3), "CH");
    EXPECT_EQ(class_name(255), "ANY");
    EXPECT_EQ(class_name(42), "CLASS42");
}

TEST(Dns, ErrorNames) {
    std::set<std::string> seen;
    for (unsigned i = 0; i <= static_cast<unsigned>(Error::BadOpt); ++i) {
        std::string n = error_name(static_cast<Error>(i));
        EXPECT_NE(n, "unknown") << i;
        EXPECT_TRUE(seen.insert(n).second) << n;
        for (char c : n)
            EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << n;
    }
    EXPECT_STREQ(error_name(static_cast<Error>(200)), "unknown");
    EXPECT_STREQ(error_name(Error::PointerLoop), "pointer_loop");
    EXPECT_STREQ(error_name(Error::ForwardPointer), "forward_pointer");
}

// ---- names ----

TEST(DnsName, CompressionToEarlierName) {
    // Answer owner = pointer to the question name; CNAME target = label + pointer into the middle
    // of the question name; A owner = pointer to the CNAME's target (which itself ends in a
    // pointer: two jumps).
    Bytes m = cat({header(1, kQR, 1, 2, 0, 0), question(name("www.example.com"), kTypeA)});
    size_t cname_rdata = m.size() + 2 + 10;
    append(m, rr(ptr(kQname), kTypeCname, 60, name_ptr("cdn", kExample)));
    append(m, rr(ptr(static_cast<uint16_t>(cname_rdata)), kTypeA, 60, a_rdata(1, 2, 3, 4)));
    Message r = parse_ok(m);
    ASSERT_EQ(r.answers.size(), 2u);
    EXPECT_EQ(r.answers[0].name.wire, r.questions[0].name.wire);
    EXPECT_EQ(r.answers[0].target.presentation(), "cdn.example.com");
    EXPECT_EQ(r.answers[1].name.presentation(), "cdn.example.com");
    EXPECT_EQ(r.answers[0].rdata_offset, cname_rdata);
    EXPECT_EQ(r.answers[1].rdata_presentation(), "1.2.3.4");

    // Pointer to "com" alone, and a pointer straight to a pointer.
    Bytes m2 = cat({header(1, kQR, 2, 0, 0, 0), question(name("www.example.com"), kTypeA)});
    size_t second = m2.size();
    append(m2, question(ptr(kCom), kTypeNs));
    Message r2 = parse_ok(m2);
    EXPECT_EQ(r2.questions[1].name.presentation(), "com");
    Bytes m3 = cat({m2, rr(ptr(static_cast<uint16_t>(second)), kTypeA, 1, a_rdata(1, 1, 1, 1))});
    m3[7] = 1;  // ancount
    Message r3 = parse_ok(m3);
    EXPECT_EQ(r3.answers[0].name.presentation(), "com");
}

TEST(DnsName, ByteExactLabels) {
    std::string odd("a.b\\c d\0\xff\x7f\"();@$Z", 17);
    Bytes qn = {static_cast<uint8_t>(odd.size())};
    append(qn, odd);
    append(qn, name("Example"));
    Message r = parse_ok(cat({header(1, 0, 1, 0, 0, 0), question(qn, kTypeA)}));
    const Name &n = r.questions[0].name;
    EXPECT_EQ(n.wire, std::string(qn.begin(), qn.end()));
    ASSERT_EQ(n.labels().size(), 2u);
    EXPECT_EQ(n.labels()[0], odd);
    EXPECT_EQ(n.labels()[1], "Example");
    EXPECT_EQ(n.label_count(), 2u);
    EXPECT_EQ(n.presentation(), "a\\.b\\\\c\\032d\\000\\255\\127\\\"\\(\\)\\;\\@\\$Z.Example");

    Name lower = *Name::from_labels(std::vector<std::string_view>{odd, "example"});
    EXPECT_TRUE(n.equals(lower));
    Name other = *Name::from_labels(std::vector<std::string_view>{odd, "exampla"});
    EXPECT_FALSE(n.equals(other));
    // Case folding is ASCII only.
    Name u = *Name::from_labels(std::vector<std::string_view>{"\xc4"});
    Name l = *Name::from_labels(std::vector<std::string_view>{"\xe4"});
    EXPECT_FALSE(u.equals(l));
}

TEST(DnsName, RootAndEmpty) {
    Message r = parse_ok(cat({header(1, 0, 1, 0, 0, 0), question(name(""), kTypeNs)}));
    EXPECT_TRUE(r.questions[0].name.is_root());
    EXPECT_EQ(r.questions[0].name.presentation(), ".");
    EXPECT_EQ(r.questions[0].name.presentation(true), ".");
    EXPECT_EQ(r.questions[0].name.label_count(), 0u);
    Name empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.presentation(), "");
    EXPECT_FALSE(Name::from_labels(std::vector<std::string_view>{""}).has_value());
    EXPECT_FALSE(
        Name::from_labels(std::vector<std::string_view>{std::string(64, 'a')}).has_value());
    EXPECT_EQ(Name::from_labels(std::vector<std::string_view>{})->wire, std::string(1, '\0'));
}

TEST(DnsName, MaxLength) {
    // 3 x 63 + 61 bytes of labels: 255 bytes on the wire, the most allowed.
    std::string l63(63, 'a'), l61(61, 'b');
    Bytes n255 = name(l63 + "." + l63 + "." + l63 + "." + l61);
    ASSERT_EQ(n255.size(), 255u);
    Message ok = parse_ok(cat({header(1, 0, 1, 0, 0, 0), question(n255, kTypeA)}));
    EXPECT_EQ(ok.questions[0].name.wire.size(), 255u);

    Bytes n256 = name(l63 + "." + l63 + "." + l63 + "." + l61 + "b");
    ASSERT_EQ(n256.size(), 256u);
    Message r;
    EXPECT_EQ(parse_err(cat({header(1, 0, 1, 0, 0, 0), question(n256, kTypeA)}), r),
              Error::NameTooLong);
    EXPECT_TRUE(r.questions.empty());
    EXPECT_FALSE(r.complete);

    // Too long only once decompressed: 2 x 64 bytes + a pointer to 2 x 64 more.
    Bytes m = cat({header(1, 0, 2, 0, 0, 0), question(name(l63 + "." + l63), kTypeA)});
    append(m, question(name_ptr(l63 + "." + l63, kQname), kTypeA));
    EXPECT_EQ(parse_err(m, r), Error::NameTooLong);
    EXPECT_EQ(r.questions.size(), 1u);
}

TEST(DnsName, Hostile) {
    Message r;
    auto one_question = [](const Bytes &qname) {
        return cat({header(1, 0, 1, 0, 0, 0), qname, u16b(1), u16b(1)});
    };
    // Pointer to itself.
    EXPECT_EQ(parse_err(one_question(ptr(12)), r), Error::PointerLoop);
    // Pointer back to the start of its own name.
    EXPECT_EQ(parse_err(one_question(name_ptr("a.b", 12)), r), Error::PointerLoop);
    // Pointer to its own second byte.
    EXPECT_EQ(parse_err(one_question(Bytes{1, 'a', 0xc0, 15}), r), Error::PointerLoop);
    // Forward pointer.
    EXPECT_EQ(parse_err(one_question(name_ptr("a", 40)), r), Error::ForwardPointer);
    EXPECT_EQ(parse_err(cat({header(1, 0, 1, 0, 0, 0), ptr(0x3fff)}), r), Error::ForwardPointer);
    // Label length past the end.
    EXPECT_EQ(parse_err(cat({header(1, 0, 1, 0, 0, 0), Bytes{5, 'a', 'b'}}), r),
              Error::TruncatedName);
    EXPECT_EQ(parse_err(cat({header(1, 0, 1, 0, 0, 0), Bytes{3, 'a', 'b', 'c'}}), r),
              Error::TruncatedName);
    // Pointer cut in half.
    EXPECT_EQ(parse_err(cat({header(1, 0, 1, 0, 0, 0), Bytes{1, 'a', 0xc0}}), r),
              Error::TruncatedName);
    // Label types 01 and 10.
    EXPECT_EQ(parse_err(one_question(Bytes{0x41, 0}), r), Error::BadLabelType);
    EXPECT_EQ(parse_err(one_question(Bytes{0x80, 0}), r), Error::BadLabelType);
    EXPECT_EQ(r.questions.size(), 0u);
}

TEST(DnsName, PointerTwoCycle) {
    // Answer 1: root owner, unknown type, RDATA = a pointer to answer 2's owner; answer 2's
    // owner = a pointer to answer 1's RDATA: 25 -> 23 -> 25.
    Bytes m = cat({header(1, kQR, 0, 2, 0, 0)});
    append(m, rr(name(""), 65280, 0, ptr(25)));
    ASSERT_EQ(m.size(), 25u);
    append(m, rr(ptr(23), kTypeA, 0, a_rdata(1, 2, 3, 4)));
    Message r;
    EXPECT_EQ(parse_err(m, r), Error::PointerLoop);
    EXPECT_EQ(r.answers.size(), 1u);
    EXPECT_FALSE(r.complete);

    // Through labels: answer 2's owner at 25 reads "b", jumps to 23 (answer 1's RDATA), reads
    // "a", then "b" at 25 again and meets the pointer to 23 again.
    Bytes m2 = cat({header(1, kQR, 0, 2, 0, 0), rr(name(""), 65280, 0, Bytes{1, 'a'}),
                    Bytes{1, 'b', 0xc0, 23}, u16b(kTypeA), u16b(kClassIn), Bytes{0, 0, 0, 0},
                    u16b(4), a_rdata(1, 2, 3, 4)});
    EXPECT_EQ(parse_err(m2, r), Error::PointerLoop);
    EXPECT_EQ(r.answers.size(), 1u);
}

TEST(DnsName, PointerChains) {
    // Answer 1 (owner "x", unknown type) holds in its RDATA, at 25, a root byte and then
    // pointers, each to the one before it: pointer k at 26 + 2k.  Answer 2's owner is a pointer
    // into that chain chosen so that reading it takes `jumps` jumps.
    auto chain = [](unsigned jumps) {
        Bytes m = header(1, 0, 0, 2, 0, 0);
        Bytes rdata = {0};
        for (unsigned k = 0; k + 1 < jumps; ++k)
            append(rdata, ptr(static_cast<uint16_t>(k == 0 ? 25 : 26 + 2 * (k - 1))));
        append(m, rr(Bytes{1, 'x', 0}, 65280, 0, rdata));
        uint16_t target = static_cast<uint16_t>(jumps == 1 ? 25 : 26 + 2 * (jumps - 2));
        append(m, rr(ptr(target), kTypeA, 0, a_rdata(1, 2, 3, 4)));
        return m;
    };
    Message r;
    for (unsigned j : {1u, 2u, 3u, kMaxPointers}) {
        EXPECT_EQ(parse_err(chain(j), r), Error::Ok) << j;
        ASSERT_EQ(r.answers.size(), 2u);
        EXPECT_TRUE(r.answers[1].name.is_root());
        EXPECT_EQ(*r.answers[1].addr, ip("1.2.3.4"));
    }
    EXPECT_EQ(parse_err(chain(kMaxPointers + 1), r), Error::TooManyPointers);
    EXPECT_EQ(r.answers.size(), 1u);
    EXPECT_EQ(parse_err(chain(1000), r), Error::TooManyPointers);
}

// ---- counts and truncation ----

TEST(Dns, HugeCountsTinyPacket) {
    Message r;
    Bytes m = header(1, 0, 65535, 0, 0, 0);
    EXPECT_EQ(parse_err(m, r), Error::TooManyRecords);
    EXPECT_EQ(r.qdcount, 65535);
    EXPECT_TRUE(r.questions.empty());
    EXPECT_FALSE(r.complete);

    append(m, question(name("a.example"), kTypeA));
    EXPECT_EQ(parse_err(m, r), Error::TooManyRecords);
    EXPECT_EQ(r.questions.size(), 1u);

    Bytes an = cat({header(1, kQR, 1, 65535, 65535, 65535), question(name("a.example"), kTypeA),
                    rr(ptr(12), kTypeA, 1, a_rdata(1, 2, 3, 4))});
    EXPECT_EQ(parse_err(an, r), Error::TooManyRecords);
    EXPECT_EQ(r.answers.size(), 1u);
    EXPECT_EQ(r.ancount, 65535);
}

TEST(Dns, RdlengthPastEnd) {
    Bytes m = cat({header(1, kQR, 1, 2, 0, 0), question(name("a.example"), kTypeA),
                   rr(ptr(12), kTypeA, 1, a_rdata(1, 2, 3, 4))});
    append(m, ptr(12));
    put16(m, kTypeA);
    put16(m, kClassIn);
    put32(m, 1);
    put16(m, 200);  // RDLENGTH
    append(m, Bytes{5, 6, 7, 8});
    Message r;
    EXPECT_EQ(parse_err(m, r), Error::TruncatedRdata);
    ASSERT_EQ(r.answers.size(), 1u);
    EXPECT_EQ(*r.answers[0].addr, ip("1.2.3.4"));
    EXPECT_EQ(r.questions.size(), 1u);
}

TEST(Dns, BadRdataIsPerRecord) {
    Bytes cname_past = cat({Bytes{3, 'a', 'b', 'c', 5, 'x'}});  // label runs past RDLENGTH
    Bytes m =
        cat({header(1, kQR, 1, 6, 0, 0), question(name("a.example"), kTypeA),
             rr(ptr(12), kTypeA, 1, Bytes{1, 2, 3, 4, 5}),
             rr(ptr(12), kTypeAaaa, 1, Bytes{1, 2, 3, 4}), rr(ptr(12), kTypeCname, 1, cname_past),
             rr(ptr(12), kTypeMx, 1, cat({u16b(5), name("m"), Bytes{0}})),  // extra byte
             rr(ptr(12), kTypeSoa, 1, cat({name("a"), name("b"), Bytes(19, 0)})),
             rr(ptr(12), kTypeA, 1, a_rdata(9, 9, 9, 9))});
    Message r;
    EXPECT_EQ(parse_err(m, r), Error::BadRdata);
    EXPECT_TRUE(r.complete);
    ASSERT_EQ(r.answers.size(), 6u);
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_FALSE(r.answers[i].decoded) << i;
        EXPECT_EQ(r.answers[i].rdata_error, Error::BadRdata) << i;
        EXPECT_FALSE(r.answers[i].addr.has_value());
        EXPECT_TRUE(r.answers[i].target.empty());
    }
    EXPECT_EQ(r.answers[0].rdata, (Bytes{1, 2, 3, 4, 5}));
    EXPECT_EQ(r.answers[0].rdata_presentation(), "\\# 5 0102030405");
    EXPECT_TRUE(r.answers[5].decoded);
    EXPECT_EQ(*r.answers[5].addr, ip("9.9.9.9"));

    // A name error inside RDATA is reported as such, and is not fatal either.
    Bytes loop = cat({header(1, kQR, 1, 2, 0, 0), question(name("a.example"), kTypeA)});
    uint16_t rd = static_cast<uint16_t>(loop.size() + 2 + 10);
    append(loop, rr(ptr(12), kTypeCname, 1, ptr(rd)));
    append(loop, rr(ptr(12), kTypePtr, 1, ptr(0x300)));
    EXPECT_EQ(parse_err(loop, r), Error::PointerLoop);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.answers[0].rdata_error, Error::PointerLoop);
    EXPECT_EQ(r.answers[1].rdata_error, Error::ForwardPointer);

    // TXT string past RDLENGTH; SVCB param past RDLENGTH.
    Bytes t = cat({header(1, kQR, 0, 2, 0, 0), rr(name("t"), kTypeTxt, 1, Bytes{2, 'a', 2, 'b'}),
                   rr(name("s"), kTypeHttps, 1, cat({u16b(1), name(""), Bytes{0, 1, 0, 3, 'h'}}))});
    EXPECT_EQ(parse_err(t, r), Error::BadRdata);
    EXPECT_EQ(r.answers[0].rdata_error, Error::BadRdata);
    EXPECT_TRUE(r.answers[0].txt.empty());
    EXPECT_EQ(r.answers[1].rdata_error, Error::BadRdata);
    EXPECT_TRUE(r.answers[1].svc_params.empty());
}

TEST(Dns, TrailingBytes) {
    Bytes m = cat({query_a(), Bytes{0, 0, 0}});
    Message r = parse_ok(m);
    EXPECT_EQ(r.trailing, 3u);
}

TEST(Dns, EveryPrefixTruncation) {
    const std::set<Error> truncations = {Error::TruncatedHeader,   Error::TruncatedName,
                                         Error::TruncatedQuestion, Error::TruncatedRecord,
                                         Error::TruncatedRdata,    Error::TooManyRecords};
    for (const Bytes &m : {rich_response(), query_a()}) {
        Message full = parse_ok(m);
        std::set<Error> seen;
        size_t last_entries = 0;
        for (size_t len = 0; len < m.size(); ++len) {
            Message r;
            Error e = parse_copy(m, len, r);
            SCOPED_TRACE("prefix " + std::to_string(len));
            EXPECT_TRUE(truncations.count(e)) << error_name(e);
            EXPECT_FALSE(r.complete);
            expect_sane(r, m, len);
            seen.insert(e);
            if (len >= kHeaderLen) {
                EXPECT_EQ(r.id, full.id);
                EXPECT_EQ(r.ancount, full.ancount);
            }
            size_t entries =
                r.questions.size() + r.answers.size() + r.authority.size() + r.additional.size();
            EXPECT_GE(entries, last_entries);
            last_entries = entries;
            for (size_t i = 0; i < r.answers.size(); ++i)
                EXPECT_EQ(r.answers[i].rdata_presentation(), full.answers[i].rdata_presentation());
        }
        EXPECT_TRUE(seen.count(Error::TruncatedHeader));
        EXPECT_TRUE(seen.count(Error::TruncatedName));
        EXPECT_TRUE(seen.count(Error::TooManyRecords));
        EXPECT_TRUE(seen.count(Error::TruncatedQuestion));
    }
}

TEST(Dns, RandomMutationsStayInBounds) {
    std::mt19937 rng(12345);
    const Bytes base = rich_response();
    for (int iter = 0; iter < 20000; ++iter) {
        Bytes m = base;
        int flips = 1 + static_cast<int>(rng() % 8);
        for (int i = 0; i < flips; ++i)
            m[rng() % m.size()] = static_cast<uint8_t>(rng());
        size_t len = rng() % (m.size() + 1);
        Message r;
        Error e = parse_copy(m, len, r);
        ASSERT_STRNE(error_name(e), "unknown");
        expect_sane(r, m, len);
        for (const Record &rec : r.answers)
            (void)rec.rdata_presentation();
        if (::testing::Test::HasFailure()) break;
    }
}

// ---- TCP framing ----

Bytes framed(const Bytes &msg) {
    Bytes b = u16b(static_cast<uint16_t>(msg.size()));
    append(b, msg);
    return b;
}

struct Collector {
    std::vector<Bytes> got;
    std::function<void(std::span<const uint8_t>)> fn() {
        return [this](std::span<const uint8_t> s) { got.emplace_back(s.begin(), s.end()); };
    }
};

TEST(DnsTcp, ThreeMessagesInOneSegment) {
    Bytes a = query_a(), b = rich_response(), c = header(3, kQR, 0, 0, 0, 0);
    Bytes stream = cat({framed(a), framed(b), framed(c)});
    TcpFramer f;
    Collector col;
    f.feed(stream, col.fn());
    ASSERT_EQ(col.got.size(), 3u);
    EXPECT_EQ(col.got[0], a);
    EXPECT_EQ(col.got[1], b);
    EXPECT_EQ(col.got[2], c);
    EXPECT_EQ(f.messages(), 3u);
    EXPECT_EQ(f.discarded(), 0u);
    EXPECT_EQ(f.buffered(), 0u);
    Message r;
    EXPECT_EQ(parse(col.got[1], r), Error::Ok);
}

TEST(DnsTcp, SplitByteByByte) {
    Bytes a = rich_response(), b = query_a();
    Bytes stream = cat({framed(a), framed(b)});
    TcpFramer f;
    Collector col;
    for (size_t i = 0; i < stream.size(); ++i) {
        f.feed(std::span<const uint8_t>(&stream[i], 1), col.fn());
        if (i + 1 < framed(a).size()) {
            EXPECT_TRUE(col.got.empty());
        }
    }
    ASSERT_EQ(col.got.size(), 2u);
    EXPECT_EQ(col.got[0], a);
    EXPECT_EQ(col.got[1], b);
    EXPECT_EQ(f.buffered(), 0u);
}

TEST(DnsTcp, EverySplitPoint) {
    Bytes a = query_a(), b = rich_response();
    Bytes stream = cat({framed(a), framed(b), framed(a)});
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        for (size_t cut2 = cut; cut2 <= stream.size(); cut2 += 7) {
            TcpFramer f;
            Collector col;
            std::span<const uint8_t> s(stream);
            f.feed(s.subspan(0, cut), col.fn());
            f.feed(s.subspan(cut, cut2 - cut), col.fn());
            f.feed(s.subspan(cut2), col.fn());
            ASSERT_EQ(col.got.size(), 3u) << cut << " " << cut2;
            EXPECT_EQ(col.got[0], a);
            EXPECT_EQ(col.got[1], b);
            EXPECT_EQ(col.got[2], a);
        }
    }
}

TEST(DnsTcp, OversizedMessageDiscarded) {
    // With a 512-byte limit, a 65535-byte message is skipped, unbuffered, and counted; the
    // message after it is delivered.
    TcpFramer f(512);
    Collector col;
    Bytes huge = cat({u16b(0xffff), Bytes(0xffff, 0x55)});
    Bytes after = query_a();
    Bytes stream = cat({huge, framed(after)});
    std::span<const uint8_t> s(stream);
    size_t max_buffered = 0;
    for (size_t i = 0; i < s.size(); i += 1000) {
        f.feed(s.subspan(i, std::min<size_t>(1000, s.size() - i)), col.fn());
        max_buffered = std::max(max_buffered, f.buffered());
    }
    EXPECT_EQ(f.discarded(), 0xffffu + 2);
    EXPECT_LE(max_buffered, 512u + 2);
    ASSERT_EQ(col.got.size(), 1u);
    EXPECT_EQ(col.got[0], after);

    // Zero length prefixes are dropped too.
    TcpFramer z;
    Collector zc;
    z.feed(cat({u16b(0), framed(after), u16b(0)}), zc.fn());
    EXPECT_EQ(zc.got.size(), 1u);
    EXPECT_EQ(z.discarded(), 4u);
}

TEST(DnsTcp, LargestMessageByDefault) {
    TcpFramer f;
    Collector col;
    Bytes big(0xffff, 0x11);
    Bytes stream = framed(big);
    f.feed(std::span<const uint8_t>(stream).subspan(0, 30000), col.fn());
    EXPECT_EQ(f.buffered(), 30000u);
    f.feed(std::span<const uint8_t>(stream).subspan(30000), col.fn());
    ASSERT_EQ(col.got.size(), 1u);
    EXPECT_EQ(col.got[0].size(), 0xffffu);
    EXPECT_EQ(f.discarded(), 0u);
}

TEST(DnsTcp, Reset) {
    TcpFramer f;
    Collector col;
    Bytes a = framed(query_a());
    f.feed(std::span<const uint8_t>(a).subspan(0, 10), col.fn());
    EXPECT_EQ(f.buffered(), 10u);
    f.reset();
    EXPECT_EQ(f.discarded(), 10u);
    EXPECT_EQ(f.buffered(), 0u);
    f.feed(a, col.fn());
    ASSERT_EQ(col.got.size(), 1u);
    EXPECT_EQ(col.got[0], query_a());
}

// ---- name cache ----

// A response to `qname`/A: a CNAME chain qname -> c1 -> ... then A records of the last name.
Bytes chain_response(const std::string &qname, const std::vector<std::string> &cnames,
                     const std::vector<const char *> &addrs, uint32_t cname_ttl, uint32_t a_ttl,
                     uint16_t rcode = 0, uint16_t qtype = kTypeA) {
    Bytes m = cat({header(1, kQR | kRD | kRA | rcode, 1,
                          static_cast<uint16_t>(cnames.size() + addrs.size()), 0, 0),
                   question(name(qname), qtype)});
    std::string owner = qname;
    for (const std::string &c : cnames) {
        append(m, rr(name(owner), kTypeCname, cname_ttl, name(c)));
        owner = c;
    }
    for (const char *a : addrs) {
        Bytes rd = ip_rdata(a);
        append(m, rr(name(owner), rd.size() == 4 ? kTypeA : kTypeAaaa, a_ttl, rd));
    }
    return m;
}

Message parsed(const Bytes &m) {
    Message r;
    EXPECT_EQ(parse(m, r), Error::Ok);
    return r;
}

TEST(DnsCache, CnameChainMapsToAskedName) {
    NameCache c;
    c.observe(parsed(chain_response("www.Example.com", {"www.example.com.cdn.net", "edge.cdn.net"},
                                    {"192.0.2.10", "2001:db8::10"}, 300, 60)),
              1000);
    EXPECT_EQ(c.size(), 2u);
    EXPECT_EQ(c.lookup(ip("192.0.2.10"), 1000), "www.Example.com");
    EXPECT_EQ(c.lookup(ip("2001:db8::10"), 1000), "www.Example.com");
    EXPECT_EQ(c.lookup(ip("192.0.2.11"), 1000), std::nullopt);
}

TEST(DnsCache, OwnerMatchIsCaseInsensitiveAndChainOnly) {
    NameCache c;
    Bytes m = cat({header(1, kQR, 1, 3, 0, 0), question(name("a.example"), kTypeA),
                   rr(name("A.EXAMPLE"), kTypeCname, 100, name("B.example")),
                   rr(name("b.EXAMPLE"), kTypeA, 100, a_rdata(10, 0, 0, 1)),
                   rr(name("unrelated.example"), kTypeA, 100, a_rdata(10, 0, 0, 2))});
    c.observe(parsed(m), 0);
    EXPECT_EQ(c.lookup(ip("10.0.0.1"), 0), "a.example");
    EXPECT_EQ(c.lookup(ip("10.0.0.2"), 0), std::nullopt);
}

TEST(DnsCache, TtlExpiry) {
    NameCache c;
    // The chain's smallest TTL counts: CNAME 30, A 300.
    c.observe(parsed(chain_response("t.example", {"u.example"}, {"10.1.1.1"}, 30, 300)), 100);
    EXPECT_EQ(c.lookup(ip("10.1.1.1"), 129), "t.example");
    EXPECT_EQ(c.lookup(ip("10.1.1.1"), 130), std::nullopt);
    EXPECT_EQ(c.size(), 0u);  // dropped on lookup

    // TTL 0 (and TTLs with the top bit set, RFC 2181) are not cached...
    c.observe(parsed(chain_response("z.example", {}, {"10.1.1.2"}, 0, 0)), 100);
    c.observe(parsed(chain_response("z.example", {}, {"10.1.1.3"}, 0, 0x80000000u)), 100);
    EXPECT_EQ(c.size(), 0u);
    // ...unless a minimum TTL is set.
    NameCache m(16, 5);
    m.observe(parsed(chain_response("z.example", {}, {"10.1.1.2"}, 0, 0)), 100);
    EXPECT_EQ(m.lookup(ip("10.1.1.2"), 104), "z.example");
    EXPECT_EQ(m.lookup(ip("10.1.1.2"), 105), std::nullopt);
}

TEST(DnsCache, FirstNameKept) {
    NameCache c;
    c.observe(parsed(chain_response("first.example", {}, {"10.2.2.2"}, 0, 100)), 0);
    c.observe(parsed(chain_response("second.example", {}, {"10.2.2.2"}, 0, 500)), 50);
    EXPECT_EQ(c.lookup(ip("10.2.2.2"), 200), "first.example");  // extended to 550
    EXPECT_EQ(c.lookup(ip("10.2.2.2"), 550), std::nullopt);
    // After expiry a new name takes over.
    c.observe(parsed(chain_response("first.example", {}, {"10.2.2.3"}, 0, 10)), 0);
    c.observe(parsed(chain_response("third.example", {}, {"10.2.2.3"}, 0, 10)), 20);
    EXPECT_EQ(c.lookup(ip("10.2.2.3"), 21), "third.example");
}

TEST(DnsCache, LruEviction) {
    NameCache c(2);
    c.observe(parsed(chain_response("a.example", {}, {"10.0.0.1"}, 0, 100)), 0);
    c.observe(parsed(chain_response("b.example", {}, {"10.0.0.2"}, 0, 100)), 0);
    EXPECT_EQ(c.lookup(ip("10.0.0.1"), 1), "a.example");  // a is now the most recent
    c.observe(parsed(chain_response("c.example", {}, {"10.0.0.3"}, 0, 100)), 2);
    EXPECT_EQ(c.size(), 2u);
    EXPECT_EQ(c.evictions(), 1u);
    EXPECT_EQ(c.lookup(ip("10.0.0.2"), 3), std::nullopt);
    EXPECT_EQ(c.lookup(ip("10.0.0.1"), 3), "a.example");
    EXPECT_EQ(c.lookup(ip("10.0.0.3"), 3), "c.example");

    // Many addresses in one response: bounded.
    std::vector<std::string> addrs;
    for (int i = 0; i < 50; ++i)
        addrs.push_back("10.9.0." + std::to_string(i));
    std::vector<const char *> ptrs;
    for (const std::string &s : addrs)
        ptrs.push_back(s.c_str());
    NameCache d(8);
    d.observe(parsed(chain_response("many.example", {}, ptrs, 0, 100)), 0);
    EXPECT_EQ(d.size(), 8u);
    EXPECT_EQ(d.evictions(), 42u);
    EXPECT_EQ(d.lookup(ip("10.9.0.49"), 1), "many.example");
    d.clear();
    EXPECT_EQ(d.size(), 0u);
}

TEST(DnsCache, IgnoresNonAnswers) {
    NameCache c;
    Bytes query = chain_response("q.example", {}, {"10.3.3.3"}, 0, 100);
    query[2] &= 0x7f;  // clear QR
    c.observe(parsed(query), 0);
    c.observe(parsed(chain_response("nx.example", {}, {"10.3.3.4"}, 0, 100, kRcodeNxDomain)), 0);
    Bytes chaos = chain_response("ch.example", {}, {"10.3.3.5"}, 0, 100);
    chaos[12 + 12 + 3] = 3;  // question class CH
    c.observe(parsed(chaos), 0);
    Message empty = parsed(header(1, kQR, 0, 0, 0, 0));
    c.observe(empty, 0);
    EXPECT_EQ(c.size(), 0u);
    c.observe(parsed(chain_response("ok.example", {}, {"10.3.3.6"}, 0, 100)), 0);
    EXPECT_EQ(c.size(), 1u);
}

TEST(DnsCache, CnameLoopTerminates) {
    NameCache c;
    Bytes m = cat({header(1, kQR, 1, 3, 0, 0), question(name("l.example"), kTypeA),
                   rr(name("l.example"), kTypeCname, 100, name("m.example")),
                   rr(name("m.example"), kTypeCname, 100, name("l.example")),
                   rr(name("m.example"), kTypeA, 100, a_rdata(10, 4, 4, 4))});
    c.observe(parsed(m), 0);
    EXPECT_EQ(c.lookup(ip("10.4.4.4"), 0), "l.example");
}

}  // namespace
