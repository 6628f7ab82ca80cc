// SPDX-License-Identifier: GPL-2.0-only
// For tests that capture with AF_PACKET: skip, saying why, where it cannot.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace bpfkit::testcapture {

// Empty if AF_PACKET sockets can be opened, else why not.
inline std::string capture_unavailable() {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        close(fd);
        return {};
    }
    return std::string("needs root or CAP_NET_RAW to open AF_PACKET sockets (socket: ") +
           std::strerror(errno) + ")";
}

}  // namespace bpfkit::testcapture

#define SKIP_WITHOUT_CAPTURE()                                         \
    do {                                                               \
        std::string why_ = bpfkit::testcapture::capture_unavailable(); \
        if (!why_.empty()) GTEST_SKIP() << why_;                       \
    } while (0)
