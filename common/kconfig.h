// SPDX-License-Identifier: GPL-2.0-only
// The running kernel's build configuration, when a config file exists.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bpfkit {

struct Kconfig {
    std::string source;  // the file it was read from; empty when none was found
    // The file's option lines ("CONFIG_X=y", "# CONFIG_Y is not set"), one
    // per line. Kept as text and searched on each question: a few questions
    // are asked, and a map of every option held 0.4 MiB for the life of a tool.
    std::string lines;

    bool found() const { return !source.empty(); }
    // "y", "m", a value, or "n" for "# CONFIG_X is not set"; nullopt if the
    // file does not mention the option or there is no file.
    std::optional<std::string> get(std::string_view name) const;
    // True for y or m.
    bool enabled(std::string_view name) const;
    // True only when the file says the option is not set (or omits it).
    bool disabled(std::string_view name) const;
};

// Parses config text ("CONFIG_X=y", "# CONFIG_Y is not set").
Kconfig parse_kconfig(std::string_view text, std::string source);

// Reads /proc/config.gz, else /boot/config-<release>; empty Kconfig when
// neither exists or can be read. The paths are parameters for tests.
Kconfig read_kconfig(const std::string &proc_config_gz = "/proc/config.gz",
                     const std::string &boot_dir = "/boot");

// The running kernel's, read once.
const Kconfig &system_kconfig();

}  // namespace bpfkit
