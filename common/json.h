// JSON lines output: one object per line, strings escaped byte-exactly.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace bpfkit {

// Appends bytes as a JSON string literal, quotes included. The line can never be broken and no
// byte is lost:
//  - well-formed UTF-8 passes through unchanged, except '"' -> \" and '\' -> \\ ;
//  - 0x00-0x1f and 0x7f -> \b \f \n \r \t where those exist, else \u00XX (lowercase hex);
//  - each byte that is not part of well-formed UTF-8 (stray continuation bytes, truncated
//    sequences, overlong forms, encoded surrogates, code points above U+10FFFF, C0, C1, F5..FF)
//    -> \udcXX, XX being the byte (Python's "surrogateescape", PEP 383):
//    json.loads(line)[k].encode('utf-8', 'surrogateescape') gives back the original bytes.
// The output is valid UTF-8 and contains no byte below 0x20 and no 0x7f.
void json_escape_append(std::string &out, std::string_view bytes);
std::string json_escape(std::string_view bytes);
// The same written at p, which has room for json_escape_room(bytes.size())
// bytes: returns the end.
inline constexpr size_t json_escape_room(size_t n) {
    return 6 * n + 2;
}
char *json_escape_to(char *p, std::string_view bytes);
// Appends a JSON number (decimal, no exponent).
void json_number_append(std::string &out, long long v);
void json_number_append(std::string &out, unsigned long long v);

// Builds one JSON text (normally one object = one line); commas and ':' are inserted for the
// caller. The caller keeps the structure sensible: key() before each value inside an object, no
// key() inside an array, every begin_* closed by the matching end_*.
//
//   JsonWriter w;
//   w.begin_object().kv("pid", pid).kv("comm", comm).key("addrs").begin_array();
//   for (auto &a : addrs) w.value(a);
//   w.end_array().end_object();
//   w.write_line(stdout);
class JsonWriter {
  public:
    JsonWriter &begin_object();
    JsonWriter &end_object();
    JsonWriter &begin_array();
    JsonWriter &end_array();
    JsonWriter &key(std::string_view k);

    JsonWriter &value(std::string_view s);
    JsonWriter &value(const std::string &s) { return value(std::string_view(s)); }
    JsonWriter &value(const char *s);  // nullptr -> null
    JsonWriter &value(int v) { return value(static_cast<long long>(v)); }
    JsonWriter &value(unsigned v) { return value(static_cast<unsigned long long>(v)); }
    JsonWriter &value(long v) { return value(static_cast<long long>(v)); }
    JsonWriter &value(unsigned long v) { return value(static_cast<unsigned long long>(v)); }
    JsonWriter &value(long long v);
    JsonWriter &value(unsigned long long v);
    JsonWriter &value(double v);  // shortest round-trip form; NaN and infinities -> null
    JsonWriter &value(bool v);
    JsonWriter &null();
    // Inserts pre-formatted JSON (a number, an object, ...) as one value, unchecked.
    JsonWriter &raw(std::string_view json);

    template <class T>
    JsonWriter &kv(std::string_view k, const T &v) {
        key(k);
        return value(v);
    }

    const std::string &str() const { return buf_; }
    std::string take();  // returns the text and clears the writer
    void clear();
    // True when every begin_* has been closed (and something was written).
    bool complete() const { return open_.empty() && !buf_.empty() && !after_key_; }
    // Writes str() plus '\n' with a single fwrite and clears the writer. False on a write error.
    bool write_line(FILE *f);

  private:
    void separate();  // the ',' before the next element, unless it follows a key or an opener
    std::string buf_;
    std::vector<bool> open_;  // per open container: true once it holds an element
    bool after_key_ = false;
};

// One flat JSON object appended to a string, for records printed at a high
// rate: no nesting and no per-member bookkeeping, and the keys must be
// plain ASCII literals (they are not escaped). The text is the same as
// JsonWriter's for the same members.
//
//   JsonMembers m(line);
//   m.str("comm", comm);
//   m.num("pid", pid);
//   m.end();
class JsonMembers {
  public:
    explicit JsonMembers(std::string &out) : s_(out) { s_ += '{'; }
    void str(std::string_view k, std::string_view v) {
        key(k);
        json_escape_append(s_, v);
    }
    void num(std::string_view k, long long v);
    void unum(std::string_view k, unsigned long long v);
    void boolean(std::string_view k, bool v) {
        key(k);
        s_ += v ? "true" : "false";
    }
    void null(std::string_view k) {
        key(k);
        s_ += "null";
    }
    void end() { s_ += '}'; }

  private:
    void key(std::string_view k) {
        if (!first_) s_ += ',';
        first_ = false;
        s_ += '"';
        s_ += k;
        s_ += "\":";
    }
    std::string &s_;
    bool first_ = true;
};

}  // namespace bpfkit
