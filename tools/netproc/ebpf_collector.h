// SPDX-License-Identifier: GPL-2.0-only
// Reads netproc's per-CPU maps, sums the CPUs and diffs against the last
// read. A process that exited is reported once more with its bytes, then
// its entries are deleted so the maps do not fill with the dead.
#pragma once

#include <map>
#include <vector>

#include "netproc.h"
#include "netproc_model.h"

struct netproc_bpf;

namespace bpfkit::netproc {

class EbpfCollector {
  public:
    explicit EbpfCollector(netproc_bpf *skel);
    Snapshot read(double interval_s);
    // How full the flow map is (0..1), for the summary.
    double fill() const { return fill_; }

  private:
    struct KeyLess {
        bool operator()(const netproc_key &a, const netproc_key &b) const;
    };

    netproc_bpf *skel_;
    int ncpus_;
    std::map<netproc_key, Counters, KeyLess> last_;
    double fill_ = 0;
};

// Whether a process is still alive (kill(pid, 0) succeeds or says EPERM).
bool process_alive(uint32_t tgid);

}  // namespace bpfkit::netproc
