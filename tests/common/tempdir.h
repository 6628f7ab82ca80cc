// SPDX-License-Identifier: GPL-2.0-only
// A temporary directory for a test, removed with everything in it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace bpfkit::testfs {

class TempDir {
  public:
    explicit TempDir(const std::string &prefix) {
        std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
        const char *d = mkdtemp(tmpl.data());
        EXPECT_NE(d, nullptr);
        path_ = d != nullptr ? d : "/nonexistent";
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::string &path() const { return path_; }

  private:
    std::string path_;
};

}  // namespace bpfkit::testfs
