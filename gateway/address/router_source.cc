#include "gateway/address/router_source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "gateway/address/default_route.h"
#include "gateway/address/nat_pmp.h"
#include "gateway/address/pcp.h"
#include "gateway/address/upnp_igd.h"
#include "gateway/updates/http_response_reader.h"
#include "net/error_text.h"
#include "net/handles.h"
#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::gateway {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// RFC 6886 §3.1: the first retransmission after 250 ms, each later one after twice as long.
constexpr milliseconds kFirstRetransmit{250};
// The PCP mapping that carries the address lives this long unless deleted, which it is at once.
constexpr uint32_t kPcpLifetime = 120;
// Datagrams read per readiness event: a flood waits for the next turn of the loop.
constexpr int kMaxDatagramsPerRead = 16;

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) {
        if (!out.empty())
            out += "; ";
        out += part;
    }
    return out;
}

class RouterSource final : public AddressSource {
  public:
    RouterSource(event_base* base, RouterSourceOptions options)
        : base_(base), options_(std::move(options)) {
        deadline_.reset(evtimer_new(base_, &RouterSource::onDeadline, this));
        timer_.reset(evtimer_new(base_, &RouterSource::onTimer, this));
        deferred_.reset(evtimer_new(base_, &RouterSource::onDeferred, this));
    }

    std::string kind() const override { return "router"; }

    void ask(Done done) override {
        if (done_) {
            // Answered from the loop, never inside ask() (address_source.h).
            rejected_.push_back(std::move(done));
            scheduleDeferred();
            return;
        }
        done_ = std::move(done);
        errors_.clear();
        ignored_ = 0;
        natPmpAnswered_ = false;
        natPmpRetried_ = false;
        services_.clear();
        router_ = options_.router ? std::optional(options_.router->ip()) : defaultGateway();
        if (!router_ || !router_->isV4()) {
            immediateError_ = router_ ? "the router must have an IPv4 address"
                                      : "no default route in /proc/net/route";
            router_.reset();
            scheduleDeferred();
            return;
        }
        const timeval total = net::toTimeval(options_.timeout);
        evtimer_add(deadline_.get(), &total);
        end_ = Clock::now() + options_.timeout;
        startNatPmp(Clock::now() + options_.timeout / 4);
    }

  private:
    enum class Phase { Idle, NatPmp, Pcp, Ssdp, Http };

    uint16_t natPmpPort() const {
        return options_.router && options_.router->port() != 0 ? options_.router->port()
                                                               : kNatPmpPort;
    }

    std::string where() const { return router_ ? router_->toString() : std::string("?"); }

    void scheduleDeferred() {
        const timeval now{0, 0};
        evtimer_add(deferred_.get(), &now);
    }

    // ---- UDP: NAT-PMP, PCP, SSDP ----

    // A socket connected to the router's NAT-PMP/PCP port, so an ICMP port unreachable comes
    // back as ECONNREFUSED instead of a wait for the timeout.
    bool openUdp(bool connectToRouter, std::string* error) {
        closeUdp();
        net::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) {
            *error = "socket: " + net::errnoText(errno);
            return false;
        }
        if (connectToRouter) {
            const net::SocketAddress to(*router_, natPmpPort());
            if (::connect(fd.get(), to.sockaddr_ptr(), to.length()) != 0) {
                *error = "connect to " + to.toString() + ": " + net::errnoText(errno);
                return false;
            }
            sockaddr_storage own{};
            socklen_t ownLength = sizeof own;
            if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&own), &ownLength) != 0) {
                *error = "getsockname: " + net::errnoText(errno);
                return false;
            }
            const auto local =
                net::SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&own), ownLength);
            if (!local) {
                *error = "getsockname: not an IPv4 address";
                return false;
            }
            clientAddress_ = local->ip();
            clientPort_ = local->port();
        } else {
            // UDA 1.1 §1.3.2: multicast searches go out with TTL 2.
            const unsigned char ttl = 2;
            ::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
        }
        udpRead_.reset(
            event_new(base_, fd.get(), EV_READ | EV_PERSIST, &RouterSource::onUdp, this));
        event_add(udpRead_.get(), nullptr);
        udp_ = std::move(fd);
        return true;
    }

    void closeUdp() {
        udpRead_.reset();
        udp_.reset();
    }

    void startRetransmitting(Clock::time_point phaseEnd) {
        phaseEnd_ = std::min(phaseEnd, end_);
        interval_ = kFirstRetransmit;
        sendRequest();
        armTimer();
    }

    void armTimer() {
        const auto left = std::chrono::duration_cast<milliseconds>(phaseEnd_ - Clock::now());
        const timeval wait = net::toTimeval(std::max(milliseconds(0), std::min(interval_, left)));
        evtimer_add(timer_.get(), &wait);
    }

    void startNatPmp(Clock::time_point phaseEnd) {
        phase_ = Phase::NatPmp;
        std::string error;
        if (!openUdp(true, &error)) {
            errors_.push_back("NAT-PMP: " + error);
            startSsdp();
            return;
        }
        startRetransmitting(phaseEnd);
    }

    void startPcp() {
        phase_ = Phase::Pcp;
        std::string error;
        if (!openUdp(true, &error)) {
            errors_.push_back("PCP: " + error);
            startSsdp();
            return;
        }
        if (RAND_bytes(nonce_.data(), static_cast<int>(nonce_.size())) != 1) {
            errors_.push_back("PCP: no random nonce");
            startSsdp();
            return;
        }
        startRetransmitting(Clock::now() + options_.timeout / 4);
    }

    void startSsdp() {
        phase_ = Phase::Ssdp;
        std::string error;
        if (!openUdp(false, &error)) {
            errors_.push_back("UPnP: " + error);
            finishFailure();
            return;
        }
        startRetransmitting(end_);
    }

    void sendRequest() {
        switch (phase_) {
            case Phase::NatPmp: {
                const auto request = natPmpExternalAddressRequest();
                (void)::send(udp_.get(), request.data(), request.size(), 0);
                break;
            }
            case Phase::Pcp: {
                const auto request =
                    pcpMapRequest(clientAddress_, clientPort_, nonce_, kPcpLifetime);
                (void)::send(udp_.get(), request.data(), request.size(), 0);
                break;
            }
            case Phase::Ssdp: {
                // Unicast to the router first (UDA 1.1 §1.3.2 allows it; it keeps other
                // devices' answers away), then multicast for devices that answer only that.
                const net::SocketAddress unicast(*router_, options_.ssdpPort);
                sendSearches(unicast, unicast.toString());
                if (const auto group = net::IpAddress::parse(kSsdpMulticast))
                    sendSearches(net::SocketAddress(*group, options_.ssdpPort),
                                 std::string(kSsdpMulticast) + ":" + std::to_string(kSsdpPort));
                break;
            }
            default:
                break;
        }
    }

    void sendSearches(const net::SocketAddress& to, const std::string& host) {
        for (const auto type : kWanServiceTypes) {
            const std::string search = ssdpSearch(type, host);
            (void)::sendto(udp_.get(), search.data(), search.size(), 0, to.sockaddr_ptr(),
                           to.length());
        }
    }

    static void onTimer(evutil_socket_t, short, void* self) {
        static_cast<RouterSource*>(self)->retransmit();
    }

    void retransmit() {
        if (Clock::now() < phaseEnd_) {
            sendRequest();
            interval_ *= 2;
            armTimer();
            return;
        }
        switch (phase_) {
            case Phase::NatPmp:
                errors_.push_back("NAT-PMP: no answer");
                // After a NAT-PMP-only answer to PCP (RFC 6887 §9) NAT-PMP was asked again.
                if (natPmpRetried_)
                    startSsdp();
                else
                    startPcp();
                break;
            case Phase::Pcp:
                errors_.push_back("PCP: no answer");
                startSsdp();
                break;
            default:
                break;  // SSDP searches until the deadline
        }
    }

    static void onUdp(evutil_socket_t, short, void* self) {
        static_cast<RouterSource*>(self)->readUdp();
    }

    void readUdp() {
        for (int i = 0; i < kMaxDatagramsPerRead && udp_; ++i) {
            std::array<uint8_t, 2048> buffer;
            sockaddr_storage from{};
            socklen_t fromLength = sizeof from;
            const ssize_t n = ::recvfrom(udp_.get(), buffer.data(), buffer.size(), 0,
                                         reinterpret_cast<sockaddr*>(&from), &fromLength);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return;
                udpFailed(errno);
                return;
            }
            const std::span<const uint8_t> datagram(buffer.data(), static_cast<size_t>(n));
            if (!handleDatagram(datagram, from, fromLength))
                return;  // the phase moved on or the answer is given
        }
    }

    void udpFailed(int error) {
        evtimer_del(timer_.get());
        if (phase_ == Phase::Ssdp) {
            errors_.push_back("UPnP: " + net::errnoText(error));
            closeUdp();  // the deadline ends the question
            return;
        }
        // Nothing listens on 5351 (ICMP port unreachable): PCP would be refused the same way.
        const std::string name = phase_ == Phase::NatPmp ? "NAT-PMP" : "PCP";
        errors_.push_back(name + ": " + net::errnoText(error) + " (" +
                          net::SocketAddress(*router_, natPmpPort()).toString() + ")");
        startSsdp();
    }

    // False when the datagram ended the phase (or the question).
    bool handleDatagram(std::span<const uint8_t> datagram, const sockaddr_storage& from,
                        socklen_t fromLength) {
        switch (phase_) {
            case Phase::NatPmp: {
                const auto response = parseNatPmpResponse(datagram);
                switch (response.kind) {
                    case NatPmpResponse::Kind::Address:
                        if (response.address.isUnspecified()) {
                            errors_.push_back("NAT-PMP: the router reports 0.0.0.0");
                            natPmpAnswered_ = true;
                            evtimer_del(timer_.get());
                            natPmpRetried_ ? startSsdp() : startPcp();
                            return false;
                        }
                        succeed("nat-pmp", response.address);
                        return false;
                    case NatPmpResponse::Kind::Error:
                        errors_.push_back(natPmpResultText(response.result));
                        natPmpAnswered_ = true;
                        evtimer_del(timer_.get());
                        natPmpRetried_ ? startSsdp() : startPcp();
                        return false;
                    case NatPmpResponse::Kind::PcpServer:
                        errors_.push_back("NAT-PMP: the router speaks PCP only");
                        natPmpAnswered_ = true;
                        evtimer_del(timer_.get());
                        startPcp();
                        return false;
                    case NatPmpResponse::Kind::NotOurs:
                        ++ignored_;
                        return true;
                }
                return true;
            }
            case Phase::Pcp: {
                const auto response = parsePcpResponse(datagram, nonce_);
                switch (response.kind) {
                    case PcpResponse::Kind::Address: {
                        // Delete the mapping again (RFC 6887 §15); the answer does not wait.
                        const auto remove = pcpMapRequest(clientAddress_, clientPort_, nonce_, 0);
                        (void)::send(udp_.get(), remove.data(), remove.size(), 0);
                        if (response.address.isUnspecified()) {
                            errors_.push_back("PCP: the router reports 0.0.0.0");
                            evtimer_del(timer_.get());
                            startSsdp();
                            return false;
                        }
                        succeed("pcp", response.address);
                        return false;
                    }
                    case PcpResponse::Kind::Error:
                        errors_.push_back(pcpResultText(response.result));
                        evtimer_del(timer_.get());
                        startSsdp();
                        return false;
                    case PcpResponse::Kind::NatPmpServer:
                        evtimer_del(timer_.get());
                        // RFC 6887 §9: speak NAT-PMP to it, unless it has already answered that.
                        if (!natPmpAnswered_ && !natPmpRetried_) {
                            natPmpRetried_ = true;
                            startNatPmp(phaseEnd_);
                        } else {
                            errors_.push_back("PCP: the router speaks NAT-PMP only");
                            startSsdp();
                        }
                        return false;
                    case PcpResponse::Kind::NotOurs:
                        ++ignored_;
                        return true;
                }
                return true;
            }
            case Phase::Ssdp: {
                const auto source = net::SocketAddress::fromSockaddr(
                    reinterpret_cast<const sockaddr*>(&from), fromLength);
                const std::string_view text(reinterpret_cast<const char*>(datagram.data()),
                                            datagram.size());
                const auto location = ssdpLocation(text);
                const auto url = location ? parseHttpUrl(*location) : std::nullopt;
                // Only the router's own answer, naming the router: another device on the LAN
                // (or a forged reply) cannot point the gateway at some other host.
                if (!source || source->ip() != *router_ || !url || url->host != *router_) {
                    ++ignored_;
                    return true;
                }
                evtimer_del(timer_.get());
                closeUdp();
                location_ = *url;
                fetch(httpGet(location_), kMaxDescriptionBytes, true);
                return false;
            }
            default:
                return false;
        }
    }

    // ---- HTTP: the description, then the SOAP action ----

    void fetch(const std::string& request, size_t maxBody, bool description) {
        phase_ = Phase::Http;
        fetchingDescription_ = description;
        const HttpUrl& url = description ? location_ : services_[serviceIndex_].control;
        http_.reset(bufferevent_socket_new(base_, -1, BEV_OPT_CLOSE_ON_FREE));
        reader_.emplace(maxBody);
        if (!http_) {
            errors_.push_back("UPnP: no bufferevent");
            finishFailure();
            return;
        }
        bufferevent_setcb(http_.get(), &RouterSource::onHttpRead, nullptr,
                          &RouterSource::onHttpEvent, this);
        bufferevent_enable(http_.get(), EV_READ | EV_WRITE);
        bufferevent_write(http_.get(), request.data(), request.size());
        const net::SocketAddress to(url.host, url.port);
        if (bufferevent_socket_connect(http_.get(), const_cast<sockaddr*>(to.sockaddr_ptr()),
                                       static_cast<int>(to.length())) != 0) {
            errors_.push_back("UPnP: connect to " + url.toString() + ": " + net::errnoText(errno));
            httpDone();
        }
    }

    static void onHttpRead(bufferevent*, void* self) {
        static_cast<RouterSource*>(self)->readHttp(false);
    }

    static void onHttpEvent(bufferevent*, short what, void* self) {
        auto* source = static_cast<RouterSource*>(self);
        if (what & BEV_EVENT_CONNECTED)
            return;
        if (what & BEV_EVENT_EOF) {
            source->readHttp(true);
            return;
        }
        const HttpUrl& url = source->fetchingDescription_
                                 ? source->location_
                                 : source->services_[source->serviceIndex_].control;
        source->errors_.push_back("UPnP: " + url.toString() + ": " +
                                  net::errnoText(EVUTIL_SOCKET_ERROR()));
        source->httpDone();
    }

    void readHttp(bool eof) {
        evbuffer* input = bufferevent_get_input(http_.get());
        std::array<char, 4096> chunk;
        while (reader_->state() == HttpResponseReader::State::Incomplete) {
            const int n = evbuffer_remove(input, chunk.data(), chunk.size());
            if (n <= 0)
                break;
            reader_->feed(std::string_view(chunk.data(), static_cast<size_t>(n)));
        }
        if (eof && reader_->state() == HttpResponseReader::State::Incomplete)
            reader_->finishAtEof();
        if (reader_->state() == HttpResponseReader::State::Incomplete)
            return;
        const HttpUrl& url = fetchingDescription_ ? location_ : services_[serviceIndex_].control;
        if (reader_->state() == HttpResponseReader::State::Error) {
            errors_.push_back("UPnP: " + url.toString() + ": " + reader_->error());
            httpDone();
            return;
        }
        if (reader_->bodyTooLarge()) {
            errors_.push_back("UPnP: " + url.toString() + ": answer too long");
            httpDone();
            return;
        }
        const int status = reader_->status();
        const std::string body = reader_->body();
        http_.reset();
        if (fetchingDescription_) {
            if (status != 200) {
                errors_.push_back("UPnP: " + url.toString() + " answered HTTP " +
                                  std::to_string(status));
                finishFailure();
                return;
            }
            auto services = wanServices(body, location_);
            std::erase_if(services,
                          [&](const WanService& s) { return s.control.host != *router_; });
            if (services.empty()) {
                errors_.push_back("UPnP: no WANIPConnection or WANPPPConnection service in " +
                                  url.toString());
                finishFailure();
                return;
            }
            services_ = std::move(services);
            serviceIndex_ = 0;
            fetch(soapGetExternalIpAddress(services_[0]), kMaxSoapBytes, false);
            return;
        }
        const SoapAnswer answer = parseGetExternalIpAddress(status, body);
        if (answer.address) {
            succeed("upnp", *answer.address);
            return;
        }
        errors_.push_back("UPnP: " + answer.error);
        nextService();
    }

    // The exchange failed: the next WAN service, or the answer.
    void httpDone() {
        http_.reset();
        if (fetchingDescription_) {
            finishFailure();
            return;
        }
        nextService();
    }

    void nextService() {
        if (++serviceIndex_ < services_.size()) {
            fetch(soapGetExternalIpAddress(services_[serviceIndex_]), kMaxSoapBytes, false);
            return;
        }
        finishFailure();
    }

    // ---- the end of a question ----

    static void onDeadline(evutil_socket_t, short, void* self) {
        auto* source = static_cast<RouterSource*>(self);
        switch (source->phase_) {
            case Phase::NatPmp:
                source->errors_.push_back("NAT-PMP: no answer");
                break;
            case Phase::Pcp:
                source->errors_.push_back("PCP: no answer");
                break;
            case Phase::Ssdp:
                if (source->udp_)
                    source->errors_.push_back("UPnP: no answer to M-SEARCH");
                break;
            case Phase::Http:
                source->errors_.push_back("UPnP: no answer over HTTP");
                break;
            default:
                break;
        }
        source->errors_.push_back("timeout after " +
                                  std::to_string(source->options_.timeout.count()) + " ms");
        source->finishFailure();
    }

    static void onDeferred(evutil_socket_t, short, void* self) {
        static_cast<RouterSource*>(self)->runDeferred();
    }

    void runDeferred() {
        const std::weak_ptr<char> alive = life_;
        auto rejected = std::move(rejected_);
        rejected_.clear();
        for (auto& done : rejected) {
            done(AddressAnswer{"router", std::nullopt, "a question to the router is in flight"});
            if (alive.expired())
                return;
        }
        if (!immediateError_.empty()) {
            errors_.push_back(std::exchange(immediateError_, std::string()));
            finishFailure();
        }
    }

    void succeed(const std::string& protocol, const net::IpAddress& address) {
        finish(AddressAnswer{"router " + protocol + " " + where(), address, ""});
    }

    void finishFailure() {
        if (ignored_ > 0)
            errors_.push_back(std::to_string(ignored_) + " unexpected replies ignored");
        finish(
            AddressAnswer{router_ ? "router " + where() : "router", std::nullopt, join(errors_)});
    }

    void finish(AddressAnswer answer) {
        evtimer_del(deadline_.get());
        evtimer_del(timer_.get());
        closeUdp();
        http_.reset();
        reader_.reset();
        phase_ = Phase::Idle;
        // Last: the callback may destroy this source.
        Done done = std::move(done_);
        done_ = nullptr;
        if (done)
            done(answer);
    }

    event_base* base_;
    RouterSourceOptions options_;
    std::shared_ptr<char> life_ = std::make_shared<char>();

    Done done_;
    std::vector<Done> rejected_;
    std::string immediateError_;
    std::optional<net::IpAddress> router_;
    Phase phase_ = Phase::Idle;
    std::vector<std::string> errors_;
    size_t ignored_ = 0;
    bool natPmpAnswered_ = false;
    bool natPmpRetried_ = false;
    Clock::time_point end_;
    Clock::time_point phaseEnd_;
    milliseconds interval_ = kFirstRetransmit;

    net::IpAddress clientAddress_;
    uint16_t clientPort_ = 0;
    PcpNonce nonce_{};

    HttpUrl location_;
    std::vector<WanService> services_;
    size_t serviceIndex_ = 0;
    bool fetchingDescription_ = false;
    std::optional<HttpResponseReader> reader_;

    // Handles last, so they are freed first: events before the descriptors they watch.
    net::UniqueFd udp_;
    net::EventPtr udpRead_;
    net::BufferEventPtr http_;
    net::EventPtr deadline_;
    net::EventPtr timer_;
    net::EventPtr deferred_;
};

}  // namespace

std::unique_ptr<AddressSource> makeRouterSource(event_base* base,
                                                const RouterSourceOptions& options,
                                                std::string* error) {
    auto fail = [&](std::string why) -> std::unique_ptr<AddressSource> {
        if (error)
            *error = "router: " + std::move(why);
        return nullptr;
    };
    if (!base)
        return fail("no event loop");
    if (options.timeout <= milliseconds(0))
        return fail("the timeout must be positive");
    if (options.router && !options.router->ip().isV4())
        return fail("NAT-PMP, PCP and UPnP are asked over IPv4: give the router's IPv4 address");
    if (!options.router && !defaultGateway())
        return fail(
            "auto found no IPv4 default route in /proc/net/route; give the router's "
            "address instead");
    return std::make_unique<RouterSource>(base, options);
}

}  // namespace dynamo::gateway
