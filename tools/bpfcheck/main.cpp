// SPDX-License-Identifier: GPL-2.0-only
// bpfcheck: will each bpfkit tool run on this kernel, in which mode, and
// what to change if not.
#include <bpf/btf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bpfkit_config.h"
#include "ladder.h"
#include "log.h"
#include "options.h"
#include "report.h"

using namespace bpfkit;

int main(int argc, char **argv) {
    std::vector<std::string> only;
    std::string btf;
    ToolInfo info{
        "bpfcheck", "[OPTIONS]",
        "Probe this kernel for what bpfkit's tools need, and say in which mode each tool runs.",
        "Every attach type is tried with a real load and attach of a tiny program, removed at "
        "once;\n"
        "probes that need a network device or a mount run in private namespaces.\n"
        "\n"
        "Exit status: 0 every tool runs in its best mode; 1 some run degraded;\n"
        "2 some cannot run, or a usage error.\n"
        "\n"
        "See bpfcheck(8)."};
    OptionParser parser(info, kHelp | kVersion | kVerbose | kJson);
    parser.add(ToolOption{"tool", 't', true, "TOOL", "report only this tool (repeatable)",
                          [&](const char *arg, std::string &) {
                              only.emplace_back(arg);
                              return true;
                          }});
    parser.add(ToolOption{"btf", 0, true, "FILE",
                          "kernel BTF to use instead of /sys/kernel/btf/vmlinux (also BPFKIT_BTF)",
                          [&](const char *arg, std::string &) {
                              btf = arg;
                              return true;
                          }});
    CommonOptions opts;
    if (auto code = parser.parse(argc, argv, opts)) return *code;
    log::init(argv[0], opts.verbose);
    if (!btf.empty()) {
        struct btf *b = btf__parse(btf.c_str(), nullptr);
        if (!b) {
            log::error("cannot read BTF from %s: %s", btf.c_str(), strerror(errno));
            log::hint(
                "give a BTF file for this kernel, e.g. one made with 'bpftool gen min_core_btf'");
            return 2;
        }
        btf__free(b);
        set_open_options(OpenOptions{btf});
    }

    std::vector<ToolEntry> tools = registered_tools();
    for (const auto &name : only) {
        bool known = false;
        for (const auto &t : tools)
            known |= name == t.name;
        if (!known) {
            std::string names;
            for (const auto &t : tools)
                names += (names.empty() ? "" : ", ") + std::string(t.name);
            return parser.usage_error("unknown tool '" + name + "': bpfcheck knows " + names);
        }
    }

    bpfcheck::Report report = bpfcheck::collect(only);
    if (opts.json) {
        for (const auto &line : bpfcheck::render_json(report))
            printf("%s\n", line.c_str());
    } else {
        fputs(bpfcheck::render_text(report).c_str(), stdout);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log::error("cannot write the report: %m");
        return 2;
    }
    return report.exit_code();
}
