#include "tests/emulator/token_service.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <utility>

namespace dynamo::emulator {
namespace {

struct ModeName {
    std::string_view name;
    Mode mode;
};
constexpr ModeName kModeNames[] = {
    {"ok", Mode::Ok},           {"nr", Mode::Nr},     {"nd", Mode::Nd},
    {"er", Mode::Er},           {"uper", Mode::UpEr}, {"http500", Mode::Http500},
    {"garbage", Mode::Garbage}, {"slow", Mode::Slow}, {"drop", Mode::Drop},
};

std::optional<double> parseSeconds(std::string_view text) {
    double value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || ptr != end || !std::isfinite(value) || value < 0 || value > 3600) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::optional<ModeSpec> parseMode(std::string_view text) {
    std::string_view name = text;
    std::optional<std::string_view> argument;
    if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
        name = text.substr(0, colon);
        argument = text.substr(colon + 1);
    }
    for (const auto& entry : kModeNames) {
        if (entry.name != name)
            continue;
        ModeSpec spec{entry.mode, 0};
        if (entry.mode != Mode::Slow) {
            if (argument)
                return std::nullopt;
            return spec;
        }
        spec.delaySeconds = kDefaultSlowSeconds;
        if (argument) {
            auto seconds = parseSeconds(*argument);
            if (!seconds)
                return std::nullopt;
            spec.delaySeconds = *seconds;
        }
        return spec;
    }
    return std::nullopt;
}

std::string modeName(const ModeSpec& spec) {
    for (const auto& entry : kModeNames) {
        if (entry.mode != spec.mode)
            continue;
        std::string name(entry.name);
        if (spec.mode == Mode::Slow) {
            std::ostringstream seconds;
            seconds << spec.delaySeconds;
            name += ":" + seconds.str();
        }
        return name;
    }
    return "?";
}

bool isDottedIpv4(std::string_view text) {
    int parts = 0;
    size_t pos = 0;
    while (true) {
        const size_t dot = text.find('.', pos);
        const std::string_view part =
            text.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0'))
            return false;
        unsigned value = 0;
        auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (error != std::errc() || end != part.data() + part.size() || value > 255)
            return false;
        ++parts;
        if (dot == std::string_view::npos)
            break;
        pos = dot + 1;
    }
    return parts == 4;
}

void TokenService::setToken(const std::string& token, const ModeSpec& mode) {
    tokens_[token].mode = mode;
}

void TokenService::setAddress(const std::string& token, const std::string& address) {
    tokens_[token].address = address;
}

void TokenService::clearWindows() {
    for (auto& [token, state] : tokens_)
        state.lastCall.reset();
}

void TokenService::clearAddresses() {
    for (auto& [token, state] : tokens_)
        state.address.reset();
}

Outcome TokenService::handle(const Call& call) {
    auto answer = [](std::string code) { return Outcome{Action::Answer, std::move(code), 0}; };

    if (call.token.size() != kTokenLength || call.token.find('/') != std::string_view::npos) {
        return answer("NT");
    }
    auto found = tokens_.find(std::string(call.token));
    TokenState* state = found == tokens_.end() ? nullptr : &found->second;
    const Mode mode = state ? state->mode.mode : Mode::Nr;
    switch (mode) {
        case Mode::Http500:
            return Outcome{Action::Http500, "", 0};
        case Mode::Garbage:
            return Outcome{Action::Garbage, "hello", 0};
        case Mode::Drop:
            return Outcome{Action::Drop, "", 0};
        default:
            break;
    }
    const double delay = mode == Mode::Slow ? state->mode.delaySeconds : 0;
    auto delayed = [delay](std::string code) { return Outcome{Action::Answer, code, delay}; };

    // Only a token the service knows has a window to restart (see the header).
    const bool known = mode != Mode::Nr;
    std::optional<double> previous;
    if (known)
        previous = std::exchange(state->lastCall, call.now);

    if (call.ip && !isDottedIpv4(*call.ip))
        return delayed("IN");
    if (!known)
        return delayed("NR");
    if (mode == Mode::Er)
        return delayed("ER");
    if (mode == Mode::Nd)
        return delayed("ND");
    if (previous && call.now - *previous < window_)
        return delayed("TF");

    std::string address;
    if (call.ip) {
        address = *call.ip;
    } else {
        const net::IpAddress source = call.source.unmapped();
        // The service is IPv4-only; an IPv6 source without `ip` has nothing it could store.
        if (!source.isV4())
            return delayed("ER");
        address = source.toString();
    }
    if (state->address == address)
        return delayed("NC");
    state->address = address;
    return delayed(mode == Mode::UpEr ? "UP,ER" : "UP,OK");
}

}  // namespace dynamo::emulator
