#pragma once
// application/x-www-form-urlencoded, as devices write it in a query string or a POST body
// (WHATWG URL §5.1): '&'-separated "key=value" pairs, '+' is a space, "%XX" is a byte.
//
// Untrusted input, so everything is bounded and nothing fails: a malformed escape ("%zz", a
// trailing "%", "%4") stays as written, like browsers do; "%00" decodes to a NUL byte, which
// the hostname checks reject and the credential comparison treats as any other byte.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynamo::compat {

class Form {
  public:
    static constexpr size_t kMaxParams = 64;         // dyndns2 uses about ten
    static constexpr size_t kMaxKeyLength = 64;      // longest real key: "hostname"
    static constexpr size_t kMaxValueLength = 8192;  // 20 hostnames of 253 bytes, escaped, fit

    // Parses text and appends its pairs after the ones already held (query first, then body).
    // Empty pairs ("a=1&&b=2") are skipped; a key without '=' has an empty value. Pairs beyond
    // kMaxParams, or with a key or value over the bounds, are dropped and counted in dropped().
    void parse(std::string_view text);

    // The value of the FIRST pair with this key, keys compared ASCII case-insensitively.
    // First wins because the query is parsed before a POST body: the documented dyndns2
    // interface is the query, so a body cannot override what the URL says.
    // Case-insensitive so a hand-typed custom update URL ("Hostname=") still works; no two
    // dyndns2 keys differ only by case, so nothing is lost.
    std::optional<std::string_view> get(std::string_view key) const;

    const std::vector<std::pair<std::string, std::string>>& params() const { return params_; }
    size_t dropped() const { return dropped_; }

  private:
    std::vector<std::pair<std::string, std::string>> params_;
    size_t dropped_ = 0;
};

// Decodes one form component: '+' → ' ', "%XX" → byte; malformed escapes are kept literally.
std::string formDecode(std::string_view text);

}  // namespace dynamo::compat
