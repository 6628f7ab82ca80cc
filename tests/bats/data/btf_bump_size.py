#!/usr/bin/env python3
"""Copies a raw BTF file, making the first named struct 8 bytes larger: a BTF
that no longer matches the kernel it came from, for bpfcheck's test."""
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
data = bytearray(open(src, "rb").read())
magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", data, 0)
assert magic == 0xEB9F, "not raw BTF"
pos, end = hdr_len + type_off, hdr_len + type_off + type_len
# Bytes after the 12-byte common header, by kind (vlen = number of entries).
extra = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v, 6: lambda v: 8 * v,
         13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v, 17: lambda v: 4, 19: lambda v: 12 * v}
while pos < end:
    name_off, info, size = struct.unpack_from("<III", data, pos)
    kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
    if kind == 4 and name_off:
        struct.pack_into("<I", data, pos + 8, size + 8)
        name_start = hdr_len + str_off + name_off
        name = data[name_start:data.index(0, name_start)].decode()
        open(dst, "wb").write(data)
        print(name)
        sys.exit(0)
    pos += 12 + extra.get(kind, lambda v: 0)(vlen)
sys.exit("no named struct")
