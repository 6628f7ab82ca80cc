// SPDX-License-Identifier: GPL-2.0-only
// btf__parse for libbpf 1.1 that reads the kernel's BTF through mmap.
//
// libbpf parses /sys/kernel/btf/vmlinux for every object it loads (CO-RE,
// attach targets): it reads the 5 MiB file into one buffer and copies it
// into a second, so a tool's peak memory is two copies of the kernel's BTF.
// Kernels from 6.16 on let the file be mapped read-only; the mapping is the
// kernel's own pages, so only libbpf's copy is new memory. libbpf calls
// btf__parse through its PLT, and this definition in the executable takes
// its place; anything that is not the kernel's file, or a kernel whose file
// cannot be mapped, goes to libbpf's own btf__parse.
#include <bpf/btf.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "btf_parse.h"

namespace {

constexpr const char *kKernelBtf = "/sys/kernel/btf/vmlinux";

using ParseFn = btf *(*)(const char *, btf_ext **);

btf *libbpf_parse(const char *path, btf_ext **ext) {
    static ParseFn next = reinterpret_cast<ParseFn>(dlsym(RTLD_NEXT, "btf__parse"));
    if (!next) {
        errno = ENOSYS;
        return nullptr;
    }
    return next(path, ext);
}

bool g_mapped = false;

btf *parse_mapped(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return nullptr;
    btf *b = btf__new(m, static_cast<__u32>(st.st_size));
    int err = errno;
    munmap(m, static_cast<size_t>(st.st_size));
    errno = err;
    if (b) g_mapped = true;
    return b;
}

}  // namespace

extern "C" btf *btf__parse(const char *path, btf_ext **btf_ext) {
    if (path && !btf_ext && strcmp(path, kKernelBtf) == 0)
        if (btf *b = parse_mapped(path)) return b;
    return libbpf_parse(path, btf_ext);
}

namespace bpfkit {

bool kernel_btf_mapped() {
    return g_mapped;
}

bool kernel_btf_has_name(const char *name) {
    // BTF strings are NUL-terminated and follow one another: "\0name\0".
    std::string needle = std::string(1, '\0') + name + '\0';
    int fd = open(kKernelBtf, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    std::vector<char> buf(64 * 1024 + needle.size());
    size_t keep = 0;  // the previous piece's tail, for a needle across pieces
    bool found = false;
    for (;;) {
        ssize_t n = read(fd, buf.data() + keep, buf.size() - keep);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t have = keep + static_cast<size_t>(n);
        if (memmem(buf.data(), have, needle.data(), needle.size())) {
            found = true;
            break;
        }
        keep = std::min(have, needle.size() - 1);
        memmove(buf.data(), buf.data() + have - keep, keep);
    }
    close(fd);
    return found;
}

}  // namespace bpfkit
