// SPDX-License-Identifier: GPL-2.0-only
#include "privileges.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.h"

namespace bpfkit {

void keep_only_capabilities(const std::vector<cap_value_t> &keep) {
    cap_t now = cap_get_proc();
    cap_t next = cap_init();
    if (now && next) {
        std::vector<cap_value_t> held;
        for (cap_value_t c : keep) {
            cap_flag_value_t v = CAP_CLEAR;
            if (cap_get_flag(now, c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET) held.push_back(c);
        }
        if (!held.empty()) {
            cap_set_flag(next, CAP_EFFECTIVE, static_cast<int>(held.size()), held.data(), CAP_SET);
            cap_set_flag(next, CAP_PERMITTED, static_cast<int>(held.size()), held.data(), CAP_SET);
        }
        if (cap_set_proc(next) != 0) log::info("could not drop capabilities: %s", strerror(errno));
    }
    if (now) cap_free(now);
    if (next) cap_free(next);
}

bool drop_capabilities_after_bpf(const std::function<int()> &probe_read,
                                 std::vector<cap_value_t> keep) {
    std::vector<cap_value_t> with_bpf = keep;
    with_bpf.push_back(CAP_BPF);
    with_bpf.push_back(CAP_SYS_ADMIN);
    keep_only_capabilities(with_bpf);
    cap_t caps = cap_get_proc();
    if (!caps) return false;
    cap_value_t both[] = {CAP_BPF, CAP_SYS_ADMIN};
    cap_set_flag(caps, CAP_EFFECTIVE, 2, both, CAP_CLEAR);
    cap_set_proc(caps);
    bool kept = false;
    if (probe_read() == 0) {
        keep_only_capabilities(keep);
    } else {
        // Back to effective from permitted, and only the one that works.
        cap_value_t bpf[] = {CAP_BPF};
        cap_set_flag(caps, CAP_EFFECTIVE, 1, bpf, CAP_SET);
        cap_set_proc(caps);
        std::vector<cap_value_t> k = keep;
        k.push_back(CAP_BPF);
        if (probe_read() != 0) k.push_back(CAP_SYS_ADMIN);
        keep_only_capabilities(k);
        kept = true;
        log::info("this kernel checks CAP_BPF on every bpf() call: kept it to read the maps");
    }
    cap_free(caps);
    return kept;
}

std::string self_exe(const char *argv0) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return argv0;
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace bpfkit
