// SPDX-License-Identifier: GPL-2.0-only
// xdpflow's flows in user space: the kernel's per-CPU counters summed, the
// deltas since the last print and the last export, idle and active
// timeouts, filters and the run's totals. No libbpf here (unit-tested).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "xdpflow.h"  // bpf/

namespace bpfkit::xdpflow {

struct Counters {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t first_ns = 0;  // CLOCK_MONOTONIC; 0 = not yet
    uint64_t last_ns = 0;
    uint8_t tcp_flags = 0;
};

// Sums one flow's per-CPU values (CPUs that never saw it are all zero).
Counters sum_percpu(const xdpflow_val *vals, int ncpus);
// A key as a map key: its bytes.
std::string key_bytes(const xdpflow_key &k);
// Adds counters counted apart (a CPU's cached run of the flow) to a flow's.
void merge(Counters &into, const Counters &more);

struct Flow {
    xdpflow_key key{};
    Counters total;                                     // the kernel's counters, summed
    uint64_t shown_packets = 0, shown_bytes = 0;        // at the last print
    uint64_t exported_packets = 0, exported_bytes = 0;  // at the last IPFIX export
    uint64_t export_start_ns = 0;                       // start of the unexported part
    uint64_t export_timer_ns = 0;  // the active timeout runs from here (first packet, last export)
    bool expired = false;          // deleted from the kernel's table: last record due
    bool shown_final = false;      // its last record was printed
    bool exported_final = false;   // ... and exported
};

// A flow's record for one interval or one export.
struct Record {
    const Flow *flow;
    uint64_t packets, bytes;  // deltas
    uint64_t start_ns, end_ns;
    bool final;  // the flow expired (or the run ended)
};

// Output filters: a record passes when it passes each kind given (any of the
// values of a kind).
struct Cidr {
    uint8_t family = 0;  // AF_INET / AF_INET6
    uint8_t addr[16] = {};
    unsigned prefix = 0;
    static std::optional<Cidr> parse(const std::string &text);  // "10.0.0.0/8", "::1"
    bool contains(const uint8_t *a, uint8_t family) const;
};
struct Filters {
    std::vector<uint8_t> protos;
    std::vector<uint16_t> ports;
    std::vector<Cidr> hosts;
    bool empty() const { return protos.empty() && ports.empty() && hosts.empty(); }
    bool pass(const xdpflow_key &k) const;
};
// "tcp", "udp", "icmp", "icmp6", "sctp" or a number 0-255.
std::optional<uint8_t> parse_proto(const std::string &s);
std::string proto_name(uint8_t proto, uint16_t ethertype);

struct Totals {
    uint64_t packets[2] = {0, 0};  // per direction, flows and overflow together
    uint64_t bytes[2] = {0, 0};
    uint64_t flows_seen = 0;
    uint64_t flows_expired = 0;
    uint64_t overflow_packets[2] = {0, 0};  // could not enter the table (full)
    uint64_t overflow_bytes[2] = {0, 0};
    uint64_t truncated = 0;
    uint64_t seen = 0;            // packets the programs saw (before sampling)
    uint64_t sampled = 0;         // packets counted
    uint64_t lost_on_expiry = 0;  // flows whose final read failed (see man page)
    uint64_t capture_drops = 0;   // AF_PACKET mode: frames the ring had no room for
};

class FlowTable {
  public:
    // One scan of the kernel's table: a flow's current counters.
    void observe(const xdpflow_key &k, const Counters &c);
    // The flow was deleted from the kernel with these last counters.
    void expire(const xdpflow_key &k, const Counters &last);
    // The kernel's overflow and loss counters (cumulative).
    void set_kernel_stats(const uint64_t stats[2 * XDPFLOW_STAT_MAX]);

    // Records of the flows that moved since the last call (and of the
    // expired ones); advances the shown counters, forgets expired flows
    // already exported (or when no exporter runs). final: every flow.
    std::vector<Record> interval(uint64_t now_ns);
    // Records due for export: expired flows, flows whose unexported part is
    // older than active_ns, or all with final. Advances the exported counters.
    std::vector<Record> export_due(uint64_t now_ns, uint64_t active_ns, bool final);
    // Drops expired flows both sides are done with.
    void collect(bool exporting);

    // Flows idle for idle_ns by the kernel's last-seen time.
    std::vector<xdpflow_key> idle(uint64_t now_ns, uint64_t idle_ns) const;

    Totals totals() const;
    size_t size() const { return flows_.size(); }

  private:
    std::unordered_map<std::string, Flow> flows_;
    Totals gone_;  // counters of flows already forgotten
    uint64_t seen_ = 0, expired_ = 0;
    uint64_t kstats_[2 * XDPFLOW_STAT_MAX] = {};
};

// Output.
struct OutputContext {
    std::string mode;
    int64_t wall_offset_ns = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC
    uint32_t sample_n = 1;
    std::function<std::string(uint32_t ifindex)> ifname;
};
std::string key_addr(const xdpflow_key &k, bool dst);
std::string tcp_flags_text(uint8_t flags);  // "FSRPAUEC" letters, '.' for unset
std::string json_record(const Record &r, const OutputContext &ctx, uint64_t now_ns);
std::string text_record(const Record &r, const OutputContext &ctx);
std::string text_header();
std::string json_summary(const Totals &t, const OutputContext &ctx, uint64_t now_ns);
std::string text_summary(const Totals &t);
std::string wall_time(const OutputContext &ctx, uint64_t mono_ns);

}  // namespace bpfkit::xdpflow
