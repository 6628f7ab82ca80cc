// SPDX-License-Identifier: GPL-2.0-only
// The event sink with a real program in the real kernel, over a ring
// buffer and over the perf buffer fallback: every fork of this process is
// one event, none lost, none invented.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "events.h"
#include "ladder.h"
#include "log.h"
#include "selftest.skel.h"

using namespace bpfkit;

namespace {

struct selftest_event {
    uint32_t parent;
    uint32_t child;
    uint64_t pad;
};

void run(bool force_perfbuf) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
    if (force_perfbuf)
        setenv("BPFKIT_EVENTS", "perfbuf", 1);
    else
        unsetenv("BPFKIT_EVENTS");
    Skeleton<selftest_bpf> skel;
    ASSERT_EQ(skel.open(), 0);
    skel->rodata->parent_tgid = static_cast<uint32_t>(getpid());
    EventTransport t = prepare_events_map(skel->maps.events, &skel->rodata->bpfkit_use_ringbuf);
    EXPECT_EQ(t, force_perfbuf ? EventTransport::Perfbuf : EventTransport::Ringbuf);
    ASSERT_EQ(skel.load(), 0);
    bpf_link *link = bpf_program__attach(skel->progs.selftest_fork);
    ASSERT_NE(link, nullptr);

    std::set<uint32_t> seen;
    size_t events = 0;
    EventSink sink;
    ASSERT_EQ(sink.open(skel->maps.events, t,
                        [&](const void *data, size_t size) {
                            ASSERT_GE(size, sizeof(selftest_event));
                            auto *e = static_cast<const selftest_event *>(data);
                            EXPECT_EQ(e->parent, static_cast<uint32_t>(getpid()));
                            seen.insert(e->child);
                            events++;
                        }),
              0);

    constexpr int kChildren = 25;
    std::set<uint32_t> children;
    for (int i = 0; i < kChildren; i++) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) _exit(0);
        children.insert(static_cast<uint32_t>(pid));
        waitpid(pid, nullptr, 0);
    }
    for (int i = 0; i < 50 && events < kChildren; i++)
        sink.poll(100);
    bpf_link__destroy(link);

    EXPECT_EQ(events, static_cast<size_t>(kChildren));
    EXPECT_EQ(seen, children);
    EXPECT_EQ(sink.lost(), 0u);
    EXPECT_EQ(skel->bss->dropped, 0u);
    EXPECT_EQ(skel->bss->seq, static_cast<uint64_t>(kChildren));
    unsetenv("BPFKIT_EVENTS");
}

}  // namespace

TEST(EventSink, RingBufferDeliversEveryEvent) {
    run(false);
}
TEST(EventSink, PerfBufferFallbackDeliversEveryEvent) {
    run(true);
}
