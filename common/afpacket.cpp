#include "afpacket.h"

#include <arpa/inet.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace bpfkit {

namespace {

// strerror_r comes in a GNU flavour (returns char *) and an XSI flavour
// (returns int); these overloads pick the message out of either.
[[maybe_unused]] const char *strerror_pick(int rc, const char *buf) {
    return rc == 0 ? buf : "Unknown error";
}
[[maybe_unused]] const char *strerror_pick(const char *msg, const char *) {
    return msg;
}

std::string errstr(int e) {
    char buf[128] = {};
    return strerror_pick(strerror_r(e, buf, sizeof buf), buf);
}

// "what: strerror(e): hint" (the hint is optional).
std::string describe(const std::string &what, int e, const std::string &hint) {
    std::string s = what + ": " + errstr(e);
    if (!hint.empty()) s += ": " + hint;
    return s;
}

bool privilege_error(int e) {
    return e == EPERM || e == EACCES;
}

constexpr const char *kCapHint = "needs CAP_NET_RAW (run as root or setcap cap_net_raw+ep)";

constexpr uint32_t kSnapAll = 0xffffffffu;

}  // namespace

// ---------------------------------------------------------------------------
// AfPacket

AfPacket::~AfPacket() {
    close();
}

AfPacket::AfPacket(AfPacket &&other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      ifindex_(std::exchange(other.ifindex_, 0)),
      ring_(std::exchange(other.ring_, nullptr)),
      ring_size_(std::exchange(other.ring_size_, 0)),
      block_size_(std::exchange(other.block_size_, 0)),
      block_count_(std::exchange(other.block_count_, 0)),
      cur_block_(std::exchange(other.cur_block_, 0)),
      drop_outgoing_(std::exchange(other.drop_outgoing_, false)),
      block_timeout_ms_(std::exchange(other.block_timeout_ms_, 0)),
      frames_read_(std::exchange(other.frames_read_, 0)),
      acc_(std::exchange(other.acc_, AfPacketStats{})) {}

AfPacket &AfPacket::operator=(AfPacket &&other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        ifindex_ = std::exchange(other.ifindex_, 0);
        ring_ = std::exchange(other.ring_, nullptr);
        ring_size_ = std::exchange(other.ring_size_, 0);
        block_size_ = std::exchange(other.block_size_, 0);
        block_count_ = std::exchange(other.block_count_, 0);
        cur_block_ = std::exchange(other.cur_block_, 0);
        drop_outgoing_ = std::exchange(other.drop_outgoing_, false);
        block_timeout_ms_ = std::exchange(other.block_timeout_ms_, 0);
        frames_read_ = std::exchange(other.frames_read_, 0);
        acc_ = std::exchange(other.acc_, AfPacketStats{});
    }
    return *this;
}

void AfPacket::close() {
    if (ring_ != nullptr) munmap(ring_, ring_size_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ifindex_ = 0;
    ring_ = nullptr;
    ring_size_ = 0;
    block_size_ = block_count_ = cur_block_ = 0;
    drop_outgoing_ = false;
}

int AfPacket::open(const AfPacketOptions &o, std::string *err) {
    close();
    acc_ = {};
    frames_read_ = 0;
    auto fail = [&](int e, const std::string &msg) {
        if (err != nullptr) *err = msg;
        close();
        return e;
    };

    // Geometry checks up front, so that the errors name the option instead of
    // surfacing as a bare EINVAL from PACKET_RX_RING.
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    const auto upage = static_cast<uint64_t>(page);
    if (o.block_size == 0 || o.block_size % upage != 0)
        return fail(EINVAL, "AF_PACKET: block_size " + std::to_string(o.block_size) +
                                " must be a positive multiple of the page size (" +
                                std::to_string(upage) + ")");
    if (o.frame_size < TPACKET3_HDRLEN || o.frame_size % TPACKET_ALIGNMENT != 0)
        return fail(EINVAL, "AF_PACKET: frame_size " + std::to_string(o.frame_size) +
                                " must be a multiple of " + std::to_string(TPACKET_ALIGNMENT) +
                                " and at least " + std::to_string(TPACKET3_HDRLEN));
    if (o.frame_size > o.block_size || o.block_size % o.frame_size != 0)
        return fail(EINVAL, "AF_PACKET: block_size " + std::to_string(o.block_size) +
                                " must be a multiple of frame_size " +
                                std::to_string(o.frame_size));
    const uint64_t frames_per_block = o.block_size / o.frame_size;
    const uint64_t total = static_cast<uint64_t>(o.block_size) * o.block_count;
    if (o.block_count == 0 || frames_per_block * o.block_count > UINT_MAX ||
        total > static_cast<uint64_t>(SIZE_MAX / 2))
        return fail(EINVAL, "AF_PACKET: block_count " + std::to_string(o.block_count) +
                                " must be at least 1 and the ring must fit in memory");
    if (o.block_timeout_ms < 0)
        return fail(EINVAL, "AF_PACKET: block_timeout_ms must be >= 0 (0 = kernel default)");
    if (o.filter.size() > BPF_MAXINSNS)
        return fail(EINVAL, "AF_PACKET: BPF filter has " + std::to_string(o.filter.size()) +
                                " instructions, more than the kernel limit of " +
                                std::to_string(BPF_MAXINSNS));
    if (o.promisc && o.ifname.empty())
        return fail(EINVAL, "AF_PACKET: promiscuous mode needs an interface name");

    int ifindex = 0;
    if (!o.ifname.empty()) {
        if (o.ifname.size() >= IFNAMSIZ)
            return fail(ENODEV, "interface '" + o.ifname + "': name longer than " +
                                    std::to_string(IFNAMSIZ - 1) + " characters");
        errno = 0;
        unsigned idx = if_nametoindex(o.ifname.c_str());
        if (idx == 0) {
            int e = errno != 0 ? errno : ENODEV;
            if (e == ENODEV || e == ENXIO)
                return fail(ENODEV, "interface '" + o.ifname + "' not found (" + errstr(ENODEV) +
                                        "): check the name with 'ip link'");
            return fail(e, describe("if_nametoindex('" + o.ifname + "')", e, ""));
        }
        if (idx > INT_MAX) return fail(ENODEV, "interface '" + o.ifname + "': bad ifindex");
        ifindex = static_cast<int>(idx);
    }

    // Protocol 0: the socket receives nothing until bind() names a protocol,
    // so no packet can slip in before the filter and the ring are in place
    // (nothing to drain).
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        int e = errno;
        std::string hint = privilege_error(e)  ? kCapHint
                           : e == EAFNOSUPPORT ? "kernel built without CONFIG_PACKET"
                                               : "";
        return fail(e, describe("socket(AF_PACKET)", e, hint));
    }

    int version = TPACKET_V3;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
        int e = errno;
        return fail(e, describe("setsockopt(PACKET_VERSION, TPACKET_V3)", e,
                                "TPACKET_V3 needs Linux >= 3.2"));
    }

    if (!o.filter.empty()) {
        sock_fprog prog{};
        prog.len = static_cast<unsigned short>(o.filter.size());
        prog.filter = const_cast<sock_filter *>(o.filter.data());  // not modified by the kernel
        if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
            int e = errno;
            std::string hint = e == EINVAL
                                   ? "the classic BPF program (" + std::to_string(o.filter.size()) +
                                         " instructions) was rejected as invalid"
                               : e == ENOMEM ? "raise net.core.optmem_max"
                                             : "";
            return fail(e, describe("setsockopt(SO_ATTACH_FILTER)", e, hint));
        }
    }

    if (o.ignore_outgoing) {
        int one = 1;
        if (setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
            int e = errno;
            if (e != ENOPROTOOPT && e != EINVAL)
                return fail(e, describe("setsockopt(PACKET_IGNORE_OUTGOING)", e, ""));
            drop_outgoing_ = true;  // kernel < 4.20: drop them in poll()
        }
    }

    tpacket_req3 req{};
    req.tp_block_size = o.block_size;
    req.tp_block_nr = o.block_count;
    req.tp_frame_size = o.frame_size;
    req.tp_frame_nr = static_cast<unsigned>(frames_per_block * o.block_count);
    req.tp_retire_blk_tov = static_cast<unsigned>(o.block_timeout_ms);
    req.tp_sizeof_priv = 0;
    req.tp_feature_req_word = 0;
    if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
        int e = errno;
        std::string geom =
            std::to_string(o.block_count) + " blocks of " + std::to_string(o.block_size) + " bytes";
        std::string hint = e == ENOMEM ? "not enough memory: reduce block_size or block_count"
                                       : "ring geometry rejected";
        return fail(e, describe("setsockopt(PACKET_RX_RING, " + geom + ")", e, hint));
    }

    ring_size_ = static_cast<size_t>(total);
    void *m = mmap(nullptr, ring_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        ring_size_ = 0;
        return fail(e,
                    describe("mmap(AF_PACKET ring, " + std::to_string(total) + " bytes)", e,
                             e == ENOMEM || e == EAGAIN ? "reduce block_size or block_count" : ""));
    }
    ring_ = static_cast<uint8_t *>(m);
    block_size_ = o.block_size;
    block_count_ = o.block_count;
    cur_block_ = 0;
    // 0 asks for the kernel's default, 8 ms where the link speed is unknown
    // and less on fast links.
    block_timeout_ms_ = o.block_timeout_ms > 0 ? o.block_timeout_ms : 8;

    if (o.promisc) {
        packet_mreq mr{};
        mr.mr_ifindex = ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
            int e = errno;
            return fail(
                e,
                describe("setsockopt(PACKET_ADD_MEMBERSHIP, promisc, '" + o.ifname + "')", e, ""));
        }
    }

    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (bind(fd_, reinterpret_cast<const sockaddr *>(&sll), sizeof sll) != 0) {
        int e = errno;
        std::string what = "bind(AF_PACKET, " +
                           (o.ifname.empty() ? std::string("all interfaces") : o.ifname) + ")";
        return fail(e, describe(what, e,
                                e == ENODEV          ? "the interface disappeared"
                                : privilege_error(e) ? kCapHint
                                                     : ""));
    }
    ifindex_ = ifindex;
    return 0;
}

int AfPacket::poll(int timeout_ms, const std::function<void(const Frame &)> &cb) {
    if (fd_ < 0 || ring_ == nullptr || block_count_ == 0) return -EBADF;

    auto block_status = [&](uint32_t b) {
        uint8_t *blk = ring_ + static_cast<size_t>(b) * block_size_;
        return reinterpret_cast<uint32_t *>(blk + offsetof(tpacket_block_desc, hdr) +
                                            offsetof(tpacket_hdr_v1, block_status));
    };

    if ((__atomic_load_n(block_status(cur_block_), __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
        pollfd pfd{};
        pfd.fd = fd_;
        pfd.events = POLLIN;
        int r = ::poll(&pfd, 1, timeout_ms);
        if (r < 0) return errno == EINTR ? 0 : -errno;
        if (r == 0) return 0;
        if ((pfd.revents & POLLNVAL) != 0) return -EBADF;
        if ((pfd.revents & POLLERR) != 0) {
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) return -errno;
            if (soerr != 0) return -soerr;
        }
    }

    // Gives the block back to the kernel even if the callback throws.
    struct Release {
        uint32_t *status;
        ~Release() { __atomic_store_n(status, TP_STATUS_KERNEL, __ATOMIC_RELEASE); }
    };

    constexpr uint32_t kSllOffset = TPACKET_ALIGN(sizeof(tpacket3_hdr));
    int frames = 0;
    for (uint32_t i = 0; i < block_count_; ++i) {
        uint32_t *status = block_status(cur_block_);
        if ((__atomic_load_n(status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
        const uint8_t *blk = ring_ + static_cast<size_t>(cur_block_) * block_size_;
        cur_block_ = (cur_block_ + 1) % block_count_;
        Release release{status};

        tpacket_hdr_v1 bh{};
        std::memcpy(&bh, blk + offsetof(tpacket_block_desc, hdr), sizeof bh);
        uint32_t off = bh.offset_to_first_pkt;
        // The ring is written by the kernel, but check every offset anyway:
        // a bad one ends the walk of this block instead of reading out of it.
        for (uint32_t k = 0; k < bh.num_pkts; ++k) {
            if (off < sizeof(tpacket_block_desc) || off > block_size_ ||
                block_size_ - off < kSllOffset + sizeof(sockaddr_ll))
                break;
            tpacket3_hdr h{};
            std::memcpy(&h, blk + off, sizeof h);
            sockaddr_ll sll{};
            std::memcpy(&sll, blk + off + kSllOffset, sizeof sll);
            if (h.tp_mac > block_size_ - off || h.tp_snaplen > block_size_ - off - h.tp_mac) break;

            ++frames_read_;
            if (!(drop_outgoing_ && sll.sll_pkttype == PACKET_OUTGOING)) {
                Frame f;
                f.data = std::span<const uint8_t>(blk + off + h.tp_mac, h.tp_snaplen);
                f.wire_len = h.tp_len;
                f.snap_len = h.tp_snaplen;
                f.ifindex = sll.sll_ifindex;
                f.pkttype = sll.sll_pkttype;
                f.protocol = ntohs(sll.sll_protocol);
                f.hatype = sll.sll_hatype;
                f.ts.tv_sec = static_cast<time_t>(h.tp_sec);
                f.ts.tv_nsec = static_cast<long>(h.tp_nsec);
                f.vlan_valid = (h.tp_status & TP_STATUS_VLAN_VALID) != 0;
                f.vlan_tci = f.vlan_valid ? static_cast<uint16_t>(h.hv1.tp_vlan_tci) : 0;
                ++frames;
                if (cb) cb(f);
            }
            if (h.tp_next_offset == 0) break;
            if (h.tp_next_offset > block_size_ - off) break;
            off += h.tp_next_offset;
        }
    }
    return frames;
}

AfPacketStats AfPacket::stats() {
    if (fd_ < 0) return acc_;
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        acc_.packets += st.tp_packets;
        acc_.drops += st.tp_drops;
        acc_.freeze_q += st.tp_freeze_q_cnt;
    }
    const uint64_t handled = acc_.drops + frames_read_;
    acc_.unread = acc_.packets > handled ? acc_.packets - handled : 0;
    return acc_;
}

int AfPacket::drain(int budget_ms, const std::function<void(const Frame &)> &cb) {
    timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    // Twice the block timeout: the kernel retires a partly filled block when
    // its timer finds it still current, which is one to two periods after
    // its first frame.
    const int wait_ms = 2 * std::max(block_timeout_ms_, 1) + 5;
    int total = 0;
    for (;;) {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        const long spent =
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1'000'000;
        if (spent >= budget_ms) break;
        const int n = poll(static_cast<int>(std::min<long>(wait_ms, budget_ms - spent)), cb);
        if (n < 0) return total > 0 ? total : n;
        if (n == 0) break;
        total += n;
    }
    return total;
}

// ---------------------------------------------------------------------------
// Link types

LinkKind link_kind(uint16_t hatype) {
    switch (hatype) {
        case ARPHRD_ETHER:
        case ARPHRD_LOOPBACK:
            return LinkKind::Ethernet;
        case ARPHRD_NONE:
        case ARPHRD_RAWIP:
        case ARPHRD_TUNNEL:
        case ARPHRD_TUNNEL6:
        case ARPHRD_SIT:
            return LinkKind::RawIp;
        default:
            return LinkKind::Other;
    }
}

pkt::Error parse_frame(const Frame &f, pkt::Packet &out) {
    pkt::Error e;
    switch (link_kind(f.hatype)) {
        case LinkKind::Ethernet:
            e = pkt::parse_ethernet(f.data, out);
            break;
        case LinkKind::RawIp:
            if (f.protocol == pkt::kEthPIp || f.protocol == pkt::kEthPIpv6) {
                e = pkt::parse_ip(f.data, out);
                break;
            }
            [[fallthrough]];
        default:
            out = pkt::Packet{};
            out.ethertype = f.protocol;
            out.payload_len = static_cast<uint32_t>(std::min<size_t>(f.data.size(), UINT32_MAX));
            e = pkt::Error::Ok;
            break;
    }
    if (f.vlan_valid && out.vlan_count < pkt::kMaxVlanTags) {
        out.vlan_ids[1] = out.vlan_ids[0];
        out.vlan_ids[0] = f.vlan_tci & 0x0fffu;
        ++out.vlan_count;
    }
    return e;
}

// ---------------------------------------------------------------------------
// Classic BPF

namespace cbpf {

namespace {

// A tiny assembler with forward labels, so that no jump offset is counted by
// hand.  Classic BPF only jumps forward: conditional jumps by at most 255
// instructions, BPF_JA by 32 bits.
class Asm {
  public:
    using Label = size_t;
    static constexpr Label kNext = SIZE_MAX;  // fall through to the next instruction

    Label label() {
        targets_.push_back(kUnbound);
        return targets_.size() - 1;
    }
    void bind(Label l) { targets_[l] = code_.size(); }

    void stmt(uint16_t code, uint32_t k) { code_.push_back(insn(code, k)); }
    // Conditional jump with an immediate operand (BPF_JEQ, BPF_JSET, ...).
    void jump(uint16_t cond, uint32_t k, Label jt, Label jf = kNext) {
        fixups_.push_back({code_.size(), jt, jf, false});
        code_.push_back(insn(BPF_JMP | cond | BPF_K, k));
    }
    void ja(Label to) {
        fixups_.push_back({code_.size(), to, kNext, true});
        code_.push_back(insn(BPF_JMP | BPF_JA, 0));
    }

    // The program, or a reject-everything program if a label was left
    // unbound or a jump does not fit (a bug here, caught by the tests).
    std::vector<sock_filter> finish() {
        for (const Fixup &f : fixups_) {
            sock_filter &in = code_[f.at];
            uint64_t t = 0;
            if (!resolve(f.at, f.jt, f.ja ? UINT32_MAX : 255, &t)) return reject_all();
            if (f.ja) {
                in.k = static_cast<uint32_t>(t);
                continue;
            }
            in.jt = static_cast<uint8_t>(t);
            if (!resolve(f.at, f.jf, 255, &t)) return reject_all();
            in.jf = static_cast<uint8_t>(t);
        }
        if (code_.empty() || BPF_CLASS(code_.back().code) != BPF_RET) return reject_all();
        return code_;
    }

    static std::vector<sock_filter> reject_all() { return {insn(BPF_RET | BPF_K, 0)}; }

  private:
    static constexpr size_t kUnbound = SIZE_MAX;
    struct Fixup {
        size_t at;
        Label jt, jf;
        bool ja;
    };

    static sock_filter insn(uint16_t code, uint32_t k) {
        sock_filter f{};
        f.code = code;
        f.k = k;
        return f;
    }
    bool resolve(size_t at, Label l, uint64_t max, uint64_t *rel) const {
        if (l == kNext) {
            *rel = 0;
            return true;
        }
        if (l >= targets_.size() || targets_[l] == kUnbound || targets_[l] <= at) return false;
        *rel = targets_[l] - at - 1;
        return *rel <= max;
    }

    std::vector<sock_filter> code_;
    std::vector<size_t> targets_;
    std::vector<Fixup> fixups_;
};

constexpr uint32_t kLdHatype = static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_HATYPE);

// Where the L3 header of each frame layout starts.
struct L3Targets {
    Asm::Label v4_eth, v6_eth, v4_vlan, v6_vlan, v4_raw, v6_raw;
};

// Device type and ethertype dispatch shared by all programs: jumps to one of
// the six targets, or to reject.
void emit_dispatch(Asm &a, const L3Targets &t, Asm::Label reject) {
    Asm::Label eth = a.label(), raw = a.label(), vlan = a.label();
    a.stmt(BPF_LD | BPF_W | BPF_ABS, kLdHatype);
    a.jump(BPF_JEQ, ARPHRD_ETHER, eth);
    a.jump(BPF_JEQ, ARPHRD_LOOPBACK, eth);
    a.jump(BPF_JEQ, ARPHRD_NONE, raw);
    a.jump(BPF_JEQ, ARPHRD_RAWIP, raw);
    a.jump(BPF_JEQ, ARPHRD_TUNNEL, raw);
    a.jump(BPF_JEQ, ARPHRD_TUNNEL6, raw);
    a.jump(BPF_JEQ, ARPHRD_SIT, raw);
    a.ja(reject);

    a.bind(eth);
    a.stmt(BPF_LD | BPF_H | BPF_ABS, 12);
    a.jump(BPF_JEQ, ETH_P_IP, t.v4_eth);
    a.jump(BPF_JEQ, ETH_P_IPV6, t.v6_eth);
    a.jump(BPF_JEQ, ETH_P_8021Q, vlan);
    a.jump(BPF_JEQ, ETH_P_8021AD, vlan);
    a.ja(reject);

    a.bind(vlan);
    a.stmt(BPF_LD | BPF_H | BPF_ABS, 16);
    a.jump(BPF_JEQ, ETH_P_IP, t.v4_vlan);
    a.jump(BPF_JEQ, ETH_P_IPV6, t.v6_vlan);
    a.ja(reject);

    a.bind(raw);
    a.stmt(BPF_LD | BPF_B | BPF_ABS, 0);
    a.stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0);
    a.jump(BPF_JEQ, 0x40, t.v4_raw);
    a.jump(BPF_JEQ, 0x60, t.v6_raw);
    a.ja(reject);
}

void emit_proto_check(Asm &a, bool tcp, bool udp, Asm::Label ok, Asm::Label reject) {
    if (tcp) a.jump(BPF_JEQ, IPPROTO_TCP, ok);
    if (udp) a.jump(BPF_JEQ, IPPROTO_UDP, ok);
    a.ja(reject);
}

// Accepts if the 16-bit value in A is one of the ports.
void emit_port_match(Asm &a, std::span<const uint16_t> ports, Asm::Label accept) {
    for (uint16_t port : ports)
        a.jump(BPF_JEQ, port, accept);
}

// Which port a packet must have on the list: either, or by direction (the
// destination of outgoing packets, the source of the others).
enum class PortSide { Either, ByDirection };

// The port match on a header whose source port is loaded by `load(0)` and
// destination port by `load(2)`.
template <class Load>
void emit_side_match(Asm &a, std::span<const uint16_t> ports, PortSide side, const Load &load,
                     Asm::Label accept, Asm::Label reject) {
    if (side == PortSide::Either) {
        load(0);
        emit_port_match(a, ports, accept);
        load(2);
        emit_port_match(a, ports, accept);
        a.ja(reject);
        return;
    }
    Asm::Label out = a.label();
    a.stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE));
    a.jump(BPF_JEQ, PACKET_OUTGOING, out);
    load(0);  // arriving: from a listed port
    emit_port_match(a, ports, accept);
    a.ja(reject);
    a.bind(out);
    load(2);  // leaving: to a listed port
    emit_port_match(a, ports, accept);
    a.ja(reject);
}

// IPv4 header at `base`: protocol, not a non-first fragment, then the ports.
void emit_v4_ports(Asm &a, uint32_t base, std::span<const uint16_t> ports, PortSide side, bool tcp,
                   bool udp, Asm::Label accept, Asm::Label reject) {
    Asm::Label proto_ok = a.label();
    a.stmt(BPF_LD | BPF_B | BPF_ABS, base + 9);
    emit_proto_check(a, tcp, udp, proto_ok, reject);
    a.bind(proto_ok);
    a.stmt(BPF_LD | BPF_H | BPF_ABS, base + 6);
    a.jump(BPF_JSET, 0x1fff, reject);         // fragment offset != 0
    a.stmt(BPF_LDX | BPF_B | BPF_MSH, base);  // X = IHL * 4
    emit_side_match(
        a, ports, side, [&](uint32_t off) { a.stmt(BPF_LD | BPF_H | BPF_IND, base + off); }, accept,
        reject);
}

// IPv6 header at `base`, TCP/UDP directly after it.
void emit_v6_ports(Asm &a, uint32_t base, std::span<const uint16_t> ports, PortSide side, bool tcp,
                   bool udp, Asm::Label accept, Asm::Label reject) {
    Asm::Label proto_ok = a.label();
    a.stmt(BPF_LD | BPF_B | BPF_ABS, base + 6);
    emit_proto_check(a, tcp, udp, proto_ok, reject);
    a.bind(proto_ok);
    emit_side_match(
        a, ports, side, [&](uint32_t off) { a.stmt(BPF_LD | BPF_H | BPF_ABS, base + 40 + off); },
        accept, reject);
}

void emit_ends(Asm &a, Asm::Label accept, Asm::Label reject) {
    a.bind(reject);
    a.stmt(BPF_RET | BPF_K, 0);
    a.bind(accept);
    a.stmt(BPF_RET | BPF_K, kSnapAll);
}

}  // namespace

std::vector<sock_filter> ip_any() {
    Asm a;
    Asm::Label accept = a.label(), reject = a.label();
    emit_dispatch(a, L3Targets{accept, accept, accept, accept, accept, accept}, reject);
    emit_ends(a, accept, reject);
    return a.finish();
}

std::vector<sock_filter> l4_port(uint16_t port, bool tcp, bool udp) {
    return l4_ports(std::span<const uint16_t>(&port, 1), tcp, udp);
}

namespace {

std::vector<sock_filter> ports_program(std::span<const uint16_t> ports, PortSide side, bool tcp,
                                       bool udp) {
    if ((!tcp && !udp) || ports.empty() || ports.size() > kMaxFilterPorts) return Asm::reject_all();
    Asm a;
    Asm::Label accept = a.label(), reject = a.label();
    L3Targets t{a.label(), a.label(), a.label(), a.label(), a.label(), a.label()};
    emit_dispatch(a, t, reject);
    a.bind(t.v4_eth);
    emit_v4_ports(a, ETH_HLEN, ports, side, tcp, udp, accept, reject);
    a.bind(t.v6_eth);
    emit_v6_ports(a, ETH_HLEN, ports, side, tcp, udp, accept, reject);
    a.bind(t.v4_vlan);
    emit_v4_ports(a, ETH_HLEN + 4, ports, side, tcp, udp, accept, reject);
    a.bind(t.v6_vlan);
    emit_v6_ports(a, ETH_HLEN + 4, ports, side, tcp, udp, accept, reject);
    a.bind(t.v4_raw);
    emit_v4_ports(a, 0, ports, side, tcp, udp, accept, reject);
    a.bind(t.v6_raw);
    emit_v6_ports(a, 0, ports, side, tcp, udp, accept, reject);
    emit_ends(a, accept, reject);
    return a.finish();
}

}  // namespace

std::vector<sock_filter> l4_ports(std::span<const uint16_t> ports, bool tcp, bool udp) {
    return ports_program(ports, PortSide::Either, tcp, udp);
}

std::vector<sock_filter> l4_ports_by_direction(std::span<const uint16_t> ports, bool tcp,
                                               bool udp) {
    return ports_program(ports, PortSide::ByDirection, tcp, udp);
}

}  // namespace cbpf

}  // namespace bpfkit
