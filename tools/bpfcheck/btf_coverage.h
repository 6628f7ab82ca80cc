// SPDX-License-Identifier: GPL-2.0-only
// Whether a BTF file given with --btf (or BPFKIT_BTF) describes the running
// kernel: every struct and union in it is compared, by size and by each
// member's offset, with the kernel's own BTF where the kernel has one.
#pragma once

#include <string>
#include <vector>

namespace bpfkit::bpfcheck {

struct BtfCoverage {
    std::string path;
    bool parsed = false;
    std::string error;        // why it could not be read
    unsigned types = 0;       // types in the file
    bool kernel_btf = false;  // the running kernel has /sys/kernel/btf/vmlinux to compare with
    unsigned compared = 0;    // structs and unions compared
    unsigned missing = 0;     // not in the kernel's BTF at all
    unsigned mismatched = 0;  // a different size, or a member at another offset
    std::vector<std::string> examples;  // the first few differences, one line each

    // "covers", "does not cover", "unchecked" (no kernel BTF to compare with), "unreadable"
    std::string verdict() const;
};

BtfCoverage check_btf(const std::string &path,
                      const std::string &kernel_btf = "/sys/kernel/btf/vmlinux");

}  // namespace bpfkit::bpfcheck
