// SPDX-License-Identifier: GPL-2.0-only
#include "kconfig.h"

#include <sys/utsname.h>
#include <zlib.h>

#include <cstdio>

namespace bpfkit {

std::optional<std::string> Kconfig::get(std::string_view name) const {
    // The last mention wins, as in the kernel's own parser.
    std::optional<std::string> found;
    constexpr std::string_view kNotSet = " is not set";
    size_t pos = 0;
    while (pos < lines.size()) {
        size_t end = lines.find('\n', pos);
        if (end == std::string::npos) end = lines.size();
        std::string_view line = std::string_view(lines).substr(pos, end - pos);
        pos = end + 1;
        if (line.size() > name.size() && line.substr(0, name.size()) == name &&
            line[name.size()] == '=') {
            found = std::string(line.substr(name.size() + 1));
        } else if (line.size() == 2 + name.size() + kNotSet.size() && line.substr(0, 2) == "# " &&
                   line.substr(2, name.size()) == name) {
            found.emplace(1, 'n');
        }
    }
    return found;
}

bool Kconfig::enabled(std::string_view name) const {
    auto v = get(name);
    return v && (*v == "y" || *v == "m");
}

bool Kconfig::disabled(std::string_view name) const {
    if (!found()) return false;
    auto v = get(name);
    return !v || *v == "n";
}

Kconfig parse_kconfig(std::string_view text, std::string source) {
    Kconfig k;
    k.source = std::move(source);
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        constexpr std::string_view kNotSet = " is not set";
        const bool not_set = line.rfind("# CONFIG_", 0) == 0 && line.size() > kNotSet.size() &&
                             line.substr(line.size() - kNotSet.size()) == kNotSet;
        const bool set = line.rfind("CONFIG_", 0) == 0 && line.find('=') != std::string_view::npos;
        if (!set && !not_set) continue;
        k.lines.append(line);
        k.lines.push_back('\n');
    }
    k.lines.shrink_to_fit();
    return k;
}

namespace {

bool read_gz(const std::string &path, std::string &out) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return false;
    char buf[65536];
    int n;
    while ((n = gzread(f, buf, sizeof(buf))) > 0)
        out.append(buf, static_cast<size_t>(n));
    bool ok = n == 0;
    gzclose(f);
    return ok;
}

bool read_plain(const std::string &path, std::string &out) {
    FILE *f = fopen(path.c_str(), "re");
    if (!f) return false;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        out.append(buf, n);
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

}  // namespace

Kconfig read_kconfig(const std::string &proc_config_gz, const std::string &boot_dir) {
    std::string text;
    if (read_gz(proc_config_gz, text) && !text.empty()) return parse_kconfig(text, proc_config_gz);
    struct utsname u;
    if (uname(&u) == 0) {
        std::string path = boot_dir + "/config-" + u.release;
        text.clear();
        if (read_plain(path, text) && !text.empty()) return parse_kconfig(text, path);
    }
    return Kconfig{};
}

const Kconfig &system_kconfig() {
    static const Kconfig k = read_kconfig();
    return k;
}

}  // namespace bpfkit
