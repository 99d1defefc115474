#pragma once
// The address history of each account (docs/operations.md#address-history): every change of the
// published address (when, to what, from what, who asked for it) and every result of a call to
// the token API (when, the result code, the address sent), the newest kMaxEntries of each kind
// per account. What the status page draws as a timeline and /status.json lists as `history`.
//
// Kept in state_dir/history.yaml, replaced atomically (net/atomic_file.h), mode 0600 (it names
// accounts and addresses). It is history for the owner, not state the gateway acts on: a damaged
// file is moved aside with an error and the daemon starts with an empty history, never refuses
// to start.
//
// Pure: times come from the caller, the file is read and written only by load() and save(). The
// daemon decides when save() runs (after the loop iteration that recorded something, so one
// token-API answer shared by several accounts is one write; and at a clean stop).
//
// One thread, no locks.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/updates/state_store.h"
#include "net/socket_address.h"

namespace dynamo::gateway {

// The published address changed: the service said UP,OK or UP,ER for an address other than the
// one it confirmed last.
struct AddressChange {
    TimePoint time;
    // nullopt: no address was sent, the service published our public source address.
    std::optional<net::IpAddress> address;
    std::optional<net::IpAddress> previous;  // nullopt: none confirmed before
    UpdateOrigin origin = UpdateOrigin::Device;

    friend bool operator==(const AddressChange&, const AddressChange&) = default;
};

// One call to the token API and how it ended: a code of resultCode() ("UP,OK", "NC", "TF",
// "timeout", "http-503"...).
struct ServiceAnswer {
    TimePoint time;
    std::string result;
    std::optional<net::IpAddress> address;  // the address sent; nullopt: none was sent
    UpdateOrigin origin = UpdateOrigin::Device;

    friend bool operator==(const ServiceAnswer&, const ServiceAnswer&) = default;
};

// One account's history, oldest first.
struct AccountHistory {
    std::vector<AddressChange> changes;
    std::vector<ServiceAnswer> answers;

    friend bool operator==(const AccountHistory&, const AccountHistory&) = default;
};

class AddressHistory {
  public:
    static constexpr std::string_view kFileName = "history.yaml";
    // Per account and per kind: the oldest entry goes when one more comes.
    static constexpr size_t kMaxEntries = 200;
    // Accounts kept (the history of removed accounts stays until this many are known); a file
    // with more is damaged.
    static constexpr size_t kMaxAccounts = 1000;
    // The longest result code kept (the codes are short; a damaged file is not trusted).
    static constexpr size_t kMaxResultLength = 32;

    void recordChange(const std::string& username, AddressChange change);
    void recordAnswer(const std::string& username, ServiceAnswer answer);

    // nullptr when nothing was recorded for the account.
    const AccountHistory* find(const std::string& username) const;
    const std::map<std::string, AccountHistory>& accounts() const { return accounts_; }

    // Something was recorded since the last successful save() (or load()).
    bool dirty() const { return dirty_; }

    // The file's text, and back. fromText() fills an empty history; false with *problem (one
    // printable line) when the text is not a history this daemon wrote; the history is then
    // left empty.
    std::string toText() const;
    bool fromText(std::string_view text, std::string* problem);

    // state_dir/history.yaml: nothing when it is missing; a damaged one is moved to
    // history.yaml.corrupt-<unix time> with an error logged, and the history stays empty.
    void load(const std::string& stateDir, TimePoint now);
    // False with *error (one line) when it may not be durable; dirty() stays true then.
    bool save(const std::string& stateDir, std::string* error);

  private:
    std::map<std::string, AccountHistory> accounts_;
    bool dirty_ = false;
};

}  // namespace dynamo::gateway
