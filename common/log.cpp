// SPDX-License-Identifier: GPL-2.0-only
#include "log.h"

#include <bpf/libbpf.h>
#include <malloc.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "kernel_features.h"

namespace bpfkit::log {

namespace {

const char *g_name = "bpfkit";
int g_verbose = 0;
Capture *g_capture = nullptr;

void vprint(const char *prefix, const char *fmt, va_list ap) {
    char buf[2048];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    fprintf(stderr, "%s: %s%s\n", g_name, prefix, buf);
}

// Whether BPF memory is charged to memcg here; decided once, only when a
// memlock hint actually shows up.
bool memcg_accounting() {
    static int known = -1;
    if (known < 0) known = system_features().get(Feature::Memlock).yes() ? 1 : 0;
    return known == 1;
}

int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    // Whole, however long: a verifier log comes as one message of many KiB,
    // and its end says why the program was refused.
    va_list again;
    va_copy(again, ap);
    char buf[4096];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    std::string line;
    if (n >= static_cast<int>(sizeof(buf))) {
        line.resize(static_cast<size_t>(n) + 1);
        vsnprintf(line.data(), line.size(), fmt, again);
        line.resize(static_cast<size_t>(n));
    } else {
        line = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    }
    va_end(again);
    if (is_memlock_hint(line) && memcg_accounting()) return 0;
    if (g_capture) g_capture->append(line);
    int need = level == LIBBPF_DEBUG ? 2 : 1;
    if (g_verbose >= need) fputs(line.c_str(), stderr);
    return 0;
}

}  // namespace

void init(const char *program_name, int verbose) {
    if (program_name) {
        const char *slash = strrchr(program_name, '/');
        g_name = slash ? slash + 1 : program_name;
    }
    g_verbose = verbose;
    libbpf_set_print(libbpf_print);
    // libbpf parses the kernel's BTF (two 5 MiB buffers here) for each
    // skeleton it loads. glibc raises its mmap threshold when the first such
    // buffer is freed, so later ones come from the heap and stay resident
    // for the life of the process: 12 MiB of a 2 MiB tool. A fixed threshold
    // keeps big buffers in mmap, returned at free.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

int verbose() {
    return g_verbose;
}
const char *program_name() {
    return g_name;
}

void error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint("", fmt, ap);
    va_end(ap);
}

void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint("warning: ", fmt, ap);
    va_end(ap);
}

void info(const char *fmt, ...) {
    if (g_verbose < 1) return;
    va_list ap;
    va_start(ap, fmt);
    vprint("", fmt, ap);
    va_end(ap);
}

void hint(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint("hint: ", fmt, ap);
    va_end(ap);
}

Capture::Capture() : outer_(g_capture) {
    g_capture = this;
}
Capture::~Capture() {
    g_capture = outer_;
}

void Capture::append(const std::string &line) {
    text_ += line;
}

std::string Capture::summary() const {
    // Prefer the last line that is not verifier noise or a bare error code.
    std::string best;
    size_t pos = 0;
    while (pos < text_.size()) {
        size_t end = text_.find('\n', pos);
        if (end == std::string::npos) end = text_.size();
        std::string line = text_.substr(pos, end - pos);
        pos = end + 1;
        if (line.rfind("libbpf: ", 0) != 0) continue;
        line.erase(0, 8);
        // Lines that only say that loading failed, not why.
        bool noise =
            line.find("-- BEGIN") != std::string::npos ||
            line.find("-- END") != std::string::npos ||
            line.find("failed to load object") != std::string::npos ||
            line.find("failed to load BPF skeleton") != std::string::npos ||
            (line.rfind("prog '", 0) == 0 && line.find("failed to load") != std::string::npos);
        if (noise) continue;
        best = line;
    }
    return best;
}

bool is_memlock_hint(const std::string &line) {
    return line.find("RLIMIT_MEMLOCK") != std::string::npos ||
           line.find("ulimit -l") != std::string::npos;
}

}  // namespace bpfkit::log
