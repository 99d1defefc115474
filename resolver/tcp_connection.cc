#include "resolver/tcp_connection.h"

#include <event2/buffer.h>

#include <vector>

#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::resolver {

TcpConnection::TcpConnection(event_base* base, net::UniqueFd fd, QueryContext context,
                             QueryHandler& handler, TcpLimits limits, OnClosed onClosed)
    : bev_(bufferevent_socket_new(base, fd.release(), BEV_OPT_CLOSE_ON_FREE)),
      context_(context),
      handler_(handler),
      limits_(limits),
      onClosed_(std::move(onClosed)) {}

void TcpConnection::start() {
    bufferevent_setcb(bev_.get(), &TcpConnection::onRead, &TcpConnection::onWrite,
                      &TcpConnection::onEvent, this);
    const timeval idle = net::toTimeval(limits_.idleTimeout);
    bufferevent_set_timeouts(bev_.get(), &idle, &idle);
    // onWrite runs once the output has drained to the low mark (not only when empty), so
    // reading paused at the high mark resumes while the kernel still has data to send.
    bufferevent_setwatermark(bev_.get(), EV_WRITE, kOutputLowWater, 0);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
    if (limits_.lifetime.count() > 0) {
        const timeval until = net::toTimeval(limits_.lifetime);
        lifetime_.reset(
            evtimer_new(bufferevent_get_base(bev_.get()), &TcpConnection::onLifetimeOver, this));
        evtimer_add(lifetime_.get(), &until);
    }
    if (limits_.queryTimeout.count() > 0) {
        queryDeadline_.reset(
            evtimer_new(bufferevent_get_base(bev_.get()), &TcpConnection::onQueryTimeout, this));
    }
}

void TcpConnection::onLifetimeOver(evutil_socket_t, short, void* arg) {
    const auto self = static_cast<TcpConnection*>(arg)->shared_from_this();
    if (self->state_ != State::Reading)
        return;
    // No more queries; what was taken is still answered (the write timeout bounds a client
    // that does not read), then the connection closes.
    self->state_ = State::Draining;
    bufferevent_disable(self->bev_.get(), EV_READ);
    self->watchPartialQuery(false);
    self->closeIfDone();
}

void TcpConnection::onQueryTimeout(evutil_socket_t, short, void* arg) {
    const auto self = static_cast<TcpConnection*>(arg)->shared_from_this();
    DLOG(Debug) << "dns: tcp client " << self->context_.client.toString() << " took over "
                << self->limits_.queryTimeout.count() << " ms to send a query; closed";
    self->close();
}

void TcpConnection::watchPartialQuery(bool partial) {
    if (!queryDeadline_)
        return;
    if (!partial) {
        evtimer_del(queryDeadline_.get());
    } else if (!evtimer_pending(queryDeadline_.get(), nullptr)) {
        const timeval until = net::toTimeval(limits_.queryTimeout);
        evtimer_add(queryDeadline_.get(), &until);
    }
}

bool TcpConnection::waitingForQuery() const {
    return state_ == State::Reading && inFlight_ == 0 && bufferedOutput() == 0;
}

size_t TcpConnection::bufferedOutput() const {
    return evbuffer_get_length(bufferevent_get_output(bev_.get()));
}

void TcpConnection::resumeReading() {
    if (state_ == State::Reading && inFlight_ < limits_.maxInFlightPerConnection && !outputFull()) {
        bufferevent_enable(bev_.get(), EV_READ);
    }
}

void TcpConnection::onRead(bufferevent*, void* arg) {
    static_cast<TcpConnection*>(arg)->readQueries();
}

void TcpConnection::readQueries() {
    if (readingQueries_)
        return;  // an answer given synchronously re-enters through sendAnswer
    readingQueries_ = true;
    const auto self = shared_from_this();  // an answer may close us before this returns
    const std::weak_ptr<TcpConnection> weak = self;
    evbuffer* input = bufferevent_get_input(bev_.get());
    // Part of a query is in and the rest is the client's to send: its deadline runs. Not while
    // reading is paused on our side (in-flight or output bound).
    bool partial = false;
    while (state_ != State::Closed) {
        if (inFlight_ >= limits_.maxInFlightPerConnection) {
            bufferevent_disable(bev_.get(), EV_READ);  // resumed by sendAnswer()
            break;
        }
        if (outputFull()) {
            // The client is not reading its answers: neither take more queries from it nor
            // let the kernel's receive buffer do so for us. Resumed by onWrite().
            bufferevent_disable(bev_.get(), EV_READ);
            break;
        }
        if (limits_.maxQueries != 0 && queriesTaken_ >= limits_.maxQueries) {
            state_ = State::Draining;  // answer what was taken, then close
            bufferevent_disable(bev_.get(), EV_READ);
            break;
        }
        uint8_t prefix[2];
        if (evbuffer_copyout(input, prefix, 2) != 2) {
            partial = evbuffer_get_length(input) > 0;
            break;
        }
        const size_t length = static_cast<size_t>(prefix[0] << 8 | prefix[1]);
        if (evbuffer_get_length(input) < 2 + length) {
            partial = true;
            break;
        }
        evbuffer_drain(input, 2);
        std::vector<uint8_t> query(length);
        evbuffer_remove(input, query.data(), length);

        ++inFlight_;
        ++queriesTaken_;
        waitingSince_ = std::chrono::steady_clock::now();
        const bool accepted =
            handler_.handle(query, context_, [weak](std::span<const uint8_t> answer) {
                if (auto connection = weak.lock())
                    connection->sendAnswer(answer);
            });
        if (!accepted)
            --inFlight_;  // dropped (QR=1, runt): no answer will come
    }
    readingQueries_ = false;
    if (state_ != State::Closed)
        watchPartialQuery(partial && state_ == State::Reading);
    closeIfDone();
}

void TcpConnection::sendAnswer(std::span<const uint8_t> answer) {
    if (state_ == State::Closed)
        return;
    --inFlight_;
    const uint8_t prefix[2] = {static_cast<uint8_t>(answer.size() >> 8),
                               static_cast<uint8_t>(answer.size() & 0xff)};
    bufferevent_write(bev_.get(), prefix, 2);
    bufferevent_write(bev_.get(), answer.data(), answer.size());
    resumeReading();
    // Queries buffered while we were at the in-flight bound are not announced again.
    readQueries();
}

void TcpConnection::onWrite(bufferevent*, void* arg) {
    // The output drained to kOutputLowWater. readQueries() or close() may drop the listener's
    // reference: hold our own until we return.
    const auto self = static_cast<TcpConnection*>(arg)->shared_from_this();
    if (self->state_ == State::Closed)
        return;
    self->resumeReading();
    // Queries that arrived while the output was full are not announced again; this also
    // closes a draining connection once everything is sent.
    self->readQueries();
}

void TcpConnection::onEvent(bufferevent*, short what, void* arg) {
    const auto self = static_cast<TcpConnection*>(arg)->shared_from_this();
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && self->inFlight_ > 0) {
        // Idle only counts while nothing is in flight; libevent disabled reading: re-arm it
        // (unless the output bound holds it back: onWrite resumes it then).
        self->resumeReading();
        return;
    }
    if (what & BEV_EVENT_EOF) {
        self->state_ = State::Draining;
        self->readQueries();  // what the client sent before closing is still answered
        return;
    }
    self->close();  // error or idle timeout
}

void TcpConnection::closeIfDone() {
    if (state_ != State::Draining)
        return;
    if (inFlight_ == 0 && evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0)
        close();
}

void TcpConnection::close() {
    if (state_ == State::Closed)
        return;
    state_ = State::Closed;
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    if (queryDeadline_)
        evtimer_del(queryDeadline_.get());
    if (lifetime_)
        evtimer_del(lifetime_.get());
    if (onClosed_)
        onClosed_(this);  // the listener drops its reference; we may be gone now
}

}  // namespace dynamo::resolver
