// SPDX-License-Identifier: GPL-2.0-only
// netproc's views of a snapshot: per process, per connection, totals; as
// text, JSON lines, or a Prometheus textfile.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "netproc_model.h"

namespace bpfkit::netproc {

struct ProcessRow {
    uint32_t pid = 0;
    std::string user, comm, cmdline, container, unit;
    Counters delta, total;
    bool exited = false;
};

// Who a process is, from /proc while it lives and from the kernel's record
// once it is gone; cached per pid.
class ProcessResolver {
  public:
    ProcessRow describe(uint32_t pid, const ProcName &kernel_name, bool exited);
    void forget(uint32_t pid) { cache_.erase(pid); }

  private:
    std::map<uint32_t, ProcessRow> cache_;
};

struct ViewContext {
    std::string mode;   // "tracepoint"
    std::string layer;  // "socket payload" or "frame"
    double interval_s = 0;
    std::string ts;  // ISO 8601 UTC of the end of the interval
    // The name a DNS answer gave for an address, if one was seen.
    std::function<std::optional<std::string>(const pkt::IpAddr &)> remote_name;
};

// Per-process rows for the flows of a snapshot, busiest first; totals are
// kept across intervals in `totals` (exited processes are removed after).
std::vector<ProcessRow> process_rows(const Snapshot &s, ProcessResolver &resolver,
                                     std::map<uint32_t, Counters> &totals);

std::string text_processes(const ViewContext &ctx, const std::vector<ProcessRow> &rows,
                           const Snapshot &s);
std::string text_connections(const ViewContext &ctx, const Snapshot &s, ProcessResolver &resolver);
std::vector<std::string> json_processes(const ViewContext &ctx,
                                        const std::vector<ProcessRow> &rows);
std::vector<std::string> json_connections(const ViewContext &ctx, const Snapshot &s,
                                          ProcessResolver &resolver);
std::string json_totals(const ViewContext &ctx, const Snapshot &s);
std::string prometheus_text(const ViewContext &ctx, const std::vector<ProcessRow> &rows,
                            const Snapshot &s);

// One line naming what was lost, or "" when nothing was.
std::string losses_line(const Losses &l);
std::string proto_name(uint8_t proto);
std::string endpoint(const pkt::IpAddr &a, uint16_t port);

}  // namespace bpfkit::netproc
