// Local names (docs/configuration.md#local-names): dns.records, dns.records_ttl, and the checks
// that tie them to accounts[].ip_token and accounts[].names and to dns.intercept.

#include <algorithm>
#include <charconv>

#include "config/config_parser.h"
#include "net/dns_name.h"

namespace dynamo::config {
namespace {

constexpr uint32_t kMaxRecordsTtl = 86400;
constexpr size_t kMaxTxtLength = 4000;  // several 255-byte strings; far below a 64 KiB answer

// Whether `name` (lower-case, no trailing dot) is `pattern` or, for "*.suffix", below suffix.
bool nameMatches(std::string_view pattern, std::string_view name) {
    if (pattern.starts_with("*.")) {
        const std::string_view suffix = pattern.substr(1);  // ".suffix"
        return name.size() > suffix.size() && name.ends_with(suffix);
    }
    return pattern == name;
}

std::optional<uint16_t> readU16(std::string_view text) {
    uint16_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

// "10 mail.example.com" → its fields split at spaces.
std::vector<std::string_view> fields(std::string_view text) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ')
            ++i;
        const size_t start = i;
        while (i < text.size() && text[i] != ' ')
            ++i;
        if (i > start)
            out.push_back(text.substr(start, i - start));
    }
    return out;
}

}  // namespace

bool isIpToken(std::string_view text) {
    if (text.size() != 19 || !text.starts_with("dd:"))
        return false;
    return std::all_of(text.begin() + 3, text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
}

void ConfigParser::readRecordsTtl(const Item& item) {
    if (auto value =
            readSeconds(item, std::chrono::seconds(0), std::chrono::seconds(kMaxRecordsTtl)))
        config_.dns.recordsTtl = static_cast<uint32_t>(value->count());
}

void ConfigParser::readRecords(const Item& item) {
    if (item.node.IsNull())
        return;
    if (!item.node.IsMap()) {
        reader_.error(item, "expected a mapping of names to records, got " +
                                std::string(describe(item.node)));
        return;
    }
    for (auto it = item.node.begin(); it != item.node.end(); ++it) {
        const int mark = it->first.Mark().line;
        const int line = mark >= 0 ? mark + 1 : item.line;
        const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
        const Item child{it->second, item.path + "." + key, line};
        const auto name = net::canonicalHostname(key, true);
        if (!name) {
            reader_.error(child, inQuotes(key) +
                                     " is not a DNS name (labels of 1 to 63 letters, digits, "
                                     "'-' or '_'; \"*.\" in front for every name below)");
            continue;
        }
        const auto twin =
            std::find_if(config_.dns.records.begin(), config_.dns.records.end(),
                         [&](const LocalRecordSet& set) { return set.name == *name; });
        if (twin != config_.dns.records.end()) {
            reader_.error(
                child,
                "the name is already listed as " +
                    recordItems_[static_cast<size_t>(twin - config_.dns.records.begin())].path);
            continue;
        }
        LocalRecordSet set;
        set.name = *name;
        if (!readRecordSet(child, set))
            continue;
        config_.dns.records.push_back(std::move(set));
        recordItems_.push_back(child);
    }
}

bool ConfigParser::readRecordSet(const Item& item, LocalRecordSet& set) {
    if (!item.node.IsMap()) {
        reader_.error(item,
                      "expected a mapping of record types (A, AAAA, CNAME, TXT, MX, SRV), got " +
                          std::string(describe(item.node)));
        return false;
    }
    bool ok = true;
    // A single value or a list of them.
    auto values = [&](const Item& field) -> std::vector<std::pair<std::string, Item>> {
        std::vector<Item> entries;
        if (field.node.IsSequence()) {
            if (auto list = reader_.readList(field))
                entries = std::move(*list);
        } else {
            entries.push_back(field);
        }
        std::vector<std::pair<std::string, Item>> out;
        for (const Item& entry : entries) {
            auto text = reader_.readString(entry, "expected a value or a list of values");
            if (!text) {
                ok = false;
                continue;
            }
            out.emplace_back(*text, entry);
        }
        if (out.empty() && ok) {
            reader_.error(field, "must not be empty");
            ok = false;
        }
        return out;
    };
    auto hostname = [&](std::string_view text, const Item& entry) -> std::optional<std::string> {
        auto name = net::canonicalHostname(text);
        if (!name) {
            reader_.error(entry, inQuotes(text) + " is not a DNS name");
            ok = false;
        }
        return name;
    };
    auto address = [&](int family, std::vector<std::string>& target) {
        return [&, family](const Item& field) {
            for (auto& [text, entry] : values(field)) {
                if (text.starts_with("dd:")) {
                    if (!isIpToken(text)) {
                        reader_.error(entry, inQuotes(text) +
                                                 " is not an IP Address Token: expected dd: and "
                                                 "16 of 0-9 and A-Z (capitals)");
                        ok = false;
                        continue;
                    }
                    target.push_back(text);
                    continue;
                }
                auto ip = net::IpAddress::parse(text);
                if (!ip || ip->family() != family) {
                    reader_.error(entry, inQuotes(text) + " is not an " +
                                             (family == AF_INET ? "IPv4" : "IPv6") +
                                             " address or an IP Address Token (dd:...)");
                    ok = false;
                    continue;
                }
                target.push_back(ip->toString());
            }
        };
    };
    reader_.readMap(
        item, {
                  {"A", address(AF_INET, set.a)},
                  {"AAAA", address(AF_INET6, set.aaaa)},
                  {"CNAME",
                   [&](const Item& field) {
                       auto text = reader_.readString(field, "expected one DNS name");
                       if (!text) {
                           ok = false;
                           return;
                       }
                       if (auto name = hostname(*text, field))
                           set.cname = *name;
                   }},
                  {"TXT",
                   [&](const Item& field) {
                       for (auto& [text, entry] : values(field)) {
                           if (text.size() > kMaxTxtLength) {
                               reader_.error(entry, "longer than " + std::to_string(kMaxTxtLength) +
                                                        " characters");
                               ok = false;
                               continue;
                           }
                           set.txt.push_back(text);
                       }
                   }},
                  {"MX",
                   [&](const Item& field) {
                       for (auto& [text, entry] : values(field)) {
                           const auto parts = fields(text);
                           const auto preference =
                               parts.size() == 2 ? readU16(parts[0]) : std::nullopt;
                           if (!preference) {
                               reader_.error(entry, inQuotes(text) +
                                                        " is not an MX value: expected \"10 "
                                                        "mail.example.com\"");
                               ok = false;
                               continue;
                           }
                           if (auto name = hostname(parts[1], entry))
                               set.mx.push_back({*preference, *name});
                       }
                   }},
                  {"SRV",
                   [&](const Item& field) {
                       for (auto& [text, entry] : values(field)) {
                           const auto parts = fields(text);
                           std::optional<uint16_t> numbers[3];
                           if (parts.size() == 4) {
                               for (size_t i = 0; i < 3; ++i)
                                   numbers[i] = readU16(parts[i]);
                           }
                           if (!numbers[0] || !numbers[1] || !numbers[2]) {
                               reader_.error(entry, inQuotes(text) +
                                                        " is not an SRV value: expected \"priority "
                                                        "weight port target\", e.g. \"10 5 5060 "
                                                        "sip.example.com\"");
                               ok = false;
                               continue;
                           }
                           if (auto name = hostname(parts[3], entry))
                               set.srv.push_back({*numbers[0], *numbers[1], *numbers[2], *name});
                       }
                   }},
              });
    if (reader_.failed())
        ok = false;
    // RFC 1034 §3.6.2: a name with a CNAME has no other data.
    if (ok && set.cname &&
        (!set.a.empty() || !set.aaaa.empty() || !set.txt.empty() || !set.mx.empty() ||
         !set.srv.empty())) {
        reader_.error(item,
                      "a CNAME cannot stand beside other data at the same name (RFC 1034 "
                      "§3.6.2): move the other records to " +
                          inQuotes(*set.cname));
        ok = false;
    }
    return ok;
}

// Checks across dns.records, dns.intercept and accounts.
void ConfigParser::checkLocalNames() {
    const auto& records = config_.dns.records;
    const auto& intercepted = config_.dns.intercept.names;
    auto interceptedBy = [&](std::string_view name) -> const std::string* {
        for (const std::string& pattern : intercepted) {
            if (pattern == name || nameMatches(pattern, name))
                return &pattern;
        }
        return nullptr;
    };
    // Tokens: each names one account.
    for (size_t i = 0; i < config_.accounts.size(); ++i) {
        const std::string& token = config_.accounts[i].ipToken;
        if (token.empty())
            continue;
        for (size_t j = 0; j < i; ++j) {
            if (config_.accounts[j].ipToken == token) {
                reader_.error(ipTokenItems_[i], "is already the ip_token of " +
                                                    inQuotes(config_.accounts[j].username));
                break;
            }
        }
    }
    for (size_t i = 0; i < records.size(); ++i) {
        const LocalRecordSet& set = records[i];
        const Item& item = recordItems_[i];
        if (const std::string* pattern = interceptedBy(set.name)) {
            reader_.error(item, "the name is also intercepted (dns.intercept.names has " +
                                    inQuotes(*pattern) + "): remove it from one of them");
        }
        for (const auto* list : {&set.a, &set.aaaa}) {
            for (const std::string& value : *list) {
                if (!isIpToken(value))
                    continue;
                const bool known =
                    std::any_of(config_.accounts.begin(), config_.accounts.end(),
                                [&](const Account& account) { return account.ipToken == value; });
                if (!known)
                    reader_.error(item, "no account has ip_token " + inQuotes(value));
            }
        }
        // A CNAME chain through the records must end (RFC 1034 §3.6.2: no loops).
        if (set.cname) {
            std::vector<std::string> chain{set.name};
            std::optional<std::string> next = set.cname;
            while (next && chain.size() <= records.size() + 1) {
                if (std::find(chain.begin(), chain.end(), *next) != chain.end() ||
                    (set.name.starts_with("*.") && nameMatches(set.name, *next))) {
                    std::string text;
                    for (const auto& name : chain)
                        text += name + " -> ";
                    reader_.error(item, "CNAME loop: " + text + *next);
                    break;
                }
                chain.push_back(*next);
                const auto target =
                    std::find_if(records.begin(), records.end(),
                                 [&](const LocalRecordSet& other) { return other.name == *next; });
                const auto wildcard =
                    std::find_if(records.begin(), records.end(), [&](const LocalRecordSet& other) {
                        return other.name.starts_with("*.") && nameMatches(other.name, *next);
                    });
                const auto found = target != records.end() ? target : wildcard;
                if (found == records.end() || !found->cname)
                    break;
                if (found->name.starts_with("*."))
                    chain.back() = found->name;
                next = found->cname;
            }
        }
    }
    // accounts[].names: a name carries one account's address and is not intercepted.
    std::vector<std::pair<std::string, std::string>> owners;  // name, "accounts[i]"
    for (const Item& nameItem : accountNameItems_) {
        const auto name = net::canonicalHostname(nameItem.node.Scalar());
        if (!name)
            continue;
        if (const std::string* pattern = interceptedBy(*name)) {
            reader_.error(nameItem, "the name is also intercepted (dns.intercept.names has " +
                                        inQuotes(*pattern) + "): remove it from one of them");
        }
        const auto record =
            std::find_if(records.begin(), records.end(),
                         [&](const LocalRecordSet& set) { return set.name == *name; });
        if (record != records.end() && record->cname) {
            reader_.error(nameItem, "dns.records gives " + *name +
                                        " a CNAME, which cannot stand beside the account's "
                                        "address (RFC 1034 §3.6.2)");
        }
    }
    for (const Item& nameItem : accountNameItems_) {
        const auto name = net::canonicalHostname(nameItem.node.Scalar());
        const std::string account = nameItem.path.substr(0, nameItem.path.rfind(".names"));
        if (!name)
            continue;
        const auto twin = std::find_if(owners.begin(), owners.end(),
                                       [&](const auto& owner) { return owner.first == *name; });
        if (twin == owners.end()) {
            owners.emplace_back(*name, account);
        } else if (twin->second != account) {
            reader_.error(nameItem, inQuotes(*name) + " is already in " + twin->second + ".names");
        }
    }
}

}  // namespace dynamo::config
