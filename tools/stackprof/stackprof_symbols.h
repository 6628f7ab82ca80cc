// SPDX-License-Identifier: GPL-2.0-only
// Names for addresses: the kernel's from /proc/kallsyms, a process's from the
// ELF files it maps (.symtab/.dynsym through elfutils' libdwfl, which also
// follows build-ids, .gnu_debuglink, /usr/lib/debug and, with DEBUGINFOD_URLS
// set, debuginfod), opened through /proc/PID/root so that binaries in other
// mount namespaces resolve, and /tmp/perf-PID.map for JIT code. A process's
// maps are captured when it is first seen, so it may exit before the report.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stackprof_parse.h"

namespace bpfkit::stackprof {

class KernelSymbols {
  public:
    // Reads /proc/kallsyms (or `path`); false if there are no usable addresses
    // (kptr_restrict hides them without CAP_SYSLOG).
    bool load(const std::string &path = "/proc/kallsyms");
    // "function" or "" when unknown.
    std::string name(uint64_t addr) const;
    size_t size() const { return syms_.size(); }

  private:
    struct Sym {
        uint64_t addr;
        std::string name;
    };
    std::vector<Sym> syms_;
};

// The user registers and stack copy of one sample, for DWARF unwinding.
struct StackCopy {
    uint64_t ip = 0, sp = 0, bp = 0;
    const uint8_t *data = nullptr;
    size_t len = 0;
};

struct UserFrame {
    uint64_t pc;
    bool call_site;  // a return address: look up pc - 1
};

class ProcessSymbols;
class FileCache;
struct SymTable;

struct SymbolStats {
    uint64_t processes = 0;       // captured
    uint64_t capture_failed = 0;  // gone before their maps could be read
    uint64_t modules = 0;         // ELF files opened (each once)
    uint64_t module_failed = 0;   // mapped files that could not be opened
    uint64_t unwind_failed = 0;   // DWARF mode: samples whose unwinding stopped at the first frame
};

class Symbolizer {
  public:
    Symbolizer();
    ~Symbolizer();
    Symbolizer(const Symbolizer &) = delete;
    Symbolizer &operator=(const Symbolizer &) = delete;

    bool load_kernel() { return kernel_.load(); }
    // DWARF mode: each process also gets a libdwfl session of its own, for
    // unwind(). Before the first capture.
    void set_unwinding(bool on) { unwinding_ = on; }
    // Reads the maps of tgid and opens its files now (now_ms: a monotonic
    // clock); true if captured (or captured before).
    bool capture(uint32_t tgid, double now_ms = 0);
    // Reads again the maps of the processes first seen within window_ms of
    // now_ms, for files mapped since (libraries loaded after the first sample).
    void refresh(double now_ms, double window_ms);
    // The same for one process (captured first if it was not).
    void refresh_one(uint32_t tgid);
    // A user frame's name: "function", or "[module+0xoffset]", or "[unknown]".
    std::string user(uint32_t tgid, uint64_t addr, bool call_site);
    std::string kernel(uint64_t addr) const;
    // DWARF mode: the frames of one sample, innermost first.
    std::vector<UserFrame> unwind(uint32_t tgid, uint32_t tid, const StackCopy &copy);
    const SymbolStats &stats() const { return stats_; }
    const KernelSymbols &kernel_symbols() const { return kernel_; }

  private:
    ProcessSymbols *get(uint32_t tgid);
    KernelSymbols kernel_;
    std::unique_ptr<FileCache> files_;  // the mapped files, shared by processes
    bool unwinding_ = false;
    std::map<uint32_t, std::unique_ptr<ProcessSymbols>> procs_;
    SymbolStats stats_;
};

}  // namespace bpfkit::stackprof
