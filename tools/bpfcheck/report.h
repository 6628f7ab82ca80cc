// SPDX-License-Identifier: GPL-2.0-only
// What bpfcheck found: kernel facts, every feature probe, and for each
// tool the mode its own ladder reaches here.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "btf_coverage.h"
#include "kernel_features.h"
#include "ladder.h"

namespace bpfkit::bpfcheck {

struct ToolRow {
    std::string tool;
    const LadderSpec *spec = nullptr;
    LadderResult result;
    std::string setcap;  // for the best mode, to run without root

    // "best", "degraded", "cannot run"
    const char *status() const;
};

struct Report {
    std::string release, machine;
    uint32_t uid = 0, euid = 0;
    std::string user;
    std::string kconfig_source;
    std::vector<std::pair<std::string, std::string>> kconfig;  // option -> y/m/not set/unknown
    std::vector<std::pair<Feature, FeatureResult>> features;
    std::vector<ToolRow> tools;
    std::vector<std::string> missing_caps;
    std::optional<BtfCoverage> supplied_btf;  // with --btf or BPFKIT_BTF
    double elapsed_ms = 0;

    // 0: every tool in its best mode; 1: some degraded; 2: some cannot run.
    int exit_code() const;
};

Report collect(const std::vector<std::string> &only_tools);
std::string render_text(const Report &r);
std::vector<std::string> render_json(const Report &r);

}  // namespace bpfkit::bpfcheck
