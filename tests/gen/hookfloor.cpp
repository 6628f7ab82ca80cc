// bpfkit-hookfloor: attaches empty BPF programs to the hooks httpsnoop uses
// and waits for SIGINT or SIGTERM, for bench/httpsnoop.sh's floor rows.
//   bpfkit-hookfloor sock  raw_tp sock_send_length and sock_recv_length
//   bpfkit-hookfloor raw   raw_tp sys_enter and sys_exit
//   bpfkit-hookfloor tp    the syscalls:sys_{enter,exit}_* tracepoints of the
//                          calls httpsnoop follows (needs tracefs mounted)
//   bpfkit-hookfloor copy  tp_btf sock_send_length and sock_recv_length that
//                          copy each TCP call's first 512 bytes into a ring
//                          buffer, emptied every 10 ms unread: the least any
//                          capture at those hooks does (Linux 6.3 and later)
// The links belong to the process: if it is killed, the programs go with it.
// Prints "attached N" on stdout once every program is attached.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "hookfloor.skel.h"

namespace {
volatile std::sig_atomic_t stop = 0;
void on_signal(int) {
    stop = 1;
}
}  // namespace

int main(int argc, char **argv) {
    const std::string_view set = argc == 2 ? argv[1] : "";
    if (set != "sock" && set != "raw" && set != "tp" && set != "copy") {
        std::fprintf(stderr, "usage: bpfkit-hookfloor sock|raw|tp|copy\n");
        return 2;
    }
    const std::string prefix = std::string("hookfloor_") + argv[1] + "_";
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    hookfloor_bpf *skel = hookfloor_bpf__open();
    if (!skel) {
        std::fprintf(stderr, "hookfloor: open: %s\n", std::strerror(errno));
        return 1;
    }
    bpf_program *prog;
    bpf_object__for_each_program(prog, skel->obj) {
        if (std::string_view(bpf_program__name(prog)).rfind(prefix, 0) != 0)
            bpf_program__set_autoload(prog, false);
    }
    if (int err = hookfloor_bpf__load(skel)) {
        std::fprintf(stderr, "hookfloor: load: %s\n", std::strerror(-err));
        hookfloor_bpf__destroy(skel);
        return 1;
    }
    std::vector<bpf_link *> links;
    bpf_object__for_each_program(prog, skel->obj) {
        if (!bpf_program__autoload(prog)) continue;
        bpf_link *link = bpf_program__attach(prog);
        if (!link) {
            std::fprintf(stderr, "hookfloor: attach %s: %s\n", bpf_program__name(prog),
                         std::strerror(errno));
            for (bpf_link *l : links)
                bpf_link__destroy(l);
            hookfloor_bpf__destroy(skel);
            return 1;
        }
        links.push_back(link);
    }
    std::printf("attached %zu\n", links.size());
    std::fflush(stdout);
    ring_buffer *ring = nullptr;
    if (set == "copy") {
        ring = ring_buffer__new(
            bpf_map__fd(skel->maps.floor_ring), [](void *, void *, size_t) { return 0; }, nullptr,
            nullptr);
        if (!ring) std::fprintf(stderr, "hookfloor: ring: %s\n", std::strerror(errno));
    }
    while (!stop) {
        if (!ring) {
            pause();
            continue;
        }
        ring_buffer__consume(ring);
        usleep(10000);
    }
    ring_buffer__free(ring);
    for (bpf_link *l : links)
        bpf_link__destroy(l);
    hookfloor_bpf__destroy(skel);
    return 0;
}
