#include "dns.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "byte_reader.h"

namespace bpfkit::dns {

namespace {

// Reads the name starting at `pos`.  Its bytes up to the first compression pointer (or the root
// label) must lie before `limit`; a pointer may lead anywhere before the bytes read so far.  On
// success `next` is the position just after the name as it appears at `pos`.
//
// Termination: every pointer must lead strictly before the start of the segment being read, so
// segment starts decrease; there are at most kMaxPointers of them and every label adds at least
// 2 bytes to a name capped at kMaxNameLen.
Error read_name(const ByteReader &r, uint32_t pos, uint32_t limit, Name &out, uint32_t &next) {
    struct Segment {
        uint32_t start, end;  // [start, end): bytes read, the pointer included
    };
    std::array<Segment, kMaxPointers> done;  // segments left by a jump
    unsigned jumps = 0;
    std::string &wire = out.wire;
    wire.clear();
    uint32_t cur = pos, lim = limit, seg_start = pos;
    for (;;) {
        if (cur >= lim) return Error::TruncatedName;
        uint8_t len = r.u8(cur);
        uint8_t kind = len & 0xc0;
        if (kind == 0xc0) {
            if (cur + 1 >= lim) return Error::TruncatedName;
            uint32_t target = (static_cast<uint32_t>(len & 0x3f) << 8) | r.u8(cur + 1);
            if (target >= seg_start) {
                if (target <= cur + 1) return Error::PointerLoop;
                for (unsigned i = 0; i < jumps; ++i)
                    if (target >= done[i].start && target < done[i].end) return Error::PointerLoop;
                return Error::ForwardPointer;
            }
            if (jumps == kMaxPointers) return Error::TooManyPointers;
            done[jumps] = {seg_start, cur + 2};
            if (jumps == 0) next = cur + 2;
            ++jumps;
            cur = seg_start = target;
            lim = r.n;
            continue;
        }
        if (kind != 0) return Error::BadLabelType;
        if (len == 0) {
            wire.push_back('\0');  // wire.size() <= kMaxNameLen - 1 here (checked below)
            if (jumps == 0) next = cur + 1;
            return Error::Ok;
        }
        if (!ByteReader::fits(cur + 1, len, lim)) return Error::TruncatedName;
        if (wire.size() + 1 + len + 1 > kMaxNameLen) return Error::NameTooLong;
        wire.push_back(static_cast<char>(len));
        wire.append(reinterpret_cast<const char *>(r.p + cur + 1), len);
        cur += 1 + len;
    }
}

// A name inside RDATA ending at `end`: one that runs past it is BadRdata.
Error read_rdata_name(const ByteReader &r, uint32_t pos, uint32_t end, Name &out, uint32_t &next) {
    Error e = read_name(r, pos, end, out, next);
    return e == Error::TruncatedName ? Error::BadRdata : e;
}

void clear_decoded(Record &rec) {
    rec.decoded = false;
    rec.addr.reset();
    rec.target = Name{};
    rec.pref = rec.priority = rec.weight = rec.port = 0;
    rec.txt.clear();
    rec.soa = Soa{};
    rec.svc_params.clear();
}

// A list of (u16 key, u16 length, value) entries filling [p, end), as SVCB
// parameters and EDNS options are; false when an entry runs past the end.
template <class F>
bool read_tlvs(const ByteReader &r, uint32_t p, uint32_t end, F each) {
    while (p < end) {
        if (!ByteReader::fits(p, 4, end)) return false;
        uint16_t l = r.u16(p + 2);
        if (!ByteReader::fits(p + 4, l, end)) return false;
        each(r.u16(p), r.p + p + 4, l);
        p += 4 + l;
    }
    return true;
}
// Decodes the RDATA at [off, off + len) (inside the message) of a known type.
Error decode_rdata(const ByteReader &r, uint32_t off, uint32_t len, Record &rec) {
    const uint32_t end = off + len;
    uint32_t next = 0;
    Error e = Error::Ok;
    switch (rec.type) {
        case kTypeA:
            if (len != 4) return Error::BadRdata;
            rec.addr = pkt::IpAddr::v4(r.p + off);
            return Error::Ok;
        case kTypeAaaa:
            if (len != 16) return Error::BadRdata;
            rec.addr = pkt::IpAddr::v6(r.p + off);
            return Error::Ok;
        case kTypeCname:
        case kTypeDname:
        case kTypePtr:
        case kTypeNs:
            e = read_rdata_name(r, off, end, rec.target, next);
            if (e != Error::Ok) return e;
            return next == end ? Error::Ok : Error::BadRdata;
        case kTypeMx:
            if (len < 2) return Error::BadRdata;
            rec.pref = r.u16(off);
            e = read_rdata_name(r, off + 2, end, rec.target, next);
            if (e != Error::Ok) return e;
            return next == end ? Error::Ok : Error::BadRdata;
        case kTypeTxt:
        case kTypeSpf:
            for (uint32_t p = off; p < end;) {
                uint8_t l = r.u8(p);
                if (!ByteReader::fits(p + 1, l, end)) return Error::BadRdata;
                rec.txt.emplace_back(reinterpret_cast<const char *>(r.p + p + 1), l);
                p += 1 + l;
            }
            return Error::Ok;
        case kTypeSrv:
            if (len < 6) return Error::BadRdata;
            rec.priority = r.u16(off);
            rec.weight = r.u16(off + 2);
            rec.port = r.u16(off + 4);
            e = read_rdata_name(r, off + 6, end, rec.target, next);
            if (e != Error::Ok) return e;
            return next == end ? Error::Ok : Error::BadRdata;
        case kTypeSoa:
            e = read_rdata_name(r, off, end, rec.soa.mname, next);
            if (e != Error::Ok) return e;
            e = read_rdata_name(r, next, end, rec.soa.rname, next);
            if (e != Error::Ok) return e;
            if (end - next != 20) return Error::BadRdata;
            rec.soa.serial = r.u32(next);
            rec.soa.refresh = r.u32(next + 4);
            rec.soa.retry = r.u32(next + 8);
            rec.soa.expire = r.u32(next + 12);
            rec.soa.minimum = r.u32(next + 16);
            return Error::Ok;
        case kTypeSvcb:
        case kTypeHttps:
            if (len < 2) return Error::BadRdata;
            rec.priority = r.u16(off);
            e = read_rdata_name(r, off + 2, end, rec.target, next);
            if (e != Error::Ok) return e;
            return read_tlvs(
                       r, next, end,
                       [&](uint16_t key, const uint8_t *v, uint16_t l) {
                           rec.svc_params.push_back(SvcParam{key, std::vector<uint8_t>(v, v + l)});
                       })
                       ? Error::Ok
                       : Error::BadRdata;
        default:
            return Error::Ok;
    }
}

bool known_rdata_type(uint16_t t) {
    switch (t) {
        case kTypeA:
        case kTypeAaaa:
        case kTypeCname:
        case kTypeDname:
        case kTypePtr:
        case kTypeNs:
        case kTypeMx:
        case kTypeTxt:
        case kTypeSpf:
        case kTypeSrv:
        case kTypeSoa:
        case kTypeSvcb:
        case kTypeHttps:
            return true;
        default:
            return false;
    }
}

// The OPT record `rec` of the additional section; fills `edns` unless it is a duplicate or not
// owned by the root.  Returns Ok or BadOpt.
Error decode_opt(const ByteReader &r, const Record &rec, Message &m) {
    if (m.edns.present || !rec.name.is_root()) return Error::BadOpt;
    Edns &ed = m.edns;
    ed.present = true;
    ed.udp_size = rec.klass;
    ed.ext_rcode = static_cast<uint8_t>(rec.ttl >> 24);
    ed.version = static_cast<uint8_t>(rec.ttl >> 16);
    ed.flags = static_cast<uint16_t>(rec.ttl & 0xffff);
    ed.do_bit = (rec.ttl & 0x8000) != 0;
    m.rcode = static_cast<uint16_t>((static_cast<uint16_t>(ed.ext_rcode) << 4) | (m.rcode & 0xf));
    const uint32_t end = rec.rdata_offset + static_cast<uint32_t>(rec.rdata.size());
    return read_tlvs(r, rec.rdata_offset, end,
                     [&](uint16_t code, const uint8_t *v, uint16_t l) {
                         ed.options.push_back(EdnsOption{code, std::vector<uint8_t>(v, v + l)});
                     })
               ? Error::Ok
               : Error::BadOpt;
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

void append_ddd(std::string &out, uint8_t c) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
    out += buf;
}

void append_label(std::string &out, std::string_view label) {
    for (char ch : label) {
        auto c = static_cast<uint8_t>(ch);
        switch (c) {
            case '.':
            case '\\':
            case '"':
            case '(':
            case ')':
            case ';':
            case '@':
            case '$':
                out.push_back('\\');
                out.push_back(ch);
                break;
            default:
                if (c < 0x21 || c > 0x7e)
                    append_ddd(out, c);
                else
                    out.push_back(ch);
        }
    }
}

// A character-string's contents (no quotes): '"' and '\' escaped, other bytes outside
// 0x20..0x7e as \DDD; `extra` is one more byte to escape with a backslash (0 for none).
void append_charstring(std::string &out, std::string_view s, char extra = 0) {
    for (char ch : s) {
        auto c = static_cast<uint8_t>(ch);
        if (ch == '"' || ch == '\\' || (extra != 0 && ch == extra)) {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20 || c > 0x7e) {
            append_ddd(out, c);
        } else {
            out.push_back(ch);
        }
    }
}

void append_hex(std::string &out, std::span<const uint8_t> b) {
    static const char kHex[] = "0123456789abcdef";
    for (uint8_t c : b) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
}

void append_base64(std::string &out, std::span<const uint8_t> b) {
    static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= b.size(); i += 3) {
        uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
        out.push_back(kB64[v >> 18]);
        out.push_back(kB64[(v >> 12) & 63]);
        out.push_back(kB64[(v >> 6) & 63]);
        out.push_back(kB64[v & 63]);
    }
    if (b.size() - i == 1) {
        uint32_t v = uint32_t{b[i]} << 16;
        out.push_back(kB64[v >> 18]);
        out.push_back(kB64[(v >> 12) & 63]);
        out += "==";
    } else if (b.size() - i == 2) {
        uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8);
        out.push_back(kB64[v >> 18]);
        out.push_back(kB64[(v >> 12) & 63]);
        out.push_back(kB64[(v >> 6) & 63]);
        out.push_back('=');
    }
}

void append_generic(std::string &out, std::span<const uint8_t> rdata) {
    out += "\\# ";
    out += std::to_string(rdata.size());
    if (!rdata.empty()) {
        out.push_back(' ');
        append_hex(out, rdata);
    }
}

const char *svc_key_name(uint16_t key) {
    switch (key) {
        case 0:
            return "mandatory";
        case 1:
            return "alpn";
        case 2:
            return "no-default-alpn";
        case 3:
            return "port";
        case 4:
            return "ipv4hint";
        case 5:
            return "ech";
        case 6:
            return "ipv6hint";
        case 7:
            return "dohpath";
        case 8:
            return "ohttp";
        default:
            return nullptr;
    }
}

void append_svc_key(std::string &out, uint16_t key) {
    if (const char *n = svc_key_name(key))
        out += n;
    else
        out += "key" + std::to_string(key);
}

// key=value in RFC 9460 presentation form; values of the wrong size for their key are shown
// quoted, escaped byte by byte.
void append_svc_param(std::string &out, const SvcParam &sp) {
    const std::vector<uint8_t> &v = sp.value;
    append_svc_key(out, sp.key);
    switch (sp.key) {
        case 0:  // mandatory: list of keys
            if (v.empty() || v.size() % 2 != 0) break;
            out.push_back('=');
            for (size_t i = 0; i < v.size(); i += 2) {
                if (i != 0) out.push_back(',');
                append_svc_key(out, static_cast<uint16_t>((v[i] << 8) | v[i + 1]));
            }
            return;
        case 1: {  // alpn: length-prefixed ids
            bool ok = !v.empty();
            for (size_t i = 0; ok && i < v.size(); i += 1 + v[i])
                ok = v[i] != 0 && v[i] <= v.size() - i - 1;
            if (!ok) break;
            out.push_back('=');
            for (size_t i = 0; i < v.size(); i += 1 + v[i]) {
                if (i != 0) out.push_back(',');
                append_charstring(
                    out, std::string_view(reinterpret_cast<const char *>(v.data() + i + 1), v[i]),
                    ',');
            }
            return;
        }
        case 2:  // no-default-alpn: no value
            if (!v.empty()) break;
            return;
        case 3:  // port
            if (v.size() != 2) break;
            out += "=" + std::to_string((v[0] << 8) | v[1]);
            return;
        case 4:  // ipv4hint
        case 6:  // ipv6hint
        {
            const size_t step = sp.key == 4 ? 4 : 16;
            if (v.empty() || v.size() % step != 0) break;
            out.push_back('=');
            for (size_t i = 0; i < v.size(); i += step) {
                if (i != 0) out.push_back(',');
                out += (step == 4 ? pkt::IpAddr::v4(v.data() + i) : pkt::IpAddr::v6(v.data() + i))
                           .str();
            }
            return;
        }
        case 5:  // ech: base64
        case 8:  // ohttp
            if (v.empty()) break;
            out.push_back('=');
            append_base64(out, v);
            return;
        default:
            if (v.empty()) return;
            break;
    }
    out += "=\"";
    append_charstring(out, std::string_view(reinterpret_cast<const char *>(v.data()), v.size()));
    out.push_back('"');
}

struct TypeEntry {
    uint16_t type;
    const char *name;
};

constexpr TypeEntry kTypes[] = {
    {1, "A"},           {2, "NS"},      {3, "MD"},         {4, "MF"},        {5, "CNAME"},
    {6, "SOA"},         {7, "MB"},      {8, "MG"},         {9, "MR"},        {10, "NULL"},
    {11, "WKS"},        {12, "PTR"},    {13, "HINFO"},     {14, "MINFO"},    {15, "MX"},
    {16, "TXT"},        {17, "RP"},     {18, "AFSDB"},     {19, "X25"},      {20, "ISDN"},
    {21, "RT"},         {22, "NSAP"},   {23, "NSAP-PTR"},  {24, "SIG"},      {25, "KEY"},
    {26, "PX"},         {27, "GPOS"},   {28, "AAAA"},      {29, "LOC"},      {30, "NXT"},
    {31, "EID"},        {32, "NIMLOC"}, {33, "SRV"},       {34, "ATMA"},     {35, "NAPTR"},
    {36, "KX"},         {37, "CERT"},   {38, "A6"},        {39, "DNAME"},    {40, "SINK"},
    {41, "OPT"},        {42, "APL"},    {43, "DS"},        {44, "SSHFP"},    {45, "IPSECKEY"},
    {46, "RRSIG"},      {47, "NSEC"},   {48, "DNSKEY"},    {49, "DHCID"},    {50, "NSEC3"},
    {51, "NSEC3PARAM"}, {52, "TLSA"},   {53, "SMIMEA"},    {55, "HIP"},      {56, "NINFO"},
    {57, "RKEY"},       {58, "TALINK"}, {59, "CDS"},       {60, "CDNSKEY"},  {61, "OPENPGPKEY"},
    {62, "CSYNC"},      {63, "ZONEMD"}, {64, "SVCB"},      {65, "HTTPS"},    {99, "SPF"},
    {104, "NID"},       {105, "L32"},   {106, "L64"},      {107, "LP"},      {108, "EUI48"},
    {109, "EUI64"},     {249, "TKEY"},  {250, "TSIG"},     {251, "IXFR"},    {252, "AXFR"},
    {253, "MAILB"},     {254, "MAILA"}, {255, "ANY"},      {256, "URI"},     {257, "CAA"},
    {258, "AVC"},       {259, "DOA"},   {260, "AMTRELAY"}, {261, "RESINFO"}, {32768, "TA"},
    {32769, "DLV"},
};

const char *rcode_cstr(uint16_t rcode) {
    switch (rcode) {
        case 0:
            return "NOERROR";
        case 1:
            return "FORMERR";
        case 2:
            return "SERVFAIL";
        case 3:
            return "NXDOMAIN";
        case 4:
            return "NOTIMP";
        case 5:
            return "REFUSED";
        case 6:
            return "YXDOMAIN";
        case 7:
            return "YXRRSET";
        case 8:
            return "NXRRSET";
        case 9:
            return "NOTAUTH";
        case 10:
            return "NOTZONE";
        case 11:
            return "DSOTYPENI";
        case 16:
            return "BADVERS";
        case 17:
            return "BADKEY";
        case 18:
            return "BADTIME";
        case 19:
            return "BADMODE";
        case 20:
            return "BADNAME";
        case 21:
            return "BADALG";
        case 22:
            return "BADTRUNC";
        case 23:
            return "BADCOOKIE";
        default:
            return nullptr;
    }
}

}  // namespace

const char *error_name(Error e) {
    switch (e) {
        case Error::Ok:
            return "ok";
        case Error::TruncatedHeader:
            return "truncated_header";
        case Error::TruncatedName:
            return "truncated_name";
        case Error::TruncatedQuestion:
            return "truncated_question";
        case Error::TruncatedRecord:
            return "truncated_record";
        case Error::TruncatedRdata:
            return "truncated_rdata";
        case Error::TooManyRecords:
            return "too_many_records";
        case Error::BadLabelType:
            return "bad_label_type";
        case Error::NameTooLong:
            return "name_too_long";
        case Error::TooManyPointers:
            return "too_many_pointers";
        case Error::PointerLoop:
            return "pointer_loop";
        case Error::ForwardPointer:
            return "forward_pointer";
        case Error::BadRdata:
            return "bad_rdata";
        case Error::BadOpt:
            return "bad_opt";
    }
    return "unknown";
}

// ---- Name ----

size_t Name::label_count() const {
    return labels().size();
}

std::vector<std::string_view> Name::labels() const {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < wire.size()) {
        auto len = static_cast<uint8_t>(wire[i]);
        if (len == 0 || len > wire.size() - i - 1) break;
        out.emplace_back(wire.data() + i + 1, len);
        i += 1 + len;
    }
    return out;
}

std::string Name::presentation(bool trailing_dot) const {
    if (wire.empty()) return {};
    std::vector<std::string_view> ls = labels();
    if (ls.empty()) return ".";
    std::string out;
    out.reserve(wire.size() + 8);
    for (size_t i = 0; i < ls.size(); ++i) {
        if (i != 0) out.push_back('.');
        append_label(out, ls[i]);
    }
    if (trailing_dot) out.push_back('.');
    return out;
}

bool Name::equals(const Name &o) const {
    return iequals(wire, o.wire);
}

std::optional<Name> Name::from_labels(std::span<const std::string_view> labels) {
    Name n;
    for (std::string_view l : labels) {
        if (l.empty() || l.size() > kMaxLabelLen) return std::nullopt;
        if (n.wire.size() + 1 + l.size() + 1 > kMaxNameLen) return std::nullopt;
        n.wire.push_back(static_cast<char>(l.size()));
        n.wire.append(l);
    }
    n.wire.push_back('\0');
    return n;
}

// ---- Record ----

std::string Record::rdata_presentation() const {
    std::string out;
    if (!decoded) {
        append_generic(out, rdata);
        return out;
    }
    switch (type) {
        case kTypeA:
        case kTypeAaaa:
            return addr ? addr->str() : std::string();
        case kTypeCname:
        case kTypeDname:
        case kTypePtr:
        case kTypeNs:
            return target.presentation();
        case kTypeMx:
            return std::to_string(pref) + " " + target.presentation();
        case kTypeTxt:
        case kTypeSpf:
            for (size_t i = 0; i < txt.size(); ++i) {
                if (i != 0) out.push_back(' ');
                out.push_back('"');
                append_charstring(out, txt[i]);
                out.push_back('"');
            }
            return out;
        case kTypeSrv:
            return std::to_string(priority) + " " + std::to_string(weight) + " " +
                   std::to_string(port) + " " + target.presentation();
        case kTypeSoa:
            return soa.mname.presentation() + " " + soa.rname.presentation() + " " +
                   std::to_string(soa.serial) + " " + std::to_string(soa.refresh) + " " +
                   std::to_string(soa.retry) + " " + std::to_string(soa.expire) + " " +
                   std::to_string(soa.minimum);
        case kTypeSvcb:
        case kTypeHttps:
            out = std::to_string(priority) + " " + target.presentation();
            for (const SvcParam &sp : svc_params) {
                out.push_back(' ');
                append_svc_param(out, sp);
            }
            return out;
        default:
            append_generic(out, rdata);
            return out;
    }
}

// ---- parse ----

Error parse(std::span<const uint8_t> msg, Message &out) {
    out = Message{};
    const ByteReader r(msg);
    if (!r.has(0, kHeaderLen)) return Error::TruncatedHeader;
    out.id = r.u16(0);
    const uint8_t f1 = r.u8(2), f2 = r.u8(3);
    out.qr = (f1 & 0x80) != 0;
    out.opcode = (f1 >> 3) & 0xf;
    out.aa = (f1 & 0x04) != 0;
    out.tc = (f1 & 0x02) != 0;
    out.rd = (f1 & 0x01) != 0;
    out.ra = (f2 & 0x80) != 0;
    out.z = (f2 & 0x40) != 0;
    out.ad = (f2 & 0x20) != 0;
    out.cd = (f2 & 0x10) != 0;
    out.rcode = f2 & 0xf;
    out.qdcount = r.u16(4);
    out.ancount = r.u16(6);
    out.nscount = r.u16(8);
    out.arcount = r.u16(10);

    uint32_t pos = kHeaderLen;
    // Every entry takes at least one byte, so a message ending early stops the loops long before
    // a large count would matter; nothing is reserved from the counts.
    for (unsigned i = 0; i < out.qdcount; ++i) {
        if (pos >= r.n) return Error::TooManyRecords;
        Question q;
        uint32_t next = 0;
        Error e = read_name(r, pos, r.n, q.name, next);
        if (e != Error::Ok) return e;
        if (!r.has(next, 4)) return Error::TruncatedQuestion;
        q.type = r.u16(next);
        q.klass = r.u16(next + 2);
        pos = next + 4;
        out.questions.push_back(std::move(q));
    }

    Error soft = Error::Ok;
    struct Section {
        std::vector<Record> *records;
        uint16_t count;
    };
    const Section sections[] = {
        {&out.answers, out.ancount}, {&out.authority, out.nscount}, {&out.additional, out.arcount}};
    for (const Section &sec : sections) {
        for (unsigned i = 0; i < sec.count; ++i) {
            if (pos >= r.n) return Error::TooManyRecords;
            Record rec;
            uint32_t next = 0;
            Error e = read_name(r, pos, r.n, rec.name, next);
            if (e != Error::Ok) return e;
            if (!r.has(next, 10)) return Error::TruncatedRecord;
            rec.type = r.u16(next);
            rec.klass = r.u16(next + 2);
            rec.ttl = r.u32(next + 4);
            const uint16_t rdlen = r.u16(next + 8);
            const uint32_t rd = next + 10;
            if (!r.has(rd, rdlen)) return Error::TruncatedRdata;
            rec.rdata_offset = rd;
            rec.rdata.assign(r.p + rd, r.p + rd + rdlen);
            Error re = Error::Ok;
            if (rec.type == kTypeOpt) {
                if (sec.records == &out.additional) re = decode_opt(r, rec, out);
                rec.decoded = false;
            } else if (known_rdata_type(rec.type)) {
                re = decode_rdata(r, rd, rdlen, rec);
                if (re == Error::Ok)
                    rec.decoded = true;
                else
                    clear_decoded(rec);
            }
            rec.rdata_error = re;
            if (soft == Error::Ok) soft = re;
            pos = rd + rdlen;
            sec.records->push_back(std::move(rec));
        }
    }
    out.complete = true;
    out.trailing = r.n - pos;
    return soft;
}

// ---- names of numbers ----

std::string rcode_name(uint16_t rcode) {
    if (const char *n = rcode_cstr(rcode)) return n;
    return "RCODE" + std::to_string(rcode);
}

std::string opcode_name(uint8_t opcode) {
    switch (opcode) {
        case 0:
            return "QUERY";
        case 1:
            return "IQUERY";
        case 2:
            return "STATUS";
        case 4:
            return "NOTIFY";
        case 5:
            return "UPDATE";
        case 6:
            return "DSO";
        default:
            return "OPCODE" + std::to_string(opcode);
    }
}

std::string type_name(uint16_t type) {
    for (const TypeEntry &t : kTypes)
        if (t.type == type) return t.name;
    return "TYPE" + std::to_string(type);
}

std::optional<uint16_t> type_from_name(std::string_view name) {
    for (const TypeEntry &t : kTypes)
        if (iequals(name, t.name)) return t.type;
    if (name.size() > 4 && name.size() <= 9 && iequals(name.substr(0, 4), "TYPE")) {
        uint32_t v = 0;
        for (char c : name.substr(4)) {
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + static_cast<uint32_t>(c - '0');
        }
        if (v <= 0xffff) return static_cast<uint16_t>(v);
    }
    return std::nullopt;
}

std::string class_name(uint16_t klass) {
    switch (klass) {
        case 1:
            return "IN";
        case 3:
            return "CH";
        case 4:
            return "HS";
        case 254:
            return "NONE";
        case 255:
            return "ANY";
        default:
            return "CLASS" + std::to_string(klass);
    }
}

// ---- TcpFramer ----

void TcpFramer::feed(std::span<const uint8_t> bytes,
                     const std::function<void(std::span<const uint8_t>)> &on_message) {
    size_t i = 0;
    const size_t n = bytes.size();
    while (i < n) {
        if (skip_ > 0) {
            size_t k = std::min(skip_, n - i);
            skip_ -= k;
            discarded_ += k;
            i += k;
            continue;
        }
        if (buf_.size() < 2) {
            size_t len = 0;
            if (buf_.empty() && n - i >= 2) {
                len = (size_t{bytes[i]} << 8) | bytes[i + 1];
                i += 2;
                // A whole message in this segment: deliver it in place.
                if (len != 0 && len <= max_message_ && n - i >= len) {
                    ++messages_;
                    on_message(bytes.subspan(i, len));
                    i += len;
                    continue;
                }
                buf_.push_back(bytes[i - 2]);
                buf_.push_back(bytes[i - 1]);
            } else {
                buf_.push_back(bytes[i++]);
                if (buf_.size() < 2) continue;
                len = (size_t{buf_[0]} << 8) | buf_[1];
            }
            if (len == 0 || len > max_message_) {
                discarded_ += 2;
                buf_.clear();
                skip_ = len;
            }
            continue;
        }
        const size_t len = (size_t{buf_[0]} << 8) | buf_[1];
        const size_t k = std::min(len + 2 - buf_.size(), n - i);
        buf_.insert(buf_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(i),
                    bytes.begin() + static_cast<std::ptrdiff_t>(i + k));
        i += k;
        if (buf_.size() == len + 2) {
            ++messages_;
            on_message(std::span<const uint8_t>(buf_).subspan(2));
            buf_.clear();
        }
    }
}

void TcpFramer::reset() {
    discarded_ += buf_.size();
    buf_.clear();
    skip_ = 0;
}

bool TcpFramer::lose(size_t n, const std::function<void(std::span<const uint8_t>)> &on_partial) {
    if (n == 0) return true;
    if (skip_ > 0) {
        // Inside a message too long to keep: the loss eats into what was to be skipped.
        const size_t k = std::min(skip_, n);
        skip_ -= k;  // never fed, so not counted as discarded
        if (k == n) return true;
        reset();
        return false;
    }
    if (buf_.size() < 2) {
        // Lost where a length prefix was (or is) being read: out of step.
        reset();
        return false;
    }
    const size_t len = (size_t{buf_[0]} << 8) | buf_[1];
    const size_t missing = len + 2 - buf_.size();
    if (buf_.size() > 2) on_partial(std::span<const uint8_t>(buf_).subspan(2));
    discarded_ += buf_.size();
    buf_.clear();
    if (n > missing) return false;
    skip_ = missing - n;  // the rest of this message, still to come
    return true;
}

// ---- NameCache ----

size_t NameCache::AddrHash::operator()(const pkt::IpAddr &a) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    h = (h ^ a.family) * 1099511628211ull;
    for (uint8_t b : a.bytes)
        h = (h ^ b) * 1099511628211ull;
    return static_cast<size_t>(h);
}

NameCache::NameCache(size_t max_entries, uint32_t min_ttl_s)
    : max_(max_entries), min_ttl_(min_ttl_s) {}

void NameCache::clear() {
    map_.clear();
    lru_.clear();
}

void NameCache::observe(const Message &m, uint64_t now_s) {
    if (!m.qr || m.opcode != 0 || m.rcode != kRcodeNoError || m.questions.empty()) return;
    const Question &q = m.questions.front();
    if (q.name.empty() || (q.klass & 0x7fff) != kClassIn) return;

    // The CNAME chain from the question name, each link with the smallest TTL up to it.  Bounded
    // by kMaxChain links, so a CNAME loop ends too.
    constexpr size_t kMaxChain = 16;
    auto norm_ttl = [](uint32_t ttl) { return ttl > 0x7fffffffu ? 0u : ttl; };  // RFC 2181 8
    struct Link {
        const Name *name;
        uint32_t ttl;
    };
    std::array<Link, kMaxChain> chain;
    size_t links = 0;
    chain[links++] = {&q.name, 0x7fffffffu};
    while (links < kMaxChain) {
        const Link &last = chain[links - 1];
        const Record *next = nullptr;
        for (const Record &rec : m.answers) {
            if (rec.type == kTypeCname && rec.decoded && (rec.klass & 0x7fff) == kClassIn &&
                rec.name.equals(*last.name)) {
                next = &rec;
                break;
            }
        }
        if (next == nullptr) break;
        chain[links] = {&next->target, std::min(last.ttl, norm_ttl(next->ttl))};
        ++links;
    }

    std::string asked;
    for (const Record &rec : m.answers) {
        if ((rec.type != kTypeA && rec.type != kTypeAaaa) || !rec.addr ||
            (rec.klass & 0x7fff) != kClassIn)
            continue;
        for (size_t i = 0; i < links; ++i) {
            if (!rec.name.equals(*chain[i].name)) continue;
            uint32_t ttl = std::max(std::min(chain[i].ttl, norm_ttl(rec.ttl)), min_ttl_);
            if (ttl != 0) {
                if (asked.empty()) asked = q.name.presentation();
                uint64_t expires = now_s > UINT64_MAX - ttl ? UINT64_MAX : now_s + ttl;
                insert(*rec.addr, asked, expires, now_s);
            }
            break;
        }
    }
}

void NameCache::insert(const pkt::IpAddr &addr, const std::string &name, uint64_t expires,
                       uint64_t now_s) {
    if (max_ == 0) return;
    auto it = map_.find(addr);
    if (it != map_.end()) {
        Entry &e = *it->second;
        if (e.expires <= now_s) {
            e.name = name;
            e.expires = expires;
        } else {
            e.expires = std::max(e.expires, expires);
        }
        lru_.splice(lru_.begin(), lru_, it->second);
        return;
    }
    lru_.push_front(Entry{addr, name, expires});
    map_.emplace(addr, lru_.begin());
    if (map_.size() > max_) {
        const Entry &old = lru_.back();
        if (old.expires > now_s) ++evictions_;
        map_.erase(old.addr);
        lru_.pop_back();
    }
}

std::optional<std::string> NameCache::lookup(const pkt::IpAddr &addr, uint64_t now_s) {
    auto it = map_.find(addr);
    if (it == map_.end()) return std::nullopt;
    if (it->second->expires <= now_s) {
        lru_.erase(it->second);
        map_.erase(it);
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->name;
}

}  // namespace bpfkit::dns
