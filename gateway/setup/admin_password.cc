#include "gateway/setup/admin_password.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <memory>

namespace dynamo::gateway {
namespace {

// crypt_data is 32 kB: on the heap, not the event loop's stack.
std::unique_ptr<crypt_data> newCryptData() {
    return std::make_unique<crypt_data>();  // value-initialised: zeroed, as crypt_rn wants
}

}  // namespace

std::string adminPasswordProblem(std::string_view password) {
    if (password.size() < kMinAdminPasswordLength)
        return "too short: use at least " + std::to_string(kMinAdminPasswordLength) + " characters";
    if (password.size() > kMaxAdminPasswordLength)
        return "too long: at most " + std::to_string(kMaxAdminPasswordLength) + " characters";
    for (const char c : password) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return "contains a control character";
    }
    return {};
}

std::optional<std::string> hashAdminPassword(std::string_view password) {
    if (password.size() > kMaxAdminPasswordLength)
        return std::nullopt;
    const std::string text(password);
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    // nullptr random bytes: libxcrypt takes them from getentropy(); count 0 = the method's
    // default cost.
    for (const char* prefix : {"$y$", "$6$"}) {
        if (crypt_gensalt_rn(prefix, 0, nullptr, 0, salt, sizeof salt) == nullptr)
            continue;
        auto data = newCryptData();
        const char* hash = crypt_rn(text.c_str(), salt, data.get(), sizeof *data);
        if (hash != nullptr && hash[0] == '$')
            return std::string(hash);
    }
    return std::nullopt;
}

bool verifyAdminPassword(std::string_view password, std::string_view hash) {
    if (password.size() > kMaxAdminPasswordLength || hash.empty() || hash[0] != '$')
        return false;
    const std::string text(password);
    const std::string stored(hash);
    auto data = newCryptData();
    // crypt_rn returns nullptr (never the "*0" failure token) on an unknown method or salt.
    const char* computed = crypt_rn(text.c_str(), stored.c_str(), data.get(), sizeof *data);
    if (computed == nullptr)
        return false;
    const std::string_view result(computed);
    return result.size() == stored.size() &&
           CRYPTO_memcmp(result.data(), stored.data(), stored.size()) == 0;
}

}  // namespace dynamo::gateway
