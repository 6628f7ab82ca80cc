#include <gtest/gtest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "procfs.h"

#ifndef BPFKIT_TEST_DATA
#error "BPFKIT_TEST_DATA must point at tests/unit/data"
#endif

namespace {

namespace procfs = bpfkit::procfs;

const std::string kRoot = std::string(BPFKIT_TEST_DATA) + "/procfs";

const std::string kId = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100";
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// ---- fixtures ----

TEST(Procfs, Comm) {
    EXPECT_EQ(procfs::comm(1, kRoot), "systemd");
    EXPECT_EQ(procfs::comm(1234, kRoot), "abcdefghijklmno");  // 15 bytes, the maximum
    EXPECT_EQ(procfs::comm(1234, kRoot)->size(), 15u);
    EXPECT_EQ(procfs::comm(400, kRoot), "nonl");            // no trailing newline
    EXPECT_EQ(procfs::comm(500, kRoot), "bad\xff\x1b[0m");  // bytes kept as they are
}

TEST(Procfs, CommMissing) {
    EXPECT_EQ(procfs::comm(99999, kRoot), std::nullopt);
    EXPECT_EQ(procfs::comm(600, kRoot), std::nullopt);  // pid dir without comm
    EXPECT_EQ(procfs::comm(0, kRoot), std::nullopt);
    EXPECT_EQ(procfs::comm(-1, kRoot), std::nullopt);
    EXPECT_EQ(procfs::comm(1, kRoot + "/does-not-exist"), std::nullopt);
}

TEST(Procfs, Cmdline) {
    EXPECT_EQ(procfs::cmdline(1, 4096, kRoot), "/sbin/init splash");
    // Embedded NULs (including an empty argument) become spaces, trailing NULs go.
    EXPECT_EQ(procfs::cmdline(1234, 4096, kRoot), "/usr/bin/python3 -m http.server  8080");
    EXPECT_EQ(procfs::cmdline(400, 4096, kRoot), "a b");  // no trailing NUL
    EXPECT_EQ(procfs::cmdline(300, 4096, kRoot), "nginx: worker process");
}

TEST(Procfs, CmdlineTruncation) {
    EXPECT_EQ(procfs::cmdline(1234, 4, kRoot), "/usr");
    EXPECT_EQ(procfs::cmdline(1234, 17, kRoot), "/usr/bin/python3");  // cut right after a NUL
    EXPECT_EQ(procfs::cmdline(1234, 18, kRoot), "/usr/bin/python3 -");
}

TEST(Procfs, CmdlineEmptyShowsCommInBrackets) {
    EXPECT_EQ(procfs::cmdline(2, 4096, kRoot), "[kthreadd]");
    EXPECT_EQ(procfs::cmdline(500, 4096, kRoot), "[bad\xff\x1b[0m]");  // only NULs
    EXPECT_EQ(procfs::cmdline(600, 4096, kRoot), "");                  // and no comm either
    EXPECT_EQ(procfs::cmdline(99999, 4096, kRoot), std::nullopt);
}

TEST(Procfs, Uid) {
    EXPECT_EQ(procfs::uid(1, kRoot), 0u);
    EXPECT_EQ(procfs::uid(1234, kRoot), 1000u);  // real uid, not effective/saved/fs
    EXPECT_EQ(procfs::uid(300, kRoot), 33u);
    EXPECT_EQ(procfs::uid(302, kRoot), 65535u);
    EXPECT_EQ(procfs::uid(400, kRoot), std::nullopt);  // no Uid: line
    EXPECT_EQ(procfs::uid(500, kRoot), std::nullopt);  // malformed Uid: line
    EXPECT_EQ(procfs::uid(99999, kRoot), std::nullopt);
}

TEST(Procfs, UserName) {
    const struct passwd *pw = getpwuid(0);
    EXPECT_EQ(procfs::user_name(0), pw ? pw->pw_name : "0");
    EXPECT_EQ(procfs::user_name(0), procfs::user_name(0));  // cached path
    if (getpwuid(4000000123u) == nullptr) {
        EXPECT_EQ(procfs::user_name(4000000123u), "4000000123");
        EXPECT_EQ(procfs::user_name(4000000123u), "4000000123");
    }
}

TEST(Procfs, CgroupPath) {
    EXPECT_EQ(procfs::cgroup_path(1, kRoot), "/init.scope");
    EXPECT_EQ(procfs::cgroup_path(2, kRoot), "/");
    EXPECT_EQ(procfs::cgroup_path(1234, kRoot), "/system.slice/docker-" + kId + ".scope");
    // cgroup v1 only: the name=systemd hierarchy.
    EXPECT_EQ(procfs::cgroup_path(300, kRoot), "/system.slice/nginx.service");
    // hybrid: the unified (0::) line wins even though name=systemd comes first.
    EXPECT_EQ(procfs::cgroup_path(301, kRoot), "/user.slice/user-1000.slice/session-3.scope");
    // ':' inside the path is kept.
    EXPECT_EQ(procfs::cgroup_path(302, kRoot),
              "/system.slice/containerd.service/"
              "kubepods-besteffort-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice:cri-containerd:" +
                  kId);
    EXPECT_EQ(procfs::cgroup_path(400, kRoot), std::nullopt);  // neither v2 nor name=systemd
    EXPECT_EQ(procfs::cgroup_path(600, kRoot), std::nullopt);  // no file
    EXPECT_EQ(procfs::cgroup_path(99999, kRoot), std::nullopt);
}

TEST(Procfs, Pids) {
    EXPECT_EQ(procfs::pids(kRoot), std::vector<int>({1, 2, 300, 301, 302, 400, 500, 600, 1234}));
    EXPECT_TRUE(procfs::pids(kRoot + "/does-not-exist").empty());
}

TEST(Procfs, FixtureClassification) {
    const auto id = procfs::classify_cgroup(*procfs::cgroup_path(302, kRoot));
    EXPECT_EQ(id.runtime, "containerd");
    EXPECT_EQ(id.container_id, kId);
    EXPECT_EQ(id.pod_uid, "0a1b2c3d-4e5f-6789-abcd-ef0123456789");
}

// ---- the live /proc, as a smoke test ----

TEST(Procfs, LiveProc) {
    struct stat st;
    if (stat("/proc/self/comm", &st) != 0) GTEST_SKIP() << "no /proc";
    const int self = getpid();
    const auto c = procfs::comm(self);
    ASSERT_TRUE(c.has_value());
    EXPECT_FALSE(c->empty());
    EXPECT_LE(c->size(), 15u);
    EXPECT_EQ(c->find('\n'), std::string::npos);
    const auto cmd = procfs::cmdline(self);
    ASSERT_TRUE(cmd.has_value());
    EXPECT_FALSE(cmd->empty());
    EXPECT_EQ(procfs::uid(self), static_cast<uint32_t>(getuid()));
    const auto all = procfs::pids();
    EXPECT_TRUE(std::binary_search(all.begin(), all.end(), self));
    if (stat("/proc/self/cgroup", &st) == 0) {
        const auto cg = procfs::cgroup_path(self);
        if (cg) {
            EXPECT_EQ(cg->front(), '/');
        }
    }
}

// ---- classify_cgroup ----

struct Case {
    std::string path;
    std::string container_id;
    std::string runtime;
    std::string unit;
    std::string pod_uid;
    std::string container_name = "";
};

void check(const Case &c) {
    const auto id = procfs::classify_cgroup(c.path);
    EXPECT_EQ(id.container_id, c.container_id) << c.path;
    EXPECT_EQ(id.runtime, c.runtime) << c.path;
    EXPECT_EQ(id.unit, c.unit) << c.path;
    EXPECT_EQ(id.pod_uid, c.pod_uid) << c.path;
    EXPECT_EQ(id.container_name, c.container_name) << c.path;
}

TEST(ClassifyCgroup, RootAndEmpty) {
    check({"/", "", "", "", ""});
    check({"", "", "", "", ""});
    check({"/user.slice", "", "", "", ""});
    check({"/some/random/group", "", "", "", ""});
}

TEST(ClassifyCgroup, SystemdUnits) {
    check({"/system.slice/nginx.service", "", "", "nginx.service", ""});
    check({"/init.scope", "", "", "init.scope", ""});
    check({"/user.slice/user-1000.slice/session-3.scope", "", "", "session-3.scope", ""});
    // Innermost unit wins: the app unit, not user@1000.service.
    check({"/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "", "",
           "foo.service", ""});
    check({"/user.slice/user-1000.slice/user@1000.service/init.scope", "", "", "init.scope", ""});
    check(
        {"/user.slice/user-1000.slice/user@1000.service/app.slice/"
         "app-gnome-org.gnome.Terminal-1234.scope",
         "", "", "app-gnome-org.gnome.Terminal-1234.scope", ""});
    check(
        {"/system.slice/system-getty.slice/getty@tty1.service", "", "", "getty@tty1.service", ""});
    // A unit's own sub-cgroups (delegation) keep the unit.
    check({"/system.slice/foo.service/workers", "", "", "foo.service", ""});
}

TEST(ClassifyCgroup, Docker) {
    check({"/system.slice/docker-" + kId + ".scope", kId, "docker", "", ""});
    check({"/docker/" + kId, kId, "docker", "", ""});
    check({"/docker/abcdef012345", "abcdef012345", "docker", "", ""});  // short id under /docker
    // systemd running inside the container.
    check({"/docker/" + kId + "/system.slice/nginx.service", kId, "docker", "nginx.service", ""});
    // docker-in-docker: the innermost container.
    check({"/docker/" + kId + "/docker/" + kId2, kId2, "docker", "", ""});
}

TEST(ClassifyCgroup, Containerd) {
    check(
        {"/system.slice/containerd.service/"
         "kubepods-besteffort-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice:cri-containerd:" +
             kId,
         kId, "containerd", "", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"});
    check(
        {"/kubepods.slice/kubepods-burstable.slice/"
         "kubepods-burstable-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/cri-containerd-" +
             kId + ".scope",
         kId, "containerd", "", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"});
    // Guaranteed QoS: no QoS level in the slice name.
    check(
        {"/kubepods.slice/kubepods-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/"
         "cri-containerd-" +
             kId + ".scope",
         kId, "containerd", "", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"});
}

TEST(ClassifyCgroup, KubernetesCgroupfsDriver) {
    check({"/kubepods/besteffort/pod0a1b2c3d-4e5f-6789-abcd-ef0123456789/" + kId, kId, "k8s", "",
           "0a1b2c3d-4e5f-6789-abcd-ef0123456789"});
    check({"/kubepods/pod0a1b2c3d-4e5f-6789-abcd-ef0123456789/" + kId, kId, "k8s", "",
           "0a1b2c3d-4e5f-6789-abcd-ef0123456789"});
    // Static pods have a hash as uid.
    check({"/kubepods/burstable/pod8d4e6f1c2b3a49587a6b5c4d3e2f1a0b/" + kId, kId, "k8s", "",
           "8d4e6f1c2b3a49587a6b5c4d3e2f1a0b"});
}

TEST(ClassifyCgroup, KindNodeInsideDocker) {
    // A kind node is a docker container running a kubelet; the pod's container is innermost.
    check({"/system.slice/docker-" + kId +
               ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
               "kubelet-kubepods-besteffort-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/"
               "cri-containerd-" +
               kId2 + ".scope",
           kId2, "containerd", "", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"});
    // The kubelet itself runs in the node container.
    check({"/system.slice/docker-" + kId + ".scope/system.slice/kubelet.service", kId, "docker",
           "kubelet.service", ""});
}

TEST(ClassifyCgroup, CriO) {
    check(
        {"/kubepods.slice/kubepods-besteffort.slice/"
         "kubepods-besteffort-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/crio-" +
             kId + ".scope",
         kId, "cri-o", "", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"});
    check({"/system.slice/crio-" + kId + ".scope", kId, "cri-o", "", ""});
    check({"/machine.slice/crio-conmon-" + kId + ".scope", kId, "cri-o", "", ""});
}

TEST(ClassifyCgroup, Podman) {
    check({"/machine.slice/libpod-" + kId + ".scope", kId, "podman", "", ""});
    check({"/machine.slice/libpod-" + kId + ".scope/container", kId, "podman", "", ""});
    check({"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope", kId,
           "podman", "", ""});
    check({"/libpod_parent/libpod-" + kId, kId, "podman", "", ""});
    check({"/machine.slice/libpod-conmon-" + kId + ".scope", kId, "podman", "", ""});
}

TEST(ClassifyCgroup, Lxc) {
    check({"/lxc.payload.web1", "", "lxc", "", "", "web1"});
    check({"/lxc.payload.web1/system.slice/nginx.service", "", "lxc", "nginx.service", "", "web1"});
    check({"/lxc/db", "", "lxc", "", "", "db"});
    check({"/lxc.monitor.web1", "", "", "", ""});  // the monitor is outside the container
}

TEST(ClassifyCgroup, NotContainers) {
    // Hex-looking but too short outside a known parent, or not lowercase hex.
    check({"/system.slice/deadbeefcafe", "", "", "", ""});
    check({"/" + std::string(64, 'A'), "", "", "", ""});
    check({"/system.slice/docker-notanid.scope", "", "", "docker-notanid.scope", ""});
    check({"/system.slice/docker.service", "", "", "docker.service", ""});
    check({"/system.slice/containerd.service", "", "", "containerd.service", ""});
    // A bare 64-hex component is an id even under an unknown parent (e.g. ECS).
    check({"/ecs/task-1/" + kId, kId, "", "", ""});
}

}  // namespace
