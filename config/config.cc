// parse(): YAML text → one immutable Config, or every problem found, each "file:line: key:
// problem" (docs/architecture.md#error-kinds). Keys and defaults: docs/configuration.md#keys. This
// file: the top level, gateway, dynamo and the file handling; dns_section.cc and
// accounts_section.cc do the rest; yaml_reader.cc walks the tree (line numbers, unknown keys,
// suggestions).

#include "config/config.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "config/config_parser.h"
#include "net/ascii.h"
#include "net/error_text.h"
#include "net/small_file.h"

namespace dynamo::config {
namespace {

using std::chrono::seconds;

// The service answers TF to a second call within 5 minutes and restarts its window
// (docs/token-api.md#window).
constexpr seconds kServiceWindow{300};

// yaml-cpp says "end of sequence not found" for `- [::1]:53`; say what to do about it.
std::string syntaxHint(std::string_view yamlText, int line) {
    size_t start = 0;
    for (int i = 1; i < line && start != std::string_view::npos; ++i) {
        start = yamlText.find('\n', start);
        if (start != std::string_view::npos)
            ++start;
    }
    if (start == std::string_view::npos)
        return "";
    const std::string_view text = yamlText.substr(start, yamlText.find('\n', start) - start);
    if (text.find("]:") != std::string_view::npos &&
        text.find_first_of("\"'") == std::string_view::npos) {
        return " (write bracketed IPv6 addresses in quotes: \"[::1]:53\")";
    }
    return "";
}

}  // namespace

std::vector<net::SocketAddress> literalAddresses(std::initializer_list<std::string_view> texts,
                                                 uint16_t defaultPort) {
    std::vector<net::SocketAddress> result;
    for (auto text : texts)
        result.push_back(*net::SocketAddress::parse(text, defaultPort));
    return result;
}

std::string inQuotes(std::string_view text) {
    return "'" + std::string(text) + "'";
}

ConfigParser::ConfigParser(std::string_view fileName, const Environment& environment)
    : reader_(std::string(fileName)), environment_(environment) {
    std::error_code ignored;
    baseDir_ = std::filesystem::absolute(std::filesystem::path(fileName), ignored).parent_path();
    config_.dns.listen = literalAddresses({"0.0.0.0:53", "[::]:53"}, kDnsPort);
    config_.dns.allow = defaultAllow();
    config_.gateway.httpListen = literalAddresses({"0.0.0.0:80", "0.0.0.0:8245"}, kHttpPort);
    config_.gateway.httpsListen = literalAddresses({"0.0.0.0:443"}, kHttpsPort);
}

ParseResult ConfigParser::run(const YAML::Node& root) {
    const Item top{root, "", 1};
    if (!root.IsNull() && !root.IsMap()) {
        reader_.error(
            top, "expected a mapping of keys at the top level, got " + std::string(describe(root)));
        return finish();
    }
    int accountsLine = 1;
    reader_.readMap(top, {
                             {"dns", [&](const Item& item) { readDns(item); }},
                             {"gateway", [&](const Item& item) { readGateway(item); }},
                             {"dynamo", [&](const Item& item) { readDynamo(item); }},
                             {"accounts",
                              [&](const Item& item) {
                                  accountsLine = item.line;
                                  readAccounts(item);
                              }},
                             {"alerts", [&](const Item& item) { readAlerts(item); }},
                             {"public_address", [&](const Item& item) { readPublicAddress(item); }},
                             {"state_dir", [&](const Item& item) { readStateDir(item); }},
                             {"run_as", [&](const Item& item) { readRunAs(item); }},
                             {"log_level", [&](const Item& item) { readLogLevel(item); }},
                         });
    checkUpstreams();
    checkListenConflicts();
    checkLocalNames();
    if (config_.accounts.empty()) {
        reader_.warn(Item{{}, "accounts", accountsLine}, "no accounts: updates will be refused");
    }
    return finish();
}

ParseResult ConfigParser::finish() {
    ParseResult result;
    result.errors = reader_.takeErrors();
    config_.warnings = reader_.takeWarnings();
    if (result.errors.empty())
        result.config = std::move(config_);
    return result;
}

// ---- gateway ----

void ConfigParser::readGateway(const Item& gateway) {
    gatewayLine_ = gateway.line;
    auto listenField = [&](std::string_view name, uint16_t port,
                           std::vector<net::SocketAddress>& target, std::vector<Located>& located) {
        auto* targetList = &target;
        auto* locatedList = &located;
        return YamlReader::Field{name, [this, port, targetList, locatedList](const Item& item) {
                                     auto list = readAddresses(item, port, false);
                                     if (!list)
                                         return;
                                     targetList->clear();
                                     for (auto& e : *list)
                                         targetList->push_back(e.address);
                                     *locatedList = std::move(*list);
                                 }};
    };
    reader_.readMap(
        gateway,
        {
            listenField("http_listen", kHttpPort, config_.gateway.httpListen, httpListen_),
            listenField("https_listen", kHttpsPort, config_.gateway.httpsListen, httpsListen_),
            {"tls", [&](const Item& item) { readTls(item); }},
            {"admin_password_hash", [&](const Item& item) { readAdminPasswordHash(item); }},
        });
}

// A crypt(3) hash in the modular format "$id$...": only what --set-admin-password writes
// (yescrypt "$y$", SHA-512 "$6$") or another libxcrypt method a person pasted in. The hash is
// not a secret in the way a password is, but it is never shown either.
void ConfigParser::readAdminPasswordHash(const Item& item) {
    if (item.node.IsNull())
        return;
    auto text = reader_.readString(item, "expected a crypt(3) hash");
    if (!text)
        return;
    const bool printable = std::all_of(text->begin(), text->end(), [](char c) {
        return c > ' ' && c < 0x7f && c != '\'' && c != '"';
    });
    if (text->size() < 4 || (*text)[0] != '$' || text->find('$', 1) == std::string::npos ||
        !printable) {
        reader_.error(item,
                      "is not a crypt(3) hash: set it with dynamo-gateway --config FILE "
                      "--set-admin-password");
        return;
    }
    config_.gateway.adminPasswordHash = *text;
}

void ConfigParser::readTls(const Item& tls) {
    TlsConfig& target = config_.gateway.tls;
    std::optional<Item> certItem;
    std::optional<Item> keyItem;
    reader_.readMap(
        tls, {
                 {"cert",
                  [&](const Item& item) {
                      certItem = item;
                      target.cert = readOptionalPath(item, F_OK);
                  }},
                 {"key",
                  [&](const Item& item) {
                      keyItem = item;
                      target.key = readOptionalPath(item, F_OK);
                  }},
                 {"min_version",
                  [&](const Item& item) {
                      // The scalar's text, not a float: YAML reads 1.0 as a number.
                      auto text = reader_.readString(item, "expected 1.0, 1.1, 1.2 or 1.3");
                      if (!text)
                          return;
                      if (*text == "1.0" || *text == "1.1" || *text == "1.2" || *text == "1.3") {
                          target.minVersion = *text;
                      } else {
                          reader_.error(item,
                                        "expected 1.0, 1.1, 1.2 or 1.3, got " + inQuotes(*text));
                      }
                  }},
             });
    const bool certSet = certItem && !certItem->node.IsNull();
    const bool keySet = keyItem && !keyItem->node.IsNull();
    if (certSet != keySet) {
        reader_.error(certSet ? *certItem : *keyItem,
                      "cert and key go together: set both, or neither for a self-signed "
                      "certificate made in state_dir");
    }
}

// ---- dynamo ----

void ConfigParser::readDynamo(const Item& dynamo) {
    DynamoConfig& target = config_.dynamo;
    reader_.readMap(
        dynamo,
        {
            {"update_url", [&](const Item& item) { readUpdateUrl(item); }},
            {"ca_file", [&](const Item& item) { target.caFile = readOptionalPath(item, R_OK); }},
            {"min_interval",
             [&](const Item& item) {
                 auto value = readSeconds(item, seconds(1), seconds(7 * 86400));
                 if (!value)
                     return;
                 target.minInterval = *value;
                 if (*value < kServiceWindow) {
                     reader_.warn(item,
                                  "shorter than the service's 5-minute window: calls "
                                  "closer than that are answered TF and restart it");
                 }
             }},
            {"timeout",
             [&](const Item& item) {
                 if (auto value = readSeconds(item, seconds(1), seconds(300))) {
                     target.timeout = *value;
                 }
             }},
        });
}

void ConfigParser::readUpdateUrl(const Item& item) {
    auto text = reader_.readString(item, "expected a URL");
    if (!text)
        return;
    std::string url = *text;
    const std::string lower = net::lowerAscii(url);
    size_t hostStart = 0;
    if (lower.starts_with("https://")) {
        hostStart = 8;
    } else if (lower.starts_with("http://")) {
        hostStart = 7;
        reader_.warn(item, "plain http:// sends tokens unencrypted; use https://");
    } else {
        reader_.error(item, "must start with https:// (or http://), got " + inQuotes(url));
        return;
    }
    const size_t hostEnd = url.find('/', hostStart);
    if (url.substr(hostStart, hostEnd - hostStart).empty()) {
        reader_.error(item, "has no host: " + inQuotes(url));
        return;
    }
    if (url.find_first_of("?# ") != std::string::npos) {
        reader_.error(item, "must not contain '?', '#' or spaces: the token is appended to it");
        return;
    }
    if (url.back() != '/')
        url.push_back('/');
    config_.dynamo.updateUrl = std::move(url);
}

// ---- top-level scalars ----

void ConfigParser::readStateDir(const Item& item) {
    auto text = reader_.readString(item, "expected a directory");
    if (!text)
        return;
    if (text->empty()) {
        reader_.error(item, "must not be empty");
        return;
    }
    config_.stateDir = resolve(*text);
}

void ConfigParser::readRunAs(const Item& item) {
    if (item.node.IsNull()) {
        config_.runAs.reset();
        return;
    }
    auto text = reader_.readString(item, "expected a user name or null");
    if (!text)
        return;
    if (text->empty()) {
        reader_.error(item, "must be a user name or null");
        return;
    }
    if (getpwnam(text->c_str()) == nullptr) {
        reader_.error(item, "no such user " + inQuotes(*text));
        return;
    }
    config_.runAs = *text;
}

void ConfigParser::readLogLevel(const Item& item) {
    auto text = reader_.readString(item, "expected debug, info, warning or error");
    if (!text)
        return;
    if (auto level = log::parseLevel(*text)) {
        config_.logLevel = *level;
    } else {
        reader_.error(item, "expected debug, info, warning or error, got " + inQuotes(*text));
    }
}

// ---- helpers ----

// A duration in whole seconds: the fields it fills count seconds.
std::optional<seconds> ConfigParser::readSeconds(const Item& item, seconds min, seconds max) {
    auto value = reader_.readDuration(item, min, max);
    if (!value)
        return std::nullopt;
    if (value->count() % 1000 != 0) {
        reader_.error(item, "must be a whole number of seconds, got " + formatDuration(*value));
        return std::nullopt;
    }
    return std::chrono::duration_cast<seconds>(*value);
}

// Relative paths are relative to the configuration file, so a config works the same from
// any working directory (make run; systemd starts us in /) and on reload.
std::string ConfigParser::resolve(const std::string& text) const {
    const std::filesystem::path path(text);
    if (path.is_absolute())
        return path.lexically_normal().string();
    return (baseDir_ / path).lexically_normal().string();
}

// null → nullopt; otherwise a path that must pass access(mode).
std::optional<std::string> ConfigParser::readOptionalPath(const Item& item, int mode) {
    if (item.node.IsNull())
        return std::nullopt;
    auto text = reader_.readString(item, "expected a file name or null");
    if (!text)
        return std::nullopt;
    if (text->empty()) {
        reader_.error(item, "must be a file name or null");
        return std::nullopt;
    }
    std::string path = resolve(*text);
    if (access(path.c_str(), mode) != 0) {
        reader_.error(item, "cannot " + std::string(mode == R_OK ? "read " : "find ") + path +
                                ": " + net::errnoText(errno));
        return std::nullopt;
    }
    return path;
}

ParseResult parse(std::string_view yamlText, std::string_view fileName,
                  const Environment& environment) {
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yamlText));
    } catch (const YAML::Exception& e) {
        const int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
        ParseResult result;
        result.errors.push_back(printableMessage(std::string(fileName) + ":" +
                                                 std::to_string(line) + ": " + e.msg +
                                                 syntaxHint(yamlText, line)));
        return result;
    }
    return ConfigParser(fileName, environment).run(root);
}

ParseResult loadFile(const std::string& path, const Environment& environment) {
    ParseResult failure;
    const net::SmallFile file = net::readSmallFile(path, kMaxFileBytes);
    if (file.status == net::SmallFile::Status::TooLarge) {
        failure.errors.push_back(printableMessage(path + ": larger than 1 MiB"));
        return failure;
    }
    if (file.status != net::SmallFile::Status::Read) {
        failure.errors.push_back(
            printableMessage(path + ": cannot read: " + net::errnoText(file.error)));
        return failure;
    }
    struct stat status {};
    const bool statOk = ::stat(path.c_str(), &status) == 0;
    ParseResult result = parse(file.text, path, environment);
    // docs/configuration.md#warnings: the file holds passwords and tokens.
    if (result.config && statOk && (status.st_mode & S_IROTH) != 0) {
        result.config->warnings.push_back(
            path +
            ": readable by every user of this machine, and it holds passwords and "
            "tokens (chmod o-r " +
            path + ")");
    }
    return result;
}

}  // namespace dynamo::config
