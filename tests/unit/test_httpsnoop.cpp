// httpsnoop's user space without a kernel: HTTP/1 framing over captured
// prefixes, pairing, HTTP/2 with HPACK, and the output.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>

#include <cstring>

#include <functional>
#include <string>
#include <vector>

#include "httpsnoop_h2.h"
#include "httpsnoop_http.h"
#include "httpsnoop_output.h"
#include "httpsnoop_tracker.h"

using namespace bpfkit::httpsnoop;

namespace {

struct Rig {
    std::vector<Record> out;
    Tracker t{TrackerOptions{}, [this](Record &&r) { out.push_back(std::move(r)); }};
    uint64_t now = 1000;
    // A call of `len` bytes of which the first `cap` (all by default) are seen.
    void call(bool write, const std::string &bytes, uint64_t extra = 0, int fd = 3) {
        DataEvent e;
        e.key = ConnKey{10, fd, 0xabc0, false};
        e.info.pid = 10;
        e.info.comm = "t";
        e.write = write;
        e.chunk.ts_ns = now;
        e.chunk.data =
            std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
        e.chunk.len = bytes.size() + extra;
        t.data(e);
        now += 1000;
    }
};

const std::string kReq = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: secret\r\n\r\n";
const std::string kResp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

}  // namespace

TEST(HttpsnoopHttp, StartLines) {
    EXPECT_TRUE(starts_message("GET / HTTP/1.1"));
    EXPECT_TRUE(starts_message("HTTP/1.0 200"));
    EXPECT_FALSE(starts_message("GETX /"));
    EXPECT_FALSE(starts_message("\x16\x03\x01"));
    EXPECT_TRUE(could_start("GE"));
    EXPECT_TRUE(could_start("HTT"));
    EXPECT_FALSE(could_start("GX"));
    EXPECT_TRUE(is_h2_preface(kH2Preface));
}

TEST(HttpsnoopTracker, KeepAliveClientPairsInOrderWithLatency) {
    Rig r;
    r.call(true, kReq);
    r.call(false, kResp);
    r.call(true, "POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    r.call(false, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    r.call(false, "0\r\n\r\n");
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_EQ(r.out[0].role, Role::Client);
    EXPECT_EQ(r.out[0].request->path, "/a");
    EXPECT_EQ(r.out[0].request->host, "x");
    EXPECT_EQ(r.out[0].response->status, 200);
    EXPECT_EQ(r.out[0].latency_ns, 1000);
    EXPECT_EQ(r.out[1].request->method, "POST");
    EXPECT_EQ(r.out[1].request->body_bytes, 3u);
    EXPECT_EQ(r.out[1].response->status, 201);
    EXPECT_EQ(r.out[1].response->body_bytes, 13u);  // "3\r\nabc\r\n0\r\n\r\n"
}

TEST(HttpsnoopTracker, ServerSidePipelinedHeadAnd1xxAnd304) {
    Rig r;
    r.call(false, "HEAD /h HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\nGET /m HTTP/1.1\r\n\r\n");
    // HEAD's response declares a length but has no body; 100 takes no request.
    r.call(true,
           "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
           "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
           "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno");
    ASSERT_EQ(r.out.size(), 3u);
    EXPECT_EQ(r.out[0].role, Role::Server);
    EXPECT_EQ(r.out[0].request->method, "HEAD");
    EXPECT_EQ(r.out[0].response->status, 200);
    EXPECT_EQ(r.out[1].request->path, "/n");
    EXPECT_EQ(r.out[1].response->status, 304);
    EXPECT_EQ(r.out[2].request->path, "/m");
    EXPECT_EQ(r.out[2].response->status, 404);
    EXPECT_EQ(r.t.stats().informational, 1u);
}

TEST(HttpsnoopTracker, BodyPastTheCaptureIsSkippedByLength) {
    Rig r;
    r.call(true, kReq);
    r.call(false, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nxx", 50000);
    r.call(false, "yy", 49994);  // 50002 + 49996 bytes so far
    ASSERT_TRUE(r.out.empty());
    r.call(false, "zz");
    ASSERT_EQ(r.out.size(), 1u);
    EXPECT_EQ(r.out[0].response->body_bytes, 100000u);
    EXPECT_FALSE(r.out[0].response->truncated);
    // The next exchange on the connection is framed again.
    r.call(true, kReq);
    r.call(false, kResp);
    EXPECT_EQ(r.out.size(), 2u);
}

TEST(HttpsnoopTracker, HeadCutByTheCaptureIsTruncatedAndResyncs) {
    Rig r;
    r.call(false, "GET /big HTTP/1.1\r\nX-Big: aaaa", 1 << 20);
    r.call(true, "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(r.out.size(), 1u);
    EXPECT_EQ(r.out[0].request->path, "/big");
    EXPECT_TRUE(r.out[0].request->truncated);
    EXPECT_EQ(r.out[0].response->status, 431);
    EXPECT_EQ(r.t.stats().truncated_heads, 1u);
    r.call(false, kReq);
    r.call(true, kResp);
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_EQ(r.out[1].request->path, "/a");
}

TEST(HttpsnoopTracker, SendfileBodyEndsWhenTheNextRequestStarts) {
    Rig r;
    r.call(false, kReq);
    r.call(true, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n");  // body by sendfile
    r.call(false, "GET /b HTTP/1.1\r\n\r\n");
    r.call(true, kResp);
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_TRUE(r.out[0].response->body_unseen);
    EXPECT_EQ(r.out[0].response->body_bytes, 4096u);
    EXPECT_EQ(r.out[1].request->path, "/b");
}

TEST(HttpsnoopTracker, SlowClientAByteAtATimeAndCloseMakesIncomplete) {
    Rig r;
    for (char c : std::string("GET /loris HTTP/1.1\r\nX-A: b"))
        r.call(false, std::string(1, c));
    r.t.close(10, 3, 0xabc0, r.now);
    ASSERT_EQ(r.out.size(), 1u);
    EXPECT_EQ(r.out[0].kind, RecordKind::Incomplete);
    EXPECT_EQ(r.out[0].request->path, "/loris");
}

TEST(HttpsnoopTracker, TimeoutThenLateAnswerAndCloseReportsUnanswered) {
    Rig r;
    r.call(true, kReq);
    r.t.sweep(r.now + 20'000'000'000ULL);
    ASSERT_EQ(r.out.size(), 1u);
    EXPECT_EQ(r.out[0].kind, RecordKind::Timeout);
    r.call(false, kResp);
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_TRUE(r.out[1].late);
    r.call(true, kReq);
    r.t.close(10, 3, 0xabc0, r.now);
    ASSERT_EQ(r.out.size(), 3u);
    EXPECT_EQ(r.out[2].kind, RecordKind::Unanswered);
}

// Requests waiting in a long pipeline are answered in order while the
// queue takes more (its storage is reused and compacted on the way).
TEST(HttpsnoopTracker, LongPipelineIsPairedInOrder) {
    Rig r;
    int sent = 0, answered = 0;
    auto requests = [&](int n) {
        for (int i = 0; i < n; i++, sent++)
            r.call(false, "GET /" + std::to_string(sent) + " HTTP/1.1\r\n\r\n");
    };
    auto responses = [&](int n) {
        for (int i = 0; i < n; i++, answered++)
            r.call(true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    };
    requests(100);
    responses(60);
    requests(100);
    responses(39);
    requests(1);
    responses(102);
    ASSERT_EQ(r.out.size(), 201u);
    for (int i = 0; i < 201; i++) {
        EXPECT_EQ(r.out[i].kind, RecordKind::Exchange) << i;
        EXPECT_EQ(r.out[i].request->path, "/" + std::to_string(i)) << i;
    }
}

TEST(HttpsnoopTracker, AnswerPastTheTimeoutIsLateWithoutASweep) {
    // The sweep runs every 100 ms: an answer that comes in later than the
    // timeout but before a sweep is still late, its timeout reported first.
    Rig r;
    const uint64_t timeout = TrackerOptions{}.timeout_ns;
    r.call(true, kReq);
    const uint64_t asked = r.now - 1000;
    r.now = asked + timeout + 5;
    r.call(false, kResp);
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_EQ(r.out[0].kind, RecordKind::Timeout);
    EXPECT_EQ(r.out[0].request->path, "/a");
    EXPECT_EQ(r.out[1].kind, RecordKind::Exchange);
    EXPECT_TRUE(r.out[1].late);
    EXPECT_EQ(r.out[1].latency_ns, static_cast<int64_t>(timeout + 5));
    EXPECT_EQ(r.t.stats().timeouts, 1u);
    // One just inside the timeout is not.
    r.call(true, kReq);
    r.now += timeout - 2000;
    r.call(false, kResp);
    ASSERT_EQ(r.out.size(), 3u);
    EXPECT_FALSE(r.out[2].late);
    // A sweep after it reports nothing more.
    r.t.sweep(r.now + 2 * timeout);
    EXPECT_EQ(r.out.size(), 3u);
}

TEST(HttpsnoopTracker, DupedFdsOfOneSocketAreOneConnection) {
    // An inetd-style server reads the request from fd 0 and answers on fd 1.
    Rig r;
    r.call(false, kReq, 0, 0);
    r.call(true, kResp, 0, 1);
    ASSERT_EQ(r.out.size(), 1u);
    EXPECT_EQ(r.out[0].role, Role::Server);
    EXPECT_EQ(r.out[0].response->status, 200);
    // close(0) leaves the connection to fd 1; the socket's end closes it.
    r.call(false, kReq, 0, 0);
    r.t.close(10, 0, 0xabc0, r.now);
    EXPECT_EQ(r.t.connections(), 1u);
    r.t.close(0, -1, 0xabc0, r.now);
    EXPECT_EQ(r.t.connections(), 0u);
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_EQ(r.out[1].kind, RecordKind::Unanswered);
}

TEST(HttpsnoopTracker, LaterEventsWithoutCommAndAddressesKeepTheFirstOnes) {
    // The kernel side sends comm, cgroup and addresses in a connection's
    // first event only.
    Rig r;
    auto event = [&](bool write, const std::string &bytes, bool whole) {
        DataEvent e;
        e.key = ConnKey{10, 3, 0xabc0, false};
        e.info.pid = 10;
        if (whole) {
            e.info.comm = "first";
            e.info.cgroup_id = 77;
            e.info.family = 2;
            e.info.laddr[0] = 127;
            e.info.raddr[0] = 127;
            e.info.lport = 40000;
            e.info.rport = 80;
        }
        e.write = write;
        e.chunk.ts_ns = r.now;
        e.chunk.data =
            std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
        e.chunk.len = bytes.size();
        r.t.data(e);
        r.now += 1000;
    };
    event(true, kReq, true);
    event(false, kResp, false);
    event(true, kReq, false);
    event(false, kResp, false);
    ASSERT_EQ(r.out.size(), 2u);
    for (const Record &rec : r.out) {
        EXPECT_EQ(rec.conn.comm.view(), "first");
        EXPECT_EQ(rec.conn.cgroup_id, 77u);
        EXPECT_EQ(rec.conn.family, 2);
        EXPECT_EQ(rec.conn.laddr[0], 127);
        EXPECT_EQ(rec.conn.lport, 40000);
        EXPECT_EQ(rec.conn.rport, 80);
    }
}

TEST(HttpsnoopTracker, GarbageIsMalformedAndAResponseWithoutRequestIsShown) {
    Rig r;
    r.call(false, std::string("\x16\x03\x01\x00\xff junk", 10));
    r.call(true, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(r.out.size(), 1u);
    EXPECT_EQ(r.out[0].kind, RecordKind::ResponseOnly);
    EXPECT_EQ(r.t.stats().malformed, 1u);
}

namespace {

// A HEADERS frame on a stream with an HPACK block of the given fields.
std::string headers_frame(nghttp2_hd_deflater *d, uint32_t stream,
                          const std::vector<std::pair<std::string, std::string>> &fields,
                          bool end_stream) {
    std::vector<nghttp2_nv> nv;
    for (auto &[k, v] : fields)
        nv.push_back(nghttp2_nv{(uint8_t *)k.data(), (uint8_t *)v.data(), k.size(), v.size(),
                                NGHTTP2_NV_FLAG_NONE});
    std::vector<uint8_t> block(nghttp2_hd_deflate_bound(d, nv.data(), nv.size()));
    ssize_t n = nghttp2_hd_deflate_hd(d, block.data(), block.size(), nv.data(), nv.size());
    std::string f;
    f += static_cast<char>((n >> 16) & 0xff);
    f += static_cast<char>((n >> 8) & 0xff);
    f += static_cast<char>(n & 0xff);
    f += static_cast<char>(1);
    f += static_cast<char>(0x4 | (end_stream ? 1 : 0));
    f += std::string{0, 0, 0, static_cast<char>(stream)};
    f.append(reinterpret_cast<char *>(block.data()), static_cast<size_t>(n));
    return f;
}

}  // namespace

TEST(HttpsnoopH2, PrefaceMarksH2AndHpackDecodesBothSides) {
    nghttp2_hd_deflater *cli, *srv;
    ASSERT_EQ(nghttp2_hd_deflate_new(&cli, 4096), 0);
    ASSERT_EQ(nghttp2_hd_deflate_new(&srv, 4096), 0);
    Rig r;
    const std::string settings("\0\0\0\x04\0\0\0\0\0", 9);
    r.call(true, std::string(kH2Preface) + settings +
                     headers_frame(cli, 1,
                                   {{":method", "GET"},
                                    {":path", "/grpc.Svc/Call"},
                                    {":authority", "h"},
                                    {":scheme", "http"},
                                    {"authorization", "secret"}},
                                   true));
    r.call(false, settings + headers_frame(srv, 1, {{":status", "503"}}, true));
    // A second request reuses the dynamic table.
    r.call(true, headers_frame(cli, 3,
                               {{":method", "GET"},
                                {":path", "/grpc.Svc/Call"},
                                {":authority", "h"},
                                {":scheme", "http"}},
                               true));
    r.call(false, headers_frame(srv, 3, {{":status", "200"}}, true));
    ASSERT_EQ(r.out.size(), 2u);
    for (auto &x : r.out) {
        EXPECT_EQ(x.proto, "h2");
        EXPECT_EQ(x.request->method, "GET");
        EXPECT_EQ(x.request->path, "/grpc.Svc/Call");
        EXPECT_EQ(x.request->host, "h");
    }
    EXPECT_EQ(r.out[0].response->status, 503);
    EXPECT_EQ(r.out[1].response->status, 200);
    nghttp2_hd_deflate_del(cli);
    nghttp2_hd_deflate_del(srv);
}

TEST(HttpsnoopOutput, JsonNeverCarriesHeaderValuesAndNoQueryCutsTheQuery) {
    Rig r;
    r.call(true,
           "GET /a?token=secret HTTP/1.1\r\nAuthorization: Bearer secret\r\nCookie: "
           "secret\r\nHost: h\r\n\r\n");
    r.call(false, "HTTP/1.1 200 OK\r\nSet-Cookie: secret\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(r.out.size(), 1u);
    OutputContext ctx{"raw_syscalls", 0, true, false};
    std::string j = json_record(r.out[0], ctx, "");
    std::string t = text_record(r.out[0], ctx, "");
    EXPECT_EQ(j.find("secret"), std::string::npos) << j;
    EXPECT_EQ(t.find("secret"), std::string::npos) << t;
    EXPECT_NE(j.find("\"path\":\"/a\""), std::string::npos) << j;
    EXPECT_NE(j.find("\"schema\":\"httpsnoop/1\""), std::string::npos);
}

TEST(HttpsnoopOutput, JsonLineIsExactlyTheSchema) {
    Rig r;
    r.call(true, kReq);
    r.call(false, kResp);
    ASSERT_EQ(r.out.size(), 1u);
    Record rec = r.out[0];
    rec.conn.family = AF_INET;
    const uint8_t l[4] = {127, 0, 0, 1}, rm[4] = {10, 200, 3, 255};
    memcpy(rec.conn.laddr, l, 4);
    memcpy(rec.conn.raddr, rm, 4);
    rec.conn.lport = 8080;
    rec.conn.rport = 65535;
    rec.conn.fd = 3;
    OutputContext ctx{"raw_syscalls", 1795450801LL * 1000000000LL, false, false};
    EXPECT_EQ(json_record(rec, ctx, "c1"),
              "{\"schema\":\"httpsnoop/1\",\"mode\":\"raw_syscalls\",\"time\":\"2026-11-23T16:20:"
              "01.000002Z\",\"event\":\"exchange\",\"pid\":10,\"tid\":0,\"comm\":\"t\","
              "\"container\":\"c1\",\"role\":\"client\",\"fd\":3,\"local\":\"127.0.0.1:8080\","
              "\"remote\":\"10.200.3.255:65535\",\"tls\":false,\"proto\":\"http/1.1\","
              "\"method\":\"GET\",\"path\":\"/a\",\"host\":\"x\",\"status\":200,\"latency_us\":1,"
              "\"request_bytes\":44,\"response_bytes\":43,\"truncated\":false}");
    std::string appended = "x";
    json_record_append(appended, rec, ctx, "c1");
    EXPECT_EQ(appended, "x" + json_record(rec, ctx, "c1"));
}

TEST(HttpsnoopHttp, HeaderNamesAnyCaseHttp10AndAHeadSplitAcrossCalls) {
    Rig r;
    // "Date" has the length of "Host"; names in any case; the head in two calls.
    r.call(true, "GET /old HTTP/1.0\r\nDATE: x\r\nhOsT: h1\r\n");
    r.call(true, "\r\n");
    r.call(false, "HTTP/1.0 200 OK\r\nCONTENT-length: 2\r\n\r\nok");
    r.call(true, "GET /new HTTP/1.1\r\nHost: h2\r\n\r\n");
    r.call(false, "HTTP/1.1 200 OK\r\ntransfer-ENCODING: gzip, Chunked\r\n\r\n0\r\n\r\n");
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_EQ(r.out[0].proto, "http/1.0");
    EXPECT_EQ(r.out[0].request->host, "h1");
    EXPECT_EQ(r.out[0].request->header_bytes, 40u);
    EXPECT_EQ(r.out[0].response->body_bytes, 2u);
    EXPECT_EQ(r.out[1].proto, "http/1.1");
    EXPECT_EQ(r.out[1].request->host, "h2");
    EXPECT_TRUE(r.out[1].response->chunked);
    EXPECT_EQ(r.out[1].response->body_bytes, 5u);
}

// The names are compared eight bytes at a time with the letters' case bit
// folded: a letter's capital is the same name; any other byte in any place,
// and the case bit flipped in a byte that is not a letter ('-' and '\r'
// differ in it alone), is another name.
TEST(HttpsnoopHttp, HeaderNamesMatchOnlyTheirCapitals) {
    auto host = [](const std::string &name) {
        Rig r;
        r.call(true, "GET / HTTP/1.1\r\n" + name + ": h\r\n\r\n");
        r.call(false, "HTTP/1.1 204 No Content\r\n\r\n");
        return r.out.size() == 1 && r.out[0].request->host == "h";
    };
    auto length = [](const std::string &name) {
        Rig r;
        r.call(true, "POST / HTTP/1.1\r\n" + name + ": 3\r\n\r\nabc");
        r.call(false, "HTTP/1.1 204 No Content\r\n\r\n");
        return r.out.size() == 1 && r.out[0].request->body_bytes == 3;
    };
    auto chunked = [](const std::string &name) {
        Rig r;
        r.call(true, "GET / HTTP/1.1\r\n\r\n");
        r.call(false, "HTTP/1.1 200 OK\r\n" + name + ": chunked\r\n\r\n0\r\n\r\n");
        return r.out.size() == 1 && r.out[0].response->chunked;
    };
    const std::pair<std::string, std::function<bool(const std::string &)>> names[] = {
        {"host", host}, {"content-length", length}, {"transfer-encoding", chunked}};
    for (const auto &[name, found] : names) {
        ASSERT_TRUE(found(name)) << name;
        for (size_t i = 0; i < name.size(); i++) {
            std::string v = name;
            const bool letter = name[i] >= 'a' && name[i] <= 'z';
            v[i] = static_cast<char>(name[i] ^ 0x20);
            EXPECT_EQ(found(v), letter) << v;
            v[i] = static_cast<char>(name[i] + 1);
            EXPECT_FALSE(found(v)) << v;
        }
        EXPECT_FALSE(found(name + "s")) << name;
        EXPECT_FALSE(found(name.substr(1))) << name;
    }
}

TEST(HttpsnoopOutput, JsonConnectionFieldsFollowTheRecordNotAnEarlierOne) {
    Rig r;
    r.call(true, kReq);
    r.call(false, kResp);
    ASSERT_EQ(r.out.size(), 1u);
    Record rec = r.out[0];
    OutputContext ctx{"socket", 0, false, false};
    std::string a = json_record(rec, ctx, "");
    EXPECT_NE(a.find(R"("comm":"t","container":"","role":"client","fd":-1)"), std::string::npos)
        << a;
    // The same connection's fields changed: the record shows the new ones.
    rec.conn.comm = "u";
    rec.role = Role::Server;
    std::string b = json_record(rec, ctx, "c9");
    EXPECT_NE(b.find(R"("comm":"u","container":"c9","role":"server")"), std::string::npos) << b;
    rec.conn.family = AF_INET;
    rec.conn.laddr[0] = 10;
    rec.conn.lport = 80;
    std::string c = json_record(rec, ctx, "c9");
    EXPECT_NE(c.find(R"("local":"10.0.0.0:80")"), std::string::npos) << c;
    EXPECT_EQ(json_record(r.out[0], ctx, ""), a);
}

TEST(HttpsnoopOutput, JsonEscapesWireStringsAndBodiesAndKeepsAnEmptiedPath) {
    Record rec;
    rec.conn.pid = 1;
    rec.conn.comm = "c\"1";
    rec.request.emplace();
    rec.request->method = "GET";
    rec.request->path = "/q\"\x01\xff";
    rec.request->host = "h\\";
    rec.request->body = std::string(300, '\n');
    rec.response.emplace();
    rec.response->status = 200;
    rec.response->body = "ok";
    OutputContext ctx{"socket", 0, false, true};
    std::string j = json_record(rec, ctx, "");
    EXPECT_NE(j.find(R"("comm":"c\"1")"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("path":"/q\"\u0001\udcff","host":"h\\")"), std::string::npos) << j;
    std::string nl;
    for (int i = 0; i < 300; i++)
        nl += "\\n";
    EXPECT_NE(j.find(R"("request_body":")" + nl + R"(","response_body":"ok"})"), std::string::npos)
        << j;
    // --no-query leaves "" of a path that is all query, as before.
    rec.request->path = "?a=1";
    ctx.no_query = true;
    j = json_record(rec, ctx, "");
    EXPECT_NE(j.find(R"("path":"")"), std::string::npos) << j;
}

TEST(HttpsnoopTracker, AResponseBeforeTheRequestHeadEndsPairsWithNothing) {
    Rig r;
    // The request's head has not ended when the response comes: the
    // response stands alone, and the request is still parsed when it ends.
    r.call(true, "GET /a HTTP/1.1\r\nHost: h\r\n");
    r.call(false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    r.call(true, "\r\n");
    r.t.finish(r.now + 20'000'000'000ULL);
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_EQ(r.out[0].kind, RecordKind::ResponseOnly);
    EXPECT_FALSE(r.out[0].request.has_value());
    EXPECT_EQ(r.out[1].kind, RecordKind::Timeout);
    EXPECT_EQ(r.out[1].request->path, "/a");
    EXPECT_EQ(r.out[1].request->host, "h");
}
