#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz/json_decode.h"
#include "json.h"

namespace {

using bpfkit::json_escape;
using bpfkit::JsonWriter;
using bpfkit_test::append_utf8;
using bpfkit_test::is_valid_utf8;
using bpfkit_test::json_decode_string;

// Checks the invariants of one escaped literal and that it decodes back to `in`.
::testing::AssertionResult RoundTrips(std::string_view in) {
    const std::string esc = json_escape(in);
    for (size_t i = 0; i < esc.size(); i++) {
        const auto c = static_cast<unsigned char>(esc[i]);
        if (c < 0x20 || c == 0x7f) {
            return ::testing::AssertionFailure() << "raw byte " << int(c) << " at " << i;
        }
    }
    if (!is_valid_utf8(esc)) return ::testing::AssertionFailure() << "invalid UTF-8: " << esc;
    std::string dec;
    size_t consumed = 0;
    if (!json_decode_string(esc, dec, &consumed)) {
        return ::testing::AssertionFailure() << "decoder rejected " << esc;
    }
    if (consumed != esc.size()) return ::testing::AssertionFailure() << "trailing data: " << esc;
    if (dec != in) return ::testing::AssertionFailure() << "mismatch for " << esc;
    return ::testing::AssertionSuccess();
}

// ---- the test decoder itself ----

TEST(JsonDecoder, AcceptsAllEscapes) {
    std::string out;
    ASSERT_TRUE(json_decode_string(R"("a\"b\\c\/d\b\f\n\r\t")", out));
    EXPECT_EQ(out, "a\"b\\c/d\b\f\n\r\t");
    ASSERT_TRUE(json_decode_string(R"("\u0041\u00e9\u20AC\ud83d\ude00")", out));
    EXPECT_EQ(out, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    ASSERT_TRUE(json_decode_string(R"("\udbff\udfff")", out));
    EXPECT_EQ(out, "\xf4\x8f\xbf\xbf");
    ASSERT_TRUE(json_decode_string(R"("\udc80\udcff")", out));
    EXPECT_EQ(out, "\x80\xff");
    size_t consumed = 0;
    ASSERT_TRUE(json_decode_string(R"("x" tail)", out, &consumed));
    EXPECT_EQ(consumed, 3u);
}

TEST(JsonDecoder, RejectsMalformed) {
    std::string out;
    for (std::string_view bad : {
             R"()",                // empty
             R"(abc")",            // no opening quote
             R"("abc)",            // unterminated
             R"("abc\")",          // escaped closing quote
             R"("\x41")",          // unknown escape
             R"("\u12")",          // short \u
             R"("\u12g4")",        // bad hex
             R"("\ud800")",        // lone high surrogate
             R"("\ud800\u0041")",  // high surrogate + non-low
             R"("\ud800x")",       // high surrogate + text
             R"("\udc00")",        // lone low surrogate below the escape range
             R"("\udc7f")",        // ditto
             R"("\ude00")",        // lone low surrogate above the escape range
         }) {
        EXPECT_FALSE(json_decode_string(bad, out)) << bad;
    }
    EXPECT_FALSE(json_decode_string("\"a\nb\"", out));
    EXPECT_FALSE(json_decode_string(std::string("\"a\0b\"", 5), out));
    EXPECT_FALSE(json_decode_string("\"\x80\"", out));
    EXPECT_FALSE(json_decode_string("\"\xc0\xaf\"", out));          // overlong
    EXPECT_FALSE(json_decode_string("\"\xed\xa0\x80\"", out));      // encoded surrogate
    EXPECT_FALSE(json_decode_string("\"\xf4\x90\x80\x80\"", out));  // > U+10FFFF
    EXPECT_FALSE(json_decode_string("\"\xe2\x82\"", out));          // truncated
}

// ---- the escaper ----

TEST(JsonEscape, Basics) {
    EXPECT_EQ(json_escape(""), R"("")");
    EXPECT_EQ(json_escape("hello world"), R"("hello world")");
    EXPECT_EQ(json_escape("a\"b\\c/d"), R"("a\"b\\c/d")");
    EXPECT_EQ(json_escape("\b\f\n\r\t"), R"("\b\f\n\r\t")");
    EXPECT_EQ(json_escape(std::string("\0\x01\x1b\x1f\x7f", 5)),
              R"("\u0000\u0001\u001b\u001f\u007f")");
    EXPECT_EQ(json_escape("~ !"), R"("~ !")");
}

TEST(JsonEscape, InvalidBytesUseSurrogateEscape) {
    EXPECT_EQ(json_escape("\x80"), R"("\udc80")");
    EXPECT_EQ(json_escape("\xff"), R"("\udcff")");
    EXPECT_EQ(json_escape("a\xfe"
                          "b"),
              R"("a\udcfeb")");
    EXPECT_EQ(json_escape("\xc0\xaf"), R"("\udcc0\udcaf")");            // overlong '/'
    EXPECT_EQ(json_escape("\xc1\xbf"), R"("\udcc1\udcbf")");            // overlong
    EXPECT_EQ(json_escape("\xe0\x80\xaf"), R"("\udce0\udc80\udcaf")");  // overlong 3-byte
    EXPECT_EQ(json_escape("\xf0\x80\x80\xaf"), R"("\udcf0\udc80\udc80\udcaf")");
    EXPECT_EQ(json_escape("\xed\xa0\x80"), R"("\udced\udca0\udc80")");            // U+D800 encoded
    EXPECT_EQ(json_escape("\xed\xbf\xbf"), R"("\udced\udcbf\udcbf")");            // U+DFFF encoded
    EXPECT_EQ(json_escape("\xf4\x90\x80\x80"), R"("\udcf4\udc90\udc80\udc80")");  // U+110000
    EXPECT_EQ(json_escape("\xf5\x80\x80\x80"), R"("\udcf5\udc80\udc80\udc80")");
    EXPECT_EQ(json_escape("\xe2\x82"), R"("\udce2\udc82")");  // truncated at end
    EXPECT_EQ(json_escape("\xe2\x82"
                          "A"),
              R"("\udce2\udc82A")");  // truncated mid-string
    EXPECT_EQ(json_escape("\xf0\x9f\x98"), R"("\udcf0\udc9f\udc98")");
    EXPECT_EQ(json_escape("\xc3\xa9\xa9"), "\"\xc3\xa9\\udca9\"");  // valid + stray
    EXPECT_EQ(json_escape("\xc3\n"), R"("\udcc3\n")");
}

TEST(JsonEscape, ValidUtf8PassesThrough) {
    for (std::string_view s : {
             "\xc2\x80",          // U+0080
             "\xc3\xa9",          // é
             "\xdf\xbf",          // U+07FF
             "\xe0\xa0\x80",      // U+0800
             "\xe2\x82\xac",      // €
             "\xed\x9f\xbf",      // U+D7FF
             "\xee\x80\x80",      // U+E000
             "\xef\xbf\xbd",      // U+FFFD
             "\xef\xbf\xbf",      // U+FFFF
             "\xf0\x90\x80\x80",  // U+10000
             "\xf0\x9f\x98\x80",  // 😀
             "\xf4\x8f\xbf\xbf",  // U+10FFFF
             "\xe2\x80\xa8",      // U+2028 stays literal (valid inside JSON strings)
             "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",  // 日本語
         }) {
        EXPECT_EQ(json_escape(s), "\"" + std::string(s) + "\"");
        EXPECT_TRUE(RoundTrips(s));
    }
}

TEST(JsonEscape, EveryScalarValuePassesThrough) {
    std::string s;
    for (uint32_t cp = 0x80; cp <= 0x10ffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        s.clear();
        append_utf8(s, cp);
        const std::string esc = json_escape(s);
        ASSERT_EQ(esc.size(), s.size() + 2) << std::hex << cp;
        ASSERT_EQ(esc.compare(1, s.size(), s), 0) << std::hex << cp;
    }
}

TEST(JsonEscape, EverySingleByteRoundTrips) {
    for (int b = 0; b < 256; b++) {
        const std::string s(1, static_cast<char>(b));
        EXPECT_TRUE(RoundTrips(s)) << b;
    }
}

TEST(JsonEscape, EveryBytePairRoundTrips) {
    std::string s(2, '\0');
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            s[0] = static_cast<char>(a);
            s[1] = static_cast<char>(b);
            ASSERT_TRUE(RoundTrips(s)) << a << "," << b;
        }
    }
}

TEST(JsonEscape, RandomStringsRoundTrip) {
    // Half uniform random bytes, half built from fragments that are likely to form (or nearly
    // form) multi-byte sequences.
    static const std::vector<std::string> fragments = {
        "a",
        "\"",
        "\\",
        "\n",
        std::string(1, '\0'),
        "\x7f",
        "\x1b[31m",
        "\xc3\xa9",
        "\xe2\x82\xac",
        "\xf0\x9f\x98\x80",
        "\xf4\x8f\xbf\xbf",
        "\x80",
        "\xbf",
        "\xc0",
        "\xc2",
        "\xe0",
        "\xe0\xa0",
        "\xed",
        "\xed\xa0",
        "\xef\xbf",
        "\xf0",
        "\xf0\x90",
        "\xf0\x90\x80",
        "\xf4",
        "\xf4\x90",
        "\xf5",
        "\xff",
        "\xdc\x80",
    };
    std::mt19937 rng(20261123);
    std::uniform_int_distribution<int> len_dist(0, 40);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    std::uniform_int_distribution<size_t> frag_dist(0, fragments.size() - 1);
    std::string s;
    for (int iter = 0; iter < 100000; iter++) {
        s.clear();
        const int n = len_dist(rng);
        for (int k = 0; k < n; k++) {
            if (iter % 2 == 0) {
                s += static_cast<char>(byte_dist(rng));
            } else {
                s += fragments[frag_dist(rng)];
            }
        }
        ASSERT_TRUE(RoundTrips(s)) << "iteration " << iter;
    }
}

// A byte that needs an escape is found at every place of plain text, by
// both the appending and the writing form.
TEST(JsonEscape, EveryByteAtEveryPlaceOfPlainText) {
    for (int b = 0; b < 256; b++) {
        const std::string alone = json_escape(std::string(1, static_cast<char>(b)));
        const std::string inner = alone.substr(1, alone.size() - 2);
        for (size_t at = 0; at < 19; at++) {
            std::string s(19, 'a');
            s[at] = static_cast<char>(b);
            const std::string want =
                '"' + std::string(at, 'a') + inner + std::string(18 - at, 'a') + '"';
            ASSERT_EQ(json_escape(s), want) << b << " at " << at;
            char buf[19 * 6 + 2];
            char *end = bpfkit::json_escape_to(buf, s);
            ASSERT_EQ(std::string(buf, end), want) << b << " at " << at;
        }
    }
}

TEST(JsonEscape, AppendsToExistingBuffer) {
    std::string out = "x=";
    bpfkit::json_escape_append(out, "y");
    EXPECT_EQ(out, R"(x="y")");
}

// Optional cross-check with Python's json module and surrogateescape.
TEST(JsonEscape, PythonSurrogateEscapeRoundTrip) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not found";
    std::string input;
    for (int b = 0; b < 256; b++)
        input += static_cast<char>(b);
    input += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe2\x82";

    JsonWriter w;
    w.begin_object().kv("s", input).kv("n", 1).end_object();
    char in_path[] = "/tmp/bpfkit-json-in-XXXXXX";
    char out_path[] = "/tmp/bpfkit-json-out-XXXXXX";
    const int in_fd = mkstemp(in_path);
    const int out_fd = mkstemp(out_path);
    ASSERT_GE(in_fd, 0);
    ASSERT_GE(out_fd, 0);
    close(out_fd);
    FILE *f = fdopen(in_fd, "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(w.write_line(f));
    fclose(f);

    const std::string cmd = std::string(
                                "python3 -c 'import json,sys\n"
                                "lines = open(sys.argv[1], \"rb\").read().split(b\"\\n\")\n"
                                "assert len(lines) == 2 and lines[1] == b\"\"\n"
                                "d = json.loads(lines[0].decode(\"utf-8\"))\n"
                                "open(sys.argv[2], \"wb\").write(d[\"s\"].encode(\"utf-8\", "
                                "\"surrogateescape\"))' ") +
                            in_path + " " + out_path;
    const int rc = system(cmd.c_str());
    std::string got;
    if (FILE *g = fopen(out_path, "rb")) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), g)) > 0)
            got.append(buf, n);
        fclose(g);
    }
    unlink(in_path);
    unlink(out_path);
    ASSERT_EQ(rc, 0);
    EXPECT_EQ(got, input);
}

// ---- the writer ----

TEST(JsonWriter, EmptyContainers) {
    JsonWriter w;
    EXPECT_FALSE(w.complete());
    w.begin_object().end_object();
    EXPECT_EQ(w.str(), "{}");
    EXPECT_TRUE(w.complete());
    w.clear();
    w.begin_array().end_array();
    EXPECT_EQ(w.str(), "[]");
}

TEST(JsonWriter, NestingAndCommas) {
    JsonWriter w;
    w.begin_object();
    w.kv("a", 1);
    w.key("b").begin_array().value(1).value(2).begin_object().key("c").null().end_object();
    w.begin_array().end_array().begin_array().value("x").end_array().end_array();
    w.key("d").begin_object().end_object();
    w.key("e").begin_object().kv("f", true).kv("g", false).end_object();
    EXPECT_FALSE(w.complete());
    w.end_object();
    EXPECT_TRUE(w.complete());
    EXPECT_EQ(w.str(), R"({"a":1,"b":[1,2,{"c":null},[],["x"]],"d":{},"e":{"f":true,"g":false}})");
}

TEST(JsonWriter, TopLevelArrayOfObjects) {
    JsonWriter w;
    w.begin_array();
    for (int i = 0; i < 3; i++)
        w.begin_object().kv("i", i).end_object();
    w.end_array();
    EXPECT_EQ(w.str(), R"([{"i":0},{"i":1},{"i":2}])");
}

TEST(JsonWriter, Integers) {
    JsonWriter w;
    w.begin_array();
    w.value(0).value(-1).value(42u);
    w.value(std::numeric_limits<int64_t>::min()).value(std::numeric_limits<int64_t>::max());
    w.value(std::numeric_limits<uint64_t>::max());
    w.value(static_cast<uint8_t>(200)).value(static_cast<int16_t>(-7)).value(size_t{9});
    w.value(static_cast<uint32_t>(4000000000u)).value(static_cast<long long>(-5));
    w.end_array();
    EXPECT_EQ(w.str(),
              "[0,-1,42,-9223372036854775808,9223372036854775807,18446744073709551615,200,-7,9,"
              "4000000000,-5]");
}

TEST(JsonWriter, Doubles) {
    JsonWriter w;
    w.begin_array();
    w.value(0.1).value(1.5).value(5.0).value(-2.25).value(1e21).value(1e-7).value(-0.0);
    w.value(std::nan("")).value(std::numeric_limits<double>::infinity());
    w.value(-std::numeric_limits<double>::infinity()).value(1.0f / 3.0f);
    w.end_array();
    EXPECT_EQ(w.str(), "[0.1,1.5,5,-2.25,1e+21,1e-07,-0,null,null,null,0.3333333432674408]");
}

TEST(JsonWriter, DoublesReadBackExactly) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 10000; i++) {
        uint64_t bits = rng();
        double d;
        static_assert(sizeof(d) == sizeof(bits));
        memcpy(&d, &bits, sizeof(d));
        JsonWriter w;
        w.value(d);
        if (!std::isfinite(d)) {
            EXPECT_EQ(w.str(), "null");
            continue;
        }
        EXPECT_EQ(strtod(w.str().c_str(), nullptr), d) << w.str();
    }
}

TEST(JsonWriter, StringsAndKeysAreEscaped) {
    JsonWriter w;
    const std::string comm = "evil\n\"name\xff";
    const char *null_str = nullptr;
    w.begin_object()
        .kv("comm", comm)
        .kv("k\"ey", "lit")
        .kv("sv", std::string_view("v"))
        .kv("none", null_str)
        .end_object();
    EXPECT_EQ(w.str(), R"({"comm":"evil\n\"name\udcff","k\"ey":"lit","sv":"v","none":null})");
}

TEST(JsonWriter, RawValue) {
    JsonWriter w;
    w.begin_object().kv("a", 1).key("pre").raw(R"({"x":[1]})").kv("b", 2).end_object();
    EXPECT_EQ(w.str(), R"({"a":1,"pre":{"x":[1]},"b":2})");
}

TEST(JsonWriter, TakeAndClearReset) {
    JsonWriter w;
    w.begin_object().kv("a", 1);
    w.clear();
    w.begin_object().kv("b", 2).end_object();
    EXPECT_EQ(w.take(), R"({"b":2})");
    EXPECT_EQ(w.str(), "");
    w.begin_object().kv("c", 3).end_object();
    EXPECT_EQ(w.str(), R"({"c":3})");
}

TEST(JsonWriter, WriteLine) {
    FILE *f = tmpfile();
    ASSERT_NE(f, nullptr);
    JsonWriter w;
    w.begin_object().kv("a", "x\ny").end_object();
    ASSERT_TRUE(w.write_line(f));
    w.begin_object().kv("b", 2).end_object();
    ASSERT_TRUE(w.write_line(f));
    EXPECT_EQ(w.str(), "");
    rewind(f);
    char buf[256] = {};
    const size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    EXPECT_EQ(std::string(buf, n), "{\"a\":\"x\\ny\"}\n{\"b\":2}\n");
}

}  // namespace
