#include "gateway/auth_throttle.h"

#include <gtest/gtest.h>

namespace dynamo::gateway {
namespace {

using std::chrono::milliseconds;

const net::IpAddress kDevice = *net::IpAddress::parse("192.168.1.50");
const net::IpAddress kOther = *net::IpAddress::parse("192.168.1.51");

TEST(AuthThrottle, TheFirstFailuresAreFreeThenTheDelayDoublesUpToTheBound) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    std::vector<milliseconds> delays;
    for (int i = 0; i < 10; ++i)
        delays.push_back(throttle.failed(kDevice, now));
    EXPECT_EQ(delays, (std::vector<milliseconds>{
                          milliseconds(0), milliseconds(0), milliseconds(0), milliseconds(250),
                          milliseconds(500), milliseconds(1000), milliseconds(2000),
                          milliseconds(4000), milliseconds(8000), milliseconds(8000)}));
}

TEST(AuthThrottle, SourcesAreCountedApartAndSuccessForgets) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (int i = 0; i < 4; ++i)
        throttle.failed(kDevice, now);
    EXPECT_EQ(throttle.failed(kOther, now), milliseconds(0));
    throttle.succeeded(kDevice);
    EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(0));
}

TEST(AuthThrottle, AQuietWhileForgets) {
    AuthThrottle throttle;
    AuthThrottle::TimePoint now{};
    for (int i = 0; i < 5; ++i)
        throttle.failed(kDevice, now);
    now += AuthThrottle::kForgetAfter + std::chrono::seconds(1);
    EXPECT_EQ(throttle.failed(kDevice, now), milliseconds(0));
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
