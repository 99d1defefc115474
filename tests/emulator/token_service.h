#pragma once
// The rules of KisoLabs' DNS Dynamo token API (docs/token-api.md#order-of-checks) as a pure state
// machine: a call goes in, the answer comes out. No sockets, no clock, no files: the HTTP adapter
// (emulator_server.h) passes the time of each call, so tests move the clock instead of waiting.
//
// Order of the checks, first match wins (the service documentation gives no order; this one
// lets every code be reached and keeps "nothing was updated" true for every code but UP,*):
//   1. the path is not exactly one token of 42 characters       -> NT
//   2. the token's mode is a fault (http500, garbage, drop)      -> the fault; no state touched:
//      it models a failure in front of the service, so the service never saw the call
//   3. `ip` is present and not a dotted IPv4 address             -> IN
//   4. the token is not configured (or is configured `nr`)       -> NR
//   5. mode `er`                                                 -> ER
//   6. mode `nd`                                                 -> ND
//   7. the previous call for the token is less than window ago   -> TF
//   8. the address equals the stored one                         -> NC
//   9. otherwise the address is stored                           -> UP,OK (UP,ER in mode `uper`)
// The window rule: the documentation says "every call, TF included, restarts the 5-minute
// window". We read "every call" as every call the service can attribute to a token it knows,
// so steps 3 and 5-9 all restart the window for a configured token; NT and NR cannot (there is
// no known token to charge), and faults never reached the service. Mode `slow` runs the normal
// rules when the call arrives and only delays the answer.
//
// Threading: one thread, the emulator's event loop; no locks.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "net/socket_address.h"

namespace dynamo::emulator {

inline constexpr size_t kTokenLength = 42;
inline constexpr double kDefaultSlowSeconds = 5.0;

enum class Mode { Ok, Nr, Nd, Er, UpEr, Http500, Garbage, Slow, Drop };

// "ok", "nr", "nd", "er", "uper", "http500", "garbage", "drop", "slow" or "slow:SECONDS".
struct ModeSpec {
    Mode mode = Mode::Ok;
    double delaySeconds = 0;  // only for Mode::Slow
};
std::optional<ModeSpec> parseMode(std::string_view text);
std::string modeName(const ModeSpec& spec);  // the inverse of parseMode

// Strict dotted-quad IPv4: four decimal parts 0-255, no leading zeros, nothing else.
bool isDottedIpv4(std::string_view text);

// What the HTTP layer has to do with one call.
enum class Action {
    Answer,   // HTTP 200, body = code
    Http500,  // HTTP 500
    Garbage,  // HTTP 200, body "hello"
    Drop,     // close the connection without an answer
};

struct Call {
    std::string_view token;         // the path without its leading '/', percent-decoded
    std::optional<std::string> ip;  // the `ip` parameter (query or form), if present
    net::IpAddress source;          // where the request came from
    double now = 0;                 // seconds, on the emulator's clock
};

struct Outcome {
    Action action = Action::Answer;
    std::string code;         // the body for Action::Answer ("UP,OK", "TF", ...)
    double delaySeconds = 0;  // > 0 in mode slow: answer this much later
};

struct TokenState {
    ModeSpec mode;
    std::optional<std::string> address;  // the stored IPv4 address, dotted
    std::optional<double> lastCall;      // time of the last call charged to the token
};

class TokenService {
  public:
    explicit TokenService(double windowSeconds) : window_(windowSeconds) {}

    // Adds the token or changes its mode; its stored address and window are kept.
    void setToken(const std::string& token, const ModeSpec& mode);
    void setAddress(const std::string& token, const std::string& address);
    // Forgets every window (the next call for any token is not TF).
    void clearWindows();
    // Forgets every stored address (the next call with an address answers UP,*).
    void clearAddresses();

    Outcome handle(const Call& call);

    const std::map<std::string, TokenState>& tokens() const { return tokens_; }
    double window() const { return window_; }

  private:
    double window_;
    std::map<std::string, TokenState> tokens_;
};

}  // namespace dynamo::emulator
