// SPDX-License-Identifier: GPL-2.0-only
// xdpflow-testrun: ns per packet of xdpflow's XDP program and of an XDP
// program that only passes, with BPF_PROG_TEST_RUN, in one run. For
// bench/xdpflow.sh; not installed.
//
//   xdpflow-testrun [REPEAT] [NEWFLOWS]
// prints lines "case program ns_per_packet".
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "xdpflow.skel.h"

namespace {

// A 64-byte Ethernet frame carrying a TCP ACK (IPv4 or IPv6; the IPv6 one is 86 bytes).
std::vector<uint8_t> frame(bool v6, uint16_t sport) {
    std::vector<uint8_t> f(v6 ? 86 : 64, 0);
    uint8_t *p = f.data();
    memset(p, 0x02, 12);
    p[12] = v6 ? 0x86 : 0x08;
    p[13] = v6 ? 0xdd : 0x00;
    uint8_t *l4;
    if (v6) {
        uint8_t *ip = p + 14;
        ip[0] = 0x60;
        ip[5] = 20;  // payload length
        ip[6] = 6;   // TCP
        ip[7] = 64;
        ip[8] = 0xfd;
        ip[23] = 1;
        ip[24] = 0xfd;
        ip[39] = 2;
        l4 = ip + 40;
    } else {
        uint8_t *ip = p + 14;
        ip[0] = 0x45;
        ip[3] = 46;  // total length 20 + 20 + 6 padding
        ip[8] = 64;
        ip[9] = 6;
        ip[12] = 10, ip[15] = 1;
        ip[16] = 10, ip[19] = 2;
        l4 = ip + 20;
    }
    l4[0] = static_cast<uint8_t>(sport >> 8);
    l4[1] = static_cast<uint8_t>(sport);
    l4[2] = 0x1f;
    l4[3] = 0x90;
    l4[12] = 0x50;
    l4[13] = 0x10;  // ACK
    return f;
}

// Average ns per run of the program on the frame.
double run(int prog_fd, std::vector<uint8_t> &f, int repeat) {
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.data(),
                .data_size_in = static_cast<uint32_t>(f.size()), .repeat = repeat);
    if (bpf_prog_test_run_opts(prog_fd, &o) != 0) {
        perror("BPF_PROG_TEST_RUN");
        exit(1);
    }
    if (o.retval != 2) {
        fprintf(stderr, "unexpected XDP verdict %u\n", o.retval);
        exit(1);
    }
    return o.duration;
}

}  // namespace

int main(int argc, char **argv) {
    int repeat = argc > 1 ? atoi(argv[1]) : 10'000'000;
    int newflows = argc > 2 ? atoi(argv[2]) : 20000;
    xdpflow_bpf *skel = xdpflow_bpf::open(nullptr);
    if (!skel) {
        perror("open");
        return 1;
    }
    bpf_program__set_autoload(skel->progs.xdpflow_tc_egress, false);
    bpf_program__set_autoload(skel->progs.xdpflow_tc_ingress, false);
    bpf_map__set_max_entries(skel->maps.flows, static_cast<uint32_t>(newflows) * 2 + 16);
    if (int err = xdpflow_bpf::load(skel)) {
        fprintf(stderr, "load: %s\n", strerror(-err));
        return 1;
    }
    const int flow = bpf_program__fd(skel->progs.xdpflow_xdp);
    const int pass = bpf_program__fd(skel->progs.xdpflow_pass);
    for (bool v6 : {false, true}) {
        const char *fam = v6 ? "ipv6" : "ipv4";
        auto f = frame(v6, 40000);
        run(flow, f, 1);  // the flow exists from here on
        printf("existing-%s pass %.1f\n", fam, run(pass, f, repeat));
        printf("existing-%s xdpflow %.1f\n", fam, run(flow, f, repeat));
        // New flows: one run per flow (a timed run of one packet includes
        // the test harness's own clock reads, so pass-only is timed alike).
        double sum_pass = 0, sum_flow = 0;
        for (int i = 0; i < newflows; i++) {
            auto g = frame(v6, static_cast<uint16_t>(1000 + i));
            g[v6 ? 14 + 8 + 15 : 14 + 12 + 2] = static_cast<uint8_t>(i >> 16);  // vary source
            sum_pass += run(pass, g, 1);
            sum_flow += run(flow, g, 1);
        }
        printf("new-%s pass %.1f\n", fam, sum_pass / newflows);
        printf("new-%s xdpflow %.1f\n", fam, sum_flow / newflows);
    }
    xdpflow_bpf::destroy(skel);
    return 0;
}
