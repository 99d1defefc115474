#pragma once
// Local names (docs/dns.md#local-names): dns.records and the accounts' names, answered here,
// authoritatively, so the network's own names work inside it (the NAT-loopback fix) and a
// device that just sent an update sees its new address at once. Pure code: the accepted
// addresses come in through setAccounts(), pushed by the daemon after every accepted update
// (resolver/ knows nothing of updates).
//
//   QueryHandler::handle() → intercept | LocalRecords::answer() | cache | forwarder
//
// Answers carry AA, TTL dns.records_ttl, NODATA with a synthetic SOA (RFC 2308 §3) for a type
// the name has no data of, and are unsigned (no RRSIG for a DO query).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "net/cidr.h"
#include "net/socket_address.h"
#include "resolver/dns_message.h"

namespace dynamo::resolver {

// What the resolver needs to know of one account: the app builds these from the configuration
// and the update scheduler's state.
struct AccountAddresses {
    std::string username;
    std::vector<std::string> names;  // accounts[].names: lower-case, no trailing dot
    std::string ipToken;             // accounts[].ip_token; "" when none
    // The newest address the gateway accepted for the account (queued, in flight or
    // confirmed); none while it has none (then its names and token are forwarded).
    std::optional<net::IpAddress> address;
    // The source addresses of the account's accepted updates (newest first, bounded).
    std::vector<net::IpAddress> sources;

    friend bool operator==(const AccountAddresses&, const AccountAddresses&) = default;
};

// For the status page: what each kind of client is told for one local name now.
struct LocalNameView {
    std::string name;
    std::string toUpdaters;  // a client that sent an accepted update for the account
    std::string toOthers;    // every other client
};

class LocalRecords {
  public:
    LocalRecords() = default;
    explicit LocalRecords(const config::DnsConfig& config);

    void setAccounts(std::vector<AccountAddresses> accounts);
    const std::vector<AccountAddresses>& accounts() const { return accounts_; }

    // The answer to `query` from `client`, or nullopt when the name is not answered here
    // (forward it): not a local name, an account without an address yet, a token whose
    // account has none, a PTR for an address no record names.
    std::optional<std::vector<uint8_t>> answer(std::span<const uint8_t> queryBytes,
                                               const dns::Message& query,
                                               const net::IpAddress& client) const;

    // Every name an account change can alter (account names and records holding a token,
    // wildcards as "*.suffix"): the cache must hold no copy of them.
    std::vector<std::string> changingNames() const;

    std::vector<LocalNameView> describe() const;

  private:
    struct Set {
        const config::LocalRecordSet* records = nullptr;  // may be null for an account name
        const AccountAddresses* account = nullptr;        // the account owning the name
    };
    // The data of `nameWire` (exact name first, then the longest matching wildcard).
    std::optional<Set> find(std::string_view nameWire) const;
    const AccountAddresses* accountWithToken(std::string_view token) const;
    // The addresses of one family for a set as `client` sees them; nullopt: forward.
    std::optional<std::vector<net::IpAddress>> addresses(const Set& set, int family,
                                                         const net::IpAddress& client) const;
    std::optional<std::vector<uint8_t>> answerPtr(std::span<const uint8_t> queryBytes,
                                                  const dns::Message& query) const;

    std::vector<config::LocalRecordSet> records_;
    std::vector<std::string> recordWire_;  // parallel: exact name, or the suffix of "*.suffix"
    uint32_t ttl_ = 60;
    std::vector<AccountAddresses> accounts_;
    // Parallel to accounts_: their names in wire form, compared with the question's as it
    // arrived (account names are canonical host names, so this is the presentation match).
    std::vector<std::vector<std::string>> accountWire_;
    net::CidrSet private_;
};

}  // namespace dynamo::resolver
