#include "gateway/status/status_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

namespace dynamo::gateway {
namespace {

using namespace std::chrono;
using testing::HasSubstr;
using testing::Not;

// 2024-05-01 12:00:00 UTC = 1714564800.
const TimePoint kNow = sys_days{year{2024} / May / 1} + hours(12);
const TimePoint kStarted = kNow - hours(3) - minutes(5) - seconds(9);

net::IpAddress ip(std::string_view text) {
    return *net::IpAddress::parse(text);
}

UpdateScheduler::AccountStatus healthyAccount() {
    UpdateScheduler::AccountStatus account;
    account.username = "home";
    account.maskedToken = "abcd…";
    account.confirmedIp = ip("203.0.113.7");
    account.changedAt = kNow - minutes(3) - seconds(20);
    account.lastCall = kNow - minutes(3) - seconds(20);
    account.lastResult = "UP,OK";
    account.lastResultText = "the record was updated";
    account.selfUpdate = true;
    account.confirmedOrigin = UpdateOrigin::SelfUpdate;
    return account;
}

UpdateScheduler::AccountStatus troubledAccount() {
    UpdateScheduler::AccountStatus account;
    account.username = "cabin";
    account.maskedToken = "wxyz…";
    account.lastCall = kNow - seconds(40);
    account.lastResult = "ND";
    account.lastResultText = "no record for this token";
    QueuedUpdate queued;
    queued.ip = ip("198.51.100.20");
    queued.acceptedAt = kNow - minutes(10);
    queued.attempts = 2;
    queued.nextAttempt = kNow + minutes(4) + seconds(30);
    account.queued = queued;
    account.consecutiveMissing = 2;
    account.missingRecord = true;
    return account;
}

StatusReport sampleReport() {
    StatusReport report;
    report.version = "0.1.0";
    report.startedAt = kStarted;
    report.now = kNow;
    report.accounts = {healthyAccount(), troubledAccount()};
    resolver::DnsStats& queries = report.dns.queries;
    queries.udpQueries = 100;
    queries.tcpQueries = 7;
    queries.dropped = 1;
    queries.refused = 2;
    queries.formErr = 3;
    queries.notImp = 4;
    queries.intercepted = 5;
    queries.cacheHits = 60;
    queries.forwarded = 32;
    queries.servFail = 6;
    queries.truncated = 8;
    queries.notRecursive = 11;
    queries.staleAnswers = 13;
    queries.prefetches = 14;
    report.dns.cacheEntries = 40;
    report.dns.cacheHits = 60;
    report.dns.cacheMisses = 32;
    report.dns.forwarder = {
        .sent = 30, .coalesced = 2, .failed = 3, .overloaded = 1, .portShares = 12};
    report.dns.forwarderInFlight = 1;
    report.dns.tcpConnections = 2;
    report.dns.upstreamLatency.observe(microseconds(800));
    report.dns.upstreamLatency.observe(milliseconds(12));
    report.dns.upstreamLatency.observe(milliseconds(12));
    report.dns.upstreamLatency.observe(seconds(3));
    report.updates = {
        .requests = 20, .badAuth = 1, .good = 9, .noChange = 5, .queued = 3, .failed = 2};
    report.http = {.connections = 3, .closedOverCap = 4, .closedLifetime = 5};
    report.alerts.sent = 15;
    report.alerts.failed = 16;
    report.alerts.dropped = 17;
    report.alerts.rateLimited = 18;
    report.devices = {.devices = 6, .tlsHandshakeFailures = 2};
    // The first upstream went down two minutes ago; the second has been up since the start.
    UpstreamReport down{.address = "192.0.2.1:53",
                        .up = false,
                        .since = kNow - minutes(2),
                        .answers = 21,
                        .failures = 9,
                        .probes = 3,
                        .latency = {}};
    down.latency.observe(milliseconds(4));
    UpstreamReport up{.address = "[2001:db8::53]:53",
                      .up = true,
                      .since = kStarted,
                      .answers = 12,
                      .failures = 0,
                      .probes = 0,
                      .latency = {}};
    for (int i = 0; i < 8; ++i)
        up.latency.observe(milliseconds(3));  // 8 of 10 within 5 ms
    up.latency.observe(milliseconds(40));
    up.latency.observe(milliseconds(400));
    report.dns.upstreams = {down, up};
    return report;
}

size_t occurrences(std::string_view text, std::string_view needle) {
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + 1))
        ++count;
    return count;
}

// ---- building blocks ----

TEST(StatusFormat, ValidUtf8PassesThroughAndInvalidBytesBecomeReplacementCharacters) {
    EXPECT_EQ(toValidUtf8("plain ä € 😀"), "plain ä € 😀");
    const std::string fffd = "\xEF\xBF\xBD";
    EXPECT_EQ(toValidUtf8("a\xFF"
                          "b"),
              "a" + fffd + "b");
    EXPECT_EQ(toValidUtf8("\xC0\xAF"), fffd + fffd);                        // overlong "/"
    EXPECT_EQ(toValidUtf8("\xED\xA0\x80"), fffd + fffd + fffd);             // a UTF-16 surrogate
    EXPECT_EQ(toValidUtf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
    EXPECT_EQ(toValidUtf8("x\xE2\x82"), "x" + fffd + fffd);                 // truncated "€"
}

TEST(StatusFormat, HtmlEscapingCoversTextAndAttributes) {
    EXPECT_EQ(escapeHtml("<script>alert('x')</script> & \"q\""),
              "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
    EXPECT_EQ(escapeHtml("Müller"), "Müller");
}

TEST(StatusFormat, JsonStringsEscapeQuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(jsonString(""), "\"\"");
    EXPECT_EQ(jsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(jsonString("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
    EXPECT_EQ(jsonString(std::string("\x00\x01\x1f", 3)), "\"\\u0000\\u0001\\u001f\"");
    EXPECT_EQ(jsonString("\x7f/</"), "\"\x7f/</\"");  // DEL and slashes need no escape
    EXPECT_EQ(jsonString("Grüße €"), "\"Grüße €\"");  // UTF-8 passes through
    EXPECT_EQ(jsonString("\xFF"), "\"\xEF\xBF\xBD\"");
}

TEST(StatusFormat, PrometheusLabelValuesEscapeBackslashQuoteAndNewline) {
    EXPECT_EQ(escapeLabelValue("a\\b\"c\nd\te"), "a\\\\b\\\"c\\nd\te");
}

TEST(StatusFormat, Rfc3339InUtcWholeSeconds) {
    EXPECT_EQ(formatRfc3339(kNow), "2024-05-01T12:00:00Z");
    EXPECT_EQ(formatRfc3339(TimePoint{}), "1970-01-01T00:00:00Z");
    EXPECT_EQ(formatRfc3339(sys_days{year{2024} / February / 29} + hours(23) + minutes(59) +
                            seconds(59) + milliseconds(999)),
              "2024-02-29T23:59:59Z");
}

TEST(StatusFormat, SecondsWithoutTrailingZeros) {
    EXPECT_EQ(formatSeconds(microseconds(0)), "0");
    EXPECT_EQ(formatSeconds(milliseconds(1)), "0.001");
    EXPECT_EQ(formatSeconds(microseconds(1500)), "0.0015");
    EXPECT_EQ(formatSeconds(milliseconds(2500)), "2.5");
    EXPECT_EQ(formatSeconds(seconds(5)), "5");
    EXPECT_EQ(formatSeconds(microseconds(3024800)), "3.0248");
    EXPECT_EQ(formatSeconds(microseconds(1)), "0.000001");
}

TEST(StatusFormat, DurationsShowTheTwoLargestUnits) {
    EXPECT_EQ(describeDuration(seconds(0)), "0 seconds");
    EXPECT_EQ(describeDuration(seconds(1)), "1 second");
    EXPECT_EQ(describeDuration(seconds(42)), "42 seconds");
    EXPECT_EQ(describeDuration(minutes(5)), "5 minutes");
    EXPECT_EQ(describeDuration(minutes(1) + seconds(1)), "1 minute 1 second");
    EXPECT_EQ(describeDuration(hours(3) + minutes(5) + seconds(9)), "3 hours 5 minutes");
    EXPECT_EQ(describeDuration(days(2) + hours(4) + minutes(59)), "2 days 4 hours");
    EXPECT_EQ(describeDuration(seconds(-5)), "0 seconds");  // a clock that stepped back
}

TEST(StatusFormat, RelativeTimesRoundDownToTheLargestUnit) {
    EXPECT_EQ(describeRelative(kNow, kNow), "just now");
    EXPECT_EQ(describeRelative(kNow - seconds(1), kNow), "1 second ago");
    EXPECT_EQ(describeRelative(kNow - minutes(3) - seconds(59), kNow), "3 minutes ago");
    EXPECT_EQ(describeRelative(kNow - minutes(61), kNow), "1 hour ago");
    EXPECT_EQ(describeRelative(kNow - days(2) - hours(5), kNow), "2 days ago");
    EXPECT_EQ(describeRelative(kNow + minutes(4) + seconds(30), kNow), "in 4 minutes");
    EXPECT_EQ(describeRelative(kNow + seconds(20), kNow), "in 20 seconds");
    EXPECT_EQ(describeRelative(kNow + hours(1), kNow), "in 1 hour");
}

TEST(StatusFormat, QueueLengthCountsAccountsWithAQueuedUpdate) {
    EXPECT_EQ(queueLength(sampleReport()), 1u);
    EXPECT_EQ(queueLength(StatusReport{}), 0u);
}

// ---- HTML ----

TEST(StatusHtml, IsASelfContainedPhonePage) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_THAT(html, testing::StartsWith("<!DOCTYPE html>\n"));
    EXPECT_THAT(html, HasSubstr("<meta name=\"viewport\" content=\"width=device-width, "
                                "initial-scale=1\">"));
    EXPECT_THAT(html, HasSubstr("<meta charset=\"utf-8\">"));
    EXPECT_THAT(html, HasSubstr("<meta http-equiv=\"refresh\" content=\"30\">"));
    EXPECT_THAT(html, HasSubstr("prefers-color-scheme:dark"));
    // Nothing to load from elsewhere, nothing to run.
    EXPECT_THAT(html, Not(HasSubstr("<script")));
    EXPECT_THAT(html, Not(HasSubstr("src=")));
    EXPECT_THAT(html, Not(HasSubstr("href=")));
    EXPECT_THAT(html, Not(HasSubstr("url(")));
    EXPECT_THAT(html, testing::EndsWith("</html>\n"));
}

TEST(StatusHtml, HeaderShowsVersionAndUptimeFromTheInjectedTimes) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_THAT(html, HasSubstr("Version <span class=\"version\">0.1.0</span>"));
    EXPECT_THAT(html, HasSubstr("up <span class=\"uptime\">3 hours 5 minutes</span> "
                                "<small>(since 2024-05-01 08:54:51 UTC)</small>"));
}

TEST(StatusHtml, AccountCardShowsAddressChangeAndResult) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_THAT(html, HasSubstr("<section class=\"account\" id=\"account-home\">"));
    EXPECT_THAT(html, HasSubstr("<code class=\"token\">abcd…</code>"));
    EXPECT_THAT(html, HasSubstr("<dd><span class=\"published-ip\">203.0.113.7</span> <small "
                                "class=\"origin\">(from self-update)</small></dd>"));
    EXPECT_THAT(html, HasSubstr("<dt>Self-update</dt><dd class=\"self-update on\">on</dd>"));
    EXPECT_THAT(html, HasSubstr("<dd class=\"changed-at\"><time datetime=\"2024-05-01T11:56:40Z\">"
                                "3 minutes ago</time> <small>(2024-05-01 11:56:40 UTC)</small>"));
    EXPECT_THAT(html, HasSubstr("<dd class=\"last-result result-ok\"><code>UP,OK</code>: the "
                                "record was updated</dd>"));
    EXPECT_THAT(html, HasSubstr("<dd class=\"queued none\">nothing</dd>"));
}

TEST(StatusHtml, QueuedUpdateSaysWhatAndWhen) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_THAT(html, HasSubstr("<section class=\"account\" id=\"account-cabin\">"));
    EXPECT_THAT(html, HasSubstr("<dd class=\"none\">none confirmed yet</dd>"));
    EXPECT_THAT(html, HasSubstr("<dd class=\"last-result result-error\"><code>ND</code>"));
    EXPECT_THAT(html, HasSubstr("<span class=\"queued-ip\">198.51.100.20</span>, accepted <time "
                                "datetime=\"2024-05-01T11:50:00Z\">10 minutes ago</time>"));
    EXPECT_THAT(html, HasSubstr("to be sent <span class=\"next-attempt\"><time "
                                "datetime=\"2024-05-01T12:04:30Z\">in 4 minutes</time> "
                                "<small>(2024-05-01 12:04:30 UTC)</small></span>"));
    EXPECT_THAT(html, HasSubstr("(2024-05-01 11:50:00 UTC)</small> from device; "));
    EXPECT_THAT(html, HasSubstr("<dd class=\"self-update none\">off (devices only)</dd>"));
    EXPECT_THAT(html, HasSubstr("2 attempts failed so far"));
}

TEST(StatusHtml, QueuedUpdateDueOrBeingSent) {
    StatusReport report = sampleReport();
    auto& account = report.accounts[1];
    account.queued->nextAttempt = kNow - seconds(1);
    account.queued->ip.reset();
    EXPECT_THAT(renderStatusHtml(report),
                HasSubstr("<span class=\"queued-ip\">this network's public address</span>"
                          ", accepted"));
    EXPECT_THAT(renderStatusHtml(report), HasSubstr("; due now"));
    account.callInFlight = true;
    EXPECT_THAT(renderStatusHtml(report), HasSubstr("; being sent now"));
    EXPECT_THAT(renderStatusHtml(report), HasSubstr("<small>(a call is in progress)</small>"));
}

TEST(StatusHtml, MissingRecordWarningOnlyWhereSet) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_EQ(occurrences(html, "class=\"warning missing-record\""), 1u);
    EXPECT_THAT(html, HasSubstr("<p class=\"warning missing-record\" role=\"alert\">The service "
                                "does not know this token's record (NR/ND twice in a row): check "
                                "the token, or contact KisoLabs support.</p>\n</section>"));
    // It is inside the troubled account's card, not the healthy one's.
    const size_t cabin = html.find("id=\"account-cabin\"");
    EXPECT_GT(html.find("missing-record"), cabin);

    StatusReport healthy = sampleReport();
    healthy.accounts[1].missingRecord = false;
    EXPECT_THAT(renderStatusHtml(healthy), Not(HasSubstr("missing-record")));
}

TEST(StatusHtml, EveryDynamicStringIsEscaped) {
    StatusReport report = sampleReport();
    report.version = "<b>1</b>";
    auto& account = report.accounts[0];
    account.username = "<script>alert(\"pwned\")</script>";
    account.maskedToken = "<img…";
    account.lastResult = "<x>";
    account.lastResultText = "a & b";
    const std::string html = renderStatusHtml(report);
    EXPECT_THAT(html, Not(HasSubstr("<script")));
    EXPECT_THAT(html, Not(HasSubstr("<img")));
    EXPECT_THAT(html, Not(HasSubstr("<x>")));
    EXPECT_THAT(html, Not(HasSubstr("<b>")));
    EXPECT_THAT(html, HasSubstr("<section class=\"account\" id=\"account-&lt;script&gt;alert("
                                "&quot;pwned&quot;)&lt;/script&gt;\">"));
    EXPECT_THAT(html, HasSubstr("<h3 class=\"username\">&lt;script&gt;alert(&quot;pwned&quot;)"
                                "&lt;/script&gt;</h3>"));
    EXPECT_THAT(html, HasSubstr("<code>&lt;x&gt;</code>: a &amp; b"));
}

TEST(StatusHtml, NoAccountsSaysSo) {
    StatusReport report = sampleReport();
    report.accounts.clear();
    EXPECT_THAT(renderStatusHtml(report), HasSubstr("No accounts are configured."));
}

// README "Your own names inside the network": the page says what each kind of client is told.
StatusReport reportWithLocalNames() {
    StatusReport report = sampleReport();
    report.localNames = {{"home.example.com", "203.0.113.7", "192.168.1.2, fd00::2"},
                         {"nas.example.com", "", "192.168.1.5"},
                         {"cabin.example.com", "", "forwarded (no address yet)"}};
    return report;
}

TEST(StatusHtml, LocalNamesTableShowsBothAnswers) {
    const std::string html = renderStatusHtml(reportWithLocalNames());
    EXPECT_THAT(html, HasSubstr("<h2>Local names</h2>"));
    EXPECT_THAT(html, HasSubstr("<tr><th scope=\"row\"><code>home.example.com</code></th>"
                                "<td class=\"to-updaters\">203.0.113.7</td>"
                                "<td class=\"to-others\">192.168.1.2, fd00::2</td></tr>"));
    EXPECT_THAT(html, HasSubstr("<tr><th scope=\"row\"><code>nas.example.com</code></th>"
                                "<td class=\"none\">no update yet</td>"
                                "<td class=\"to-others\">192.168.1.5</td></tr>"));
    EXPECT_THAT(html, HasSubstr("<td class=\"to-others\">forwarded (no address yet)</td>"));
    // The section comes after the accounts and before the counters.
    EXPECT_LT(html.find("<h2>Accounts</h2>"), html.find("<h2>Local names</h2>"));
    EXPECT_LT(html.find("<h2>Local names</h2>"), html.find("<h2>Updates</h2>"));
}

TEST(StatusHtml, NoLocalNamesNoSection) {
    EXPECT_THAT(renderStatusHtml(sampleReport()), Not(HasSubstr("<h2>Local names</h2>")));
}

TEST(StatusHtml, LocalNamesAreEscaped) {
    StatusReport report = sampleReport();
    report.localNames = {{"<b>x</b>", "a&b", "\"q\""}};
    const std::string html = renderStatusHtml(report);
    EXPECT_THAT(html, HasSubstr("<code>&lt;b&gt;x&lt;/b&gt;</code>"));
    EXPECT_THAT(html, HasSubstr(">a&amp;b</td>"));
    EXPECT_THAT(html, HasSubstr(">&quot;q&quot;</td>"));
}

StatusReport reportWithAlertChannels() {
    StatusReport report = sampleReport();
    report.alerts.channels = {
        {.label = "webhook https://hooks.example/…",
         .sent = 3,
         .failed = 1,
         .dropped = 2,
         .lastResult = "delivered (HTTP 200)",
         .lastTime = kNow - minutes(4)},
        {.label = "exec /usr/local/bin/<on-event>",
         .sent = 0,
         .failed = 0,
         .dropped = 0,
         .lastResult = "",
         .lastTime = std::nullopt},
    };
    return report;
}

TEST(StatusHtml, AlertChannelsHaveARowEach) {
    const std::string html = renderStatusHtml(reportWithAlertChannels());
    EXPECT_THAT(html, HasSubstr("<h2>Alerts</h2>\n<table class=\"alert-channels\""));
    EXPECT_THAT(html, HasSubstr("<tr><th scope=\"row\"><code>webhook https://hooks.example/…"
                                "</code></th><td>3</td><td>1</td><td>2</td><td>delivered (HTTP "
                                "200)</td><td><time datetime=\"2024-05-01T11:56:00Z\">4 minutes "
                                "ago</time></td></tr>"));
    // Never attempted: says so; the label is escaped like every outside string.
    EXPECT_THAT(html, HasSubstr("<code>exec /usr/local/bin/&lt;on-event&gt;</code></th><td>0</td>"
                                "<td>0</td><td>0</td><td><span class=\"none\">none yet</span>"
                                "</td><td><span class=\"none\">never</span></td></tr>"));
    EXPECT_EQ(occurrences(html, "<tr><th scope=\"row\"><code>"), 2u);
}

TEST(StatusHtml, NoAlertChannelsSaysSo) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_THAT(html, HasSubstr("<h2>Alerts</h2>\n<p class=\"none\">No alert channels are "
                                "configured.</p>"));
    EXPECT_THAT(html, Not(HasSubstr("alert-channels")));
}

TEST(StatusHtml, CounterTablesShowTheNumbers) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_THAT(html, HasSubstr("<table class=\"counters\" id=\"dns-counters\">"));
    EXPECT_THAT(html, HasSubstr("<tr><th scope=\"row\">Queries over UDP</th><td>100</td></tr>"));
    EXPECT_THAT(html, HasSubstr("<tr><th scope=\"row\">Answered from the cache</th><td>60</td>"));
    EXPECT_THAT(html, HasSubstr("<tr><th scope=\"row\">Open TCP connections</th><td>2</td>"));
    // (0.8 + 12 + 12 + 3000) / 4 ms, to a tenth.
    EXPECT_THAT(html, HasSubstr("Upstream latency, mean</th><td>756.2 ms</td>"));
    EXPECT_THAT(html, HasSubstr("Upstream latency, median</th><td>≤ 25 ms</td>"));
    EXPECT_THAT(html, HasSubstr("Upstream latency, 90%</th><td>≤ 5 s</td>"));
    EXPECT_THAT(html, HasSubstr("<table class=\"counters\" id=\"update-counters\">"));
    EXPECT_THAT(html, HasSubstr("Failed, will retry (<code>911</code>)</th><td>2</td>"));
    EXPECT_THAT(html, HasSubstr("Updates waiting now</th><td>1</td>"));
    EXPECT_THAT(html, HasSubstr("Open HTTP connections</th><td>3</td>"));
    EXPECT_THAT(html, HasSubstr("closed: too many at once</th><td>4</td>"));
    EXPECT_THAT(html, HasSubstr("closed: open too long</th><td>5</td>"));
}

TEST(StatusHtml, EachUpstreamHasATableWithStateCountsAndPercentiles) {
    const std::string html = renderStatusHtml(sampleReport());
    EXPECT_THAT(html, HasSubstr("<h3>Upstreams</h3>"));
    EXPECT_THAT(html, HasSubstr("<table class=\"upstream\" id=\"upstream-0\">\n<caption><code "
                                "class=\"upstream-address\">192.0.2.1:53</code></caption>"));
    EXPECT_THAT(html, HasSubstr("<th scope=\"row\">State</th><td><span class=\"upstream-state "
                                "result-error\">down</span> since <time "
                                "datetime=\"2024-05-01T11:58:00Z\">2 minutes ago</time>"));
    EXPECT_THAT(html, HasSubstr("<th scope=\"row\">Timeouts and failures</th><td>9</td>"));
    EXPECT_THAT(html, HasSubstr("<th scope=\"row\">Health checks while down</th><td>3</td>"));
    EXPECT_THAT(html, HasSubstr("[2001:db8::53]:53</code>"));
    EXPECT_THAT(html, HasSubstr("result-ok\">up</span> since <time "
                                "datetime=\"2024-05-01T08:54:51Z\">3 hours ago</time>"));
    EXPECT_THAT(html, HasSubstr("<th scope=\"row\">Answers</th><td>12</td>"));
    EXPECT_THAT(html, HasSubstr("Latency, median</th><td>≤ 5 ms</td>"));
    EXPECT_THAT(html, HasSubstr("Latency, 90%</th><td>≤ 50 ms</td>"));
    EXPECT_THAT(html, HasSubstr("Latency, 99%</th><td>≤ 500 ms</td>"));
    // An upstream that was never down shows no health-check row.
    EXPECT_EQ(occurrences(html, "Health checks while down"), 1u);
    // Hostile text cannot get out of the caption.
    StatusReport report = sampleReport();
    report.dns.upstreams[0].address = "<b>";
    EXPECT_THAT(renderStatusHtml(report), HasSubstr("upstream-address\">&lt;b&gt;</code>"));
}

TEST(StatusHtml, NoUpstreamsNoUpstreamSection) {
    StatusReport report = sampleReport();
    report.dns.upstreams.clear();
    EXPECT_THAT(renderStatusHtml(report), Not(HasSubstr("Upstreams")));
}

TEST(StatusFormat, PercentileBoundIsTheBucketThatHoldsIt) {
    resolver::LatencyHistogram histogram;
    EXPECT_EQ(percentileBound(histogram, 50), std::nullopt);
    histogram.observe(milliseconds(3));
    EXPECT_EQ(percentileBound(histogram, 50), "0.005");
    EXPECT_EQ(percentileBound(histogram, 99), "0.005");
    for (int i = 0; i < 99; ++i)
        histogram.observe(milliseconds(20));
    EXPECT_EQ(percentileBound(histogram, 1), "0.005");
    EXPECT_EQ(percentileBound(histogram, 2), "0.025");
    histogram.observe(seconds(9));
    EXPECT_EQ(percentileBound(histogram, 100), "+Inf");
}

// ---- JSON ----

// A strict RFC 8259 recogniser: enough to prove the output parses, without a JSON library.
class JsonChecker {
  public:
    explicit JsonChecker(std::string_view text) : text_(text) {}
    bool valid() {
        skipSpace();
        if (!value())
            return false;
        skipSpace();
        return at_ == text_.size();
    }

  private:
    bool value() {
        skipSpace();
        if (at_ >= text_.size())
            return false;
        switch (text_[at_]) {
            case '{':
                return object();
            case '[':
                return array();
            case '"':
                return string();
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return number();
        }
    }
    bool object() {
        ++at_;
        skipSpace();
        if (peek('}'))
            return ++at_, true;
        for (;;) {
            skipSpace();
            if (!peek('"') || !string())
                return false;
            skipSpace();
            if (!peek(':'))
                return false;
            ++at_;
            if (!value())
                return false;
            skipSpace();
            if (peek('}'))
                return ++at_, true;
            if (!peek(','))
                return false;
            ++at_;
        }
    }
    bool array() {
        ++at_;
        skipSpace();
        if (peek(']'))
            return ++at_, true;
        for (;;) {
            if (!value())
                return false;
            skipSpace();
            if (peek(']'))
                return ++at_, true;
            if (!peek(','))
                return false;
            ++at_;
        }
    }
    bool string() {
        ++at_;
        while (at_ < text_.size()) {
            const auto c = static_cast<unsigned char>(text_[at_++]);
            if (c == '"')
                return true;
            if (c < 0x20)
                return false;
            if (c == '\\') {
                if (at_ >= text_.size())
                    return false;
                const char escape = text_[at_++];
                if (escape == 'u') {
                    for (int i = 0; i < 4; ++i) {
                        if (at_ >= text_.size() ||
                            !std::isxdigit(static_cast<unsigned char>(text_[at_++])))
                            return false;
                    }
                } else if (std::string_view("\"\\/bfnrt").find(escape) == std::string_view::npos) {
                    return false;
                }
            }
        }
        return false;
    }
    bool number() {
        const size_t start = at_;
        if (peek('-'))
            ++at_;
        if (peek('0')) {
            ++at_;
        } else if (!digits()) {
            return false;
        }
        if (peek('.')) {
            ++at_;
            if (!digits())
                return false;
        }
        if (peek('e') || peek('E')) {
            ++at_;
            if (peek('+') || peek('-'))
                ++at_;
            if (!digits())
                return false;
        }
        return at_ > start;
    }
    bool digits() {
        const size_t start = at_;
        while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_])))
            ++at_;
        return at_ > start;
    }
    bool literal(std::string_view word) {
        if (text_.substr(at_, word.size()) != word)
            return false;
        at_ += word.size();
        return true;
    }
    bool peek(char c) const { return at_ < text_.size() && text_[at_] == c; }
    void skipSpace() {
        while (at_ < text_.size() &&
               std::string_view(" \t\r\n").find(text_[at_]) != std::string_view::npos)
            ++at_;
    }

    std::string_view text_;
    size_t at_ = 0;
};

bool validJson(std::string_view text) {
    return JsonChecker(text).valid();
}

TEST(StatusJson, TheCheckerRejectsBrokenJson) {
    EXPECT_TRUE(validJson(R"({"a": [1, -2.5e3, true, null, "x\u00e9\n"], "b": {}})"));
    EXPECT_FALSE(validJson(R"({"a": 1,})"));
    EXPECT_FALSE(validJson(R"({"a" 1})"));
    EXPECT_FALSE(validJson("\"tab\there\""));
    EXPECT_FALSE(validJson(R"(["\x"])"));
    EXPECT_FALSE(validJson("01"));
    EXPECT_FALSE(validJson("{} {}"));
}

TEST(StatusJson, TheSampleReportIsValidJsonWithTheExpectedFields) {
    const std::string json = renderStatusJson(sampleReport());
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr("\"version\": \"0.1.0\""));
    EXPECT_THAT(json, HasSubstr("\"now\": \"2024-05-01T12:00:00Z\""));
    EXPECT_THAT(json, HasSubstr("\"started_at\": \"2024-05-01T08:54:51Z\""));
    EXPECT_THAT(json, HasSubstr("\"uptime_seconds\": 11109"));
    EXPECT_THAT(json, HasSubstr("\"update_queue_length\": 1"));
    EXPECT_THAT(json, HasSubstr("\"911\": 2"));
    EXPECT_THAT(json, HasSubstr(R"("http": {
    "connections": 3,
    "closed_over_cap": 4,
    "closed_lifetime": 5
  })"));
    EXPECT_THAT(json, HasSubstr("\"sum_seconds\": 3.0248"));
    EXPECT_THAT(json, HasSubstr(R"("buckets": {
          "0.001": 1,
          "0.002": 1,
          "0.005": 1,
          "0.01": 1,
          "0.025": 3,
          "0.05": 3,
          "0.1": 3,
          "0.25": 3,
          "0.5": 3,
          "1": 3,
          "2.5": 3,
          "5": 4,
          "+Inf": 4
        })"));
}

TEST(StatusJson, UpstreamsAreAnArrayInDns) {
    const std::string json = renderStatusJson(sampleReport());
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr(R"("upstreams": [
      {
        "address": "192.0.2.1:53",
        "up": false,
        "since": "2024-05-01T11:58:00Z",
        "answers": 21,
        "failures": 9,
        "probes": 3,
        "latency": {
          "count": 1,
          "sum_seconds": 0.004,)"));
    EXPECT_THAT(json, HasSubstr(R"("p50_le": "0.005",
        "p90_le": "0.005",
        "p99_le": "0.005"
      },
      {
        "address": "[2001:db8::53]:53",
        "up": true,
        "since": "2024-05-01T08:54:51Z",
        "answers": 12,
        "failures": 0,
        "probes": 0,)"));
    EXPECT_THAT(json, HasSubstr(R"("p50_le": "0.005",
        "p90_le": "0.05",
        "p99_le": "0.5"
      }
    ])"));
    StatusReport report = sampleReport();
    report.dns.upstreams.resize(1);
    report.dns.upstreams[0].latency = {};
    report.dns.upstreams[0].address = "\"\n";
    const std::string quiet = renderStatusJson(report);
    EXPECT_TRUE(validJson(quiet)) << quiet;
    EXPECT_THAT(quiet, HasSubstr("\"p99_le\": null"));
}

TEST(StatusMetrics, UpstreamFamiliesCarryTheUpstreamLabel) {
    const std::string text = renderMetrics(sampleReport());
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_dns_upstream_up{upstream=\"192.0.2.1:53\"} 0\n"));
    EXPECT_THAT(text,
                HasSubstr("dynamo_gateway_dns_upstream_up{upstream=\"[2001:db8::53]:53\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_dns_upstream_state_since_timestamp_seconds{"
                                "upstream=\"192.0.2.1:53\"} 1714564680\n"));
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_dns_upstream_answers_by_upstream_total{upstream="
                                "\"192.0.2.1:53\"} 21\n"));
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_dns_upstream_failures_by_upstream_total{upstream="
                                "\"192.0.2.1:53\"} 9\n"));
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_dns_upstream_probes_total{upstream="
                                "\"192.0.2.1:53\"} 3\n"));
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{"
                                "upstream=\"[2001:db8::53]:53\",le=\"0.005\"} 8\n"));
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_dns_upstream_latency_by_upstream_seconds_count{"
                                "upstream=\"[2001:db8::53]:53\"} 10\n"));
    // The totals keep their unlabelled names.
    EXPECT_THAT(text, HasSubstr("\ndynamo_gateway_dns_upstream_failures_total 3\n"));
}

TEST(StatusJson, AccountsInFull) {
    StatusReport report = sampleReport();
    report.accounts.erase(report.accounts.begin());
    const std::string json = renderStatusJson(report);
    EXPECT_THAT(json, HasSubstr(R"(  "accounts": [
    {
      "username": "cabin",
      "masked_token": "wxyz…",
      "published_ip": null,
      "changed_at": null,
      "last_call": "2024-05-01T11:59:20Z",
      "last_result": "ND",
      "last_result_text": "no record for this token",
      "queued": {
        "ip": "198.51.100.20",
        "accepted_at": "2024-05-01T11:50:00Z",
        "origin": "device",
        "attempts": 2,
        "next_attempt": "2024-05-01T12:04:30Z"
      },
      "self_update": false,
      "published_origin": null,
      "call_in_flight": false,
      "consecutive_missing": 2,
      "missing_record": true
    }
  ],
)"));
}

TEST(StatusJson, AnAccountBeforeItsFirstCallHasNulls) {
    StatusReport report;
    report.version = "0.1.0";
    report.now = report.startedAt = kNow;
    UpdateScheduler::AccountStatus fresh;
    fresh.username = "new";
    report.accounts = {fresh};
    const std::string json = renderStatusJson(report);
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr(R"("last_result": null,
      "last_result_text": null,
      "queued": null,)"));
    EXPECT_THAT(json, HasSubstr("\"sum_seconds\": 0,"));
}

TEST(StatusJson, HostileStringsAreEscapedAndStayValid) {
    StatusReport report = sampleReport();
    report.accounts[0].username = std::string("q\"uote\\back\nline\x01\x1f\xFF ünï ") + "</script>";
    report.accounts[0].lastResultText = "\t";
    const std::string json = renderStatusJson(report);
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr("\"username\": \"q\\\"uote\\\\back\\nline\\u0001\\u001f"
                                "\xEF\xBF\xBD ünï </script>\""));
    EXPECT_THAT(json, HasSubstr("\"last_result_text\": \"\\t\""));
}

TEST(StatusJson, LocalNamesWithBothAnswers) {
    const std::string json = renderStatusJson(reportWithLocalNames());
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr(R"json(  "local_names": [
    {
      "name": "home.example.com",
      "to_updaters": "203.0.113.7",
      "to_others": "192.168.1.2, fd00::2"
    },
    {
      "name": "nas.example.com",
      "to_updaters": null,
      "to_others": "192.168.1.5"
    },
    {
      "name": "cabin.example.com",
      "to_updaters": null,
      "to_others": "forwarded (no address yet)"
    }
  ],
)json"));
}

StatusReport reportWithPublicAddress() {
    StatusReport report = sampleReport();
    PublicAddressState& state = report.publicAddress;
    state.enabled = true;
    state.believed = ip("1.2.3.4");
    state.agreeing = {"dns myip.opendns.com@208.67.222.222:53", "http http://checkip.dyndns.org/"};
    state.believedSince = kNow - minutes(3);
    state.disagreement = "1.2.3.4 (dns a, http b) against 5.6.7.8 (<router>)";
    state.cgnat = "the router's external address 100.64.0.9 is carrier-grade NAT (RFC 6598)";
    state.lastRound = kNow - minutes(1);
    state.rounds = 7;
    state.disagreements = 2;
    state.sources = {
        {"dns", "dns myip.opendns.com@208.67.222.222:53", ip("1.2.3.4"), "", kNow - minutes(1)},
        {"router", "router auto", std::nullopt, "UPnP: no answer to M-SEARCH", kNow - minutes(1)}};
    return report;
}

TEST(StatusJson, PublicAddressWithItsSources) {
    const std::string json = renderStatusJson(reportWithPublicAddress());
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr(R"json("public_address": {
    "rounds": 7,
    "disagreements": 2,
    "cgnat": 1,
    "enabled": true,
    "address": "1.2.3.4",
    "agreeing": [
      "dns myip.opendns.com@208.67.222.222:53",
      "http http://checkip.dyndns.org/"
    ],
    "since": "2024-05-01T11:57:00Z",
    "disagreement": "1.2.3.4 (dns a, http b) against 5.6.7.8 (<router>)",
    "cgnat_reason": "the router's external address 100.64.0.9 is carrier-grade NAT (RFC 6598)",
    "last_round": "2024-05-01T11:59:00Z",
    "sources": [
      {
        "kind": "dns",
        "source": "dns myip.opendns.com@208.67.222.222:53",
        "address": "1.2.3.4",
        "error": null,
        "time": "2024-05-01T11:59:00Z"
      },
      {
        "kind": "router",
        "source": "router auto",
        "address": null,
        "error": "UPnP: no answer to M-SEARCH",
        "time": "2024-05-01T11:59:00Z"
      }
    ]
  })json"));
    // Off: the section says so and nothing else.
    const std::string off = renderStatusJson(sampleReport());
    EXPECT_THAT(off, HasSubstr("\"enabled\": false"));
    EXPECT_THAT(off, HasSubstr("\"address\": null"));
}

TEST(StatusHtml, PublicAddressSectionShowsBeliefNatAndSources) {
    const std::string html = renderStatusHtml(reportWithPublicAddress());
    EXPECT_THAT(html, HasSubstr("<h2>Public address</h2>"));
    EXPECT_THAT(html, HasSubstr("<strong class=\"public-address\">1.2.3.4</strong>"));
    EXPECT_THAT(html, HasSubstr("id=\"cgnat\">Behind carrier-grade NAT: incoming connections will "
                                "not reach this network"));
    EXPECT_THAT(html, HasSubstr("against 5.6.7.8 (&lt;router&gt;)"));
    EXPECT_THAT(html, HasSubstr("<code>router auto</code></th><td><span class=\"none\">UPnP: "
                                "no answer to M-SEARCH</span>"));
    EXPECT_THAT(html, HasSubstr("1 minute ago"));
    EXPECT_THAT(renderStatusHtml(sampleReport()), HasSubstr("Detection is off"));
}

TEST(StatusMetrics, PublicAddressCounters) {
    const std::string text = renderMetrics(reportWithPublicAddress());
    EXPECT_THAT(text, HasSubstr("\ndynamo_gateway_public_address_rounds_total 7\n"));
    EXPECT_THAT(text, HasSubstr("\ndynamo_gateway_public_address_disagreements_total 2\n"));
    EXPECT_THAT(text, HasSubstr("\ndynamo_gateway_public_address_cgnat 1\n"));
}

TEST(StatusJson, AlertChannelsFollowTheAlertTotals) {
    const std::string json = renderStatusJson(reportWithAlertChannels());
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr(R"json("alerts": {
    "sent": 15,
    "failed": 16,
    "dropped": 17,
    "rate_limited": 18,
    "channels": [
      {
        "label": "webhook https://hooks.example/…",
        "sent": 3,
        "failed": 1,
        "dropped": 2,
        "last_result": "delivered (HTTP 200)",
        "last_time": "2024-05-01T11:56:00Z"
      },
      {
        "label": "exec /usr/local/bin/<on-event>",
        "sent": 0,
        "failed": 0,
        "dropped": 0,
        "last_result": null,
        "last_time": null
      }
    ]
  })json"));
}

TEST(StatusJson, NoAlertChannelsIsAnEmptyList) {
    const std::string json = renderStatusJson(sampleReport());
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr("\"rate_limited\": 18,\n    \"channels\": []\n  }"));
    EXPECT_EQ(occurrences(json, "\"channels\""), 1u);
}

TEST(StatusJson, EmptyReportIsValid) {
    const std::string json = renderStatusJson(StatusReport{});
    EXPECT_TRUE(validJson(json)) << json;
    EXPECT_THAT(json, HasSubstr("\"accounts\": [],"));
    EXPECT_THAT(json, HasSubstr("\"local_names\": [],"));
}

// ---- metrics ----

TEST(StatusMetrics, ContentTypeIsTheTextFormat) {
    EXPECT_EQ(kMetricsContentType, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(StatusMetrics, SampleReportExactly) {
    EXPECT_EQ(renderMetrics(sampleReport()),
              R"(# HELP dynamo_gateway_build_info The running version; always 1.
# TYPE dynamo_gateway_build_info gauge
dynamo_gateway_build_info{version="0.1.0"} 1
# HELP dynamo_gateway_start_time_seconds When the daemon started, in Unix seconds.
# TYPE dynamo_gateway_start_time_seconds gauge
dynamo_gateway_start_time_seconds 1714553691
# HELP dynamo_gateway_dns_queries_total DNS queries received, by transport.
# TYPE dynamo_gateway_dns_queries_total counter
dynamo_gateway_dns_queries_total{transport="udp"} 100
dynamo_gateway_dns_queries_total{transport="tcp"} 7
# HELP dynamo_gateway_dns_responses_total DNS queries by how they were handled; one outcome per query.
# TYPE dynamo_gateway_dns_responses_total counter
dynamo_gateway_dns_responses_total{outcome="dropped"} 1
dynamo_gateway_dns_responses_total{outcome="refused"} 2
dynamo_gateway_dns_responses_total{outcome="formerr"} 3
dynamo_gateway_dns_responses_total{outcome="notimp"} 4
dynamo_gateway_dns_responses_total{outcome="badvers"} 0
dynamo_gateway_dns_responses_total{outcome="intercepted"} 5
dynamo_gateway_dns_responses_total{outcome="local"} 0
dynamo_gateway_dns_responses_total{outcome="cache_hit"} 60
dynamo_gateway_dns_responses_total{outcome="forwarded"} 32
# HELP dynamo_gateway_dns_intercepted_total DNS queries for the update service's names answered with this host.
# TYPE dynamo_gateway_dns_intercepted_total counter
dynamo_gateway_dns_intercepted_total 5
# HELP dynamo_gateway_dns_forwarded_total DNS queries passed to the upstreams.
# TYPE dynamo_gateway_dns_forwarded_total counter
dynamo_gateway_dns_forwarded_total 32
# HELP dynamo_gateway_dns_servfail_total SERVFAIL answers: upstream failure, timeout, overload or upstream SERVFAIL.
# TYPE dynamo_gateway_dns_servfail_total counter
dynamo_gateway_dns_servfail_total 6
# HELP dynamo_gateway_dns_truncated_total Answers truncated (TC=1) for a UDP client.
# TYPE dynamo_gateway_dns_truncated_total counter
dynamo_gateway_dns_truncated_total 8
# HELP dynamo_gateway_dns_not_recursive_total RD=0 queries the upstream gave nothing for, answered REFUSED.
# TYPE dynamo_gateway_dns_not_recursive_total counter
dynamo_gateway_dns_not_recursive_total 11
# HELP dynamo_gateway_dns_stale_answers_total Answers served from expired cache entries while the upstreams failed (RFC 8767).
# TYPE dynamo_gateway_dns_stale_answers_total counter
dynamo_gateway_dns_stale_answers_total 13
# HELP dynamo_gateway_dns_prefetches_total Background refreshes of popular cache entries shortly before they expire.
# TYPE dynamo_gateway_dns_prefetches_total counter
dynamo_gateway_dns_prefetches_total 14
# HELP dynamo_gateway_dns_cache_hits_total DNS cache lookups that hit.
# TYPE dynamo_gateway_dns_cache_hits_total counter
dynamo_gateway_dns_cache_hits_total 60
# HELP dynamo_gateway_dns_cache_misses_total DNS cache lookups that missed.
# TYPE dynamo_gateway_dns_cache_misses_total counter
dynamo_gateway_dns_cache_misses_total 32
# HELP dynamo_gateway_dns_cache_entries Answers in the DNS cache.
# TYPE dynamo_gateway_dns_cache_entries gauge
dynamo_gateway_dns_cache_entries 40
# HELP dynamo_gateway_dns_upstream_queries_total Queries sent upstream.
# TYPE dynamo_gateway_dns_upstream_queries_total counter
dynamo_gateway_dns_upstream_queries_total 30
# HELP dynamo_gateway_dns_upstream_coalesced_total Queries that joined an identical one already in flight upstream.
# TYPE dynamo_gateway_dns_upstream_coalesced_total counter
dynamo_gateway_dns_upstream_coalesced_total 2
# HELP dynamo_gateway_dns_upstream_failures_total Upstream queries that failed or timed out.
# TYPE dynamo_gateway_dns_upstream_failures_total counter
dynamo_gateway_dns_upstream_failures_total 3
# HELP dynamo_gateway_dns_upstream_overloaded_total Queries refused at the in-flight bound.
# TYPE dynamo_gateway_dns_upstream_overloaded_total counter
dynamo_gateway_dns_upstream_overloaded_total 1
# HELP dynamo_gateway_dns_upstream_port_shares_total Upstream queries sent on a socket already past its batch: every channel busy.
# TYPE dynamo_gateway_dns_upstream_port_shares_total counter
dynamo_gateway_dns_upstream_port_shares_total 12
# HELP dynamo_gateway_dns_upstream_in_flight Upstream queries awaiting an answer.
# TYPE dynamo_gateway_dns_upstream_in_flight gauge
dynamo_gateway_dns_upstream_in_flight 1
# HELP dynamo_gateway_dns_upstream_latency_seconds Time from sending a query upstream to its answer; failures are not observed.
# TYPE dynamo_gateway_dns_upstream_latency_seconds histogram
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.001"} 1
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.002"} 1
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.005"} 1
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.01"} 1
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.025"} 3
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.05"} 3
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.1"} 3
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.25"} 3
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="0.5"} 3
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="1"} 3
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="2.5"} 3
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="5"} 4
dynamo_gateway_dns_upstream_latency_seconds_bucket{le="+Inf"} 4
dynamo_gateway_dns_upstream_latency_seconds_sum 3.0248
dynamo_gateway_dns_upstream_latency_seconds_count 4
# HELP dynamo_gateway_dns_upstream_up 1 while the upstream is up, 0 while it is marked down (no answer to 3 queries).
# TYPE dynamo_gateway_dns_upstream_up gauge
dynamo_gateway_dns_upstream_up{upstream="192.0.2.1:53"} 0
dynamo_gateway_dns_upstream_up{upstream="[2001:db8::53]:53"} 1
# HELP dynamo_gateway_dns_upstream_state_since_timestamp_seconds When the upstream was last marked up or down (or the daemon started), in Unix seconds.
# TYPE dynamo_gateway_dns_upstream_state_since_timestamp_seconds gauge
dynamo_gateway_dns_upstream_state_since_timestamp_seconds{upstream="192.0.2.1:53"} 1714564680
dynamo_gateway_dns_upstream_state_since_timestamp_seconds{upstream="[2001:db8::53]:53"} 1714553691
# HELP dynamo_gateway_dns_upstream_answers_by_upstream_total Answers from the upstream, SERVFAIL and REFUSED included.
# TYPE dynamo_gateway_dns_upstream_answers_by_upstream_total counter
dynamo_gateway_dns_upstream_answers_by_upstream_total{upstream="192.0.2.1:53"} 21
dynamo_gateway_dns_upstream_answers_by_upstream_total{upstream="[2001:db8::53]:53"} 12
# HELP dynamo_gateway_dns_upstream_failures_by_upstream_total Queries to the upstream that timed out or found it unreachable.
# TYPE dynamo_gateway_dns_upstream_failures_by_upstream_total counter
dynamo_gateway_dns_upstream_failures_by_upstream_total{upstream="192.0.2.1:53"} 9
dynamo_gateway_dns_upstream_failures_by_upstream_total{upstream="[2001:db8::53]:53"} 0
# HELP dynamo_gateway_dns_upstream_probes_total Health checks sent to the upstream while it was marked down.
# TYPE dynamo_gateway_dns_upstream_probes_total counter
dynamo_gateway_dns_upstream_probes_total{upstream="192.0.2.1:53"} 3
dynamo_gateway_dns_upstream_probes_total{upstream="[2001:db8::53]:53"} 0
# HELP dynamo_gateway_dns_upstream_latency_by_upstream_seconds Time from sending a query to the upstream to its answer.
# TYPE dynamo_gateway_dns_upstream_latency_by_upstream_seconds histogram
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.001"} 0
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.002"} 0
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.005"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.01"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.025"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.05"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.1"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.25"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="0.5"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="1"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="2.5"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="5"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="192.0.2.1:53",le="+Inf"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_sum{upstream="192.0.2.1:53"} 0.004
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_count{upstream="192.0.2.1:53"} 1
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.001"} 0
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.002"} 0
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.005"} 8
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.01"} 8
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.025"} 8
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.05"} 9
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.1"} 9
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.25"} 9
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="0.5"} 10
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="1"} 10
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="2.5"} 10
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="5"} 10
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_bucket{upstream="[2001:db8::53]:53",le="+Inf"} 10
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_sum{upstream="[2001:db8::53]:53"} 0.464
dynamo_gateway_dns_upstream_latency_by_upstream_seconds_count{upstream="[2001:db8::53]:53"} 10
# HELP dynamo_gateway_dns_tcp_connections Open DNS-over-TCP client connections.
# TYPE dynamo_gateway_dns_tcp_connections gauge
dynamo_gateway_dns_tcp_connections 2
# HELP dynamo_gateway_update_requests_total DynDNS update requests received.
# TYPE dynamo_gateway_update_requests_total counter
dynamo_gateway_update_requests_total 20
# HELP dynamo_gateway_updates_total DynDNS update requests by the device's answer.
# TYPE dynamo_gateway_updates_total counter
dynamo_gateway_updates_total{result="good"} 9
dynamo_gateway_updates_total{result="nochg"} 5
dynamo_gateway_updates_total{result="queued"} 3
dynamo_gateway_updates_total{result="911"} 2
dynamo_gateway_updates_total{result="badauth"} 1
# HELP dynamo_gateway_update_queue_length Accounts with an update waiting to be sent.
# TYPE dynamo_gateway_update_queue_length gauge
dynamo_gateway_update_queue_length 1
# HELP dynamo_gateway_http_connections Open connections to the update listeners (counted up to a second late).
# TYPE dynamo_gateway_http_connections gauge
dynamo_gateway_http_connections 3
# HELP dynamo_gateway_http_connections_closed_total Connections the gateway closed: over the cap, or past their lifetime.
# TYPE dynamo_gateway_http_connections_closed_total counter
dynamo_gateway_http_connections_closed_total{reason="over_cap"} 4
dynamo_gateway_http_connections_closed_total{reason="lifetime"} 5
# HELP dynamo_gateway_devices Devices in the list of /devices (at most 1024).
# TYPE dynamo_gateway_devices gauge
dynamo_gateway_devices 6
# HELP dynamo_gateway_tls_handshake_failures_total TLS handshakes on the HTTPS listeners that ended in a fatal alert.
# TYPE dynamo_gateway_tls_handshake_failures_total counter
dynamo_gateway_tls_handshake_failures_total 2
# HELP dynamo_gateway_alerts_total Alerts by what became of them; sent, failed and dropped are summed over channels.
# TYPE dynamo_gateway_alerts_total counter
dynamo_gateway_alerts_total{result="sent"} 15
dynamo_gateway_alerts_total{result="failed"} 16
dynamo_gateway_alerts_total{result="dropped"} 17
dynamo_gateway_alerts_total{result="rate_limited"} 18
# HELP dynamo_gateway_public_address_rounds_total Rounds of asking the public-address sources.
# TYPE dynamo_gateway_public_address_rounds_total counter
dynamo_gateway_public_address_rounds_total 0
# HELP dynamo_gateway_public_address_disagreements_total Rounds that ended with the public-address sources disagreeing.
# TYPE dynamo_gateway_public_address_disagreements_total counter
dynamo_gateway_public_address_disagreements_total 0
# HELP dynamo_gateway_public_address_cgnat 1 when the network is behind carrier-grade or double NAT.
# TYPE dynamo_gateway_public_address_cgnat gauge
dynamo_gateway_public_address_cgnat 0
# HELP dynamo_gateway_account_last_change_timestamp_seconds When the service last confirmed a new address for the account's record.
# TYPE dynamo_gateway_account_last_change_timestamp_seconds gauge
dynamo_gateway_account_last_change_timestamp_seconds{account="home"} 1714564600
# HELP dynamo_gateway_account_last_call_timestamp_seconds When the service was last called for the account's token.
# TYPE dynamo_gateway_account_last_call_timestamp_seconds gauge
dynamo_gateway_account_last_call_timestamp_seconds{account="home"} 1714564600
dynamo_gateway_account_last_call_timestamp_seconds{account="cabin"} 1714564760
# HELP dynamo_gateway_account_queued 1 when the account has an update waiting.
# TYPE dynamo_gateway_account_queued gauge
dynamo_gateway_account_queued{account="home"} 0
dynamo_gateway_account_queued{account="cabin"} 1
# HELP dynamo_gateway_account_missing_record 1 when the service answered NR/ND twice in a row: the token needs checking.
# TYPE dynamo_gateway_account_missing_record gauge
dynamo_gateway_account_missing_record{account="home"} 0
dynamo_gateway_account_missing_record{account="cabin"} 1
)");
}

// Parses the exposition text line by line, as a scraper would.
struct Sample {
    std::string name;
    std::string labels;  // inside the braces, as written
    std::string value;
};

std::vector<Sample> parseSamples(const std::string& text, std::string* error) {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;  // family name -> TYPE
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("# HELP ", 0) == 0)
            continue;
        if (line.rfind("# TYPE ", 0) == 0) {
            const std::string rest = line.substr(7);
            const size_t space = rest.find(' ');
            types[rest.substr(0, space)] = rest.substr(space + 1);
            continue;
        }
        Sample sample;
        const size_t brace = line.find('{');
        const size_t space = line.rfind(' ');
        if (brace != std::string::npos) {
            sample.name = line.substr(0, brace);
            const size_t close = line.rfind('}');
            sample.labels = line.substr(brace + 1, close - brace - 1);
        } else {
            sample.name = line.substr(0, space);
        }
        sample.value = line.substr(space + 1);
        std::string family = sample.name;
        for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
            if (!types.contains(family) && family.ends_with(suffix))
                family.resize(family.size() - suffix.size());
        }
        if (!types.contains(family)) {
            *error = "no TYPE before " + line;
            return {};
        }
        for (const char c : sample.name) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
                *error = "bad name in " + line;
                return {};
            }
        }
        if (!sample.name.starts_with("dynamo_gateway_")) {
            *error = "unprefixed " + line;
            return {};
        }
        samples.push_back(sample);
    }
    return samples;
}

TEST(StatusMetrics, EveryLineIsWellFormedAndEndsWithANewline) {
    const std::string text = renderMetrics(sampleReport());
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    std::string error;
    const auto samples = parseSamples(text, &error);
    EXPECT_EQ(error, "");
    EXPECT_GT(samples.size(), 40u);
}

TEST(StatusMetrics, ResponseOutcomesAddUpToTheQueries) {
    std::string error;
    uint64_t queries = 0;
    uint64_t outcomes = 0;
    for (const Sample& sample : parseSamples(renderMetrics(sampleReport()), &error)) {
        if (sample.name == "dynamo_gateway_dns_queries_total")
            queries += std::stoull(sample.value);
        if (sample.name == "dynamo_gateway_dns_responses_total")
            outcomes += std::stoull(sample.value);
    }
    EXPECT_EQ(queries, 107u);
    EXPECT_EQ(outcomes, queries);
}

TEST(StatusMetrics, HistogramBucketsAreCumulativeAndInfEqualsCount) {
    StatusReport report = sampleReport();
    for (int i = 0; i < 50; ++i)
        report.dns.upstreamLatency.observe(microseconds(i * 137'000));
    std::string error;
    std::vector<uint64_t> buckets;
    std::string lastLe;
    uint64_t count = 0;
    for (const Sample& sample : parseSamples(renderMetrics(report), &error)) {
        if (sample.name == "dynamo_gateway_dns_upstream_latency_seconds_bucket") {
            buckets.push_back(std::stoull(sample.value));
            lastLe = sample.labels;
        }
        if (sample.name == "dynamo_gateway_dns_upstream_latency_seconds_count")
            count = std::stoull(sample.value);
    }
    ASSERT_EQ(buckets.size(), resolver::LatencyHistogram::kBucketCount);
    EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
    EXPECT_EQ(lastLe, "le=\"+Inf\"");
    EXPECT_EQ(buckets.back(), count);
    EXPECT_EQ(count, 54u);
}

TEST(StatusMetrics, AccountLabelsAreEscaped) {
    StatusReport report = sampleReport();
    report.accounts.resize(1);
    report.accounts[0].username = "a\"b\\c\nd ü";
    report.version = "1\"2";
    const std::string text = renderMetrics(report);
    EXPECT_THAT(text, HasSubstr("dynamo_gateway_build_info{version=\"1\\\"2\"} 1\n"));
    EXPECT_THAT(text,
                HasSubstr("dynamo_gateway_account_queued{account=\"a\\\"b\\\\c\\nd ü\"} 0\n"));
    std::string error;
    parseSamples(text, &error);
    EXPECT_EQ(error, "");
}

TEST(StatusMetrics, AnAccountThatNeverChangedHasNoTimestampSample) {
    StatusReport report = sampleReport();
    const std::string text = renderMetrics(report);
    EXPECT_THAT(
        text, HasSubstr("dynamo_gateway_account_last_change_timestamp_seconds{account=\"home\"}"));
    EXPECT_THAT(
        text,
        Not(HasSubstr("dynamo_gateway_account_last_change_timestamp_seconds{account=\"cabin\"}")));
}

}  // namespace
}  // namespace dynamo::gateway
