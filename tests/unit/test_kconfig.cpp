// SPDX-License-Identifier: GPL-2.0-only
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "kconfig.h"

using namespace bpfkit;

namespace {
const char *kText =
    "#\n# Automatically generated file; DO NOT EDIT.\n#\n"
    "CONFIG_BPF_SYSCALL=y\n"
    "# CONFIG_KPROBES is not set\n"
    "CONFIG_NET_SCH_INGRESS=m\n"
    "CONFIG_LOCALVERSION=\"-test\"\n"
    "CONFIG_NR_CPUS=64\n"
    "garbage line\n"
    "CONFIG_NOEQUALS\n";
}

TEST(Kconfig, ParsesValuesAndNotSet) {
    Kconfig k = parse_kconfig(kText, "test");
    ASSERT_TRUE(k.found());
    EXPECT_EQ(k.get("CONFIG_BPF_SYSCALL"), "y");
    EXPECT_EQ(k.get("CONFIG_KPROBES"), "n");
    EXPECT_EQ(k.get("CONFIG_NET_SCH_INGRESS"), "m");
    EXPECT_EQ(k.get("CONFIG_LOCALVERSION"), "\"-test\"");
    EXPECT_EQ(k.get("CONFIG_NR_CPUS"), "64");
    EXPECT_FALSE(k.get("CONFIG_NOEQUALS").has_value());
    EXPECT_TRUE(k.enabled("CONFIG_BPF_SYSCALL"));
    EXPECT_TRUE(k.enabled("CONFIG_NET_SCH_INGRESS"));
    EXPECT_FALSE(k.enabled("CONFIG_KPROBES"));
    EXPECT_TRUE(k.disabled("CONFIG_KPROBES"));
    EXPECT_TRUE(k.disabled("CONFIG_NOT_MENTIONED"));  // an omitted option is not set
    EXPECT_FALSE(k.disabled("CONFIG_BPF_SYSCALL"));
}

TEST(Kconfig, NoFileMeansUnknownNotDisabled) {
    Kconfig k = read_kconfig("/nonexistent/config.gz", "/nonexistent");
    EXPECT_FALSE(k.found());
    EXPECT_FALSE(k.get("CONFIG_KPROBES").has_value());
    EXPECT_FALSE(k.disabled("CONFIG_KPROBES"));  // unknown, not failed
    EXPECT_FALSE(k.enabled("CONFIG_KPROBES"));
}

TEST(Kconfig, ReadsGzipAndPlainFiles) {
    auto dir =
        std::filesystem::temp_directory_path() / ("kconfig-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::string gz = (dir / "config.gz").string();
    gzFile f = gzopen(gz.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    gzputs(f, kText);
    gzclose(f);
    Kconfig k = read_kconfig(gz, dir.string());
    EXPECT_EQ(k.source, gz);
    EXPECT_TRUE(k.disabled("CONFIG_KPROBES"));
    std::filesystem::remove_all(dir);
}
