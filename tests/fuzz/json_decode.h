// A small strict JSON string-literal decoder and UTF-8 validator for tests and fuzzing.
// Written independently of common/json.cpp so that it can check the escaper.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bpfkit_test {

// Appends code point cp (< 0x110000, not a surrogate) as UTF-8.
inline void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// Decodes one UTF-8 character at s[pos]: returns its length and sets cp, or returns 0 if the
// bytes there are not a well-formed, shortest-form encoding of a Unicode scalar value.
inline size_t decode_utf8_char(std::string_view s, size_t pos, uint32_t &cp) {
    const auto lead = static_cast<unsigned char>(s[pos]);
    size_t len;
    uint32_t min;
    if ((lead & 0x80) == 0) {
        cp = lead;
        return 1;
    } else if ((lead & 0xe0) == 0xc0) {
        len = 2;
        cp = lead & 0x1f;
        min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
        len = 3;
        cp = lead & 0x0f;
        min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
        len = 4;
        cp = lead & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (pos + len > s.size()) return 0;
    for (size_t k = 1; k < len; k++) {
        const auto b = static_cast<unsigned char>(s[pos + k]);
        if ((b & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

inline bool is_valid_utf8(std::string_view s) {
    size_t pos = 0;
    while (pos < s.size()) {
        uint32_t cp;
        const size_t len = decode_utf8_char(s, pos, cp);
        if (len == 0) return false;
        pos += len;
    }
    return true;
}

namespace detail {
inline bool read_hex4(std::string_view in, size_t pos, uint32_t &v) {
    if (pos + 4 > in.size()) return false;
    v = 0;
    for (size_t k = 0; k < 4; k++) {
        const char c = in[pos + k];
        uint32_t d;
        if (c >= '0' && c <= '9') {
            d = static_cast<uint32_t>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = static_cast<uint32_t>(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = static_cast<uint32_t>(c - 'A' + 10);
        } else {
            return false;
        }
        v = (v << 4) | d;
    }
    return true;
}
}  // namespace detail

// Decodes the JSON string literal at the start of `in` into raw bytes.
//  - all JSON escapes; \uD800-\uDBFF followed by \uDC00-\uDFFF -> the pair's code point as UTF-8;
//  - a lone \uDC80-\uDCFF -> the raw byte 0x80-0xFF (surrogateescape);
//  - rejects: missing quotes, raw bytes < 0x20, ill-formed UTF-8, unknown escapes, bad hex,
//    any other lone surrogate.
// On success sets *consumed to the length of the literal, quotes included.
inline bool json_decode_string(std::string_view in, std::string &out, size_t *consumed = nullptr) {
    out.clear();
    if (in.empty() || in[0] != '"') return false;
    size_t i = 1;
    while (i < in.size()) {
        const auto c = static_cast<unsigned char>(in[i]);
        if (c == '"') {
            if (consumed != nullptr) *consumed = i + 1;
            return true;
        }
        if (c < 0x20) return false;
        if (c >= 0x80) {
            uint32_t cp;
            const size_t len = decode_utf8_char(in, i, cp);
            if (len == 0) return false;
            out.append(in.substr(i, len));
            i += len;
            continue;
        }
        if (c != '\\') {
            out += static_cast<char>(c);
            i++;
            continue;
        }
        if (i + 1 >= in.size()) return false;
        const char e = in[i + 1];
        i += 2;
        switch (e) {
            case '"':
                out += '"';
                break;
            case '\\':
                out += '\\';
                break;
            case '/':
                out += '/';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'u': {
                uint32_t v;
                if (!detail::read_hex4(in, i, v)) return false;
                i += 4;
                if (v >= 0xd800 && v <= 0xdbff) {
                    uint32_t lo;
                    if (i + 2 > in.size() || in[i] != '\\' || in[i + 1] != 'u') return false;
                    if (!detail::read_hex4(in, i + 2, lo)) return false;
                    if (lo < 0xdc00 || lo > 0xdfff) return false;
                    i += 6;
                    append_utf8(out, 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00));
                } else if (v >= 0xdc80 && v <= 0xdcff) {
                    out += static_cast<char>(v & 0xff);
                } else if (v >= 0xdc00 && v <= 0xdfff) {
                    return false;
                } else {
                    append_utf8(out, v);
                }
                break;
            }
            default:
                return false;
        }
    }
    return false;  // unterminated
}

// One output record: valid UTF-8, no control character but the final
// newline of a text line; a JSON record is one object.
inline bool is_record_line(const std::string &s, bool json) {
    if (s.empty() || !is_valid_utf8(s)) return false;
    for (size_t i = 0; i + 1 < s.size(); i++)
        if (static_cast<uint8_t>(s[i]) < 0x20 || s[i] == 0x7f) return false;
    if (json) return s.front() == '{' && s.back() == '}';
    return s.back() == '\n';
}

}  // namespace bpfkit_test
