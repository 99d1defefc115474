#pragma once
// The update scheduler's durable state (docs/updates.md#durable-queue): per token, when it was last
// called, what the service last said, which address it confirmed, and the one update waiting to be
// sent. It lives in state_dir/state.yaml (mode 0600), replaced atomically on every save
// (atomic_file.h): a crash or power cut at any point leaves either the old file or the new one,
// never a torn one.
//
// The file is keyed by the SHA-256 of the token, not the token: tokens are secrets, and a state
// file gets copied into bug reports and backups more readily than the config.
//
// Loading never fails: a missing file is an empty state; a file that is not the YAML we write is
// renamed aside (state.yaml.corrupt-<unix time>) with an error in the log, so a damaged SD card
// cannot keep the daemon from starting. A file that loads but has damaged parts (an entry cut
// short, an unreadable queued address) keeps what is sound; every damaged part is reported
// (StateProblem, logged by the caller with the account it belongs to) and the original is kept
// beside it as state.yaml.damaged-<unix time>, so nothing is dropped silently. Values out of
// range (a far-future time, a huge counter) are clamped, as before.
//
// Blocking I/O (fsync) on the event-loop thread, on purpose: an accepted update must be on disk
// before the device hears "good", and saves are rare (at most a few per token per window).
// One thread, no locks.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/socket_address.h"

namespace dynamo::gateway {

using TimePoint = std::chrono::system_clock::time_point;
// Wall clock, not steady: the times are persisted and compared across restarts.
using WallClock = std::function<TimePoint()>;

// Who asked for an update: a device's DynDNS request, or the gateway itself keeping a
// self_update account current with the network's public address. Kept with the queued update
// and the confirmed address, so an address change can say where it came from.
enum class UpdateOrigin { Device, SelfUpdate };
// "device", "self-update": the state file's and the status page's word.
std::string_view toString(UpdateOrigin origin);
std::optional<UpdateOrigin> originFromString(std::string_view text);

// The one update waiting for a token's window (the latest address wins).
struct QueuedUpdate {
    std::optional<net::IpAddress> ip;  // none: send no ip, the service uses our source address
    TimePoint acceptedAt;
    uint32_t attempts = 0;  // calls that failed for this update so far
    TimePoint nextAttempt;  // not before this (the window may push it later still)
    UpdateOrigin origin = UpdateOrigin::Device;

    friend bool operator==(const QueuedUpdate&, const QueuedUpdate&) = default;
};

struct TokenState {
    std::optional<TimePoint> lastCall;  // the window runs from here
    std::string lastResult;             // "UP,OK", "TF", "timeout", "http-503"...; "" before any
    std::optional<net::IpAddress> confirmedIp;  // the address the service last confirmed
    std::optional<TimePoint> changedAt;         // when the service last said UP,OK/UP,ER
    // Who asked for the update the service last confirmed (a file written before origins were
    // kept: Device, the only kind there was).
    UpdateOrigin confirmedOrigin = UpdateOrigin::Device;
    uint32_t consecutiveMissing = 0;  // NR/ND answers in a row
    std::optional<QueuedUpdate> queued;
    // Where the accepted updates came from, newest first, at most kMaxSources: a device that
    // updated a name is told the address it published (docs/dns.md#local-names).
    std::vector<net::IpAddress> sources;

    friend bool operator==(const TokenState&, const TokenState&) = default;
};

// Keyed by tokenKey(token).
using TokenStates = std::map<std::string, TokenState>;

// One damaged part of a state file that otherwise loaded. `key` is the token entry it belongs to
// ("" when the part is not a token entry at all); `what` is one printable line saying which
// field and what was done ("queued.ip: '6.6.6.999' is not an IP address; the queued update is
// dropped").
struct StateProblem {
    std::string key;
    std::string what;

    friend bool operator==(const StateProblem&, const StateProblem&) = default;
};

// The parser behind StateStore::load(), for the fuzzer and the tests: the whole text of a state
// file. nullopt with *fileProblem (printable) when the text is not a state file at all;
// otherwise the states, with every damaged part appended to *problems.
std::optional<TokenStates> parseStateText(std::string_view text, TimePoint now,
                                          std::string* fileProblem,
                                          std::vector<StateProblem>* problems);
// The text StateStore::save() writes for `states`.
std::string formatStateText(const TokenStates& states);

// The key a token's state is stored under: lower-case hex SHA-256 of the token.
std::string tokenKey(std::string_view token);

class StateStore {
  public:
    static constexpr std::string_view kFileName = "state.yaml";
    // Bounds applied on load, so a damaged or hand-edited file cannot make the daemon wait
    // for years or hold unbounded memory.
    static constexpr size_t kMaxTokens = 1000;
    static constexpr uint32_t kMaxCounter = 1000000;
    static constexpr size_t kMaxSources = 16;
    // How far in the future a stored time may lie and still be believed: a clock behind by
    // up to a day (fake-hwclock restored an older time) is waited for; more is a bogus clock.
    static constexpr std::chrono::hours kMaxAhead{24};

    StateStore(std::string stateDir, WallClock clock);

    // The saved state; empty when there is none. A corrupt file is moved aside (see above).
    // A time later than now by at most kMaxAhead is kept: the clock is behind (a Raspberry Pi
    // without RTC, fake-hwclock restored an older time), and a last_call from the real "now"
    // must still hold the window until the clock passes last_call + min_interval. A time
    // further ahead is a bogus clock or damage and is brought back to now. Damaged parts are
    // appended to *problems (when given) and the file is kept as damagedCopy() (see above).
    TokenStates load(std::vector<StateProblem>* problems = nullptr);

    // Where load() kept the original of a partly damaged file; "" when it did not.
    const std::string& damagedCopy() const { return damagedCopy_; }

    // Atomically replaces the file. False with *error (one line, for the log) when it could
    // not be stored; the previous file is then intact.
    bool save(const TokenStates& states, std::string* error);

    const std::string& path() const { return path_; }

  private:
    void keepDamaged(TimePoint now, std::vector<StateProblem>& damaged,
                     std::vector<StateProblem>* problems);

    std::string stateDir_;
    std::string path_;
    WallClock clock_;
    std::string damagedCopy_;
};

}  // namespace dynamo::gateway
