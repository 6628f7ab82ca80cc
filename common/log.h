// SPDX-License-Identifier: GPL-2.0-only
// Messages to stderr, and libbpf's messages routed through one place:
// quiet unless -v, captured while a ladder rung is tried so that the
// reason for a refusal can quote the kernel's own words.
#pragma once

#include <string>

namespace bpfkit::log {

// Installs the libbpf print callback. verbose: 0 = only our errors,
// 1 = libbpf warnings and info, 2 = libbpf debug too.
void init(const char *program_name, int verbose);
int verbose();
const char *program_name();

// "<program>: <message>" on stderr, printf-style.
void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Only with -v.
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// A "hint: ..." line after an error, as bpftrace does.
void hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// While alive, every libbpf message (all levels) is also kept here.
// Captures nest; the innermost one collects.
class Capture {
  public:
    Capture();
    ~Capture();
    Capture(const Capture &) = delete;
    Capture &operator=(const Capture &) = delete;
    const std::string &text() const { return text_; }
    // The most telling line libbpf printed: its last warning, without the
    // "libbpf: " prefix and trailing newline; empty if none.
    std::string summary() const;
    void append(const std::string &line);

  private:
    std::string text_;
    Capture *outer_;
};

// True when a libbpf line is its RLIMIT_MEMLOCK hint, which misleads on
// kernels that charge BPF memory to the memory cgroup (5.11 and later).
bool is_memlock_hint(const std::string &line);

}  // namespace bpfkit::log
