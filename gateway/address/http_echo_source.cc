#include "gateway/address/http_echo_source.h"

#include "gateway/address/public_address_monitor.h"

namespace dynamo::gateway {

// Waits for the shared HTTP client.
std::unique_ptr<AddressSource> makeHttpEchoSource(event_base* base, const std::string& url,
                                                  const config::Config&, std::string*) {
    return makeFailedSource(base, "http", "http " + url, "not built yet");
}

}  // namespace dynamo::gateway
