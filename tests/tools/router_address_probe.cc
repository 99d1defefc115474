// Asks the router source once and prints its answer, for tests/integration/test_router_address.py
// (the router is miniupnpd in a network namespace the test makes):
//
//   router_address_probe [--router auto|a.b.c.d[:port]] [--timeout-ms N] [--ssdp-port N]
//
// Prints one line, "address <ip> source <source> ms <elapsed>" (exit 0) or
// "error <text> source <source> ms <elapsed>" (exit 1); exit 2 when the source cannot be made.

#include <event2/event.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gateway/address/router_source.h"
#include "net/handles.h"

int main(int argc, char** argv) {
    using namespace dynamo;
    gateway::RouterSourceOptions options;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--router" && value != "auto") {
            options.router = net::SocketAddress::parse(value, 0);
            if (!options.router) {
                std::fprintf(stderr, "not an address: %s\n", value.c_str());
                return 2;
            }
        } else if (flag == "--timeout-ms") {
            options.timeout = std::chrono::milliseconds(std::atoi(value.c_str()));
        } else if (flag == "--ssdp-port") {
            options.ssdpPort = static_cast<uint16_t>(std::atoi(value.c_str()));
        } else if (flag != "--router") {
            std::fprintf(stderr, "unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    net::EventBasePtr base(event_base_new());
    std::string error;
    auto source = gateway::makeRouterSource(base.get(), options, &error);
    if (!source) {
        std::printf("cannot %s\n", error.c_str());
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    int status = 3;  // never answered: a bug the test sees
    source->ask([&](const gateway::AddressAnswer& answer) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
        if (answer.address)
            std::printf("address %s source %s ms %lld\n", answer.address->toString().c_str(),
                        answer.source.c_str(), static_cast<long long>(ms));
        else
            std::printf("error %s source %s ms %lld\n", answer.error.c_str(), answer.source.c_str(),
                        static_cast<long long>(ms));
        status = answer.address ? 0 : 1;
        event_base_loopbreak(base.get());
    });
    event_base_dispatch(base.get());
    std::fflush(stdout);
    return status;
}
