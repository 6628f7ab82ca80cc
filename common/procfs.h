// Small readers for /proc/<pid>/... and cgroup path classification.
// Every reader takes the proc root (default "/proc") so tests can point it at fixtures.
// Readers return std::nullopt when the process is gone or the file is unreadable; none of them
// throws or prints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bpfkit::procfs {

// /proc/<pid>/comm without the trailing newline (at most 15 bytes on current kernels, may
// contain any byte but NUL and is not necessarily UTF-8: escape it before printing).
std::optional<std::string> comm(int pid, const std::string &root = "/proc");

// /proc/<pid>/cmdline, reading at most max bytes (no marker when cut), NULs between arguments
// turned into spaces and trailing NULs dropped. When the file is empty (kernel threads, zombies)
// the result is "[<comm>]" like ps(1) shows it, or "" if comm cannot be read either.
std::optional<std::string> cmdline(int pid, size_t max = 4096, const std::string &root = "/proc");

// The real uid: first field of the "Uid:" line of /proc/<pid>/status.
std::optional<uint32_t> uid(int pid, const std::string &root = "/proc");

// The user name for uid (getpwuid_r), cached per process (thread-safe); the decimal uid if it
// has no passwd entry.
std::string user_name(uint32_t uid);

// The cgroup v2 path of the process (the "0::" line of /proc/<pid>/cgroup); if there is none
// (cgroup v1 only), the path of the "name=systemd" hierarchy.
std::optional<std::string> cgroup_path(int pid, const std::string &root = "/proc");

struct CgroupIdentity {
    std::string container_id;    // lowercase hex, normally 64 digits (>= 12); may be empty
    std::string container_name;  // for runtimes that name rather than number containers (lxc)
    std::string runtime;         // "docker", "containerd", "cri-o", "podman", "lxc", "k8s" or ""
    std::string unit;            // innermost systemd unit ("nginx.service", "session-3.scope")
    std::string pod_uid;         // Kubernetes pod UID with dashes, or ""
};

// Pure function of a cgroup path (as returned by cgroup_path()). Rules:
//  - the innermost container wins (docker-in-docker, kind nodes, ...);
//  - runtime is taken from the container component: docker-<id>.scope or /docker/<id> ->
//    "docker", cri-containerd-<id>.scope or "...:cri-containerd:<id>" -> "containerd",
//    crio-<id>.scope -> "cri-o", libpod-<id>.scope -> "podman", lxc.payload.<name> or
//    /lxc/<name> -> "lxc"; a container under kubepods whose runtime the path does not tell
//    (cgroupfs driver: /kubepods/<qos>/pod<uid>/<id>) -> "k8s";
//  - unit is the innermost *.service / *.scope component *inside* the innermost container (a
//    container's own scope, such as docker-<id>.scope, is not reported as unit; a systemd running
//    inside the container is);
//  - pod_uid comes from kubepods-...-pod<uid>.slice (underscores turned into dashes) or from a
//    pod<uid> component under kubepods.
CgroupIdentity classify_cgroup(std::string_view path);

// The numeric entries of root (all processes), ascending.
std::vector<int> pids(const std::string &root = "/proc");

}  // namespace bpfkit::procfs
