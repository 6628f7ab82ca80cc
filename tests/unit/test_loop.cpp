// SPDX-License-Identifier: GPL-2.0-only
#include <gtest/gtest.h>

#include <cerrno>

#include "loop.h"

using namespace bpfkit;

TEST(Loop, CountStopsAfterThatManyTicksAndTheLastIsFinal) {
    std::vector<bool> finals;
    int polls = 0;
    int rc = run_loop(
        LoopOptions{0.01, 3, 0},
        [&](int ms) {
            EXPECT_GE(ms, 1);
            EXPECT_LE(ms, 1000);
            polls++;
            return 0;
        },
        [&](bool final) {
            finals.push_back(final);
            return 0;
        });
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(finals, (std::vector<bool>{false, false, true}));
    EXPECT_GT(polls, 0);
}

TEST(Loop, DurationEndsWithOneFinalTick) {
    std::vector<bool> finals;
    int rc = run_loop(LoopOptions{10.0, 0, 0.05}, nullptr, [&](bool final) {
        finals.push_back(final);
        return 0;
    });
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(finals, std::vector<bool>{true});
}

TEST(Loop, CallbackErrorStopsTheLoop) {
    int ticks = 0;
    int rc =
        run_loop(LoopOptions{0.005, 0, 0}, nullptr, [&](bool) { return ++ticks == 2 ? 7 : 0; });
    EXPECT_EQ(rc, 7);
    EXPECT_EQ(ticks, 2);
    int rc2 = run_loop(
        LoopOptions{1.0, 0, 0}, [](int) { return -EIO; }, [](bool) { return 0; });
    EXPECT_EQ(rc2, -EIO);
}

TEST(Loop, RequestStopEndsAtOnceWithAFinalTick) {
    std::vector<bool> finals;
    int rc = run_loop(
        LoopOptions{10.0, 0, 0},
        [&](int) {
            request_stop();
            return -EINTR;
        },
        [&](bool final) {
            finals.push_back(final);
            return 0;
        });
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(finals, std::vector<bool>{true});
    EXPECT_TRUE(stop_requested());
    clear_stop();
}
