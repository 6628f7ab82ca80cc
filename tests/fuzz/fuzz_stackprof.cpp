// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer target: what processes write and stackprof reads (/proc/PID/maps,
// perf-PID.map, symbol names into folded lines and the SVG) never crashes,
// and a name can never break a folded line or the SVG's markup.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "stackprof_output.h"
#include "stackprof_parse.h"

using namespace bpfkit::stackprof;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string in(reinterpret_cast<const char *>(data), size);
    for (const auto &m : parse_maps(in))
        if (m.end <= m.start) abort();
    auto pm = parse_perf_map(in);
    for (size_t i = 1; i < pm.size(); i++)
        if (pm[i - 1].start > pm[i].start) abort();
    std::string name = demangle(in);
    Profile p;
    Stack s;
    s.comm = in.substr(0, 16);
    s.frames.push_back(Frame{name, false});
    s.frames.push_back(Frame{in, true});
    s.count = 1;
    p.stacks.push_back(s);
    std::string line = folded_line(s);
    for (char c : line)
        if (c == '\n') abort();
    if (line.find(';') == std::string::npos) abort();
    std::string svg = flamegraph_svg(p, in);
    // Every '<' in the document is markup: none comes from the input.
    size_t script = svg.find("<![CDATA[");
    size_t script_end = svg.find("]]>");
    for (size_t i = 0; i < svg.size(); i++) {
        if (i > script && i < script_end) continue;
        if (svg[i] == '<') {
            char n = i + 1 < svg.size() ? svg[i + 1] : 0;
            if (!(n == '/' || n == '?' || n == '!' || (n >= 'a' && n <= 'z'))) abort();
        }
    }
    return 0;
}
