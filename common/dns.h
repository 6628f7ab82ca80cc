// DNS messages from untrusted bytes: a bounded parser (RFC 1035, 3596, 2782, 6891, 9460), the
// framing of DNS over TCP (RFC 1035 4.2.2 / RFC 7766), and a passive address -> name cache.
//
// The parser reads only inside the span handed in and does no recursion.  Each name takes at most
// kMaxPointers compression jumps and kMaxNameLen bytes; memory grows with the bytes actually
// present, never with the counts the header claims.  No exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "packet.h"

namespace bpfkit::dns {

inline constexpr size_t kHeaderLen = 12;
inline constexpr size_t kMaxNameLen = 255;  // uncompressed wire form, root byte included
inline constexpr size_t kMaxLabelLen = 63;
inline constexpr unsigned kMaxPointers = 128;  // compression jumps per name

// Record types the parser decodes (others are kept raw).
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypePtr = 12;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;
inline constexpr uint16_t kTypeDname = 39;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kTypeSvcb = 64;
inline constexpr uint16_t kTypeHttps = 65;
inline constexpr uint16_t kTypeSpf = 99;
inline constexpr uint16_t kTypeAny = 255;
inline constexpr uint16_t kClassIn = 1;

inline constexpr uint16_t kRcodeNoError = 0;
inline constexpr uint16_t kRcodeFormErr = 1;
inline constexpr uint16_t kRcodeServFail = 2;
inline constexpr uint16_t kRcodeNxDomain = 3;
inline constexpr uint16_t kRcodeRefused = 5;
inline constexpr uint16_t kRcodeBadVers = 16;

enum class Error : uint8_t {
    Ok,
    // Errors that stop the parse (the Message holds what came before them).  The name errors
    // can also be confined to a name inside one record's RDATA (see Record::rdata_error).
    TruncatedHeader,    // fewer than 12 bytes
    TruncatedName,      // a name (question or record owner) runs past the end of the message
    TruncatedQuestion,  // QTYPE/QCLASS cut short
    TruncatedRecord,    // TYPE/CLASS/TTL/RDLENGTH cut short
    TruncatedRdata,     // RDLENGTH reaches past the end of the message
    TooManyRecords,   // the message ends (at an entry boundary) before the header's counts are met
    BadLabelType,     // label type 0x40 or 0x80 (extended / reserved)
    NameTooLong,      // more than kMaxNameLen bytes decoded
    TooManyPointers,  // more than kMaxPointers compression jumps
    PointerLoop,      // a compression pointer to itself or into bytes this name already read
    ForwardPointer,   // a compression pointer further on in the message
    // Errors confined to one record's RDATA (Record::rdata_error; parsing goes on):
    BadRdata,  // RDATA does not match its type's layout (wrong length, name past RDLENGTH, ...)
    BadOpt,    // OPT record not owned by the root, a second OPT, or an option past RDLENGTH
};

// Short, stable snake_case name ("ok", "pointer_loop", ...); "unknown" outside the enum.
const char *error_name(Error e);

// A domain name, byte-exact: labels may hold any bytes, dots included.
struct Name {
    // Uncompressed wire form: each label as a length byte and its bytes, then the 0 root byte
    // ("\3www\7example\3com\0"; the root is "\0").  Empty when no name was read.
    std::string wire;

    bool empty() const { return wire.empty(); }
    bool is_root() const { return wire.size() == 1; }
    size_t label_count() const;
    std::vector<std::string_view> labels() const;  // root label not included
    // RFC 1035 presentation form: labels joined by '.', with '.', '\', '"', '(', ')', ';', '@'
    // and '$' escaped by a backslash and bytes outside 0x21..0x7e as \DDD (decimal).  No
    // trailing dot unless asked; the root is "."; an empty Name gives "".
    std::string presentation(bool trailing_dot = false) const;
    // ASCII case-insensitive comparison (RFC 4343).
    bool equals(const Name &o) const;
    // Builds a name from raw labels (no escapes); nullopt if a label is empty or longer than 63
    // bytes or the name is longer than 255 bytes.
    static std::optional<Name> from_labels(std::span<const std::string_view> labels);
};

struct Question {
    Name name;
    uint16_t type = 0;
    uint16_t klass = 0;  // the top bit is the mDNS unicast-response bit, kept as is
};

struct Soa {
    Name mname, rname;
    uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

struct SvcParam {  // SVCB/HTTPS SvcParam, value kept raw
    uint16_t key = 0;
    std::vector<uint8_t> value;
};

struct Record {
    Name name;
    uint16_t type = 0;
    uint16_t klass = 0;  // for OPT: the requester's UDP payload size
    uint32_t ttl = 0;    // as sent (for OPT: extended rcode, version and flags)
    // RDATA exactly as on the wire (names inside may be compression pointers into the message),
    // and where it starts in the message: msg[rdata_offset, rdata_offset + rdata.size()).
    uint32_t rdata_offset = 0;
    std::vector<uint8_t> rdata;

    // Decoded RDATA.  `decoded` is true when the type is one the parser knows and its RDATA
    // decoded cleanly; otherwise only the raw bytes are meaningful and rdata_error tells why.
    bool decoded = false;
    Error rdata_error = Error::Ok;
    std::optional<pkt::IpAddr> addr;   // A, AAAA
    Name target;                       // CNAME, DNAME, PTR, NS, MX exchange, SRV, SVCB/HTTPS target
    uint16_t pref = 0;                 // MX preference
    uint16_t priority = 0;             // SRV, SVCB/HTTPS (0: alias mode)
    uint16_t weight = 0, port = 0;     // SRV
    std::vector<std::string> txt;      // TXT, SPF character-strings, raw bytes
    Soa soa;                           // SOA
    std::vector<SvcParam> svc_params;  // SVCB/HTTPS

    // RDATA in presentation form: "192.0.2.1", "10 mail.example.com", "\"v=spf1\" \"-all\"",
    // SOA and SRV fields separated by spaces, "1 . alpn=h2,h3 port=443", and RFC 3597's
    // "\# 3 0a0b0c" for other types or RDATA that did not decode.  Names without trailing dot.
    std::string rdata_presentation() const;
};

struct EdnsOption {
    uint16_t code = 0;
    std::vector<uint8_t> data;
};

struct Edns {
    bool present = false;   // an OPT record was found in the additional section
    uint16_t udp_size = 0;  // requester's UDP payload size (OPT CLASS)
    uint8_t ext_rcode = 0;  // upper 8 bits of the 12-bit rcode (already folded into rcode)
    uint8_t version = 0;
    bool do_bit = false;              // DNSSEC OK
    uint16_t flags = 0;               // the 16 flag bits, DO included (0x8000)
    std::vector<EdnsOption> options;  // raw, in order
};

struct Message {
    uint16_t id = 0;
    bool qr = false;  // response
    uint8_t opcode = 0;
    bool aa = false, tc = false, rd = false, ra = false, z = false, ad = false, cd = false;
    uint16_t rcode = 0;  // 4 bits from the header, plus EDNS's extended rcode << 4
    uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;  // as the header claims
    std::vector<Question> questions;
    std::vector<Record> answers, authority, additional;  // the OPT record stays in additional
    Edns edns;
    bool complete = false;  // every entry the header counts was parsed
    size_t trailing = 0;    // bytes after the last entry (complete messages only)
};

// Parses one DNS message (the UDP payload, or a TCP message without its length prefix).  `out`
// is reset first.  Returns
//  - Ok: everything parsed (out.complete);
//  - the error that stopped the parse (out.complete false): `out` keeps the header and every
//    whole entry before the failure;
//  - for a complete parse with a record whose RDATA did not decode, the first such record's
//    rdata_error (BadRdata, BadOpt, or a name error inside RDATA); out.complete is true.
Error parse(std::span<const uint8_t> msg, Message &out);

// "NOERROR", "NXDOMAIN", "BADVERS", ...; "RCODE<n>" when unassigned.
std::string rcode_name(uint16_t rcode);
// "QUERY", "NOTIFY", "UPDATE", ...; "OPCODE<n>" when unassigned.
std::string opcode_name(uint8_t opcode);
// "A", "AAAA", "HTTPS", ...; "TYPE<n>" (RFC 3597) when not in the table.
std::string type_name(uint16_t type);
// Inverse of type_name (ASCII case-insensitive), "TYPE<n>" included; nullopt if unknown.
std::optional<uint16_t> type_from_name(std::string_view name);
// "IN", "CH", "HS", "NONE", "ANY"; "CLASS<n>" otherwise.
std::string class_name(uint16_t klass);

// DNS over TCP: each message is preceded by a 2-byte big-endian length.  Feed one direction's
// stream bytes in order; on_message is called with each complete message (without the prefix;
// the span is valid only during the call), whether it arrived whole, several per segment, or
// split across segments.  At most 65535 + 2 bytes are ever buffered.  A message longer than
// max_message is skipped without being buffered (its bytes count as discarded) and framing goes
// on after it; a zero length prefix is discarded too.  After a gap in the stream call reset().
// on_message must not call back into the same TcpFramer.
class TcpFramer {
  public:
    explicit TcpFramer(size_t max_message = 65535) : max_message_(max_message) {}
    void feed(std::span<const uint8_t> bytes,
              const std::function<void(std::span<const uint8_t>)> &on_message);
    // Bytes taken in and never delivered: skipped messages with their prefixes, and the partial
    // message that reset() dropped.
    uint64_t discarded() const { return discarded_; }
    uint64_t messages() const { return messages_; }
    size_t buffered() const { return buf_.size(); }
    // Forgets a partial message (counted as discarded); the next byte fed starts a length prefix.
    void reset();
    // n bytes of the stream, at this point, were never seen (a capture cut a segment short).
    // A message begun and not finished goes to on_partial as far as it came (its first bytes,
    // without the prefix; counted as discarded), and when the lost bytes end inside it,
    // framing goes on after it.  Returns false when the framer cannot know where the next
    // message starts (the loss reached past a message, or into a length prefix): it then
    // starts afresh at the next byte fed, as after reset().
    bool lose(size_t n, const std::function<void(std::span<const uint8_t>)> &on_partial);

  private:
    size_t max_message_;
    std::vector<uint8_t> buf_;  // the length prefix and message bytes received so far
    size_t skip_ = 0;           // bytes still to skip of an oversized message
    uint64_t discarded_ = 0;
    uint64_t messages_ = 0;
};

// Passive address -> name cache, fed with DNS responses.  For each NOERROR response to a query
// (class IN), the A/AAAA records owned by the question name, or by a name it leads to through
// the CNAME records of the answer section, map their address to the question name in
// presentation form.  The entry lives for the smallest TTL along the chain (but at least
// min_ttl_s).  An address already cached under another, unexpired name keeps that first name;
// its lifetime is extended.  At most max_entries addresses are kept; beyond that the least
// recently observed or looked-up one is evicted.  Time is the caller's clock, in seconds.
class NameCache {
  public:
    explicit NameCache(size_t max_entries = 4096, uint32_t min_ttl_s = 0);
    void observe(const Message &response, uint64_t now_s);
    // The name for `addr` if cached and not expired (now_s < expiry).  Marks the entry as
    // recently used; drops it if expired.
    std::optional<std::string> lookup(const pkt::IpAddr &addr, uint64_t now_s);
    size_t size() const { return map_.size(); }
    uint64_t evictions() const { return evictions_; }  // dropped for room, not for expiry
    void clear();

  private:
    struct Entry {
        pkt::IpAddr addr;
        std::string name;
        uint64_t expires;
    };
    struct AddrHash {
        size_t operator()(const pkt::IpAddr &a) const;
    };
    void insert(const pkt::IpAddr &addr, const std::string &name, uint64_t expires, uint64_t now_s);

    size_t max_;
    uint32_t min_ttl_;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<pkt::IpAddr, std::list<Entry>::iterator, AddrHash> map_;
    uint64_t evictions_ = 0;
};

}  // namespace bpfkit::dns
