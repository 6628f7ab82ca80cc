// SPDX-License-Identifier: GPL-2.0-only
#include "procnet.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "procfs.h"

namespace bpfkit::procnet {

namespace {

// A socket table of a busy host can be tens of megabytes; stop somewhere.
constexpr size_t kMaxTableBytes = size_t{512} << 20;

// Reads a whole (proc) file: st_size is 0 there, so read until EOF.  Sets
// errno and returns std::nullopt on failure.
std::optional<std::string> slurp(const std::string &path, size_t max) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    std::string buf(size_t{64} << 10, '\0');
    while (out.size() < max) {
        const ssize_t n = read(fd, buf.data(), std::min(buf.size(), max - out.size()));
        if (n < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            close(fd);
            errno = e;
            return std::nullopt;
        }
        if (n == 0) break;
        out.append(buf.data(), static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Exactly s.size() hex digits, at most 16.
bool parse_hex(std::string_view s, uint64_t &v) {
    if (s.empty() || s.size() > 16) return false;
    v = 0;
    for (char c : s) {
        const int d = hex_digit(c);
        if (d < 0) return false;
        v = (v << 4) | static_cast<uint64_t>(d);
    }
    return true;
}

bool parse_dec(std::string_view s, uint64_t &v) {
    if (s.empty() || s.size() > 20) return false;
    v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        const uint64_t d = static_cast<uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    return true;
}

// "ADDR:PORT" with a hex address and 4 hex digits of port (host order).
bool parse_endpoint(std::string_view s, pkt::IpAddr &addr, uint16_t &port) {
    const size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return false;
    auto a = parse_hex_addr(s.substr(0, colon));
    uint64_t p = 0;
    const std::string_view ps = s.substr(colon + 1);
    if (!a || ps.size() != 4 || !parse_hex(ps, p)) return false;
    addr = *a;
    port = static_cast<uint16_t>(p);
    return true;
}

// Splits on spaces and tabs, at most max fields (the rest is ignored).
size_t split_fields(std::string_view line, std::string_view *out, size_t max) {
    size_t n = 0, i = 0;
    while (n < max) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        if (i >= line.size()) break;
        const size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            ++i;
        out[n++] = line.substr(start, i - start);
    }
    return n;
}

bool is_zero(const pkt::IpAddr &a) {
    return std::all_of(a.bytes.begin(), a.bytes.end(), [](uint8_t b) { return b == 0; });
}

double now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

uint32_t port_key(uint8_t proto, uint16_t port) {
    return (static_cast<uint32_t>(proto) << 16) | port;
}

}  // namespace

std::optional<pkt::IpAddr> parse_hex_addr(std::string_view hex) {
    if (hex.size() != 8 && hex.size() != 32) return std::nullopt;
    uint8_t bytes[16] = {};
    for (size_t w = 0; w < hex.size() / 8; ++w) {
        uint64_t v = 0;
        if (!parse_hex(hex.substr(w * 8, 8), v)) return std::nullopt;
        // The kernel printed the word as a native integer: its memory image
        // is the network-order bytes, whatever the host's byte order.
        const auto word = static_cast<uint32_t>(v);
        std::memcpy(bytes + w * 4, &word, 4);
    }
    return hex.size() == 8 ? pkt::IpAddr::v4(bytes) : pkt::IpAddr::v6(bytes);
}

std::optional<SocketEntry> parse_line(std::string_view line, uint8_t proto, bool v6_table) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    std::string_view f[10];
    if (split_fields(line, f, 10) < 10) return std::nullopt;
    if (f[0].size() < 2 || f[0].back() != ':') return std::nullopt;
    SocketEntry e;
    e.proto = proto;
    e.v6_table = v6_table;
    if (!parse_endpoint(f[1], e.local, e.lport) || !parse_endpoint(f[2], e.remote, e.rport))
        return std::nullopt;
    if (e.local.family != e.remote.family) return std::nullopt;
    if ((e.local.family == AF_INET6) != v6_table) return std::nullopt;
    uint64_t st = 0, uid = 0, inode = 0;
    if (f[3].size() != 2 || !parse_hex(f[3], st)) return std::nullopt;
    if (!parse_dec(f[7], uid) || uid > UINT32_MAX) return std::nullopt;
    if (!parse_dec(f[9], inode)) return std::nullopt;
    e.state = static_cast<uint8_t>(st);
    e.uid = static_cast<uint32_t>(uid);
    e.inode = inode;
    return e;
}

std::vector<SocketEntry> parse_table(std::string_view text, uint8_t proto, bool v6_table,
                                     size_t *bad) {
    std::vector<SocketEntry> out;
    size_t nbad = 0;
    bool first = true;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        const bool header = first && line.find("local_address") != std::string_view::npos;
        first = false;
        if (header || line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        if (auto e = parse_line(line, proto, v6_table)) {
            out.push_back(*e);
        } else {
            ++nbad;
        }
    }
    if (bad != nullptr) *bad += nbad;
    return out;
}

std::string net_dir_of(int pid) {
    return pid > 0 ? std::to_string(pid) + "/net" : std::string("net");
}

int read_tables(const std::string &root, const std::string &net_dir, std::vector<SocketEntry> &out,
                TableStats *stats) {
    struct Table {
        const char *name;
        uint8_t proto;
        bool v6;
    };
    static constexpr Table kTables[] = {{"tcp", IPPROTO_TCP, false},
                                        {"tcp6", IPPROTO_TCP, true},
                                        {"udp", IPPROTO_UDP, false},
                                        {"udp6", IPPROTO_UDP, true}};
    TableStats st;
    int first_err = 0;
    const size_t before = out.size();
    for (const Table &t : kTables) {
        const std::string path = root + "/" + net_dir + "/" + t.name;
        auto text = slurp(path, kMaxTableBytes);
        if (!text) {
            if (first_err == 0) first_err = errno != 0 ? errno : EIO;
            ++st.tables_missing;
            continue;
        }
        ++st.tables_read;
        std::vector<SocketEntry> v = parse_table(*text, t.proto, t.v6, &st.bad_lines);
        out.insert(out.end(), v.begin(), v.end());
    }
    st.entries = out.size() - before;
    if (stats != nullptr) *stats = st;
    return st.tables_read > 0 ? 0 : first_err;
}

std::optional<uint64_t> socket_inode(std::string_view link) {
    constexpr std::string_view kPrefix = "socket:[";
    if (link.size() <= kPrefix.size() + 1 || link.substr(0, kPrefix.size()) != kPrefix ||
        link.back() != ']')
        return std::nullopt;
    uint64_t v = 0;
    if (!parse_dec(link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1), v))
        return std::nullopt;
    return v;
}

std::unordered_map<uint64_t, uint32_t> socket_owners(const std::string &root,
                                                     const std::unordered_set<uint64_t> *wanted,
                                                     OwnerStats *stats) {
    std::unordered_map<uint64_t, uint32_t> out;
    std::unordered_set<uint64_t> shared;
    OwnerStats st;
    for (int pid : procfs::pids(root)) {  // ascending: the first holder is the lowest pid
        ++st.pids_scanned;
        const std::string dir = root + "/" + std::to_string(pid) + "/fd";
        const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            if (errno == ENOENT || errno == ESRCH) {
                ++st.pids_gone;
            } else {
                ++st.pids_unreadable;
            }
            continue;
        }
        DIR *d = fdopendir(dfd);
        if (d == nullptr) {
            close(dfd);
            ++st.pids_unreadable;
            continue;
        }
        while (const dirent *de = readdir(d)) {
            if (de->d_name[0] == '.') continue;
            char buf[64];
            const ssize_t n = readlinkat(dfd, de->d_name, buf, sizeof buf);
            if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) continue;
            auto ino = socket_inode(std::string_view(buf, static_cast<size_t>(n)));
            if (!ino || (wanted != nullptr && wanted->count(*ino) == 0)) continue;
            auto [it, inserted] = out.try_emplace(*ino, static_cast<uint32_t>(pid));
            if (!inserted && it->second != static_cast<uint32_t>(pid)) shared.insert(*ino);
        }
        closedir(d);
    }
    st.sockets = out.size();
    st.shared_sockets = shared.size();
    if (stats != nullptr) *stats = st;
    return out;
}

pkt::IpAddr unmap_v4(const pkt::IpAddr &a) {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a.family != AF_INET6 || std::memcmp(a.bytes.data(), kPrefix, sizeof kPrefix) != 0) return a;
    return pkt::IpAddr::v4(a.bytes.data() + 12);
}

TupleKey TupleKey::of(uint8_t proto, const pkt::IpAddr &local, uint16_t lport,
                      const pkt::IpAddr &remote, uint16_t rport) {
    TupleKey k;
    k.proto = proto;
    k.family = local.family;
    k.lport = lport;
    k.rport = rport;
    k.laddr = local.bytes;
    k.raddr = remote.bytes;
    return k;
}

size_t TupleKeyHash::operator()(const TupleKey &k) const {
    // FNV-1a over the fields.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            h ^= p[i];
            h *= 1099511628211ull;
        }
    };
    const uint8_t head[6] = {k.proto,
                             k.family,
                             static_cast<uint8_t>(k.lport >> 8),
                             static_cast<uint8_t>(k.lport),
                             static_cast<uint8_t>(k.rport >> 8),
                             static_cast<uint8_t>(k.rport)};
    mix(head, sizeof head);
    mix(k.laddr.data(), k.laddr.size());
    mix(k.raddr.data(), k.raddr.size());
    return static_cast<size_t>(h);
}

// ---------------------------------------------------------------------------
// SocketMap

SocketMap::SocketMap(SocketMapOptions opts) : opts_(std::move(opts)) {}

int SocketMap::refresh() {
    const double t0 = now_ms();
    std::vector<SocketEntry> entries;
    TableStats ts;
    if (int e = read_tables(opts_.root, opts_.net_dir, entries, &ts); e != 0) {
        stats_.tables = ts;
        ++stats_.failures;
        stats_.last_error = e;
        return e;
    }
    std::unordered_set<uint64_t> wanted;
    for (const auto &e : entries)
        if (e.inode != 0) wanted.insert(e.inode);
    OwnerStats os;
    auto owners = socket_owners(opts_.root, &wanted, &os);
    assign(std::move(entries), std::move(owners));
    stats_.tables = ts;
    stats_.owners = os;
    ++stats_.refreshes;
    stats_.last_refresh_ms = now_ms() - t0;
    return 0;
}

void SocketMap::assign(std::vector<SocketEntry> entries,
                       std::unordered_map<uint64_t, uint32_t> owners) {
    entries_ = std::move(entries);
    owners_ = std::move(owners);
    exact_.clear();
    bound_.clear();
    for (size_t i = 0; i < entries_.size(); ++i) {
        const SocketEntry &e = entries_[i];
        if (e.rport != 0) {
            const TupleKey k =
                TupleKey::of(e.proto, unmap_v4(e.local), e.lport, unmap_v4(e.remote), e.rport);
            exact_[k].push_back(i);
        } else if (e.lport != 0 && (e.proto == IPPROTO_UDP || e.state == kTcpListen)) {
            bound_[port_key(e.proto, e.lport)].push_back(i);
        }
    }
    ++generation_;
}

std::optional<uint32_t> SocketMap::owner(uint64_t inode) const {
    if (inode == 0) return std::nullopt;
    auto it = owners_.find(inode);
    if (it == owners_.end()) return std::nullopt;
    return it->second;
}

std::optional<Match> SocketMap::lookup(uint8_t proto, const pkt::IpAddr &local_in, uint16_t lport,
                                       const pkt::IpAddr &remote_in, uint16_t rport) const {
    const pkt::IpAddr local = unmap_v4(local_in), remote = unmap_v4(remote_in);
    const TupleKey k = TupleKey::of(proto, local, lport, remote, rport);
    if (auto it = exact_.find(k); it != exact_.end()) {
        for (size_t i : it->second) {
            if (auto pid = owner(entries_[i].inode))
                return Match{*pid, MatchKind::Exact, entries_[i]};
        }
    }
    auto bt = bound_.find(port_key(proto, lport));
    if (bt == bound_.end()) return std::nullopt;
    // Rank 0: bound to this address; 1: wildcard of the same family; 2: "::"
    // for an IPv4 packet (dual-stack socket).
    const Match *best = nullptr;
    int best_rank = 3;
    Match m;
    for (size_t i : bt->second) {
        const SocketEntry &e = entries_[i];
        const pkt::IpAddr a = unmap_v4(e.local);
        int rank;
        if (a == local) {
            rank = 0;
        } else if (is_zero(a) && a.family == local.family) {
            rank = 1;
        } else if (is_zero(a) && a.family == AF_INET6 && local.family == AF_INET) {
            rank = 2;
        } else {
            continue;
        }
        if (rank >= best_rank) continue;
        auto pid = owner(e.inode);
        if (!pid) continue;
        m = Match{*pid, proto == IPPROTO_TCP ? MatchKind::Listener : MatchKind::Bound, e};
        best = &m;
        best_rank = rank;
        if (rank == 0) break;
    }
    if (best == nullptr) return std::nullopt;
    return m;
}

}  // namespace bpfkit::procnet
