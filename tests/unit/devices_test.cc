// The device list of /devices: the bound and eviction, the diagnosis table, the file round
// trip and a damaged file, and the renderers' escaping.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/devices/device_table.h"
#include "gateway/devices/devices_file.h"
#include "gateway/devices/devices_view.h"
#include "temp_dir.h"

namespace dynamo::gateway {
namespace {

net::IpAddress ip(const std::string& text) {
    return *net::IpAddress::parse(text);
}

UpdateSeen update(const std::string& client, UpdateAuth auth, const std::string& username,
                  const std::string& reply) {
    UpdateSeen seen;
    seen.client = ip(client);
    seen.auth = auth;
    seen.username = username;
    seen.userAgent = "ddclient/3.10.0";
    seen.hostnames = {"home.example.org"};
    seen.myip = "203.0.113.7";
    seen.reply = reply;
    return seen;
}

// ---- diagnosis: a pure function of one record ----

struct DiagnosisCase {
    const char* name;
    void (*build)(DeviceTable&);
    const char* expected;
};

const DiagnosisCase kDiagnoses[] = {
    {"asked but never updated",
     [](DeviceTable& t) { t.interceptedQuery("10.0.0.2", "members.dyndns.org", 100); },
     "asked for members.dyndns.org but never sent an update (check its DDNS settings)"},
    {"unknown user name",
     [](DeviceTable& t) {
         t.updateSeen(update("10.0.0.2", UpdateAuth::kUnknownUser, "admin", "badauth"), 100);
     },
     "sent updates with an unknown user name 'admin'"},
    {"wrong password",
     [](DeviceTable& t) {
         t.updateSeen(update("10.0.0.2", UpdateAuth::kBadPassword, "router", "badauth"), 100);
     },
     "sent updates for 'router' with a wrong password"},
    {"on hold",
     [](DeviceTable& t) {
         t.updateSeen(update("10.0.0.2", UpdateAuth::kOnHold, "router", "badauth"), 100);
     },
     "sent updates with bad credentials (user name 'router') until the gateway put it on hold: "
     "fix them in its DDNS settings"},
    {"no credentials",
     [](DeviceTable& t) {
         t.updateSeen(update("10.0.0.2", UpdateAuth::kNone, "", "badauth"), 100);
     },
     "sent update requests without a user name and password (set them in its DDNS settings)"},
    {"refused our certificate",
     [](DeviceTable& t) { t.tlsHandshakeFailed("10.0.0.2", "unknown CA", true, 100); },
     "tried HTTPS and refused our certificate (unknown CA): set it to HTTP or port 8245, or "
     "install state_dir/tls-self-signed.crt on it"},
    {"bad certificate",
     [](DeviceTable& t) { t.tlsHandshakeFailed("10.0.0.2", "bad certificate", true, 100); },
     "tried HTTPS and refused our certificate (bad certificate): set it to HTTP or port 8245, or "
     "install state_dir/tls-self-signed.crt on it"},
    {"old TLS refused by us",
     [](DeviceTable& t) { t.tlsHandshakeFailed("10.0.0.2", "protocol version", false, 100); },
     "tried HTTPS with a TLS version the other side refuses (protocol version): set it to HTTP "
     "or port 8245, or lower gateway.tls.min_version"},
    {"other handshake failure",
     [](DeviceTable& t) { t.tlsHandshakeFailed("10.0.0.2", "handshake failure", false, 100); },
     "tried HTTPS but the handshake failed (handshake failure): set it to HTTP or port 8245"},
    {"updates fine",
     [](DeviceTable& t) {
         t.interceptedQuery("10.0.0.2", "members.dyndns.org", 100);
         t.updateSeen(update("10.0.0.2", UpdateAuth::kOk, "router", "good 203.0.113.7\n"), 101);
     },
     "updates fine"},
    {"nochg is fine",
     [](DeviceTable& t) {
         t.interceptedQuery("10.0.0.2", "members.dyndns.org", 100);
         t.updateSeen(update("10.0.0.2", UpdateAuth::kOk, "router", "nochg 203.0.113.7"), 101);
     },
     "updates fine"},
    {"updates by address",
     [](DeviceTable& t) {
         t.updateSeen(update("10.0.0.2", UpdateAuth::kOk, "router", "good 203.0.113.7"), 101);
     },
     "updates, but its DNS is not this gateway (it reached us by address)"},
    {"host name refused",
     [](DeviceTable& t) {
         t.interceptedQuery("10.0.0.2", "members.dyndns.org", 100);
         t.updateSeen(update("10.0.0.2", UpdateAuth::kOk, "router", "nohost"), 101);
     },
     "sent updates for 'router' answered 'nohost' (a host name this account may not update)"},
    {"a later good update outweighs an earlier TLS failure",
     [](DeviceTable& t) {
         t.interceptedQuery("10.0.0.2", "members.dyndns.org", 100);
         t.tlsHandshakeFailed("10.0.0.2", "unknown CA", true, 100);
         t.updateSeen(update("10.0.0.2", UpdateAuth::kOk, "router", "good 203.0.113.7"), 101);
     },
     "updates fine"},
    {"a later TLS failure outweighs an earlier update",
     [](DeviceTable& t) {
         t.updateSeen(update("10.0.0.2", UpdateAuth::kOk, "router", "good 203.0.113.7"), 100);
         t.tlsHandshakeFailed("10.0.0.2", "unknown CA", true, 101);
     },
     "tried HTTPS and refused our certificate (unknown CA): set it to HTTP or port 8245, or "
     "install state_dir/tls-self-signed.crt on it"},
};

TEST(DeviceDiagnosis, Table) {
    for (const auto& c : kDiagnoses) {
        DeviceTable table;
        c.build(table);
        const DeviceRecord* device = table.find("10.0.0.2");
        ASSERT_NE(device, nullptr) << c.name;
        EXPECT_EQ(diagnose(*device), c.expected) << c.name;
    }
}

TEST(DeviceDiagnosis, UntrustedUserNameIsPrintable) {
    DeviceTable table;
    table.updateSeen(update("10.0.0.2", UpdateAuth::kUnknownUser, "ad\nmin\x1b", "badauth"), 1);
    EXPECT_EQ(diagnose(*table.find("10.0.0.2")),
              "sent updates with an unknown user name 'ad\\x0amin\\x1b'");
}

// ---- the bound ----

TEST(DeviceTable, EvictsTheLeastRecentlySeen) {
    DeviceTable table(3);
    table.interceptedQuery("10.0.0.1", "members.dyndns.org", 1);
    table.interceptedQuery("10.0.0.2", "members.dyndns.org", 2);
    table.interceptedQuery("10.0.0.3", "members.dyndns.org", 3);
    table.interceptedQuery("10.0.0.1", "members.dyndns.org", 4);  // seen again: now newest
    table.interceptedQuery("10.0.0.4", "members.dyndns.org", 5);
    EXPECT_EQ(table.size(), 3u);
    EXPECT_EQ(table.evicted(), 1u);
    EXPECT_EQ(table.find("10.0.0.2"), nullptr);
    ASSERT_NE(table.find("10.0.0.1"), nullptr);
    EXPECT_EQ(table.find("10.0.0.1")->interceptedQueries, 2u);
    EXPECT_EQ(table.find("10.0.0.1")->firstSeen, 1);
    EXPECT_EQ(table.find("10.0.0.1")->lastSeen, 4);
    std::vector<std::string> order;
    for (const auto& device : table.devices())
        order.push_back(device.address);
    EXPECT_EQ(order, (std::vector<std::string>{"10.0.0.4", "10.0.0.1", "10.0.0.3"}));
}

TEST(DeviceTable, HundredThousandClientsStayWithinTheBound) {
    DeviceTable table;
    constexpr uint32_t kClients = 100'000;
    for (uint32_t i = 0; i < kClients; ++i) {
        const std::string address = "10." + std::to_string((i >> 16) & 0xff) + "." +
                                    std::to_string((i >> 8) & 0xff) + "." +
                                    std::to_string(i & 0xff);
        if (i % 3 == 0)
            table.interceptedQuery(address, "members.dyndns.org", i);
        else if (i % 3 == 1)
            table.updateSeen(update(address, UpdateAuth::kUnknownUser, "admin", "badauth"), i);
        else
            table.tlsHandshakeFailed(address, "unknown CA", true, i);
        ASSERT_LE(table.size(), kMaxDevices);
    }
    EXPECT_EQ(table.size(), kMaxDevices);
    EXPECT_EQ(table.evicted(), kClients - kMaxDevices);
    EXPECT_EQ(table.find("10.0.0.0"), nullptr);  // the first, long evicted
    const uint32_t last = kClients - 1;
    EXPECT_NE(table.find("10." + std::to_string((last >> 16) & 0xff) + "." +
                         std::to_string((last >> 8) & 0xff) + "." + std::to_string(last & 0xff)),
              nullptr);
}

TEST(DeviceTable, PerDeviceHistoryAndStringsAreBounded) {
    DeviceTable table;
    for (int i = 0; i < 100; ++i) {
        UpdateSeen seen =
            update("10.0.0.2", UpdateAuth::kOk, std::string(10'000, 'u'), std::string(10'000, 'r'));
        seen.userAgent = std::string(10'000, 'a');
        seen.hostnames.assign(50, std::string(1'000, 'h'));
        table.updateSeen(seen, i);
        table.tlsHandshakeFailed("10.0.0.2", std::string(10'000, 'x'), true, i);
    }
    const DeviceRecord& device = *table.find("10.0.0.2");
    EXPECT_EQ(device.updateRequests, 100u);
    EXPECT_EQ(device.updates.size(), kMaxUpdatesPerDevice);
    EXPECT_EQ(device.tlsFailureCount, 100u);
    EXPECT_EQ(device.tlsFailures.size(), kMaxTlsFailuresPerDevice);
    const UpdateAttempt& attempt = device.updates.back();
    EXPECT_EQ(attempt.when, 99);
    EXPECT_LE(attempt.username.size(), kMaxFieldLength + 3);
    EXPECT_LE(attempt.userAgent.size(), kMaxFieldLength + 3);
    EXPECT_LE(attempt.reply.size(), kMaxFieldLength + 3);
    EXPECT_EQ(attempt.hostnames.size(), kMaxHostnamesKept + 1);  // and a "…"
    for (const auto& name : attempt.hostnames)
        EXPECT_LE(name.size(), kMaxHostnameLength + 3);
    EXPECT_LE(device.tlsFailures.back().reason.size(), kMaxFieldLength + 3);
}

// ---- the file ----

DeviceTable sampleTable() {
    DeviceTable table;
    table.interceptedQuery("10.0.0.2", "members.dyndns.org", 1000);
    table.updateSeen(update("10.0.0.3", UpdateAuth::kUnknownUser, "ad\"min\\", "badauth"), 1001);
    table.tlsHandshakeFailed("10.0.0.4", "unknown CA", true, 1002);
    table.interceptedQuery("10.0.0.5", "members.dyndns.org", 1003);
    UpdateSeen good = update("10.0.0.5", UpdateAuth::kOk, "router", "good 203.0.113.7");
    good.hostnames = {"a.example.org", "b.example.org"};
    good.userAgent = "Fritz!Box \xc3\xa4 <b>";
    table.updateSeen(good, 1004);
    table.tlsHandshakeFailed("fd00::1", "protocol version", false, 1005);
    return table;
}

void expectSameDevices(const DeviceTable& a, const DeviceTable& b) {
    ASSERT_EQ(a.size(), b.size());
    auto left = a.devices().begin();
    auto right = b.devices().begin();
    for (; left != a.devices().end(); ++left, ++right) {
        EXPECT_EQ(left->address, right->address);
        EXPECT_EQ(left->firstSeen, right->firstSeen);
        EXPECT_EQ(left->lastSeen, right->lastSeen);
        EXPECT_EQ(left->interceptedQueries, right->interceptedQueries);
        EXPECT_EQ(left->lastQuery, right->lastQuery);
        EXPECT_EQ(left->lastQueryName, right->lastQueryName);
        EXPECT_EQ(left->updateRequests, right->updateRequests);
        EXPECT_EQ(left->tlsFailureCount, right->tlsFailureCount);
        ASSERT_EQ(left->updates.size(), right->updates.size());
        for (size_t i = 0; i < left->updates.size(); ++i) {
            const auto& x = left->updates[i];
            const auto& y = right->updates[i];
            EXPECT_EQ(x.when, y.when);
            EXPECT_EQ(x.auth, y.auth);
            EXPECT_EQ(x.username, y.username);
            EXPECT_EQ(x.userAgent, y.userAgent);
            EXPECT_EQ(x.hostnames, y.hostnames);
            EXPECT_EQ(x.myip, y.myip);
            EXPECT_EQ(x.reply, y.reply);
        }
        ASSERT_EQ(left->tlsFailures.size(), right->tlsFailures.size());
        for (size_t i = 0; i < left->tlsFailures.size(); ++i) {
            EXPECT_EQ(left->tlsFailures[i].when, right->tlsFailures[i].when);
            EXPECT_EQ(left->tlsFailures[i].reason, right->tlsFailures[i].reason);
            EXPECT_EQ(left->tlsFailures[i].fromClient, right->tlsFailures[i].fromClient);
        }
        EXPECT_EQ(diagnose(*left), diagnose(*right));
    }
}

TEST(DevicesFile, RoundTrip) {
    const DeviceTable table = sampleTable();
    DeviceTable loaded;
    std::string problem;
    ASSERT_TRUE(devicesFromYaml(devicesToYaml(table), &loaded, &problem)) << problem;
    expectSameDevices(table, loaded);
}

class StateDir : public ::testing::Test {
  protected:
    std::string path() const { return dir_ + "/" + kDevicesFile; }
    test::TempDir temp_{"devices"};
    const std::string dir_ = temp_.path();
};

TEST_F(StateDir, SavedAndLoadedAgain) {
    const DeviceTable table = sampleTable();
    std::string error;
    ASSERT_TRUE(saveDevices(dir_, table, &error)) << error;
    EXPECT_EQ(std::filesystem::status(path()).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    DeviceTable loaded;
    loadDevices(dir_, &loaded, 2000);
    expectSameDevices(table, loaded);
}

TEST_F(StateDir, MissingFileIsAnEmptyList) {
    DeviceTable loaded;
    loadDevices(dir_, &loaded, 2000);
    EXPECT_EQ(loaded.size(), 0u);
}

TEST_F(StateDir, DamagedFileIsMovedAsideAndTheListStartsEmpty) {
    for (const std::string& damaged :
         {std::string("devices: [unclosed\n"), std::string("version: 1\ndevices: 7\n"),
          std::string("version: 1\ndevices:\n  - address: 10.0.0.2\n    first_seen: soon\n"),
          std::string("\0\xff\xfe garbage", 12)}) {
        {
            std::ofstream out(path(), std::ios::binary);
            out << damaged;
        }
        DeviceTable loaded;
        loadDevices(dir_, &loaded, 2000);
        EXPECT_EQ(loaded.size(), 0u) << damaged;
        EXPECT_FALSE(std::filesystem::exists(path())) << damaged;
        const std::string aside = path() + ".corrupt-2000";
        ASSERT_TRUE(std::filesystem::exists(aside)) << damaged;
        std::ifstream in(aside, std::ios::binary);
        std::stringstream kept;
        kept << in.rdbuf();
        EXPECT_EQ(kept.str(), damaged);  // kept as it was, for a post-mortem
        std::filesystem::remove(aside);
    }
}

// ---- the views ----

TEST(DevicesView, EscapesWhatClientsSent) {
    DeviceTable table;
    UpdateSeen seen = update("10.0.0.3", UpdateAuth::kUnknownUser, "<script>\"x\"", "badauth");
    seen.userAgent = "<img src=x onerror=alert(1)>";
    table.updateSeen(seen, 1000);
    const auto now = TimePoint(std::chrono::seconds(1060));
    const std::string html = renderDevicesHtml(table, now);
    EXPECT_EQ(html.find("<script>"), std::string::npos);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
    EXPECT_NE(html.find("name=\"viewport\""), std::string::npos);
    const std::string json = renderDevicesJson(table, now);
    EXPECT_NE(json.find("\"diagnosis\":\"sent updates with an unknown user name "
                        "'<script>\\\"x\\\"'\""),
              std::string::npos)
        << json;
    EXPECT_NE(json.find("\"user_agent\":\"<img src=x onerror=alert(1)>\""), std::string::npos);
    EXPECT_NE(json.find("\"when\":\"1970-01-01T00:16:40Z\""), std::string::npos);
}

TEST(DevicesView, EmptyList) {
    DeviceTable table;
    const auto now = TimePoint(std::chrono::seconds(1060));
    EXPECT_NE(renderDevicesHtml(table, now).find("No device seen yet."), std::string::npos);
    EXPECT_EQ(renderDevicesJson(table, now),
              "{\"generated_at\":\"1970-01-01T00:17:40Z\",\"capacity\":1024,\"devices\":[\n]}\n");
}

}  // namespace
}  // namespace dynamo::gateway
