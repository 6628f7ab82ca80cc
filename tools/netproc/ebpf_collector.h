// SPDX-License-Identifier: GPL-2.0-only
// Reads netproc's per-CPU maps, sums the CPUs and diffs against the last
// read. A process that exited is reported once more with its bytes, then
// its entries are deleted so the maps do not fill with the dead.
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "netproc.h"
#include "netproc_model.h"

struct netproc_bpf;
struct bpf_link;

namespace bpfkit::netproc {

class EbpfCollector {
  public:
    explicit EbpfCollector(netproc_bpf *skel);
    ~EbpfCollector();
    EbpfCollector(const EbpfCollector &) = delete;
    EbpfCollector &operator=(const EbpfCollector &) = delete;
    // The counters since the last read. A map that cannot be read (EPERM when
    // the kernel wants CAP_BPF for every bpf() call) sets error() instead of
    // passing for an empty one.
    Snapshot read(double interval_s);
    int error() const { return error_; }
    // Whether the maps can be read now (after capabilities were dropped).
    int probe_read() const;
    // How full the flow map is (0..1), for the summary.
    double fill() const { return fill_; }

  private:
    // One entry of a counter map: its key's bytes, the tuple it counts and
    // the totals summed over CPUs.
    struct Entry {
        std::string raw;
        netproc_key tuple{};
        Counters total;
    };
    bool per_socket() const;
    bool read_entries(std::vector<Entry> &out);
    bool read_storage(std::vector<Entry> &out, std::vector<uint64_t> &released);
    const netproc_key *socket_tuple(uint64_t cookie);
    // Returns how many entries stay in the kernel's maps.
    size_t forget_sockets(const std::vector<Entry> &entries, const std::set<uint32_t> &dead,
                          const std::vector<uint64_t> &released);

    netproc_bpf *skel_;
    int ncpus_;
    std::map<std::string, Counters> last_;  // by map key bytes
    // Tracepoint rung: the tuple of each socket cookie, read once; and the
    // sockets the kernel saw close, forgotten one read after they closed.
    std::unordered_map<uint64_t, netproc_key> tuples_;
    std::set<uint64_t> closed_;
    bpf_link *iter_ = nullptr;  // the socket storage iterator (tracepoint rung)
    double fill_ = 0;
    int error_ = 0;
};

// Whether a process is still alive (kill(pid, 0) succeeds or says EPERM).
bool process_alive(uint32_t tgid);

}  // namespace bpfkit::netproc
