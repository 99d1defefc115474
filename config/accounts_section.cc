// The accounts section: device credentials and the token each one updates with. Passwords and
// tokens are secrets (docs/updates.md#secrets-in-logs): no message shows one, only a token's length
// or its first characters through log::maskSecret().

#include <algorithm>
#include <cctype>

#include "config/config_parser.h"
#include "net/dns_name.h"

namespace dynamo::config {
namespace {

constexpr size_t kTokenLength = 42;
// The placeholder token config/example.yaml shows: a config still holding it was never filled in.
constexpr std::string_view kPlaceholderToken = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";

}  // namespace

void ConfigParser::readAccounts(const Item& item) {
    auto list = reader_.readList(item);
    if (!list)
        return;
    std::vector<Item> owners;  // for "already used by accounts[0]"
    for (const auto& entry : *list) {
        Account account;
        if (!readAccount(entry, account))
            continue;
        const auto twin =
            std::find_if(config_.accounts.begin(), config_.accounts.end(),
                         [&](const Account& other) { return other.username == account.username; });
        if (twin != config_.accounts.end()) {
            const Item& owner = owners[static_cast<size_t>(twin - config_.accounts.begin())];
            reader_.error(entry.line, entry.path + ".username",
                          inQuotes(account.username) + " is already used by " + owner.path);
            continue;
        }
        owners.push_back(entry);
        ipTokenItems_.push_back(pendingIpTokenItem_);
        config_.accounts.push_back(std::move(account));
    }
}

bool ConfigParser::readAccount(const Item& entry, Account& account) {
    if (!entry.node.IsMap()) {
        reader_.error(entry, "expected a mapping with username, password, token, got " +
                                 std::string(describe(entry.node)));
        return false;
    }
    bool ok = true;
    bool seenUsername = false;
    bool seenPassword = false;
    bool seenToken = false;
    pendingIpTokenItem_ = Item{};
    auto nonEmpty = [&](const Item& item) -> std::optional<std::string> {
        if (item.node.IsNull()) {
            reader_.error(item, "must not be empty");
            return std::nullopt;
        }
        auto text = reader_.readString(item, "expected a string");
        if (text && text->empty()) {
            reader_.error(item, "must not be empty");
            return std::nullopt;
        }
        return text;
    };
    reader_.readMap(
        entry, {
                   {"username",
                    [&](const Item& item) {
                        seenUsername = true;
                        auto text = nonEmpty(item);
                        if (text && text->find(':') != std::string::npos) {
                            // RFC 7617 §2: the user-id of Basic authentication cannot contain
                            // ':'.
                            reader_.error(item, "must not contain ':' (HTTP Basic authentication)");
                            text.reset();
                        }
                        if (text)
                            account.username = *text;
                        ok = ok && text.has_value();
                    }},
                   {"password",
                    [&](const Item& item) {
                        seenPassword = true;
                        auto text = nonEmpty(item);  // never shown: it is a secret
                        if (text)
                            account.password = *text;
                        ok = ok && text.has_value();
                    }},
                   {"token",
                    [&](const Item& item) {
                        seenToken = true;
                        auto token = readToken(item);
                        if (token)
                            account.token = *token;
                        ok = ok && token.has_value();
                    }},
                   {"hostnames",
                    [&](const Item& item) {
                        auto list = reader_.readList(item);
                        if (!list) {
                            ok = false;
                            return;
                        }
                        for (const auto& hostItem : *list) {
                            auto text = reader_.readString(hostItem, "expected a host name");
                            auto name = text ? net::canonicalHostname(*text) : std::nullopt;
                            if (text && !name) {
                                reader_.error(hostItem, inQuotes(*text) + " is not a host name");
                            }
                            if (!name) {
                                ok = false;
                                continue;
                            }
                            account.hostnames.push_back(std::move(*name));
                        }
                    }},
                   {"ip_token",
                    [&](const Item& item) {
                        auto text = reader_.readString(item, "expected an IP Address Token");
                        if (text && !isIpToken(*text)) {
                            reader_.error(item, inQuotes(*text) +
                                                    " is not an IP Address Token: expected dd: "
                                                    "and 16 of 0-9 and A-Z (capitals)");
                            text.reset();
                        }
                        if (text) {
                            account.ipToken = *text;
                            pendingIpTokenItem_ = item;
                        }
                        ok = ok && text.has_value();
                    }},
                   {"names",
                    [&](const Item& item) {
                        auto list = reader_.readList(item);
                        if (!list) {
                            ok = false;
                            return;
                        }
                        for (const auto& nameItem : *list) {
                            auto text = reader_.readString(nameItem, "expected a DNS name");
                            auto name = text ? net::canonicalHostname(*text) : std::nullopt;
                            if (text && !name) {
                                reader_.error(nameItem, inQuotes(*text) + " is not a DNS name");
                            }
                            if (!name) {
                                ok = false;
                                continue;
                            }
                            accountNameItems_.push_back(nameItem);
                            account.names.push_back(std::move(*name));
                        }
                    }},
                   {"self_update",
                    [&](const Item& item) {
                        auto value = reader_.readBool(item);
                        if (value)
                            account.selfUpdate = *value;
                        ok = ok && value.has_value();
                    }},
               });
    for (auto [seen, key] :
         {std::pair{seenUsername, "username"}, {seenPassword, "password"}, {seenToken, "token"}}) {
        if (!seen) {
            reader_.error(entry.line, entry.path + "." + key, "missing");
            ok = false;
        }
    }
    return ok;
}

// Never puts the token in a message: only its length, or where a bad character sits.
std::optional<std::string> ConfigParser::readToken(const Item& item) {
    if (item.node.IsNull()) {
        reader_.error(item, "must be " + std::to_string(kTokenLength) + " characters, got 0");
        return std::nullopt;
    }
    auto token = reader_.readString(item, "expected the 42-character update token");
    if (!token)
        return std::nullopt;
    if (token->size() != kTokenLength) {
        reader_.error(item, "must be " + std::to_string(kTokenLength) + " characters, got " +
                                std::to_string(token->size()));
        return std::nullopt;
    }
    const auto bad = std::find_if(token->begin(), token->end(), [](char c) {
        return !std::isalnum(static_cast<unsigned char>(c));
    });
    if (bad != token->end()) {
        reader_.error(item, "must be letters and digits only (A-Z, a-z, 0-9); character " +
                                std::to_string(bad - token->begin() + 1) + " is not");
        return std::nullopt;
    }
    if (*token == kPlaceholderToken) {
        reader_.warn(item, "is the example token " + log::maskSecret(*token) +
                               ": put the account's own token here");
    }
    return token;
}

}  // namespace dynamo::config
