// SPDX-License-Identifier: GPL-2.0-only
// The ladder's choice with a fake feature set: a fake trier succeeds when
// every feature the mode needs is Yes in the fake, as the real kernel would.
#include <gtest/gtest.h>

#include <cerrno>

#include "kernel_features.h"
#include "ladder.h"
#include "log.h"

using namespace bpfkit;

namespace {

LadderSpec netproc_like() {
    LadderSpec s;
    s.tool = "demo";
    s.modes.push_back({"fentry",
                       "ebpf",
                       "fexit",
                       {"p_fentry"},
                       {Feature::CapBpf, Feature::KernelBtf, Feature::Fentry},
                       {},
                       ""});
    s.modes.push_back(
        {"kprobe", "ebpf", "kprobes", {"p_kprobe"}, {Feature::CapBpf, Feature::Kprobe}, {}, ""});
    s.modes.push_back(
        {"tracepoint", "ebpf", "tp_btf", {"p_tp"}, {Feature::CapBpf, Feature::TpBtf}, {}, ""});
    s.modes.push_back(
        {"afpacket", "afpacket", "capture", {}, {Feature::CapNetRaw, Feature::AfPacket}, {}, ""});
    return s;
}

class FakeTrier : public ModeTrier {
  public:
    explicit FakeTrier(Features &f) : features_(f) {}
    int try_mode(const ModeSpec &mode, std::string &detail) override {
        tried.push_back(mode.name);
        for (Feature f : mode.needs) {
            const FeatureResult &r = features_.get(f);
            if (!r.yes()) {
                detail = "fake refusal";
                return -(r.err ? r.err : EPERM);
            }
        }
        return 0;
    }
    std::vector<std::string> tried;

  private:
    Features &features_;
};

struct Fixture {
    FakeFeatureSource *fake;
    std::unique_ptr<Features> features;
    Fixture() {
        auto src = std::make_unique<FakeFeatureSource>();
        fake = src.get();
        features = std::make_unique<Features>(std::move(src));
    }
};

}  // namespace

TEST(Ladder, BestModeWhenEverythingWorks) {
    Fixture fx;
    FakeTrier trier(*fx.features);
    LadderSpec spec = netproc_like();
    LadderResult r = climb(spec, {}, trier, *fx.features);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.best());
    EXPECT_EQ(r.chosen, 0);
    EXPECT_EQ(trier.tried, std::vector<std::string>{"fentry"});
    ASSERT_EQ(r.attempts.size(), 1u);
}

TEST(Ladder, ThisMachineFallsToTracepointWithReasons) {
    Fixture fx;
    fx.fake->set_no(Feature::Fentry, EPERM, "the kernel refuses fentry",
                    "a kernel with trampolines");
    fx.fake->set_no(Feature::Kprobe, ENOENT, "CONFIG_KPROBES is not set", "a kernel with kprobes");
    FakeTrier trier(*fx.features);
    LadderSpec spec = netproc_like();
    LadderResult r = climb(spec, {}, trier, *fx.features);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.best());
    EXPECT_EQ(spec.modes[static_cast<size_t>(r.chosen)].name, "tracepoint");
    EXPECT_EQ(trier.tried, (std::vector<std::string>{"fentry", "kprobe", "tracepoint"}));
    const Attempt *f = r.refused("fentry");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->err, EPERM);
    EXPECT_EQ(f->reason, "fentry: the kernel refuses fentry");
    EXPECT_EQ(f->remedy, "a kernel with trampolines");
    const Attempt *k = r.refused("kprobe");
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->err, ENOENT);
    EXPECT_NE(k->reason.find("CONFIG_KPROBES is not set"), std::string::npos);
    EXPECT_EQ(r.refused("tracepoint"), nullptr);
    // The -v lines name the chosen mode and each refusal with its fix.
    auto lines = describe(spec, r);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_NE(lines[0].find("mode: tracepoint"), std::string::npos);
    EXPECT_NE(
        lines[1].find(
            "fentry: refused: fentry: the kernel refuses fentry; fix: a kernel with trampolines"),
        std::string::npos);
}

TEST(Ladder, MissingCapabilityIsNamedBeforeTheAttachType) {
    Fixture fx;
    fx.fake->set_no(Feature::CapBpf, EPERM, "missing CAP_BPF", "setcap cap_bpf+ep");
    fx.fake->set_no(Feature::Fentry, EPERM, "refused");
    fx.fake->set_no(Feature::CapNetRaw, EPERM, "missing CAP_NET_RAW", "setcap cap_net_raw+ep");
    FakeTrier trier(*fx.features);
    LadderSpec spec = netproc_like();
    LadderResult r = climb(spec, {}, trier, *fx.features);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.chosen, -1);
    ASSERT_EQ(r.attempts.size(), 4u);
    EXPECT_EQ(r.attempts[0].reason, "CAP_BPF: missing CAP_BPF");
    EXPECT_EQ(r.attempts[3].reason, "CAP_NET_RAW: missing CAP_NET_RAW");
    EXPECT_EQ(describe(spec, r)[0],
              "mode: none of fentry, kprobe, tracepoint, afpacket can run here");
}

TEST(Ladder, UnexplainedFailureQuotesErrnoAndDetail) {
    Fixture fx;
    LadderSpec spec = netproc_like();
    class Failing : public ModeTrier {
      public:
        int try_mode(const ModeSpec &, std::string &detail) override {
            detail = "verifier said no";
            return -EINVAL;
        }
    } trier;
    // afpacket has no try_fn here, so the trier is used for it too.
    LadderResult r = climb(spec, {}, trier, *fx.features);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.attempts[0].err, EINVAL);
    EXPECT_EQ(r.attempts[0].reason, "Invalid argument (verifier said no)");
}

TEST(Ladder, ForcedModeTriesOnlyThatRung) {
    Fixture fx;
    FakeTrier trier(*fx.features);
    LadderSpec spec = netproc_like();
    LadderRequest req{"kprobe", ""};
    ASSERT_EQ(check_request(spec, req), "");
    LadderResult r = climb(spec, req, trier, *fx.features);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(spec.modes[static_cast<size_t>(r.chosen)].name, "kprobe");
    EXPECT_EQ(trier.tried, std::vector<std::string>{"kprobe"});
    EXPECT_TRUE(r.attempts[0].skipped);
}

TEST(Ladder, ForcedModeThatFailsDoesNotFallBack) {
    Fixture fx;
    fx.fake->set_no(Feature::Fentry, EPERM, "refused");
    FakeTrier trier(*fx.features);
    LadderSpec spec = netproc_like();
    LadderResult r = climb(spec, LadderRequest{"fentry", ""}, trier, *fx.features);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(trier.tried, std::vector<std::string>{"fentry"});
}

TEST(Ladder, FamilyRestrictsTheRungs) {
    Fixture fx;
    FakeTrier trier(*fx.features);
    LadderSpec spec = netproc_like();
    LadderResult r = climb(spec, LadderRequest{"", "afpacket"}, trier, *fx.features);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(spec.modes[static_cast<size_t>(r.chosen)].name, "afpacket");
    EXPECT_EQ(trier.tried, std::vector<std::string>{"afpacket"});
}

TEST(Ladder, TryFnIsUsedForNonBpfModes) {
    Fixture fx;
    fx.fake->set_no(Feature::CapBpf, EPERM, "missing CAP_BPF");
    LadderSpec spec = netproc_like();
    int calls = 0;
    spec.modes[3].try_fn = [&](std::string &) {
        calls++;
        return 0;
    };
    FakeTrier trier(*fx.features);
    LadderResult r = climb(spec, {}, trier, *fx.features);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(trier.tried.size(), 3u);  // the three eBPF rungs went to the trier
}

TEST(Ladder, FeaturesAreProbedOnceAndOnlyOnFailure) {
    Fixture fx;
    FakeTrier trier(*fx.features);
    LadderSpec spec = netproc_like();
    climb(spec, {}, trier, *fx.features);
    climb(spec, {}, trier, *fx.features);
    EXPECT_EQ(fx.fake->probes_run(Feature::Fentry), 1);  // cached
    EXPECT_EQ(fx.fake->probes_run(Feature::Kprobe), 0);  // never needed
}

TEST(Ladder, CheckRequestRejectsUnknownNames) {
    LadderSpec spec = netproc_like();
    EXPECT_EQ(check_request(spec, {"uprobe", ""}),
              "unknown mode 'uprobe': demo has fentry, kprobe, tracepoint, afpacket");
    EXPECT_EQ(check_request(spec, {"", "pcap"}),
              "unknown capture mode 'pcap': expected auto, ebpf, afpacket");
    EXPECT_EQ(check_request(spec, {"kprobe", "afpacket"}),
              "mode 'kprobe' is not in the afpacket family");
    EXPECT_EQ(check_request(spec, {"afpacket", "afpacket"}), "");
}

TEST(Ladder, SetcapLineListsTheModesCapabilities) {
    ModeSpec m{"x",
               "ebpf",
               "",
               {},
               {Feature::CapBpf, Feature::CapPerfmon, Feature::KernelBtf, Feature::CapNetAdmin},
               {},
               ""};
    EXPECT_EQ(setcap_line(m, "/usr/sbin/tool"),
              "setcap cap_bpf,cap_perfmon,cap_net_admin+ep /usr/sbin/tool");
    ModeSpec none{"y", "ebpf", "", {}, {Feature::Fentry}, {}, ""};
    EXPECT_EQ(setcap_line(none, "/usr/sbin/tool"), "");
}

TEST(Features, NamesRoundTrip) {
    for (size_t i = 0; i < kFeatureCount; i++) {
        auto f = static_cast<Feature>(i);
        auto back = feature_from_name(feature_name(f));
        ASSERT_TRUE(back.has_value()) << feature_name(f);
        EXPECT_EQ(*back, f);
    }
    EXPECT_FALSE(feature_from_name("nonsense").has_value());
    EXPECT_EQ(errno_name(EPERM), "EPERM");
    EXPECT_EQ(errno_name(-ENOENT), "ENOENT");
    EXPECT_EQ(errno_name(524), "ENOTSUPP");
}

TEST(LogCapture, SummaryQuotesWhyNotThatLoadingFailed) {
    log::Capture c;
    c.append("libbpf: loading object 'netproc_bpf' from buffer\n");
    c.append(
        "libbpf: prog 'netproc_tp_send': failed to find kernel BTF type ID of 'sock_send_length': "
        "-3\n");
    c.append("libbpf: prog 'netproc_tp_send': failed to load: -3\n");
    c.append("libbpf: failed to load object 'netproc_bpf'\n");
    c.append("libbpf: failed to load BPF skeleton 'netproc_bpf': -3\n");
    EXPECT_EQ(
        c.summary(),
        "prog 'netproc_tp_send': failed to find kernel BTF type ID of 'sock_send_length': -3");
    log::Capture empty;
    EXPECT_EQ(empty.summary(), "");
    EXPECT_TRUE(
        log::is_memlock_hint("libbpf: permission error while running as root; try raising 'ulimit "
                             "-l'? current value: 8.0 MiB"));
    EXPECT_FALSE(
        log::is_memlock_hint("libbpf: prog 'x': BPF program load failed: Operation not permitted"));
}
