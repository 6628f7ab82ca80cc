// libFuzzer target for common/packet.h: parse_ethernet() and parse_ip() on
// arbitrary bytes must never read outside the input (the sanitizers check
// that) and must describe only bytes inside it (checked here).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "packet.h"

namespace {

using bpfkit::pkt::Error;
using bpfkit::pkt::Packet;

void check(bool ok) {
    if (!ok) std::abort();
}

void check_packet(const Packet &p, Error e, size_t size) {
    check(bpfkit::pkt::error_name(e) != nullptr);
    check(p.l3_offset <= size);
    check(p.l4_offset <= size);
    check(p.payload_offset <= size);
    check(uint64_t{p.payload_offset} + p.payload_len <= size);
    check(p.vlan_count <= bpfkit::pkt::kMaxVlanTags);
    check(p.ext_headers <= bpfkit::pkt::kMaxIpv6ExtHeaders);
    if (p.has_ports) check(uint64_t{p.l4_offset} + 4 <= size);
    if (p.is_ip) check(!p.src.str().empty() && !p.dst.str().empty());
    if (e == Error::Ok && p.is_ip) {
        // On success the layers are in order (on error the payload fields
        // of the failing layer are not filled in).
        check(p.l3_offset < p.l4_offset);
        check(p.l4_offset <= p.payload_offset);
    }
    if (p.first_fragment) check(p.fragment);
    if (e == Error::Ok && p.is_ip && !p.fragment) check(p.frag_offset == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::span<const uint8_t> in(data, size);
    Packet p;
    Error e = bpfkit::pkt::parse_ethernet(in, p);
    check_packet(p, e, size);
    check(bpfkit::pkt::payload(in, p).size() == p.payload_len);

    e = bpfkit::pkt::parse_ip(in, p);
    check_packet(p, e, size);
    check(bpfkit::pkt::payload(in, p).size() == p.payload_len);
    return 0;
}
