#include "gateway/http/auth_throttle.h"

#include <algorithm>

namespace dynamo::gateway {
namespace {

std::chrono::milliseconds remaining(AuthThrottle::TimePoint until, AuthThrottle::TimePoint now) {
    // Rounded up: a hold of 0.4 ms is still a hold.
    return std::chrono::ceil<std::chrono::milliseconds>(until - now);
}

}  // namespace

std::optional<std::chrono::milliseconds> AuthThrottle::holding(const net::IpAddress& source,
                                                               TimePoint now) const {
    const auto it = sources_.find(source.toString());
    if (it == sources_.end() || now >= it->second.holdUntil)
        return std::nullopt;
    return remaining(it->second.holdUntil, now);
}

std::chrono::milliseconds AuthThrottle::failed(const net::IpAddress& source, TimePoint now) {
    const std::string key = source.toString();
    auto it = sources_.find(key);
    if (it != sources_.end() && now - it->second.last > kForgetAfter &&
        now >= it->second.holdUntil) {
        sources_.erase(it);
        it = sources_.end();
    }
    if (it == sources_.end()) {
        if (sources_.size() >= kMaxSources) {
            auto stalest = std::min_element(
                sources_.begin(), sources_.end(),
                [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
            sources_.erase(stalest);
        }
        it = sources_.emplace(key, Source{}).first;
    }
    Source& state = it->second;
    if (state.failures < UINT32_MAX)
        ++state.failures;
    state.last = now;
    if (now < state.holdUntil)
        return remaining(state.holdUntil, now);
    if (state.failures <= kFreeFailures)
        return std::chrono::milliseconds(0);
    // 250 ms, 500 ms, 1 s, … doubling up to kMaxDelay.
    const uint32_t doublings = std::min<uint32_t>(state.failures - kFreeFailures - 1, 10);
    const auto delay = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(250) * (1u << doublings), kMaxDelay);
    state.holdUntil = now + delay;
    return delay;
}

void AuthThrottle::holdAnswered(const net::IpAddress& source, TimePoint now) {
    const auto it = sources_.find(source.toString());
    if (it != sources_.end())
        it->second.holdUntil = std::min(it->second.holdUntil, now);
}

void AuthThrottle::succeeded(const net::IpAddress& source, TimePoint now) {
    const auto it = sources_.find(source.toString());
    if (it != sources_.end() && now >= it->second.holdUntil)
        sources_.erase(it);
}

uint32_t AuthThrottle::failures(const net::IpAddress& source) const {
    const auto it = sources_.find(source.toString());
    return it == sources_.end() ? 0 : it->second.failures;
}

}  // namespace dynamo::gateway
