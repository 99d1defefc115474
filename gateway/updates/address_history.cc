#include "gateway/updates/address_history.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <utility>

#include "net/atomic_file.h"
#include "net/error_text.h"
#include "net/log.h"
#include "net/small_file.h"

namespace dynamo::gateway {

namespace {

constexpr int kFileVersion = 1;
// kMaxAccounts full histories are far below this; a larger file is damaged.
constexpr size_t kMaxFileSize = 32 * 1024 * 1024;

// A malformed field aborts the whole load: the file is ours, so any damage means it is not.
struct Damaged {
    std::string what;
};

int64_t toUnix(TimePoint time) {
    return std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count();
}

template <typename Entry>
void appendBounded(std::vector<Entry>& entries, Entry entry) {
    if (entries.size() >= AddressHistory::kMaxEntries)
        entries.erase(entries.begin(),
                      entries.begin() + static_cast<std::ptrdiff_t>(
                                            entries.size() - AddressHistory::kMaxEntries + 1));
    entries.push_back(std::move(entry));
}

void emitAddress(YAML::Emitter& out, const char* key, const std::optional<net::IpAddress>& ip) {
    out << YAML::Key << key << YAML::Value;
    if (ip)
        out << ip->toString();
    else
        out << YAML::Null;
}

const YAML::Node need(const YAML::Node& parent, const char* key) {
    YAML::Node node = parent[key];
    if (!node)
        throw Damaged{std::string("missing ") + key};
    return node;
}

TimePoint readTime(const YAML::Node& parent) {
    try {
        return TimePoint(std::chrono::seconds(need(parent, "time").as<int64_t>()));
    } catch (const YAML::Exception&) {
        throw Damaged{"time is not a number"};
    }
}

std::optional<net::IpAddress> readAddress(const YAML::Node& parent, const char* key) {
    const YAML::Node node = need(parent, key);
    if (node.IsNull())
        return std::nullopt;
    if (!node.IsScalar())
        throw Damaged{std::string(key) + " is not an address"};
    auto ip = net::IpAddress::parse(node.Scalar());
    if (!ip)
        throw Damaged{std::string(key) + ": '" + log::printable(node.Scalar(), 64) +
                      "' is not an IP address"};
    return ip;
}

UpdateOrigin readOrigin(const YAML::Node& parent) {
    const YAML::Node node = need(parent, "source");
    const auto origin = node.IsScalar() ? originFromString(node.Scalar()) : std::nullopt;
    if (!origin)
        throw Damaged{"source is not device or self-update"};
    return *origin;
}

const YAML::Node list(const YAML::Node& parent, const char* key) {
    const YAML::Node node = need(parent, key);
    if (!node.IsSequence())
        throw Damaged{std::string(key) + " is not a list"};
    if (node.size() > AddressHistory::kMaxEntries)
        throw Damaged{std::string(key) + " has more than " +
                      std::to_string(AddressHistory::kMaxEntries) + " entries"};
    return node;
}

}  // namespace

void AddressHistory::recordChange(const std::string& username, AddressChange change) {
    appendBounded(accounts_[username].changes, std::move(change));
    dirty_ = true;
}

void AddressHistory::recordAnswer(const std::string& username, ServiceAnswer answer) {
    answer.result = answer.result.substr(0, kMaxResultLength);
    appendBounded(accounts_[username].answers, std::move(answer));
    dirty_ = true;
}

const AccountHistory* AddressHistory::find(const std::string& username) const {
    const auto it = accounts_.find(username);
    return it == accounts_.end() ? nullptr : &it->second;
}

std::string AddressHistory::toText() const {
    YAML::Emitter out;
    out << YAML::BeginMap;
    out << YAML::Key << "version" << YAML::Value << kFileVersion;
    out << YAML::Key << "accounts" << YAML::Value << YAML::BeginSeq;
    for (const auto& [username, history] : accounts_) {
        out << YAML::BeginMap;
        out << YAML::Key << "username" << YAML::Value << username;
        out << YAML::Key << "changes" << YAML::Value << YAML::BeginSeq;
        for (const AddressChange& change : history.changes) {
            out << YAML::Flow << YAML::BeginMap;
            out << YAML::Key << "time" << YAML::Value << toUnix(change.time);
            emitAddress(out, "address", change.address);
            emitAddress(out, "previous", change.previous);
            out << YAML::Key << "source" << YAML::Value << std::string(toString(change.origin));
            out << YAML::EndMap;
        }
        out << YAML::EndSeq;
        out << YAML::Key << "answers" << YAML::Value << YAML::BeginSeq;
        for (const ServiceAnswer& answer : history.answers) {
            out << YAML::Flow << YAML::BeginMap;
            out << YAML::Key << "time" << YAML::Value << toUnix(answer.time);
            out << YAML::Key << "result" << YAML::Value << answer.result;
            emitAddress(out, "address", answer.address);
            out << YAML::Key << "source" << YAML::Value << std::string(toString(answer.origin));
            out << YAML::EndMap;
        }
        out << YAML::EndSeq;
        out << YAML::EndMap;
    }
    out << YAML::EndSeq;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

bool AddressHistory::fromText(std::string_view text, std::string* problem) {
    try {
        const YAML::Node root = YAML::Load(std::string(text));
        if (!root.IsMap())
            throw Damaged{"not a mapping"};
        try {
            if (need(root, "version").as<int>() != kFileVersion)
                throw Damaged{"unknown version"};
        } catch (const YAML::Exception&) {
            throw Damaged{"version is not a number"};
        }
        const YAML::Node accounts = need(root, "accounts");
        if (!accounts.IsSequence())
            throw Damaged{"accounts is not a list"};
        if (accounts.size() > kMaxAccounts)
            throw Damaged{"more than " + std::to_string(kMaxAccounts) + " accounts"};
        std::map<std::string, AccountHistory> loaded;
        for (const YAML::Node& account : accounts) {
            if (!account.IsMap())
                throw Damaged{"an account is not a mapping"};
            const YAML::Node name = need(account, "username");
            if (!name.IsScalar() || name.Scalar().empty())
                throw Damaged{"username is not a string"};
            AccountHistory& history = loaded[name.Scalar()];
            for (const YAML::Node& entry : list(account, "changes")) {
                if (!entry.IsMap())
                    throw Damaged{"a change is not a mapping"};
                history.changes.push_back({readTime(entry), readAddress(entry, "address"),
                                           readAddress(entry, "previous"), readOrigin(entry)});
            }
            for (const YAML::Node& entry : list(account, "answers")) {
                if (!entry.IsMap())
                    throw Damaged{"an answer is not a mapping"};
                const YAML::Node result = need(entry, "result");
                if (!result.IsScalar() || result.Scalar().empty() ||
                    result.Scalar().size() > kMaxResultLength)
                    throw Damaged{"result is not a result code"};
                history.answers.push_back({readTime(entry), log::printable(result.Scalar()),
                                           readAddress(entry, "address"), readOrigin(entry)});
            }
        }
        accounts_ = std::move(loaded);
        dirty_ = false;
        return true;
    } catch (const Damaged& damaged) {
        *problem = damaged.what;
    } catch (const YAML::Exception& e) {
        *problem = "not YAML: " + log::printable(e.what(), 200);
    }
    return false;
}

void AddressHistory::load(const std::string& stateDir, TimePoint now) {
    const std::string path = stateDir + "/" + std::string(kFileName);
    const net::SmallFile file = net::readSmallFile(path, kMaxFileSize);
    if (file.status == net::SmallFile::Status::Missing ||
        file.status == net::SmallFile::Status::Failed)
        return;  // first start, or deleted by hand: an empty history
    std::string problem = "larger than any history this daemon writes";
    if (file.status == net::SmallFile::Status::Read && fromText(file.text, &problem))
        return;
    // Kept for a post-mortem; the history is not worth refusing to start over.
    const std::string aside = path + ".corrupt-" + std::to_string(toUnix(now));
    if (std::rename(path.c_str(), aside.c_str()) == 0) {
        DLOG(Error) << "address history " << path << " is damaged (" << problem << "); moved it to "
                    << aside << " and starting with an empty history";
    } else {
        DLOG(Error) << "address history " << path << " is damaged (" << problem << ") and "
                    << net::fileErrorText("cannot be moved to", aside)
                    << "; starting with an empty history";
    }
}

bool AddressHistory::save(const std::string& stateDir, std::string* error) {
    if (!net::writeFileAtomically(stateDir, kFileName, toText(), 0600, error))
        return false;
    dirty_ = false;
    return true;
}

}  // namespace dynamo::gateway
