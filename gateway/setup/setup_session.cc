#include "gateway/setup/setup_session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "compat/form.h"

namespace dynamo::gateway {

const SetupSessions::Session& SetupSessions::open(bool loggedIn, TimePoint now) {
    makeRoom(now);
    Session session;
    session.id = random_();
    session.csrf = random_();
    session.loggedIn = loggedIn;
    session.expires = now + kLifetime;
    const std::string id = session.id;
    return sessions_.insert_or_assign(id, std::move(session)).first->second;
}

const SetupSessions::Session* SetupSessions::find(std::string_view id, TimePoint now) {
    const auto it = sessions_.find(id);
    if (it == sessions_.end())
        return nullptr;
    if (it->second.expires <= now) {
        sessions_.erase(it);
        return nullptr;
    }
    return &it->second;
}

void SetupSessions::close(std::string_view id) {
    const auto it = sessions_.find(id);
    if (it != sessions_.end())
        sessions_.erase(it);
}

void SetupSessions::makeRoom(TimePoint now) {
    std::erase_if(sessions_, [&](const auto& entry) { return entry.second.expires <= now; });
    while (sessions_.size() >= kMaxSessions) {
        // Sessions share one lifetime: the soonest to expire is the oldest.
        auto victim = sessions_.end();
        for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
            const bool better = victim == sessions_.end() ||
                                (!it->second.loggedIn && victim->second.loggedIn) ||
                                (it->second.loggedIn == victim->second.loggedIn &&
                                 it->second.expires < victim->second.expires);
            if (better)
                victim = it;
        }
        sessions_.erase(victim);
    }
}

std::string randomHex128() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char byte : bytes) {
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
    }
    return out;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string cookieValue(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        const size_t end = std::min(header.find(';'), header.size());
        std::string_view pair = header.substr(0, end);
        header.remove_prefix(std::min(end + 1, header.size()));
        while (!pair.empty() && pair.front() == ' ')
            pair.remove_prefix(1);
        const size_t equals = pair.find('=');
        if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
            std::string_view value = pair.substr(equals + 1);
            while (!value.empty() && value.back() == ' ')
                value.remove_suffix(1);
            return std::string(value);
        }
    }
    return {};
}

std::string sessionCookie(std::string_view id, std::chrono::seconds maxAge) {
    return std::string(kSetupCookieName) + "=" + std::string(id) +
           "; Path=/setup; HttpOnly; SameSite=Strict; Max-Age=" +
           std::to_string(id.empty() ? 0 : maxAge.count());
}

std::map<std::string, std::string, std::less<>> parseForm(std::string_view body) {
    std::map<std::string, std::string, std::less<>> fields;
    while (!body.empty()) {
        const size_t end = std::min(body.find('&'), body.size());
        const std::string_view pair = body.substr(0, end);
        body.remove_prefix(std::min(end + 1, body.size()));
        if (pair.empty())
            continue;
        const size_t equals = pair.find('=');
        std::string name = compat::formDecode(pair.substr(0, equals));
        std::string value = equals == std::string_view::npos
                                ? std::string()
                                : compat::formDecode(pair.substr(equals + 1));
        fields.emplace(std::move(name), std::move(value));
    }
    return fields;
}

}  // namespace dynamo::gateway
