#pragma once
// The devices the gateway has seen (README "Finding a device that does not update"): every
// client that asked for an intercepted name, sent an update, or failed a TLS handshake on the
// HTTPS listener, with what it sent and what it got, and a plain-language diagnosis.
//
// Bounded: at most kMaxDevices devices (the least recently seen is dropped for a new one), a few
// recent updates and TLS failures each, and every string the client chose cut to a fixed length
// and made printable. Passwords never reach it. Pure: times are passed in (Unix seconds), nothing
// here reads a clock, a socket or a file. One thread, one event_base, no locks.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/http/update_observer.h"

namespace dynamo::gateway {

struct UpdateAttempt {
    int64_t when = 0;
    UpdateAuth auth = UpdateAuth::kNone;
    std::string username;
    std::string userAgent;
    std::vector<std::string> hostnames;
    std::string myip;
    std::string reply;
};

struct TlsFailure {
    int64_t when = 0;
    std::string reason;
    bool fromClient = true;
};

struct DeviceRecord {
    std::string address;  // IpAddress::toString(), the key
    int64_t firstSeen = 0;
    int64_t lastSeen = 0;
    uint64_t interceptedQueries = 0;
    int64_t lastQuery = 0;  // 0: never
    std::string lastQueryName;
    uint64_t updateRequests = 0;
    std::deque<UpdateAttempt> updates;  // oldest first, at most kMaxUpdatesPerDevice
    uint64_t tlsFailureCount = 0;
    std::deque<TlsFailure> tlsFailures;  // oldest first, at most kMaxTlsFailuresPerDevice
};

inline constexpr size_t kMaxDevices = 1024;
inline constexpr size_t kMaxUpdatesPerDevice = 4;
inline constexpr size_t kMaxTlsFailuresPerDevice = 4;
inline constexpr size_t kMaxFieldLength = 128;     // user name, User-Agent, reply, query name
inline constexpr size_t kMaxHostnamesKept = 4;     // per update; the rest are counted as "…"
inline constexpr size_t kMaxHostnameLength = 253;  // RFC 1035 §2.3.4 in presentation form

// Untrusted text as the table keeps it: printable ASCII, other bytes as "\xNN", at most
// `maxLength` input bytes (longer text ends in "…").
std::string boundedText(std::string_view text, size_t maxLength = kMaxFieldLength);

// "none", "unknown_user", "bad_password", "on_hold", "ok": the file's and the JSON's word.
std::string_view updateAuthName(UpdateAuth auth);

// The plain-language state of one device, from its record alone.
std::string diagnose(const DeviceRecord& device);

class DeviceTable {
  public:
    // At least one device.
    explicit DeviceTable(size_t capacity = kMaxDevices) : capacity_(capacity > 0 ? capacity : 1) {}

    void interceptedQuery(const std::string& address, std::string_view name, int64_t now);
    void updateSeen(const UpdateSeen& update, int64_t now);
    void tlsHandshakeFailed(const std::string& address, std::string_view reason, bool fromClient,
                            int64_t now);

    // Most recently seen first.
    const std::list<DeviceRecord>& devices() const { return devices_; }
    size_t size() const { return devices_.size(); }
    size_t capacity() const { return capacity_; }
    uint64_t evicted() const { return evicted_; }
    uint64_t tlsFailures() const { return tlsFailures_; }
    const DeviceRecord* find(const std::string& address) const;

    // Loading a saved table: records oldest-seen last, as devices() lists them; past the
    // capacity the rest are ignored. A record whose address is already there is skipped.
    void restore(DeviceRecord record);

    // Set by every change; the saver clears it once written.
    bool dirty() const { return dirty_; }
    void markClean() { dirty_ = false; }

  private:
    // The device's record, moved to the front and its lastSeen set; made (evicting the least
    // recently seen past the capacity) when new.
    DeviceRecord& touch(const std::string& address, int64_t now);

    size_t capacity_;
    std::list<DeviceRecord> devices_;
    std::unordered_map<std::string, std::list<DeviceRecord>::iterator> index_;
    uint64_t evicted_ = 0;
    uint64_t tlsFailures_ = 0;
    bool dirty_ = false;
};

}  // namespace dynamo::gateway
