// The router as a source of the public address: the NAT-PMP, PCP and UPnP IGD codecs on
// miniupnpd's real answers (captured from Debian's miniupnpd 2.3.1, also the fuzz corpus) and
// hand-made edge cases; then the source itself against fake routers in the test's event loop on
// loopback: a UDP NAT-PMP/PCP responder, a UDP SSDP responder and an evhttp device.

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>

#include "event_loop_util.h"
#include "gateway/address/default_route.h"
#include "gateway/address/nat_pmp.h"
#include "gateway/address/pcp.h"
#include "gateway/address/router_source.h"
#include "gateway/address/upnp_igd.h"
#include "net/handles.h"

namespace dynamo::gateway {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;

Bytes hex(std::string_view text) {
    Bytes out;
    for (size_t i = 0; i + 1 < text.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
    return out;
}

std::string corpus(const std::string& name) {
    std::ifstream in(
        std::string(DYNAMO_SOURCE_DIR) + "/tests/fuzz/corpus/router_protocols_fuzzer/" + name,
        std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

net::IpAddress ip(std::string_view text) {
    return *net::IpAddress::parse(text);
}

// ---- NAT-PMP ----

TEST(NatPmp, RequestIsVersionZeroOpcodeZero) {
    EXPECT_EQ(natPmpExternalAddressRequest(), (std::array<uint8_t, 2>{0, 0}));
}

TEST(NatPmp, MiniupnpdAddressAnswer) {
    const Bytes answer = hex("0080000000006136c6336307");
    const auto response = parseNatPmpResponse(answer);
    EXPECT_EQ(response.kind, NatPmpResponse::Kind::Address);
    EXPECT_EQ(response.address, ip("198.51.99.7"));
    EXPECT_EQ(response.epoch, 0x6136u);
}

TEST(NatPmp, ResultCodesAreErrorsInWords) {
    // miniupnpd 2.3.1 with a private or carrier-grade WAN address.
    const auto response = parseNatPmpResponse(hex("008000030000610600000000"));
    EXPECT_EQ(response.kind, NatPmpResponse::Kind::Error);
    EXPECT_EQ(natPmpResultText(response.result),
              "NAT-PMP result 3: network failure (the router has no public address of its own)");
    EXPECT_EQ(natPmpResultText(1), "NAT-PMP result 1: unsupported version");
    EXPECT_EQ(natPmpResultText(2), "NAT-PMP result 2: not authorized/refused");
    EXPECT_EQ(natPmpResultText(4), "NAT-PMP result 4: out of resources");
    EXPECT_EQ(natPmpResultText(5), "NAT-PMP result 5: unsupported opcode");
    EXPECT_EQ(natPmpResultText(77), "NAT-PMP result 77: unknown result code");
    // An error may stop after the epoch.
    EXPECT_EQ(parseNatPmpResponse(hex("0080000200000001")).kind, NatPmpResponse::Kind::Error);
}

TEST(NatPmp, PcpServerAndGarbage) {
    EXPECT_EQ(parseNatPmpResponse(hex("028000010000000000000000")).kind,
              NatPmpResponse::Kind::PcpServer);
    for (const char* junk : {"", "00", "0080000000006136c63363", "0081000000006136c6336307",
                             "0180000000006136c6336307", "0000000000006136c6336307"})
        EXPECT_EQ(parseNatPmpResponse(hex(junk)).kind, NatPmpResponse::Kind::NotOurs) << junk;
}

// ---- PCP ----

const PcpNonce kNonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

Bytes pcpAnswer(uint8_t result, const PcpNonce& nonce, std::string_view external) {
    Bytes out = hex("028100000000007800006136000000000000000000000000");
    out[3] = result;
    out.insert(out.end(), nonce.begin(), nonce.end());
    const Bytes rest = hex("110000009c409c40");
    out.insert(out.end(), rest.begin(), rest.end());
    const Bytes mapped = hex("00000000000000000000ffff");
    out.insert(out.end(), mapped.begin(), mapped.end());
    const auto address = ip(external);
    out.insert(out.end(), address.bytes(), address.bytes() + 4);
    return out;
}

TEST(Pcp, MapRequestLayout) {
    const auto request = pcpMapRequest(ip("192.168.77.2"), 40000, kNonce, 120);
    ASSERT_EQ(request.size(), kPcpMapSize);
    EXPECT_EQ(request[0], 2);  // version
    EXPECT_EQ(request[1], 1);  // MAP, R = 0
    EXPECT_EQ(Bytes(request.begin() + 4, request.begin() + 8), hex("00000078"));
    EXPECT_EQ(Bytes(request.begin() + 8, request.begin() + 24),
              hex("00000000000000000000ffffc0a84d02"));
    EXPECT_EQ(Bytes(request.begin() + 24, request.begin() + 36),
              Bytes(kNonce.begin(), kNonce.end()));
    EXPECT_EQ(request[36], 17);  // UDP
    EXPECT_EQ(Bytes(request.begin() + 40, request.begin() + 44), hex("9c400000"));
    // Suggested external address ::ffff:0.0.0.0: an IPv4 address, any (RFC 6887 errata 3621).
    EXPECT_EQ(Bytes(request.begin() + 44, request.end()), hex("00000000000000000000ffff00000000"));
}

TEST(Pcp, SuccessCarriesTheAssignedAddress) {
    const auto response = parsePcpResponse(pcpAnswer(0, kNonce, "203.0.113.9"), kNonce);
    EXPECT_EQ(response.kind, PcpResponse::Kind::Address);
    EXPECT_EQ(response.address, ip("203.0.113.9"));
    EXPECT_EQ(response.lifetime, 120u);
}

TEST(Pcp, MiniupnpdNoResourcesIsAnErrorEvenWithAnAddressInIt) {
    // miniupnpd 2.3.1 in a namespace without nftables tables: result 8, and the address filled
    // in anyway; only SUCCESS assigns one.
    const Bytes answer =
        hex("028100080000001e00006136000000000000000000000000011a2fcb140129c87503abac110000009c4000"
            "0000000000000000000000ffffc6336307");
    PcpNonce nonce;
    std::copy(answer.begin() + 24, answer.begin() + 36, nonce.begin());
    const auto response = parsePcpResponse(answer, nonce);
    EXPECT_EQ(response.kind, PcpResponse::Kind::Error);
    EXPECT_EQ(pcpResultText(response.result), "PCP result 8: NO_RESOURCES");
    EXPECT_EQ(pcpResultText(7), "PCP result 7: NETWORK_FAILURE");
    EXPECT_EQ(pcpResultText(200), "PCP result 200: unknown result code");
}

TEST(Pcp, VersionMismatchAndForeignAnswers) {
    // A NAT-PMP-only server: version 0, "unsupported version" (RFC 6887 §9).
    EXPECT_EQ(parsePcpResponse(hex("008100010000000000000000"), kNonce).kind,
              PcpResponse::Kind::NatPmpServer);
    PcpNonce other = kNonce;
    other[0] ^= 1;
    EXPECT_EQ(parsePcpResponse(pcpAnswer(0, other, "203.0.113.9"), kNonce).kind,
              PcpResponse::Kind::NotOurs);
    Bytes tooLong = pcpAnswer(0, kNonce, "203.0.113.9");
    tooLong.resize(kPcpMaxSize + 4);
    EXPECT_EQ(parsePcpResponse(tooLong, kNonce).kind, PcpResponse::Kind::NotOurs);
    Bytes odd = pcpAnswer(0, kNonce, "203.0.113.9");
    odd.push_back(0);
    EXPECT_EQ(parsePcpResponse(odd, kNonce).kind, PcpResponse::Kind::NotOurs);
    // A header-only error (the server could not parse the request).
    EXPECT_EQ(
        parsePcpResponse(hex("028100030000000000000000000000000000000000000000"), kNonce).kind,
        PcpResponse::Kind::Error);
    // An IPv6 assignment is not what was asked.
    Bytes v6 = pcpAnswer(0, kNonce, "203.0.113.9");
    v6[54] = 0x20;
    EXPECT_EQ(parsePcpResponse(v6, kNonce).kind, PcpResponse::Kind::NotOurs);
}

// ---- UPnP IGD ----

TEST(UpnpIgd, SearchAndLocation) {
    EXPECT_EQ(ssdpSearch(kWanServiceTypes[1], "239.255.255.250:1900"),
              "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
              "MX: 1\r\nST: urn:schemas-upnp-org:service:WANIPConnection:1\r\n\r\n");
    EXPECT_EQ(ssdpLocation(corpus("miniupnpd_ssdp_reply")),
              "http://192.168.77.1:46717/rootDesc.xml");
    EXPECT_EQ(ssdpLocation("HTTP/1.1 200 OK\nlocation:   http://10.0.0.1/d.xml  \n\n"),
              "http://10.0.0.1/d.xml");
    EXPECT_FALSE(ssdpLocation("NOTIFY * HTTP/1.1\r\nLOCATION: http://10.0.0.1/\r\n\r\n"));
    EXPECT_FALSE(ssdpLocation("HTTP/1.1 200 OK\r\nST: x\r\n\r\nLOCATION: http://10.0.0.1/\r\n"));
    EXPECT_FALSE(ssdpLocation("HTTP/1.1 200 OK\r\nLOCATION: \r\n\r\n"));
}

TEST(UpnpIgd, UrlsAreIpv4LiteralsWithPlainPaths) {
    const auto url = parseHttpUrl("http://192.168.77.1:46717/rootDesc.xml");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->toString(), "http://192.168.77.1:46717/rootDesc.xml");
    EXPECT_EQ(parseHttpUrl("HTTP://10.0.0.1")->toString(), "http://10.0.0.1:80/");
    EXPECT_EQ(parseHttpUrl("http://10.0.0.1?x")->path, "/?x");
    for (const char* bad :
         {"https://10.0.0.1/", "http://router.lan/", "http://10.0.0.1:0/", "http://10.0.0.1:65536/",
          "http://10.0.0.1:/", "http://[::1]/", "http://10.0.0.1/a b", "http://10.0.0.1/a\r\nX: y",
          "http://user@10.0.0.1/", "ftp://10.0.0.1/"})
        EXPECT_FALSE(parseHttpUrl(bad)) << bad;
    const HttpUrl base = *parseHttpUrl("http://10.0.0.1:5000/desc/root.xml");
    EXPECT_EQ(resolveUrl(base, "/ctl/IPConn")->toString(), "http://10.0.0.1:5000/ctl/IPConn");
    EXPECT_EQ(resolveUrl(base, "ctl")->toString(), "http://10.0.0.1:5000/desc/ctl");
    EXPECT_EQ(resolveUrl(base, "http://10.0.0.2:1/x")->toString(), "http://10.0.0.2:1/x");
    EXPECT_FALSE(resolveUrl(base, "//10.0.0.2/x"));
    EXPECT_FALSE(resolveUrl(base, "https://10.0.0.1/x"));
    EXPECT_FALSE(resolveUrl(base, ""));
    EXPECT_FALSE(resolveUrl(base, "/a\nb"));
}

TEST(UpnpIgd, MiniupnpdDescription) {
    const HttpUrl location = *parseHttpUrl("http://192.168.77.1:46717/rootDesc.xml");
    const auto services = wanServices(corpus("miniupnpd_rootdesc.xml"), location);
    ASSERT_EQ(services.size(), 1u);
    EXPECT_EQ(services[0].serviceType, "urn:schemas-upnp-org:service:WANIPConnection:2");
    EXPECT_EQ(services[0].control.toString(), "http://192.168.77.1:46717/ctl/IPConn");
}

TEST(UpnpIgd, DescriptionWithUrlBaseCommentsAndCdata) {
    const HttpUrl location = *parseHttpUrl("http://10.0.0.1:1900/igd.xml");
    const auto services = wanServices(corpus("description_urlbase_comment_cdata"), location);
    ASSERT_EQ(services.size(), 2u);
    // WANIPConnection before WANPPPConnection, whatever the document's order; the commented-out
    // service does not count; the URLBase applies to relative URLs.
    EXPECT_EQ(services[0].serviceType, "urn:schemas-upnp-org:service:WANIPConnection:1");
    EXPECT_EQ(services[0].control.toString(), "http://10.0.0.1:49000/igdupnp/control/WANIPConn1");
    EXPECT_EQ(services[1].serviceType, "urn:schemas-upnp-org:service:WANPPPConnection:1");
    EXPECT_EQ(services[1].control.toString(),
              "http://10.0.0.1:49000/upnp/control/wanpppconn1?a=1&b=2");
    EXPECT_TRUE(wanServices("<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1"
                            "</serviceType><controlURL>/a</controlURL",
                            location)
                    .empty());
}

TEST(UpnpIgd, SoapRequest) {
    const WanService service{"urn:schemas-upnp-org:service:WANIPConnection:1",
                             *parseHttpUrl("http://10.0.0.1:5000/ctl/IPConn")};
    const std::string request = soapGetExternalIpAddress(service);
    EXPECT_TRUE(request.starts_with("POST /ctl/IPConn HTTP/1.1\r\nHost: 10.0.0.1:5000\r\n"));
    EXPECT_NE(request.find("\r\nSOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:1"
                           "#GetExternalIPAddress\"\r\n"),
              std::string::npos);
    const size_t bodyStart = request.find("\r\n\r\n") + 4;
    EXPECT_NE(
        request.find("Content-Length: " + std::to_string(request.size() - bodyStart) + "\r\n"),
        std::string::npos);
    EXPECT_NE(request.find("<u:GetExternalIPAddress xmlns:u=\"urn:schemas-upnp-org:service:"
                           "WANIPConnection:1\"></u:GetExternalIPAddress>"),
              std::string::npos);
    EXPECT_EQ(httpGet(service.control),
              "GET /ctl/IPConn HTTP/1.1\r\nHost: 10.0.0.1:5000\r\nConnection: close\r\nAccept: "
              "text/xml\r\n\r\n");
}

TEST(UpnpIgd, SoapAnswers) {
    EXPECT_EQ(parseGetExternalIpAddress(200, corpus("miniupnpd_soap_answer")).address,
              ip("198.51.99.7"));
    EXPECT_EQ(parseGetExternalIpAddress(500, corpus("soap_fault_501")).error,
              "UPnP error 501: Action Failed");
    EXPECT_EQ(parseGetExternalIpAddress(404, "").error, "HTTP 404");
    EXPECT_EQ(parseGetExternalIpAddress(200,
                                        "<x><NewExternalIPAddress>0.0.0.0"
                                        "</NewExternalIPAddress></x>")
                  .error,
              "the router reports no external address (0.0.0.0)");
    EXPECT_EQ(parseGetExternalIpAddress(200, "<NewExternalIPAddress></NewExternalIPAddress>").error,
              "the router reports no external address (empty)");
    EXPECT_EQ(parseGetExternalIpAddress(200, "<NewExternalIPAddress/>").error,
              "the router reports no external address (empty)");
    EXPECT_EQ(parseGetExternalIpAddress(200, "<a/>").error,
              "no NewExternalIPAddress in the answer");
    EXPECT_EQ(parseGetExternalIpAddress(200,
                                        "<NewExternalIPAddress>2001:db8::1"
                                        "</NewExternalIPAddress>")
                  .error,
              "NewExternalIPAddress is not an IPv4 address: 2001:db8::1");
    EXPECT_EQ(parseGetExternalIpAddress(200,
                                        "<NewExternalIPAddress>\x1b[31m"
                                        "</NewExternalIPAddress>")
                  .error,
              "NewExternalIPAddress is not an IPv4 address: \\x1b[31m");
    // A carrier-grade address is an address: judging it is the monitor's business.
    EXPECT_EQ(parseGetExternalIpAddress(200,
                                        "<m:NewExternalIPAddress xmlns:m=\"u\"> 100.64.1.2 "
                                        "</m:NewExternalIPAddress>")
                  .address,
              ip("100.64.1.2"));
}

TEST(UpnpIgd, ElementText) {
    EXPECT_EQ(xmlElementText("<a><!-- <b>no</b> --><b>&lt;&#65;&#x42;&amp;&bogus;</b></a>", "b"),
              "<AB&&bogus;");
    EXPECT_EQ(xmlElementText("<?pi <b>no</b>?><![CDATA[<b>no</b>]]><p:b attr='>'>yes</p:b >", "b"),
              "yes");
    EXPECT_FALSE(xmlElementText("<b>unterminated", "b"));
    EXPECT_FALSE(xmlElementText("<b", "b"));
    EXPECT_FALSE(xmlElementText("<bb>x</bb>", "b"));
}

// ---- the default route ----

TEST(DefaultRoute, FromProcNetRoute) {
    EXPECT_EQ(defaultGatewayFromRouteTable(corpus("proc_net_route")), ip("192.168.77.1"));
    const std::string two =
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\n"
        "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\n"
        "eth1\t00000000\t0200000A\t0001\t0\t0\t0\t00000000\n";  // not RTF_GATEWAY
    EXPECT_EQ(defaultGatewayFromRouteTable(two), ip("10.0.0.1"));
    EXPECT_FALSE(defaultGatewayFromRouteTable("Iface\tDestination\n"));
    EXPECT_FALSE(
        defaultGatewayFromRouteTable("h\neth0\t004DA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"));
}

// ---- the source against fake routers ----

// A UDP socket on loopback the test answers from: `reply` gets each datagram and returns what
// to send back (nothing: stay silent).
class FakeUdp {
  public:
    using Reply = std::function<Bytes(const Bytes&)>;

    FakeUdp(event_base* base, Reply reply) : reply_(std::move(reply)) {
        fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        socklen_t len = sizeof addr;
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        event_.reset(event_new(base, fd_.get(), EV_READ | EV_PERSIST, &FakeUdp::onRead, this));
        event_add(event_.get(), nullptr);
    }

    uint16_t port() const { return port_; }
    std::vector<Bytes> received;

  private:
    static void onRead(evutil_socket_t fd, short, void* self) {
        auto* fake = static_cast<FakeUdp*>(self);
        uint8_t buffer[2048];
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        const ssize_t n =
            ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0)
            return;
        fake->received.emplace_back(buffer, buffer + n);
        const Bytes answer = fake->reply_(fake->received.back());
        if (!answer.empty())
            ::sendto(fd, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }

    Reply reply_;
    net::UniqueFd fd_;
    net::EventPtr event_;
    uint16_t port_ = 0;
};

// A port where nothing listens: bound, then closed.
uint16_t closedUdpPort() {
    net::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
}

Bytes natPmpAddress(std::string_view address) {
    Bytes out = hex("0080000000000001");
    const auto a = ip(address);
    out.insert(out.end(), a.bytes(), a.bytes() + 4);
    return out;
}

// The PCP answer to a MAP request: its nonce echoed.
Bytes pcpAnswerTo(const Bytes& request, uint8_t result, std::string_view external) {
    PcpNonce nonce{};
    if (request.size() >= 36)
        std::copy(request.begin() + 24, request.begin() + 36, nonce.begin());
    return pcpAnswer(result, nonce, external);
}

class RouterSourceTest : public ::testing::Test {
  protected:
    std::unique_ptr<AddressSource> make(uint16_t natPmpPort, uint16_t ssdpPort = 0,
                                        std::chrono::milliseconds timeout = 2000ms) {
        RouterSourceOptions options;
        options.router = net::SocketAddress(ip("127.0.0.1"), natPmpPort);
        options.ssdpPort = ssdpPort != 0 ? ssdpPort : closedUdpPort();
        options.timeout = timeout;
        std::string error;
        auto source = makeRouterSource(base_.get(), options, &error);
        EXPECT_TRUE(source) << error;
        return source;
    }

    // One ask(); the answer, which must come exactly once.
    AddressAnswer ask(AddressSource& source, std::chrono::milliseconds deadline = 5000ms) {
        int calls = 0;
        AddressAnswer answer;
        source.ask([&](const AddressAnswer& a) {
            ++calls;
            answer = a;
        });
        EXPECT_EQ(calls, 0) << "answered inside ask()";
        EXPECT_TRUE(test::runUntil(
            base_.get(), [&] { return calls > 0; }, deadline));
        test::runUntil(
            base_.get(), [] { return false; }, 50ms);
        EXPECT_EQ(calls, 1);
        return answer;
    }

    net::EventBasePtr base_{event_base_new()};
};

TEST_F(RouterSourceTest, NatPmpAnswerPassesACarrierGradeAddressOnUnjudged) {
    FakeUdp router(base_.get(), [](const Bytes& request) {
        return request == hex("0000") ? natPmpAddress("100.64.1.2") : Bytes{};
    });
    auto source = make(router.port());
    EXPECT_EQ(source->kind(), "router");
    const auto answer = ask(*source);
    EXPECT_EQ(answer.address, ip("100.64.1.2"));
    EXPECT_EQ(answer.source, "router nat-pmp 127.0.0.1");
    EXPECT_EQ(answer.error, "");
}

TEST_F(RouterSourceTest, NatPmpIsRetransmittedAt250MsDoubling) {
    // RFC 6886 §3.1: requests at 0, 250 and 750 ms; the third is answered.
    std::vector<std::chrono::steady_clock::time_point> at;
    FakeUdp router(base_.get(), [&](const Bytes&) {
        at.push_back(std::chrono::steady_clock::now());
        return at.size() < 3 ? Bytes{} : natPmpAddress("198.51.99.7");
    });
    auto source = make(router.port(), 0, 4000ms);
    const auto answer = ask(*source);
    EXPECT_EQ(answer.address, ip("198.51.99.7"));
    ASSERT_EQ(at.size(), 3u);
    const auto ms = [](auto d) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    EXPECT_GE(ms(at[1] - at[0]), 240);
    EXPECT_LT(ms(at[1] - at[0]), 400);
    EXPECT_GE(ms(at[2] - at[1]), 490);
    EXPECT_LT(ms(at[2] - at[1]), 700);
}

TEST_F(RouterSourceTest, PcpAnswersAfterANatPmpErrorAndItsMappingIsDeleted) {
    FakeUdp router(base_.get(), [](const Bytes& request) {
        if (request == hex("0000"))
            return hex("008000030000000100000000");  // network failure
        if (request.size() == kPcpMapSize && request[4] + request[5] + request[6] + request[7] != 0)
            return pcpAnswerTo(request, 0, "203.0.113.9");
        return Bytes{};
    });
    auto source = make(router.port());
    const auto answer = ask(*source);
    EXPECT_EQ(answer.address, ip("203.0.113.9"));
    EXPECT_EQ(answer.source, "router pcp 127.0.0.1");
    ASSERT_EQ(router.received.size(), 3u);
    const Bytes& map = router.received[1];
    const Bytes& remove = router.received[2];
    EXPECT_EQ(Bytes(map.begin() + 4, map.begin() + 8), hex("00000078"));
    EXPECT_EQ(Bytes(remove.begin() + 4, remove.begin() + 8), hex("00000000"));  // lifetime 0
    EXPECT_EQ(Bytes(remove.begin() + 24, remove.begin() + 36),
              Bytes(map.begin() + 24, map.begin() + 36));  // the same nonce (RFC 6887 §15)
}

TEST_F(RouterSourceTest, PcpOnlyServerIsAskedInPcpAtOnce) {
    FakeUdp router(base_.get(), [](const Bytes& request) {
        if (request.size() == 2)  // RFC 6887 §9: UNSUPP_VERSION in version 2
            return hex("028000010000000000000000000000000000000000000000");
        return pcpAnswerTo(request, 0, "203.0.113.10");
    });
    auto source = make(router.port());
    const auto start = std::chrono::steady_clock::now();
    const auto answer = ask(*source);
    EXPECT_EQ(answer.address, ip("203.0.113.10"));
    EXPECT_EQ(answer.source, "router pcp 127.0.0.1");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);  // no wait for a NAT-PMP timeout
}

TEST_F(RouterSourceTest, NatPmpOnlyServerRefusingPcpIsAskedInNatPmpAgain) {
    // The first NAT-PMP request is lost; PCP is refused with version 0 (RFC 6887 §9), and the
    // source falls back to NAT-PMP, which then answers.
    bool sawPcp = false;
    FakeUdp router(base_.get(), [&](const Bytes& request) {
        if (request.size() != 2) {
            sawPcp = true;
            return hex("008100010000000000000000");
        }
        return sawPcp ? natPmpAddress("198.51.99.8") : Bytes{};
    });
    auto source = make(router.port());
    const auto answer = ask(*source);
    EXPECT_EQ(answer.address, ip("198.51.99.8"));
    EXPECT_EQ(answer.source, "router nat-pmp 127.0.0.1");
}

// A device: SSDP on a UDP port, its description and control URL on evhttp.
class FakeIgd {
  public:
    FakeIgd(event_base* base, std::string externalAddress, std::string locationHost = "127.0.0.1")
        : external_(std::move(externalAddress)) {
        http_.reset(evhttp_new(base));
        evhttp_bound_socket* socket = evhttp_bind_socket_with_handle(http_.get(), "127.0.0.1", 0);
        sockaddr_in addr{};
        socklen_t len = sizeof addr;
        ::getsockname(evhttp_bound_socket_get_fd(socket), reinterpret_cast<sockaddr*>(&addr), &len);
        httpPort_ = ntohs(addr.sin_port);
        evhttp_set_gencb(http_.get(), &FakeIgd::onRequest, this);
        location_ = "http://" + locationHost + ":" + std::to_string(httpPort_) + "/rootDesc.xml";
        ssdp_ = std::make_unique<FakeUdp>(base, [this](const Bytes& request) {
            const std::string text(request.begin(), request.end());
            if (!text.starts_with("M-SEARCH") ||
                text.find("ST: urn:schemas-upnp-org:service:WANIPConnection:1") ==
                    std::string::npos)
                return Bytes{};
            const std::string reply =
                "HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:service:"
                "WANIPConnection:1\r\nLOCATION: " +
                location_ + "\r\n\r\n";
            return Bytes(reply.begin(), reply.end());
        });
    }

    uint16_t ssdpPort() const { return ssdp_->port(); }
    std::vector<std::string> soapActions;

  private:
    static void onRequest(evhttp_request* request, void* self) {
        auto* igd = static_cast<FakeIgd*>(self);
        const std::string uri = evhttp_request_get_uri(request);
        net::Handle<evbuffer, evbuffer_free> body(evbuffer_new());
        if (uri == "/rootDesc.xml") {
            std::string description = corpus("miniupnpd_rootdesc.xml");
            evbuffer_add(body.get(), description.data(), description.size());
            evhttp_send_reply(request, 200, "OK", body.get());
            return;
        }
        const char* action =
            evhttp_find_header(evhttp_request_get_input_headers(request), "SOAPAction");
        igd->soapActions.push_back(action ? action : "");
        const std::string answer =
            "<s:Envelope><s:Body><u:GetExternalIPAddressResponse><NewExternalIPAddress>" +
            igd->external_ +
            "</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>";
        evbuffer_add(body.get(), answer.data(), answer.size());
        evhttp_send_reply(request, 200, "OK", body.get());
    }

    std::string external_;
    std::string location_;
    net::EvHttpPtr http_;
    uint16_t httpPort_ = 0;
    std::unique_ptr<FakeUdp> ssdp_;
};

TEST_F(RouterSourceTest, UpnpAnswersWhenNatPmpPortIsClosed) {
    FakeIgd igd(base_.get(), "100.64.7.7");
    auto source = make(closedUdpPort(), igd.ssdpPort());
    const auto start = std::chrono::steady_clock::now();
    const auto answer = ask(*source);
    EXPECT_EQ(answer.address, ip("100.64.7.7")) << answer.error;
    EXPECT_EQ(answer.source, "router upnp 127.0.0.1");
    EXPECT_EQ(igd.soapActions,
              std::vector<std::string>{
                  "\"urn:schemas-upnp-org:service:WANIPConnection:2#GetExternalIPAddress\""});
    // Refused at once (ICMP port unreachable), no wait for NAT-PMP's or PCP's share.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 400ms);
}

TEST_F(RouterSourceTest, SsdpReplyNamingAnotherHostIsIgnored) {
    FakeIgd igd(base_.get(), "198.51.99.7", "127.0.0.2");
    auto source = make(closedUdpPort(), igd.ssdpPort(), 800ms);
    const auto answer = ask(*source);
    EXPECT_FALSE(answer.address);
    EXPECT_TRUE(igd.soapActions.empty());
    EXPECT_NE(answer.error.find("UPnP: no answer to M-SEARCH"), std::string::npos) << answer.error;
    EXPECT_NE(answer.error.find("replies ignored"), std::string::npos) << answer.error;
}

TEST_F(RouterSourceTest, SilentRouterIsAnErrorWithinTheTimeout) {
    FakeUdp router(base_.get(), [](const Bytes&) { return Bytes{}; });
    FakeUdp ssdp(base_.get(), [](const Bytes&) { return Bytes{}; });
    auto source = make(router.port(), ssdp.port(), 600ms);
    const auto start = std::chrono::steady_clock::now();
    const auto answer = ask(*source);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(answer.address);
    EXPECT_EQ(answer.source, "router 127.0.0.1");
    EXPECT_EQ(answer.error,
              "NAT-PMP: no answer; PCP: no answer; UPnP: no answer to M-SEARCH; timeout after "
              "600 ms");
    EXPECT_GE(took, 590ms);
    EXPECT_LT(took, 900ms);
    EXPECT_FALSE(ssdp.received.empty());
}

TEST_F(RouterSourceTest, GarbageIsCountedNotBelieved) {
    FakeUdp router(base_.get(), [](const Bytes&) { return hex("0081ffff"); });
    auto source = make(router.port(), 0, 400ms);
    const auto answer = ask(*source);
    EXPECT_FALSE(answer.address);
    EXPECT_NE(answer.error.find("replies ignored"), std::string::npos) << answer.error;
}

TEST_F(RouterSourceTest, SecondAskWhileOneIsInFlightIsRefusedFromTheLoop) {
    FakeUdp router(base_.get(), [](const Bytes&) { return natPmpAddress("198.51.99.7"); });
    auto source = make(router.port());
    int firstCalls = 0;
    int secondCalls = 0;
    AddressAnswer second;
    source->ask([&](const AddressAnswer&) { ++firstCalls; });
    source->ask([&](const AddressAnswer& a) {
        ++secondCalls;
        second = a;
    });
    EXPECT_EQ(secondCalls, 0);
    EXPECT_TRUE(test::runUntil(base_.get(), [&] { return firstCalls == 1 && secondCalls == 1; }));
    EXPECT_EQ(second.error, "a question to the router is in flight");
}

TEST_F(RouterSourceTest, DestroyedSourceNeverCallsBack) {
    FakeUdp router(base_.get(), [](const Bytes&) { return natPmpAddress("198.51.99.7"); });
    auto source = make(router.port());
    int calls = 0;
    source->ask([&](const AddressAnswer&) { ++calls; });
    source.reset();
    test::runUntil(
        base_.get(), [] { return false; }, 300ms);
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(router.received.size(), 1u);  // asked once, its answer went nowhere
}

TEST(RouterSourceOptions, RefusedWhenTheyCannotWork) {
    net::EventBasePtr base(event_base_new());
    std::string error;
    RouterSourceOptions options;
    options.router = net::SocketAddress(ip("::1"), 5351);
    EXPECT_FALSE(makeRouterSource(base.get(), options, &error));
    EXPECT_NE(error.find("IPv4"), std::string::npos) << error;
    options.router = net::SocketAddress(ip("127.0.0.1"), 5351);
    options.timeout = 0ms;
    EXPECT_FALSE(makeRouterSource(base.get(), options, &error));
    EXPECT_EQ(error, "router: the timeout must be positive");
}

}  // namespace
}  // namespace dynamo::gateway
