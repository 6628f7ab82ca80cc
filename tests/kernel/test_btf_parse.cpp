// SPDX-License-Identifier: GPL-2.0-only
// The kernel's BTF parsed from a mapping is the same BTF libbpf reads.
#include <bpf/btf.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "btf_parse.h"

namespace {

constexpr const char *kPath = "/sys/kernel/btf/vmlinux";

TEST(BtfParse, MappedKernelBtfEqualsLibbpfsOwnParse) {
    if (access(kPath, R_OK) != 0) GTEST_SKIP() << "no readable " << kPath;
    btf *ours = btf__parse(kPath, nullptr);
    ASSERT_NE(ours, nullptr);
    using ParseFn = btf *(*)(const char *, btf_ext **);
    auto libbpfs = reinterpret_cast<ParseFn>(dlsym(RTLD_NEXT, "btf__parse"));
    ASSERT_NE(libbpfs, nullptr);
    btf *theirs = libbpfs(kPath, nullptr);
    ASSERT_NE(theirs, nullptr);
    __u32 a = 0, b = 0;
    const void *ra = btf__raw_data(ours, &a);
    const void *rb = btf__raw_data(theirs, &b);
    EXPECT_EQ(a, b);
    EXPECT_EQ(btf__type_cnt(ours), btf__type_cnt(theirs));
    EXPECT_EQ(memcmp(ra, rb, a), 0);
    EXPECT_GT(btf__find_by_name_kind(ours, "sock", BTF_KIND_STRUCT), 0);
    btf__free(ours);
    btf__free(theirs);

    // Linux 6.16 made the file mappable; there the mapping must be used.
    struct utsname u;
    unsigned major = 0, minor = 0;
    ASSERT_EQ(uname(&u), 0);
    ASSERT_EQ(sscanf(u.release, "%u.%u", &major, &minor), 2);
    if (major > 6 || (major == 6 && minor >= 16)) {
        EXPECT_TRUE(bpfkit::kernel_btf_mapped());
    }
}

TEST(BtfParse, OtherFilesGoToLibbpf) {
    btf *b = btf__parse("/nonexistent/btf", nullptr);
    EXPECT_EQ(b, nullptr);
}

}  // namespace
