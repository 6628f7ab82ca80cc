// SPDX-License-Identifier: GPL-2.0-only
#include "stackprof_parse.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace bpfkit::stackprof {

std::string demangle(const std::string &name) {
    if (name.size() < 2 || name[0] != '_' || name[1] != 'Z') return name;
    int status = 0;
    char *d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
    if (status != 0 || !d) return name;
    std::string out(d);
    free(d);
    return out;
}

std::vector<MapLine> parse_maps(const std::string &text) {
    std::vector<MapLine> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        MapLine m;
        char perms[8] = {};
        unsigned long long start, end, off, ino = 0;
        unsigned maj = 0, min = 0;
        int path_at = -1;
        if (sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu%n", &start, &end, perms, &off, &maj,
                   &min, &ino, &path_at) < 7 ||
            path_at < 0)
            continue;
        if (end <= start) continue;
        m.start = start;
        m.end = end;
        m.offset = off;
        m.dev = uint64_t{maj} << 32 | min;
        m.inode = ino;
        m.exec = strlen(perms) >= 3 && perms[2] == 'x';
        std::string rest = line.substr(static_cast<size_t>(path_at));
        size_t b = rest.find_first_not_of(' ');
        m.path = b == std::string::npos ? "" : rest.substr(b);
        out.push_back(std::move(m));
    }
    return out;
}

std::vector<PerfMapEntry> parse_perf_map(const std::string &text) {
    std::vector<PerfMapEntry> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        unsigned long long start, size;
        int at = -1;
        if (sscanf(line.c_str(), "%llx %llx %n", &start, &size, &at) < 2 || at < 0) continue;
        if (size == 0) continue;
        out.push_back({start, size, line.substr(static_cast<size_t>(at))});
    }
    std::sort(out.begin(), out.end(),
              [](const PerfMapEntry &a, const PerfMapEntry &b) { return a.start < b.start; });
    return out;
}

}  // namespace bpfkit::stackprof
