#include "resolver/forwarder.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>

#include "net/log.h"
#include "net/timeval.h"
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

std::unique_ptr<net::AresChannel> Forwarder::makeChannel(std::string* error) const {
    net::AresChannel::Options options;
    options.servers = settings_.upstreams;
    options.tries = kTries;
    // c-ares 1.18 waits timeout << round per try, over every server: with n servers and two
    // rounds the whole query takes 3·n·timeout at most, which must fit in settings_.timeout.
    const auto rounds = static_cast<long>(3 * std::max<size_t>(1, settings_.upstreams.size()));
    options.timeout = std::max(std::chrono::milliseconds(50), settings_.timeout / rounds);
    // ARES_FLAG_EDNS: answers up to kUpstreamEdnsPayload are taken over UDP, larger or TC ones
    // re-asked over TCP, so we always hold the whole answer. The flag's other effect (a FORMERR
    // without OPT makes c-ares strip 11 bytes and clear the flag channel-wide) is caught in
    // onAnswer() by lostEdns() after every completed query. We send the client's bytes, OPT or
    // not, unchanged (RFC 5625).
    //
    // No ARES_FLAG_NOCHECKRESP, deliberately: an upstream answering SERVFAIL, REFUSED or
    // NOTIMP is skipped for the next one, which is what a home network with a flaky ISP
    // resolver beside a public one wants; when every upstream fails that way the client gets
    // our SERVFAIL. The cost: an upstream's REFUSED reaches the client as SERVFAIL.
    options.flags = ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH;
    options.ednsPayloadSize = kUpstreamEdnsPayload;
    return net::AresChannel::create(base_, options, error);
}

bool Forwarder::buildChannels(std::string* error) {
    // One channel now, so that options c-ares refuses fail here (and a reload keeps the old
    // ones); the pool grows in pickChannel().
    auto first = makeChannel(error);
    if (!first)
        return false;
    for (auto& old : channels_)
        retired_.push_back(std::move(old));
    channels_.clear();
    channels_.push_back(std::move(first));
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

net::AresChannel* Forwarder::pickChannel() {
    const size_t perPort = std::max<size_t>(1, settings_.questionsPerPort);
    // From the last channel used: it fills its batch first, then the next that accepts. A
    // channel with no socket open accepts whatever it carried before: its next question opens
    // a new socket.
    for (size_t i = 0; i < channels_.size(); ++i) {
        const size_t index = (nextChannel_ + i) % channels_.size();
        const net::AresChannel& channel = *channels_[index];
        if (channel.openSockets() == 0 || channel.sendsOnOpenSockets() < perPort) {
            nextChannel_ = index;
            return channels_[index].get();
        }
    }
    if (channels_.size() < std::max<size_t>(1, settings_.maxChannels)) {
        std::string error;
        if (auto channel = makeChannel(&error)) {
            channels_.push_back(std::move(channel));
            nextChannel_ = channels_.size() - 1;
            return channels_.back().get();
        }
        DLOG(Error) << "cannot create a c-ares channel: " << error;
    }
    ++stats_.portShares;
    const auto least =
        std::min_element(channels_.begin(), channels_.end(), [](const auto& a, const auto& b) {
            return a->sendsOnOpenSockets() < b->sendsOnOpenSockets();
        });
    return least->get();
}

std::optional<uint16_t> Forwarder::randomId() {
    if (randomIds_.empty()) {
        std::vector<uint16_t> fresh(256);
        const size_t bytes = fresh.size() * sizeof(uint16_t);
        // GRND_NONBLOCK: never stall the loop. getrandom() fails with EAGAIN only before the
        // kernel's pool is initialised (early boot, which is when a LAN resolver starts);
        // /dev/urandom does not block then and is still unpredictable to an off-path spoofer,
        // unlike rand(). When neither works we do not forward at all (the caller answers
        // SERVFAIL): a guessable ID would make cache poisoning easy (RFC 5452 §4).
        if (getrandom(fresh.data(), bytes, GRND_NONBLOCK) != static_cast<ssize_t>(bytes)) {
            net::UniqueFd urandom(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
            if (!urandom ||
                ::read(urandom.get(), fresh.data(), bytes) != static_cast<ssize_t>(bytes)) {
                return std::nullopt;
            }
        }
        randomIds_ = std::move(fresh);
    }
    const uint16_t id = randomIds_.back();
    randomIds_.pop_back();
    return id;
}

bool Forwarder::forward(std::span<const uint8_t> query, Done done) {
    const uint16_t clientId = dns::getId(query);
    std::string key(reinterpret_cast<const char*>(query.data()), query.size());
    key[0] = key[1] = 0;  // the ID is not part of the question

    // Every waiter holds a copy of its query (up to 64 KiB over TCP) and a reply callback:
    // joined ones are bounded too, per question and in total.
    if (waiters_ >= settings_.maxWaiters) {
        ++stats_.overloaded;
        return false;
    }
    if (auto it = pending_.find(key); it != pending_.end()) {
        if (it->second->waiters.size() >= settings_.maxWaitersPerQuestion) {
            ++stats_.overloaded;
            return false;
        }
        it->second->waiters.push_back({clientId, std::move(done)});
        ++waiters_;
        ++stats_.coalesced;
        return true;
    }
    // Expired questions still occupy c-ares (and the upstream) until c-ares gives up.
    if (pending_.size() + expired_.size() >= settings_.maxInFlight) {
        ++stats_.overloaded;
        return false;
    }
    const std::optional<uint16_t> upstreamId = randomId();
    if (!upstreamId) {
        ++stats_.failed;
        return false;
    }

    net::AresChannel* channel = pickChannel();
    auto pending = std::make_unique<Pending>(
        Pending{this, channel, key, {}, std::chrono::steady_clock::now(), nullptr});
    pending->waiters.push_back({clientId, std::move(done)});
    ++waiters_;
    Pending* raw = pending.get();
    // Armed before send(): an answer given synchronously frees `raw` (and its timer).
    pending->deadline.reset(evtimer_new(base_, &Forwarder::onDeadline, raw));
    const timeval deadline = net::toTimeval(settings_.timeout);
    evtimer_add(pending->deadline.get(), &deadline);
    pending_.emplace(std::move(key), std::move(pending));

    std::vector<uint8_t> upstreamQuery(query.begin(), query.end());
    dns::setId(upstreamQuery, *upstreamId);
    channel->queryStarted();
    ++stats_.sent;
    channel->send(upstreamQuery, &Forwarder::onAnswer, raw);  // may complete synchronously
    return true;
}

void Forwarder::answerWaiters(Pending& pending, std::span<const uint8_t> answer) {
    // Moved out first: a waiter may forward again (a TCP client's next query) before we return.
    std::vector<Waiter> waiters = std::move(pending.waiters);
    pending.waiters.clear();
    waiters_ -= waiters.size();
    std::vector<uint8_t> copy(answer.begin(), answer.end());
    for (auto& waiter : waiters) {
        if (!copy.empty())
            dns::setId(copy, waiter.clientId);
        waiter.done(copy);
    }
}

void Forwarder::onAnswer(void* arg, int status, int, unsigned char* answer, int length) {
    auto* pending = static_cast<Pending*>(arg);
    Forwarder* self = pending->owner;
    net::AresChannel* channel = pending->channel;
    channel->queryEnded();
    std::unique_ptr<Pending> owned;
    if (pending->expired) {
        owned = std::move(self->expired_.extract(pending).mapped());
    } else {
        owned = std::move(self->pending_.extract(pending->key).mapped());
    }

    if (status == ARES_EDESTRUCTION || self->destroying_)
        return;

    // With ARES_FLAG_EDNS, an upstream FORMERR without OPT makes c-ares strip 11 bytes off the
    // query, clear the flag channel-wide and retry (ares_process.c 1.18, read_answers); that
    // FORMERR never reaches us, so look after every completed query, whatever its outcome.
    // The cost is one ares_save_options() (a handful of small allocations) per upstream
    // answer, i.e. per cache miss, next to the several allocations the miss makes anyway.
    if (channel->lostEdns())
        self->retire(channel);

    if (owned->expired)
        return;  // its waiters got SERVFAIL at the deadline, and it was counted then

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
    self->answerWaiters(*owned, bytes);
}

void Forwarder::onDeadline(evutil_socket_t, short, void* arg) {
    auto* pending = static_cast<Pending*>(arg);
    Forwarder* self = pending->owner;
    // Still in pending_: a completed question took its timer with it.
    auto node = self->pending_.extract(pending->key);
    pending->expired = true;
    self->expired_.emplace(pending, std::move(node.mapped()));
    ++self->stats_.failed;
    ++self->stats_.expired;
    DLOG(Debug) << "upstream query passed its deadline; answering SERVFAIL";
    self->answerWaiters(*pending, {});
}

void Forwarder::retire(net::AresChannel* channel) {
    for (auto& slot : channels_) {
        if (slot.get() != channel)
            continue;
        ++stats_.ednsLost;
        // Once a minute at most: a misbehaving upstream would otherwise fill the journal.
        const auto now = std::chrono::steady_clock::now();
        if (stats_.ednsLost == 1 || now - lastEdnsWarning_ >= std::chrono::minutes(1)) {
            lastEdnsWarning_ = now;
            DLOG(Warning)
                << "an upstream answered FORMERR without EDNS; rebuilding its c-ares channel";
        }
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
