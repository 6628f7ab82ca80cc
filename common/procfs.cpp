#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <unordered_map>

namespace bpfkit::procfs {

namespace {

// Reads up to max bytes of a (proc) file; st_size is useless there, so read until EOF.
std::optional<std::string> read_file(const std::string &path, size_t max) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[4096];
    while (out.size() < max) {
        const size_t want = std::min(sizeof(buf), max - out.size());
        const ssize_t n = read(fd, buf, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return std::nullopt;  // e.g. ESRCH when the task exits while reading
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

std::string pid_file(const std::string &root, int pid, const char *name) {
    std::string p = root;
    p += '/';
    p += std::to_string(pid);
    p += '/';
    p += name;
    return p;
}

bool is_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_lower_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

constexpr size_t kFullIdLen = 64;
constexpr size_t kMinIdLen = 12;

bool is_container_id(std::string_view s, bool allow_short) {
    if (!is_lower_hex(s)) return false;
    return s.size() == kFullIdLen ||
           (allow_short && s.size() >= kMinIdLen && s.size() < kFullIdLen);
}

bool is_pod_uid(std::string_view s) {
    if (s.size() < 8 || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
               c == '-' || c == '_';
    });
}

std::string normalize_pod_uid(std::string_view s) {
    std::string out(s);
    std::replace(out.begin(), out.end(), '_', '-');
    return out;
}

// "kubepods-besteffort-pod<uid>.slice", "kubepods-pod<uid>.slice",
// "kubelet-kubepods-burstable-pod<uid>.slice" -> uid.
std::optional<std::string> pod_from_slice(std::string_view comp) {
    if (comp.find("kubepods") == std::string_view::npos || !ends_with(comp, ".slice")) {
        return std::nullopt;
    }
    comp.remove_suffix(6);
    const size_t at = comp.rfind("-pod");
    if (at == std::string_view::npos) return std::nullopt;
    const std::string_view uid = comp.substr(at + 4);
    if (!is_pod_uid(uid)) return std::nullopt;
    return normalize_pod_uid(uid);
}

bool is_kubepods(std::string_view comp) {
    return starts_with(comp, "kubepods") || starts_with(comp, "kubelet-kubepods");
}

struct Container {
    std::string id;
    std::string runtime;
};

const char *runtime_for_prefix(std::string_view prefix) {
    if (prefix == "docker") return "docker";
    if (prefix == "cri-containerd") return "containerd";
    if (prefix == "crio" || prefix == "crio-conmon") return "cri-o";
    if (prefix == "libpod" || prefix == "libpod-conmon") return "podman";
    return nullptr;
}

// Recognises a component naming a container; parent is the previous component or "".
std::optional<Container> parse_container(std::string_view comp, std::string_view parent,
                                         bool in_pod) {
    // "<slice>:<runtime>:<id>" (containerd/cri-o with the systemd cgroup driver on v1 layouts).
    const size_t c1 = comp.find(':');
    if (c1 != std::string_view::npos) {
        const size_t c2 = comp.find(':', c1 + 1);
        if (c2 == std::string_view::npos) return std::nullopt;
        const std::string_view prefix = comp.substr(c1 + 1, c2 - c1 - 1);
        const std::string_view id = comp.substr(c2 + 1);
        if (!is_container_id(id, true)) return std::nullopt;
        const char *rt = runtime_for_prefix(prefix);
        return Container{std::string(id), rt ? rt : ""};
    }
    // "<runtime>-<id>.scope" (systemd driver) or "<runtime>-<id>" (cgroupfs driver).
    std::string_view base = comp;
    if (ends_with(base, ".scope")) base.remove_suffix(6);
    const size_t dash = base.rfind('-');
    if (dash != std::string_view::npos) {
        const char *rt = runtime_for_prefix(base.substr(0, dash));
        const std::string_view id = base.substr(dash + 1);
        if (rt != nullptr && is_container_id(id, true)) return Container{std::string(id), rt};
    }
    // A bare id: "/docker/<id>", "/kubepods/<qos>/pod<uid>/<id>", "/ecs/<task>/<id>".
    const bool known_parent = parent == "docker" || in_pod;
    if (is_container_id(comp, known_parent)) {
        return Container{std::string(comp), parent == "docker" ? "docker" : ""};
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> comm(int pid, const std::string &root) {
    if (pid <= 0) return std::nullopt;
    auto s = read_file(pid_file(root, pid, "comm"), 256);
    if (!s) return std::nullopt;
    if (!s->empty() && s->back() == '\n') s->pop_back();
    return s;
}

std::optional<std::string> cmdline(int pid, size_t max, const std::string &root) {
    if (pid <= 0) return std::nullopt;
    auto s = read_file(pid_file(root, pid, "cmdline"), max);
    if (!s) return std::nullopt;
    while (!s->empty() && s->back() == '\0')
        s->pop_back();
    if (s->empty()) {
        const auto c = comm(pid, root);
        if (!c) return std::string();
        return "[" + *c + "]";
    }
    std::replace(s->begin(), s->end(), '\0', ' ');
    return s;
}

std::optional<uint32_t> uid(int pid, const std::string &root) {
    if (pid <= 0) return std::nullopt;
    const auto s = read_file(pid_file(root, pid, "status"), 64 * 1024);
    if (!s) return std::nullopt;
    std::string_view rest = *s;
    while (!rest.empty()) {
        const size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (!starts_with(line, "Uid:")) continue;
        line.remove_prefix(4);
        const size_t start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos) return std::nullopt;
        line.remove_prefix(start);
        const std::string_view field = line.substr(0, line.find_first_of(" \t"));
        if (!is_digits(field)) return std::nullopt;
        uint32_t v = 0;
        const auto res = std::from_chars(field.data(), field.data() + field.size(), v);
        if (res.ec != std::errc() || res.ptr != field.data() + field.size()) return std::nullopt;
        return v;
    }
    return std::nullopt;
}

std::string user_name(uint32_t uid) {
    static std::mutex mu;
    static std::unordered_map<uint32_t, std::string> cache;
    {
        std::lock_guard<std::mutex> lock(mu);
        const auto it = cache.find(uid);
        if (it != cache.end()) return it->second;
    }
    std::string name = std::to_string(uid);
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
    while (true) {
        struct passwd pw;
        struct passwd *result = nullptr;
        const int rc = getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &result);
        if (rc == ERANGE && buf.size() < (1u << 20)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc == 0 && result != nullptr && result->pw_name != nullptr &&
            result->pw_name[0] != '\0') {
            name = result->pw_name;
        }
        break;
    }
    std::lock_guard<std::mutex> lock(mu);
    cache.emplace(uid, name);
    return name;
}

std::optional<std::string> cgroup_path(int pid, const std::string &root) {
    if (pid <= 0) return std::nullopt;
    const auto s = read_file(pid_file(root, pid, "cgroup"), 64 * 1024);
    if (!s) return std::nullopt;
    std::optional<std::string> v1;
    std::string_view rest = *s;
    while (!rest.empty()) {
        const size_t nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        // hierarchy-ID:controller-list:path; the path itself may contain ':'.
        const size_t c1 = line.find(':');
        if (c1 == std::string_view::npos) continue;
        const size_t c2 = line.find(':', c1 + 1);
        if (c2 == std::string_view::npos) continue;
        const std::string_view hid = line.substr(0, c1);
        const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
        const std::string_view path = line.substr(c2 + 1);
        if (hid == "0" && controllers.empty()) return std::string(path);
        if (!v1) {
            std::string_view list = controllers;
            while (true) {
                const size_t comma = list.find(',');
                if (list.substr(0, comma) == "name=systemd") {
                    v1 = std::string(path);
                    break;
                }
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
        }
    }
    return v1;
}

CgroupIdentity classify_cgroup(std::string_view path) {
    CgroupIdentity id;
    bool in_kubepods = false;  // below a kubepods component
    bool in_pod = false;       // directly below a pod component (cgroupfs layout)
    std::string_view parent;
    size_t pos = 0;
    while (pos < path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view comp = path.substr(pos, end - pos);
        pos = end + 1;
        if (comp.empty()) continue;

        bool pod_here = false;
        if (is_kubepods(comp)) {
            in_kubepods = true;
            // "kubepods-...-pod<uid>.slice" possibly followed by ":<runtime>:<id>".
            if (auto uid = pod_from_slice(comp.substr(0, comp.find(':')))) {
                id.pod_uid = *uid;
                pod_here = true;
            }
        } else if (in_kubepods && starts_with(comp, "pod") && is_pod_uid(comp.substr(3))) {
            id.pod_uid = normalize_pod_uid(comp.substr(3));
            pod_here = true;
        }

        if (auto c = parse_container(comp, parent, in_pod)) {
            id.container_id = std::move(c->id);
            id.container_name.clear();
            id.runtime = c->runtime.empty() && in_kubepods ? "k8s" : std::move(c->runtime);
            id.unit.clear();
        } else if (starts_with(comp, "lxc.payload.") && comp.size() > 12) {
            id.container_id.clear();
            id.container_name = std::string(comp.substr(12));
            id.runtime = "lxc";
            id.unit.clear();
        } else if ((parent == "lxc" || parent == "lxc.payload") && !ends_with(comp, ".slice") &&
                   !ends_with(comp, ".service") && !ends_with(comp, ".scope")) {
            id.container_id.clear();
            id.container_name = std::string(comp);
            id.runtime = "lxc";
            id.unit.clear();
        } else if (!pod_here && (ends_with(comp, ".service") || ends_with(comp, ".scope"))) {
            id.unit = std::string(comp);
        }
        in_pod = pod_here;
        parent = comp;
    }
    return id;
}

std::vector<int> pids(const std::string &root) {
    std::vector<int> out;
    DIR *dir = opendir(root.c_str());
    if (dir == nullptr) return out;
    while (const struct dirent *de = readdir(dir)) {
        const std::string_view name = de->d_name;
        if (!is_digits(name)) continue;
        int v = 0;
        const auto res = std::from_chars(name.data(), name.data() + name.size(), v);
        if (res.ec != std::errc() || res.ptr != name.data() + name.size() || v <= 0) continue;
        out.push_back(v);
    }
    closedir(dir);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace bpfkit::procfs
