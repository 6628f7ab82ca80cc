// SPDX-License-Identifier: GPL-2.0-only
#include "btf_coverage.h"

#include <bpf/btf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace bpfkit::bpfcheck {

std::string BtfCoverage::verdict() const {
    if (!parsed) return "unreadable";
    if (!kernel_btf) return "unchecked";
    return missing || mismatched ? "does not cover" : "covers";
}

BtfCoverage check_btf(const std::string &path, const std::string &kernel_path) {
    BtfCoverage c;
    c.path = path;
    btf *given = btf__parse(path.c_str(), nullptr);
    if (!given) {
        c.error = strerror(errno);
        return c;
    }
    c.parsed = true;
    c.types = btf__type_cnt(given) - 1;
    struct stat st;
    btf *kernel =
        stat(kernel_path.c_str(), &st) == 0 ? btf__parse(kernel_path.c_str(), nullptr) : nullptr;
    c.kernel_btf = kernel != nullptr;
    if (!kernel) {
        btf__free(given);
        return c;
    }
    auto note = [&](std::string line) {
        if (c.examples.size() < 5) c.examples.push_back(std::move(line));
    };
    for (unsigned id = 1; id <= c.types; id++) {
        const btf_type *t = btf__type_by_id(given, id);
        if (!btf_is_composite(t) || !t->name_off) continue;
        const char *name = btf__name_by_offset(given, t->name_off);
        c.compared++;
        int kid = btf__find_by_name_kind(kernel, name, btf_kind(t));
        if (kid < 0) {
            c.missing++;
            note(std::string(btf_is_struct(t) ? "struct " : "union ") + name +
                 ": not in the kernel's BTF");
            continue;
        }
        const btf_type *k = btf__type_by_id(kernel, static_cast<__u32>(kid));
        if (k->size != t->size) {
            c.mismatched++;
            note(std::string(name) + ": " + std::to_string(t->size) + " bytes here, " +
                 std::to_string(k->size) + " in the kernel");
            continue;
        }
        const btf_member *m = btf_members(t);
        for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
            const char *mname = btf__name_by_offset(given, m->name_off);
            if (!mname || !*mname) continue;  // anonymous members: compared through their own types
            const btf_member *km = btf_members(k);
            bool found = false;
            for (unsigned j = 0; j < btf_vlen(k); j++, km++) {
                if (strcmp(btf__name_by_offset(kernel, km->name_off), mname) != 0) continue;
                found = btf_member_bit_offset(k, j) == btf_member_bit_offset(t, i);
                break;
            }
            if (!found) {
                c.mismatched++;
                note(std::string(name) + "." + mname + ": not at the kernel's offset");
                break;
            }
        }
    }
    btf__free(kernel);
    btf__free(given);
    return c;
}

}  // namespace bpfkit::bpfcheck
