#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bpfkit_config.h"
#include "options.h"

namespace {

using bpfkit::CommonOptions;
using bpfkit::OptionParser;
using bpfkit::ToolInfo;
using bpfkit::ToolOption;

const ToolInfo kInfo = {"netproc", "[OPTIONS]", "Show network traffic per process.",
                        "Modes:\n  fast  sample\n  full  everything\n"};

struct Result {
    std::optional<int> rc;
    std::string out;
    std::string err;
    CommonOptions opts;
    std::vector<std::string> positional;
};

std::string slurp(FILE *f) {
    std::string s;
    rewind(f);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        s.append(buf, n);
    fclose(f);
    return s;
}

// Runs p.parse() on {"netproc", args...}, capturing what it prints.
Result run(OptionParser &p, const std::vector<std::string> &args, bool want_positional = false,
           CommonOptions initial = {}) {
    std::vector<std::string> storage = {"netproc"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (auto &s : storage)
        argv.push_back(s.data());
    argv.push_back(nullptr);

    Result r;
    r.opts = std::move(initial);
    FILE *out = tmpfile();
    FILE *err = tmpfile();
    p.set_streams(out, err);
    r.rc = p.parse(static_cast<int>(storage.size()), argv.data(), r.opts,
                   want_positional ? &r.positional : nullptr);
    r.out = slurp(out);
    r.err = slurp(err);
    p.set_streams(stdout, stderr);
    return r;
}

Result run_all(const std::vector<std::string> &args, bool want_positional = false) {
    OptionParser p(kInfo, bpfkit::kAllCommon);
    return run(p, args, want_positional);
}

std::string usage_error(const std::string &what) {
    return "netproc: " + what + "\nTry 'netproc --help' for more information.\n";
}

// ---- each flag ----

TEST(Options, NoArguments) {
    const Result r = run_all({});
    EXPECT_EQ(r.rc, std::nullopt);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.opts.verbose, 0);
    EXPECT_FALSE(r.opts.json);
    EXPECT_EQ(r.opts.interval_s, 0);
    EXPECT_EQ(r.opts.count, 0);
    EXPECT_EQ(r.opts.duration_s, 0);
    EXPECT_TRUE(r.opts.pids.empty());
    EXPECT_TRUE(r.opts.comms.empty());
    EXPECT_EQ(r.opts.cgroup, "");
    EXPECT_EQ(r.opts.mode, "");
    EXPECT_EQ(r.opts.given, 0u);
}

TEST(Options, Verbose) {
    EXPECT_EQ(run_all({"-v"}).opts.verbose, 1);
    EXPECT_EQ(run_all({"--verbose"}).opts.verbose, 1);
    const Result r = run_all({"-vvv", "--verbose", "-v"});
    EXPECT_EQ(r.rc, std::nullopt);
    EXPECT_EQ(r.opts.verbose, 5);
    EXPECT_EQ(r.opts.given, unsigned(bpfkit::kVerbose));
}

TEST(Options, Json) {
    EXPECT_TRUE(run_all({"-j"}).opts.json);
    EXPECT_TRUE(run_all({"--json"}).opts.json);
}

TEST(Options, Interval) {
    EXPECT_EQ(run_all({"-i", "2"}).opts.interval_s, 2.0);
    EXPECT_EQ(run_all({"-i0.5"}).opts.interval_s, 0.5);
    EXPECT_EQ(run_all({"--interval", "1.25"}).opts.interval_s, 1.25);
    EXPECT_EQ(run_all({"--interval=.5"}).opts.interval_s, 0.5);
    EXPECT_EQ(run_all({"--interval=10."}).opts.interval_s, 10.0);
    EXPECT_EQ(run_all({"-i", "1", "-i", "3"}).opts.interval_s, 3.0);  // last wins
}

TEST(Options, Count) {
    EXPECT_EQ(run_all({"-c", "10"}).opts.count, 10);
    EXPECT_EQ(run_all({"--count=1"}).opts.count, 1);
    EXPECT_EQ(run_all({"--count", "9223372036854775807"}).opts.count, LONG_MAX);
}

TEST(Options, Duration) {
    EXPECT_EQ(run_all({"-d", "3"}).opts.duration_s, 3.0);
    EXPECT_EQ(run_all({"-d", "90s"}).opts.duration_s, 90.0);
    EXPECT_EQ(run_all({"--duration=2m"}).opts.duration_s, 120.0);
    EXPECT_EQ(run_all({"--duration", "1.5h"}).opts.duration_s, 5400.0);
    EXPECT_EQ(run_all({"-d", "0.25s"}).opts.duration_s, 0.25);
}

TEST(Options, Pid) {
    EXPECT_EQ(run_all({"-p", "42"}).opts.pids, std::vector<int>({42}));
    EXPECT_EQ(run_all({"--pid=1,2"}).opts.pids, std::vector<int>({1, 2}));
    EXPECT_EQ(run_all({"-p", "1,2", "-p", "3"}).opts.pids, std::vector<int>({1, 2, 3}));
    EXPECT_EQ(run_all({"-p", "5,1", "--pid", "1,7,5"}).opts.pids, std::vector<int>({5, 1, 7}));
    EXPECT_EQ(run_all({"-p", "2147483647"}).opts.pids, std::vector<int>({INT_MAX}));
}

TEST(Options, Comm) {
    const Result r = run_all({"--comm", "bash", "--comm=abcdefghijklmno", "--comm", "bash"});
    EXPECT_EQ(r.rc, std::nullopt);
    EXPECT_EQ(r.opts.comms, std::vector<std::string>({"bash", "abcdefghijklmno"}));
}

TEST(Options, CgroupAndMode) {
    const Result r = run_all({"--cgroup", "/system.slice/nginx.service", "-m", "fast"});
    EXPECT_EQ(r.rc, std::nullopt);
    EXPECT_EQ(r.opts.cgroup, "/system.slice/nginx.service");
    EXPECT_EQ(r.opts.mode, "fast");
    EXPECT_EQ(run_all({"--mode=full"}).opts.mode, "full");
}

TEST(Options, Combination) {
    const Result r = run_all({"-vj", "-i1", "-c", "5", "-d2m", "-p", "1,2", "--comm", "nginx",
                              "-p3", "--cgroup=/a", "--mode", "full", "-v"});
    ASSERT_EQ(r.rc, std::nullopt) << r.err;
    EXPECT_EQ(r.opts.verbose, 2);
    EXPECT_TRUE(r.opts.json);
    EXPECT_EQ(r.opts.interval_s, 1.0);
    EXPECT_EQ(r.opts.count, 5);
    EXPECT_EQ(r.opts.duration_s, 120.0);
    EXPECT_EQ(r.opts.pids, std::vector<int>({1, 2, 3}));
    EXPECT_EQ(r.opts.comms, std::vector<std::string>({"nginx"}));
    EXPECT_EQ(r.opts.cgroup, "/a");
    EXPECT_EQ(r.opts.mode, "full");
    EXPECT_EQ(r.opts.given, bpfkit::kAllCommon & ~(bpfkit::kHelp | bpfkit::kVersion));
}

TEST(Options, LongOptionPrefixes) {
    EXPECT_EQ(run_all({"--verb"}).opts.verbose, 1);
    EXPECT_EQ(run_all({"--int=3"}).opts.interval_s, 3.0);
}

TEST(Options, PresetDefaultsSurvive) {
    OptionParser p(kInfo, bpfkit::kAllCommon);
    CommonOptions init;
    init.interval_s = 1;
    init.mode = "default";
    const Result r = run(p, {"-j"}, false, init);
    EXPECT_EQ(r.opts.interval_s, 1.0);
    EXPECT_EQ(r.opts.mode, "default");
    EXPECT_TRUE(r.opts.json);
}

// ---- bad values ----

TEST(Options, BadIntervalValues) {
    for (const char *bad : {"abc",
                            "1x",
                            "",
                            "-1",
                            "0",
                            "0.0",
                            "00",
                            "nan",
                            "NaN",
                            "inf",
                            "infinity",
                            "1e3",
                            " 1",
                            "1 ",
                            "0x10",
                            "1..2",
                            "1.2.3",
                            ".",
                            "+1",
                            "1s",
                            "1000000001",
                            "99999999999999999999999999999",
                            "0.0000000001"}) {
        const Result r = run_all({"--interval", bad});
        EXPECT_EQ(r.rc, 2) << "'" << bad << "'";
        EXPECT_EQ(r.err, usage_error(std::string("invalid value '") + bad +
                                     "' for --interval: expected a positive number of seconds"))
            << bad;
        EXPECT_EQ(r.out, "");
    }
}

TEST(Options, BadCountValues) {
    for (const char *bad : {"0", "-1", "", "1.5", "1x", "x", "+3", " 3", "3 ", "0x10", "1e3",
                            "9223372036854775808", "99999999999999999999999"}) {
        const Result r = run_all({"-c", bad});
        EXPECT_EQ(r.rc, 2) << bad;
        EXPECT_EQ(r.err, usage_error(std::string("invalid value '") + bad +
                                     "' for --count: expected a positive integer"))
            << bad;
    }
}

TEST(Options, BadDurationValues) {
    for (const char *bad : {"", "0", "0s", "-1m", "s", "m", "h", "2x", "1ms", "1 h", "1e2s", "1d",
                            "nan", "infh", "1hh", "300000h"}) {
        const Result r = run_all({"--duration", bad});
        EXPECT_EQ(r.rc, 2) << bad;
        EXPECT_NE(r.err.find(std::string("invalid value '") + bad +
                             "' for --duration: " + "expected a positive number of seconds"),
                  std::string::npos)
            << r.err;
        EXPECT_NE(r.err.find("90s, 2m"), std::string::npos);
    }
}

TEST(Options, BadPidValues) {
    for (const char *bad : {"", "0", "-5", "abc", "1,,2", "1,", ",1", ",", "1;2", "1 2", "1.0",
                            "2147483648", "99999999999999999999", "1,0"}) {
        const Result r = run_all({"-p", bad});
        EXPECT_EQ(r.rc, 2) << bad;
        EXPECT_EQ(r.err, usage_error(std::string("invalid value '") + bad +
                                     "' for --pid: expected a positive PID or a comma-separated "
                                     "list of PIDs"))
            << bad;
    }
}

TEST(Options, BadComm) {
    Result r = run_all({"--comm", "abcdefghijklmnop"});  // 16 bytes
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("invalid value 'abcdefghijklmnop' for --comm: longer than 15 "
                                 "bytes (the kernel keeps TASK_COMM_LEN-1 = 15)"));
    r = run_all({"--comm="});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("invalid value '' for --comm: expected a command name"));
    // Hostile bytes in the echoed value are escaped.
    r = run_all({"--comm", "\x1b[31mred\x1b[0m-too-long"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("'\\x1b[31mred\\x1b[0m-too-long'"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
}

TEST(Options, EmptyCgroupAndMode) {
    EXPECT_EQ(run_all({"--cgroup="}).rc, 2);
    EXPECT_EQ(run_all({"--mode", ""}).rc, 2);
}

// ---- usage errors ----

TEST(Options, UnknownShortOption) {
    const Result r = run_all({"-x"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("unrecognized option '-x'"));
    EXPECT_EQ(r.out, "");
}

TEST(Options, UnknownShortOptionInCluster) {
    const Result r = run_all({"-vjx"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("unrecognized option '-x'"));
}

TEST(Options, UnknownLongOption) {
    Result r = run_all({"--frobnicate"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("unrecognized option '--frobnicate'"));
    r = run_all({"-v", "--frob=1", "-j"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("unrecognized option '--frob'"));
}

TEST(Options, UnselectedCommonFlagsAreUnknown) {
    OptionParser p(kInfo, bpfkit::kHelp | bpfkit::kJson);
    Result r = run(p, {"-i", "1"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("unrecognized option '-i'"));
    r = run(p, {"--pid=1"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("unrecognized option '--pid'"));
    r = run(p, {"-j"});
    EXPECT_EQ(r.rc, std::nullopt);
}

TEST(Options, AmbiguousLongOption) {
    const Result r = run_all({"--co", "1"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("option '--co' is ambiguous; possibilities: '--count' '--comm'"));
}

TEST(Options, MissingArgument) {
    Result r = run_all({"-i"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("option '-i' requires an argument SECONDS"));
    r = run_all({"-v", "--interval"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("option '--interval' requires an argument SECONDS"));
    r = run_all({"--comm"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("option '--comm' requires an argument NAME"));
    r = run_all({"-vp"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("option '-p' requires an argument PID[,PID...]"));
}

TEST(Options, ArgumentToFlagWithoutOne) {
    const Result r = run_all({"--json=yes"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("option '--json' doesn't allow an argument"));
}

TEST(Options, OptionLikeValueIsTakenAsArgument) {
    // "-i -1": -1 is the argument of -i, and it is rejected.
    const Result r = run_all({"-i", "-1"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("invalid value '-1' for --interval: expected a positive number of "
                                 "seconds"));
}

TEST(Options, PositionalArguments) {
    Result r = run_all({"-v", "foo"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("unexpected argument 'foo'"));

    r = run_all({"a", "-v", "b", "--", "-j", "c"}, true);
    ASSERT_EQ(r.rc, std::nullopt) << r.err;
    EXPECT_EQ(r.opts.verbose, 1);
    EXPECT_FALSE(r.opts.json);
    EXPECT_EQ(r.positional, std::vector<std::string>({"a", "b", "-j", "c"}));
}

TEST(Options, RepeatedParseResetsGetoptState) {
    OptionParser p(kInfo, bpfkit::kAllCommon);
    // Leave getopt in the middle of an option cluster...
    Result r = run(p, {"-hv"});
    EXPECT_EQ(r.rc, 0);
    r = run(p, {"-vx", "-j"});
    EXPECT_EQ(r.rc, 2);
    // ...and check that the next parse starts from scratch.
    r = run(p, {"-j", "-c", "3"});
    EXPECT_EQ(r.rc, std::nullopt) << r.err;
    EXPECT_TRUE(r.opts.json);
    EXPECT_EQ(r.opts.verbose, 0);
    EXPECT_EQ(r.opts.count, 3);
    for (int i = 0; i < 3; i++) {
        r = run(p, {"-vv"});
        EXPECT_EQ(r.opts.verbose, 2);
    }
}

TEST(Options, UsageErrorHelper) {
    OptionParser p(kInfo, bpfkit::kHelp);
    FILE *err = tmpfile();
    p.set_streams(stdout, err);
    EXPECT_EQ(p.usage_error("--count needs --interval"), 2);
    EXPECT_EQ(slurp(err), usage_error("--count needs --interval"));
    p.set_streams(stdout, stderr);
}

// ---- tool options ----

TEST(Options, ToolOptions) {
    OptionParser p(kInfo, bpfkit::kHelp | bpfkit::kJson);
    bool numeric = false;
    std::vector<int> ports;
    p.add({"numeric", 'n', false, nullptr, "do not resolve names",
           [&](const char *arg, std::string &) {
               EXPECT_EQ(arg, nullptr);
               numeric = true;
               return true;
           }});
    p.add({"port", 0, true, "PORT", "only this port", [&](const char *arg, std::string &err) {
               long v;
               if (!bpfkit::parse_positive_long(arg, 65535, v)) {
                   err = "expected a port number 1-65535";
                   return false;
               }
               ports.push_back(static_cast<int>(v));
               return true;
           }});
    p.add({"strict", 0, true, nullptr, "no explanation",
           [](const char *, std::string &) { return false; }});
    p.add({"never", 0, false, nullptr, "refuses", [](const char *, std::string &err) {
               err = "not supported on this kernel";
               return false;
           }});

    Result r = run(p, {"-nj", "--port", "80", "--port=443"});
    ASSERT_EQ(r.rc, std::nullopt) << r.err;
    EXPECT_TRUE(numeric);
    EXPECT_TRUE(r.opts.json);
    EXPECT_EQ(ports, std::vector<int>({80, 443}));
    EXPECT_EQ(r.opts.given, unsigned(bpfkit::kJson));

    r = run(p, {"--port", "70000"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err,
              usage_error("invalid value '70000' for --port: expected a port number 1-65535"));
    r = run(p, {"--strict=x"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("invalid value 'x' for --strict"));
    r = run(p, {"--never"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("--never: not supported on this kernel"));
    r = run(p, {"--port"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, usage_error("option '--port' requires an argument PORT"));

    const std::string h = p.help();
    EXPECT_NE(h.find("  -n, --numeric"), std::string::npos) << h;
    EXPECT_NE(h.find("      --port=PORT"), std::string::npos) << h;
    EXPECT_NE(h.find("      --strict=ARG"), std::string::npos) << h;
    // Tool options come before --help.
    EXPECT_LT(h.find("--port"), h.find("--help"));
}

TEST(Options, ToolOptionConflictsAreReported) {
    OptionParser p(kInfo, bpfkit::kHelp | bpfkit::kJson);
    p.add({"json", 0, false, nullptr, "dup", [](const char *, std::string &) { return true; }});
    Result r = run(p, {});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, "netproc: internal error: duplicate option --json\n");

    OptionParser q(kInfo, bpfkit::kHelp | bpfkit::kJson);
    q.add({"jump", 'j', false, nullptr, "dup", [](const char *, std::string &) { return true; }});
    r = run(q, {});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.err, "netproc: internal error: duplicate option -j\n");

    // A short name of an unselected common flag is free.
    OptionParser s(kInfo, bpfkit::kHelp);
    bool jumped = false;
    s.add({"jump", 'j', false, nullptr, "jump", [&](const char *, std::string &) {
               jumped = true;
               return true;
           }});
    r = run(s, {"-j"});
    EXPECT_EQ(r.rc, std::nullopt) << r.err;
    EXPECT_TRUE(jumped);
}

// ---- help and version ----

struct FlagName {
    unsigned flag;
    const char *long_name;
    const char *short_name;  // nullptr = none
};
const FlagName kFlagNames[] = {
    {bpfkit::kHelp, "--help", "-h"},         {bpfkit::kVersion, "--version", "-V"},
    {bpfkit::kVerbose, "--verbose", "-v"},   {bpfkit::kJson, "--json", "-j"},
    {bpfkit::kInterval, "--interval", "-i"}, {bpfkit::kCount, "--count", "-c"},
    {bpfkit::kDuration, "--duration", "-d"}, {bpfkit::kPid, "--pid", "-p"},
    {bpfkit::kComm, "--comm", nullptr},      {bpfkit::kCgroup, "--cgroup", nullptr},
    {bpfkit::kMode, "--mode", "-m"},
};

TEST(Options, HelpListsExactlyTheSelectedFlags) {
    const unsigned selections[] = {
        bpfkit::kAllCommon,
        bpfkit::kHelp,
        bpfkit::kHelp | bpfkit::kVersion | bpfkit::kJson | bpfkit::kInterval | bpfkit::kCount,
        bpfkit::kHelp | bpfkit::kPid | bpfkit::kComm | bpfkit::kCgroup,
        bpfkit::kHelp | bpfkit::kVerbose | bpfkit::kDuration | bpfkit::kMode,
    };
    for (unsigned sel : selections) {
        OptionParser p(kInfo, sel);
        const std::string h = p.help();
        for (const auto &f : kFlagNames) {
            const std::string lng = std::string(f.long_name);
            // "--comm" must not match "--count" etc.: look for the name followed by '=' or ' '.
            const bool listed = h.find(lng + " ") != std::string::npos ||
                                h.find(lng + "=") != std::string::npos ||
                                h.find(lng + "\n") != std::string::npos;
            EXPECT_EQ(listed, (sel & f.flag) != 0) << f.long_name << " in\n" << h;
            if (f.short_name != nullptr) {
                const bool short_listed =
                    h.find(std::string("  ") + f.short_name + ", ") != std::string::npos;
                EXPECT_EQ(short_listed, (sel & f.flag) != 0) << f.short_name << " in\n" << h;
            }
        }
    }
}

TEST(Options, HelpContents) {
    OptionParser p(kInfo, bpfkit::kAllCommon);
    const std::string h = p.help();
    EXPECT_EQ(
        h.rfind("Usage: netproc [OPTIONS]\nShow network traffic per process.\n\nOptions:\n", 0), 0u)
        << h;
    for (const char *label :
         {"  -i, --interval=SECONDS", "  -c, --count=N", "  -d, --duration=DURATION",
          "  -p, --pid=PID[,PID...]", "      --comm=NAME", "      --cgroup=PATH",
          "  -m, --mode=MODE", "  -h, --help", "  -V, --version", "  -v, --verbose",
          "  -j, --json"}) {
        EXPECT_NE(h.find(std::string("\n") + label + " "), std::string::npos) << label << "\n" << h;
    }
    EXPECT_NE(h.find("15 bytes"), std::string::npos);
    EXPECT_NE(h.find("\nModes:\n  fast  sample\n  full  everything\n"), std::string::npos);
    EXPECT_EQ(h.back(), '\n');

    // Descriptions start in one column, no line is longer than 80 columns or ends in a space.
    size_t column = 0;
    size_t pos = 0;
    while (pos < h.size()) {
        const size_t nl = h.find('\n', pos);
        const std::string line = h.substr(pos, nl - pos);
        pos = nl + 1;
        EXPECT_LE(line.size(), 80u) << line;
        if (!line.empty()) {
            EXPECT_NE(line.back(), ' ') << line;
        }
        if (line.rfind("  -", 0) != 0) continue;
        const size_t gap = line.find("  ", 2);
        ASSERT_NE(gap, std::string::npos) << line;
        const size_t text = line.find_first_not_of(' ', gap);
        if (column == 0) column = text;
        EXPECT_EQ(text, column) << line;
    }
}

TEST(Options, HelpWithoutEpilogAndDescribe) {
    OptionParser p({"dnssnoop", "[OPTIONS] [FILTER]", "Trace DNS.", nullptr},
                   bpfkit::kHelp | bpfkit::kCount);
    p.describe(bpfkit::kCount, "stop after N queries", "QUERIES");
    p.describe(bpfkit::kInterval, "ignored: not selected");
    const std::string h = p.help();
    EXPECT_EQ(h,
              "Usage: dnssnoop [OPTIONS] [FILTER]\n"
              "Trace DNS.\n"
              "\n"
              "Options:\n"
              "  -c, --count=QUERIES  stop after N queries\n"
              "  -h, --help           show this help and exit\n");
}

TEST(Options, HelpFlagPrintsToStdout) {
    OptionParser p(kInfo, bpfkit::kAllCommon);
    for (const char *flag : {"-h", "--help", "--he"}) {
        const Result r = run(p, {"-v", flag, "--bogus"});
        EXPECT_EQ(r.rc, 0) << flag;
        EXPECT_EQ(r.out, p.help());
        EXPECT_EQ(r.err, "");
    }
}

TEST(Options, Version) {
    OptionParser p(kInfo, bpfkit::kHelp | bpfkit::kVersion);
    EXPECT_EQ(p.version(), std::string("netproc (bpfkit) ") + BPFKIT_VERSION + "\n");
    for (const char *flag : {"-V", "--version"}) {
        const Result r = run(p, {flag});
        EXPECT_EQ(r.rc, 0);
        EXPECT_EQ(r.out, p.version());
        EXPECT_EQ(r.err, "");
    }
    OptionParser q(kInfo, bpfkit::kHelp);
    EXPECT_EQ(run(q, {"-V"}).rc, 2);
}

// ---- value parsers ----

TEST(Options, ParseSeconds) {
    double v = -1;
    EXPECT_TRUE(bpfkit::parse_seconds("1.5", false, v));
    EXPECT_EQ(v, 1.5);
    EXPECT_FALSE(bpfkit::parse_seconds("1.5s", false, v));
    EXPECT_TRUE(bpfkit::parse_seconds("1.5s", true, v));
    EXPECT_EQ(v, 1.5);
    EXPECT_TRUE(bpfkit::parse_seconds("1000000000", false, v));
    EXPECT_EQ(v, 1e9);
    EXPECT_TRUE(bpfkit::parse_seconds("0.000000001", false, v));
    v = 7;
    EXPECT_FALSE(bpfkit::parse_seconds("junk", true, v));
    EXPECT_EQ(v, 7);  // untouched on error
}

TEST(Options, ParsePositiveLong) {
    long v = 0;
    EXPECT_TRUE(bpfkit::parse_positive_long("65535", 65535, v));
    EXPECT_EQ(v, 65535);
    EXPECT_FALSE(bpfkit::parse_positive_long("65536", 65535, v));
    EXPECT_FALSE(bpfkit::parse_positive_long("0", 10, v));
    EXPECT_TRUE(bpfkit::parse_positive_long("007", 10, v));
    EXPECT_EQ(v, 7);
}

TEST(Options, ParsePidList) {
    std::vector<int> pids = {9};
    EXPECT_TRUE(bpfkit::parse_pid_list("1,9,2,1", pids));
    EXPECT_EQ(pids, std::vector<int>({9, 1, 2}));
    EXPECT_FALSE(bpfkit::parse_pid_list("3,x", pids));
    EXPECT_EQ(pids, std::vector<int>({9, 1, 2}));  // all or nothing
}

TEST(Options, CommandName) {
    using bpfkit::command_name;
    EXPECT_EQ(command_name("netproc", ""), "netproc");
    EXPECT_EQ(command_name("netproc", "netproc stackprof"), "bpfkit-netproc");
    EXPECT_EQ(command_name("stackprof", "netproc stackprof"), "bpfkit-stackprof");
    EXPECT_EQ(command_name("bpfcheck", "netproc stackprof"), "bpfcheck");
    // Whole names only.
    EXPECT_EQ(command_name("net", "netproc"), "net");
    EXPECT_EQ(command_name("netproc", "netprocs xnetproc"), "netproc");
    EXPECT_EQ(command_name("", "netproc"), "");
}

}  // namespace
