#include "gateway/daemon.h"

#include <csignal>

#include "net/log.h"

namespace dynamo::gateway {

Daemon::Daemon(std::string configPath, config::Config config)
    : configPath_(std::move(configPath)), config_(std::move(config)), base_(event_base_new()) {}

Daemon::~Daemon() {
    // Listeners and connections go before the loop they are registered with.
    dns_.reset();
}

bool Daemon::start(std::string* error) {
    log::setLevel(config_.logLevel);
    std::signal(SIGPIPE, SIG_IGN);  // a client that vanished mid-write is an error code, not death

    dns_ = resolver::DnsServer::create(base_.get(), config_.dns, std::chrono::steady_clock::now,
                                       error);
    if (!dns_) return false;

    sigterm_.reset(evsignal_new(base_.get(), SIGTERM, &Daemon::onSignal, this));
    sigint_.reset(evsignal_new(base_.get(), SIGINT, &Daemon::onSignal, this));
    sighup_.reset(evsignal_new(base_.get(), SIGHUP, &Daemon::onSignal, this));
    for (auto* event : {sigterm_.get(), sigint_.get(), sighup_.get()}) event_add(event, nullptr);
    return true;
}

void Daemon::run() {
    DLOG(Info) << "ready";
    event_base_dispatch(base_.get());
    DLOG(Info) << "stopped";
}

void Daemon::onSignal(evutil_socket_t signal, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    if (signal == SIGHUP) {
        self->reload();
        return;
    }
    DLOG(Info) << "stopping on " << (signal == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopexit(self->base_.get(), nullptr);
}

void Daemon::reload() {
    auto loaded = config::loadFile(configPath_);
    if (!loaded.config) {
        for (const auto& problem : loaded.errors) DLOG(Error) << problem;
        DLOG(Error) << "reload refused: " << configPath_
                    << " is invalid; still serving the previous configuration";
        return;
    }
    std::string error;
    if (!dns_->reconfigure(loaded.config->dns, &error)) {
        DLOG(Error) << "reload refused: " << error << "; still serving the previous configuration";
        return;
    }
    config_ = std::move(*loaded.config);
    log::setLevel(config_.logLevel);
    for (const auto& warning : config_.warnings) DLOG(Warning) << warning;
    DLOG(Info) << "reloaded " << configPath_;
}

}  // namespace dynamo::gateway
