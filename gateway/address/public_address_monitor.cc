#include "gateway/address/public_address_monitor.h"

#include <algorithm>

#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::gateway {
namespace {

using SteadyClock = std::chrono::steady_clock;

class FailedSource final : public AddressSource {
  public:
    FailedSource(event_base* base, std::string kind, std::string label, std::string error)
        : kind_(std::move(kind)), answer_{std::move(label), std::nullopt, std::move(error)} {
        deliver_.reset(evtimer_new(base, &FailedSource::onDeliver, this));
    }
    std::string kind() const override { return kind_; }
    void ask(Done done) override {
        waiting_.push_back(std::move(done));
        const timeval now{0, 0};
        evtimer_add(deliver_.get(), &now);
    }

  private:
    static void onDeliver(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<FailedSource*>(arg);
        auto waiting = std::move(self->waiting_);
        self->waiting_.clear();
        const AddressAnswer answer = self->answer_;
        for (auto& done : waiting)
            done(answer);
    }

    std::string kind_;
    AddressAnswer answer_;
    std::vector<Done> waiting_;
    net::EventPtr deliver_;
};

}  // namespace

std::unique_ptr<AddressSource> makeFailedSource(event_base* base, std::string kind,
                                                std::string label, std::string error) {
    return std::make_unique<FailedSource>(base, std::move(kind), std::move(label),
                                          std::move(error));
}

PublicAddressMonitor::PublicAddressMonitor(event_base* base, Hooks hooks)
    : base_(base), hooks_(std::move(hooks)) {
    timer_.reset(evtimer_new(base_, &PublicAddressMonitor::onTimer, this));
    state_.enabled = true;
}

PublicAddressMonitor::~PublicAddressMonitor() = default;

void PublicAddressMonitor::configure(std::vector<std::unique_ptr<AddressSource>> sources,
                                     std::chrono::seconds interval) {
    ++generation_;
    roundInFlight_ = false;
    sources_ = std::move(sources);  // the old ones cancel their questions silently
    interval_ = interval;
    lastVoices_.clear();
    state_.sources.clear();
    state_.disagreement.clear();
    auto when = SteadyClock::now();
    if (lastRoundStart_)
        when = std::max(when, *lastRoundStart_ + kMinRoundGap);
    scheduleAt(when);
}

void PublicAddressMonitor::askSoon() {
    if (roundInFlight_ || sources_.empty())
        return;
    auto when = SteadyClock::now();
    if (lastRoundStart_)
        when = std::max(when, *lastRoundStart_ + kMinRoundGap);
    scheduleAt(when);
}

void PublicAddressMonitor::deviceReported(const std::string& device,
                                          const net::IpAddress& address) {
    if (classifyAddress(address) != AddressClass::Public)
        return;
    device_ = DeviceVoice{{"device", "device " + device, address}, SteadyClock::now()};
    if (state_.rounds > 0)
        conclude();
}

void PublicAddressMonitor::scheduleAt(SteadyClock::time_point when) {
    const auto wait = std::max(SteadyClock::duration::zero(), when - SteadyClock::now());
    const timeval delay =
        net::toTimeval(std::chrono::duration_cast<std::chrono::microseconds>(wait));
    evtimer_add(timer_.get(), &delay);
}

void PublicAddressMonitor::onTimer(evutil_socket_t, short, void* arg) {
    static_cast<PublicAddressMonitor*>(arg)->startRound();
}

void PublicAddressMonitor::startRound() {
    if (roundInFlight_ || sources_.empty())
        return;
    roundInFlight_ = true;
    lastRoundStart_ = SteadyClock::now();
    next_ = 0;
    roundVoices_.clear();
    askNext();
}

void PublicAddressMonitor::askNext() {
    if (next_ == sources_.size()) {
        finishRound();
        return;
    }
    AddressSource& source = *sources_[next_];
    const std::string kind = source.kind();
    // In turn, not all at once: each source gets its own timeout, and the round never has more
    // than one question out.
    source.ask([this, generation = generation_, kind](const AddressAnswer& answer) {
        if (generation != generation_)
            return;
        const auto now = std::chrono::system_clock::now();
        SourceState entry{kind, answer.source, answer.address, answer.error, now};
        if (answer.address) {
            DLOG(Debug) << "public address: " << answer.source << " says "
                        << answer.address->toString();
        } else {
            DLOG(Debug) << "public address: " << answer.source << " failed: " << answer.error;
        }
        auto it = std::find_if(state_.sources.begin(), state_.sources.end(),
                               [&](const SourceState& s) { return s.source == answer.source; });
        if (it == state_.sources.end())
            state_.sources.push_back(std::move(entry));
        else
            *it = std::move(entry);
        roundVoices_.push_back({kind, answer.source, answer.address});
        ++next_;
        askNext();
    });
}

void PublicAddressMonitor::finishRound() {
    roundInFlight_ = false;
    lastVoices_ = std::move(roundVoices_);
    roundVoices_.clear();
    ++state_.rounds;
    state_.lastRound = std::chrono::system_clock::now();
    conclude();
    if (!state_.disagreement.empty())
        ++state_.disagreements;
    scheduleAt(SteadyClock::now() + std::max<std::chrono::seconds>(interval_, kMinRoundGap));
}

void PublicAddressMonitor::conclude() {
    std::vector<Voice> voices = lastVoices_;
    // A device's word counts for as long as a round's answers do.
    if (device_ && SteadyClock::now() - device_->at <= interval_ + kMinRoundGap)
        voices.push_back(device_->voice);
    const Verdict verdict = decide(voices, sources_.size());

    if (verdict.disagreement != state_.disagreement && !verdict.disagreement.empty()) {
        DLOG(Warning) << "public address: the sources disagree: " << verdict.disagreement;
    }
    state_.disagreement = verdict.disagreement;

    if (!verdict.cgnat.empty() && state_.cgnat.empty()) {
        DLOG(Warning) << "behind carrier-grade NAT: incoming connections will not reach this "
                         "network ("
                      << verdict.cgnat << ")";
        state_.cgnat = verdict.cgnat;
        if (hooks_.onCgnat)
            hooks_.onCgnat(verdict.cgnat);
    } else if (verdict.cgnat.empty() && !state_.cgnat.empty() && !lastVoices_.empty()) {
        DLOG(Info) << "public address: no sign of carrier-grade NAT any more";
        state_.cgnat.clear();
    } else if (!verdict.cgnat.empty()) {
        state_.cgnat = verdict.cgnat;
    }

    if (!verdict.believed) {
        if (verdict.disagreement.empty() && state_.rounds > 0 && !state_.believed) {
            DLOG(Debug) << "public address: no two sources agree yet";
        }
        return;
    }
    state_.agreeing = verdict.agreeing;
    if (state_.believed == verdict.believed)
        return;
    std::string agreeing;
    for (const auto& source : verdict.agreeing)
        agreeing += (agreeing.empty() ? "" : ", ") + source;
    DLOG(Info) << "public address: " << verdict.believed->toString() << " (" << agreeing << ")";
    state_.believed = verdict.believed;
    state_.believedSince = std::chrono::system_clock::now();
    if (hooks_.onBelieved)
        hooks_.onBelieved(*verdict.believed);
}

PublicAddressState PublicAddressMonitor::state() const {
    return state_;
}

}  // namespace dynamo::gateway
