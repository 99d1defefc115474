#pragma once
// The update scheduler's durable state (SPEC §6): per token, when it was last called, what the
// service last said, which address it confirmed, and the one update waiting to be sent. It lives
// in state_dir/state.yaml (mode 0600), replaced atomically on every save (atomic_file.h): a crash
// or power cut at any point leaves either the old file or the new one, never a torn one.
//
// The file is keyed by the SHA-256 of the token, not the token: tokens are secrets, and a state
// file gets copied into bug reports and backups more readily than the config.
//
// Loading never fails: a missing file is an empty state; a file that is not the YAML we write is
// renamed aside (state.yaml.corrupt-<unix time>) with an error in the log, so a damaged SD card
// cannot keep the daemon from starting. Absurd values are clamped or dropped.
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

#include "net/socket_address.h"

namespace dynamo::gateway {

using TimePoint = std::chrono::system_clock::time_point;
// Wall clock, not steady: the times are persisted and compared across restarts.
using WallClock = std::function<TimePoint()>;

// The one update waiting for a token's window (the latest address wins).
struct QueuedUpdate {
    std::optional<net::IpAddress> ip;  // none: send no ip, the service uses our source address
    TimePoint acceptedAt;
    uint32_t attempts = 0;  // calls that failed for this update so far
    TimePoint nextAttempt;  // not before this (the window may push it later still)

    friend bool operator==(const QueuedUpdate&, const QueuedUpdate&) = default;
};

struct TokenState {
    std::optional<TimePoint> lastCall;  // the window runs from here
    std::string lastResult;             // "UP,OK", "TF", "timeout", "http-503"...; "" before any
    std::optional<net::IpAddress> confirmedIp;  // the address the service last confirmed
    std::optional<TimePoint> changedAt;         // when the service last said UP,OK/UP,ER
    uint32_t consecutiveMissing = 0;            // NR/ND answers in a row
    std::optional<QueuedUpdate> queued;

    friend bool operator==(const TokenState&, const TokenState&) = default;
};

// Keyed by tokenKey(token).
using TokenStates = std::map<std::string, TokenState>;

// The key a token's state is stored under: lower-case hex SHA-256 of the token.
std::string tokenKey(std::string_view token);

class StateStore {
  public:
    static constexpr std::string_view kFileName = "state.yaml";
    // Bounds applied on load, so a damaged or hand-edited file cannot make the daemon wait
    // for years or hold unbounded memory.
    static constexpr size_t kMaxTokens = 1000;
    static constexpr uint32_t kMaxCounter = 1000000;
    // How far in the future a stored time may lie and still be believed: a clock behind by
    // up to a day (fake-hwclock restored an older time) is waited for; more is a bogus clock.
    static constexpr std::chrono::hours kMaxAhead{24};

    StateStore(std::string stateDir, WallClock clock);

    // The saved state; empty when there is none. A corrupt file is moved aside (see above).
    // A time later than now by at most kMaxAhead is kept: the clock is behind (a Raspberry Pi
    // without RTC, fake-hwclock restored an older time), and a last_call from the real "now"
    // must still hold the window until the clock passes last_call + min_interval. A time
    // further ahead is a bogus clock or damage and is brought back to now.
    TokenStates load();

    // Atomically replaces the file. False with *error (one line, for the log) when it could
    // not be stored; the previous file is then intact.
    bool save(const TokenStates& states, std::string* error);

    const std::string& path() const { return path_; }

  private:
    std::string stateDir_;
    std::string path_;
    WallClock clock_;
};

}  // namespace dynamo::gateway
