// Public address detection (README "Keeping the address current without a device"): reading
// echo bodies and whoami replies, which answer to believe, and the monitor's rounds with
// scripted sources on a real event loop.

#include <event2/event.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "event_loop_util.h"
#include "gateway/address/address_text.h"
#include "gateway/address/address_vote.h"
#include "gateway/address/public_address_monitor.h"
#include "gateway/address/whoami_reply.h"
#include "net/handles.h"

namespace dynamo::gateway {
namespace {

using ::testing::HasSubstr;

net::IpAddress ip(std::string_view text) {
    return *net::IpAddress::parse(text);
}

std::optional<std::string> echo(std::string_view body) {
    auto address = parseEchoBody(body);
    if (!address)
        return std::nullopt;
    return address->toString();
}

// ---- echo bodies ----

TEST(EchoBody, ReadsCheckipAndBareAddresses) {
    EXPECT_EQ(echo("<html><head><title>Current IP Check</title></head><body>Current IP Address: "
                   "93.184.216.34</body></html>\r\n"),
              "93.184.216.34");
    EXPECT_EQ(echo("Current IP Address: 1.2.3.4"), "1.2.3.4");
    EXPECT_EQ(echo("current ip address:1.2.3.4\n"), "1.2.3.4");
    EXPECT_EQ(echo("1.2.3.4\n"), "1.2.3.4");
    EXPECT_EQ(echo("  \t1.2.3.4\r\n"), "1.2.3.4");
}

TEST(EchoBody, RefusesOddBodies) {
    for (const std::string_view body : {
             "",
             "\n",
             "Current IP Address: ",
             "Current IP Address: 1.2.3.4.5",
             "Current IP Address: 256.1.1.1",
             "Current IP Address: 1.2.3.4x",
             "Current IP Address: 1.2.3.4:80",
             "Current IP Address: 01.2.3.4",
             "Current IP Address: 1.2.3.4 Current IP Address: 5.6.7.8",
             "1.2.3.4 5.6.7.8",
             "1.2.3",
             "2001:db8::1",
             "<html><body>502 Bad Gateway</body></html>",
         }) {
        SCOPED_TRACE(std::string(body));
        EXPECT_EQ(echo(body), std::nullopt);
    }
    EXPECT_EQ(echo(std::string_view("1.2.3.4\0x", 9)), std::nullopt);
}

TEST(EchoBody, LooksAtTheFirstFewKilobytesOnly) {
    std::string body(kMaxEchoBody, ' ');
    body += "Current IP Address: 1.2.3.4";
    EXPECT_EQ(echo(body), std::nullopt);
    std::string early = "Current IP Address: 1.2.3.4\n" + std::string(100000, 'x');
    EXPECT_EQ(echo(early), "1.2.3.4");
}

// ---- whoami replies ----

// A reply: header, the question, then answers whose owner points at the question.
std::vector<uint8_t> reply(uint8_t rcode, const std::vector<std::pair<uint16_t, std::string>>& rrs,
                           uint16_t rrClass = 1) {
    std::vector<uint8_t> out = {0x12, 0x34, 0x81, static_cast<uint8_t>(0x80 | rcode),
                                0,    1,    0,    static_cast<uint8_t>(rrs.size()),
                                0,    0,    0,    0};
    for (const char* label : {"myip", "example"}) {
        out.push_back(static_cast<uint8_t>(std::string_view(label).size()));
        out.insert(out.end(), label, label + std::string_view(label).size());
    }
    out.push_back(0);
    out.insert(out.end(), {0, 1, 0, static_cast<uint8_t>(rrClass)});
    for (const auto& [type, rdata] : rrs) {
        out.insert(out.end(),
                   {0xC0, 12, static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0,
                    static_cast<uint8_t>(rrClass), 0, 0, 0, 60,
                    static_cast<uint8_t>(rdata.size() >> 8), static_cast<uint8_t>(rdata.size())});
        out.insert(out.end(), rdata.begin(), rdata.end());
    }
    return out;
}

std::string txt(std::initializer_list<std::string_view> strings) {
    std::string rdata;
    for (auto s : strings) {
        rdata.push_back(static_cast<char>(s.size()));
        rdata += s;
    }
    return rdata;
}

TEST(WhoamiReply, ReadsAAndTxtAnswers) {
    auto a = parseWhoamiReply(reply(0, {{1, std::string("\x01\x02\x03\x04", 4)}}), 1);
    ASSERT_TRUE(a.address);
    EXPECT_EQ(a.address->toString(), "1.2.3.4");
    // Google adds an edns0-client-subnet string to some answers; Cloudflare answers in CH.
    auto google = parseWhoamiReply(
        reply(0, {{16, txt({"edns0-client-subnet 1.2.3.0/24"})}, {16, txt({"5.6.7.8"})}}), 16);
    ASSERT_TRUE(google.address);
    EXPECT_EQ(google.address->toString(), "5.6.7.8");
    auto cloudflare = parseWhoamiReply(reply(0, {{16, txt({"9.8.7.6"})}}, 3), 16);
    ASSERT_TRUE(cloudflare.address);
    EXPECT_EQ(cloudflare.address->toString(), "9.8.7.6");
    // A CNAME before the A record is skipped.
    auto chained =
        parseWhoamiReply(reply(0, {{5, "\xC0\x0C"}, {1, std::string("\x05\x06\x07\x08", 4)}}), 1);
    ASSERT_TRUE(chained.address);
    EXPECT_EQ(chained.address->toString(), "5.6.7.8");
}

TEST(WhoamiReply, ReportsWhatIsWrong) {
    EXPECT_EQ(parseWhoamiReply(reply(3, {}), 1).error, "NXDOMAIN");
    EXPECT_EQ(parseWhoamiReply(reply(5, {}), 16).error, "REFUSED");
    EXPECT_EQ(parseWhoamiReply(reply(0, {}), 1).error, "no answer of the type asked");
    EXPECT_EQ(parseWhoamiReply(reply(0, {{16, txt({"hello"})}}), 16).error,
              "the answer holds no IPv4 address");
    EXPECT_EQ(parseWhoamiReply(reply(0, {{1, "\x01\x02"}}), 1).error,
              "the answer holds no IPv4 address");
    // Truncated anywhere: never read past the end.
    const auto whole = reply(0, {{16, txt({"1.2.3.4"})}});
    for (size_t size = 0; size < whole.size(); ++size) {
        const auto cut = std::span<const uint8_t>(whole.data(), size);
        EXPECT_FALSE(parseWhoamiReply(cut, 16).address) << size;
    }
    // A TXT string longer than its record.
    EXPECT_FALSE(parseWhoamiReply(reply(0, {{16,
                                             "\x20"
                                             "1.2.3.4"}}),
                                  16)
                     .address);
}

// ---- which answer to believe ----

TEST(AddressVote, ClassifiesSpecialRanges) {
    EXPECT_EQ(classifyAddress(ip("1.2.3.4")), AddressClass::Public);
    EXPECT_EQ(classifyAddress(ip("10.1.2.3")), AddressClass::Private);
    EXPECT_EQ(classifyAddress(ip("172.31.255.1")), AddressClass::Private);
    EXPECT_EQ(classifyAddress(ip("172.32.0.1")), AddressClass::Public);
    EXPECT_EQ(classifyAddress(ip("192.168.0.1")), AddressClass::Private);
    EXPECT_EQ(classifyAddress(ip("100.64.0.1")), AddressClass::Shared);
    EXPECT_EQ(classifyAddress(ip("100.127.255.254")), AddressClass::Shared);
    EXPECT_EQ(classifyAddress(ip("100.128.0.1")), AddressClass::Public);
    EXPECT_EQ(classifyAddress(ip("169.254.1.1")), AddressClass::LinkLocal);
    EXPECT_EQ(classifyAddress(ip("127.0.0.1")), AddressClass::Loopback);
    EXPECT_EQ(classifyAddress(ip("192.0.2.1")), AddressClass::Other);
    EXPECT_EQ(classifyAddress(ip("2001:4860::1")), AddressClass::Other);
}

Voice voice(std::string kind, std::string source, std::optional<std::string_view> address) {
    return {std::move(kind), std::move(source),
            address ? std::optional(ip(*address)) : std::nullopt};
}

TEST(AddressVote, BelievesTwoAgreeingSources) {
    const auto verdict =
        decide({voice("router", "router", std::nullopt), voice("dns", "dns a", "1.2.3.4"),
                voice("http", "http b", "1.2.3.4")},
               3);
    ASSERT_TRUE(verdict.believed);
    EXPECT_EQ(verdict.believed->toString(), "1.2.3.4");
    EXPECT_EQ(verdict.agreeing, (std::vector<std::string>{"dns a", "http b"}));
    EXPECT_EQ(verdict.disagreement, "");
    EXPECT_EQ(verdict.cgnat, "");
}

TEST(AddressVote, OneVoiceIsNotEnoughUnlessItIsTheOnlySource) {
    EXPECT_FALSE(
        decide({voice("dns", "dns a", "1.2.3.4"), voice("http", "h", std::nullopt)}, 2).believed);
    EXPECT_TRUE(decide({voice("dns", "dns a", "1.2.3.4")}, 1).believed);
    // A device alone is not the configured source.
    EXPECT_FALSE(
        decide({voice("dns", "dns a", std::nullopt), voice("device", "d", "1.2.3.4")}, 1).believed);
    // A device's voice makes a second one.
    const auto withDevice =
        decide({voice("dns", "dns a", "1.2.3.4"), voice("device", "device cam", "1.2.3.4")}, 3);
    ASSERT_TRUE(withDevice.believed);
    EXPECT_EQ(withDevice.agreeing, (std::vector<std::string>{"dns a", "device cam"}));
}

TEST(AddressVote, DisagreementIsReportedAndATieBelievesNothing) {
    const auto tie =
        decide({voice("dns", "dns a", "1.2.3.4"), voice("http", "http b", "5.6.7.8")}, 2);
    EXPECT_FALSE(tie.believed);
    EXPECT_EQ(tie.disagreement, "1.2.3.4 (dns a) against 5.6.7.8 (http b)");
    const auto majority =
        decide({voice("dns", "dns a", "1.2.3.4"), voice("dns", "dns b", "5.6.7.8"),
                voice("http", "http c", "5.6.7.8")},
               3);
    ASSERT_TRUE(majority.believed);
    EXPECT_EQ(majority.believed->toString(), "5.6.7.8");
    EXPECT_EQ(majority.disagreement, "1.2.3.4 (dns a) against 5.6.7.8 (dns b, http c)");
}

TEST(AddressVote, NeverBelievesAPrivateAddressAndCallsItCarrierGradeNat) {
    const auto shared =
        decide({voice("dns", "dns a", "100.64.1.2"), voice("http", "http b", "100.64.1.2")}, 2);
    EXPECT_FALSE(shared.believed);
    EXPECT_THAT(shared.cgnat, HasSubstr("dns a sees 100.64.1.2, carrier-grade NAT (RFC 6598)"));
    const auto router =
        decide({voice("router", "router 192.168.1.1", "10.0.0.2"), voice("dns", "dns a", "1.2.3.4"),
                voice("http", "http b", "1.2.3.4")},
               3);
    ASSERT_TRUE(router.believed);
    EXPECT_EQ(router.believed->toString(), "1.2.3.4");
    EXPECT_EQ(router.cgnat, "the router's external address 10.0.0.2 is private (RFC 1918)");
    EXPECT_EQ(router.disagreement, "");  // a private answer is no rival
    const auto doubleNat =
        decide({voice("router", "router", "8.8.4.4"), voice("dns", "dns a", "1.2.3.4"),
                voice("http", "http b", "1.2.3.4")},
               3);
    EXPECT_EQ(doubleNat.believed->toString(), "1.2.3.4");
    EXPECT_THAT(doubleNat.cgnat, HasSubstr("differs from the address the Internet sees (1.2.3.4)"));
    const auto fine =
        decide({voice("router", "router", "1.2.3.4"), voice("dns", "dns a", "1.2.3.4")}, 3);
    EXPECT_EQ(fine.cgnat, "");
}

// ---- the monitor ----

// A source whose answers the test scripts; it answers from a deferred event like the real ones.
class ScriptedSource final : public AddressSource {
  public:
    ScriptedSource(event_base* base, std::string kind, std::string label, int* asked)
        : kind_(std::move(kind)), label_(std::move(label)), asked_(asked) {
        timer_.reset(evtimer_new(base, &ScriptedSource::onTimer, this));
    }
    std::string kind() const override { return kind_; }
    void ask(Done done) override {
        ++*asked_;
        done_ = std::move(done);
        const timeval soon{0, 1000};
        evtimer_add(timer_.get(), &soon);
    }
    std::optional<std::string> next;  // the address to answer, nullopt = fail

  private:
    static void onTimer(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<ScriptedSource*>(arg);
        AddressAnswer answer{self->label_, std::nullopt, "timeout"};
        if (self->next) {
            answer.address = ip(*self->next);
            answer.error.clear();
        }
        auto done = std::move(self->done_);
        done(answer);
    }
    std::string kind_, label_;
    int* asked_;
    Done done_;
    net::EventPtr timer_;
};

class MonitorTest : public ::testing::Test {
  protected:
    MonitorTest() : base_(event_base_new()) {}

    std::vector<std::unique_ptr<AddressSource>> sources(
        std::initializer_list<std::pair<std::string, std::optional<std::string>>> script) {
        std::vector<std::unique_ptr<AddressSource>> list;
        scripted_.clear();
        for (const auto& [kind, address] : script) {
            auto source = std::make_unique<ScriptedSource>(
                base_.get(), kind, kind + " " + std::to_string(list.size()), &asked_);
            source->next = address;
            scripted_.push_back(source.get());
            list.push_back(std::move(source));
        }
        return list;
    }

    PublicAddressMonitor::Hooks hooks() {
        return {[this](const net::IpAddress& address) { believed_.push_back(address.toString()); },
                [this](const std::string& reason) { cgnat_.push_back(reason); }};
    }

    net::EventBasePtr base_;
    std::vector<ScriptedSource*> scripted_;
    int asked_ = 0;
    std::vector<std::string> believed_;
    std::vector<std::string> cgnat_;
};

TEST_F(MonitorTest, AsksEverySourceInTurnAndBelievesTwoThatAgree) {
    PublicAddressMonitor monitor(base_.get(), hooks());
    monitor.configure(sources({{"router", std::nullopt}, {"dns", "1.2.3.4"}, {"http", "1.2.3.4"}}),
                      std::chrono::seconds(300));
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return monitor.state().rounds == 1; }));
    EXPECT_EQ(asked_, 3);
    EXPECT_EQ(believed_, (std::vector<std::string>{"1.2.3.4"}));
    const auto state = monitor.state();
    ASSERT_EQ(state.sources.size(), 3u);
    EXPECT_EQ(state.sources[0].error, "timeout");
    EXPECT_EQ(state.sources[1].address->toString(), "1.2.3.4");
    EXPECT_TRUE(state.sources[2].at);
    EXPECT_EQ(state.believed->toString(), "1.2.3.4");
    EXPECT_TRUE(cgnat_.empty());
}

TEST_F(MonitorTest, AskingAgainWaitsAMinuteAfterTheLastRound) {
    PublicAddressMonitor monitor(base_.get(), hooks());
    monitor.configure(sources({{"dns", "1.2.3.4"}, {"http", "1.2.3.4"}}), std::chrono::seconds(60));
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return monitor.state().rounds == 1; }));
    monitor.askSoon();
    monitor.askSoon();
    // A reload that changes the sources is bound the same way.
    monitor.configure(sources({{"dns", "5.6.7.8"}, {"http", "5.6.7.8"}}), std::chrono::seconds(60));
    EXPECT_FALSE(test::runUntil(
        base_.get(), [&] { return asked_ > 2; }, std::chrono::milliseconds(300)));
    EXPECT_EQ(asked_, 2);
}

TEST_F(MonitorTest, DisagreementIsShownAndADeviceCanSettleIt) {
    PublicAddressMonitor monitor(base_.get(), hooks());
    monitor.configure(sources({{"dns", "1.2.3.4"}, {"http", "5.6.7.8"}}),
                      std::chrono::seconds(300));
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return monitor.state().rounds == 1; }));
    EXPECT_FALSE(monitor.state().believed);
    EXPECT_EQ(monitor.state().disagreement, "1.2.3.4 (dns 0) against 5.6.7.8 (http 1)");
    EXPECT_EQ(monitor.state().disagreements, 1u);
    monitor.deviceReported("192.168.1.20", ip("10.0.0.1"));  // private: no voice
    EXPECT_TRUE(believed_.empty());
    monitor.deviceReported("192.168.1.20", ip("5.6.7.8"));
    EXPECT_EQ(believed_, (std::vector<std::string>{"5.6.7.8"}));
}

TEST_F(MonitorTest, CarrierGradeNatIsReportedOnceAndNeverBelieved) {
    PublicAddressMonitor monitor(base_.get(), hooks());
    monitor.configure(sources({{"dns", "100.64.3.4"}, {"http", "100.64.3.4"}}),
                      std::chrono::seconds(60));
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return monitor.state().rounds == 1; }));
    EXPECT_TRUE(believed_.empty());
    ASSERT_EQ(cgnat_.size(), 1u);
    EXPECT_THAT(cgnat_[0], HasSubstr("100.64.3.4"));
    EXPECT_THAT(monitor.state().cgnat, HasSubstr("carrier-grade NAT"));
    monitor.deviceReported("cam", ip("1.2.3.4"));  // one voice is not enough
    EXPECT_TRUE(believed_.empty());
    EXPECT_EQ(cgnat_.size(), 1u);
}

TEST_F(MonitorTest, DestroyingTheMonitorMidRoundCallsNothing) {
    {
        PublicAddressMonitor monitor(base_.get(), hooks());
        monitor.configure(sources({{"dns", "1.2.3.4"}, {"http", "1.2.3.4"}}),
                          std::chrono::seconds(60));
        event_base_loop(base_.get(), EVLOOP_NONBLOCK);
    }
    EXPECT_FALSE(test::runUntil(
        base_.get(), [&] { return !believed_.empty(); }, std::chrono::milliseconds(100)));
}

}  // namespace
}  // namespace dynamo::gateway
