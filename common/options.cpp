#include "options.h"

#include <getopt.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <system_error>
#include <utility>

#include "bpfkit_config.h"
#include "text.h"

namespace bpfkit {

namespace {

// getopt_long returns this plus the entry index for long options, so that every entry (also the
// long-only ones) is identified by one value, including in optopt on errors.
constexpr int kLongBase = 0x100;

constexpr size_t kHelpWidth = 80;      // wrap --help at this column
constexpr size_t kMaxLabelWidth = 30;  // longer option labels put their text on the next line

struct CommonSpec {
    unsigned flag;
    const char *long_name;
    int short_name;
    const char *arg_name;  // nullptr = no argument
    const char *help;
};

// The order in which common flags appear in --help (help and version go last, after the tool's
// own options).
constexpr CommonSpec kCommonSpecs[] = {
    {kVerbose, "verbose", 'v', nullptr, "print more diagnostics to stderr (repeat for more)"},
    {kJson, "json", 'j', nullptr, "print one JSON object per line"},
    {kInterval, "interval", 'i', "SECONDS", "report every SECONDS (fractions allowed)"},
    {kCount, "count", 'c', "N", "stop after N reports"},
    {kDuration, "duration", 'd', "DURATION",
     "stop after DURATION (seconds, or with a suffix s, m, h: 90s, 2m)"},
    {kPid, "pid", 'p', "PID[,PID...]", "only these processes (repeatable)"},
    {kComm, "comm", 0, "NAME", "only tasks with this command name, at most 15 bytes (repeatable)"},
    {kCgroup, "cgroup", 0, "PATH", "only tasks in this cgroup (v2 path)"},
    {kMode, "mode", 'm', "MODE", "operating mode"},
    {kHelp, "help", 'h', nullptr, "show this help and exit"},
    {kVersion, "version", 'V', nullptr, "show the version and exit"},
};

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Word-wraps text into lines of at most `width` columns, the first line starting at column
// `first_col` (already written by the caller), the others indented by `indent`.
std::string wrap(std::string_view text, size_t first_col, size_t indent, size_t width) {
    std::string out;
    size_t col = first_col;
    bool line_empty = true;
    size_t pos = 0;
    while (pos < text.size()) {
        while (pos < text.size() && text[pos] == ' ')
            pos++;
        if (pos >= text.size()) break;
        size_t end = text.find(' ', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view word = text.substr(pos, end - pos);
        if (!line_empty && col + 1 + word.size() > width) {
            out += '\n';
            out.append(indent, ' ');
            col = indent;
            line_empty = true;
        }
        if (!line_empty) {
            out += ' ';
            col++;
        }
        out.append(word);
        col += word.size();
        line_empty = false;
        pos = end;
    }
    return out;
}

std::string quoted(const char *arg) {
    return "'" + text_escape(arg ? arg : "") + "'";
}

}  // namespace

bool parse_seconds(std::string_view s, bool allow_suffix, double &out) {
    double mult = 1;
    if (allow_suffix && !s.empty()) {
        switch (s.back()) {
            case 's':
                s.remove_suffix(1);
                break;
            case 'm':
                mult = 60;
                s.remove_suffix(1);
                break;
            case 'h':
                mult = 3600;
                s.remove_suffix(1);
                break;
            default:
                break;
        }
    }
    size_t digits = 0, dots = 0;
    for (char c : s) {
        if (c >= '0' && c <= '9') {
            digits++;
        } else if (c == '.') {
            dots++;
        } else {
            return false;
        }
    }
    if (digits == 0 || dots > 1) return false;
    double v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
    if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return false;
    v *= mult;
    if (!std::isfinite(v) || v < 1e-9 || v > kMaxSeconds) return false;
    out = v;
    return true;
}

bool parse_positive_long(std::string_view s, long max, long &out) {
    if (!all_digits(s)) return false;
    long v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v, 10);
    if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return false;
    if (v < 1 || v > max) return false;
    out = v;
    return true;
}

bool parse_pid_list(std::string_view s, std::vector<int> &out) {
    std::vector<int> parsed;
    while (true) {
        const size_t comma = s.find(',');
        long v;
        if (!parse_positive_long(s.substr(0, comma), INT_MAX, v)) return false;
        parsed.push_back(static_cast<int>(v));
        if (comma == std::string_view::npos) break;
        s.remove_prefix(comma + 1);
    }
    for (int pid : parsed) {
        if (std::find(out.begin(), out.end(), pid) == out.end()) out.push_back(pid);
    }
    return true;
}

OptionParser::OptionParser(ToolInfo info, unsigned common_flags)
    : info_(info), flags_(common_flags & kAllCommon) {
    if (info_.name == nullptr) info_.name = "bpfkit";
    if (info_.synopsis == nullptr) info_.synopsis = "[OPTIONS]";
    for (const auto &spec : kCommonSpecs) {
        if ((flags_ & spec.flag) == 0) continue;
        entries_.push_back(Entry{spec.long_name, spec.short_name, spec.arg_name != nullptr,
                                 spec.arg_name ? spec.arg_name : "", spec.help, spec.flag,
                                 nullptr});
    }
}

void OptionParser::add(ToolOption opt) {
    if (opt.long_name == nullptr || opt.long_name[0] == '\0') {
        config_error_ = "tool option without a long name";
        return;
    }
    if (find_long(opt.long_name) != nullptr) {
        config_error_ = std::string("duplicate option --") + opt.long_name;
        return;
    }
    if (opt.short_name != 0) {
        if (opt.short_name < 0 || opt.short_name > 0x7f || !isalnum(opt.short_name)) {
            config_error_ = std::string("bad short name for --") + opt.long_name;
            return;
        }
        for (const auto &e : entries_) {
            if (e.short_name == opt.short_name) {
                config_error_ =
                    std::string("duplicate option -") + static_cast<char>(opt.short_name);
                return;
            }
        }
    }
    if (!opt.handle) {
        config_error_ = std::string("no handler for --") + opt.long_name;
        return;
    }
    // Keep help/version last.
    auto pos = std::find_if(entries_.begin(), entries_.end(), [](const Entry &e) {
        return e.common == kHelp || e.common == kVersion;
    });
    entries_.insert(pos, Entry{opt.long_name, opt.short_name, opt.takes_arg,
                               opt.takes_arg ? (opt.arg_name ? opt.arg_name : "ARG") : "",
                               opt.help ? opt.help : "", 0, std::move(opt.handle)});
}

void OptionParser::describe(CommonFlag flag, const char *help, const char *arg_name) {
    for (auto &e : entries_) {
        if (e.common != flag) continue;
        if (help != nullptr) e.help = help;
        if (arg_name != nullptr && e.takes_arg) e.arg_name = arg_name;
    }
}

void OptionParser::set_streams(FILE *out, FILE *err) {
    out_ = out;
    err_ = err;
}

const OptionParser::Entry *OptionParser::find_long(std::string_view name) const {
    for (const auto &e : entries_) {
        if (e.long_name == name) return &e;
    }
    return nullptr;
}

std::string OptionParser::option_label(const Entry &e) const {
    std::string s = "  ";
    if (e.short_name != 0) {
        s += '-';
        s += static_cast<char>(e.short_name);
        s += ", ";
    } else {
        s += "    ";
    }
    s += "--";
    s += e.long_name;
    if (e.takes_arg) {
        s += '=';
        s += e.arg_name;
    }
    return s;
}

std::string OptionParser::help() const {
    std::string out = "Usage: ";
    out += info_.name;
    if (info_.synopsis[0] != '\0') {
        out += ' ';
        out += info_.synopsis;
    }
    out += '\n';
    if (info_.summary != nullptr && info_.summary[0] != '\0') {
        out += info_.summary;
        out += '\n';
    }
    if (!entries_.empty()) {
        out += "\nOptions:\n";
        size_t label_width = 0;
        for (const auto &e : entries_) {
            const size_t w = option_label(e).size();
            if (w <= kMaxLabelWidth) label_width = std::max(label_width, w);
        }
        const size_t text_col = label_width + 2;
        for (const auto &e : entries_) {
            const std::string label = option_label(e);
            out += label;
            if (e.help.empty()) {
                out += '\n';
                continue;
            }
            if (label.size() > kMaxLabelWidth) {
                out += '\n';
                out.append(text_col, ' ');
            } else {
                out.append(text_col - label.size(), ' ');
            }
            out += wrap(e.help, text_col, text_col, kHelpWidth);
            out += '\n';
        }
    }
    if (info_.epilog != nullptr && info_.epilog[0] != '\0') {
        out += '\n';
        out += info_.epilog;
        if (out.back() != '\n') out += '\n';
    }
    return out;
}

std::string OptionParser::version() const {
    return std::string(info_.name) + " (bpfkit) " BPFKIT_VERSION "\n";
}

int OptionParser::usage_error(std::string_view message) const {
    std::string s = info_.name;
    s += ": ";
    s.append(message);
    s += "\nTry '";
    s += info_.name;
    s += " --help' for more information.\n";
    fwrite(s.data(), 1, s.size(), err_);
    fflush(err_);
    return 2;
}

bool OptionParser::apply(const Entry &e, const char *arg, CommonOptions &out,
                         std::string &msg) const {
    const auto invalid = [&](std::string_view expected) {
        msg = "invalid value " + quoted(arg) + " for --" + e.long_name;
        if (!expected.empty()) {
            msg += ": ";
            msg.append(expected);
        }
        return false;
    };
    switch (e.common) {
        case kVerbose:
            out.verbose++;
            break;
        case kJson:
            out.json = true;
            break;
        case kInterval:
            if (!parse_seconds(arg, false, out.interval_s)) {
                return invalid("expected a positive number of seconds");
            }
            break;
        case kCount:
            if (!parse_positive_long(arg, LONG_MAX, out.count)) {
                return invalid("expected a positive integer");
            }
            break;
        case kDuration:
            if (!parse_seconds(arg, true, out.duration_s)) {
                return invalid(
                    "expected a positive number of seconds, optionally with a suffix s, m or h "
                    "(e.g. 90s, 2m)");
            }
            break;
        case kPid:
            if (!parse_pid_list(arg, out.pids)) {
                return invalid("expected a positive PID or a comma-separated list of PIDs");
            }
            break;
        case kComm: {
            const std::string_view name = arg;
            if (name.empty()) return invalid("expected a command name");
            if (name.size() > kMaxCommLen) {
                return invalid("longer than 15 bytes (the kernel keeps TASK_COMM_LEN-1 = 15)");
            }
            if (std::find(out.comms.begin(), out.comms.end(), name) == out.comms.end()) {
                out.comms.emplace_back(name);
            }
            break;
        }
        case kCgroup:
            if (arg[0] == '\0') return invalid("expected a cgroup path");
            out.cgroup = arg;
            break;
        case kMode:
            if (arg[0] == '\0') return invalid("expected a mode name");
            out.mode = arg;
            break;
        case 0: {
            std::string err;
            if (!e.handle(arg, err)) {
                if (e.takes_arg) return invalid(err);
                msg = "--" + e.long_name + ": " + (err.empty() ? "not allowed here" : err);
                return false;
            }
            break;
        }
        default:
            break;
    }
    out.given |= e.common;
    return true;
}

std::optional<int> OptionParser::parse(int argc, char **argv, CommonOptions &out,
                                       std::vector<std::string> *positional) {
    if (!config_error_.empty()) {
        fprintf(err_, "%s: internal error: %s\n", info_.name, config_error_.c_str());
        return 2;
    }

    std::string optstring = ":";  // ':' first: report a missing argument as ':' not '?'
    std::vector<struct option> longopts;
    for (size_t i = 0; i < entries_.size(); i++) {
        const Entry &e = entries_[i];
        if (e.short_name != 0) {
            optstring += static_cast<char>(e.short_name);
            if (e.takes_arg) optstring += ':';
        }
        longopts.push_back(option{e.long_name.c_str(),
                                  e.takes_arg ? required_argument : no_argument, nullptr,
                                  kLongBase + static_cast<int>(i)});
    }
    longopts.push_back(option{nullptr, 0, nullptr, 0});

    const auto entry_for = [&](int c) -> const Entry * {
        if (c >= kLongBase && static_cast<size_t>(c - kLongBase) < entries_.size()) {
            return &entries_[static_cast<size_t>(c - kLongBase)];
        }
        for (const auto &e : entries_) {
            if (e.short_name != 0 && e.short_name == c) return &e;
        }
        return nullptr;
    };
    // How the user spelled the option that getopt just reported.
    const auto spelled = [&](int c) -> std::string {
        if (c >= kLongBase) return "--" + entry_for(c)->long_name;
        return std::string("-") + static_cast<char>(c);
    };

    opterr = 0;  // all messages are ours
    optind = 0;  // glibc: full re-initialisation, so parse() can run more than once
    int c;
    while ((c = getopt_long(argc, argv, optstring.c_str(), longopts.data(), nullptr)) != -1) {
        if (c == ':') {
            const Entry *e = entry_for(optopt);
            std::string msg = "option '" + spelled(optopt) + "' requires an argument";
            if (e != nullptr && !e->arg_name.empty()) msg += " " + e->arg_name;
            return usage_error(msg);
        }
        if (c == '?') {
            if (optopt >= kLongBase) {
                return usage_error("option '" + spelled(optopt) + "' doesn't allow an argument");
            }
            if (optopt != 0) {
                const char opt[2] = {static_cast<char>(optopt), '\0'};
                return usage_error("unrecognized option '-" + text_escape(opt) + "'");
            }
            // An unknown or ambiguous long option; getopt has moved past it.
            std::string_view bad = (optind > 0 && optind <= argc && argv[optind - 1] != nullptr)
                                       ? argv[optind - 1]
                                       : "--?";
            bad = bad.substr(0, bad.find('='));
            std::string matches;
            size_t n_matches = 0;
            if (bad.size() > 2) {
                for (const auto &e : entries_) {
                    if (e.long_name.compare(0, bad.size() - 2, bad.substr(2)) == 0) {
                        matches += " '--" + e.long_name + "'";
                        n_matches++;
                    }
                }
            }
            if (n_matches > 1) {
                return usage_error("option '" + text_escape(bad) +
                                   "' is ambiguous; possibilities:" + matches);
            }
            return usage_error("unrecognized option '" + text_escape(bad) + "'");
        }
        const Entry *e = entry_for(c);
        if (e == nullptr) return usage_error("internal error: unexpected option");
        if (e->common == kHelp) {
            const std::string h = help();
            fwrite(h.data(), 1, h.size(), out_);
            fflush(out_);
            return 0;
        }
        if (e->common == kVersion) {
            const std::string v = version();
            fwrite(v.data(), 1, v.size(), out_);
            fflush(out_);
            return 0;
        }
        std::string msg;
        if (!apply(*e, e->takes_arg ? optarg : nullptr, out, msg)) return usage_error(msg);
    }
    for (int i = optind; i < argc; i++) {
        if (positional == nullptr) {
            return usage_error("unexpected argument " + quoted(argv[i]));
        }
        positional->emplace_back(argv[i]);
    }
    return std::nullopt;
}

std::string command_name(std::string_view tool, std::string_view renamed) {
    while (!renamed.empty()) {
        const size_t end = std::min(renamed.find(' '), renamed.size());
        if (renamed.substr(0, end) == tool) return "bpfkit-" + std::string(tool);
        renamed.remove_prefix(std::min(end + 1, renamed.size()));
    }
    return std::string(tool);
}

std::string command_name(std::string_view tool) {
    return command_name(tool, BPFKIT_RENAMED_COMMANDS);
}

ToolOption port_option(std::set<uint16_t> &ports, const char *help) {
    return ToolOption{"port", 0, true, "PORT", help, [&ports](const char *arg, std::string &err) {
                          long v;
                          if (!parse_positive_long(arg, 65535, v)) {
                              err = "expected a port number 1-65535";
                              return false;
                          }
                          ports.insert(static_cast<uint16_t>(v));
                          return true;
                      }};
}

}  // namespace bpfkit
