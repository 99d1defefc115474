// libFuzzer target for what the router source reads from the LAN (gateway/address/): SSDP
// replies, device descriptions, SOAP answers, NAT-PMP and PCP datagrams, and /proc/net/route.
// Whatever a device on the LAN sends, the parsers end in an answer or a refusal; a URL they
// return can go into a request line as it is (no space, no CR LF: no request smuggling), and
// an error text can go into a log line. Without DYNAMO_FUZZ this links with replay_main.cc
// and ctest replays the committed corpus.

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "gateway/address/default_route.h"
#include "gateway/address/nat_pmp.h"
#include "gateway/address/pcp.h"
#include "gateway/address/upnp_igd.h"

namespace {

using namespace dynamo::gateway;

void checkUrl(const HttpUrl& url) {
    FUZZ_CHECK(url.host.isV4());
    FUZZ_CHECK(!url.path.empty() && url.path.size() <= kMaxUrlLength);
    for (const char c : url.path)
        FUZZ_CHECK(c > 0x20 && c < 0x7f);
    FUZZ_CHECK(url.path.front() == '/');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::span<const uint8_t> bytes(data, size);

    if (const auto location = ssdpLocation(input)) {
        FUZZ_CHECK(location->size() <= kMaxUrlLength);
        if (const auto url = parseHttpUrl(*location))
            checkUrl(*url);
    }
    if (const auto url = parseHttpUrl(input))
        checkUrl(*url);

    HttpUrl base;
    base.host = *dynamo::net::IpAddress::parse("192.168.1.1");
    base.port = 5000;
    base.path = "/desc/root.xml";
    if (const auto url = resolveUrl(base, input))
        checkUrl(*url);
    const auto services = wanServices(input, base);
    FUZZ_CHECK(services.size() <= kMaxServices);
    for (const auto& service : services) {
        checkUrl(service.control);
        const std::string request = soapGetExternalIpAddress(service);
        // The request line and headers end where the framing says, nowhere earlier.
        FUZZ_CHECK(request.find("\r\n") == request.find(" HTTP/1.1\r\n") + 9);
    }

    for (const int status : {200, 500}) {
        const SoapAnswer answer = parseGetExternalIpAddress(status, input);
        FUZZ_CHECK(answer.address.has_value() != !answer.error.empty());
        if (answer.address)
            FUZZ_CHECK(answer.address->isV4() && !answer.address->isUnspecified());
        FUZZ_CHECK(dynamo::fuzz::isPrintableLogText(answer.error));
    }
    if (const auto text = xmlElementText(input, "NewExternalIPAddress"))
        FUZZ_CHECK(text->size() <= input.size());

    const auto natPmp = parseNatPmpResponse(bytes);
    if (natPmp.kind == NatPmpResponse::Kind::Address)
        FUZZ_CHECK(size >= 12 && natPmp.address.isV4());
    FUZZ_CHECK(dynamo::fuzz::isPrintableLogText(natPmpResultText(natPmp.result)));

    PcpNonce nonce{};
    if (size >= 36)
        std::copy(data + 24, data + 36, nonce.begin());
    const auto pcp = parsePcpResponse(bytes, nonce);
    if (pcp.kind == PcpResponse::Kind::Address)
        FUZZ_CHECK(size >= kPcpMapSize && size <= kPcpMaxSize && pcp.address.isV4());
    FUZZ_CHECK(dynamo::fuzz::isPrintableLogText(pcpResultText(pcp.result)));

    if (const auto gateway = defaultGatewayFromRouteTable(input))
        FUZZ_CHECK(gateway->isV4() && !gateway->isUnspecified());
    return 0;
}
