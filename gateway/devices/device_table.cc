#include "gateway/devices/device_table.h"

#include <utility>

namespace dynamo::gateway {

namespace {

bool startsWith(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// A reply body on one line: DynDNS answers one line per host name (docs/updates.md#replies).
std::string oneLine(std::string_view body) {
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' '))
        body.remove_suffix(1);
    std::string line;
    for (const char c : body) {
        if (c == '\r')
            continue;
        if (c == '\n')
            line += " / ";
        else
            line += c;
    }
    return line;
}

// What to do about a failed handshake: the device's HTTPS setting is where it goes wrong.
std::string diagnoseTls(const TlsFailure& failure) {
    const std::string& reason = failure.reason;
    if (failure.fromClient && (contains(reason, "certificate") || contains(reason, "CA"))) {
        return "tried HTTPS and refused our certificate (" + reason +
               "): set it to HTTP or port 8245, or install state_dir/tls-self-signed.crt on it";
    }
    if (contains(reason, "protocol version")) {
        return "tried HTTPS with a TLS version the other side refuses (protocol version): set it "
               "to HTTP or port 8245, or lower gateway.tls.min_version";
    }
    if (failure.fromClient) {
        return "tried HTTPS and gave up the handshake (" + reason +
               "): set it to HTTP or port 8245";
    }
    return "tried HTTPS but the handshake failed (" + reason + "): set it to HTTP or port 8245";
}

// Why an authenticated update was not taken, for the codes of docs/updates.md#replies.
std::string_view replyHint(std::string_view reply) {
    if (startsWith(reply, "nohost"))
        return " (a host name this account may not update)";
    if (startsWith(reply, "notfqdn"))
        return " (a host name that is not a full domain name)";
    if (startsWith(reply, "numhost"))
        return " (too many host names in one request)";
    if (startsWith(reply, "911"))
        return " (the service failed; the gateway keeps retrying)";
    return "";
}

}  // namespace

std::string_view updateAuthName(UpdateAuth auth) {
    switch (auth) {
        case UpdateAuth::kNone:
            return "none";
        case UpdateAuth::kUnknownUser:
            return "unknown_user";
        case UpdateAuth::kBadPassword:
            return "bad_password";
        case UpdateAuth::kOnHold:
            return "on_hold";
        case UpdateAuth::kOk:
            return "ok";
    }
    return "none";
}

std::string boundedText(std::string_view text, size_t maxLength) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    const std::string_view kept = text.substr(0, maxLength);
    for (const char c : kept) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '\\') {
            out += c;
        } else {
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        }
    }
    if (text.size() > maxLength)
        out += "\xe2\x80\xa6";  // …
    return out;
}

std::string diagnose(const DeviceRecord& device) {
    const UpdateAttempt* last = device.updates.empty() ? nullptr : &device.updates.back();
    const TlsFailure* tls = device.tlsFailures.empty() ? nullptr : &device.tlsFailures.back();
    // A failed handshake after the last update (or with none): the device now tries HTTPS.
    if (tls != nullptr && (last == nullptr || tls->when >= last->when))
        return diagnoseTls(*tls);
    if (last != nullptr) {
        switch (last->auth) {
            case UpdateAuth::kNone:
                return "sent update requests without a user name and password (set them in its "
                       "DDNS settings)";
            case UpdateAuth::kUnknownUser:
                return "sent updates with an unknown user name '" + last->username + "'";
            case UpdateAuth::kBadPassword:
                return "sent updates for '" + last->username + "' with a wrong password";
            case UpdateAuth::kOnHold:
                return "sent updates with bad credentials (user name '" + last->username +
                       "') until the gateway put it on hold: fix them in its DDNS settings";
            case UpdateAuth::kOk:
                break;
        }
        if (startsWith(last->reply, "good") || startsWith(last->reply, "nochg")) {
            if (device.interceptedQueries == 0)
                return "updates, but its DNS is not this gateway (it reached us by address)";
            return "updates fine";
        }
        return "sent updates for '" + last->username + "' answered '" + last->reply + "'" +
               std::string(replyHint(last->reply));
    }
    if (device.interceptedQueries > 0) {
        return "asked for " + device.lastQueryName +
               " but never sent an update (check its DDNS settings)";
    }
    return "seen, nothing to diagnose yet";
}

const DeviceRecord* DeviceTable::find(const std::string& address) const {
    const auto it = index_.find(address);
    return it == index_.end() ? nullptr : &*it->second;
}

DeviceRecord& DeviceTable::touch(const std::string& address, int64_t now) {
    dirty_ = true;
    if (const auto it = index_.find(address); it != index_.end()) {
        devices_.splice(devices_.begin(), devices_, it->second);
        it->second->lastSeen = now;
        return *it->second;
    }
    while (devices_.size() >= capacity_) {
        index_.erase(devices_.back().address);
        devices_.pop_back();
        ++evicted_;
    }
    DeviceRecord& record = devices_.emplace_front();
    record.address = address;
    record.firstSeen = now;
    record.lastSeen = now;
    index_.emplace(address, devices_.begin());
    return record;
}

void DeviceTable::interceptedQuery(const std::string& address, std::string_view name, int64_t now) {
    DeviceRecord& record = touch(address, now);
    ++record.interceptedQueries;
    record.lastQuery = now;
    // A device asks the same name again and again: keep the stored text when it is unchanged.
    if (record.lastQueryName != name)
        record.lastQueryName = boundedText(name);
}

void DeviceTable::updateSeen(const UpdateSeen& update, int64_t now) {
    DeviceRecord& record = touch(update.client.toString(), now);
    ++record.updateRequests;
    UpdateAttempt attempt;
    attempt.when = now;
    attempt.auth = update.auth;
    attempt.username = boundedText(update.username);
    attempt.userAgent = boundedText(update.userAgent);
    for (const auto& name : update.hostnames) {
        if (attempt.hostnames.size() == kMaxHostnamesKept) {
            attempt.hostnames.emplace_back("\xe2\x80\xa6");
            break;
        }
        attempt.hostnames.push_back(boundedText(name, kMaxHostnameLength));
    }
    attempt.myip = boundedText(update.myip);
    attempt.reply = boundedText(oneLine(update.reply));
    record.updates.push_back(std::move(attempt));
    while (record.updates.size() > kMaxUpdatesPerDevice)
        record.updates.pop_front();
}

void DeviceTable::tlsHandshakeFailed(const std::string& address, std::string_view reason,
                                     bool fromClient, int64_t now) {
    DeviceRecord& record = touch(address, now);
    ++tlsFailures_;
    ++record.tlsFailureCount;
    record.tlsFailures.push_back({now, boundedText(reason), fromClient});
    while (record.tlsFailures.size() > kMaxTlsFailuresPerDevice)
        record.tlsFailures.pop_front();
}

void DeviceTable::restore(DeviceRecord record) {
    if (devices_.size() >= capacity_ || index_.contains(record.address))
        return;
    devices_.push_back(std::move(record));
    index_.emplace(devices_.back().address, std::prev(devices_.end()));
}

}  // namespace dynamo::gateway
