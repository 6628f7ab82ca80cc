// SPDX-License-Identifier: GPL-2.0-only
// bpfkit-burn: a CPU load with known hot functions, for stackprof's tests.
// main -> sp_outer -> sp_middle -> burn_a (70% of the work) and burn_b (30%),
// each burning in its own loop (so the time is their self time). Built twice:
// with frame pointers (bpfkit-burn-fp) and without (bpfkit-burn-nofp).
// At exit it prints the ground truth it measured, the thread CPU time spent
// in each, as one JSON line:
//   {"pid":123,"burn_a_ns":...,"burn_b_ns":...,"total_ns":...}
//
//   bpfkit-burn [--seconds S] [--syscalls|--spread|--jit] [--ready-file F] [--go-file F]
// --go-file: after writing the ready file (its pid), wait for F to exist
// before burning, so that a profiler started meanwhile sees the whole run.
// --syscalls reads /dev/zero in 1 MiB chunks instead (time in the kernel);
// --spread burns in burn_a..burn_e, 35/25/20/12/8, and counts its rounds
// ("rounds": the work done, for measuring a profiler's cost to the load) and
// the thread CPU time each of the five took ("spread_ns", a to e);
// --jit runs code it generated, named in /tmp/perf-PID.map (see sp_jit).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

constexpr long kUnit = 200000;  // iterations per tenth of a round

uint64_t thread_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t a_ns, b_ns, tenths;  // tenths: the work done, in tenths of a standard round
uint64_t spread_ns[5];

// Each round does 0.5 to 1.5 times the standard work, at random: a round of a
// fixed length (about 2 ms here) is a whole number of 999 Hz sampling periods,
// and the samples would then fall on the same few points of it, biasing the
// shares by several points. The proportions within a round stay exact.
long next_scale() {
    static uint64_t x = 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    long m = 5 + static_cast<long>(x % 11);
    tenths += static_cast<uint64_t>(m);
    return m;
}
volatile uint64_t sink;

// Called by the burners so that they are not leaf functions: a leaf may run
// without a frame of its own even with -fno-omit-frame-pointer, and its caller
// would then be missing from a frame-pointer stack.
__attribute__((noinline)) void publish(uint64_t x) {
    sink = x;
    asm volatile("" ::: "memory");
}

}  // namespace

// Inlined into each burner, so the time is the burner's own.
__attribute__((always_inline)) inline uint64_t spin(long n) {
    uint64_t x = sink;
    for (long i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        asm volatile("" : "+r"(x));
    }
    return x;
}

extern "C" {

__attribute__((noinline)) void burn_a(long n) {
    publish(spin(n));
}

__attribute__((noinline)) void burn_b(long n) {
    publish(spin(n));
}

__attribute__((noinline)) void burn_c(long n) {
    publish(spin(n));
}
__attribute__((noinline)) void burn_d(long n) {
    publish(spin(n));
}
__attribute__((noinline)) void burn_e(long n) {
    publish(spin(n));
}

// --spread: five hot functions, 35/25/20/12/8, for comparing rankings with perf.
__attribute__((noinline)) void sp_spread(uint64_t until) {
    while (mono_ns() < until) {
        long u = kUnit * next_scale() / 100;
        uint64_t t[6];
        t[0] = thread_ns();
        burn_a(35 * u);
        t[1] = thread_ns();
        burn_b(25 * u);
        t[2] = thread_ns();
        burn_c(20 * u);
        t[3] = thread_ns();
        burn_d(12 * u);
        t[4] = thread_ns();
        burn_e(8 * u);
        t[5] = thread_ns();
        for (int i = 0; i < 5; i++)
            spread_ns[i] += t[i + 1] - t[i];
    }
    asm volatile("" ::: "memory");
}

__attribute__((noinline)) void sp_middle(long u) {
    uint64_t t0 = thread_ns();
    burn_a(70 * u);
    uint64_t t1 = thread_ns();
    burn_b(30 * u);
    uint64_t t2 = thread_ns();
    a_ns += t1 - t0;
    b_ns += t2 - t1;
    asm volatile("" ::: "memory");
}

__attribute__((noinline)) void sp_outer(uint64_t until) {
    while (mono_ns() < until)
        sp_middle(kUnit * next_scale() / 100);
    asm volatile("" ::: "memory");
}

__attribute__((noinline)) void sp_syscalls(uint64_t until) {
    static char buf[1 << 20];
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror("/dev/zero");
        exit(1);
    }
    while (mono_ns() < until) {
        if (read(fd, buf, sizeof(buf)) < 0) {
            perror("read");
            exit(1);
        }
    }
    close(fd);
    asm volatile("" ::: "memory");
}

// --jit: burns in machine code it writes into an anonymous executable page,
// named "jit_burn" in /tmp/perf-PID.map as a JIT compiler does (the map is
// removed at exit).
__attribute__((noinline)) void sp_jit(uint64_t until) {
    // mov rcx, 200000; 1: dec rcx; jnz 1b; ret
    static const unsigned char code[] = {0x48, 0xb9, 0x40, 0x0d, 0x03, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 0x48, 0xff, 0xc9, 0x75, 0xfb, 0xc3};
    void *page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    memcpy(page, code, sizeof(code));
    if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0) {
        perror("mprotect");
        exit(1);
    }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fprintf(f, "%llx %zx jit_burn\n",
            static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(page)), sizeof(code));
    fclose(f);
    auto fn = reinterpret_cast<void (*)()>(page);
    while (mono_ns() < until)
        fn();
    unlink(path);
    asm volatile("" ::: "memory");
}

}  // extern "C"

int main(int argc, char **argv) {
    double seconds = 5;
    bool syscalls = false, spread = false, jit = false;
    const char *ready = nullptr;
    const char *go = nullptr;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
            if (!(seconds > 0 && seconds <= 600)) {
                fprintf(stderr, "bpfkit-burn: --seconds: 0 < S <= 600\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--syscalls")) {
            syscalls = true;
        } else if (!strcmp(argv[i], "--spread")) {
            spread = true;
        } else if (!strcmp(argv[i], "--jit")) {
            jit = true;
        } else if (!strcmp(argv[i], "--ready-file") && i + 1 < argc) {
            ready = argv[++i];
        } else if (!strcmp(argv[i], "--go-file") && i + 1 < argc) {
            go = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: bpfkit-burn [--seconds S] [--syscalls|--spread|--jit] [--ready-file F] "
                    "[--go-file F]\n");
            return 2;
        }
    }
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (!f) return 1;
        fprintf(f, "%d\n", getpid());
        fclose(f);
    }
    // A profiler started after the ready file: the burn (and its own
    // measurement) begins once it says so, and ends before it stops.
    if (go) {
        uint64_t give_up = mono_ns() + 60000000000ull;
        while (access(go, F_OK) != 0) {
            if (mono_ns() > give_up) {
                fprintf(stderr, "bpfkit-burn: %s did not appear within 60 s\n", go);
                return 1;
            }
            usleep(1000);
        }
    }
    uint64_t start = thread_ns();
    uint64_t until = mono_ns() + static_cast<uint64_t>(seconds * 1e9);
    if (syscalls)
        sp_syscalls(until);
    else if (spread)
        sp_spread(until);
    else if (jit)
        sp_jit(until);
    else
        sp_outer(until);
    printf("{\"pid\":%d,\"burn_a_ns\":%llu,\"burn_b_ns\":%llu,\"total_ns\":%llu,\"rounds\":%llu",
           getpid(), static_cast<unsigned long long>(a_ns), static_cast<unsigned long long>(b_ns),
           static_cast<unsigned long long>(thread_ns() - start),
           static_cast<unsigned long long>(tenths / 10));
    if (spread)
        printf(",\"spread_ns\":[%llu,%llu,%llu,%llu,%llu]",
               static_cast<unsigned long long>(spread_ns[0]),
               static_cast<unsigned long long>(spread_ns[1]),
               static_cast<unsigned long long>(spread_ns[2]),
               static_cast<unsigned long long>(spread_ns[3]),
               static_cast<unsigned long long>(spread_ns[4]));
    printf("}\n");
    return 0;
}
