#include "gateway/updates/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "net/atomic_file.h"
#include "net/error_text.h"
#include "net/handles.h"
#include "net/log.h"
#include "net/sha256.h"
#include "net/small_file.h"

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

// A scalar's text as a problem line may quote it: the file may hold any bytes.
std::string quoted(const YAML::Node& node) {
    if (!node.IsScalar()) {
        return node.IsMap() ? "a mapping" : node.IsSequence() ? "a list" : "nothing (null)";
    }
    return "'" + log::printable(node.Scalar()) + "'";
}

// Reads one token entry, noting every damaged part: each field save() writes that is missing
// or unreadable. Such a part is dropped or replaced by a safe default, and said so.
class EntryReader {
  public:
    EntryReader(std::string key, TimePoint now, std::vector<StateProblem>* problems)
        : key_(std::move(key)), now_(now), problems_(problems) {}

    TokenState read(const YAML::Node& node) {
        TokenState state;
        state.lastCall = timeField(node, "last_call", "dropped");
        if (const YAML::Node result = node["last_result"]) {
            const std::optional<std::string> text = readString(result);
            if (text && isResultText(*text))
                state.lastResult = *text;
            else
                note("last_result: " + quoted(result) + " is not a result code; dropped");
        }
        if (const YAML::Node ip = node["confirmed_ip"]) {
            const std::optional<std::string> text = readString(ip);
            state.confirmedIp = text ? net::IpAddress::parse(*text) : std::nullopt;
            if (!state.confirmedIp) {
                note("confirmed_ip: " + quoted(ip) +
                     " is not an IP address; dropped (the next update goes to the service)");
            }
        }
        state.changedAt = timeField(node, "changed_at", "dropped");
        state.confirmedOrigin = origin(node, "confirmed_origin");
        // save() writes it in every entry: without it the entry was cut short.
        state.consecutiveMissing = counter(node, "consecutive_missing", true);
        if (const YAML::Node queued = node["queued"])
            state.queued = readQueued(queued);
        if (const YAML::Node sources = node["sources"]) {
            if (!sources.IsSequence()) {
                note("sources: " + quoted(sources) + " is not a list; dropped");
            } else {
                for (const YAML::Node& entry : sources) {
                    const std::optional<std::string> text = readString(entry);
                    const auto ip = text ? net::IpAddress::parse(*text) : std::nullopt;
                    if (!ip) {
                        note("sources: " + quoted(entry) + " is not an IP address; dropped");
                        continue;
                    }
                    if (state.sources.size() < StateStore::kMaxSources)
                        state.sources.push_back(*ip);
                }
            }
        }
        return state;
    }

  private:
    void note(std::string what) {
        if (problems_)
            problems_->push_back(StateProblem{key_, std::move(what)});
    }

    // An optional time; a present but unreadable one is noted. Later than now by more than a
    // day is clamped to now (a clock behind or bogus, see StateStore::load()), not damage.
    std::optional<TimePoint> timeField(const YAML::Node& parent, const char* name,
                                       std::string_view consequence) {
        const YAML::Node node = parent[name];
        if (!node)
            return std::nullopt;
        const std::optional<TimePoint> value = readTime(node, now_);
        if (!value)
            note(std::string(name) + ": " + quoted(node) + " is not a time; " +
                 std::string(consequence));
        return value;
    }

    // Optional: files written before origins were kept have none, and every update then came
    // from a device. An unreadable one is noted and taken as a device's: it only labels the
    // update, the address is sound.
    UpdateOrigin origin(const YAML::Node& parent, const char* name) {
        const YAML::Node node = parent[name];
        if (!node)
            return UpdateOrigin::Device;
        const std::optional<std::string> text = readString(node);
        const std::optional<UpdateOrigin> value = text ? originFromString(*text) : std::nullopt;
        if (!value) {
            note(std::string(name) + ": " + quoted(node) +
                 " is not device or self-update; taken as device");
            return UpdateOrigin::Device;
        }
        return *value;
    }

    uint32_t counter(const YAML::Node& parent, const char* name, bool required) {
        const YAML::Node node = parent[name];
        if (!node) {
            if (required)
                note(std::string(name) + ": missing (the entry was cut short?); taken as 0");
            return 0;
        }
        const std::optional<int64_t> value = readInteger(node);
        if (!value || *value < 0) {
            note(std::string(name) + ": " + quoted(node) + " is not a count; taken as 0");
            return 0;
        }
        return static_cast<uint32_t>(std::min<int64_t>(*value, StateStore::kMaxCounter));
    }

    std::optional<QueuedUpdate> readQueued(const YAML::Node& node) {
        if (!node.IsMap()) {
            note("queued: " + quoted(node) +
                 " instead of an update (the entry was cut short?); the queued update is dropped");
            return std::nullopt;
        }
        QueuedUpdate queued;
        const YAML::Node ip = node["ip"];
        const std::optional<std::string> text = ip ? readString(ip) : std::nullopt;
        if (!text) {
            note(std::string("queued.ip: ") + (ip ? quoted(ip) : std::string("missing")) +
                 "; the queued update is dropped");
            return std::nullopt;
        }
        if (*text != "none") {
            queued.ip = net::IpAddress::parse(*text);
            // Guessing "no ip" for an address we cannot read could publish the wrong one.
            if (!queued.ip) {
                note("queued.ip: " + quoted(ip) +
                     " is not an IP address; the queued update is dropped");
                return std::nullopt;
            }
        }
        // save() writes all four: a missing one means the entry was cut short. The update is
        // still sent (its address is sound), with safe defaults for the rest.
        const auto present = [&](const char* name) {
            if (node[name])
                return true;
            note("queued." + std::string(name) + ": missing (the entry was cut short?)");
            return false;
        };
        queued.acceptedAt = now_;
        if (present("accepted_at")) {
            if (const auto accepted = timeField(node, "accepted_at", "taken as now"))
                queued.acceptedAt = *accepted;
        }
        if (present("attempts"))
            queued.attempts = counter(node, "attempts", false);
        queued.nextAttempt = now_;
        if (present("next_attempt")) {
            const YAML::Node next = node["next_attempt"];
            const std::optional<int64_t> value = readInteger(next);
            if (value && *value >= 0 && *value <= kMaxUnixSeconds)
                queued.nextAttempt = std::min(fromUnix(*value), now_ + kMaxAhead);
            else
                note("queued.next_attempt: " + quoted(next) + " is not a time; taken as now");
        }
        queued.origin = origin(node, "origin");
        return queued;
    }

    std::string key_;
    TimePoint now_;
    std::vector<StateProblem>* problems_;
};

void report(std::vector<StateProblem>* problems, std::string key, std::string what) {
    if (problems)
        problems->push_back(StateProblem{std::move(key), std::move(what)});
}

}  // namespace

std::string_view toString(UpdateOrigin origin) {
    switch (origin) {
        case UpdateOrigin::Device:
            return "device";
        case UpdateOrigin::SelfUpdate:
            return "self-update";
    }
    return "device";
}

std::optional<UpdateOrigin> originFromString(std::string_view text) {
    if (text == "device")
        return UpdateOrigin::Device;
    if (text == "self-update")
        return UpdateOrigin::SelfUpdate;
    return std::nullopt;
}

std::optional<TokenStates> parseStateText(std::string_view text, TimePoint now,
                                          std::string* fileProblem,
                                          std::vector<StateProblem>* problems) {
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        // yaml-cpp's message may quote the file's bytes.
        *fileProblem = log::printable(e.what(), 200);
        return std::nullopt;
    }
    if (!root.IsMap()) {
        *fileProblem = "not a YAML mapping";
        return std::nullopt;
    }
    if (readInteger(root["version"]) != kFormatVersion) {
        *fileProblem = "no \"version: 1\"";
        return std::nullopt;
    }
    const YAML::Node tokens = root["tokens"];
    TokenStates states;
    if (!tokens || tokens.IsNull())
        return states;
    if (!tokens.IsMap()) {
        *fileProblem = "\"tokens\" is not a mapping";
        return std::nullopt;
    }
    size_t entries = 0;
    for (const auto& entry : tokens) {
        if (++entries > StateStore::kMaxTokens) {
            report(problems, "",
                   "more than " + std::to_string(StateStore::kMaxTokens) +
                       " token entries; the rest are dropped");
            break;
        }
        const std::optional<std::string> key = readString(entry.first);
        if (!key || !isTokenKey(*key)) {
            report(problems, "",
                   "the entry " + quoted(entry.first) + " is not a token key; dropped");
            continue;
        }
        if (!entry.second.IsMap()) {
            report(problems, *key,
                   "the entry is " + quoted(entry.second) + ", not a mapping; dropped");
            continue;
        }
        states[*key] = EntryReader(*key, now, problems).read(entry.second);
    }
    return states;
}

namespace {

std::string emitState(const TokenStates& states) {
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
        if (state.confirmedOrigin != UpdateOrigin::Device)
            out << YAML::Key << "confirmed_origin" << YAML::Value
                << std::string(toString(state.confirmedOrigin));
        out << YAML::Key << "consecutive_missing" << YAML::Value << state.consecutiveMissing;
        if (const auto& queued = state.queued) {
            out << YAML::Key << "queued" << YAML::Value << YAML::BeginMap;
            out << YAML::Key << "ip" << YAML::Value
                << (queued->ip ? queued->ip->toString() : std::string("none"));
            out << YAML::Key << "accepted_at" << YAML::Value << toUnix(queued->acceptedAt);
            out << YAML::Key << "attempts" << YAML::Value << queued->attempts;
            out << YAML::Key << "next_attempt" << YAML::Value << toUnix(queued->nextAttempt);
            out << YAML::Key << "origin" << YAML::Value << std::string(toString(queued->origin));
            out << YAML::EndMap;
        }
        if (!state.sources.empty()) {
            out << YAML::Key << "sources" << YAML::Value << YAML::Flow << YAML::BeginSeq;
            for (const auto& source : state.sources)
                out << source.toString();
            out << YAML::EndSeq;
        }
        out << YAML::EndMap;
    }
    out << YAML::EndMap << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

}  // namespace

std::string formatStateText(const TokenStates& states) {
    return emitState(states);
}

std::string tokenKey(std::string_view token) {
    // Our own SHA-256, not OpenSSL's: this runs at start for every account, and OpenSSL's first
    // digest would initialise all of libcrypto (net/sha256.h).
    const net::Sha256Digest digest = net::sha256(token);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string key;
    key.reserve(digest.size() * 2);
    for (const uint8_t byte : digest) {
        key.push_back(kHex[byte >> 4]);
        key.push_back(kHex[byte & 0x0f]);
    }
    return key;
}

StateStore::StateStore(std::string stateDir, WallClock clock)
    : stateDir_(std::move(stateDir)),
      path_(stateDir_ + "/" + std::string(kFileName)),
      clock_(std::move(clock)) {}

TokenStates StateStore::load(std::vector<StateProblem>* problems) {
    damagedCopy_.clear();
    const net::SmallFile file = net::readSmallFile(path_, kMaxFileSize, /*noFollow=*/true);
    if (file.status == net::SmallFile::Status::Missing)
        return {};
    if (file.status == net::SmallFile::Status::Failed) {
        DLOG(Error) << net::fileErrorText("cannot read", path_, file.error)
                    << "; starting with no saved state";
        return {};
    }
    const TimePoint now = clock_();
    std::string problem = "larger than any state this daemon writes";
    if (file.status == net::SmallFile::Status::Read) {
        std::vector<StateProblem> damaged;
        if (std::optional<TokenStates> states =
                parseStateText(file.text, now, &problem, &damaged)) {
            if (!damaged.empty())
                keepDamaged(now, damaged, problems);
            return std::move(*states);
        }
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

void StateStore::keepDamaged(TimePoint now, std::vector<StateProblem>& damaged,
                             std::vector<StateProblem>* problems) {
    // The sound parts are used and the next save rewrites the file without the damaged ones:
    // the original is kept for its owner first. A hard link needs no space (the disk may be
    // what damaged the file) and keeps the original bytes whatever the next save does.
    const std::string copy = path_ + ".damaged-" + std::to_string(toUnix(now));
    std::string error;
    if (::link(path_.c_str(), copy.c_str()) == 0 || errno == EEXIST) {
        damagedCopy_ = copy;
    } else {
        error = net::fileErrorText("cannot keep a copy at", copy);
    }
    DLOG(Error) << "state file " << path_ << " is partly damaged (" << damaged.size()
                << " problem(s), each named below); the sound parts are used and "
                << (damagedCopy_.empty() ? error : "the original is kept as " + damagedCopy_);
    if (problems) {
        problems->insert(problems->end(), damaged.begin(), damaged.end());
        return;
    }
    for (const StateProblem& problem : damaged) {
        DLOG(Error) << "state file " << path_ << ": "
                    << (problem.key.empty() ? std::string()
                                            : "the entry " + problem.key.substr(0, 8) + "…: ")
                    << problem.what;
    }
}

bool StateStore::save(const TokenStates& states, std::string* error) {
    // systemd's StateDirectory= makes the directory; a dev run may not have it yet.
    if (::mkdir(stateDir_.c_str(), 0700) != 0 && errno != EEXIST) {
        *error = net::fileErrorText("cannot create", stateDir_);
        return false;
    }
    return net::writeFileAtomically(stateDir_, kFileName, formatStateText(states), 0600, error);
}

}  // namespace dynamo::gateway
