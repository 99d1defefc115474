#include "resolver/forwarder.h"

#include <sys/random.h>

#include <algorithm>

#include "net/log.h"
#include "resolver/dns_message.h"

namespace dynamo::resolver {
namespace {
// c-ares reads UDP answers into a 4096-byte buffer (MAXENDSSZ); larger ones arrive over TCP.
constexpr int kUpstreamEdnsPayload = 4096;
constexpr int kTries = 2;
}  // namespace

std::unique_ptr<Forwarder> Forwarder::create(event_base* base, const Settings& settings,
                                             std::string* error) {
    std::unique_ptr<Forwarder> self(new Forwarder(base));
    self->settings_ = settings;
    self->cleanup_.reset(event_new(base, -1, 0, &Forwarder::onCleanup, self.get()));
    if (!self->buildChannels(error))
        return nullptr;
    return self;
}

Forwarder::~Forwarder() {
    // ares_destroy() runs every pending callback with ARES_EDESTRUCTION; onAnswer drops those
    // without calling their waiters, whose owners may already be gone at shutdown.
    destroying_ = true;
    channels_.clear();
    retired_.clear();
}

std::unique_ptr<AresChannel> Forwarder::makeChannel(std::string* error) const {
    AresChannel::Options options;
    options.servers = settings_.upstreams;
    options.tries = kTries;
    // c-ares 1.18 waits timeout << round per try, over every server: with n servers and two
    // rounds the whole query takes 3·n·timeout at most, which must fit in settings_.timeout.
    const auto rounds = static_cast<long>(3 * std::max<size_t>(1, settings_.upstreams.size()));
    options.timeout = std::max(std::chrono::milliseconds(50), settings_.timeout / rounds);
    // ARES_FLAG_EDNS: answers up to kUpstreamEdnsPayload are taken over UDP, larger or TC ones
    // re-asked over TCP, so we always hold the whole answer. The flag's other effect (a FORMERR
    // without OPT makes c-ares strip 11 bytes and clear the flag channel-wide) is caught in
    // onAnswer() by lostEdns(). We send the client's bytes, OPT or not, unchanged (RFC 5625).
    //
    // No ARES_FLAG_NOCHECKRESP, deliberately: an upstream answering SERVFAIL, REFUSED or
    // NOTIMP is skipped for the next one, which is what a home network with a flaky ISP
    // resolver beside a public one wants; when every upstream fails that way the client gets
    // our SERVFAIL. The cost: an upstream's REFUSED reaches the client as SERVFAIL.
    options.flags = ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH;
    options.ednsPayloadSize = kUpstreamEdnsPayload;
    return AresChannel::create(base_, options, error);
}

bool Forwarder::buildChannels(std::string* error) {
    std::vector<std::unique_ptr<AresChannel>> fresh;
    for (size_t i = 0; i < std::max<size_t>(1, settings_.channels); ++i) {
        auto channel = makeChannel(error);
        if (!channel)
            return false;
        fresh.push_back(std::move(channel));
    }
    for (auto& old : channels_)
        retired_.push_back(std::move(old));
    channels_ = std::move(fresh);
    nextChannel_ = 0;
    event_active(cleanup_.get(), 0, 0);
    return true;
}

bool Forwarder::reconfigure(const Settings& settings, std::string* error) {
    const Settings previous = settings_;
    settings_ = settings;
    if (!buildChannels(error)) {
        settings_ = previous;
        return false;
    }
    return true;
}

uint16_t Forwarder::randomId() {
    if (randomIds_.empty()) {
        randomIds_.resize(256);
        const size_t bytes = randomIds_.size() * sizeof(uint16_t);
        if (getrandom(randomIds_.data(), bytes, 0) != static_cast<ssize_t>(bytes)) {
            // getrandom() on Linux ≥ 3.17 does not fail for this size once the pool is up.
            for (auto& id : randomIds_)
                id = static_cast<uint16_t>(std::rand());
        }
    }
    const uint16_t id = randomIds_.back();
    randomIds_.pop_back();
    return id;
}

bool Forwarder::forward(std::span<const uint8_t> query, Done done) {
    const uint16_t clientId = dns::getId(query);
    std::string key(reinterpret_cast<const char*>(query.data()), query.size());
    key[0] = key[1] = 0;  // the ID is not part of the question

    if (auto it = pending_.find(key); it != pending_.end()) {
        it->second->waiters.push_back({clientId, std::move(done)});
        ++stats_.coalesced;
        return true;
    }
    if (pending_.size() >= settings_.maxInFlight) {
        ++stats_.overloaded;
        return false;
    }

    AresChannel* channel = channels_[nextChannel_++ % channels_.size()].get();
    auto pending = std::make_unique<Pending>(
        Pending{this, channel, key, {}, std::chrono::steady_clock::now()});
    pending->waiters.push_back({clientId, std::move(done)});
    Pending* raw = pending.get();
    pending_.emplace(std::move(key), std::move(pending));

    std::vector<uint8_t> upstreamQuery(query.begin(), query.end());
    dns::setId(upstreamQuery, randomId());
    channel->queryStarted();
    ++stats_.sent;
    channel->send(upstreamQuery, &Forwarder::onAnswer, raw);  // may complete synchronously
    return true;
}

void Forwarder::onAnswer(void* arg, int status, int, unsigned char* answer, int length) {
    auto* pending = static_cast<Pending*>(arg);
    Forwarder* self = pending->owner;
    pending->channel->queryEnded();
    auto node = self->pending_.extract(pending->key);
    std::unique_ptr<Pending> owned = std::move(node.mapped());

    if (status == ARES_EDESTRUCTION || self->destroying_)
        return;

    std::span<const uint8_t> bytes;
    if (status == ARES_SUCCESS && answer != nullptr &&
        length >= static_cast<int>(dns::kHeaderSize)) {
        bytes = {answer, static_cast<size_t>(length)};
        self->latency_.observe(std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - owned->sentAt));
    } else {
        ++self->stats_.failed;
        DLOG(Debug) << "upstream query failed: " << ares_strerror(status);
    }
    if (!bytes.empty() &&
        dns::readHeader(bytes)->rcode() == static_cast<uint8_t>(dns::Rcode::FormErr) &&
        pending->channel->lostEdns()) {
        self->retire(pending->channel);
    }

    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    for (auto& waiter : owned->waiters) {
        if (!copy.empty())
            dns::setId(copy, waiter.clientId);
        waiter.done(copy);
    }
}

void Forwarder::retire(AresChannel* channel) {
    DLOG(Warning) << "an upstream answered FORMERR without EDNS; rebuilding its c-ares channel";
    for (auto& slot : channels_) {
        if (slot.get() != channel)
            continue;
        std::string error;
        auto replacement = makeChannel(&error);
        if (!replacement) {
            DLOG(Error) << "cannot rebuild c-ares channel: " << error;
            return;
        }
        retired_.push_back(std::move(slot));
        slot = std::move(replacement);
        event_active(cleanup_.get(), 0, 0);
        return;
    }
}

void Forwarder::onCleanup(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Forwarder*>(arg);
    std::erase_if(self->retired_, [](const auto& channel) { return channel->pending() == 0; });
    if (!self->retired_.empty()) {
        // Still carrying queries: look again shortly.
        const timeval again{0, 200000};
        event_add(self->cleanup_.get(), &again);
    }
}

}  // namespace dynamo::resolver
