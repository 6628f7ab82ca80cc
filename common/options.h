// Command-line options shared by every bpfkit tool: one table on getopt_long that also produces
// --help. A tool selects the common flags it takes and adds its own.
//
//   bpfkit::OptionParser p({"netproc", "[OPTIONS]", "Show network traffic per process.", nullptr},
//                          bpfkit::kHelp | bpfkit::kVersion | bpfkit::kJson | bpfkit::kInterval);
//   bool numeric = false;
//   p.add({"numeric", 'n', false, nullptr, "do not resolve user names",
//          [&](const char *, std::string &) { numeric = true; return true; }});
//   bpfkit::CommonOptions opts;
//   if (auto rc = p.parse(argc, argv, opts)) return *rc;
#pragma once

#include <cstdio>
#include <functional>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace bpfkit {

enum CommonFlag : unsigned {
    kHelp = 1u << 0,      // -h, --help
    kVersion = 1u << 1,   // -V, --version
    kVerbose = 1u << 2,   // -v, --verbose (repeatable, counts)
    kJson = 1u << 3,      // -j, --json
    kInterval = 1u << 4,  // -i, --interval SECONDS
    kCount = 1u << 5,     // -c, --count N
    kDuration = 1u << 6,  // -d, --duration SECONDS[s|m|h]
    kPid = 1u << 7,       // -p, --pid PID[,PID...] (repeatable)
    kComm = 1u << 8,      // --comm NAME (repeatable)
    kCgroup = 1u << 9,    // --cgroup PATH
    kMode = 1u << 10,     // -m, --mode MODE
    kAllCommon = (1u << 11) - 1,
};

// Longest accepted --interval/--duration, in seconds (keeps nanosecond arithmetic in int64).
inline constexpr double kMaxSeconds = 1e9;
// TASK_COMM_LEN - 1: the longest name the kernel keeps in task->comm.
inline constexpr size_t kMaxCommLen = 15;

struct CommonOptions {
    int verbose = 0;
    bool json = false;
    double interval_s = 0;  // 0 = not given
    long count = 0;         // 0 = unlimited
    double duration_s = 0;  // 0 = not given
    std::vector<int> pids;  // in command-line order, duplicates removed
    std::vector<std::string> comms;
    std::string cgroup;
    std::string mode;
    unsigned given = 0;  // CommonFlag bits of the flags that appeared on the command line
};

// A tool's own flag.
struct ToolOption {
    const char *long_name;  // without "--"; required
    int short_name;         // 0 = none
    bool takes_arg;
    const char *arg_name;  // shown in --help, e.g. "PORT"; nullptr = "ARG"
    const char *help;
    // Called for each occurrence, arg = nullptr for flags without an argument. Returns false on a
    // bad value, optionally with err describing what was expected ("expected a port number");
    // the parser then prints "<tool>: invalid value '<arg>' for --<name>: <err>".
    std::function<bool(const char *arg, std::string &err)> handle;
};

struct ToolInfo {
    const char *name;      // "netproc"
    const char *synopsis;  // "[OPTIONS]", "[OPTIONS] [FILE...]"
    const char *summary;   // one line
    const char *epilog;    // optional (nullptr): modes, exit status, see also; printed verbatim
};

class OptionParser {
  public:
    OptionParser(ToolInfo info, unsigned common_flags);

    // Adds a tool option. Options are listed in --help in the order they are added, after the
    // selected common flags and before --help/--version. A long or short name that is already
    // taken is a programming error, reported by parse() as a usage error.
    void add(ToolOption opt);
    // Replaces the --help text (and optionally the argument name) of a selected common flag, for
    // tools where e.g. --count has a specific meaning.
    void describe(CommonFlag flag, const char *help, const char *arg_name = nullptr);
    // Where parse() prints help/version (default stdout) and errors (default stderr).
    void set_streams(FILE *out, FILE *err);

    // Parses argv (getopt_long; argv may be permuted). Returns std::nullopt to continue, or an
    // exit status: 0 after printing --help/--version, 2 after printing a usage error as
    //   <tool>: <what is wrong>
    //   Try '<tool> --help' for more information.
    // Positional arguments are collected into `positional` if non-null; if null, any positional
    // argument is a usage error. Fields of `out` for flags that are not given keep their values,
    // so a tool may preset defaults. Can be called repeatedly (getopt state is reset).
    std::optional<int> parse(int argc, char **argv, CommonOptions &out,
                             std::vector<std::string> *positional = nullptr);

    // Prints a usage error in the format above (for checks a tool does after parse(), like
    // conflicting flags) and returns 2.
    int usage_error(std::string_view message) const;

    std::string help() const;     // usage line, summary, aligned option list, epilog
    std::string version() const;  // "<tool> (bpfkit) <BPFKIT_VERSION>\n"

  private:
    struct Entry {
        std::string long_name;
        int short_name;
        bool takes_arg;
        std::string arg_name;
        std::string help;
        unsigned common;  // CommonFlag bit, 0 for a tool option
        std::function<bool(const char *, std::string &)> handle;
    };
    const Entry *find_long(std::string_view name) const;
    bool apply(const Entry &e, const char *arg, CommonOptions &out, std::string &msg) const;
    std::string option_label(const Entry &e) const;

    ToolInfo info_;
    unsigned flags_;
    std::vector<Entry> entries_;  // common flags first (fixed order), then tool options
    std::string config_error_;
    FILE *out_ = stdout;
    FILE *err_ = stderr;
};

// Value parsers used by the common flags, for tools' own options. They accept plain decimal
// numbers only: no sign, no whitespace, no hex, no exponent, no "inf"/"nan".

// A positive number of seconds, fractions allowed ("0.5", "2", ".5"), from 1e-9 (one nanosecond)
// to kMaxSeconds. Locale-independent (always '.'). With
// allow_suffix, one of s, m, h may follow ("90s", "1.5m", "2h").
bool parse_seconds(std::string_view s, bool allow_suffix, double &out);
// An integer in 1..max.
bool parse_positive_long(std::string_view s, long max, long &out);
// A comma-separated list of PIDs (each 1..INT_MAX), appended to out skipping duplicates.
// Empty elements are errors. On error out is unchanged.
bool parse_pid_list(std::string_view s, std::vector<int> &out);

// --port PORT (repeatable) into a set; help says what the filter does.
ToolOption port_option(std::set<uint16_t> &ports, const char *help);

// The name a tool's command is installed as: "bpfkit-<tool>" for a tool whose name another
// distribution package uses for a different program (meson -Drename_clashing=true, as the .deb
// and .rpm are built), else the tool's own name. A tool shows it in --help, --version and usage
// errors; bpfcheck in the setcap lines. `renamed` is a space-separated list of tools.
std::string command_name(std::string_view tool, std::string_view renamed);
std::string command_name(std::string_view tool);  // with this build's list

}  // namespace bpfkit
