#include "gateway/address/address_sources.h"

#include "gateway/address/dns_whoami_source.h"
#include "gateway/address/http_echo_source.h"
#include "gateway/address/public_address_monitor.h"
#include "gateway/address/router_source.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

// A whoami question is one UDP exchange: a few seconds cover a retry.
constexpr std::chrono::milliseconds kDnsTimeout{3000};

std::unique_ptr<AddressSource> orFailed(event_base* base, std::unique_ptr<AddressSource> source,
                                        const std::string& kind, const std::string& label,
                                        const std::string& error) {
    if (source)
        return source;
    DLOG(Warning) << "public address: " << label << ": " << error;
    return makeFailedSource(base, kind, label, error);
}

}  // namespace

std::vector<std::unique_ptr<AddressSource>> makeAddressSources(event_base* base,
                                                               const config::Config& config) {
    const config::PublicAddressConfig& settings = config.publicAddress;
    std::vector<std::unique_ptr<AddressSource>> sources;
    for (const config::AddressSourceKind kind : settings.sources) {
        std::string error;
        switch (kind) {
            case config::AddressSourceKind::Router: {
                RouterSourceOptions options;
                options.router = settings.router;
                const std::string label =
                    "router " + (settings.router ? settings.router->toString() : "auto");
                sources.push_back(orFailed(base, makeRouterSource(base, options, &error), "router",
                                           label, error));
                break;
            }
            case config::AddressSourceKind::Dns:
                for (const auto& whoami : settings.dnsWhoami) {
                    sources.push_back(
                        orFailed(base, makeDnsWhoamiSource(base, whoami, kDnsTimeout, &error),
                                 "dns", describeWhoami(whoami), error));
                }
                break;
            case config::AddressSourceKind::Http:
                for (const auto& url : settings.httpEcho) {
                    sources.push_back(orFailed(base, makeHttpEchoSource(base, url, config, &error),
                                               "http", "http " + url, error));
                }
                break;
        }
    }
    return sources;
}

}  // namespace dynamo::gateway
