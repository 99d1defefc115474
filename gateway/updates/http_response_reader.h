#pragma once
// One HTTP/1.1 response (RFC 9112) read from bytes as they arrive: status, body or the reason it
// is not one. Pure: no I/O; the token-API client feeds it what the connection delivers.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dynamo::gateway {

// Bounded: at most kMaxHeaderBytes of status line and header fields (and as much again of
// chunked framing and trailers) and at most kMaxBodyBytes of body. Content-Length, chunked
// transfer coding and read-until-close bodies; interim 1xx responses are skipped.
class HttpResponseReader {
  public:
    static constexpr size_t kMaxHeaderBytes = 16 * 1024;
    static constexpr size_t kMaxBodyBytes = 4 * 1024;
    // One chunk-size line with its extensions (RFC 9112 §7.1.1), without CR LF.
    static constexpr size_t kMaxChunkSizeLine = 1024;

    enum class State { Incomplete, Complete, Error };

    HttpResponseReader() = default;
    // A larger or smaller body limit than kMaxBodyBytes, for a caller whose answers differ in size
    // (a UPnP device description is several kilobytes).
    explicit HttpResponseReader(size_t maxBodyBytes) : maxBodyBytes_(maxBodyBytes) {}

    State feed(std::string_view bytes);
    // The peer closed the connection: completes a read-until-close body, an error otherwise
    // (a response cut short).
    State finishAtEof();

    State state() const { return state_; }
    // From the status line on; 0 before.
    int status() const { return status_; }
    const std::string& body() const { return body_; }
    // With State::Error: what was wrong, for the log.
    const std::string& error() const { return error_; }
    // The body was longer than the limit (kMaxBodyBytes unless given): status() is meaningful,
    // body() is empty.
    bool bodyTooLarge() const { return bodyTooLarge_; }

  private:
    enum class Phase {
        Head,
        IdentityBody,
        UntilClose,
        ChunkSize,
        ChunkData,
        ChunkDataEnd,
        Trailers
    };

    State fail(std::string message);
    State complete();
    // Completes with bodyTooLarge() and an empty body().
    State tooLarge();
    // The shortest line the bytes in pending_ (no LF among them) can still become.
    size_t shortestPendingLine() const;
    bool parseHead(std::string_view head);
    bool appendBody(std::string_view bytes);
    // Takes one line (without CR LF) off the front of pending_; false when none is whole yet.
    bool takeLine(std::string* line);

    State state_ = State::Incomplete;
    Phase phase_ = Phase::Head;
    std::string pending_;  // bytes received and not parsed yet
    int status_ = 0;
    uint64_t remaining_ = 0;   // of a Content-Length body or of the current chunk
    size_t framingBytes_ = 0;  // chunk-size lines and trailers, bounded like the head
    std::string body_;
    std::string error_;
    bool bodyTooLarge_ = false;
    size_t maxBodyBytes_ = kMaxBodyBytes;
};

}  // namespace dynamo::gateway
