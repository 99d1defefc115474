#include "gateway/address/dns_whoami_source.h"

#include <ares.h>

#include <span>

#include "gateway/address/whoami_reply.h"
#include "net/ares_channel.h"
#include "net/handles.h"
#include "net/timeval.h"

namespace dynamo::gateway {
namespace {

constexpr uint16_t kTypeTxt = 16;
constexpr uint16_t kClassCh = 3;

class DnsWhoamiSource final : public AddressSource {
  public:
    DnsWhoamiSource(event_base* base, config::DnsWhoami whoami)
        : base_(base), whoami_(std::move(whoami)), label_(describeWhoami(whoami_)) {
        deliver_.reset(evtimer_new(base_, &DnsWhoamiSource::onDeliver, this));
    }
    ~DnsWhoamiSource() override {
        // ares_destroy() runs the pending callback with ARES_EDESTRUCTION: nobody hears it.
        destroying_ = true;
        channel_.reset();
    }

    bool init(std::chrono::milliseconds timeout, std::string* error) {
        net::AresChannel::Options options;
        options.servers = {whoami_.server};
        // Two tries; c-ares doubles the second, so the whole question takes at most `timeout`.
        options.timeout = std::max(std::chrono::milliseconds(100), timeout / 3);
        options.tries = 2;
        channel_ = net::AresChannel::create(base_, options, error);
        return channel_ != nullptr;
    }

    std::string kind() const override { return "dns"; }

    void ask(Done done) override {
        if (done_) {
            AddressAnswer busy{label_, std::nullopt, "a question is already in flight"};
            pending_.emplace_back(std::move(done), std::move(busy));
            armDeliver();
            return;
        }
        done_ = std::move(done);
        ares_query(channel_->get(), whoami_.name.c_str(), whoami_.dnsClass, whoami_.type,
                   &DnsWhoamiSource::onReply, this);
        channel_->afterCall();
    }

  private:
    static void onReply(void* arg, int status, int, unsigned char* abuf, int alen) {
        auto* self = static_cast<DnsWhoamiSource*>(arg);
        if (status == ARES_EDESTRUCTION || self->destroying_)
            return;
        AddressAnswer answer{self->label_, std::nullopt, ""};
        if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
            const auto reply = parseWhoamiReply(
                std::span<const uint8_t>(abuf, static_cast<size_t>(alen)), self->whoami_.type);
            answer.address = reply.address;
            answer.error = reply.error;
        } else if (status == ARES_ETIMEOUT) {
            answer.error = "timeout";
        } else if (status == ARES_ENOTFOUND) {
            answer.error = "NXDOMAIN";
        } else if (status == ARES_ENODATA) {
            answer.error = "no answer of the type asked";
        } else if (status == ARES_EREFUSED) {
            answer.error = "REFUSED";
        } else if (status == ARES_ECONNREFUSED) {
            answer.error = "connection refused";
        } else if (status == ARES_ESERVFAIL) {
            answer.error = "SERVFAIL";
        } else {
            answer.error = ares_strerror(status);
        }
        Done done = std::move(self->done_);
        self->done_ = nullptr;
        // Never inside ask(): c-ares fails some questions before ares_query() returns.
        self->pending_.emplace_back(std::move(done), std::move(answer));
        self->armDeliver();
    }

    void armDeliver() {
        const timeval now{0, 0};
        evtimer_add(deliver_.get(), &now);
    }

    static void onDeliver(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<DnsWhoamiSource*>(arg);
        auto pending = std::move(self->pending_);
        self->pending_.clear();
        for (auto& [done, answer] : pending) {
            if (done)
                done(answer);  // may destroy this source: touch nothing of it afterwards
        }
    }

    event_base* base_;
    config::DnsWhoami whoami_;
    std::string label_;
    Done done_;
    bool destroying_ = false;
    std::vector<std::pair<Done, AddressAnswer>> pending_;
    net::EventPtr deliver_;
    std::unique_ptr<net::AresChannel> channel_;  // last: destroyed first
};

}  // namespace

std::string describeWhoami(const config::DnsWhoami& whoami) {
    std::string text = "dns " + whoami.name;
    if (whoami.type == kTypeTxt)
        text += " TXT";
    if (whoami.dnsClass == kClassCh)
        text += " CH";
    return text + "@" + whoami.server.toString();
}

std::unique_ptr<AddressSource> makeDnsWhoamiSource(event_base* base,
                                                   const config::DnsWhoami& whoami,
                                                   std::chrono::milliseconds timeout,
                                                   std::string* error) {
    auto source = std::make_unique<DnsWhoamiSource>(base, whoami);
    if (!source->init(timeout, error))
        return nullptr;
    return source;
}

}  // namespace dynamo::gateway
