#include "gateway/auth_throttle.h"

#include <algorithm>

namespace dynamo::gateway {

std::chrono::milliseconds AuthThrottle::failed(const net::IpAddress& source, TimePoint now) {
    const std::string key = source.toString();
    auto it = sources_.find(key);
    if (it != sources_.end() && now - it->second.last > kForgetAfter) {
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
    ++state.failures;
    state.last = now;
    if (state.failures <= kFreeFailures)
        return std::chrono::milliseconds(0);
    // 250 ms, 500 ms, 1 s, … doubling up to kMaxDelay.
    const uint32_t doublings = std::min<uint32_t>(state.failures - kFreeFailures - 1, 10);
    const auto delay = std::chrono::milliseconds(250) * (1u << doublings);
    return std::min<std::chrono::milliseconds>(delay, kMaxDelay);
}

}  // namespace dynamo::gateway
