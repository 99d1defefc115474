// /status.json: what /status shows, for scripts and home-automation dashboards. Keys are
// snake_case; a time is an RFC 3339 UTC string, or null when it never happened. The header, the
// accounts and the alert channels are written here; the counters come from the counter table
// (status_counters.cc) by their JSON paths.

#include <cassert>
#include <optional>
#include <utility>
#include <vector>

#include "gateway/status/status_counters.h"
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
        json.key("origin");
        json.string(std::string(toString(account.queued->origin)));
        member(json, "attempts", account.queued->attempts);
        json.key("next_attempt");
        json.time(account.queued->nextAttempt);
        json.endObject();
    } else {
        json.null();
    }
    json.key("self_update");
    json.boolean(account.selfUpdate);
    json.key("published_origin");  // device | self-update: who asked for published_ip
    if (account.confirmedIp)
        json.string(std::string(toString(account.confirmedOrigin)));
    else
        json.null();
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

void writeUpstream(JsonWriter& json, const UpstreamReport& upstream) {
    json.beginObject();
    json.key("address");
    json.string(upstream.address);
    json.key("up");
    json.boolean(upstream.up);
    json.key("since");
    json.time(upstream.since);
    member(json, "answers", upstream.answers);
    member(json, "failures", upstream.failures);
    member(json, "probes", upstream.probes);
    json.key("latency");
    writeLatency(json, upstream.latency);
    // The bucket bounds ("le") of the percentiles; null before the first answer.
    for (const auto& [key, percent] : {std::pair{"p50_le", 50}, {"p90_le", 90}, {"p99_le", 99}}) {
        json.key(key);
        if (const auto bound = percentileBound(upstream.latency, static_cast<uint64_t>(percent)))
            json.string(*bound);
        else
            json.null();
    }
    json.endObject();
}

// The counters' part of the document: the counter table's dotted JSON paths as nested objects,
// members in the table's order.
struct JsonNode {
    std::string_view key{};
    const CounterFamily* family = nullptr;  // set on a leaf, with sample
    const CounterSample* sample = nullptr;
    std::vector<JsonNode> members{};  // an object's
    bool upstreams = false;           // the dns.upstreams array, written by hand
};

JsonNode& memberNamed(JsonNode& object, std::string_view key) {
    for (JsonNode& node : object.members) {
        if (node.key == key)
            return node;
    }
    object.members.push_back({.key = key});
    return object.members.back();
}

JsonNode counterTree() {
    JsonNode root;
    for (const CounterFamily& family : counterFamilies()) {
        for (const CounterSample& sample : family.samples) {
            if (sample.jsonPath.empty())
                continue;
            JsonNode* object = &root;
            std::string_view path = sample.jsonPath;
            for (size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
                object = &memberNamed(*object, path.substr(0, dot));
                path.remove_prefix(dot + 1);
            }
            JsonNode& leaf = memberNamed(*object, path);
            leaf.family = &family;
            leaf.sample = &sample;
        }
    }
    // An array of objects, one per upstream: not numbers the counter table can list.
    memberNamed(root, "dns").members.push_back({.key = "upstreams", .upstreams = true});
    return root;
}

// alerts.channels: one object per configured channel, in the configuration's order.
void writeAlertChannels(JsonWriter& json, const std::vector<AlertChannelReport>& channels) {
    json.key("channels");
    json.beginArray();
    for (const AlertChannelReport& channel : channels) {
        json.beginObject();
        json.key("label");
        json.string(channel.label);
        member(json, "sent", channel.sent);
        member(json, "failed", channel.failed);
        member(json, "dropped", channel.dropped);
        json.key("last_result");
        if (channel.lastResult.empty())
            json.null();
        else
            json.string(channel.lastResult);
        json.key("last_time");
        json.time(channel.lastTime);
        json.endObject();
    }
    json.endArray();
}

void nullOr(JsonWriter& json, const std::string& text) {
    if (text.empty())
        json.null();
    else
        json.string(text);
}

// public_address: what the detection believes, and each source's last answer (its counters come
// from the table before this).
void writePublicAddress(JsonWriter& json, const PublicAddressState& state) {
    json.key("enabled");
    json.boolean(state.enabled);
    json.key("address");
    nullOr(json, state.believed ? state.believed->toString() : "");
    json.key("agreeing");
    json.beginArray();
    for (const std::string& source : state.agreeing)
        json.string(source);
    json.endArray();
    json.key("since");
    json.time(state.believedSince);
    json.key("disagreement");
    nullOr(json, state.disagreement);
    json.key("cgnat_reason");
    nullOr(json, state.cgnat);
    json.key("last_round");
    json.time(state.lastRound);
    json.key("sources");
    json.beginArray();
    for (const SourceState& source : state.sources) {
        json.beginObject();
        json.key("kind");
        json.string(source.kind);
        json.key("source");
        json.string(source.source);
        json.key("address");
        nullOr(json, source.address ? source.address->toString() : "");
        json.key("error");
        nullOr(json, source.error);
        json.key("time");
        json.time(source.at);
        json.endObject();
    }
    json.endArray();
}

void writeMembers(JsonWriter& json, const JsonNode& object, const StatusReport& report,
                  bool top = true) {
    for (const JsonNode& node : object.members) {
        json.key(node.key);
        if (node.upstreams) {
            json.beginArray();
            for (const UpstreamReport& upstream : report.dns.upstreams)
                writeUpstream(json, upstream);
            json.endArray();
        } else if (node.family == nullptr) {
            json.beginObject();
            writeMembers(json, node, report, false);
            // The per-channel part is not a counter of the table: it follows the totals.
            if (top && node.key == "alerts")
                writeAlertChannels(json, report.alerts.channels);
            if (top && node.key == "public_address")
                writePublicAddress(json, report.publicAddress);
            json.endObject();
        } else if (node.family->shape == Shape::kHistogram) {
            writeLatency(json, node.family->histogram(report));
        } else {
            json.number(node.sample->value(report));
        }
    }
}

void address(JsonWriter& json, std::string_view key, const std::optional<net::IpAddress>& ip) {
    json.key(key);
    if (ip)
        json.string(ip->toString());
    else
        json.null();
}

// history: per configured account, its address changes and the token API's answers, oldest
// first. An address of null: none was sent, the service published our public source address.
void writeHistory(JsonWriter& json, const std::vector<AccountHistoryReport>& accounts) {
    json.key("history");
    json.beginArray();
    for (const AccountHistoryReport& account : accounts) {
        json.beginObject();
        json.key("username");
        json.string(account.username);
        json.key("changes");
        json.beginArray();
        for (const AddressChange& change : account.history.changes) {
            json.beginObject();
            json.key("time");
            json.time(change.time);
            address(json, "address", change.address);
            address(json, "previous", change.previous);
            json.key("source");
            json.string(toString(change.origin));
            json.endObject();
        }
        json.endArray();
        json.key("answers");
        json.beginArray();
        for (const ServiceAnswer& answer : account.history.answers) {
            json.beginObject();
            json.key("time");
            json.time(answer.time);
            json.key("result");
            json.string(answer.result);
            address(json, "address", answer.address);
            json.key("source");
            json.string(toString(answer.origin));
            json.endObject();
        }
        json.endArray();
        json.endObject();
    }
    json.endArray();
}

// series: per-minute counts, each array oldest first from `start`, `step_seconds` apart, the
// last one the current minute. The arrays are written on one line each: 1440 numbers.
void writeSeries(JsonWriter& json, const SeriesView& series) {
    json.key("series");
    json.beginObject();
    json.key("start");
    if (series.minutes() == 0)
        json.null();
    else
        json.time(series.start);
    json.key("step_seconds");
    json.number(static_cast<int64_t>(series.step.count()));
    json.key("minutes");
    json.number(static_cast<uint64_t>(series.minutes()));
    std::string_view group;
    for (size_t i = 0; i < kSeriesKinds; ++i) {
        const SeriesInfo& info = seriesInfo(static_cast<SeriesKind>(i));
        if (info.jsonGroup != group) {
            if (!group.empty())
                json.endObject();
            group = info.jsonGroup;
            json.key(group);
            json.beginObject();
        }
        std::string values = "[";
        for (const uint64_t value : series.values[i]) {
            if (values.size() > 1)
                values += ',';
            values += std::to_string(value);
        }
        values += ']';
        json.key(info.jsonKey);
        json.raw(values);
    }
    if (!group.empty())
        json.endObject();
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

    // null for the updaters' answer while no client has sent an accepted update for the name.
    json.key("local_names");
    json.beginArray();
    for (const LocalNameReport& local : report.localNames) {
        json.beginObject();
        json.key("name");
        json.string(local.name);
        json.key("to_updaters");
        if (local.toUpdaters.empty())
            json.null();
        else
            json.string(local.toUpdaters);
        json.key("to_others");
        json.string(local.toOthers);
        json.endObject();
    }
    json.endArray();

    writeHistory(json, report.history);
    writeSeries(json, report.series);

    static const JsonNode counters = counterTree();
    writeMembers(json, counters, report);
    json.endObject();
    return json.finish();
}

}  // namespace dynamo::gateway
