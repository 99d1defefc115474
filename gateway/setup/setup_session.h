#pragma once
// The /setup page's sessions and the pure helpers around them. A session is a random 128-bit
// id in an HttpOnly, SameSite=Strict cookie limited to Path=/setup, with a fixed lifetime; it
// is kept only in memory (a restart logs everyone out) and their number is bounded. Each session
// has its own CSRF token, a second random value every form carries and every POST must return
// (compared in constant time): SameSite=Strict alone is not honoured by every old browser. The
// log-in form has a session too (not logged in), so it carries a token as well, and a successful
// log-in replaces it with a new id (no session fixation). Pure: time and randomness come from
// the caller. One thread, no locks.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace dynamo::gateway {

inline constexpr std::string_view kSetupCookieName = "dynamo_setup";

class SetupSessions {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;
    // 32 lower-case hex digits (128 bits) from a cryptographic source.
    using Random = std::function<std::string()>;

    static constexpr size_t kMaxSessions = 64;
    static constexpr std::chrono::minutes kLifetime{30};

    struct Session {
        std::string id;
        std::string csrf;
        bool loggedIn = false;
        TimePoint expires;
    };

    explicit SetupSessions(Random random) : random_(std::move(random)) {}

    // A new session. At the bound, expired sessions go first, then the oldest not logged in,
    // then the oldest: a LAN client asking for log-in forms cannot push out a logged-in owner
    // while fewer than kMaxSessions are logged in.
    const Session& open(bool loggedIn, TimePoint now);
    // The live session with this id; an expired one is forgotten and nullptr returned.
    const Session* find(std::string_view id, TimePoint now);
    void close(std::string_view id);
    size_t size() const { return sessions_.size(); }

  private:
    void makeRoom(TimePoint now);

    Random random_;
    std::map<std::string, Session, std::less<>> sessions_;
};

// 128 bits from OpenSSL's RAND_bytes as 32 hex digits; aborts the request (empty) on failure.
std::string randomHex128();
// a == b without an early exit on the first differing byte (CRYPTO_memcmp).
bool constantTimeEquals(std::string_view a, std::string_view b);
// The value of cookie `name` in a Cookie header (RFC 6265 §5.4); empty when absent.
std::string cookieValue(std::string_view header, std::string_view name);
// The Set-Cookie value for a session (RFC 6265 §4.1): HttpOnly, SameSite=Strict, Path=/setup,
// Max-Age; an empty id clears the cookie.
std::string sessionCookie(std::string_view id, std::chrono::seconds maxAge);
// application/x-www-form-urlencoded (WHATWG URL §5.1): '+' is a space, %XX a byte. The first
// value of a repeated name wins; malformed escapes are kept as written.
std::map<std::string, std::string, std::less<>> parseForm(std::string_view body);

}  // namespace dynamo::gateway
