// A bounded view of untrusted bytes (a frame, a DNS message) for the parsers in packet.cpp and
// dns.cpp: every read goes through here and is checked against `n`.  Offsets are uint32_t; spans
// longer than 4 GiB - 1 are treated as if only their first 4 GiB - 1 bytes were there.
// Header-only: the fuzz targets compile those parsers without the common library.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace bpfkit {

struct ByteReader {
    const uint8_t *p;
    uint32_t n;

    explicit ByteReader(std::span<const uint8_t> s)
        : p(s.data()), n(static_cast<uint32_t>(std::min<size_t>(s.size(), UINT32_MAX))) {}

    // True if [off, off + len) lies inside [0, limit) (overflow-safe).
    static bool fits(uint32_t off, uint32_t len, uint32_t limit) {
        return off <= limit && len <= limit - off;
    }
    bool has(uint32_t off, uint32_t len) const { return fits(off, len, n); }
    // Big-endian reads; callers check has() / fits() first.
    uint8_t u8(uint32_t off) const { return p[off]; }
    uint16_t u16(uint32_t off) const {
        return static_cast<uint16_t>((static_cast<uint16_t>(p[off]) << 8) | p[off + 1]);
    }
    uint32_t u32(uint32_t off) const {
        return (static_cast<uint32_t>(p[off]) << 24) | (static_cast<uint32_t>(p[off + 1]) << 16) |
               (static_cast<uint32_t>(p[off + 2]) << 8) | p[off + 3];
    }
};

}  // namespace bpfkit
