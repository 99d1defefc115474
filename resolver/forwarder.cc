#include "resolver/forwarder.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_set>

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
    self->deadlineTimer_.reset(evtimer_new(base, &Forwarder::onDeadlineTimer, self.get()));
    if (!self->buildChannels(error))
        return nullptr;
    return self;
}

Forwarder::~Forwarder() {
    // ares_destroy() runs every pending callback with ARES_EDESTRUCTION; onAnswer drops those
    // without calling their waiters, whose owners may already be gone at shutdown.
    destroying_ = true;
    upstreams_.clear();
    formerUpstreams_.clear();
    retired_.clear();
}

std::unique_ptr<net::AresChannel> Forwarder::makeChannel(const net::SocketAddress& server,
                                                         std::string* error) const {
    net::AresChannel::Options options;
    options.servers = {server};
    options.tries = kTries;
    // c-ares 1.18 waits timeout << round per try: with two rounds one upstream's attempt takes
    // 3·timeout at most, and the question may go through every upstream in turn, so
    // n upstreams × 3 per-try timeouts must fit in settings_.timeout.
    const auto rounds = static_cast<long>(3 * std::max<size_t>(1, settings_.upstreams.size()));
    options.timeout = std::max(std::chrono::milliseconds(50), settings_.timeout / rounds);
    // ARES_FLAG_EDNS: answers up to kUpstreamEdnsPayload are taken over UDP, larger or TC ones
    // re-asked over TCP, so we always hold the whole answer. The flag's other effect (a FORMERR
    // without OPT makes c-ares strip 11 bytes and clear the flag channel-wide) is caught in
    // onAnswer() by lostEdns() after every completed query. We send the client's bytes, OPT or
    // not, unchanged (RFC 5625).
    //
    // No ARES_FLAG_NOCHECKRESP, deliberately: an upstream answering SERVFAIL, REFUSED or
    // NOTIMP fails the attempt and the question goes to the next upstream, which is what a home
    // network with a flaky ISP resolver beside a public one wants; when every upstream fails
    // that way the client gets our SERVFAIL. The cost: an upstream's REFUSED reaches the client
    // as SERVFAIL.
    options.flags = ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH;
    options.ednsPayloadSize = kUpstreamEdnsPayload;
    options.keepSocketFor = std::max<size_t>(1, settings_.questionsPerPort);
    options.keepIdle = settings_.keepSocketIdle;
    return net::AresChannel::create(base_, options, error);
}

bool Forwarder::buildChannels(std::string* error) {
    // One channel per upstream now, so that options c-ares refuses fail here (and a reload
    // keeps the old ones); the pools grow in pickChannel(). An upstream kept across a reload
    // keeps its health and counters.
    std::vector<std::unique_ptr<Upstream>> next;
    for (const auto& address : settings_.upstreams) {
        auto first = makeChannel(address, error);
        if (!first)
            return false;
        auto upstream = std::make_unique<Upstream>();
        upstream->owner = this;
        upstream->state.address = address;
        upstream->state.since = std::chrono::steady_clock::now();
        for (auto& old : upstreams_) {
            if (old && old->state.address == address) {
                upstream->state = old->state;
                upstream->consecutiveFailures = old->consecutiveFailures;
                upstream->smoothedRttUs = old->smoothedRttUs;
            }
        }
        upstream->channels.push_back(std::move(first));
        next.push_back(std::move(upstream));
    }
    for (auto& old : upstreams_) {
        for (auto& channel : old->channels)
            retired_.push_back(std::move(channel));
        old->channels.clear();
        old->probeTimer.reset();
        formerUpstreams_.push_back(std::move(old));
    }
    upstreams_ = std::move(next);
    for (auto& upstream : upstreams_) {
        if (!upstream->state.up) {
            upstream->probeTimer.reset(
                event_new(base_, -1, EV_PERSIST, &Forwarder::onProbeTimer, upstream.get()));
            const timeval interval = net::toTimeval(settings_.healthInterval);
            event_add(upstream->probeTimer.get(), &interval);
        }
    }
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

bool Forwarder::anyUp() const {
    return std::any_of(upstreams_.begin(), upstreams_.end(),
                       [](const auto& upstream) { return upstream->state.up; });
}

size_t Forwarder::channels() const {
    size_t count = 0;
    for (const auto& upstream : upstreams_)
        count += upstream->channels.size();
    return count;
}

std::vector<Forwarder::UpstreamState> Forwarder::upstreams() const {
    std::vector<UpstreamState> states;
    for (const auto& upstream : upstreams_)
        states.push_back(upstream->state);
    return states;
}

net::AresChannel* Forwarder::pickChannel(Upstream& upstream) {
    auto& pool = upstream.channels;
    const size_t perPort = std::max<size_t>(1, settings_.questionsPerPort);
    // From the last channel used: it fills its batch first, then the next that accepts. A
    // channel with no socket open accepts whatever it carried before: its next question opens
    // a new socket.
    for (size_t i = 0; i < pool.size(); ++i) {
        const size_t index = (upstream.nextChannel + i) % pool.size();
        const net::AresChannel& channel = *pool[index];
        if (channel.openSockets() == 0 || channel.sendsOnOpenSockets() < perPort) {
            upstream.nextChannel = index;
            return pool[index].get();
        }
    }
    if (pool.size() < std::max<size_t>(1, settings_.maxChannels)) {
        std::string error;
        if (auto channel = makeChannel(upstream.state.address, &error)) {
            pool.push_back(std::move(channel));
            upstream.nextChannel = pool.size() - 1;
            return pool.back().get();
        }
        DLOG(Error) << "cannot create a c-ares channel: " << error;
    }
    ++stats_.portShares;
    const auto least = std::min_element(pool.begin(), pool.end(), [](const auto& a, const auto& b) {
        return a->sendsOnOpenSockets() < b->sendsOnOpenSockets();
    });
    return least->get();
}

Forwarder::Upstream* Forwarder::pickUpstream(const std::vector<Upstream*>& tried) {
    auto untried = [&](const Upstream* upstream) {
        return std::find(tried.begin(), tried.end(), upstream) == tried.end();
    };
    Upstream* best = nullptr;
    for (const auto& upstream : upstreams_) {
        if (!upstream->state.up || !untried(upstream.get()))
            continue;
        if (settings_.policy == Settings::Policy::Ordered)
            return upstream.get();
        if (best == nullptr || upstream->smoothedRttUs < best->smoothedRttUs)
            best = upstream.get();
    }
    if (best != nullptr) {
        // `fastest`: the others' estimates decay a little each time they are passed over, so
        // one that was slow once is measured again now and then (as BIND's SRTT does).
        for (const auto& upstream : upstreams_) {
            if (upstream.get() != best)
                upstream->smoothedRttUs *= 0.98;
        }
        return best;
    }
    // None up and untried: a down one still beats no answer (it may be back before its probe
    // says so), in configured order.
    for (const auto& upstream : upstreams_) {
        if (untried(upstream.get()))
            return upstream.get();
    }
    return nullptr;
}

void Forwarder::markDown(Upstream& upstream, std::string_view why) {
    if (!upstream.state.up)
        return;
    upstream.state.up = false;
    upstream.state.since = std::chrono::steady_clock::now();
    DLOG(Warning) << "upstream " << upstream.state.address.toString() << " is down: " << kDownAfter
                  << " queries in a row " << why << "; checking it every "
                  << settings_.healthInterval.count() << "ms";
    upstream.probeTimer.reset(
        event_new(base_, -1, EV_PERSIST, &Forwarder::onProbeTimer, &upstream));
    const timeval interval = net::toTimeval(settings_.healthInterval);
    event_add(upstream.probeTimer.get(), &interval);
}

void Forwarder::markUp(Upstream& upstream, std::string_view how) {
    upstream.consecutiveFailures = 0;
    if (upstream.state.up)
        return;
    const auto now = std::chrono::steady_clock::now();
    const auto down = std::chrono::duration_cast<std::chrono::seconds>(now - upstream.state.since);
    upstream.state.up = true;
    upstream.state.since = now;
    upstream.probeTimer.reset();
    DLOG(Info) << "upstream " << upstream.state.address.toString() << " is up again (" << how
               << ", after " << down.count() << "s down)";
}

void Forwarder::onProbeTimer(evutil_socket_t, short, void* arg) {
    auto* upstream = static_cast<Upstream*>(arg);
    Forwarder* self = upstream->owner;
    if (upstream->probing || upstream->state.up || upstream->channels.empty())
        return;  // one probe at a time: a dead upstream gets one per interval at most
    const std::optional<std::string> name = dns::nameToWire(self->settings_.healthName);
    const std::optional<uint16_t> id = self->randomId();
    if (!name || !id)
        return;
    // A plain recursive question (RFC 1035 §4.1): header, one question, no OPT.
    std::vector<uint8_t> query = {static_cast<uint8_t>(*id >> 8),
                                  static_cast<uint8_t>(*id & 0xff),
                                  0x01,
                                  0x00,
                                  0,
                                  1,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0};
    query.insert(query.end(), name->begin(), name->end());
    const uint16_t type = self->settings_.healthType;
    query.insert(query.end(),
                 {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type & 0xff), 0, 1});
    net::AresChannel* channel = self->pickChannel(*upstream);
    auto probe = std::make_unique<Probe>(Probe{self, upstream, channel});
    Probe* raw = probe.get();
    self->probes_.emplace(raw, std::move(probe));
    upstream->probing = true;
    ++upstream->state.probes;
    channel->queryStarted();
    channel->send(query, &Forwarder::onProbeAnswer, raw);  // may complete synchronously
}

void Forwarder::onProbeAnswer(void* arg, int status, int, unsigned char*, int) {
    auto* probe = static_cast<Probe*>(arg);
    Forwarder* self = probe->owner;
    probe->channel->queryEnded();
    auto owned = std::move(self->probes_.extract(probe).mapped());
    if (status == ARES_EDESTRUCTION || self->destroying_)
        return;
    Upstream& upstream = *owned->upstream;
    upstream.probing = false;
    // Any answer c-ares accepts (NOERROR, NXDOMAIN) means the upstream resolves again.
    if (status == ARES_SUCCESS)
        self->markUp(upstream, "health check answered");
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

std::unique_ptr<Forwarder::Pending> Forwarder::takePending() {
    if (spare_.empty())
        return std::make_unique<Pending>();
    auto pending = std::move(spare_.back());
    spare_.pop_back();
    return pending;
}

void Forwarder::recycle(std::unique_ptr<Pending> pending) {
    // A few dozen kept are enough for a burst; a flood's worth is given back.
    // Buffers grown by a large (TCP) query are not kept either.
    constexpr size_t kSpares = 64;
    constexpr size_t kKeptBytes = 4096;
    if (spare_.size() >= kSpares || pending->query.capacity() > kKeptBytes)
        return;
    pending->waiters.clear();
    pending->tried.clear();
    pending->earlier = pending->later = nullptr;
    pending->expired = false;
    spare_.push_back(std::move(pending));
}

bool Forwarder::forward(std::span<const uint8_t> query, Done done) {
    const uint16_t clientId = dns::getId(query);
    lookupKey_.assign(reinterpret_cast<const char*>(query.data()), query.size());
    lookupKey_[0] = lookupKey_[1] = 0;  // the ID is not part of the question
    const std::string_view key = lookupKey_;

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

    Upstream* upstream = pickUpstream({});
    if (upstream == nullptr) {
        ++stats_.failed;
        return false;
    }
    auto pending = takePending();
    pending->owner = this;
    pending->key.assign(key);
    pending->waiters.push_back({clientId, std::move(done)});
    pending->query.assign(query.begin(), query.end());
    dns::setId(pending->query, *upstreamId);
    ++waiters_;
    Pending* raw = pending.get();
    // Listed before send(): an answer given synchronously takes `raw` off the list.
    pending->deadline = std::chrono::steady_clock::now() + settings_.timeout;
    addDeadline(*raw);
    pending_.emplace(std::string_view(raw->key), std::move(pending));
    ++stats_.sent;
    send(*raw, *upstream);  // may complete synchronously
    return true;
}

void Forwarder::send(Pending& pending, Upstream& upstream) {
    net::AresChannel* channel = pickChannel(upstream);
    pending.channel = channel;
    pending.upstream = &upstream;
    pending.tried.push_back(&upstream);
    pending.sentAt = std::chrono::steady_clock::now();
    channel->queryStarted();
    channel->send(pending.query, &Forwarder::onAnswer, &pending);  // may complete synchronously
}

void Forwarder::answerWaiters(Pending& pending, std::span<const uint8_t> answer) {
    // A waiter may forward again (a TCP client's next query) before we return: that question
    // gets a record of its own, never this one (out of pending_ already), and answering it at
    // once (a synchronous failure) finds answerCopy_ taken and uses a buffer of its own.
    std::vector<uint8_t> copy = std::move(answerCopy_);
    copy.assign(answer.begin(), answer.end());
    waiters_ -= pending.waiters.size();
    for (auto& waiter : pending.waiters) {
        if (!copy.empty())
            dns::setId(copy, waiter.clientId);
        waiter.done(copy);
    }
    pending.waiters.clear();
    answerCopy_ = std::move(copy);
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
        // Back on the list (same deadline) if it fails over to the next upstream below.
        self->removeDeadline(*pending);
    }

    if (status == ARES_EDESTRUCTION || self->destroying_)
        return;
    // With ARES_FLAG_EDNS, an upstream FORMERR without OPT makes c-ares strip 11 bytes off the
    // query, clear the flag channel-wide and retry (ares_process.c 1.18, read_answers); that
    // FORMERR never reaches us, so look after every completed query, whatever its outcome.
    // lostEdns() reads the channel's flags word in place, so the look costs next to nothing.
    if (channel->lostEdns())
        self->retire(channel);

    // Health, passively from real questions: an answer of any kind (SERVFAIL and REFUSED
    // included: c-ares reports those as ARES_ESERVFAIL / ARES_EREFUSED) shows the upstream
    // alive; no answer at all (timeout, ICMP unreachable) counts towards marking it down.
    Upstream& upstream = *owned->upstream;
    const bool answered =
        status == ARES_SUCCESS && answer != nullptr && length >= static_cast<int>(dns::kHeaderSize);
    const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - owned->sentAt);
    const bool silent = status == ARES_ETIMEOUT || status == ARES_ECONNREFUSED;
    if (silent) {
        ++upstream.state.failures;
        if (++upstream.consecutiveFailures >= kDownAfter)
            self->markDown(upstream, status == ARES_ETIMEOUT ? "timed out" : "were refused");
    } else if (answered || status == ARES_ESERVFAIL || status == ARES_EREFUSED ||
               status == ARES_ENOTIMP || status == ARES_EFORMERR || status == ARES_ENOTFOUND) {
        ++upstream.state.answers;
        upstream.state.latency.observe(latency);
        const double sample = static_cast<double>(latency.count());
        upstream.smoothedRttUs =
            upstream.smoothedRttUs == 0 ? sample : 0.7 * upstream.smoothedRttUs + 0.3 * sample;
        self->markUp(upstream, "it answered a query");
    }

    if (owned->expired) {
        // Its waiters got SERVFAIL at the deadline, and it was counted then.
        self->recycle(std::move(owned));
        return;
    }

    if (!answered) {
        // Fail over: the next upstream, within the same deadline.
        if (Upstream* next = self->pickUpstream(owned->tried)) {
            DLOG(Debug) << "upstream " << upstream.state.address.toString()
                        << " failed: " << ares_strerror(status) << "; asking "
                        << next->state.address.toString();
            Pending* raw = owned.get();
            self->addDeadline(*raw);
            self->pending_.emplace(raw->key, std::move(owned));
            self->send(*raw, *next);
            return;
        }
        ++self->stats_.failed;
        DLOG(Debug) << "upstream query failed: " << ares_strerror(status);
        self->answerWaiters(*owned, {});
        self->recycle(std::move(owned));
        return;
    }
    self->latency_.observe(latency);
    self->answerWaiters(*owned, {answer, static_cast<size_t>(length)});
    self->recycle(std::move(owned));
}

void Forwarder::addDeadline(Pending& pending) {
    // Nearly always the last: every question gets the same timeout. After a reload that
    // shortened it, a new deadline may come before some old ones.
    Pending* before = lastDeadline_;
    while (before != nullptr && before->deadline > pending.deadline)
        before = before->earlier;
    pending.earlier = before;
    pending.later = before != nullptr ? before->later : firstDeadline_;
    (pending.later != nullptr ? pending.later->earlier : lastDeadline_) = &pending;
    (before != nullptr ? before->later : firstDeadline_) = &pending;
    // A new first deadline, or the timer not running: set it. Otherwise it is set already for
    // an earlier deadline, and re-set for the next one when it fires.
    if (firstDeadline_ == &pending || !evtimer_pending(deadlineTimer_.get(), nullptr))
        armDeadlineTimer(std::chrono::steady_clock::now());
}

void Forwarder::removeDeadline(Pending& pending) {
    (pending.earlier != nullptr ? pending.earlier->later : firstDeadline_) = pending.later;
    (pending.later != nullptr ? pending.later->earlier : lastDeadline_) = pending.earlier;
    pending.earlier = pending.later = nullptr;
    // The timer may stay set for a deadline that is gone: it then finds nothing due and is
    // set again for the first one left, which costs one wake-up instead of a re-arm per answer.
}

void Forwarder::armDeadlineTimer(std::chrono::steady_clock::time_point now) {
    if (firstDeadline_ == nullptr)
        return;
    const auto wait =
        std::max(std::chrono::steady_clock::duration::zero(), firstDeadline_->deadline - now);
    const timeval tv = net::toTimeval(std::chrono::ceil<std::chrono::microseconds>(wait));
    evtimer_add(deadlineTimer_.get(), &tv);
}

void Forwarder::onDeadlineTimer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Forwarder*>(arg);
    // expire() answers waiters, who may forward again (a TCP client's next query): the list
    // is read afresh for each question.
    while (self->firstDeadline_ != nullptr &&
           self->firstDeadline_->deadline <= std::chrono::steady_clock::now()) {
        Pending& pending = *self->firstDeadline_;
        self->removeDeadline(pending);
        self->expire(pending);
    }
    self->armDeadlineTimer(std::chrono::steady_clock::now());
}

void Forwarder::expire(Pending& pending) {
    // Still in pending_: a completed question left the deadline list.
    auto node = pending_.extract(pending.key);
    pending.expired = true;
    expired_.emplace(&pending, std::move(node.mapped()));
    ++stats_.failed;
    ++stats_.expired;
    DLOG(Debug) << "upstream query passed its deadline; answering SERVFAIL";
    answerWaiters(pending, {});
}

void Forwarder::retire(net::AresChannel* channel) {
    for (auto& upstream : upstreams_) {
        for (auto& slot : upstream->channels) {
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
            auto replacement = makeChannel(upstream->state.address, &error);
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
}

void Forwarder::freeFormerUpstreams() {
    if (formerUpstreams_.empty())
        return;
    // A question in flight (or past its deadline, awaiting c-ares) or a probe may still point at
    // a former upstream: as the one it is asking, or as one it tried. At most maxInFlight
    // questions to look through, and only while a reload's leftovers remain.
    std::unordered_set<const Upstream*> used;
    const auto note = [&used](const Pending& pending) {
        used.insert(pending.upstream);
        used.insert(pending.tried.begin(), pending.tried.end());
    };
    for (const auto& [key, pending] : pending_)
        note(*pending);
    for (const auto& [key, pending] : expired_)
        note(*pending);
    for (const auto& [key, probe] : probes_)
        used.insert(probe->upstream);
    std::erase_if(formerUpstreams_,
                  [&used](const auto& upstream) { return !used.contains(upstream.get()); });
}

void Forwarder::onCleanup(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Forwarder*>(arg);
    std::erase_if(self->retired_, [](const auto& channel) { return channel->pending() == 0; });
    self->freeFormerUpstreams();
    if (!self->retired_.empty() || !self->formerUpstreams_.empty()) {
        // Still carrying queries: look again shortly.
        const timeval again{0, 200000};
        event_add(self->cleanup_.get(), &again);
    }
}

}  // namespace dynamo::resolver
