// SPDX-License-Identifier: GPL-2.0-only
// httpsnoop's records as text lines or JSON lines.
#pragma once

#include <cstdint>
#include <string>

#include "httpsnoop_tracker.h"

namespace bpfkit::httpsnoop {

struct OutputContext {
    std::string mode;
    int64_t wall_offset_ns = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC
    bool no_query = false;       // --no-query
    bool body = false;           // --body: show the first bytes of bodies
};

// Counts of what was lost or cut, for the record at the end (and "lost"
// records as they happen).
struct RunStats {
    uint64_t events = 0;
    uint64_t ring_drops = 0;
    uint64_t truncated = 0;  // reads/writes longer than the capture
    uint64_t args_full = 0;
    uint64_t conns_full = 0;
    uint64_t not_http = 0;
    uint64_t tls_calls = 0;
    uint64_t tls_nofd = 0;
    uint64_t read_faults = 0;
    uint64_t bad_events = 0;
    uint64_t tls_libraries = 0;
    uint64_t tls_attach_failed = 0;
    TrackerStats tracker;
};

// The path as shown: the query string cut with --no-query.
std::string shown_path(const std::string &path, bool no_query);
std::string address(const ConnInfo &c, bool local);
// The same, appended to out.
void address_append(std::string &out, const ConnInfo &c, bool local);

std::string text_header(const OutputContext &ctx);
std::string text_record(const Record &r, const OutputContext &ctx, const std::string &container);
std::string json_record(const Record &r, const OutputContext &ctx, const std::string &container);
// The same, appended to out (no newline).
void json_record_append(std::string &out, const Record &r, const OutputContext &ctx,
                        const std::string &container);
std::string text_lost(uint64_t drops, uint64_t total);
std::string json_lost(uint64_t drops, uint64_t total, const OutputContext &ctx, uint64_t now_ns);
std::string text_stats(const RunStats &s);
std::string json_stats(const RunStats &s, const OutputContext &ctx, uint64_t now_ns);

}  // namespace bpfkit::httpsnoop
