#include "gateway/updates/state_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "net/atomic_file.h"
#include "net/error_text.h"
#include "net/handles.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

using std::chrono::seconds;

constexpr int kFormatVersion = 1;
// Unix seconds up to the year 2255: anything outside is damage, not a time. TimePoint counts
// nanoseconds in 64 bits and ends in 2262; later values would overflow converting.
constexpr int64_t kMaxUnixSeconds = 9'000'000'000;
constexpr size_t kMaxResultLength = 32;
// kMaxTokens entries of a few hundred bytes each, with room to spare.
constexpr size_t kMaxFileSize = 4 * 1024 * 1024;
// Nothing the scheduler writes waits longer than its longest retry delay, one hour; a day
// leaves room for a larger min_interval and still bounds a damaged value.
constexpr auto kMaxAhead = StateStore::kMaxAhead;

// Rounded up: a last_call read back after a restart must never open the window early.
int64_t toUnix(TimePoint time) {
    return std::chrono::ceil<seconds>(time.time_since_epoch()).count();
}

TimePoint fromUnix(int64_t value) {
    return TimePoint(seconds(value));
}

std::optional<int64_t> readInteger(const YAML::Node& node) {
    if (!node || !node.IsScalar())
        return std::nullopt;
    try {
        return node.as<int64_t>();
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
}

std::optional<TimePoint> readTime(const YAML::Node& node, TimePoint now) {
    const std::optional<int64_t> value = readInteger(node);
    if (!value || *value < 0 || *value > kMaxUnixSeconds)
        return std::nullopt;
    // Up to a day in the future: the clock is behind (see load()); believed. Further: a bogus
    // clock or damage, treated as now so the window it implies is one min_interval away.
    const TimePoint time = fromUnix(*value);
    return time > now + kMaxAhead ? now : time;
}

uint32_t readCounter(const YAML::Node& node) {
    const std::optional<int64_t> value = readInteger(node);
    if (!value || *value < 0)
        return 0;
    return static_cast<uint32_t>(std::min<int64_t>(*value, StateStore::kMaxCounter));
}

std::optional<std::string> readString(const YAML::Node& node) {
    if (!node || !node.IsScalar())
        return std::nullopt;
    return node.Scalar();
}

bool isResultText(std::string_view text) {
    if (text.size() > kMaxResultLength)
        return false;
    for (const char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == ',' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool isTokenKey(std::string_view key) {
    if (key.size() != 64)
        return false;
    for (const char c : key) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

std::optional<QueuedUpdate> readQueued(const YAML::Node& node, TimePoint now) {
    if (!node || !node.IsMap())
        return std::nullopt;
    QueuedUpdate queued;
    const std::optional<std::string> ip = readString(node["ip"]);
    if (!ip)
        return std::nullopt;
    if (*ip != "none") {
        queued.ip = net::IpAddress::parse(*ip);
        // Guessing "no ip" for an address we cannot read could publish the wrong one.
        if (!queued.ip)
            return std::nullopt;
    }
    queued.acceptedAt = readTime(node["accepted_at"], now).value_or(now);
    queued.attempts = readCounter(node["attempts"]);
    const std::optional<int64_t> next = readInteger(node["next_attempt"]);
    queued.nextAttempt = now;
    if (next && *next >= 0 && *next <= kMaxUnixSeconds)
        queued.nextAttempt = std::min(fromUnix(*next), now + kMaxAhead);
    return queued;
}

TokenState readToken(const YAML::Node& node, TimePoint now) {
    TokenState state;
    state.lastCall = readTime(node["last_call"], now);
    if (const auto result = readString(node["last_result"]); result && isResultText(*result))
        state.lastResult = *result;
    if (const auto ip = readString(node["confirmed_ip"]))
        state.confirmedIp = net::IpAddress::parse(*ip);
    state.changedAt = readTime(node["changed_at"], now);
    state.consecutiveMissing = readCounter(node["consecutive_missing"]);
    state.queued = readQueued(node["queued"], now);
    return state;
}

// Parses the whole file; nullopt (with *problem) when it is not what save() writes.
std::optional<TokenStates> parseState(const std::string& text, TimePoint now,
                                      std::string* problem) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        *problem = e.what();
        return std::nullopt;
    }
    if (!root.IsMap()) {
        *problem = "not a YAML mapping";
        return std::nullopt;
    }
    if (readInteger(root["version"]) != kFormatVersion) {
        *problem = "no \"version: 1\"";
        return std::nullopt;
    }
    const YAML::Node tokens = root["tokens"];
    TokenStates states;
    if (!tokens || tokens.IsNull())
        return states;
    if (!tokens.IsMap()) {
        *problem = "\"tokens\" is not a mapping";
        return std::nullopt;
    }
    for (const auto& entry : tokens) {
        if (states.size() >= StateStore::kMaxTokens)
            break;
        const std::optional<std::string> key = readString(entry.first);
        if (!key || !isTokenKey(*key) || !entry.second.IsMap())
            continue;
        states[*key] = readToken(entry.second, now);
    }
    return states;
}

std::string emit(const TokenStates& states) {
    YAML::Emitter out;
    out << YAML::Comment(
        "Dynamo Gateway update state, rewritten on every change. Tokens are "
        "keyed by their SHA-256.");
    out << YAML::BeginMap;
    out << YAML::Key << "version" << YAML::Value << kFormatVersion;
    out << YAML::Key << "tokens" << YAML::Value << YAML::BeginMap;
    for (const auto& [key, state] : states) {
        out << YAML::Key << key << YAML::Value << YAML::BeginMap;
        if (state.lastCall)
            out << YAML::Key << "last_call" << YAML::Value << toUnix(*state.lastCall);
        if (!state.lastResult.empty())
            out << YAML::Key << "last_result" << YAML::Value << YAML::DoubleQuoted
                << state.lastResult;
        if (state.confirmedIp)
            out << YAML::Key << "confirmed_ip" << YAML::Value << state.confirmedIp->toString();
        if (state.changedAt)
            out << YAML::Key << "changed_at" << YAML::Value << toUnix(*state.changedAt);
        out << YAML::Key << "consecutive_missing" << YAML::Value << state.consecutiveMissing;
        if (const auto& queued = state.queued) {
            out << YAML::Key << "queued" << YAML::Value << YAML::BeginMap;
            out << YAML::Key << "ip" << YAML::Value
                << (queued->ip ? queued->ip->toString() : std::string("none"));
            out << YAML::Key << "accepted_at" << YAML::Value << toUnix(queued->acceptedAt);
            out << YAML::Key << "attempts" << YAML::Value << queued->attempts;
            out << YAML::Key << "next_attempt" << YAML::Value << toUnix(queued->nextAttempt);
            out << YAML::EndMap;
        }
        out << YAML::EndMap;
    }
    out << YAML::EndMap << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

}  // namespace

std::string tokenKey(std::string_view token) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(token.data(), token.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
        1) {
        // SHA-256 is always available in OpenSSL 3's default provider; losing it is a broken
        // installation, not something to limp along with.
        DLOG(Error) << "SHA-256 unavailable in OpenSSL";
        std::abort();
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string key;
    key.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        key.push_back(kHex[digest[i] >> 4]);
        key.push_back(kHex[digest[i] & 0x0f]);
    }
    return key;
}

StateStore::StateStore(std::string stateDir, WallClock clock)
    : stateDir_(std::move(stateDir)),
      path_(stateDir_ + "/" + std::string(kFileName)),
      clock_(std::move(clock)) {}

TokenStates StateStore::load() {
    std::string text;
    {
        net::UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd) {
            if (errno != ENOENT) {
                DLOG(Error) << net::fileErrorText("cannot read", path_)
                            << "; starting with no saved state";
            }
            return {};
        }
        std::array<char, 8192> buffer{};
        for (;;) {
            const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                DLOG(Error) << net::fileErrorText("cannot read", path_)
                            << "; starting with no saved state";
                return {};
            }
            if (n == 0 || text.size() > kMaxFileSize)
                break;
            text.append(buffer.data(), static_cast<size_t>(n));
        }
    }
    const TimePoint now = clock_();
    std::string problem = "larger than any state this daemon writes";
    if (text.size() <= kMaxFileSize) {
        if (std::optional<TokenStates> states = parseState(text, now, &problem))
            return std::move(*states);
    }

    // Kept for a post-mortem rather than deleted; the daemon must start regardless.
    const std::string aside = path_ + ".corrupt-" + std::to_string(toUnix(now));
    if (::rename(path_.c_str(), aside.c_str()) == 0) {
        DLOG(Error) << "state file " << path_ << " is damaged (" << problem << "); moved it to "
                    << aside << " and starting with no saved state";
    } else {
        DLOG(Error) << "state file " << path_ << " is damaged (" << problem << ") and "
                    << net::fileErrorText("cannot be moved to", aside)
                    << "; starting with no saved state";
    }
    return {};
}

bool StateStore::save(const TokenStates& states, std::string* error) {
    // systemd's StateDirectory= makes the directory; a dev run may not have it yet.
    if (::mkdir(stateDir_.c_str(), 0700) != 0 && errno != EEXIST) {
        *error = net::fileErrorText("cannot create", stateDir_);
        return false;
    }
    return net::writeFileAtomically(stateDir_, kFileName, emit(states), 0600, error);
}

}  // namespace dynamo::gateway
