#include "net/ares_channel.h"

#include <cstring>
#include <mutex>

#include "net/ares_sockets.h"

namespace dynamo::net {

void initAresLibrary() {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

std::string serversCsv(const std::vector<SocketAddress>& servers) {
    std::string csv;
    for (const auto& server : servers) {
        if (!csv.empty())
            csv += ',';
        csv += server.toString();
    }
    return csv;
}

std::unique_ptr<AresChannel> AresChannel::create(event_base* base, const Options& options,
                                                 std::string* error) {
    initAresLibrary();
    if (options.servers.empty()) {
        *error = "no upstream servers";
        return nullptr;
    }
    std::unique_ptr<AresChannel> self(new AresChannel(base));
    self->timer_.reset(evtimer_new(base, &AresChannel::onTimer, self.get()));
    self->sockets_ = std::make_unique<AresSockets>(
        base, options.keepSocketFor > 0 ? options.keepIdle : std::chrono::milliseconds(0));
    self->keepSocketFor_ = options.keepSocketFor;

    ares_options opts{};
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    // NOSEARCH for every channel, whoever creates it: a name is only ever sent as given.
    opts.flags = options.flags | ARES_FLAG_NOSEARCH;
    opts.timeout = static_cast<int>(options.timeout.count());
    opts.tries = options.tries;
    opts.sock_state_cb = &AresChannel::onSocketState;
    opts.sock_state_cb_data = self.get();
    if (options.ednsPayloadSize > 0) {
        mask |= ARES_OPT_EDNSPSZ;
        opts.ednspsz = options.ednsPayloadSize;
    }
    // Only DNS ("b"), never /etc/hosts: lookups through ares_getaddrinfo() ask the upstreams.
    mask |= ARES_OPT_LOOKUPS;
    opts.lookups = const_cast<char*>("b");
    // c-ares reads the system resolv.conf after our options (ares_init.c: init_by_resolv_conf)
    // and takes from it whatever we did not set: search domains, ndots, rotate. /dev/null
    // (ARES_OPT_RESOLVCONF, c-ares >= 1.15) gives it nothing; no search domains and no
    // rotation are set explicitly too, so neither the file nor LOCALDOMAIN/RES_OPTIONS in the
    // environment can change what or where this channel sends.
    mask |= ARES_OPT_RESOLVCONF | ARES_OPT_DOMAINS | ARES_OPT_NOROTATE;
    opts.resolvconf_path = const_cast<char*>("/dev/null");
    opts.domains = nullptr;
    opts.ndomains = 0;
    self->requestedFlags_ = opts.flags;

    const int status = ares_init_options(&self->channel_, &opts, mask);
    if (status != ARES_SUCCESS) {
        *error = std::string("ares_init_options: ") + ares_strerror(status);
        self->channel_ = nullptr;
        return nullptr;
    }
    ares_set_socket_functions(self->channel_, &aresSocketFunctions(), self->sockets_.get());
    // Explicit servers always: with none, c-ares 1.18 falls back to 127.0.0.1, which is this
    // daemon once it is the LAN's resolver.
    const std::string csv = serversCsv(options.servers);
    const int setStatus = ares_set_servers_ports_csv(self->channel_, csv.c_str());
    if (setStatus != ARES_SUCCESS) {
        *error = "upstreams " + csv + ": " + ares_strerror(setStatus);
        return nullptr;
    }
    // The flags as ares_save_options() reports them must be what the first field shows, or
    // lostEdns() keeps asking ares_save_options().
    self->flagsReadable_ = self->savedFlags() == self->firstField();
    return self;
}

int AresChannel::firstField() const {
    // struct ares_channeldata (ares_private.h) begins with `flags` in every c-ares release
    // from 1.x through 1.34 (int, later unsigned int); create() checks that it agrees with
    // ares_save_options() before this is trusted.
    int flags = 0;
    std::memcpy(&flags, static_cast<const void*>(channel_), sizeof flags);
    return flags;
}

std::optional<int> AresChannel::savedFlags() const {
    ares_options current{};
    int mask = 0;
    if (ares_save_options(channel_, &current, &mask) != ARES_SUCCESS)
        return std::nullopt;
    const int flags = current.flags;
    ares_destroy_options(&current);
    return flags;
}

AresChannel::~AresChannel() {
    keepSocketFor_ = 0;  // ares_destroy() closes every socket: none is kept
    if (channel_ != nullptr)
        ares_destroy(channel_);
    // ares_destroy closed its sockets and reported them through onSocketState; whatever is
    // left in the map goes with it.
    socketEvents_.clear();
}

void AresChannel::send(std::span<const uint8_t> query, ares_callback callback, void* arg) {
    if (openSockets() == 0)
        sendsOnOpenSockets_ = 0;
    ++sendsOnOpenSockets_;
    ares_send(channel_, query.data(), static_cast<int>(query.size()), callback, arg);
    rearmTimer();
}

bool AresChannel::lostEdns() const {
    if ((requestedFlags_ & ARES_FLAG_EDNS) == 0)
        return false;
    // Asked after every upstream answer: ares_save_options() copies the whole configuration
    // (servers, domains, sortlist: several allocations), a cost per cache miss; the flags
    // word read in place costs nothing.
    const std::optional<int> flags = flagsReadable_ ? firstField() : savedFlags();
    return flags && (*flags & ARES_FLAG_EDNS) == 0;
}

void AresChannel::onSocketState(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<AresChannel*>(data);
    if (readable == 0 && writable == 0) {
        auto found = self->socketEvents_.find(fd);
        if (found == self->socketEvents_.end())
            return;
        EventPtr event = std::move(found->second);
        self->socketEvents_.erase(found);
        // c-ares closes its last socket when the channel has no question left (end_query), or
        // every socket on an error with questions still to send again: only the first is
        // kept, while its port has carried fewer than keepSocketFor_ questions.
        if (self->socketEvents_.empty() && self->pending_ == 0 &&
            self->sendsOnOpenSockets_ < self->keepSocketFor_) {
            event = self->sockets_->keep(fd, std::move(event));
        }
        if (event)
            self->sockets_->retire(std::move(event));
        return;
    }
    const short what =
        static_cast<short>(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    EventPtr event = self->sockets_->reclaim(fd);  // the kept socket's, still added
    if (!event || event_get_events(event.get()) != what) {
        event.reset(event_new(self->base_, fd, what, &AresChannel::onSocketEvent, self));
        event_add(event.get(), nullptr);
    }
    self->socketEvents_[fd] = std::move(event);
}

void AresChannel::onSocketEvent(evutil_socket_t fd, short what, void* arg) {
    auto* self = static_cast<AresChannel*>(arg);
    if (self->sockets_->keptIdle(fd)) {
        // A datagram no question waits for (a late answer, or a guess at the port), or an
        // error: the port is given up.
        self->sockets_->release();
        return;
    }
    const ares_socket_t readFd = (what & EV_READ) ? fd : ARES_SOCKET_BAD;
    const ares_socket_t writeFd = (what & EV_WRITE) ? fd : ARES_SOCKET_BAD;
    ares_process_fd(self->channel_, readFd, writeFd);
    // c-ares reads a socket until it is empty, so nothing read ahead should be left; if it
    // stopped early, the answers are handed over now, not lost.
    for (int round = 0; round < 16 && readFd != ARES_SOCKET_BAD && aresReadAheadPending(readFd);
         ++round) {
        ares_process_fd(self->channel_, readFd, ARES_SOCKET_BAD);
    }
    self->rearmTimer();
}

void AresChannel::onTimer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<AresChannel*>(arg);
    ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->rearmTimer();
}

void AresChannel::rearmTimer() {
    timeval wait{};
    if (ares_timeout(channel_, nullptr, &wait) == nullptr)  // nothing pending
        return;  // a timer still set finds nothing due, once
    // Every question gets the same timeout, so a new one's comes after the timer already set:
    // re-setting it after every send and every answer (libevent's heap, twice per question)
    // would change nothing. A timer set for a question answered meanwhile fires with nothing
    // due, and is set for the next one then.
    const auto due = std::chrono::steady_clock::now() + std::chrono::seconds(wait.tv_sec) +
                     std::chrono::microseconds(wait.tv_usec);
    if (evtimer_pending(timer_.get(), nullptr) && due >= timerDue_)
        return;
    timerDue_ = due;
    evtimer_add(timer_.get(), &wait);
}

}  // namespace dynamo::net
