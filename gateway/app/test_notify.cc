#include "gateway/app/test_notify.h"

#include <csignal>
#include <iostream>

#include "gateway/alerts/alert_dispatcher.h"
#include "gateway/app/daemon.h"
#include "net/handles.h"
#include "net/log.h"

namespace dynamo::gateway {

int testNotify(const config::Config& config) {
    std::signal(SIGPIPE, SIG_IGN);
    if (config.alerts.channels.empty()) {
        std::cout << "no alerts.channels configured: nothing to test\n";
        return kExitFailure;
    }
    net::EventBasePtr base(event_base_new());
    std::string error;
    auto dispatcher = AlertDispatcher::create(base.get(), config, &error);
    if (!dispatcher) {
        std::cerr << "dynamo-gateway: " << error << "\n";
        return kExitFailure;
    }
    AlertEvent event;
    event.kind = AlertKind::Test;
    event.time = std::chrono::system_clock::now();
    event.message = "a test alert from dynamo-gateway: this channel works";
    const size_t total = dispatcher->channels().size();
    std::vector<std::optional<std::pair<bool, std::string>>> results(total);
    size_t done = 0;
    dispatcher->sendOnce(event, [&](size_t channel, bool delivered, const std::string& detail) {
        results[channel] = {delivered, detail};
        if (++done == total)
            event_base_loopexit(base.get(), nullptr);
    });
    // Each channel is bounded (dynamo.timeout for a POST, kExecTimeLimit for a command).
    if (done < total)
        event_base_dispatch(base.get());
    const auto stats = dispatcher->stats();
    bool all = true;
    for (size_t i = 0; i < total; ++i) {
        const bool delivered = results[i] && results[i]->first;
        all = all && delivered;
        std::cout << "alerts.channels[" << i << "] " << stats[i].label << ": "
                  << (delivered ? "delivered" : "FAILED")
                  << (results[i] ? " (" + log::printable(results[i]->second, 200) + ")" : "")
                  << "\n";
    }
    return all ? kExitOk : kExitFailure;
}

}  // namespace dynamo::gateway
