#pragma once
// The parser behind config::parse(), internal to config/. One ConfigParser reads one document:
// each section of docs/configuration.md#keys has a read function that fills config_ and reports
// through reader_, and the checks that need the whole document (forwarding loops, listener clashes)
// run at the end. Split by section: config.cc (top level, gateway, dynamo, files), dns_section.cc,
// accounts_section.cc.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace dynamo::config {

inline constexpr uint16_t kDnsPort = 53;
inline constexpr uint16_t kHttpPort = 80;
inline constexpr uint16_t kHttpsPort = 443;

// An address with the entry it came from, for messages that point at it.
struct Located {
    net::SocketAddress address;
    Item item;
    bool explicit_ = true;  // false for a default nobody wrote
};

class ConfigParser {
  public:
    ConfigParser(std::string_view fileName, const Environment& environment);
    ParseResult run(const YAML::Node& root);

  private:
    ParseResult finish();

    // dns_section.cc
    void readDns(const Item& dns);
    void readAllow(const Item& item);
    void readIntercept(const Item& intercept);
    void readInterceptNames(const Item& item);
    void readHealthCheck(const Item& item);
    void readServeStale(const Item& item);
    std::optional<std::vector<Located>> readAddresses(const Item& item, uint16_t defaultPort,
                                                      bool upstream);
    std::optional<net::SocketAddress> readAddress(const Item& item, uint16_t defaultPort,
                                                  bool upstream);
    const std::vector<net::IpAddress>& localAddresses();
    void checkUpstreams();
    void checkListenConflicts();

    // records_section.cc
    void readRecordsTtl(const Item& item);
    void readRecords(const Item& item);
    bool readRecordSet(const Item& item, LocalRecordSet& set);
    void checkLocalNames();

    // config.cc
    void readGateway(const Item& gateway);
    void readTls(const Item& tls);
    void readAdminPasswordHash(const Item& item);
    void readDynamo(const Item& dynamo);
    void readUpdateUrl(const Item& item);
    void readStateDir(const Item& item);
    void readRunAs(const Item& item);
    void readLogLevel(const Item& item);
    std::optional<std::chrono::seconds> readSeconds(const Item& item, std::chrono::seconds min,
                                                    std::chrono::seconds max);
    std::string resolve(const std::string& text) const;
    std::optional<std::string> readOptionalPath(const Item& item, int mode);

    // alerts_section.cc
    void readAlerts(const Item& item);
    void readAlertChannel(const Item& entry);

    // public_address_section.cc
    void readPublicAddress(const Item& item);
    void readDnsWhoami(const Item& item);
    void readHttpEcho(const Item& item);

    // accounts_section.cc
    void readAccounts(const Item& item);
    bool readAccount(const Item& entry, Account& account);
    std::optional<std::string> readToken(const Item& item);

    YamlReader reader_;
    const Environment& environment_;
    std::filesystem::path baseDir_;
    Config config_;
    std::vector<Located> upstreams_;
    std::vector<Located> dnsListen_;
    std::vector<Located> httpListen_;
    std::vector<Located> httpsListen_;
    std::optional<int> upstreamsLine_;
    int dnsLine_ = 1;
    int gatewayLine_ = 1;
    std::optional<std::vector<net::IpAddress>> localAddresses_;
    std::vector<Item> recordItems_;       // parallel to config_.dns.records
    std::vector<Item> accountNameItems_;  // every accounts[].names entry, for messages
    std::vector<Item> ipTokenItems_;      // parallel to config_.accounts ("" path: none)
    Item pendingIpTokenItem_;             // of the account being read
};

// Shared by the sections.
std::vector<net::SocketAddress> literalAddresses(std::initializer_list<std::string_view> texts,
                                                 uint16_t defaultPort);
net::CidrSet defaultAllow();
std::string inQuotes(std::string_view text);

}  // namespace dynamo::config
