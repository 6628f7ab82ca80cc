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
//   bpfkit-hookfloor print the same, but each event is read (its first line
//                          found) and every second one gives a 400-byte line
//                          on stdout, as a tool that prints a record per
//                          exchange at least does (4 events per request)
// The links belong to the process: if it is killed, the programs go with it.
// Prints "attached N" on stdout once every program is attached.
#include <charconv>
#include <csignal>
#include <cstdint>
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

// The print set's reader: what it will write.
struct Printer {
    std::string out;
    uint64_t events = 0, seen = 0;
};

int print_event(void *ctx, void *data, size_t size) {
    auto *p = static_cast<Printer *>(ctx);
    const void *nl = std::memchr(data, '\n', size);
    p->seen +=
        nl ? static_cast<size_t>(static_cast<const char *>(nl) - static_cast<char *>(data)) : size;
    if (++p->events % 2) return 0;
    // About a record's length and shape, made the cheapest way: the
    // constant parts copied, the numbers written in.
    static constexpr std::string_view a =
        "{\"schema\":\"floor/1\",\"time\":\"2026-01-01T00:00:00.000000Z\","
        "\"event\":\"exchange\",\"pid\":";
    static constexpr std::string_view b =
        ",\"comm\":\"floor\",\"container\":\"\",\"role\":\"server\",\"fd\":10,"
        "\"local\":\"127.0.0.1:48990\",\"remote\":\"127.0.0.1:40000\",\"tls\":false,"
        "\"proto\":\"http/1.1\",\"method\":\"GET\",\"path\":\"/\",\"host\":"
        "\"127.0.0.1:48990\",\"status\":200,\"latency_us\":";
    static constexpr std::string_view c =
        ",\"truncated\":false,\"pad\":\"..................................\"}\n";
    char num[24];
    auto number = [&](uint64_t v) {
        p->out.append(num, static_cast<size_t>(std::to_chars(num, num + sizeof(num), v).ptr - num));
    };
    p->out.append(a);
    number(p->events);
    p->out.append(b);
    number(p->seen % 1000);
    p->out.append(",\"request_bytes\":");
    number(size);
    p->out.append(",\"response_bytes\":");
    number(p->seen);
    p->out.append(c);
    return 0;
}
}  // namespace

int main(int argc, char **argv) {
    const std::string_view set = argc == 2 ? argv[1] : "";
    if (set != "sock" && set != "raw" && set != "tp" && set != "copy" && set != "print") {
        std::fprintf(stderr, "usage: bpfkit-hookfloor sock|raw|tp|copy|print\n");
        return 2;
    }
    const bool print = set == "print";
    // (print runs the copy programs)
    const std::string prefix = std::string("hookfloor_") + (print ? "copy" : argv[1]) + "_";
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
    Printer printer;
    if (set == "copy") {
        ring = ring_buffer__new(
            bpf_map__fd(skel->maps.floor_ring), [](void *, void *, size_t) { return 0; }, nullptr,
            nullptr);
    } else if (print) {
        ring = ring_buffer__new(bpf_map__fd(skel->maps.floor_ring), print_event, &printer, nullptr);
    }
    if (set == "copy" || print) {
        if (!ring) std::fprintf(stderr, "hookfloor: ring: %s\n", std::strerror(errno));
    }
    while (!stop) {
        if (!ring) {
            pause();
            continue;
        }
        ring_buffer__consume(ring);
        if (!printer.out.empty()) {
            if (std::fwrite(printer.out.data(), 1, printer.out.size(), stdout) !=
                printer.out.size())
                stop = 1;
            std::fflush(stdout);
            printer.out.clear();
        }
        usleep(10000);
    }
    ring_buffer__free(ring);
    for (bpf_link *l : links)
        bpf_link__destroy(l);
    hookfloor_bpf__destroy(skel);
    return 0;
}
