#include "json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "text.h"

namespace bpfkit {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Bytes that a JSON string cannot carry as they are (a table: one load a
// byte in the scans below, not four compares).
constexpr auto kNeedsEscape = [] {
    std::array<bool, 256> t{};
    for (unsigned b = 0; b < 256; b++)
        t[b] = b < 0x20 || b >= 0x7f || b == '"' || b == '\\';
    return t;
}();

bool needs_escape(unsigned char b) {
    return kNeedsEscape[b];
}

// The length of the leading run of bytes that need no escape.
size_t plain_prefix(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && !needs_escape(static_cast<unsigned char>(s[i])))
        i++;
    return i;
}

template <class T>
void append_number(std::string &out, T v) {
    char tmp[24];
    const auto res = std::to_chars(tmp, tmp + sizeof(tmp), v);
    // (by length: the iterator form goes through the general replace)
    out.append(tmp, static_cast<size_t>(res.ptr - tmp));
}

void append_u_escape(std::string &out, unsigned hi_byte, unsigned char b) {
    out += "\\u";
    out += kHex[(hi_byte >> 4) & 0xf];
    out += kHex[hi_byte & 0xf];
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
}

}  // namespace

void json_escape_append(std::string &out, std::string_view bytes) {
    // Most strings need no escape at all: they go in with their quotes at once.
    size_t i = plain_prefix(bytes);
    const size_t at = out.size();
    out.resize(at + i + 2);
    out[at] = '"';
    if (i) memcpy(&out[at + 1], bytes.data(), i);
    if (i == bytes.size()) {
        out[at + 1 + i] = '"';
        return;
    }
    out.resize(at + 1 + i);
    out.reserve(out.size() + bytes.size() - i + 1);
    while (i < bytes.size()) {
        // A run of bytes that need no escape goes in at once.
        size_t run = i;
        while (run < bytes.size() && !needs_escape(static_cast<unsigned char>(bytes[run])))
            run++;
        if (run > i) {
            out.append(bytes.substr(i, run - i));
            i = run;
            continue;
        }
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x80) {
            const size_t len = utf8_sequence_length(bytes, i);
            if (len == 0) {
                append_u_escape(out, 0xdc, c);  // surrogateescape
                i++;
            } else {
                out.append(bytes.substr(i, len));
                i += len;
            }
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    append_u_escape(out, 0x00, c);
                } else {
                    out += static_cast<char>(c);
                }
        }
        i++;
    }
    out += '"';
}

char *json_escape_to(char *p, std::string_view bytes) {
    const size_t i = plain_prefix(bytes);
    if (i < bytes.size()) {  // (rare) the escaping done once, in json_escape_append
        thread_local std::string tmp;
        tmp.clear();
        json_escape_append(tmp, bytes);
        memcpy(p, tmp.data(), tmp.size());
        return p + tmp.size();
    }
    *p++ = '"';
    memcpy(p, bytes.data(), i);
    p += i;
    *p++ = '"';
    return p;
}

std::string json_escape(std::string_view bytes) {
    std::string out;
    json_escape_append(out, bytes);
    return out;
}

void json_number_append(std::string &out, long long v) {
    append_number(out, v);
}

void json_number_append(std::string &out, unsigned long long v) {
    append_number(out, v);
}

void JsonWriter::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (open_.empty()) return;
    if (open_.back()) buf_ += ',';
    open_.back() = true;
}

JsonWriter &JsonWriter::begin_object() {
    if (buf_.capacity() < 256) buf_.reserve(256);
    separate();
    buf_ += '{';
    open_.push_back(false);
    return *this;
}

JsonWriter &JsonWriter::end_object() {
    buf_ += '}';
    if (!open_.empty()) open_.pop_back();
    after_key_ = false;
    return *this;
}

JsonWriter &JsonWriter::begin_array() {
    separate();
    buf_ += '[';
    open_.push_back(false);
    return *this;
}

JsonWriter &JsonWriter::end_array() {
    buf_ += ']';
    if (!open_.empty()) open_.pop_back();
    after_key_ = false;
    return *this;
}

JsonWriter &JsonWriter::key(std::string_view k) {
    separate();
    // Keys are nearly always plain ASCII names: those go in without the
    // escaping pass.
    if (std::none_of(k.begin(), k.end(),
                     [](char c) { return needs_escape(static_cast<unsigned char>(c)); })) {
        buf_ += '"';
        buf_.append(k);
        buf_ += "\":";
        after_key_ = true;
        return *this;
    }
    json_escape_append(buf_, k);
    buf_ += ':';
    after_key_ = true;
    return *this;
}

JsonWriter &JsonWriter::value(std::string_view s) {
    separate();
    json_escape_append(buf_, s);
    return *this;
}

JsonWriter &JsonWriter::value(const char *s) {
    if (s == nullptr) return null();
    return value(std::string_view(s));
}

JsonWriter &JsonWriter::value(long long v) {
    separate();
    append_number(buf_, v);
    return *this;
}

JsonWriter &JsonWriter::value(unsigned long long v) {
    separate();
    append_number(buf_, v);
    return *this;
}

JsonWriter &JsonWriter::value(double v) {
    if (!std::isfinite(v)) return null();
    separate();
    char tmp[32];
    // Shortest representation that reads back to the same double: "0.1", "5", "1e+21", "-0".
    const auto res = std::to_chars(tmp, tmp + sizeof(tmp), v);
    buf_.append(tmp, res.ptr);
    return *this;
}

JsonWriter &JsonWriter::value(bool v) {
    separate();
    buf_ += v ? "true" : "false";
    return *this;
}

JsonWriter &JsonWriter::null() {
    separate();
    buf_ += "null";
    return *this;
}

JsonWriter &JsonWriter::raw(std::string_view json) {
    separate();
    buf_.append(json);
    return *this;
}

std::string JsonWriter::take() {
    std::string out = std::move(buf_);
    clear();
    return out;
}

void JsonWriter::clear() {
    buf_.clear();
    open_.clear();
    after_key_ = false;
}

bool JsonWriter::write_line(FILE *f) {
    buf_ += '\n';
    const bool ok = fwrite(buf_.data(), 1, buf_.size(), f) == buf_.size();
    clear();
    return ok;
}

void JsonMembers::num(std::string_view k, long long v) {
    key(k);
    append_number(s_, v);
}

void JsonMembers::unum(std::string_view k, unsigned long long v) {
    key(k);
    append_number(s_, v);
}

}  // namespace bpfkit
