#include "text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

namespace bpfkit {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_escape(std::string &out, unsigned char b) {
    out += '\\';
    out += 'x';
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
}

// Code point of a well-formed sequence of length len (from utf8_sequence_length).
uint32_t decode_code_point(std::string_view s, size_t pos, size_t len) {
    const auto b = [&](size_t i) {
        return static_cast<uint32_t>(static_cast<unsigned char>(s[i]));
    };
    switch (len) {
        case 2:
            return ((b(pos) & 0x1f) << 6) | (b(pos + 1) & 0x3f);
        case 3:
            return ((b(pos) & 0x0f) << 12) | ((b(pos + 1) & 0x3f) << 6) | (b(pos + 2) & 0x3f);
        case 4:
            return ((b(pos) & 0x07) << 18) | ((b(pos + 1) & 0x3f) << 12) |
                   ((b(pos + 2) & 0x3f) << 6) | (b(pos + 3) & 0x3f);
        default:
            return b(pos);
    }
}

// Non-ASCII code points that must not reach a terminal literally.
bool unsafe_code_point(uint32_t cp) {
    if (cp >= 0x80 && cp <= 0x9f) return true;  // C1 controls (0x9b is CSI on some terminals)
    if (cp == 0x061c || cp == 0x200e || cp == 0x200f) return true;  // bidi marks
    if (cp >= 0x202a && cp <= 0x202e) return true;                  // bidi embeddings/overrides
    if (cp >= 0x2066 && cp <= 0x2069) return true;                  // bidi isolates
    if (cp == 0x2028 || cp == 0x2029) return true;                  // line/paragraph separators
    return false;
}

constexpr std::string_view kEllipsis = "\xe2\x80\xa6";  // U+2026

// Length and display width of the token at pos of a text_escape() result: an escape ("\\" or
// "\xNN") or one code point.
std::pair<size_t, size_t> escaped_token(std::string_view s, size_t pos) {
    if (s[pos] == '\\' && pos + 1 < s.size()) {
        if (s[pos + 1] == 'x' && pos + 3 < s.size()) return {4, 4};
        return {2, 2};
    }
    size_t len = utf8_sequence_length(s, pos);
    if (len == 0) len = 1;
    return {len, 1};
}

}  // namespace

std::string text_escape(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c == '\\') {
            out += "\\\\";
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            append_hex_escape(out, c);
            i++;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            i++;
        } else {
            const size_t len = utf8_sequence_length(bytes, i);
            if (len == 0) {
                append_hex_escape(out, c);
                i++;
                continue;
            }
            if (unsafe_code_point(decode_code_point(bytes, i, len))) {
                for (size_t k = 0; k < len; k++) {
                    append_hex_escape(out, static_cast<unsigned char>(bytes[i + k]));
                }
            } else {
                out.append(bytes.substr(i, len));
            }
            i += len;
        }
    }
    return out;
}

size_t display_width(std::string_view utf8) {
    size_t n = 0;
    for (char ch : utf8) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x80 || c >= 0xc0) n++;  // count every byte that is not a continuation byte
    }
    return n;
}

TextTable &TextTable::add_column(std::string header, Align align, size_t max_width) {
    columns_.push_back(Column{prepare(header, max_width), align, max_width});
    return *this;
}

void TextTable::add_row(std::vector<std::string> cells) {
    std::vector<std::string> row(columns_.size());
    for (size_t c = 0; c < columns_.size() && c < cells.size(); c++) {
        row[c] = prepare(cells[c], columns_[c].max_width);
    }
    rows_.push_back(std::move(row));
}

std::string TextTable::prepare(std::string_view raw, size_t max_width) const {
    std::string esc = text_escape(raw);
    if (max_width == 0 || display_width(esc) <= max_width) return esc;
    std::string out;
    size_t width = 0;
    size_t pos = 0;
    while (pos < esc.size()) {
        const auto [len, w] = escaped_token(esc, pos);
        if (width + w > max_width - 1) break;
        out.append(esc, pos, len);
        width += w;
        pos += len;
    }
    out += kEllipsis;
    return out;
}

std::string TextTable::render() const {
    if (columns_.empty()) return {};
    std::vector<size_t> widths(columns_.size(), 0);
    if (show_header_) {
        for (size_t c = 0; c < columns_.size(); c++)
            widths[c] = display_width(columns_[c].header);
    }
    for (const auto &row : rows_) {
        for (size_t c = 0; c < columns_.size(); c++) {
            widths[c] = std::max(widths[c], display_width(row[c]));
        }
    }

    std::string out;
    const auto emit = [&](const auto &cell_at) {
        std::string line;
        size_t content_end = 0;
        for (size_t c = 0; c < columns_.size(); c++) {
            if (c > 0) line += "  ";
            const std::string &cell = cell_at(c);
            const size_t pad = widths[c] - display_width(cell);
            if (columns_[c].align == Align::kRight) line.append(pad, ' ');
            line += cell;
            if (!cell.empty()) content_end = line.size();
            if (columns_[c].align == Align::kLeft) line.append(pad, ' ');
        }
        line.resize(content_end);
        out += line;
        out += '\n';
    };
    if (show_header_) emit([&](size_t c) -> const std::string & { return columns_[c].header; });
    for (const auto &row : rows_)
        emit([&](size_t c) -> const std::string & { return row[c]; });
    return out;
}

namespace {

constexpr const char *kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
constexpr size_t kUnitCount = sizeof(kUnits) / sizeof(kUnits[0]);

// v >= 1024 bytes: scaled to one decimal in binary units. A value that would print as
// "1024.0" is promoted to the next unit.
std::string scaled(double v, const char *suffix) {
    size_t unit = 0;
    v /= 1024.0;
    while (v >= 1023.95 && unit + 1 < kUnitCount) {
        v /= 1024.0;
        unit++;
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "%.1f %s%s", v, kUnits[unit], suffix);
    return buf;
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
    if (bytes < 1024) return std::to_string(bytes) + " B";
    return scaled(static_cast<double>(bytes), "");
}

std::string human_rate(double bytes_per_s) {
    if (!std::isfinite(bytes_per_s)) return "- B/s";
    if (bytes_per_s < 0) return "-" + human_rate(-bytes_per_s);
    if (bytes_per_s < 1023.5) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%.0f B/s", bytes_per_s);
        return buf;
    }
    return scaled(bytes_per_s, "/s");
}

namespace {

char *iso8601_utc_to(char *buf, const struct timespec &ts, int frac_digits) {
    constexpr long kNsPerSec = 1000000000L;
    time_t sec = ts.tv_sec;
    long nsec = ts.tv_nsec;
    if (nsec < 0 || nsec >= kNsPerSec) {
        long carry = nsec / kNsPerSec;
        nsec %= kNsPerSec;
        if (nsec < 0) {
            nsec += kNsPerSec;
            carry--;
        }
        sec += carry;
    }
    if (frac_digits < 0) frac_digits = 0;
    if (frac_digits > 9) frac_digits = 9;

    // The seconds part is formatted once per second (a tool that prints a
    // record per event asks for the same second many times over).
    thread_local time_t cached_sec = -1;
    thread_local char cached[32];
    thread_local size_t cached_len = 0;
    if (sec != cached_sec) {
        struct tm tm {};
        if (gmtime_r(&sec, &tm) == nullptr) return buf;
        const size_t n = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        if (n == 0) return buf;
        cached_sec = sec;
        cached_len = n;
    }
    memcpy(buf, cached, cached_len);
    size_t n = cached_len;
    if (frac_digits > 0) {
        // One division to the wanted digits, then digits from the last.
        static constexpr long kScale[] = {1000000000L, 100000000L, 10000000L, 1000000L, 100000L,
                                          10000L,      1000L,      100L,      10L,      1L};
        long frac = nsec / kScale[frac_digits];
        buf[n] = '.';
        for (int d = frac_digits; d > 0; d--, frac /= 10)
            buf[n + static_cast<size_t>(d)] = static_cast<char>('0' + frac % 10);
        n += static_cast<size_t>(frac_digits) + 1;
    }
    buf[n++] = 'Z';
    return buf + n;
}

}  // namespace

bool iso8601_utc_append(std::string &out, const struct timespec &ts, int frac_digits) {
    char buf[kIso8601Max];
    char *end = iso8601_utc_to(buf, ts, frac_digits);
    out.append(buf, static_cast<size_t>(end - buf));
    return end != buf;
}

std::string iso8601_utc(const struct timespec &ts, int frac_digits) {
    std::string s;
    iso8601_utc_append(s, ts, frac_digits);
    return s;
}

bool mono_iso8601_append(std::string &out, uint64_t mono_ns, int64_t wall_offset_ns,
                         int frac_digits) {
    char buf[kIso8601Max];
    char *end = mono_iso8601_to(buf, mono_ns, wall_offset_ns, frac_digits);
    out.append(buf, static_cast<size_t>(end - buf));
    return end != buf;
}

char *mono_iso8601_to(char *p, uint64_t mono_ns, int64_t wall_offset_ns, int frac_digits) {
    const int64_t ns = static_cast<int64_t>(mono_ns) + wall_offset_ns;
    const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    return iso8601_utc_to(p, ts, frac_digits);
}

std::string mono_iso8601(uint64_t mono_ns, int64_t wall_offset_ns, int frac_digits) {
    std::string s;
    mono_iso8601_append(s, mono_ns, wall_offset_ns, frac_digits);
    return s;
}

void LineBuffer::line(std::string_view s) {
    buf_ += s;
    if (buf_.empty() || buf_.back() != '\n') buf_ += '\n';
}

void LineBuffer::flush() {
    if (buf_.empty() || failed_) return;
    if (fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size() || fflush(f_) != 0) failed_ = true;
    buf_.clear();
}

}  // namespace bpfkit
