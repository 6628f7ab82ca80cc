// SPDX-License-Identifier: GPL-2.0-only
// stackprof's pure logic: folded lines, merging, the top table, the SVG, and
// the parsers of /proc/PID/maps and perf-PID.map.
#include <gtest/gtest.h>

#include "stackprof_output.h"
#include "stackprof_parse.h"

using namespace bpfkit::stackprof;

namespace {

Stack stack(const std::string &comm, std::vector<Frame> frames, uint64_t n) {
    Stack s;
    s.comm = comm;
    s.frames = std::move(frames);
    s.count = n;
    return s;
}

}  // namespace

TEST(StackprofFolded, UserThenKernelFramesWithSuffixAndCount) {
    Stack s = stack("burn", {{"main", false}, {"read", false}, {"ksys_read", true}}, 7);
    EXPECT_EQ(folded_line(s), "burn;main;read;ksys_read_[k] 7");
}

TEST(StackprofFolded, SeparatorsAndControlBytesCannotBreakALine) {
    Stack s = stack("a;b\n", {{"f;g", false}, {"x\ty", false}}, 1);
    EXPECT_EQ(folded_line(s), "a:b?;f:g;x?y 1");
}

TEST(StackprofFolded, SameNamesFromDifferentAddressesMerge) {
    Profile p;
    p.stacks.push_back(stack("c", {{"main", false}, {"f", false}}, 2));
    p.stacks.push_back(stack("c", {{"main", false}, {"f", false}}, 3));
    p.stacks.push_back(stack("c", {{"main", false}, {"f", true}}, 1));
    EXPECT_EQ(folded(p), "c;main;f 5\nc;main;f_[k] 1\n");
    EXPECT_EQ(p.total(), 6u);
}

TEST(StackprofTop, SelfIsTheLeafTotalCountsAStackOnceEvenWithRecursion) {
    Profile p;
    p.stacks.push_back(stack("c", {{"main", false}, {"f", false}, {"f", false}}, 6));
    p.stacks.push_back(stack("c", {{"main", false}, {"g", false}}, 4));
    auto top = top_functions(p, 0);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].name, "f");
    EXPECT_EQ(top[0].self, 6u);
    EXPECT_EQ(top[0].total, 6u);
    EXPECT_EQ(top[1].name, "g");
    EXPECT_EQ(top[2].name, "main");
    EXPECT_EQ(top[2].self, 0u);
    EXPECT_EQ(top[2].total, 10u);
    EXPECT_EQ(top_functions(p, 1).size(), 1u);
    EXPECT_NE(top_text(p, 2).find("60.00%         6  60.00%         6  f\n"), std::string::npos);
}

TEST(StackprofSvg, NamesAreEscapedAndTheScriptIsInline) {
    Profile p;
    p.stacks.push_back(stack("c", {{"operator<<", false}, {"a&b\"", false}}, 3));
    std::string svg = flamegraph_svg(p, "t<1>");
    EXPECT_NE(svg.find("operator&lt;&lt;"), std::string::npos);
    EXPECT_NE(svg.find("a&amp;b&quot;"), std::string::npos);
    EXPECT_NE(svg.find("t&lt;1&gt;"), std::string::npos);
    EXPECT_EQ(svg.find("operator<<"), std::string::npos);
    EXPECT_NE(svg.find("<script"), std::string::npos);
    EXPECT_EQ(svg.find("href="), std::string::npos);
    // No placeholder of the layout is left.
    EXPECT_EQ(svg.find("y=\"D"), std::string::npos);
    EXPECT_EQ(svg.find("y=\"T"), std::string::npos);
}

TEST(StackprofSvg, EmptyProfileIsStillADocument) {
    std::string svg = flamegraph_svg(Profile{}, "empty");
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(StackprofParse, MapsLines) {
    auto m = parse_maps(
        "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 123 /usr/bin/x\n"
        "55d0c0a01000-55d0c0a05000 r-xp 00001000 08:01 123 /usr/bin/x\n"
        "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
        "7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]\n"
        "7f1000000000-7f1000001000 r-xp 00000000 08:01 9 /tmp/a b (deleted)\n"
        "garbage\n"
        "20-10 r-xp 0 0:0 0 /bad\n");
    ASSERT_EQ(m.size(), 5u);
    EXPECT_EQ(m[1].start, 0x55d0c0a01000u);
    EXPECT_EQ(m[1].offset, 0x1000u);
    EXPECT_TRUE(m[1].exec);
    EXPECT_FALSE(m[0].exec);
    EXPECT_EQ(m[1].path, "/usr/bin/x");
    EXPECT_EQ(m[2].path, "");
    EXPECT_EQ(m[3].path, "[vdso]");
    EXPECT_EQ(m[4].path, "/tmp/a b (deleted)");
    EXPECT_EQ(m[1].dev, (uint64_t{8} << 32) | 1);
    EXPECT_EQ(m[1].inode, 123u);
    EXPECT_EQ(m[4].inode, 9u);
    EXPECT_EQ(m[2].inode, 0u);
}

TEST(StackprofParse, PerfMapSortedAndBadLinesSkipped) {
    auto p = parse_perf_map("7f00 10 LazyCompile:*foo a.js:1\nzz\n7e00 20 bar\n7f80 0 empty\n");
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].name, "bar");
    EXPECT_EQ(p[1].start, 0x7f00u);
    EXPECT_EQ(p[1].size, 0x10u);
    EXPECT_EQ(p[1].name, "LazyCompile:*foo a.js:1");
}

TEST(StackprofParse, Demangle) {
    EXPECT_EQ(demangle("_ZN2ns1fEi"), "ns::f(int)");
    EXPECT_EQ(demangle("burn_a"), "burn_a");
    EXPECT_EQ(demangle("_Zgarbage"), "_Zgarbage");
}
