#include "gateway/http/auth_throttle.h"

#include <gtest/gtest.h>

namespace dynamo::gateway {
namespace {

using std::chrono::milliseconds;

const net::IpAddress kDevice = *net::IpAddress::parse("192.168.1.50");
const net::IpAddress kOther = *net::IpAddress::parse("192.168.1.51");

TEST(AuthThrottle, TheFirstFailuresAreFreeThenTheHoldDoublesUpToTheBound) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    std::vector<milliseconds> delays;
    for (int i = 0; i < 10; ++i) {
        delays.push_back(throttle.failed(kDevice, now));
        now += delays.back();  // a client that waits for each answer before the next guess
    }
    EXPECT_EQ(delays, (std::vector<milliseconds>{
                          milliseconds(0), milliseconds(0), milliseconds(0), milliseconds(250),
                          milliseconds(500), milliseconds(1000), milliseconds(2000),
                          milliseconds(4000), milliseconds(8000), milliseconds(8000)}));
}

// N parallel connections must not get N guesses per hold: during the hold nothing is checked,
// every request waits for the end of the same hold, and each counts as a failure.
TEST(AuthThrottle, RequestsDuringAHoldWaitForItsEndAndCount) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (int i = 0; i < 3; ++i)
        EXPECT_FALSE(throttle.holding(kDevice, now));
    for (int i = 0; i < 3; ++i)
        throttle.failed(kDevice, now);
    EXPECT_FALSE(throttle.holding(kDevice, now)) << "the free failures hold nothing";
    EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(250));
    now += milliseconds(100);
    ASSERT_TRUE(throttle.holding(kDevice, now));
    EXPECT_EQ(*throttle.holding(kDevice, now), milliseconds(150));
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(150)) << "not extended";
    EXPECT_EQ(throttle.failures(kDevice), 24u);
    now += milliseconds(150);
    EXPECT_FALSE(throttle.holding(kDevice, now));
    EXPECT_EQ(throttle.failed(kDevice, now), AuthThrottle::kMaxDelay)
        << "the parallel guesses counted: the next hold is the longest";
}

// The timer that sends a held answer may run a few milliseconds ahead of the steady clock
// (libevent's cached, coarse time). The hold ends when its answer goes out: the client's next
// guess is checked and starts the next, longer hold, not the rest of the old one.
TEST(AuthThrottle, AHoldEndsWhenItsAnswerGoesOut) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (int i = 0; i < 3; ++i)
        throttle.failed(kDevice, now);
    EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(250));
    now += milliseconds(248);  // the answer's timer fired 2 ms early by this clock
    throttle.holdAnswered(kDevice, now);
    EXPECT_FALSE(throttle.holding(kDevice, now));
    EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(500));
    throttle.holdAnswered(kOther, now);  // a source never seen: nothing to end
    EXPECT_FALSE(throttle.holding(kOther, now));
}

TEST(AuthThrottle, ASuccessForgetsOnlyOutsideAHold) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (int i = 0; i < 4; ++i)
        throttle.failed(kDevice, now);
    throttle.succeeded(kDevice, now);  // inside the 250 ms hold: nothing changes
    EXPECT_TRUE(throttle.holding(kDevice, now));
    EXPECT_EQ(throttle.failures(kDevice), 4u);
    now += milliseconds(250);
    throttle.succeeded(kDevice, now);
    EXPECT_EQ(throttle.failures(kDevice), 0u);
    EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(0));
}

TEST(AuthThrottle, SourcesAreCountedApart) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (int i = 0; i < 4; ++i)
        throttle.failed(kDevice, now);
    EXPECT_TRUE(throttle.holding(kDevice, now));
    EXPECT_FALSE(throttle.holding(kOther, now));
    EXPECT_EQ(throttle.failed(kOther, now), milliseconds(0));
    EXPECT_EQ(throttle.failures(kOther), 1u);
}

TEST(AuthThrottle, AQuietWhileForgets) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (int i = 0; i < 5; ++i)
        throttle.failed(kDevice, now);
    now += AuthThrottle::kForgetAfter + std::chrono::seconds(1);
    EXPECT_FALSE(throttle.holding(kDevice, now));
    EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(0));
    EXPECT_EQ(throttle.failures(kDevice), 1u);
}

TEST(AuthThrottle, TrackedSourcesAreBounded) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (uint32_t i = 0; i < AuthThrottle::kMaxSources + 100; ++i) {
        in_addr address{htonl(0x0a000000u + i)};
        throttle.failed(net::IpAddress::fromV4(address), now + std::chrono::seconds(i));
    }
    EXPECT_EQ(throttle.tracked(), AuthThrottle::kMaxSources);
}

}  // namespace
}  // namespace dynamo::gateway
