// SPDX-License-Identifier: GPL-2.0-only
#include "httpsnoop_http.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>

namespace bpfkit::httpsnoop {

namespace {

constexpr std::string_view kMethods[] = {"GET",   "POST",    "PUT",     "HEAD", "DELETE",
                                         "PATCH", "OPTIONS", "CONNECT", "TRACE"};

// ASCII case folding (header names are ASCII; no locale).
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// a equals the lower-case b, ignoring case.
bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (lower(a[i]) != b[i]) return false;
    return true;
}

// Up to eight bytes at p as a number, the first byte lowest (on any byte
// order).
uint64_t word_at(const char *p, size_t len) {
    uint64_t v = 0;
    if (len == 8) {
        memcpy(&v, p, sizeof(v));
        if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
        return v;
    }
    for (size_t i = 0; i < len; i++)
        v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    return v;
}

// A header name looked for (in lower case, at most 24 bytes), compared
// eight bytes at a time: the case bit (0x20) is set in the bytes that are
// letters in it before the compare. Exact: a letter and its capital are the
// only two bytes that differ in that bit alone, and the other bytes are
// compared as they are.
class HeaderName {
  public:
    constexpr explicit HeaderName(std::string_view lc) : size_(lc.size()) {
        // Windows of eight from the start; the last one ends at the end.
        for (size_t at = 0; n_ < 3 && at < size_; at += 8) {
            Window &w = w_[n_++];
            w.at = size_ >= 8 ? std::min(at, size_ - 8) : 0;
            w.len = std::min<size_t>(8, size_);
            for (size_t i = 0; i < w.len; i++) {
                const auto c = static_cast<unsigned char>(lc[w.at + i]);
                w.value |= uint64_t{c} << (8 * i);
                if (c >= 'a' && c <= 'z') w.fold |= uint64_t{0x20} << (8 * i);
            }
        }
    }
    bool matches(std::string_view name) const {
        if (name.size() != size_) return false;
        for (size_t k = 0; k < n_; k++) {
            const Window &w = w_[k];
            if ((word_at(name.data() + w.at, w.len) | w.fold) != w.value) return false;
        }
        return true;
    }

  private:
    struct Window {
        size_t at = 0, len = 0;
        uint64_t value = 0, fold = 0;
    };
    size_t size_ = 0, n_ = 0;
    Window w_[3] = {};
};

constexpr HeaderName kHost("host"), kContentLength("content-length"),
    kTransferEncoding("transfer-encoding");

// The header names parse_head() looks at, told apart by length first.
enum class Wanted { None, Host, ContentLength, TransferEncoding };
Wanted wanted_header(std::string_view name) {
    switch (name.size()) {
        case 4:
            return kHost.matches(name) ? Wanted::Host : Wanted::None;
        case 14:
            return kContentLength.matches(name) ? Wanted::ContentLength : Wanted::None;
        case 17:
            return kTransferEncoding.matches(name) ? Wanted::TransferEncoding : Wanted::None;
        default:
            return Wanted::None;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// A decimal number of at most 18 digits.
std::optional<uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

std::optional<uint64_t> parse_hex(std::string_view s) {
    if (s.empty() || s.size() > 15) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return std::nullopt;
        v = v * 16 + static_cast<uint64_t>(d);
    }
    return v;
}

// The end of the head (just past the blank line) in s, searching from `from`.
size_t head_end(std::string_view s, size_t from) {
    const char *b = s.data();
    const size_t n = s.size();
    for (size_t i = from; i < n; i++) {
        const void *nl = memchr(b + i, '\n', n - i);
        if (!nl) break;
        i = static_cast<size_t>(static_cast<const char *>(nl) - b);
        if (i + 1 < n && b[i + 1] == '\n') return i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n') return i + 3;
    }
    return std::string_view::npos;
}

}  // namespace

bool starts_message(std::string_view s) {
    if (s.starts_with("HTTP/")) return true;
    for (auto m : kMethods)
        if (s.size() > m.size() && s.starts_with(m) && s[m.size()] == ' ') return true;
    // Not enough bytes to tell: a prefix of "HTTP/" or of a method.
    return false;
}

bool could_start(std::string_view s) {
    if (s.empty()) return false;
    if (std::string_view("HTTP/").starts_with(s)) return true;
    for (auto m : kMethods) {
        // s is a proper prefix of the method followed by a space.
        if (s.size() <= m.size() && m.starts_with(s)) return true;
    }
    return false;
}

bool is_h2_preface(std::string_view s) {
    return s.size() >= 4 && s.starts_with("PRI ") &&
           kH2Preface.starts_with(s.substr(0, std::min(s.size(), kH2Preface.size())));
}

bool Http1Stream::parse_head(std::string_view h, bool complete, size_t *end) {
    const char *b = h.data();
    // The next line's end from pos (memchr: one pass over the head).
    auto line_end = [&](size_t pos) -> size_t {
        const void *nl = pos < h.size() ? memchr(b + pos, '\n', h.size() - pos) : nullptr;
        return nl ? static_cast<size_t>(static_cast<const char *>(nl) - b) : std::string_view::npos;
    };
    if (end) *end = std::string_view::npos;
    size_t eol = line_end(0);
    if (end && eol == std::string_view::npos) return true;
    std::string_view first = eol == std::string_view::npos ? h : h.substr(0, eol);
    if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
    if (first.starts_with("HTTP/")) {
        msg_.request = false;
        size_t sp = first.find(' ');
        if (sp == std::string_view::npos) return !complete ? true : false;
        msg_.http10 = first.substr(5, sp - 5) == "1.0";
        std::string_view rest = first.substr(sp + 1);
        if (rest.size() < 3 || !isdigit(static_cast<unsigned char>(rest[0])) ||
            !isdigit(static_cast<unsigned char>(rest[1])) ||
            !isdigit(static_cast<unsigned char>(rest[2])) || (rest.size() > 3 && rest[3] != ' '))
            return false;
        msg_.status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    } else {
        msg_.request = true;
        size_t sp = first.find(' ');
        if (sp == std::string_view::npos) return false;
        msg_.method.assign(first.substr(0, sp));
        // A start pieced together from short reads must still be a method.
        if (std::find(std::begin(kMethods), std::end(kMethods), msg_.method) == std::end(kMethods))
            return false;
        std::string_view rest = first.substr(sp + 1);
        size_t sp2 = rest.rfind(' ');
        if (sp2 != std::string_view::npos && rest.substr(sp2 + 1).starts_with("HTTP/")) {
            msg_.path.assign(rest.substr(0, sp2));
            msg_.http10 = rest.substr(sp2 + 6) == "1.0";
        } else {
            if (complete) return false;
            msg_.path.assign(rest);  // cut off before the version
        }
    }
    // Headers: the ones framing needs, and Host.
    bool chunked = false;
    std::optional<uint64_t> length;
    bool bad_length = false;
    size_t pos = eol == std::string_view::npos ? h.size() : eol + 1;
    bool blank = false;
    while (pos < h.size()) {
        size_t e = line_end(pos);
        if (e == std::string_view::npos) break;  // a line cut off
        std::string_view line = h.substr(pos, e - pos);
        pos = e + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
            blank = true;
            break;
        }
        const void *colon = memchr(line.data(), ':', line.size());
        if (!colon) continue;
        // (the value trimmed only for the names wanted)
        const size_t c = static_cast<size_t>(static_cast<const char *>(colon) - line.data());
        std::string_view raw = line.substr(c + 1);
        switch (wanted_header(line.substr(0, c))) {
            case Wanted::Host:
                msg_.host.assign(trim(raw));
                break;
            case Wanted::ContentLength: {
                auto v = parse_u64(trim(raw));
                if (!v || (length && *length != *v))
                    bad_length = true;
                else
                    length = v;
                break;
            }
            case Wanted::TransferEncoding: {
                // chunked only when it is the last coding
                std::string_view v = trim(raw);
                size_t comma = v.rfind(',');
                if (comma != std::string_view::npos) v = trim(v.substr(comma + 1));
                chunked = ieq(v, "chunked");
                break;
            }
            case Wanted::None:
                break;
        }
    }
    if (end) {
        if (!blank) return true;  // the head goes on past h
        *end = pos;
    }
    if (!complete) return true;
    msg_.chunked = chunked;
    bool no_body = false;
    if (!msg_.request) {
        no_body = (msg_.status >= 100 && msg_.status < 200) || msg_.status == 204 ||
                  msg_.status == 304 || (head_query_ && head_query_());
    }
    if (bad_length && !chunked) return false;
    if (no_body) {
        st_ = St::Start;
    } else if (chunked) {
        st_ = St::ChunkSize;
        line_.clear();
    } else if (length) {
        remaining_ = *length;
        st_ = *length ? St::BodyLen : St::Start;
    } else if (msg_.request) {
        st_ = St::Start;  // a request without either has no body
    } else {
        st_ = St::UntilClose;
    }
    return true;
}

void Http1Stream::forget_head() {
    // Only the start's time was set before the head (in St::Start).
    const uint64_t first_ts = msg_.first_ts;
    msg_.clear();
    msg_.first_ts = first_ts;
}

void Http1Stream::keep_body(std::span<const uint8_t> b) {
    if (body_keep_ <= msg_.body.size()) return;
    size_t n = std::min(b.size(), body_keep_ - msg_.body.size());
    msg_.body.append(reinterpret_cast<const char *>(b.data()), n);
}

uint64_t Http1Stream::take_body(const Chunk &c, uint64_t pos, uint64_t cap) {
    uint64_t n = std::min(remaining_, c.len - pos);
    if (pos < cap) keep_body(c.data.subspan(pos, static_cast<size_t>(std::min(n, cap - pos))));
    remaining_ -= n;
    msg_.body_bytes += n;
    return n;
}

void Http1Stream::finish(End how) {
    ++stats_.messages;
    switched_ = false;
    if (how == End::Complete && msg_.status == 101) switched_ = true;
    hdr_.clear();
    // Taken from msg_ by the callee; made again where the next message starts.
    on_message_(std::move(msg_), how);
}

void Http1Stream::lose() {
    ++stats_.gaps;
    msg_.truncated = true;
    st_ = St::Lost;
    finish(End::Lost);
}

void Http1Stream::feed(const Chunk &c) {
    const uint64_t cap = std::min<uint64_t>(c.data.size(), c.len);
    const char *d = reinterpret_cast<const char *>(c.data.data());
    uint64_t pos = 0;
    if (st_ == St::Opaque) return;
    if (st_ == St::Lost) {
        if (cap == 0 || !starts_message(std::string_view(d, cap))) return;
        st_ = St::Start;
    }
    while (pos < c.len) {
        switch (st_) {
            case St::Start: {
                if (pos >= cap) {  // a message starts in bytes not captured
                    ++stats_.gaps;
                    st_ = St::Lost;
                    return;
                }
                if (d[pos] == '\r' || d[pos] == '\n') {  // CRLF between messages
                    ++pos;
                    continue;
                }
                std::string_view rest(d + pos, cap - pos);
                // A start line that arrives a few bytes at a time (a slow
                // client) begins with a piece of one.
                if (!starts_message(rest) && !(cap == c.len && could_start(rest))) {
                    // A method or "HTTP/" cut off by the capture is not malformed.
                    if (pos + rest.size() == cap && cap < c.len && rest.size() < 8) {
                        ++stats_.gaps;
                    } else {
                        ++stats_.malformed;
                    }
                    st_ = St::Lost;
                    return;
                }
                msg_.clear();
                msg_.first_ts = c.ts_ns;
                hdr_.clear();
                st_ = St::Headers;
                break;
            }
            case St::Headers: {
                size_t old = hdr_.size();
                uint64_t take = cap - std::min(cap, pos);
                size_t room = kMaxHead - old;
                std::string_view add(d + pos, static_cast<size_t>(std::min<uint64_t>(take, room)));
                size_t e = std::string::npos;
                bool ok = false;
                if (old == 0) {
                    // A head that starts and ends in this read or write (the
                    // usual case) is parsed where it lies, not copied, in
                    // the same pass that finds its end.
                    ok = parse_head(add, true, &e);
                    // No end in these bytes: nothing parsed yet, as before
                    // (an early response must not pair with half a head).
                    if (e == std::string::npos) forget_head();
                }
                if (e == std::string::npos) {
                    hdr_.append(add);
                    e = head_end(hdr_, old >= 3 ? old - 3 : 0);
                    if (e != std::string::npos) {
                        hdr_.resize(e);
                        ok = parse_head(hdr_, true);
                    }
                }
                if (e != std::string::npos) {
                    uint64_t used = e - old;
                    pos += used;
                    msg_.header_bytes += used;
                    if (!ok) {
                        ++stats_.malformed;
                        msg_.truncated = true;
                        st_ = St::Lost;
                        finish(End::Lost);
                        return;
                    }
                    if (st_ == St::Start) finish(End::Complete);
                    break;
                }
                pos += add.size();
                msg_.header_bytes += add.size();
                if (hdr_.size() >= kMaxHead || (pos >= cap && cap < c.len)) {
                    // The end of the head is in bytes not kept or not captured.
                    ++stats_.truncated;
                    msg_.header_bytes += c.len - pos;
                    if (!parse_head(hdr_, false)) ++stats_.malformed;
                    lose();
                    return;
                }
                if (pos < c.len) {  // kept bytes ran out: skip the rest
                    msg_.header_bytes += c.len - pos;
                    pos = c.len;
                }
                break;
            }
            case St::BodyLen: {
                pos += take_body(c, pos, cap);
                if (remaining_ == 0) {
                    st_ = St::Start;
                    finish(End::Complete);
                }
                break;
            }
            case St::ChunkSize:
            case St::Trailer: {
                if (pos >= cap) {  // the size line is in bytes not captured
                    lose();
                    return;
                }
                char ch = d[pos++];
                msg_.body_bytes++;
                if (ch != '\n') {
                    if (line_.size() < 256) line_ += ch;
                    break;
                }
                std::string_view l = trim(line_);
                if (st_ == St::ChunkSize) {
                    size_t semi = l.find(';');
                    if (semi != std::string_view::npos) l = trim(l.substr(0, semi));
                    auto n = parse_hex(l);
                    line_.clear();
                    if (!n) {
                        ++stats_.malformed;
                        lose();
                        return;
                    }
                    if (*n == 0) {
                        st_ = St::Trailer;
                    } else {
                        remaining_ = *n;
                        st_ = St::ChunkData;
                    }
                } else {
                    bool end = l.empty();
                    line_.clear();
                    if (end) {
                        st_ = St::Start;
                        finish(End::Complete);
                    }
                }
                break;
            }
            case St::ChunkData: {
                pos += take_body(c, pos, cap);
                if (remaining_ == 0) {
                    st_ = St::ChunkCrlf;
                    remaining_ = 2;
                }
                break;
            }
            case St::ChunkCrlf: {
                // CRLF after the data: taken on trust where not captured.
                uint64_t n = std::min(remaining_, c.len - pos);
                pos += n;
                remaining_ -= n;
                msg_.body_bytes += n;
                if (remaining_ == 0) {
                    st_ = St::ChunkSize;
                    line_.clear();
                }
                break;
            }
            case St::UntilClose: {
                if (pos < cap) keep_body(c.data.subspan(pos, static_cast<size_t>(cap - pos)));
                msg_.body_bytes += c.len - pos;
                pos = c.len;
                break;
            }
            case St::Lost:
            case St::Opaque:
                return;
        }
    }
}

void Http1Stream::close() {
    switch (st_) {
        case St::Start:
        case St::Lost:
        case St::Opaque:
            return;
        case St::UntilClose:
            st_ = St::Start;
            finish(End::Complete);
            return;
        case St::Headers:
            if (!hdr_.empty()) parse_head(hdr_, false);
            [[fallthrough]];
        default:
            msg_.truncated = true;
            st_ = St::Start;
            finish(End::Closed);
            return;
    }
}

void Http1Stream::supersede() {
    if (st_ != St::BodyLen) return;
    msg_.body_unseen = true;
    msg_.body_bytes += remaining_;
    remaining_ = 0;
    st_ = St::Start;
    finish(End::Superseded);
}

}  // namespace bpfkit::httpsnoop
