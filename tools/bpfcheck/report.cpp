// SPDX-License-Identifier: GPL-2.0-only
#include "report.h"

#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "bpfkit_config.h"
#include "json.h"
#include "kconfig.h"
#include "options.h"
#include "procfs.h"
#include "text.h"

namespace bpfkit::bpfcheck {

namespace {

// Kernel options that decide what BPF can do, shown as they are set.
constexpr const char *kKconfigKeys[] = {
    "CONFIG_BPF_SYSCALL",
    "CONFIG_BPF_JIT",
    "CONFIG_BPF_JIT_ALWAYS_ON",
    "CONFIG_DEBUG_INFO_BTF",
    "CONFIG_DEBUG_INFO_BTF_MODULES",
    "CONFIG_BPF_EVENTS",
    "CONFIG_KPROBES",
    "CONFIG_KPROBE_EVENTS",
    "CONFIG_UPROBES",
    "CONFIG_UPROBE_EVENTS",
    "CONFIG_FTRACE_SYSCALLS",
    "CONFIG_FUNCTION_TRACER",
    "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS",
    "CONFIG_CGROUP_BPF",
    "CONFIG_NET_CLS_BPF",
    "CONFIG_NET_SCH_INGRESS",
    "CONFIG_PACKET",
    "CONFIG_PERF_EVENTS",
    "CONFIG_BPF_LSM",
    "CONFIG_SECURITY_LOCKDOWN_LSM",
    "CONFIG_IKCONFIG_PROC",
};

// Where a tool's command is installed: its package name where the packages rename it.
std::string installed_path(const std::string &tool) {
    return std::string(BPFKIT_SBINDIR) + "/" + command_name(tool);
}

// Remedies name "<tool>"; in a tool's row, name its installed path.
std::string for_tool(std::string remedy, const std::string &tool) {
    const std::string mark = "<tool>";
    for (size_t pos; (pos = remedy.find(mark)) != std::string::npos;)
        remedy.replace(pos, mark.size(), installed_path(tool));
    return remedy;
}

double now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

const char *ToolRow::status() const {
    if (!result.ok()) return "cannot run";
    return result.best() ? "best" : "degraded";
}

int Report::exit_code() const {
    int code = 0;
    for (const auto &t : tools)
        code = std::max(code, !t.result.ok() ? 2 : t.result.best() ? 0 : 1);
    return code;
}

Report collect(const std::vector<std::string> &only_tools) {
    double start = now_ms();
    Report r;
    struct utsname u;
    if (uname(&u) == 0) {
        r.release = u.release;
        r.machine = u.machine;
    }
    r.uid = getuid();
    r.euid = geteuid();
    r.user = procfs::user_name(r.euid);

    const Kconfig &k = system_kconfig();
    r.kconfig_source = k.source;
    for (const char *key : kKconfigKeys) {
        auto v = k.get(key);
        std::string shown = !k.found() ? "unknown" : !v || *v == "n" ? "not set" : *v;
        r.kconfig.emplace_back(key, shown);
    }

    if (!open_options().btf_path.empty()) r.supplied_btf = check_btf(open_options().btf_path);
    Features &features = system_features();
    for (size_t i = 0; i < kFeatureCount; i++) {
        auto f = static_cast<Feature>(i);
        r.features.emplace_back(f, features.get(f));
    }

    for (const auto &entry : registered_tools()) {
        if (!only_tools.empty() &&
            std::find(only_tools.begin(), only_tools.end(), entry.name) == only_tools.end())
            continue;
        ToolRow row;
        row.tool = entry.name;
        row.spec = &entry.ladder();
        auto trier = entry.make_trier();
        row.result = climb(*row.spec, LadderRequest{}, *trier, features);
        trier->release();
        // Capabilities for every mode of the best family, so the line works
        // whichever of its rungs this kernel ends on.
        ModeSpec caps = row.spec->modes.front();
        for (const auto &mode : row.spec->modes)
            if (mode.family == caps.family)
                caps.needs.insert(caps.needs.end(), mode.needs.begin(), mode.needs.end());
        row.setcap = setcap_line(caps, installed_path(entry.name));
        // Capabilities some mode of this tool needs and this process lacks.
        for (const auto &mode : row.spec->modes)
            for (Feature f : mode.needs)
                if (std::string(feature_group(f)) == "capability" && features.get(f).no() &&
                    std::find(r.missing_caps.begin(), r.missing_caps.end(), feature_name(f)) ==
                        r.missing_caps.end())
                    r.missing_caps.push_back(feature_name(f));
        r.tools.push_back(std::move(row));
    }
    r.elapsed_ms = now_ms() - start;
    return r;
}

namespace {

std::string feature_cell(const FeatureResult &f) {
    if (f.err) return errno_name(f.err);
    return f.value;
}

void section(std::string &out, const char *title) {
    if (!out.empty()) out += "\n";
    out += title;
    out += "\n";
}

void add_feature_rows(TextTable &t, const Report &r, const char *group) {
    for (const auto &[f, res] : r.features) {
        if (std::string(feature_group(f)) != group) continue;
        t.add_row({feature_name(f), state_name(res.state), feature_cell(res), res.reason});
        if (!res.remedy.empty() && !res.yes()) t.add_row({"", "", "", "fix: " + res.remedy});
    }
}

std::string indent(const std::string &table) {
    std::string out;
    size_t pos = 0;
    while (pos < table.size()) {
        size_t end = table.find('\n', pos);
        if (end == std::string::npos) end = table.size();
        out += "  " + table.substr(pos, end - pos) + "\n";
        pos = end + 1;
    }
    return out;
}

TextTable feature_table() {
    TextTable t;
    t.add_column("NAME").add_column("STATE").add_column("FOUND").add_column(
        "HOW IT WAS SEEN / WHY NOT");
    return t;
}

}  // namespace

std::string render_text(const Report &r) {
    std::string out;
    out +=
        "bpfcheck (bpfkit " BPFKIT_VERSION "): can bpfkit's tools run on this kernel, and how?\n";
    out += "kernel " + r.release + " " + r.machine + ", running as " + r.user + " (uid " +
           std::to_string(r.euid) + ")\n";

    section(out, "Kernel");
    {
        TextTable t = feature_table();
        add_feature_rows(t, r, "kernel");
        out += indent(t.render());
    }
    section(out, r.kconfig_source.empty() ? "Kernel config (no config file: unknown)"
                                          : ("Kernel config (" + r.kconfig_source + ")").c_str());
    {
        TextTable t;
        t.add_column("OPTION").add_column("VALUE");
        t.set_show_header(false);
        for (const auto &[key, val] : r.kconfig)
            t.add_row({key, val});
        out += indent(t.render());
    }
    section(out, "Capabilities (effective)");
    {
        TextTable t = feature_table();
        add_feature_rows(t, r, "capability");
        out += indent(t.render());
    }
    section(out, "Mounts");
    {
        TextTable t = feature_table();
        add_feature_rows(t, r, "mount");
        out += indent(t.render());
    }
    section(out,
            "Attach types, maps and sockets (each loaded and attached for real, then removed)");
    {
        TextTable t = feature_table();
        add_feature_rows(t, r, "attach");
        add_feature_rows(t, r, "map");
        add_feature_rows(t, r, "socket");
        out += indent(t.render());
    }
    if (r.supplied_btf) {
        const BtfCoverage &b = *r.supplied_btf;
        section(out, ("Supplied BTF (" + b.path + ")").c_str());
        if (!b.parsed) {
            out += "  unreadable: " + b.error + "\n";
        } else if (!b.kernel_btf) {
            out += "  " + std::to_string(b.types) +
                   " types; the kernel has no BTF of its own to compare them with: whether the "
                   "tools' programs "
                   "load with it is in the Tools section\n";
        } else {
            out += "  " + b.verdict() + " the running kernel: " + std::to_string(b.compared) +
                   " structs and unions compared with /sys/kernel/btf/vmlinux, " +
                   std::to_string(b.missing) + " missing, " + std::to_string(b.mismatched) +
                   " laid out differently\n";
            for (const auto &e : b.examples)
                out += "    " + e + "\n";
        }
    }
    section(out, "Tools (each tool's own ladder, climbed as the tool would)");
    {
        TextTable t;
        t.add_column("TOOL").add_column("MODE").add_column("STATUS").add_column("LADDER");
        for (const auto &tool : r.tools) {
            std::string mode = tool.result.ok()
                                   ? tool.spec->modes[static_cast<size_t>(tool.result.chosen)].name
                                   : "-";
            t.add_row({tool.tool, mode, tool.status(), tool.spec->mode_names()});
        }
        out += indent(t.render());
        for (const auto &tool : r.tools) {
            for (const auto &a : tool.result.attempts) {
                if (a.ok || a.skipped) continue;
                out += "  " + tool.tool + " " + a.mode + ": refused: " + a.reason + "\n";
                if (!a.remedy.empty()) out += "    fix: " + for_tool(a.remedy, tool.tool) + "\n";
            }
            if (!tool.setcap.empty() && r.euid != 0)
                out += "  " + tool.tool + " without root: " + tool.setcap + "\n";
        }
    }
    int code = r.exit_code();
    size_t best = 0, degraded = 0, cannot = 0;
    for (const auto &t : r.tools)
        (t.result.ok() ? (t.result.best() ? best : degraded) : cannot)++;
    out += "\n";
    if (!r.missing_caps.empty()) {
        std::string caps;
        for (const auto &c : r.missing_caps)
            caps += (caps.empty() ? "" : " ") + c;
        out += "missing capabilities: " + caps + "\n";
    }
    out += "summary: " + std::to_string(best) + " in best mode, " + std::to_string(degraded) +
           " degraded, " + std::to_string(cannot) + " cannot run (exit " + std::to_string(code) +
           ")\n";
    return out;
}

std::vector<std::string> render_json(const Report &r) {
    std::vector<std::string> lines;
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const std::string ts = iso8601_utc(now);
    auto start = [&](JsonWriter &w, const char *type) {
        w.begin_object().kv("schema", "bpfcheck/1").kv("ts", ts).kv("type", type);
    };
    {
        JsonWriter w;
        start(w, "kernel");
        w.kv("release", r.release).kv("machine", r.machine).kv("bpfkit", BPFKIT_VERSION);
        w.kv("uid", r.uid).kv("euid", r.euid).kv("user", r.user);
        w.end_object();
        lines.push_back(w.take());
    }
    {
        JsonWriter w;
        start(w, "kconfig");
        w.key("source");
        if (r.kconfig_source.empty())
            w.null();
        else
            w.value(r.kconfig_source);
        w.key("options").begin_object();
        for (const auto &[key, val] : r.kconfig)
            w.kv(key, val);
        w.end_object().end_object();
        lines.push_back(w.take());
    }
    for (const auto &[f, res] : r.features) {
        JsonWriter w;
        start(w, "feature");
        w.kv("name", feature_name(f))
            .kv("group", feature_group(f))
            .kv("state", state_name(res.state));
        w.kv("errno", res.err).kv("error", errno_name(res.err)).kv("value", res.value);
        w.kv("reason", res.reason).kv("remedy", res.remedy).kv("probe_ms", res.probe_ms);
        w.end_object();
        lines.push_back(w.take());
    }
    if (r.supplied_btf) {
        const BtfCoverage &b = *r.supplied_btf;
        JsonWriter w;
        start(w, "btf");
        w.kv("path", b.path)
            .kv("verdict", b.verdict())
            .kv("types", b.types)
            .kv("kernel_btf", b.kernel_btf);
        w.kv("compared", b.compared).kv("missing", b.missing).kv("mismatched", b.mismatched);
        w.key("examples").begin_array();
        for (const auto &e : b.examples)
            w.value(e);
        w.end_array();
        if (!b.parsed) w.kv("error", b.error);
        w.end_object();
        lines.push_back(w.take());
    }
    for (const auto &tool : r.tools) {
        JsonWriter w;
        start(w, "tool");
        w.kv("tool", tool.tool).kv("status", tool.status());
        w.key("mode");
        if (tool.result.ok())
            w.value(tool.spec->modes[static_cast<size_t>(tool.result.chosen)].name);
        else
            w.null();
        w.kv("best", tool.spec->modes.front().name);
        w.key("modes").begin_array();
        for (size_t i = 0; i < tool.spec->modes.size(); i++) {
            const ModeSpec &m = tool.spec->modes[i];
            const Attempt *a = i < tool.result.attempts.size() ? &tool.result.attempts[i] : nullptr;
            w.begin_object()
                .kv("mode", m.name)
                .kv("family", m.family)
                .kv("description", m.description);
            w.kv("result", !a ? "not tried" : a->ok ? "ok" : a->skipped ? "skipped" : "refused");
            if (a && !a->ok) {
                w.kv("errno", a->err).kv("error", errno_name(a->err)).kv("reason", a->reason);
                w.kv("remedy", for_tool(a->remedy, tool.tool));
            }
            w.end_object();
        }
        w.end_array();
        w.kv("setcap", tool.setcap);
        w.end_object();
        lines.push_back(w.take());
    }
    {
        JsonWriter w;
        start(w, "summary");
        size_t best = 0, degraded = 0, cannot = 0;
        for (const auto &t : r.tools)
            (t.result.ok() ? (t.result.best() ? best : degraded) : cannot)++;
        w.kv("tools", static_cast<unsigned>(r.tools.size()))
            .kv("best", static_cast<unsigned>(best));
        w.kv("degraded", static_cast<unsigned>(degraded))
            .kv("cannot_run", static_cast<unsigned>(cannot));
        w.key("missing_capabilities").begin_array();
        for (const auto &c : r.missing_caps)
            w.value(c);
        w.end_array();
        w.kv("elapsed_ms", r.elapsed_ms).kv("exit", r.exit_code());
        w.end_object();
        lines.push_back(w.take());
    }
    return lines;
}

}  // namespace bpfkit::bpfcheck
