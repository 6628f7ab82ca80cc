// SPDX-License-Identifier: GPL-2.0-only
// Parsers of what processes write (their /proc/PID/maps, their perf-PID.map
// JIT maps) and the C++ demangler: no libdw, so the unit tests and the fuzz
// target build them alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bpfkit::stackprof {

// C++ names demangled ("ns::f(int)"); other names unchanged.
std::string demangle(const std::string &name);

// One line of /proc/PID/maps.
struct MapLine {
    uint64_t start = 0, end = 0, offset = 0;
    uint64_t dev = 0, inode = 0;  // the file's device (major << 32 | minor) and inode; 0 when none
    bool exec = false;
    std::string path;  // "" for anonymous mappings
};
// Parses /proc/PID/maps text; lines that do not parse are skipped.
std::vector<MapLine> parse_maps(const std::string &text);

// One line of a perf-PID.map ("START SIZE name", hexadecimal).
struct PerfMapEntry {
    uint64_t start, size;
    std::string name;
};
std::vector<PerfMapEntry> parse_perf_map(const std::string &text);

}  // namespace bpfkit::stackprof
