// Text output helpers: terminal-safe escaping, aligned tables, human-readable units, timestamps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace bpfkit {

// Length in bytes of the well-formed UTF-8 sequence starting at s[pos] (1..4), or 0 if the byte
// at pos does not start one (stray continuation byte, truncated sequence, overlong form, encoded
// surrogate, code point above U+10FFFF, bytes C0, C1, F5..FF). pos must be < s.size().
// Follows Table 3-7 of the Unicode standard.
inline size_t utf8_sequence_length(std::string_view s, size_t pos) {
    const auto byte = [&](size_t i) -> unsigned {
        return i < s.size() ? static_cast<unsigned char>(s[i]) : 0x100u;
    };
    const unsigned b0 = byte(pos);
    if (b0 < 0x80) return 1;
    const auto in = [](unsigned b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    size_t len;
    if (in(b0, 0xc2, 0xdf)) {
        len = 2;
    } else if (in(b0, 0xe0, 0xef)) {
        len = 3;
        if (b0 == 0xe0) lo = 0xa0;  // no overlong 3-byte forms
        if (b0 == 0xed) hi = 0x9f;  // no UTF-16 surrogates
    } else if (in(b0, 0xf0, 0xf4)) {
        len = 4;
        if (b0 == 0xf0) lo = 0x90;  // no overlong 4-byte forms
        if (b0 == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (!in(byte(pos + 1), lo, hi)) return 0;
    for (size_t i = 2; i < len; i++) {
        if (!in(byte(pos + i), 0x80, 0xbf)) return 0;
    }
    return len;
}

// Makes bytes safe to print on a terminal, one line, no escape sequences:
//  - well-formed printable UTF-8 passes through unchanged;
//  - backslash becomes "\\";
//  - control characters (0x00-0x1f, 0x7f), C1 controls (U+0080-U+009F), the bidirectional
//    formatting characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and the
//    line/paragraph separators U+2028/U+2029 become "\xNN" for each of their bytes;
//  - every byte that is not part of well-formed UTF-8 becomes "\xNN".
// Hex digits are lowercase. The result is always valid UTF-8.
std::string text_escape(std::string_view bytes);

// Display width used by TextTable: the number of UTF-8 code points (expects valid UTF-8, such as
// text_escape() output; each stray byte counts as one).
size_t display_width(std::string_view utf8);

enum class Align { kLeft, kRight };

// Aligned columns for human-readable output.
//
//   TextTable t;
//   t.add_column("PID", Align::kRight).add_column("COMM").add_column("BYTES", Align::kRight);
//   t.add_row({"1", "systemd", "42"});
//   fputs(t.render().c_str(), stdout);
//
// Cells are passed through text_escape(). Columns are separated by two spaces, widths are display
// widths, headers are aligned like their column, lines end in '\n' and have no trailing padding.
// A column with max_width > 0 truncates longer cells to max_width code points, the last one
// being "…" (an escape sequence such as "\x1b" is never cut in half).
class TextTable {
  public:
    TextTable &add_column(std::string header, Align align = Align::kLeft, size_t max_width = 0);
    // Missing trailing cells are empty; cells beyond the declared columns are ignored.
    void add_row(std::vector<std::string> cells);
    void set_show_header(bool show) { show_header_ = show; }
    size_t row_count() const { return rows_.size(); }
    void clear_rows() { rows_.clear(); }
    std::string render() const;

  private:
    struct Column {
        std::string header;  // escaped and truncated
        Align align;
        size_t max_width;
    };
    std::string prepare(std::string_view raw, size_t max_width) const;
    std::vector<Column> columns_;
    std::vector<std::vector<std::string>> rows_;  // escaped and truncated
    bool show_header_ = true;
};

// "0 B", "1023 B", "1.0 KiB", "12.3 MiB", ... up to EiB (binary units, one decimal).
std::string human_bytes(uint64_t bytes);

// "0 B/s", "512 B/s", "1.2 MiB/s", ...; negative rates get a leading '-', NaN and infinities
// give "- B/s".
std::string human_rate(double bytes_per_s);

// "2026-11-23T16:20:01.123456Z". frac_digits is the number of fraction digits, 0..9 (0 drops the
// dot); the fraction is truncated, not rounded. tv_nsec outside 0..999999999 is normalised.
// Returns "" if the time cannot be represented.
// Output lines gathered and written in one go after each batch of events;
// a failed write is remembered (and nothing more is written).
class LineBuffer {
  public:
    explicit LineBuffer(FILE *f = stdout) : f_(f) {}
    void line(std::string_view s);  // adds s and a newline (unless s ends in one)
    // Adds a line that f(std::string &) appends in place, then a newline.
    template <class F>
    void build(F &&f) {
        f(buf_);
        buf_ += '\n';
    }
    void flush();
    bool failed() const { return failed_; }

  private:
    FILE *f_;
    std::string buf_;
    bool failed_ = false;
};

std::string iso8601_utc(const struct timespec &ts, int frac_digits = 6);
// A CLOCK_MONOTONIC time (an event's bpf_ktime_get_ns()) as UTC ISO 8601,
// given the offset to CLOCK_REALTIME (wall_offset_ns() in loop.h).
std::string mono_iso8601(uint64_t mono_ns, int64_t wall_offset_ns, int frac_digits = 6);
// The same two, appended to out (nothing appended, false, where the time
// cannot be shown).
bool iso8601_utc_append(std::string &out, const struct timespec &ts, int frac_digits = 6);
bool mono_iso8601_append(std::string &out, uint64_t mono_ns, int64_t wall_offset_ns,
                         int frac_digits = 6);
// The same written at p, which has room for kIso8601Max bytes: returns the
// end (p itself where the time cannot be shown).
inline constexpr size_t kIso8601Max = 48;
char *mono_iso8601_to(char *p, uint64_t mono_ns, int64_t wall_offset_ns, int frac_digits = 6);

}  // namespace bpfkit
