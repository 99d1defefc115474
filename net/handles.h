#pragma once
// Owners for every C handle the daemon holds: a unique_ptr with a stateless deleter, one line
// each, so no component writes its own cleanup path. Threading: one thread, one event_base.

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <memory>
#include <utility>

namespace dynamo::net {

template <auto Free>
struct Deleter {
    template <typename T>
    void operator()(T* handle) const noexcept {
        Free(handle);
    }
};

template <typename T, auto Free>
using Handle = std::unique_ptr<T, Deleter<Free>>;

using EventBasePtr = Handle<event_base, event_base_free>;
using EventPtr = Handle<event, event_free>;
using EvHttpPtr = Handle<evhttp, evhttp_free>;
using EvHttpConnectionPtr = Handle<evhttp_connection, evhttp_connection_free>;
using BufferEventPtr = Handle<bufferevent, bufferevent_free>;
// A reference taken with bufferevent_incref() on a bufferevent somebody else frees.
using BufferEventRef = Handle<bufferevent, bufferevent_decref>;
using ListenerPtr = Handle<evconnlistener, evconnlistener_free>;
using SslCtxPtr = Handle<SSL_CTX, SSL_CTX_free>;
using SslPtr = Handle<SSL, SSL_free>;
using X509Ptr = Handle<X509, X509_free>;
using EvpPkeyPtr = Handle<EVP_PKEY, EVP_PKEY_free>;

// A file descriptor with exactly one owner.
class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other)
            reset(std::exchange(other.fd_, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

}  // namespace dynamo::net
