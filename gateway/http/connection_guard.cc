#include "gateway/http/connection_guard.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::gateway {
namespace {

// bufferevent_free() clears the callbacks before it drops evhttp's reference; a live evhttp
// connection always has its event callback set.
bool finished(bufferevent* bev) {
    bufferevent_event_cb eventCallback = nullptr;
    bufferevent_getcb(bev, nullptr, nullptr, &eventCallback, nullptr);
    return eventCallback == nullptr;
}

// evhttp 2.1.12 reads a request with its read callback set and reading on (EVCON_READING_*:
// evhttp_start_read_). Once the request is in it turns reading off until the answer is out
// (evhttp_handle_request), and while it writes the answer the read callback is null
// (evhttp_write_buffer). Output pending: an answer is still on its way.
bool readingRequest(bufferevent* bev) {
    bufferevent_data_cb readCallback = nullptr;
    bufferevent_getcb(bev, &readCallback, nullptr, nullptr, nullptr);
    return readCallback != nullptr && (bufferevent_get_enabled(bev) & EV_READ) != 0 &&
           evbuffer_get_length(bufferevent_get_output(bev)) == 0;
}

// evhttp 2.1.12 gives its connection as the bufferevent's callback argument
// (evhttp_start_read_, evhttp_write_buffer); null when the connection is gone.
evhttp_connection* connectionOf(bufferevent* bev) {
    bufferevent_event_cb eventCallback = nullptr;
    void* argument = nullptr;
    bufferevent_getcb(bev, nullptr, nullptr, &eventCallback, &argument);
    return eventCallback != nullptr ? static_cast<evhttp_connection*>(argument) : nullptr;
}

std::string trimmed(std::string_view text) {
    const auto space = [](char c) { return c == ' ' || c == '\t'; };
    while (!text.empty() && space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && space(text.back()))
        text.remove_suffix(1);
    return std::string(text);
}

// "Content-Length:" and a value of up to 20 digits with some blanks around it.
constexpr size_t kLineKept = 64;

}  // namespace

HttpConnectionGuard::HeadScanner::Verdict HttpConnectionGuard::HeadScanner::feed(const char* data,
                                                                                 size_t length) {
    for (size_t i = 0; i < length && verdict_ == Verdict::More; ++i) {
        ++bytes_;
        if (bytes_ > maxBytes_) {
            verdict_ = Verdict::TooLarge;
            break;
        }
        // A line ends at LF, with or without CR, as evhttp reads it (EVBUFFER_EOL_CRLF).
        if (data[i] == '\n') {
            endLine();
        } else if (line_.size() < kLineKept) {
            line_.push_back(data[i]);
        } else {
            lineTruncated_ = true;
        }
    }
    return verdict_;
}

void HttpConnectionGuard::HeadScanner::endLine() {
    if (!line_.empty() && line_.back() == '\r' && !lineTruncated_)
        line_.pop_back();
    const bool empty = line_.empty() && !lineTruncated_;
    const bool first = std::exchange(firstLine_, false);
    if (empty) {
        verdict_ = Verdict::Done;
        return;
    }
    // A field line (not the request line, not a continuation): evhttp splits it at the first
    // colon and matches the name without regard to case.
    static constexpr std::string_view kName = "content-length:";
    if (!first && line_.size() >= kName.size() &&
        std::equal(kName.begin(), kName.end(), line_.begin(), [](char a, char b) {
            return a == std::tolower(static_cast<unsigned char>(b));
        })) {
        // An overlong value is never equal to another (evhttp refuses it anyway).
        const std::string value = lineTruncated_
                                      ? std::string("\n")
                                      : trimmed(std::string_view(line_).substr(kName.size()));
        if (contentLength_ && *contentLength_ != value)
            verdict_ = Verdict::ConflictingLength;
        else
            contentLength_ = value;
    }
    line_.clear();
    lineTruncated_ = false;
}

HttpConnectionGuard::Entry::Entry(HttpConnectionGuard* owner, bufferevent* buffer,
                                  size_t maxHeadBytes)
    : guard(owner),
      bev(buffer),
      admitted(std::chrono::steady_clock::now()),
      readingSince(admitted),
      head(maxHeadBytes) {
    inputWatch =
        evbuffer_add_cb(bufferevent_get_input(buffer), &HttpConnectionGuard::onInput, this);
}

HttpConnectionGuard::Entry::~Entry() {
    // bev is still ours here (members go after the body): its input outlives the callback.
    if (inputWatch != nullptr)
        evbuffer_remove_cb_entry(bufferevent_get_input(bev.get()), inputWatch);
}

HttpConnectionGuard::HttpConnectionGuard(event_base* base, Limits limits)
    : limits_(limits), sweepTimer_(evtimer_new(base, &HttpConnectionGuard::onSweep, this)) {}

void HttpConnectionGuard::admit(bufferevent* bev) {
    if (bev == nullptr)
        return;
    dropFinished();
    bufferevent_incref(bev);
    entries_.push_back(std::make_unique<Entry>(this, bev, limits_.maxHeadBytes));
    // The bounds are enforced at the loop's next turn, once evhttp has given the bufferevent
    // its socket (the client's address comes from it) and before it reads from it.
    event_active(sweepTimer_.get(), EV_TIMEOUT, 1);
}

void HttpConnectionGuard::requestRead(bufferevent* bev) {
    const auto it = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const auto& entry) { return entry->bev.get() == bev; });
    if (it == entries_.end())
        return;
    Entry& entry = **it;
    entry.readingSince.reset();
    // What is left in the input is the next request's (pipelined): its head starts there.
    entry.head.reset();
    scan(entry, bufferevent_get_input(bev), 0);
}

void HttpConnectionGuard::onInput(evbuffer* buffer, const evbuffer_cb_info* info, void* arg) {
    if (info->n_added == 0)
        return;
    auto* entry = static_cast<Entry*>(arg);
    // Bytes are appended to a connection's input: the new ones are its last n_added.
    const size_t length = evbuffer_get_length(buffer);
    entry->guard->scan(*entry, buffer, length - std::min(length, info->n_added));
}

void HttpConnectionGuard::scan(Entry& entry, evbuffer* input, size_t from) {
    const size_t length = evbuffer_get_length(input);
    if (from >= length)
        return;
    if (entry.head.verdict() != HeadScanner::Verdict::More)
        return;  // told already, or the head is in: the rest is not a head's
    evbuffer_ptr position;
    if (evbuffer_ptr_set(input, &position, from, EVBUFFER_PTR_SET) != 0)
        return;
    HeadScanner::Verdict verdict = HeadScanner::Verdict::More;
    evbuffer_iovec chunks[8];
    size_t left = length - from;
    while (left > 0 && verdict == HeadScanner::Verdict::More) {
        const int count = evbuffer_peek(input, static_cast<ev_ssize_t>(left), &position, chunks, 8);
        if (count <= 0)
            break;
        size_t seen = 0;
        for (int i = 0; i < std::min(count, 8) && verdict == HeadScanner::Verdict::More; ++i) {
            const size_t take = std::min(chunks[i].iov_len, left - seen);
            verdict = entry.head.feed(static_cast<const char*>(chunks[i].iov_base), take);
            seen += take;
        }
        left -= seen;
        if (left > 0 && evbuffer_ptr_set(input, &position, seen, EVBUFFER_PTR_ADD) != 0)
            break;
    }
    if (verdict != HeadScanner::Verdict::TooLarge &&
        verdict != HeadScanner::Verdict::ConflictingLength)
        return;
    evhttp_connection* connection = connectionOf(entry.bev.get());
    if (connection == nullptr)
        return;
    DLOG(Debug) << "http: "
                << (verdict == HeadScanner::Verdict::TooLarge
                        ? "a request head over " + std::to_string(limits_.maxHeadBytes) + " bytes"
                        : std::string("a request with two different Content-Length values"))
                << "; answered 400";
    // evhttp's parser runs right after this callback, on these bytes: with a header bound of
    // 0 it fails the request (400, Connection: close; evhttp_parse_firstline_/headers_).
    evhttp_connection_set_max_headers_size(connection, 0);
}

std::optional<net::IpAddress> HttpConnectionGuard::clientOf(evutil_socket_t fd) const {
    for (const auto& entry : entries_) {
        if (bufferevent_getfd(entry->bev.get()) == fd)
            return entry->client;
    }
    return std::nullopt;
}

void HttpConnectionGuard::onSweep(evutil_socket_t, short, void* arg) {
    static_cast<HttpConnectionGuard*>(arg)->sweep();
}

void HttpConnectionGuard::shut(Entry& entry) {
    const evutil_socket_t fd = bufferevent_getfd(entry.bev.get());
    if (fd < 0)
        return;
    ::shutdown(fd, SHUT_RDWR);
    entry.shut = true;
}

void HttpConnectionGuard::sweep() {
    dropFinished();
    const auto now = std::chrono::steady_clock::now();
    for (auto& owned : entries_) {
        Entry& entry = *owned;
        if (entry.shut)
            continue;
        bufferevent* bev = entry.bev.get();
        if (!entry.client) {
            sockaddr_storage storage{};
            socklen_t length = sizeof storage;
            const evutil_socket_t fd = bufferevent_getfd(bev);
            if (fd >= 0 && ::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
                if (auto address = net::SocketAddress::fromSockaddr(
                        reinterpret_cast<sockaddr*>(&storage), length))
                    entry.client = address->ip().unmapped();
            }
        }
        // A request waiting for our answer is dynamo.timeout's to bound, an answer being
        // written evhttp's write timeout's.
        if (!readingRequest(bev))
            continue;
        if (!entry.readingSince)
            entry.readingSince = now;  // its previous answer is out: the next request's turn
        const bool tooOld = now - entry.admitted >= limits_.maxLifetime;
        const bool tooSlow = now - *entry.readingSince >= limits_.requestTimeout;
        if (!tooOld && !tooSlow)
            continue;
        shut(entry);
        if (entry.shut) {
            ++expired_;
            DLOG(Debug) << "http: a connection "
                        << (tooSlow
                                ? "slower than " + std::to_string(limits_.requestTimeout.count()) +
                                      " ms to send its request"
                                : "open for over " + std::to_string(limits_.maxLifetime.count()) +
                                      " ms")
                        << " closed";
        }
    }
    enforceBounds();
    armSweep();
}

void HttpConnectionGuard::enforceBounds() {
    std::vector<Entry*> live;
    for (auto& owned : entries_) {
        if (!owned->shut)
            live.push_back(owned.get());
    }
    // Those reading their request longest first; among them, a new connection last.
    const auto longestReading = [](const Entry* a, const Entry* b) {
        return *a->readingSince < *b->readingSince;
    };
    const auto closeLongestReading = [&](std::vector<Entry*> group, size_t excess) {
        std::erase_if(group, [](const Entry* entry) {
            return entry->shut || !entry->readingSince || !readingRequest(entry->bev.get());
        });
        std::stable_sort(group.begin(), group.end(), longestReading);
        for (size_t i = 0; i < group.size() && excess > 0; ++i) {
            shut(*group[i]);
            if (group[i]->shut) {
                ++refused_;
                --excess;
            }
        }
    };
    const auto now = std::chrono::steady_clock::now();

    if (limits_.maxConnectionsPerClient != 0) {
        std::map<std::string, std::vector<Entry*>> byClient;
        for (Entry* entry : live) {
            if (entry->client) {
                byClient[std::string(reinterpret_cast<const char*>(entry->client->bytes()),
                                     entry->client->size())]
                    .push_back(entry);
            }
        }
        for (auto& [key, group] : byClient) {
            if (group.size() <= limits_.maxConnectionsPerClient)
                continue;
            if (now - lastClientCapWarning_ >= std::chrono::minutes(1)) {
                lastClientCapWarning_ = now;
                DLOG(Warning) << "http: " << group.size() << " connections from "
                              << group.front()->client->toString()
                              << ", more than allowed from one address; closing the "
                                 "longest waiting for their request";
            }
            closeLongestReading(group, group.size() - limits_.maxConnectionsPerClient);
        }
        std::erase_if(live, [](const Entry* entry) { return entry->shut; });
    }

    if (live.size() > limits_.maxConnections) {
        if (now - lastCapWarning_ >= std::chrono::minutes(1)) {
            lastCapWarning_ = now;
            DLOG(Warning) << "http: " << live.size()
                          << " connections open, over the most allowed; closing the longest "
                             "waiting for their request";
        }
        closeLongestReading(live, live.size() - limits_.maxConnections);
    }
}

void HttpConnectionGuard::dropFinished() {
    std::erase_if(entries_, [](const auto& entry) { return finished(entry->bev.get()); });
}

void HttpConnectionGuard::armSweep() {
    if (entries_.empty() || evtimer_pending(sweepTimer_.get(), nullptr))
        return;
    const timeval interval = net::toTimeval(limits_.sweepInterval);
    evtimer_add(sweepTimer_.get(), &interval);
}

}  // namespace dynamo::gateway
