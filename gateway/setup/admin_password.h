#pragma once
// The administrator password of /setup (README "Set up from a phone"): stored only as a salted
// crypt(3) hash in gateway.admin_password_hash. yescrypt ("$y$", libxcrypt's default and Debian
// 12's for /etc/shadow) when libxcrypt offers it, SHA-512 ("$6$") otherwise. Verifying costs
// tens of milliseconds on purpose; the log-in form is throttled (gateway/http/auth_throttle.h).

#include <optional>
#include <string>
#include <string_view>

namespace dynamo::gateway {

inline constexpr size_t kMinAdminPasswordLength = 10;
inline constexpr size_t kMaxAdminPasswordLength = 256;

// Why the password cannot be used ("" when it can): too short, too long, a control character.
std::string adminPasswordProblem(std::string_view password);
// A fresh salted hash of password; nullopt when libxcrypt failed (no entropy, no method).
std::optional<std::string> hashAdminPassword(std::string_view password);
// True when password matches hash. The comparison of the computed and stored hash is in
// constant time; a malformed hash or an oversized password is false.
bool verifyAdminPassword(std::string_view password, std::string_view hash);

}  // namespace dynamo::gateway
