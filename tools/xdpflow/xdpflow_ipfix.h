// SPDX-License-Identifier: GPL-2.0-only
// IPFIX (RFC 7011) export over UDP: templates for IPv4 and IPv6 flows and a
// sampling options template, re-sent on a timer; data records with delta
// counts.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xdpflow_flows.h"

namespace bpfkit::xdpflow {

inline constexpr uint16_t kIpfixTemplateV4 = 256;
inline constexpr uint16_t kIpfixTemplateV6 = 257;
inline constexpr uint16_t kIpfixTemplateSampling = 258;
inline constexpr size_t kIpfixMaxMessage = 1400;  // fits a 1500-byte MTU

// "192.0.2.1:4739" or "[2001:db8::1]:4739" (numeric only).
std::optional<sockaddr_storage> parse_host_port(const std::string &s);

// Builds IPFIX messages (pure; unit-tested).
class IpfixEncoder {
  public:
    IpfixEncoder(uint32_t domain_id, uint32_t sample_n, int64_t wall_offset_ns)
        : domain_(domain_id), sample_n_(sample_n), wall_offset_ns_(wall_offset_ns) {}
    // The template message (templates and the sampling options record).
    std::string templates(uint32_t export_time_s);
    // Data messages for the records (IP flows only; others are counted in skipped()).
    std::vector<std::string> data(const std::vector<Record> &recs, uint32_t export_time_s);
    uint64_t skipped() const { return skipped_; }
    uint32_t sequence() const { return seq_; }

  private:
    std::string header(uint16_t length, uint32_t export_time_s) const;
    uint32_t domain_, sample_n_;
    int64_t wall_offset_ns_;
    uint32_t seq_ = 0;  // data records sent before the next message
    uint64_t skipped_ = 0;
};

class IpfixExporter {
  public:
    ~IpfixExporter();
    int open(const std::string &host_port, const OutputContext &ctx, std::string *err);
    // Sends the records; the templates first when template_ns passed since
    // they were last sent.
    void send(const std::vector<Record> &recs, uint64_t now_ns, uint64_t template_ns, bool final);
    uint64_t errors() const { return errors_; }
    const std::string &last_error() const { return last_error_; }

  private:
    void put(const std::string &msg);
    int fd_ = -1;
    std::optional<IpfixEncoder> enc_;
    int64_t wall_offset_ns_ = 0;
    uint64_t templates_ns_ = 0;
    uint64_t errors_ = 0;
    std::string last_error_;
};

}  // namespace bpfkit::xdpflow
