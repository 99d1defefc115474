// /status.json: what /status shows, for scripts and home-automation dashboards. Keys are
// snake_case; a time is an RFC 3339 UTC string, or null when it never happened.

#include <cassert>
#include <optional>
#include <vector>

#include "gateway/status/status_report.h"

namespace dynamo::gateway {

namespace {

// Just enough of a JSON writer: it places commas, newlines and indentation, so the renderer
// only says what goes where. Pretty-printed (two spaces) because people read it with curl.
class JsonWriter {
  public:
    void beginObject() { open('{'); }
    void endObject() { close('}'); }
    void beginArray() { open('['); }
    void endArray() { close(']'); }

    // In an object: the next value's key.
    void key(std::string_view name) {
        separate();
        out_ += jsonString(name);
        out_ += ": ";
        afterKey_ = true;
    }
    void string(std::string_view text) { raw(jsonString(text)); }
    void number(uint64_t value) { raw(std::to_string(value)); }
    void number(int64_t value) { raw(std::to_string(value)); }
    void boolean(bool value) { raw(value ? "true" : "false"); }
    void null() { raw("null"); }
    void time(const std::optional<TimePoint>& when) {
        if (when)
            string(formatRfc3339(*when));
        else
            null();
    }
    // A number already in JSON syntax.
    void raw(std::string_view text) {
        separate();
        out_ += text;
    }

    std::string finish() {
        assert(depth_.empty());
        out_ += '\n';
        return std::move(out_);
    }

  private:
    // A value after a key stays on the key's line; anything else starts a line of its own,
    // after a comma unless it is the first in its container.
    void separate() {
        if (afterKey_) {
            afterKey_ = false;
            return;
        }
        if (depth_.empty())
            return;
        if (!depth_.back())
            out_ += ',';
        depth_.back() = false;
        newline(depth_.size());
    }
    void open(char bracket) {
        separate();
        out_ += bracket;
        depth_.push_back(true);
    }
    void close(char bracket) {
        assert(!depth_.empty());
        const bool empty = depth_.back();
        depth_.pop_back();
        if (!empty)
            newline(depth_.size());
        out_ += bracket;
    }
    void newline(size_t level) {
        out_ += '\n';
        out_.append(level * 2, ' ');
    }

    std::string out_;
    std::vector<bool> depth_;  // per open container: nothing written in it yet
    bool afterKey_ = false;
};

void member(JsonWriter& json, std::string_view key, uint64_t value) {
    json.key(key);
    json.number(value);
}

void writeAccount(JsonWriter& json, const UpdateScheduler::AccountStatus& account) {
    json.beginObject();
    json.key("username");
    json.string(account.username);
    json.key("masked_token");
    json.string(account.maskedToken);
    json.key("published_ip");
    if (account.confirmedIp)
        json.string(account.confirmedIp->toString());
    else
        json.null();
    json.key("changed_at");
    json.time(account.changedAt);
    json.key("last_call");
    json.time(account.lastCall);
    json.key("last_result");
    if (account.lastResult.empty())
        json.null();
    else
        json.string(account.lastResult);
    json.key("last_result_text");
    if (account.lastResult.empty())
        json.null();
    else
        json.string(account.lastResultText);
    json.key("queued");
    if (account.queued) {
        json.beginObject();
        // null: no address is sent, the service takes our public source address.
        json.key("ip");
        if (account.queued->ip)
            json.string(account.queued->ip->toString());
        else
            json.null();
        json.key("accepted_at");
        json.time(account.queued->acceptedAt);
        member(json, "attempts", account.queued->attempts);
        json.key("next_attempt");
        json.time(account.queued->nextAttempt);
        json.endObject();
    } else {
        json.null();
    }
    json.key("call_in_flight");
    json.boolean(account.callInFlight);
    member(json, "consecutive_missing", account.consecutiveMissing);
    json.key("missing_record");
    json.boolean(account.missingRecord);
    json.endObject();
}

void writeLatency(JsonWriter& json, const resolver::LatencyHistogram& latency) {
    json.beginObject();
    member(json, "count", latency.count());
    json.key("sum_seconds");
    json.raw(formatSeconds(latency.sum()));
    // Cumulative counts keyed by the same "le" strings as /metrics, in order, "+Inf" last.
    json.key("buckets");
    json.beginObject();
    for (size_t i = 0; i < resolver::LatencyHistogram::kBucketCount; ++i) {
        member(json,
               i < resolver::LatencyHistogram::kBounds.size()
                   ? formatSeconds(resolver::LatencyHistogram::kBounds[i])
                   : "+Inf",
               latency.cumulativeCount(i));
    }
    json.endObject();
    json.endObject();
}

void writeDns(JsonWriter& json, const DnsReport& dns) {
    const resolver::DnsStats& queries = dns.queries;
    json.beginObject();
    json.key("queries");
    json.beginObject();
    member(json, "udp", queries.udpQueries);
    member(json, "tcp", queries.tcpQueries);
    json.endObject();
    // The same outcome names as /metrics (dns_responses_total), plus the two that overlap them.
    json.key("responses");
    json.beginObject();
    member(json, "dropped", queries.dropped);
    member(json, "refused", queries.refused);
    member(json, "formerr", queries.formErr);
    member(json, "notimp", queries.notImp);
    member(json, "intercepted", queries.intercepted);
    member(json, "cache_hit", queries.cacheHits);
    member(json, "forwarded", queries.forwarded);
    json.endObject();
    member(json, "servfail", queries.servFail);
    member(json, "truncated", queries.truncated);
    json.key("cache");
    json.beginObject();
    member(json, "entries", dns.cacheEntries);
    member(json, "hits", dns.cacheHits);
    member(json, "misses", dns.cacheMisses);
    json.endObject();
    json.key("upstream");
    json.beginObject();
    member(json, "sent", dns.forwarder.sent);
    member(json, "coalesced", dns.forwarder.coalesced);
    member(json, "failed", dns.forwarder.failed);
    member(json, "overloaded", dns.forwarder.overloaded);
    member(json, "in_flight", dns.forwarderInFlight);
    json.key("latency");
    writeLatency(json, dns.upstreamLatency);
    json.endObject();
    member(json, "tcp_connections", dns.tcpConnections);
    json.endObject();
}

}  // namespace

std::string renderStatusJson(const StatusReport& report) {
    JsonWriter json;
    json.beginObject();
    json.key("version");
    json.string(report.version);
    json.key("now");
    json.time(report.now);
    json.key("started_at");
    json.time(report.startedAt);
    json.key("uptime_seconds");
    json.number(static_cast<int64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(report.now - report.startedAt).count()));

    json.key("accounts");
    json.beginArray();
    for (const auto& account : report.accounts)
        writeAccount(json, account);
    json.endArray();

    json.key("updates");
    json.beginObject();
    member(json, "requests", report.updates.requests);
    member(json, "good", report.updates.good);
    member(json, "nochg", report.updates.noChange);
    member(json, "queued", report.updates.queued);
    member(json, "911", report.updates.failed);
    member(json, "badauth", report.updates.badAuth);
    json.endObject();
    member(json, "update_queue_length", queueLength(report));

    json.key("http");
    json.beginObject();
    member(json, "connections", report.http.connections);
    member(json, "closed_over_cap", report.http.closedOverCap);
    member(json, "closed_lifetime", report.http.closedLifetime);
    json.endObject();

    json.key("dns");
    writeDns(json, report.dns);
    json.endObject();
    return json.finish();
}

}  // namespace dynamo::gateway
