#include "gateway/updates/http_response_reader.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "net/ascii.h"

namespace dynamo::gateway {
namespace {

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

HttpResponseReader::State HttpResponseReader::fail(std::string message) {
    state_ = State::Error;
    error_ = std::move(message);
    pending_.clear();
    return state_;
}

HttpResponseReader::State HttpResponseReader::complete() {
    state_ = State::Complete;
    pending_.clear();
    return state_;
}

HttpResponseReader::State HttpResponseReader::tooLarge() {
    // The body read so far depends on where TCP cut the bytes; what is kept must not.
    bodyTooLarge_ = true;
    body_.clear();
    return complete();
}

size_t HttpResponseReader::shortestPendingLine() const {
    // No LF in pending_ yet: its last byte may be the CR of the line's CR LF.
    return pending_.size() - (!pending_.empty() && pending_.back() == '\r' ? 1 : 0);
}

bool HttpResponseReader::takeLine(std::string* line) {
    const size_t end = pending_.find('\n');
    if (end == std::string::npos)
        return false;
    line->assign(pending_, 0, end);
    if (!line->empty() && line->back() == '\r')
        line->pop_back();
    pending_.erase(0, end + 1);
    return true;
}

bool HttpResponseReader::appendBody(std::string_view bytes) {
    if (body_.size() + bytes.size() > maxBodyBytes_)
        return false;
    body_.append(bytes);
    return true;
}

// RFC 9112 §4 (status line), §5 (field lines), §6.3 (how long the body is).
bool HttpResponseReader::parseHead(std::string_view head) {
    std::vector<std::string_view> lines;
    while (!head.empty()) {
        const size_t end = head.find('\n');
        std::string_view line = head.substr(0, end);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        lines.push_back(line);
        if (end == std::string_view::npos)
            break;
        head.remove_prefix(end + 1);
    }
    while (!lines.empty() && lines.back().empty())
        lines.pop_back();
    if (lines.empty()) {
        fail("empty response");
        return false;
    }
    // HTTP-version SP 3DIGIT [SP reason-phrase]
    const std::string_view statusLine = lines.front();
    if (statusLine.size() < 12 || statusLine.substr(0, 7) != "HTTP/1." || !isDigit(statusLine[7]) ||
        statusLine[8] != ' ' || !isDigit(statusLine[9]) || !isDigit(statusLine[10]) ||
        !isDigit(statusLine[11]) || (statusLine.size() > 12 && statusLine[12] != ' ')) {
        fail("not an HTTP/1.x status line");
        return false;
    }
    status_ = (statusLine[9] - '0') * 100 + (statusLine[10] - '0') * 10 + (statusLine[11] - '0');
    if (status_ < 100) {
        fail("bad status code");
        return false;
    }

    std::optional<uint64_t> contentLength;
    bool chunked = false;
    bool transferEncoding = false;
    for (size_t i = 1; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        // An empty line inside the head: "\n\r\n" is no end of it (the end is "\r\n\r\n" or
        // "\n\n"), so a line can be empty here.
        if (line.empty()) {
            fail("empty line in the header section");
            return false;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            fail("obsolete line folding");
            return false;
        }
        const size_t colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos ||
            line.substr(0, colon).find_first_of(" \t") != std::string_view::npos) {
            fail("malformed header field");
            return false;
        }
        const std::string name = net::lowerAscii(line.substr(0, colon));
        const std::string_view value = net::trimWhitespace(line.substr(colon + 1));
        if (name == "content-length") {
            if (value.empty() || value.size() > 18 ||
                !std::all_of(value.begin(), value.end(), isDigit)) {
                fail("bad Content-Length");
                return false;
            }
            uint64_t length = 0;
            for (const char c : value)
                length = length * 10 + static_cast<uint64_t>(c - '0');
            if (contentLength && *contentLength != length) {
                fail("conflicting Content-Length");
                return false;
            }
            contentLength = length;
        } else if (name == "transfer-encoding") {
            transferEncoding = true;
            // The last coding decides (§6.3 rule 4); only "chunked" gives the body an end.
            std::string_view last = value;
            const size_t comma = value.rfind(',');
            if (comma != std::string_view::npos)
                last = net::trimWhitespace(value.substr(comma + 1));
            chunked = net::lowerAscii(last) == "chunked";
        }
    }

    if ((status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304) {
        phase_ = Phase::Head;  // no body; the caller completes or skips the interim response
        return true;
    }
    if (transferEncoding) {
        // Transfer-Encoding overrides Content-Length (§6.3 rule 3).
        phase_ = chunked ? Phase::ChunkSize : Phase::UntilClose;
    } else if (contentLength) {
        if (*contentLength > maxBodyBytes_) {
            tooLarge();
            return false;
        }
        remaining_ = *contentLength;
        phase_ = Phase::IdentityBody;
    } else {
        phase_ = Phase::UntilClose;
    }
    return true;
}

HttpResponseReader::State HttpResponseReader::feed(std::string_view bytes) {
    if (state_ != State::Incomplete)
        return state_;
    pending_.append(bytes);
    std::string line;
    while (true) {
        switch (phase_) {
            case Phase::Head: {
                const size_t crlf = pending_.find("\r\n\r\n");
                const size_t lf = pending_.find("\n\n");
                size_t end = std::string::npos;
                if (crlf != std::string::npos)
                    end = crlf + 4;
                if (lf != std::string::npos)
                    end = std::min(end, lf + 2);
                if (end == std::string::npos) {
                    if (pending_.size() > kMaxHeaderBytes)
                        return fail("header section longer than 16 KiB");
                    return state_;
                }
                if (end > kMaxHeaderBytes)
                    return fail("header section longer than 16 KiB");
                const std::string head = pending_.substr(0, end);
                pending_.erase(0, end);
                if (!parseHead(head))
                    return state_;
                if (status_ >= 100 && status_ < 200) {
                    // RFC 9110 §15.2: an interim response; the real one follows. 101 would switch
                    // protocols, which we never asked for.
                    if (status_ == 101)
                        return fail("unexpected 101 Switching Protocols");
                    status_ = 0;
                    continue;
                }
                if (status_ == 204 || status_ == 304)
                    return complete();
                if (phase_ == Phase::IdentityBody && remaining_ == 0)
                    return complete();
                continue;
            }
            case Phase::IdentityBody: {
                const size_t n =
                    static_cast<size_t>(std::min<uint64_t>(remaining_, pending_.size()));
                if (!appendBody(std::string_view(pending_).substr(0, n)))
                    return tooLarge();
                pending_.erase(0, n);
                remaining_ -= n;
                return remaining_ == 0 ? complete() : state_;
            }
            case Phase::UntilClose:
                if (!appendBody(pending_))
                    return tooLarge();
                pending_.clear();
                return state_;
            case Phase::ChunkSize: {
                // The same limit whether the line is whole or still arriving: the answer must
                // not depend on where TCP cut the bytes.
                if (!takeLine(&line)) {
                    if (shortestPendingLine() > kMaxChunkSizeLine)
                        return fail("chunk-size line too long");
                    return state_;
                }
                if (line.size() > kMaxChunkSizeLine)
                    return fail("chunk-size line too long");
                framingBytes_ += line.size() + 2;
                if (framingBytes_ > kMaxHeaderBytes)
                    return fail("chunked framing longer than 16 KiB");
                // chunk-size [ chunk-ext ] (RFC 9112 §7.1): hex digits, extensions ignored.
                uint64_t size = 0;
                size_t digits = 0;
                for (; digits < line.size() && net::hexValue(line[digits]) >= 0; ++digits) {
                    if (digits >= 15)
                        return fail("chunk size too large");
                    size = size * 16 + static_cast<uint64_t>(net::hexValue(line[digits]));
                }
                const std::string_view rest =
                    net::trimWhitespace(std::string_view(line).substr(digits));
                if (digits == 0 || (!rest.empty() && rest.front() != ';'))
                    return fail("bad chunk size");
                if (size == 0) {
                    phase_ = Phase::Trailers;
                    continue;
                }
                if (body_.size() + size > maxBodyBytes_)
                    return tooLarge();
                remaining_ = size;
                phase_ = Phase::ChunkData;
                continue;
            }
            case Phase::ChunkData: {
                const size_t n =
                    static_cast<size_t>(std::min<uint64_t>(remaining_, pending_.size()));
                appendBody(std::string_view(pending_).substr(0, n));  // size checked at chunk-size
                pending_.erase(0, n);
                remaining_ -= n;
                if (remaining_ > 0)
                    return state_;
                phase_ = Phase::ChunkDataEnd;
                continue;
            }
            case Phase::ChunkDataEnd:
                if (!takeLine(&line)) {
                    if (pending_.size() > 2)
                        return fail("chunk data not followed by CRLF");
                    return state_;
                }
                if (!line.empty())
                    return fail("chunk data not followed by CRLF");
                phase_ = Phase::ChunkSize;
                continue;
            case Phase::Trailers:
                if (!takeLine(&line)) {
                    // Only a field line counts; a lone CR may be the start of the final CR LF.
                    const size_t shortest = shortestPendingLine();
                    if (shortest > 0 && framingBytes_ + shortest + 2 > kMaxHeaderBytes)
                        return fail("trailer section longer than 16 KiB");
                    return state_;
                }
                if (line.empty())
                    return complete();
                framingBytes_ += line.size() + 2;
                if (framingBytes_ > kMaxHeaderBytes)
                    return fail("trailer section longer than 16 KiB");
                continue;
        }
    }
}

HttpResponseReader::State HttpResponseReader::finishAtEof() {
    if (state_ != State::Incomplete)
        return state_;
    if (phase_ == Phase::UntilClose)
        return complete();
    if (phase_ == Phase::Head && status_ == 0 && pending_.empty())
        return fail("connection closed without an answer");
    return fail("connection closed in the middle of the answer");
}

}  // namespace dynamo::gateway
