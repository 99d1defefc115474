#include "gateway/devices/devices_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <sstream>

#include "net/atomic_file.h"
#include "net/error_text.h"
#include "net/log.h"
#include "net/small_file.h"

namespace dynamo::gateway {

namespace {

constexpr int kFileVersion = 1;

constexpr UpdateAuth kAuths[] = {UpdateAuth::kNone, UpdateAuth::kUnknownUser,
                                 UpdateAuth::kBadPassword, UpdateAuth::kOnHold, UpdateAuth::kOk};

// A malformed field aborts the whole load: the file is ours, so any damage means it is not.
struct Damaged {
    std::string what;
};

const YAML::Node& need(const YAML::Node& node, const char* what) {
    if (!node)
        throw Damaged{std::string("missing ") + what};
    return node;
}

int64_t integer(const YAML::Node& parent, const char* key) {
    const YAML::Node node = need(parent[key], key);
    try {
        return node.as<int64_t>();
    } catch (const YAML::Exception&) {
        throw Damaged{std::string(key) + " is not a number"};
    }
}

uint64_t count(const YAML::Node& parent, const char* key) {
    const int64_t value = integer(parent, key);
    if (value < 0)
        throw Damaged{std::string(key) + " is negative"};
    return static_cast<uint64_t>(value);
}

// A string as the table wrote it: boundedText()'s output, at most 4 bytes ("\xNN") per input
// byte and a "…". Bounded again, and no control character let through; escaping it a second
// time would double every backslash at each restart.
std::string stored(const std::string& value, size_t maxLength) {
    const size_t limit = maxLength * 4 + 3;
    std::string out = value.substr(0, limit);
    for (char& c : out) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f)
            c = '?';
    }
    return out;
}

std::string text(const YAML::Node& parent, const char* key, size_t maxLength = kMaxFieldLength) {
    const YAML::Node node = need(parent[key], key);
    if (!node.IsScalar())
        throw Damaged{std::string(key) + " is not a string"};
    return stored(node.Scalar(), maxLength);
}

UpdateAuth auth(const YAML::Node& parent) {
    const std::string name = text(parent, "auth");
    for (const UpdateAuth candidate : kAuths) {
        if (name == updateAuthName(candidate))
            return candidate;
    }
    throw Damaged{"unknown auth '" + name + "'"};
}

DeviceRecord readDevice(const YAML::Node& node) {
    if (!node.IsMap())
        throw Damaged{"a device is not a mapping"};
    DeviceRecord record;
    record.address = text(node, "address");
    record.firstSeen = integer(node, "first_seen");
    record.lastSeen = integer(node, "last_seen");
    record.interceptedQueries = count(node, "intercepted_queries");
    record.lastQuery = integer(node, "last_query");
    record.lastQueryName = text(node, "last_query_name");
    record.updateRequests = count(node, "update_requests");
    record.tlsFailureCount = count(node, "tls_failure_count");
    if (const YAML::Node updates = node["updates"]) {
        if (!updates.IsSequence())
            throw Damaged{"updates is not a list"};
        for (const auto& entry : updates) {
            UpdateAttempt attempt;
            attempt.when = integer(entry, "when");
            attempt.auth = auth(entry);
            attempt.username = text(entry, "username");
            attempt.userAgent = text(entry, "user_agent");
            attempt.myip = text(entry, "myip");
            attempt.reply = text(entry, "reply");
            const YAML::Node names = need(entry["hostnames"], "hostnames");
            if (!names.IsSequence())
                throw Damaged{"hostnames is not a list"};
            for (const auto& name : names) {
                if (attempt.hostnames.size() > kMaxHostnamesKept || !name.IsScalar())
                    break;
                attempt.hostnames.push_back(stored(name.Scalar(), kMaxHostnameLength));
            }
            record.updates.push_back(std::move(attempt));
            if (record.updates.size() > kMaxUpdatesPerDevice)
                record.updates.pop_front();
        }
    }
    if (const YAML::Node failures = node["tls_failures"]) {
        if (!failures.IsSequence())
            throw Damaged{"tls_failures is not a list"};
        for (const auto& entry : failures) {
            TlsFailure failure;
            failure.when = integer(entry, "when");
            failure.reason = text(entry, "reason");
            try {
                failure.fromClient = need(entry["from_client"], "from_client").as<bool>();
            } catch (const YAML::Exception&) {
                throw Damaged{"from_client is not true or false"};
            }
            record.tlsFailures.push_back(std::move(failure));
            if (record.tlsFailures.size() > kMaxTlsFailuresPerDevice)
                record.tlsFailures.pop_front();
        }
    }
    return record;
}

}  // namespace

std::string devicesToYaml(const DeviceTable& table) {
    YAML::Emitter out;
    out << YAML::Comment(
        "Devices seen by dynamo-gateway, for /devices. Rewritten by the daemon; safe to delete.");
    out << YAML::BeginMap;
    out << YAML::Key << "version" << YAML::Value << kFileVersion;
    out << YAML::Key << "devices" << YAML::Value << YAML::BeginSeq;
    for (const DeviceRecord& device : table.devices()) {
        out << YAML::BeginMap;
        out << YAML::Key << "address" << YAML::Value << device.address;
        out << YAML::Key << "first_seen" << YAML::Value << device.firstSeen;
        out << YAML::Key << "last_seen" << YAML::Value << device.lastSeen;
        out << YAML::Key << "intercepted_queries" << YAML::Value << device.interceptedQueries;
        out << YAML::Key << "last_query" << YAML::Value << device.lastQuery;
        out << YAML::Key << "last_query_name" << YAML::Value << YAML::DoubleQuoted
            << device.lastQueryName;
        out << YAML::Key << "update_requests" << YAML::Value << device.updateRequests;
        out << YAML::Key << "updates" << YAML::Value << YAML::BeginSeq;
        for (const UpdateAttempt& update : device.updates) {
            out << YAML::BeginMap;
            out << YAML::Key << "when" << YAML::Value << update.when;
            out << YAML::Key << "auth" << YAML::Value << std::string(updateAuthName(update.auth));
            out << YAML::Key << "username" << YAML::Value << YAML::DoubleQuoted << update.username;
            out << YAML::Key << "user_agent" << YAML::Value << YAML::DoubleQuoted
                << update.userAgent;
            out << YAML::Key << "hostnames" << YAML::Value << YAML::Flow << YAML::BeginSeq;
            for (const auto& name : update.hostnames)
                out << YAML::DoubleQuoted << name;
            out << YAML::EndSeq;
            out << YAML::Key << "myip" << YAML::Value << YAML::DoubleQuoted << update.myip;
            out << YAML::Key << "reply" << YAML::Value << YAML::DoubleQuoted << update.reply;
            out << YAML::EndMap;
        }
        out << YAML::EndSeq;
        out << YAML::Key << "tls_failure_count" << YAML::Value << device.tlsFailureCount;
        out << YAML::Key << "tls_failures" << YAML::Value << YAML::BeginSeq;
        for (const TlsFailure& failure : device.tlsFailures) {
            out << YAML::BeginMap;
            out << YAML::Key << "when" << YAML::Value << failure.when;
            out << YAML::Key << "reason" << YAML::Value << YAML::DoubleQuoted << failure.reason;
            out << YAML::Key << "from_client" << YAML::Value << failure.fromClient;
            out << YAML::EndMap;
        }
        out << YAML::EndSeq;
        out << YAML::EndMap;
    }
    out << YAML::EndSeq;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

bool devicesFromYaml(std::string_view input, DeviceTable* table, std::string* problem) {
    try {
        const YAML::Node root = YAML::Load(std::string(input));
        if (!root.IsMap())
            throw Damaged{"not a mapping"};
        if (integer(root, "version") != kFileVersion)
            throw Damaged{"unknown version"};
        const YAML::Node devices = need(root["devices"], "devices");
        if (!devices.IsSequence())
            throw Damaged{"devices is not a list"};
        DeviceTable loaded(table->capacity());
        for (const auto& node : devices)
            loaded.restore(readDevice(node));
        for (const DeviceRecord& record : loaded.devices())
            table->restore(record);
        return true;
    } catch (const Damaged& damaged) {
        *problem = damaged.what;
    } catch (const YAML::Exception& e) {
        *problem = "not YAML: " + std::string(e.what());
    }
    return false;
}

void loadDevices(const std::string& stateDir, DeviceTable* table, int64_t now) {
    const std::string path = stateDir + "/" + kDevicesFile;
    const net::SmallFile file = net::readSmallFile(path, kMaxDevicesFileSize);
    if (file.status == net::SmallFile::Status::Missing ||
        file.status == net::SmallFile::Status::Failed)
        return;  // first start, or deleted by hand: an empty list
    std::string problem = "larger than any device list this daemon writes";
    if (file.status == net::SmallFile::Status::Read && devicesFromYaml(file.text, table, &problem))
        return;
    // Kept for a post-mortem; the history is not worth refusing to start over.
    const std::string aside = path + ".corrupt-" + std::to_string(now);
    if (std::rename(path.c_str(), aside.c_str()) == 0) {
        DLOG(Error) << "device list " << path << " is damaged (" << log::printable(problem, 200)
                    << "); moved it to " << aside << " and starting with an empty list";
    } else {
        DLOG(Error) << "device list " << path << " is damaged (" << log::printable(problem, 200)
                    << ") and " << net::fileErrorText("cannot be moved to", aside)
                    << "; starting with an empty list";
    }
}

bool saveDevices(const std::string& stateDir, const DeviceTable& table, std::string* error) {
    return net::writeFileAtomically(stateDir, kDevicesFile, devicesToYaml(table), 0600, error);
}

}  // namespace dynamo::gateway
