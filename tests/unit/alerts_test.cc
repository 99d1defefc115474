// Alerts (README "Alerts"): payloads, environment, filters, the rate limit, retry back-off and
// the dns_down watch, with time passed in.

#include <gtest/gtest.h>

#include "config/config.h"
#include "gateway/alerts/alert_event.h"
#include "gateway/alerts/alert_policy.h"

namespace dynamo::gateway {
namespace {

using namespace std::chrono_literals;

AlertEvent sample() {
    AlertEvent event;
    event.kind = AlertKind::Changed;
    event.account = "router";
    event.message = "now \"192.0.2.7\"\n";
    event.time = std::chrono::system_clock::time_point(std::chrono::seconds(1714566896));
    event.fields = {{"address", "192.0.2.7"}};
    return event;
}

TEST(AlertEvent, WebhookBodyIsJsonWithTheAgreedFields) {
    EXPECT_EQ(webhookBody(sample()),
              "{\"event\": \"changed\", \"account\": \"router\", \"message\": "
              "\"now \\\"192.0.2.7\\\"\\n\", \"time\": \"2024-05-01T12:34:56Z\", "
              "\"address\": \"192.0.2.7\"}\n");
}

TEST(AlertEvent, ExecEnvironmentCarriesTheSameFields) {
    EXPECT_EQ(
        execEnvironment(sample()),
        (std::vector<std::string>{"DYNAMO_EVENT=changed", "DYNAMO_ACCOUNT=router",
                                  "DYNAMO_MESSAGE=now \"192.0.2.7\"\n",
                                  "DYNAMO_TIME=2024-05-01T12:34:56Z", "DYNAMO_ADDRESS=192.0.2.7"}));
}

TEST(AlertEvent, NtfyTitleIsAPrintableHeaderValue) {
    AlertEvent event = sample();
    event.account = "a\r\nX-Injected: 1";
    EXPECT_EQ(ntfyTitle(event), "dynamo-gateway: changed (a??X-Injected: 1)");
}

TEST(AlertEvent, FiltersTakeNamedEventsAndTestGoesEverywhere) {
    config::AlertChannel channel;
    EXPECT_TRUE(channelWants(channel, AlertKind::DnsDown));
    channel.events = {"changed", "cgnat"};
    EXPECT_TRUE(channelWants(channel, AlertKind::Changed));
    EXPECT_TRUE(channelWants(channel, AlertKind::Cgnat));
    EXPECT_FALSE(channelWants(channel, AlertKind::Failing));
    EXPECT_TRUE(channelWants(channel, AlertKind::Test));
    for (const std::string_view name : config::kAlertEventNames)
        EXPECT_EQ(alertKindName(*parseAlertKind(name)), name);
}

TEST(AlertEvent, ChannelLabelHidesTheUrlPath) {
    config::AlertChannel channel;
    channel.url = "https://hooks.example.net/services/T000/SECRET";
    EXPECT_EQ(channelLabel(channel), "webhook https://hooks.example.net/…");
    channel.type = config::AlertChannel::Type::Exec;
    channel.command = "/usr/local/bin/on-event";
    EXPECT_EQ(channelLabel(channel), "exec /usr/local/bin/on-event");
}

TEST(AlertPolicy, RateLimitPerKindAndAccountAndPerHour) {
    AlertRateLimiter limiter(10min, 3);
    const AlertRateLimiter::Clock::time_point t0{1h};
    AlertEvent event = sample();
    EXPECT_TRUE(limiter.admit(event, t0));
    EXPECT_FALSE(limiter.admit(event, t0 + 9min));  // flapping: held back
    event.account = "camera";
    EXPECT_TRUE(limiter.admit(event, t0 + 9min));  // another account
    event.kind = AlertKind::Failing;
    EXPECT_TRUE(limiter.admit(event, t0 + 9min));
    event.kind = AlertKind::DnsDown;
    EXPECT_FALSE(limiter.admit(event, t0 + 9min));  // 3 in this hour already
    AlertEvent test = sample();
    test.kind = AlertKind::Test;
    EXPECT_TRUE(limiter.admit(test, t0 + 9min));        // never limited
    EXPECT_TRUE(limiter.admit(event, t0 + 61min));      // the hour has moved on
    EXPECT_FALSE(limiter.admit(sample(), t0 + 62min));  // quiet period over, hour full
    EXPECT_TRUE(limiter.admit(sample(), t0 + 70min));   // the 9-minute ones have aged out
}

TEST(AlertPolicy, RetryDelayDoublesUpToTheCap) {
    EXPECT_EQ(alertRetryDelay(1), 5s);
    EXPECT_EQ(alertRetryDelay(2), 10s);
    EXPECT_EQ(alertRetryDelay(4), 40s);
    EXPECT_EQ(alertRetryDelay(30), kAlertMaxRetry);
}

TEST(AlertPolicy, DnsDownOnlyAfterFailuresWithNoAnswerForTheWholePeriod) {
    DnsDownWatch watch;
    const DnsDownWatch::Clock::time_point t0{1h};
    EXPECT_FALSE(watch.observe(10, 0, 0, t0, 120s));       // answers
    EXPECT_FALSE(watch.observe(12, 2, 0, t0 + 5s, 120s));  // failing from here
    EXPECT_FALSE(watch.observe(14, 4, 0, t0 + 100s, 120s));
    EXPECT_TRUE(watch.observe(16, 6, 0, t0 + 125s, 120s));  // raised once
    EXPECT_FALSE(watch.observe(18, 8, 0, t0 + 300s, 120s));
    EXPECT_FALSE(watch.observe(19, 8, 0, t0 + 305s, 120s));  // an answer ends it
    EXPECT_FALSE(watch.down());
    EXPECT_FALSE(watch.observe(20, 9, 0, t0 + 310s, 120s));
    EXPECT_TRUE(watch.observe(21, 10, 0, t0 + 431s, 120s));  // a new outage
}

TEST(AlertPolicy, FailingOncePerQueuedUpdate) {
    FailingWatch watch;
    UpdateScheduler::AccountStatus account;
    account.username = "router";
    const TimePoint t0{std::chrono::seconds(1'700'000'000)};
    account.queued = QueuedUpdate{std::nullopt, t0, 3, t0};
    EXPECT_TRUE(watch.check({account}, t0 + 29min, 30min).empty());
    const auto events = watch.check({account}, t0 + 30min, 30min);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, AlertKind::Failing);
    EXPECT_EQ(events[0].account, "router");
    EXPECT_TRUE(watch.check({account}, t0 + 40min, 30min).empty());
    account.queued->acceptedAt = t0 + 35min;  // a newer update
    EXPECT_EQ(watch.check({account}, t0 + 70min, 30min).size(), 1u);
}

}  // namespace
}  // namespace dynamo::gateway
