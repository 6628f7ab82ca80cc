// SPDX-License-Identifier: GPL-2.0-only
// dnssnoop's records as JSON lines (schema dnssnoop/1) and as text lines,
// and the summary kept over a run. Strings from the wire and the kernel are
// escaped byte-exactly (json_escape, text_escape, DNS presentation form).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dns.h"  // common/
#include "dnssnoop_tracker.h"

namespace bpfkit::dnssnoop {

struct OutputContext {
    std::string mode;
    int64_t wall_offset_ns = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC
};

// The record data as dnssnoop shows it: RFC 1035 presentation form without
// trailing dots (the address for A/AAAA, the target for CNAME/PTR/NS, "pref
// name" for MX, the quoted strings for TXT, "prio weight port target" for
// SRV, SOA's seven fields, "prio target key=value..." for SVCB/HTTPS), and
// RFC 3597's "\# LEN HEX" for other types.
std::string answer_data(const dns::Record &r);

// "udp", "tcp".
std::string proto_name(uint8_t proto);

// ISO-8601 UTC with microseconds, of a CLOCK_MONOTONIC time.
std::string wall_time(const OutputContext &ctx, uint64_t mono_ns);

std::string json_event(const Event &e, const OutputContext &ctx);

// "# dnssnoop 0.1.0, mode cgroup" and the line of column names.
std::string text_header(const OutputContext &ctx);
// TIME PID COMM SERVER PROTO QTYPE QNAME RCODE LATENCY ANSWERS.
std::string text_event(const Event &e, const OutputContext &ctx);

// What a run saw; printed at exit (JSON "stats", or a trailing "#" line).
struct RunStats {
    uint64_t transactions = 0;  // answer records printed
    uint64_t timeouts = 0;      // timeout records printed
    uint64_t unmatched = 0;     // unmatched records printed
    uint64_t malformed = 0;     // malformed messages (all, shown or not)
    uint64_t ring_drops = 0;    // packets the kernel could not hand over
    uint64_t truncated = 0;     // packets cut by the snap length
    uint64_t retransmits = 0;   // in the transactions and timeouts printed
    uint64_t no_owner = 0;      // packets whose socket had no process noted in the kernel
    uint64_t pending_evicted = 0;
    uint64_t tcp_gaps = 0;
};
std::string json_stats(const RunStats &s, const OutputContext &ctx, uint64_t now_mono_ns);
std::string text_stats(const RunStats &s);

// Top names, top processes, rcodes and latency percentiles of the
// transactions (answers) and timeouts it is given.
class Summary {
  public:
    void add(const Event &e);
    uint64_t transactions() const { return transactions_; }
    // Nearest-rank percentile of the answered latencies (us); -1 if none.
    int64_t percentile_us(double p) const;
    std::string json(const OutputContext &ctx, uint64_t now_mono_ns) const;
    std::string text() const;

    static constexpr size_t kTop = 10;
    static constexpr size_t kMaxSamples = 1'000'000;
    // Distinct names and processes counted at most; later ones go uncounted
    // in the top lists (the totals still count them).
    static constexpr size_t kMaxKeys = 100'000;

  private:
    struct Proc {
        uint32_t pid;
        std::string comm;
        bool operator<(const Proc &o) const { return pid != o.pid ? pid < o.pid : comm < o.comm; }
    };
    uint64_t transactions_ = 0, timeouts_ = 0;
    std::map<std::string, uint64_t> rcodes_;
    std::map<std::string, uint64_t> names_;
    std::map<Proc, uint64_t> procs_;
    std::vector<uint64_t> latencies_us_;
    uint64_t seen_latencies_ = 0;
    uint64_t rng_ = 0x9e3779b97f4a7c15ull;  // reservoir sampling beyond kMaxSamples
};

}  // namespace bpfkit::dnssnoop
