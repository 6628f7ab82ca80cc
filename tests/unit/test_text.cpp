#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../fuzz/json_decode.h"
#include "text.h"

namespace {

using bpfkit::Align;
using bpfkit::display_width;
using bpfkit::human_bytes;
using bpfkit::human_rate;
using bpfkit::iso8601_utc;
using bpfkit::text_escape;
using bpfkit::TextTable;

// Inverse of text_escape, for round-trip checks. Returns false on anything text_escape cannot
// have produced.
bool text_unescape(const std::string &in, std::string &out) {
    out.clear();
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] != '\\') {
            out += in[i];
            continue;
        }
        if (i + 1 >= in.size()) return false;
        if (in[i + 1] == '\\') {
            out += '\\';
            i++;
            continue;
        }
        if (in[i + 1] != 'x' || i + 3 >= in.size()) return false;
        const std::string hex = in.substr(i + 2, 2);
        if (hex.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
        out += static_cast<char>(std::stoi(hex, nullptr, 16));
        i += 3;
    }
    return true;
}

::testing::AssertionResult SafeAndReversible(const std::string &in) {
    const std::string esc = text_escape(in);
    for (char ch : esc) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return ::testing::AssertionFailure() << "control byte in output";
    }
    if (!bpfkit_test::is_valid_utf8(esc)) return ::testing::AssertionFailure() << "invalid UTF-8";
    if (esc.find("\xc2\x9b") != std::string::npos) {
        return ::testing::AssertionFailure() << "C1 CSI in output";
    }
    std::string back;
    if (!text_unescape(esc, back) || back != in) {
        return ::testing::AssertionFailure() << "not reversible: " << esc;
    }
    return ::testing::AssertionSuccess();
}

// ---- utf8_sequence_length ----

TEST(Utf8, SequenceLengthMatchesReferenceDecoder) {
    // Every 1-, 2- and 3-byte string, and a random sample of 4-byte ones.
    std::string s;
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            for (int c = -1; c < 256; c++) {
                if (c >= 0 && !(a >= 0xe0 && a <= 0xf4)) break;  // 3rd byte only matters here
                s.assign(1, static_cast<char>(a));
                s += static_cast<char>(b);
                if (c >= 0) s += static_cast<char>(c);
                uint32_t cp;
                const size_t want = bpfkit_test::decode_utf8_char(s, 0, cp);
                ASSERT_EQ(bpfkit::utf8_sequence_length(s, 0), want) << a << " " << b << " " << c;
            }
        }
    }
    std::mt19937 rng(99);
    std::uniform_int_distribution<int> lead(0xf0, 0xff), cont(0x70, 0xcf);
    for (int i = 0; i < 1000000; i++) {
        s.clear();
        s += static_cast<char>(lead(rng));
        for (int k = 0; k < 3; k++)
            s += static_cast<char>(cont(rng));
        uint32_t cp;
        ASSERT_EQ(bpfkit::utf8_sequence_length(s, 0), bpfkit_test::decode_utf8_char(s, 0, cp));
    }
    // Truncated at the end of the view.
    EXPECT_EQ(bpfkit::utf8_sequence_length("\xe2\x82", 0), 0u);
    EXPECT_EQ(bpfkit::utf8_sequence_length("a\xf0\x9f\x98\x80", 1), 4u);
}

// ---- text_escape ----

TEST(TextEscape, PrintablePassesThrough) {
    EXPECT_EQ(text_escape(""), "");
    EXPECT_EQ(text_escape("nginx: worker process"), "nginx: worker process");
    EXPECT_EQ(text_escape("~!@#$%^&*()_+{}|:\"<>?`-=[];',./"), "~!@#$%^&*()_+{}|:\"<>?`-=[];',./");
    EXPECT_EQ(text_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5");
    EXPECT_EQ(text_escape("\xc2\xa0"), "\xc2\xa0");  // NBSP is printable
}

TEST(TextEscape, ControlsAndBackslash) {
    EXPECT_EQ(text_escape("a\\b"), "a\\\\b");
    EXPECT_EQ(text_escape("line1\nline2"), "line1\\x0aline2");
    EXPECT_EQ(text_escape("\t\r"), "\\x09\\x0d");
    EXPECT_EQ(text_escape(std::string("a\0b", 3)), "a\\x00b");
    EXPECT_EQ(text_escape("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
    EXPECT_EQ(text_escape("\x7f"), "\\x7f");
    EXPECT_EQ(text_escape("\x1f"), "\\x1f");
}

TEST(TextEscape, InvalidUtf8) {
    EXPECT_EQ(text_escape("\xff"), "\\xff");
    EXPECT_EQ(text_escape("\x80"), "\\x80");
    EXPECT_EQ(text_escape("\xc0\xaf"), "\\xc0\\xaf");
    EXPECT_EQ(text_escape("\xed\xa0\x80"), "\\xed\\xa0\\x80");
    EXPECT_EQ(text_escape("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
    EXPECT_EQ(text_escape("ab\xe2\x82"), "ab\\xe2\\x82");
    EXPECT_EQ(text_escape("\xe2\x82"
                          "c"),
              "\\xe2\\x82c");
}

TEST(TextEscape, TerminalTricks) {
    EXPECT_EQ(text_escape("\xc2\x9b"
                          "31m"),
              "\\xc2\\x9b31m");                        // C1 CSI
    EXPECT_EQ(text_escape("\xc2\x85"), "\\xc2\\x85");  // NEL
    EXPECT_EQ(text_escape("\xc2\x80"), "\\xc2\\x80");
    EXPECT_EQ(text_escape("\xc2\x9f"), "\\xc2\\x9f");
    EXPECT_EQ(text_escape("evil\xe2\x80\xaegnp.exe"), "evil\\xe2\\x80\\xaegnp.exe");  // RLO
    EXPECT_EQ(text_escape("\xe2\x81\xa6"), "\\xe2\\x81\\xa6");                        // LRI
    EXPECT_EQ(text_escape("\xe2\x80\x8f"), "\\xe2\\x80\\x8f");                        // RLM
    EXPECT_EQ(text_escape("\xe2\x80\xa8"), "\\xe2\\x80\\xa8");  // LINE SEPARATOR
    EXPECT_EQ(text_escape("\xe2\x80\xa9"), "\\xe2\\x80\\xa9");  // PARAGRAPH SEPARATOR
}

TEST(TextEscape, EveryByteAndPairIsSafeAndReversible) {
    std::string s;
    for (int a = 0; a < 256; a++) {
        s.assign(1, static_cast<char>(a));
        ASSERT_TRUE(SafeAndReversible(s)) << a;
        for (int b = 0; b < 256; b++) {
            s.assign(1, static_cast<char>(a));
            s += static_cast<char>(b);
            ASSERT_TRUE(SafeAndReversible(s)) << a << "," << b;
        }
    }
}

TEST(TextEscape, RandomStringsAreSafeAndReversible) {
    std::mt19937 rng(4242);
    std::uniform_int_distribution<int> len(0, 24), byte(0, 255);
    std::string s;
    for (int i = 0; i < 50000; i++) {
        s.clear();
        const int n = len(rng);
        for (int k = 0; k < n; k++)
            s += static_cast<char>(byte(rng));
        ASSERT_TRUE(SafeAndReversible(s)) << i;
    }
}

TEST(TextEscape, DisplayWidth) {
    EXPECT_EQ(display_width(""), 0u);
    EXPECT_EQ(display_width("abc"), 3u);
    EXPECT_EQ(display_width("caf\xc3\xa9"), 4u);
    EXPECT_EQ(display_width("\xf0\x9f\x98\x80\xe2\x82\xac"), 2u);
    EXPECT_EQ(display_width(text_escape("a\nb")), 6u);
}

// ---- TextTable ----

TEST(TextTable, AlignmentAndSpacing) {
    TextTable t;
    t.add_column("PID", Align::kRight).add_column("COMM").add_column("BYTES", Align::kRight);
    t.add_row({"1", "systemd", "42"});
    t.add_row({"12345", "sshd", "1048576"});
    EXPECT_EQ(t.row_count(), 2u);
    EXPECT_EQ(t.render(),
              "  PID  COMM       BYTES\n"
              "    1  systemd       42\n"
              "12345  sshd     1048576\n");
}

TEST(TextTable, LastColumnIsNotPaddedAndNoTrailingSpaces) {
    TextTable t;
    t.add_column("PID", Align::kRight).add_column("COMM").add_column("CMDLINE");
    t.add_row({"1", "systemd", "/sbin/init"});
    t.add_row({"2", "kthreadd", ""});
    t.add_row({"3", "", ""});
    t.add_row({"4", "x", "a much longer command line"});
    EXPECT_EQ(t.render(),
              "PID  COMM      CMDLINE\n"
              "  1  systemd   /sbin/init\n"
              "  2  kthreadd\n"
              "  3\n"
              "  4  x         a much longer command line\n");
}

TEST(TextTable, CellTrailingSpacesAreContent) {
    TextTable t;
    t.add_column("A").add_column("B");
    t.add_row({"x ", "y "});
    // The cell's own trailing space stays; padding never trails.
    EXPECT_EQ(t.render(), "A   B\nx   y \n");
}

TEST(TextTable, CellsAreEscapedAndWidthsUseCodePoints) {
    TextTable t;
    t.add_column("COMM").add_column("N", Align::kRight);
    t.add_row({"evil\nname", "1"});
    t.add_row({"caf\xc3\xa9", "22"});
    t.add_row({"\xe6\x97\xa5\xe6\x9c\xac", "3"});
    EXPECT_EQ(t.render(),
              "COMM           N\n"
              "evil\\x0aname   1\n"
              "caf\xc3\xa9          22\n"
              "\xe6\x97\xa5\xe6\x9c\xac             3\n");
}

TEST(TextTable, MissingAndExtraCells) {
    TextTable t;
    t.add_column("A").add_column("B", Align::kRight);
    t.add_row({"only-a"});
    t.add_row({"a", "b", "ignored"});
    t.add_row({});
    EXPECT_EQ(t.render(),
              "A       B\n"
              "only-a\n"
              "a       b\n"
              "\n");
}

TEST(TextTable, Truncation) {
    TextTable t;
    t.add_column("COMM", Align::kLeft, 6).add_column("N", Align::kRight);
    t.add_row({"abcdef", "1"});   // fits exactly
    t.add_row({"abcdefg", "2"});  // one too long
    t.add_row({"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "3"});
    t.add_row(
        {"ab\x1b"
         "cdef",
         "4"});  // "ab\x1bcdef": the escape must not be cut
    t.add_row(
        {"a\x1b"
         "cdef",
         "5"});  // "a\x1bcdef": "a\x1b" fits in 5
    EXPECT_EQ(t.render(),
              "COMM    N\n"
              "abcdef  1\n"
              "abcde\xe2\x80\xa6  2\n"
              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x80\xa6  3\n"
              "ab\xe2\x80\xa6     4\n"
              "a\\x1b\xe2\x80\xa6  5\n");
}

TEST(TextTable, TruncatedHeaderAndWidthOne) {
    TextTable t;
    t.add_column("LONGHEADER", Align::kLeft, 4).add_column("X", Align::kLeft, 1);
    t.add_row({"ab", "xyz"});
    EXPECT_EQ(t.render(),
              "LON\xe2\x80\xa6  X\n"
              "ab    \xe2\x80\xa6\n");
}

TEST(TextTable, NoHeaderAndEmpty) {
    TextTable empty;
    EXPECT_EQ(empty.render(), "");
    TextTable t;
    t.add_column("PID", Align::kRight).add_column("COMM");
    EXPECT_EQ(t.render(), "PID  COMM\n");
    t.set_show_header(false);
    t.add_row({"1", "a"});
    t.add_row({"10", "b"});
    EXPECT_EQ(t.render(), " 1  a\n10  b\n");
    t.clear_rows();
    EXPECT_EQ(t.render(), "");
}

// ---- units and time ----

TEST(HumanBytes, Values) {
    EXPECT_EQ(human_bytes(0), "0 B");
    EXPECT_EQ(human_bytes(1), "1 B");
    EXPECT_EQ(human_bytes(1023), "1023 B");
    EXPECT_EQ(human_bytes(1024), "1.0 KiB");
    EXPECT_EQ(human_bytes(1536), "1.5 KiB");
    EXPECT_EQ(human_bytes(10240), "10.0 KiB");
    EXPECT_EQ(human_bytes(1048524), "1023.9 KiB");
    EXPECT_EQ(human_bytes(1048575), "1.0 MiB");  // never "1024.0 KiB"
    EXPECT_EQ(human_bytes(1048576), "1.0 MiB");
    EXPECT_EQ(human_bytes(12897485), "12.3 MiB");
    EXPECT_EQ(human_bytes(1ull << 30), "1.0 GiB");
    EXPECT_EQ(human_bytes(5ull << 40), "5.0 TiB");
    EXPECT_EQ(human_bytes(3ull << 50), "3.0 PiB");
    EXPECT_EQ(human_bytes(1ull << 60), "1.0 EiB");
    EXPECT_EQ(human_bytes(std::numeric_limits<uint64_t>::max()), "16.0 EiB");
}

TEST(HumanRate, Values) {
    EXPECT_EQ(human_rate(0), "0 B/s");
    EXPECT_EQ(human_rate(0.4), "0 B/s");
    EXPECT_EQ(human_rate(512), "512 B/s");
    EXPECT_EQ(human_rate(1023.4), "1023 B/s");
    EXPECT_EQ(human_rate(1023.6), "1.0 KiB/s");
    EXPECT_EQ(human_rate(2048), "2.0 KiB/s");
    EXPECT_EQ(human_rate(1258291.2), "1.2 MiB/s");
    EXPECT_EQ(human_rate(-2048), "-2.0 KiB/s");
    EXPECT_EQ(human_rate(1e30), "867361737988.4 EiB/s");
    EXPECT_EQ(human_rate(std::nan("")), "- B/s");
    EXPECT_EQ(human_rate(std::numeric_limits<double>::infinity()), "- B/s");
}

TEST(Iso8601, Values) {
    EXPECT_EQ(iso8601_utc(timespec{0, 0}), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(iso8601_utc(timespec{1795450801, 123456789}), "2026-11-23T16:20:01.123456Z");
    EXPECT_EQ(iso8601_utc(timespec{1795450801, 123456789}, 3), "2026-11-23T16:20:01.123Z");
    EXPECT_EQ(iso8601_utc(timespec{1795450801, 123456789}, 9), "2026-11-23T16:20:01.123456789Z");
    EXPECT_EQ(iso8601_utc(timespec{1795450801, 999999999}, 0), "2026-11-23T16:20:01Z");
    EXPECT_EQ(iso8601_utc(timespec{1709251199, 999999}), "2024-02-29T23:59:59.000999Z");
    EXPECT_EQ(iso8601_utc(timespec{-1, 0}), "1969-12-31T23:59:59.000000Z");
}

TEST(Iso8601, NormalisesNanoseconds) {
    EXPECT_EQ(iso8601_utc(timespec{10, -1}), "1970-01-01T00:00:09.999999Z");
    EXPECT_EQ(iso8601_utc(timespec{0, 1500000000}), "1970-01-01T00:00:01.500000Z");
    EXPECT_EQ(iso8601_utc(timespec{0, 0}, 42), "1970-01-01T00:00:00.000000000Z");  // clamped
}

// A monotonic time and the offset to the wall clock, in each of the three forms.
TEST(Iso8601, MonotonicWithWallOffset) {
    const uint64_t mono = 5'123'456'789;
    const int64_t offset = 1'767'225'595'000'000'000;  // 5 s before 2026-01-01T00:00:00Z
    EXPECT_EQ(bpfkit::mono_iso8601(mono, offset), "2026-01-01T00:00:00.123456Z");
    std::string out = "t=";
    EXPECT_TRUE(bpfkit::mono_iso8601_append(out, mono, offset, 3));
    EXPECT_EQ(out, "t=2026-01-01T00:00:00.123Z");
    char buf[bpfkit::kIso8601Max];
    char *end = bpfkit::mono_iso8601_to(buf, mono, offset - 1'000'000'000, 9);
    EXPECT_EQ(std::string(buf, end), "2025-12-31T23:59:59.123456789Z");
}

}  // namespace
