#include "gateway/updates/update_scheduler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "temp_dir.h"

namespace dynamo::gateway {
namespace {

using namespace std::chrono_literals;
using compat::TokenApiCode;
using compat::UpdateOutcome;
namespace fs = std::filesystem;

constexpr std::string_view kTokenA = "AAAA567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";
constexpr std::string_view kTokenB = "BBBB567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456";

net::IpAddress ip(std::string_view text) {
    return *net::IpAddress::parse(text);
}

// Records every call; the test answers them when it likes (never inside update(), as the real
// client never does).
class FakeTokenApi : public TokenApi {
  public:
    struct Call {
        std::string token;
        std::optional<net::IpAddress> ip;
        Done done;
    };

    void update(const std::string& token, const std::optional<net::IpAddress>& address,
                Done done) override {
        calls.push_back(Call{token, address, std::move(done)});
    }

    void answer(size_t index, TokenApiCode code) {
        TokenApiResult result;
        result.httpStatus = 200;
        result.code = code;
        complete(index, result);
    }

    void complete(size_t index, const TokenApiResult& result) {
        ASSERT_LT(index, calls.size());
        ASSERT_TRUE(calls[index].done) << "call " << index << " already answered";
        Done done = std::move(calls[index].done);
        calls[index].done = nullptr;
        done(result);
    }

    std::vector<Call> calls;
};

// Time is injected: the window and the back-off are tested to the second without sleeping.
class UpdateSchedulerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        // Two device accounts sharing one token, as a router and a camera might.
        accounts_ = {account("router", kTokenA, {"home.example"}),
                     account("camera", kTokenA, {"cam.example"}), account("office", kTokenB, {})};
        dynamo_.minInterval = 300s;
        dynamo_.timeout = 15s;
    }
    void TearDown() override { scheduler_.reset(); }

    static config::Account account(std::string username, std::string_view token,
                                   std::vector<std::string> hostnames) {
        config::Account result;
        result.username = std::move(username);
        result.password = "secret";
        result.token = std::string(token);
        result.hostnames = std::move(hostnames);
        return result;
    }

    UpdateScheduler& start(std::string stateDir = {}) {
        UpdateScheduler::Hooks hooks;
        hooks.onConfirmed = [this](const config::Account& confirmedAccount,
                                   const std::optional<net::IpAddress>& address,
                                   UpdateOrigin origin) {
            confirmed_.emplace_back(confirmedAccount.username, address);
            confirmedOrigins_.push_back(origin);
        };
        hooks.onChanged = [this](const config::Account& changedAccount,
                                 const std::optional<net::IpAddress>& previous,
                                 const std::optional<net::IpAddress>& address,
                                 UpdateOrigin origin) {
            changed_.push_back({changedAccount.username, previous, address, origin});
        };
        hooks.onAnswered = [this](const config::Account& answeredAccount, const std::string& result,
                                  const std::optional<net::IpAddress>& address,
                                  UpdateOrigin origin) {
            answered_.push_back({answeredAccount.username, result, address, origin});
        };
        hooks.onMissingRecord = [this](const config::Account& missingAccount,
                                       const std::string& result) {
            missing_.emplace_back(missingAccount.username, result);
        };
        hooks.onWakeupChanged = [this] { ++wakeups_; };
        hooks.onAccepted = [this](const config::Account& acceptedAccount) {
            accepted_.push_back(acceptedAccount.username);
        };
        scheduler_ = std::make_unique<UpdateScheduler>(accounts_, dynamo_,
                                                       stateDir.empty() ? dir_.string() : stateDir,
                                                       api_, clock_, hooks, steadyClock_);
        return *scheduler_;
    }

    // Submits for accounts_[index]; the outcome lands in outcomes_ whenever it is decided.
    void submit(size_t index, std::optional<net::IpAddress> publish) {
        scheduler_->submit(accounts_[index], publish, accounts_[index].hostnames,
                           [this](UpdateOutcome outcome) { outcomes_.push_back(outcome); });
    }

    // The gateway's own update for accounts_[index] (self_update: true).
    void submitSelf(size_t index, net::IpAddress address) {
        scheduler_->submitSelfUpdate(accounts_[index], address, [this](UpdateOutcome outcome) {
            outcomes_.push_back(outcome);
        });
    }

    // As submit(), from a device at `source`.
    void submitFrom(size_t index, std::optional<net::IpAddress> publish, net::IpAddress source) {
        scheduler_->submit(
            accounts_[index], publish, accounts_[index].hostnames,
            [this](UpdateOutcome outcome) { outcomes_.push_back(outcome); }, source);
    }

    UpdateScheduler::AccountStatus statusOf(size_t index) const {
        return scheduler_->snapshot().at(index);
    }

    test::TempDir temp_{"update_scheduler"};
    const fs::path dir_ = temp_.path();
    TimePoint start_{std::chrono::seconds(1'700'000'000)};
    TimePoint now_ = start_;
    // One fake clock drives both: time passes (now_ += 5s) on the wall clock and the steady
    // clock alike, but when the wall clock is set back, or stepped with jumpWallClock(), the
    // steady clock does not move (as CLOCK_MONOTONIC when NTP or the RTC sets the time).
    void syncSteady() {
        if (now_ > seenWall_)
            steadyNow_ += now_ - seenWall_;
        seenWall_ = now_;
    }
    void expectWindowFollowsTheSteadyClockAfterAStep(std::chrono::seconds step);
    void jumpWallClock(std::chrono::seconds by) {
        syncSteady();
        now_ += by;
        seenWall_ = now_;
    }
    TimePoint seenWall_ = start_;
    UpdateScheduler::SteadyTimePoint steadyNow_{std::chrono::hours(1)};
    WallClock clock_ = [this] {
        syncSteady();
        return now_;
    };
    UpdateScheduler::SteadyClock steadyClock_ = [this] {
        syncSteady();
        return steadyNow_;
    };
    std::vector<config::Account> accounts_;
    config::DynamoConfig dynamo_;
    FakeTokenApi api_;
    std::unique_ptr<UpdateScheduler> scheduler_;
    std::vector<UpdateOutcome> outcomes_;
    std::vector<std::pair<std::string, std::optional<net::IpAddress>>> confirmed_;
    std::vector<UpdateOrigin> confirmedOrigins_;  // onConfirmed's, in order
    int wakeups_ = 0;
    std::vector<std::string> accepted_;  // onAccepted, by username
    struct Changed {
        std::string username;
        std::optional<net::IpAddress> previous;
        std::optional<net::IpAddress> address;
        UpdateOrigin origin = UpdateOrigin::Device;
        bool operator==(const Changed&) const = default;
    };
    std::vector<Changed> changed_;
    struct Answered {
        std::string username;
        std::string result;
        std::optional<net::IpAddress> address;
        UpdateOrigin origin = UpdateOrigin::Device;
        bool operator==(const Answered&) const = default;
    };
    std::vector<Answered> answered_;  // onAnswered, in order
    std::vector<std::pair<std::string, std::string>> missing_;

    // Answers the newest call with code after moving the clock to when the queue is due.
    void answerWhenDue(TokenApiCode code) {
        if (const auto due = scheduler_->nextDue())
            now_ = std::max(now_, *due);
        scheduler_->runDue();
        ASSERT_FALSE(api_.calls.empty());
        api_.answer(api_.calls.size() - 1, code);
    }
};

TEST_F(UpdateSchedulerTest, WindowOpenCallsNowAndAnswersFromTheResult) {
    start();
    submit(0, ip("1.2.3.4"));
    ASSERT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(api_.calls[0].token, kTokenA);
    EXPECT_EQ(api_.calls[0].ip, ip("1.2.3.4"));
    EXPECT_TRUE(outcomes_.empty()) << "the device waits for the service's answer";
    EXPECT_TRUE(statusOf(0).callInFlight);

    now_ += 2s;
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Updated});
    EXPECT_EQ(scheduler_->confirmedAddress(accounts_[1]), ip("1.2.3.4"));
    // Both accounts with the token publish the same record: both caches are dropped.
    using Confirmed = std::pair<std::string, std::optional<net::IpAddress>>;
    EXPECT_EQ(confirmed_,
              (std::vector<Confirmed>{{"router", ip("1.2.3.4")}, {"camera", ip("1.2.3.4")}}));

    const auto status = statusOf(0);
    EXPECT_EQ(status.lastResult, "UP,OK");
    EXPECT_EQ(status.lastResultText, compat::describe(TokenApiCode::UpOk));
    EXPECT_EQ(status.changedAt, start_ + 2s);
    EXPECT_EQ(status.lastCall, start_ + 2s);
    EXPECT_FALSE(status.queued);
    EXPECT_FALSE(status.callInFlight);
    EXPECT_EQ(scheduler_->nextDue(), std::nullopt);
}

TEST_F(UpdateSchedulerTest, UpErIsUpdatedAndNcIsNoChange) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpEr);
    submit(2, ip("1.2.3.4"));
    api_.answer(1, TokenApiCode::Nc);
    EXPECT_EQ(outcomes_, (std::vector{UpdateOutcome::Updated, UpdateOutcome::NoChange}));
    EXPECT_EQ(scheduler_->confirmedAddress(accounts_[2]), ip("1.2.3.4"));
    EXPECT_FALSE(statusOf(2).changedAt) << "NC changed nothing";
    EXPECT_FALSE(statusOf(2).queued);
}

TEST_F(UpdateSchedulerTest, ConfirmedAddressIsNoChangeLocallyWithoutACall) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    // Inside the window and long after it: no call either way.
    now_ += 10s;
    submit(1, ip("1.2.3.4"));
    now_ += 1h;
    submit(0, ip("1.2.3.4"));
    EXPECT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(outcomes_, (std::vector{UpdateOutcome::Updated, UpdateOutcome::NoChange,
                                      UpdateOutcome::NoChange}));
    EXPECT_EQ(confirmed_.size(), 2u) << "a local nochg changes nothing to drop from caches";
}

TEST_F(UpdateSchedulerTest, WindowShutQueuesAndRunDueSendsWhenItOpens) {
    start();
    submit(0, ip("1.2.3.4"));
    now_ += 1s;
    api_.answer(0, TokenApiCode::UpOk);
    const TimePoint opens = now_ + 300s;

    now_ += 60s;
    const int wakeupsBefore = wakeups_;
    submit(1, ip("5.6.7.8"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(api_.calls.size(), 1u);
    EXPECT_GT(wakeups_, wakeupsBefore) << "the daemon must re-arm its timer";
    EXPECT_EQ(scheduler_->nextDue(), opens);
    EXPECT_EQ(statusOf(0).queued->ip, ip("5.6.7.8"));
    EXPECT_EQ(statusOf(0).queued->nextAttempt, opens);

    now_ = opens - 1s;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u);

    now_ = opens;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("5.6.7.8"));
    EXPECT_EQ(scheduler_->nextDue(), std::nullopt) << "nothing else waits while it is out";
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 2u) << "one call per token at a time";

    api_.answer(1, TokenApiCode::UpOk);
    EXPECT_EQ(outcomes_.size(), 2u) << "the device already had its good";
    EXPECT_EQ(scheduler_->confirmedAddress(accounts_[0]), ip("5.6.7.8"));
    EXPECT_FALSE(statusOf(0).queued);
    EXPECT_EQ(scheduler_->nextDue(), std::nullopt);
}

TEST_F(UpdateSchedulerTest, TokensHaveIndependentWindows) {
    start();
    submit(0, ip("1.2.3.4"));
    submit(2, ip("1.2.3.4"));
    EXPECT_EQ(api_.calls.size(), 2u);
}

TEST_F(UpdateSchedulerTest, TfRestartsTheWindowAndRetriesAfterMinInterval) {
    start();
    submit(0, ip("1.2.3.4"));
    now_ += 3s;
    api_.answer(0, TokenApiCode::Tf);
    EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Failed});
    EXPECT_FALSE(scheduler_->confirmedAddress(accounts_[0]));
    EXPECT_TRUE(confirmed_.empty());

    const auto status = statusOf(0);
    EXPECT_EQ(status.lastResult, "TF");
    EXPECT_EQ(status.lastCall, start_ + 3s) << "the window runs from the answer";
    ASSERT_TRUE(status.queued) << "the update stays queued for retry";
    EXPECT_EQ(status.queued->attempts, 1u);
    EXPECT_EQ(scheduler_->nextDue(), start_ + 3s + 300s);

    // A device asking again inside the window is queued, not called.
    now_ += 100s;
    submit(0, ip("1.2.3.4"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(api_.calls.size(), 1u);
}

TEST_F(UpdateSchedulerTest, RetryBacksOffFromMinIntervalDoublingUpToAnHour) {
    start();
    submit(0, ip("1.2.3.4"));
    std::vector<std::chrono::seconds> delays;
    for (size_t i = 0; i < 7; ++i) {
        api_.answer(i, TokenApiCode::Er);
        const std::optional<TimePoint> due = scheduler_->nextDue();
        ASSERT_TRUE(due);
        delays.push_back(std::chrono::duration_cast<std::chrono::seconds>(*due - now_));
        now_ = *due;
        scheduler_->runDue();
        ASSERT_EQ(api_.calls.size(), i + 2);
    }
    EXPECT_EQ(delays,
              (std::vector<std::chrono::seconds>{300s, 600s, 1200s, 2400s, 3600s, 3600s, 3600s}));
    EXPECT_EQ(statusOf(0).queued->attempts, 7u);

    api_.answer(7, TokenApiCode::UpOk);
    EXPECT_FALSE(statusOf(0).queued);
}

TEST_F(UpdateSchedulerTest, RetryDelayTable) {
    EXPECT_EQ(retryDelay(1, 300s), 300s);
    EXPECT_EQ(retryDelay(2, 300s), 600s);
    EXPECT_EQ(retryDelay(5, 300s), 3600s);
    EXPECT_EQ(retryDelay(1000000, 300s), 3600s);
    EXPECT_EQ(retryDelay(3, 7s), 28s);
    // The window is never violated, even when it is longer than the cap.
    EXPECT_EQ(retryDelay(1, 2h), 2h);
    EXPECT_EQ(retryDelay(9, 2h), 2h);
}

TEST_F(UpdateSchedulerTest, TransportFailuresAndOddAnswersFailAndStayQueued) {
    start();
    const std::vector<std::pair<TokenApiResult, std::string>> cases = {
        {TokenApiResult{TokenApiResult::Transport::Timeout, 0, TokenApiCode::Unknown, ""},
         "timeout"},
        {TokenApiResult{TokenApiResult::Transport::TlsFailed, 0, TokenApiCode::Unknown, ""},
         "tls-failed"},
        {TokenApiResult{TokenApiResult::Transport::Ok, 503, TokenApiCode::Unknown, ""}, "http-503"},
        {TokenApiResult{TokenApiResult::Transport::Ok, 200, TokenApiCode::Unknown, ""}, "unknown"},
        {TokenApiResult{TokenApiResult::Transport::Ok, 200, TokenApiCode::In, ""}, "IN"},
    };
    submit(0, ip("1.2.3.4"));
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(cases[i].second);
        api_.complete(i, cases[i].first);
        EXPECT_EQ(outcomes_.back(), UpdateOutcome::Failed);
        EXPECT_EQ(statusOf(0).lastResult, cases[i].second);
        EXPECT_FALSE(statusOf(0).lastResultText.empty());
        ASSERT_TRUE(statusOf(0).queued);
        now_ += 2h;
        submit(0, ip("1.2.3.4"));  // the device retries after its 911; the window is open
    }
    EXPECT_EQ(statusOf(0).queued->attempts, cases.size()) << "the device did not reset it";
}

TEST_F(UpdateSchedulerTest, NewerSubmitReplacesTheQueuedOne) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 10s;
    submit(0, ip("5.5.5.5"));
    now_ += 10s;
    submit(1, ip("6.6.6.6"));
    EXPECT_EQ(outcomes_,
              (std::vector{UpdateOutcome::Updated, UpdateOutcome::Queued, UpdateOutcome::Queued}));
    EXPECT_EQ(statusOf(0).queued->ip, ip("6.6.6.6"));
    EXPECT_EQ(statusOf(0).queued->acceptedAt, now_);

    now_ = start_ + 300s;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("6.6.6.6"));
}

TEST_F(UpdateSchedulerTest, SubmitWhileACallIsOutKeepsTheNewerUpdateQueued) {
    start();
    submit(0, ip("1.2.3.4"));
    now_ += 1s;
    submit(0, ip("5.6.7.8"));
    EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Queued});

    now_ += 1s;
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Updated);
    ASSERT_TRUE(statusOf(0).queued) << "the answer was for the older address";
    EXPECT_EQ(statusOf(0).queued->ip, ip("5.6.7.8"));
    EXPECT_EQ(scheduler_->nextDue(), now_ + 300s);

    now_ += 300s;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("5.6.7.8"));
}

TEST_F(UpdateSchedulerTest, ConfirmedAddressWhileSomethingIsQueuedStillGoesToTheService) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    submit(0, ip("5.6.7.8"));  // queued
    submit(0, ip("1.2.3.4"));  // back to the published one: the queued one must not win
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(statusOf(0).queued->ip, ip("1.2.3.4"));
}

TEST_F(UpdateSchedulerTest, WithoutAnIpItAlwaysCallsButAQueuedNoIpUpdateJustWaits) {
    start();
    submit(0, std::nullopt);
    ASSERT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(api_.calls[0].ip, std::nullopt);
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Updated);
    // We never learn the address the service took from our source address.
    EXPECT_EQ(scheduler_->confirmedAddress(accounts_[0]), std::nullopt);
    EXPECT_EQ(confirmed_.back(),
              (std::pair<std::string, std::optional<net::IpAddress>>{"camera", std::nullopt}));

    // No local nochg without an ip: our public address may have changed.
    now_ += 300s;
    submit(0, std::nullopt);
    ASSERT_EQ(api_.calls.size(), 2u);
    api_.answer(1, TokenApiCode::Er);
    const auto queued = statusOf(0).queued;
    ASSERT_TRUE(queued);
    EXPECT_EQ(queued->attempts, 1u);

    now_ += 100s;
    submit(1, std::nullopt);
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(statusOf(0).queued->acceptedAt, queued->acceptedAt) << "the same entry stays";
    EXPECT_EQ(statusOf(0).queued->attempts, 1u);
}

TEST_F(UpdateSchedulerTest, TwoMissingRecordsInARowRaiseTheSupportWarning) {
    start();
    submit(0, ip("1.2.3.4"));
    ::testing::internal::CaptureStderr();
    api_.answer(0, TokenApiCode::Nr);
    EXPECT_FALSE(statusOf(0).missingRecord) << "normal in the first minutes after set-up";

    now_ = *scheduler_->nextDue();
    scheduler_->runDue();
    api_.answer(1, TokenApiCode::Nd);
    const std::string log = ::testing::internal::GetCapturedStderr();

    EXPECT_TRUE(statusOf(0).missingRecord);
    EXPECT_TRUE(statusOf(1).missingRecord) << "the camera shares the token";
    EXPECT_FALSE(statusOf(2).missingRecord);
    EXPECT_EQ(statusOf(0).consecutiveMissing, 2u);
    const size_t error = log.find("error: ");
    ASSERT_NE(error, std::string::npos) << log;
    const std::string line = log.substr(error, log.find('\n', error) - error);
    EXPECT_NE(line.find("router"), std::string::npos) << line;
    EXPECT_NE(line.find("KisoLabs support"), std::string::npos) << line;
    EXPECT_NE(line.find("AAAA\u2026"), std::string::npos) << line;
    EXPECT_EQ(log.find(std::string(kTokenA)), std::string::npos) << "never the whole token";

    now_ = *scheduler_->nextDue();
    scheduler_->runDue();
    api_.answer(2, TokenApiCode::UpOk);
    EXPECT_FALSE(statusOf(0).missingRecord);
    EXPECT_EQ(statusOf(0).consecutiveMissing, 0u);
}

// The "changed" alert (README "Alerts"): the service published an address other than the one it
// confirmed last.
TEST_F(UpdateSchedulerTest, ChangedFiresOnUpOkAndUpErWithANewAddressOnly) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    // Once per account with the token: the router and the camera publish the same record.
    EXPECT_EQ(changed_, (std::vector<Changed>{{"router", std::nullopt, ip("1.2.3.4")},
                                              {"camera", std::nullopt, ip("1.2.3.4")}}));

    // UP,ER for a new address is a change too (the service took it, with a complaint).
    changed_.clear();
    submit(0, ip("5.6.7.8"));
    answerWhenDue(TokenApiCode::UpEr);
    EXPECT_EQ(changed_, (std::vector<Changed>{{"router", ip("1.2.3.4"), ip("5.6.7.8")},
                                              {"camera", ip("1.2.3.4"), ip("5.6.7.8")}}));

    // UP,OK for the address it already confirmed: no change to report.
    changed_.clear();
    submit(0, ip("9.9.9.9"));  // queued
    submit(0, ip("5.6.7.8"));  // back to the published one, still sent to the service
    answerWhenDue(TokenApiCode::UpOk);
    EXPECT_EQ(api_.calls.back().ip, ip("5.6.7.8"));
    EXPECT_TRUE(changed_.empty());

    // NC, even for an address we never saw confirmed: the service says nothing changed.
    submit(2, ip("10.0.0.1"));
    api_.answer(api_.calls.size() - 1, TokenApiCode::Nc);
    EXPECT_EQ(scheduler_->confirmedAddress(accounts_[2]), ip("10.0.0.1"));
    EXPECT_TRUE(changed_.empty());

    // A failure changes nothing either.
    submit(0, ip("7.7.7.7"));
    answerWhenDue(TokenApiCode::Er);
    EXPECT_TRUE(changed_.empty());
}

TEST_F(UpdateSchedulerTest, AnsweredFiresForEveryCallWhateverTheResult) {
    // The address history's answers: successes, refusals and transport failures alike, once
    // per account of the token, with the address sent and who asked.
    accounts_[2].selfUpdate = true;
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(answered_, (std::vector<Answered>{{"router", "UP,OK", ip("1.2.3.4")},
                                                {"camera", "UP,OK", ip("1.2.3.4")}}));
    answered_.clear();
    submitSelf(2, ip("5.6.7.8"));
    api_.answer(1, TokenApiCode::Tf);
    TokenApiResult timeout;
    timeout.transport = TokenApiResult::Transport::Timeout;
    if (const auto due = scheduler_->nextDue())
        now_ = std::max(now_, *due);
    scheduler_->runDue();
    api_.complete(2, timeout);
    submit(2, std::nullopt);
    answerWhenDue(TokenApiCode::Nr);
    EXPECT_EQ(answered_,
              (std::vector<Answered>{{"office", "TF", ip("5.6.7.8"), UpdateOrigin::SelfUpdate},
                                     {"office", "timeout", ip("5.6.7.8"), UpdateOrigin::SelfUpdate},
                                     {"office", "NR", std::nullopt, UpdateOrigin::Device}}));
}

TEST_F(UpdateSchedulerTest, ChangedWithoutAnAddressAlwaysFires) {
    // With no myip the service published our source address, which we cannot compare.
    start();
    submit(2, std::nullopt);
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(changed_, (std::vector<Changed>{{"office", std::nullopt, std::nullopt}}));
}

TEST_F(UpdateSchedulerTest, MissingRecordFiresAtTheSecondNrOrNdInARowOncePerRun) {
    start();
    submit(2, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::Nr);
    EXPECT_TRUE(missing_.empty()) << "one NR is normal in the first minutes after set-up";

    // A TF in between says nothing about the record: the run goes on.
    answerWhenDue(TokenApiCode::Tf);
    EXPECT_TRUE(missing_.empty());
    answerWhenDue(TokenApiCode::Nd);
    EXPECT_EQ(missing_, (std::vector<std::pair<std::string, std::string>>{{"office", "ND"}}));

    // The third and later answers of the same run raise nothing more.
    answerWhenDue(TokenApiCode::Nr);
    answerWhenDue(TokenApiCode::Nr);
    EXPECT_EQ(missing_.size(), 1u);
    EXPECT_EQ(statusOf(2).consecutiveMissing, 4u);

    // A confirmation ends the run; the next run raises it again at its second answer.
    answerWhenDue(TokenApiCode::UpOk);
    submit(2, ip("5.6.7.8"));
    answerWhenDue(TokenApiCode::Nr);
    EXPECT_EQ(missing_.size(), 1u);
    answerWhenDue(TokenApiCode::Nr);
    EXPECT_EQ(missing_, (std::vector<std::pair<std::string, std::string>>{{"office", "ND"},
                                                                          {"office", "NR"}}));
}

TEST_F(UpdateSchedulerTest, MissingRecordFiresForEveryAccountOfTheToken) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::Nr);
    answerWhenDue(TokenApiCode::Nr);
    EXPECT_EQ(missing_, (std::vector<std::pair<std::string, std::string>>{{"router", "NR"},
                                                                          {"camera", "NR"}}));
}

TEST_F(UpdateSchedulerTest, AcceptedUpdateSurvivesARestart) {
    start();
    submit(0, ip("1.2.3.4"));
    now_ += 1s;
    api_.answer(0, TokenApiCode::UpOk);
    const TimePoint opens = now_ + 300s;
    now_ += 30s;
    submit(1, ip("5.6.7.8"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);

    // kill -9 after the device got its good: a new scheduler from the same directory.
    scheduler_.reset();
    start();
    EXPECT_EQ(scheduler_->confirmedAddress(accounts_[0]), ip("1.2.3.4"));
    EXPECT_EQ(scheduler_->nextDue(), opens) << "the window survives the restart";

    now_ += 10s;
    submit(2, ip("7.7.7.7"));  // another token: its window is open
    submit(0, ip("1.2.3.4"));  // still inside token A's window, and 5.6.7.8 waits
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(api_.calls.size(), 2u);

    now_ = opens;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 3u);
    EXPECT_EQ(api_.calls[2].token, kTokenA);
    EXPECT_EQ(api_.calls[2].ip, ip("1.2.3.4"));
}

// A self-update and a device update for one token inside one window: one call now, the other
// queued and sent when the window opens, never a TF (the service restarts its window on every
// call). The newest address wins the queue, whoever sent it.
TEST_F(UpdateSchedulerTest, SelfUpdateAndDeviceUpdateShareTheTokensWindow) {
    accounts_[0].selfUpdate = true;
    start();
    submitSelf(0, ip("1.2.3.4"));
    ASSERT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(api_.calls[0].ip, ip("1.2.3.4"));
    EXPECT_TRUE(outcomes_.empty()) << "decided by the service's answer";
    // The camera (same token) updates while the self-update is out: queued, no second call.
    now_ += 5s;
    submit(1, ip("5.6.7.8"));
    EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Queued});
    EXPECT_EQ(api_.calls.size(), 1u) << "one call in flight per token";
    now_ += 1s;
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Updated);
    EXPECT_EQ(statusOf(0).confirmedOrigin, UpdateOrigin::SelfUpdate);
    ASSERT_TRUE(statusOf(0).queued);
    EXPECT_EQ(statusOf(0).queued->ip, ip("5.6.7.8"));
    EXPECT_EQ(statusOf(0).queued->origin, UpdateOrigin::Device);
    const TimePoint opens = now_ + 300s;
    EXPECT_EQ(scheduler_->nextDue(), opens);

    // The gateway sees a newer address before the window opens: it replaces the device's.
    now_ += 60s;
    submitSelf(0, ip("9.9.9.9"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(statusOf(0).queued->ip, ip("9.9.9.9"));
    EXPECT_EQ(statusOf(0).queued->origin, UpdateOrigin::SelfUpdate);
    EXPECT_EQ(statusOf(1).acceptedIp, ip("9.9.9.9"));
    now_ = opens - 1s;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u) << "never inside the window";
    now_ = opens;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("9.9.9.9"));
    api_.answer(1, TokenApiCode::UpOk);
    EXPECT_FALSE(statusOf(0).queued);
    EXPECT_EQ(statusOf(1).confirmedOrigin, UpdateOrigin::SelfUpdate);
    EXPECT_EQ(changed_, (std::vector<Changed>{
                            {"router", std::nullopt, ip("1.2.3.4"), UpdateOrigin::SelfUpdate},
                            {"camera", std::nullopt, ip("1.2.3.4"), UpdateOrigin::SelfUpdate},
                            {"router", ip("1.2.3.4"), ip("9.9.9.9"), UpdateOrigin::SelfUpdate},
                            {"camera", ip("1.2.3.4"), ip("9.9.9.9"), UpdateOrigin::SelfUpdate}}));
}

TEST_F(UpdateSchedulerTest, DeviceUpdateAfterASelfUpdateIsRecordedAsTheDevices) {
    accounts_[0].selfUpdate = true;
    start();
    submitSelf(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 301s;
    submit(1, ip("5.6.7.8"));
    ASSERT_EQ(api_.calls.size(), 2u);
    api_.answer(1, TokenApiCode::UpOk);
    EXPECT_EQ(confirmedOrigins_, (std::vector{UpdateOrigin::SelfUpdate, UpdateOrigin::SelfUpdate,
                                              UpdateOrigin::Device, UpdateOrigin::Device}));
    ASSERT_EQ(changed_.size(), 4u);
    EXPECT_EQ(changed_[2], (Changed{"router", ip("1.2.3.4"), ip("5.6.7.8"), UpdateOrigin::Device}));
    EXPECT_EQ(statusOf(0).confirmedOrigin, UpdateOrigin::Device);
}

TEST_F(UpdateSchedulerTest, SelfUpdateOfTheConfirmedAddressIsNoChangeWithoutACall) {
    accounts_[0].selfUpdate = true;
    start();
    submit(1, ip("1.2.3.4"));  // the camera published it
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 1h;
    submitSelf(0, ip("1.2.3.4"));
    EXPECT_EQ(outcomes_, (std::vector{UpdateOutcome::Updated, UpdateOutcome::NoChange}));
    EXPECT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(statusOf(0).confirmedOrigin, UpdateOrigin::Device) << "nothing was sent";
    // While a self-update is out, the same address again waits for it instead of a 2nd call.
    submitSelf(0, ip("5.6.7.8"));
    submitSelf(0, ip("5.6.7.8"));
    EXPECT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    api_.answer(1, TokenApiCode::UpOk);
    EXPECT_FALSE(statusOf(0).queued) << "the answered call confirmed the waiting address too";
    EXPECT_EQ(scheduler_->nextDue(), std::nullopt);
}

// A router behind another router or carrier-grade NAT reports its WAN side: never published.
TEST_F(UpdateSchedulerTest, SelfUpdateNeverPublishesAPrivateOrSharedAddress) {
    accounts_[0].selfUpdate = true;
    start();
    for (const char* address : {"10.0.0.2", "100.64.12.34", "192.168.1.1", "172.16.0.9",
                                "127.0.0.1", "169.254.3.3", "2a00:1450::1", "::ffff:100.64.0.1"}) {
        SCOPED_TRACE(address);
        outcomes_.clear();
        submitSelf(0, ip(address));
        EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Failed});
    }
    EXPECT_TRUE(api_.calls.empty());
    EXPECT_FALSE(statusOf(0).queued);
    EXPECT_TRUE(accepted_.empty());
    EXPECT_FALSE(fs::exists(dir_ / "state.yaml")) << "nothing was accepted";
    // A mapped public address is its IPv4 address.
    submitSelf(0, ip("::ffff:1.2.3.4"));
    ASSERT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(api_.calls[0].ip, ip("1.2.3.4"));
}

TEST_F(UpdateSchedulerTest, SelfUpdateOnlyForSelfUpdateAccounts) {
    start();  // no account has self_update
    submitSelf(0, ip("1.2.3.4"));
    EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Failed});
    EXPECT_TRUE(api_.calls.empty());
    // Without a callback it still decides (and calls) as the daemon's detection expects.
    accounts_[2].selfUpdate = true;
    scheduler_->reconfigure(accounts_, dynamo_);
    scheduler_->submitSelfUpdate(accounts_[2], ip("1.2.3.4"));
    ASSERT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(api_.calls[0].token, kTokenB);
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(statusOf(2).confirmedIp, ip("1.2.3.4"));
    EXPECT_TRUE(statusOf(2).selfUpdate);
    EXPECT_FALSE(statusOf(0).selfUpdate);
}

// kill -9 with a self-update queued behind a device's call: after the restart it is sent when
// the window opens, still a self-update, and so is the confirmed address's origin.
TEST_F(UpdateSchedulerTest, OriginSurvivesARestart) {
    accounts_[0].selfUpdate = true;
    start();
    submitSelf(0, ip("1.2.3.4"));
    now_ += 1s;
    api_.answer(0, TokenApiCode::UpOk);
    const TimePoint opens = now_ + 300s;
    now_ += 10s;
    submit(1, ip("5.6.7.8"));
    now_ += 10s;
    submitSelf(0, ip("6.6.6.6"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);

    scheduler_.reset();
    start();
    EXPECT_EQ(statusOf(0).confirmedOrigin, UpdateOrigin::SelfUpdate);
    ASSERT_TRUE(statusOf(0).queued);
    EXPECT_EQ(statusOf(0).queued->ip, ip("6.6.6.6"));
    EXPECT_EQ(statusOf(0).queued->origin, UpdateOrigin::SelfUpdate);
    EXPECT_EQ(scheduler_->nextDue(), opens);
    now_ = opens;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("6.6.6.6"));
    api_.answer(1, TokenApiCode::UpOk);
    ASSERT_FALSE(changed_.empty());
    EXPECT_EQ(changed_.back(),
              (Changed{"camera", ip("1.2.3.4"), ip("6.6.6.6"), UpdateOrigin::SelfUpdate}));
}

// A state file from before origins were kept: every update in it came from a device.
TEST_F(UpdateSchedulerTest, StateFileWithoutOriginsIsDevices) {
    {
        std::ofstream out(dir_ / "state.yaml");
        out << "version: 1\ntokens:\n  " << tokenKey(kTokenA)
            << ":\n    last_call: 1699999000\n    confirmed_ip: 1.2.3.4\n"
            << "    consecutive_missing: 0\n"
            << "    queued: {ip: 5.6.7.8, accepted_at: 1699999000, attempts: 0, "
            << "next_attempt: 1699999000}\n";
    }
    start();
    EXPECT_EQ(statusOf(0).confirmedOrigin, UpdateOrigin::Device);
    ASSERT_TRUE(statusOf(0).queued);
    EXPECT_EQ(statusOf(0).queued->origin, UpdateOrigin::Device);
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 1u);
    api_.answer(0, TokenApiCode::UpOk);
    ASSERT_FALSE(changed_.empty());
    EXPECT_EQ(changed_[0].origin, UpdateOrigin::Device);
}

TEST_F(UpdateSchedulerTest, CrashWithACallOutKeepsTheUpdateAndTheWindow) {
    start();
    submit(0, ip("1.2.3.4"));
    ASSERT_EQ(api_.calls.size(), 1u);
    scheduler_.reset();
    // A late answer to a destroyed scheduler is ignored, and the device's done is dropped.
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_TRUE(outcomes_.empty());

    start();
    EXPECT_EQ(scheduler_->nextDue(), start_ + 300s) << "the call's time was stored before it";
    now_ = start_ + 300s;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("1.2.3.4"));
}

TEST_F(UpdateSchedulerTest, CorruptStateFileStillStarts) {
    {
        std::ofstream out(dir_ / "state.yaml");
        out << "{{{ not yaml";
    }
    ::testing::internal::CaptureStderr();
    start();
    ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(fs::exists(dir_ / "state.yaml.corrupt-1700000000"));
    submit(0, ip("1.2.3.4"));
    EXPECT_EQ(api_.calls.size(), 1u);
}

TEST_F(UpdateSchedulerTest, UpdateThatCannotBeStoredFailsWithoutACall) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 10s;
    submit(0, ip("5.5.5.5"));  // queued and stored

    fs::create_directory(dir_ / "state.yaml.tmp");  // every save fails now, even as root
    ::testing::internal::CaptureStderr();
    now_ += 400s;
    submit(0, ip("6.6.6.6"));
    submit(2, ip("6.6.6.6"));
    const std::string log = ::testing::internal::GetCapturedStderr();

    EXPECT_EQ(outcomes_, (std::vector{UpdateOutcome::Updated, UpdateOutcome::Queued,
                                      UpdateOutcome::Failed, UpdateOutcome::Failed}));
    EXPECT_EQ(api_.calls.size(), 1u);
    EXPECT_NE(log.find("error: "), std::string::npos);
    EXPECT_EQ(statusOf(0).queued->ip, ip("5.5.5.5")) << "the stored update is not lost";
    EXPECT_FALSE(statusOf(2).queued) << "the refused one was not accepted";
    EXPECT_FALSE(statusOf(2).lastCall);
}

// A full state_dir after an update was queued: the update is not sent while its last_call
// cannot be stored (a crash would make the next start send it again inside the window, a TF);
// it goes out once the state can be stored, which is tried again within seconds, not only
// when something else happens.
TEST_F(UpdateSchedulerTest, QueuedUpdateWaitsUntilItsSendCanBeStored) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 10s;
    submit(0, ip("5.5.5.5"));  // queued and stored
    const TimePoint opens = start_ + 300s;

    fs::create_directory(dir_ / "state.yaml.tmp");  // every save fails now, even as root
    ::testing::internal::CaptureStderr();
    now_ = opens;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u) << "not sent: its last_call could not be stored";
    EXPECT_EQ(statusOf(0).queued->ip, ip("5.5.5.5"));
    EXPECT_EQ(statusOf(0).lastCall, start_) << "the unsent call is not recorded";
    EXPECT_EQ(scheduler_->nextDue(), now_ + 1s) << "the save is tried again soon, not in a loop";

    now_ += 1s;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(scheduler_->nextDue(), now_ + 2s) << "backing off";
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("error: the queued update(s) for router,camera stay queued"),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("error:", log.find("error:") + 1), std::string::npos)
        << "the error is logged once a minute, not at every retry: " << log;

    fs::remove(dir_ / "state.yaml.tmp");  // space is back
    now_ += 1s;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u) << "the next try comes at its time";
    now_ += 1s;
    ::testing::internal::CaptureStderr();
    scheduler_->runDue();
    ::testing::internal::GetCapturedStderr();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("5.5.5.5"));

    // kill -9 with the call out: the next start knows the call was made.
    scheduler_.reset();
    start();
    EXPECT_EQ(scheduler_->nextDue(), now_ + 300s) << "no second call inside the window";
}

// The answer to a call cannot be stored: the file is rewritten when it can be, from the timer,
// without waiting for the next update.
TEST_F(UpdateSchedulerTest, StateThatCouldNotBeStoredIsRewrittenWhenSpaceReturns) {
    start();
    submit(0, ip("1.2.3.4"));
    fs::create_directory(dir_ / "state.yaml.tmp");
    ::testing::internal::CaptureStderr();
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Updated});
    EXPECT_EQ(scheduler_->nextDue(), now_ + 1s);
    now_ += 1s;
    scheduler_->runDue();
    EXPECT_EQ(scheduler_->nextDue(), now_ + 2s);

    fs::remove(dir_ / "state.yaml.tmp");
    now_ += 2s;
    scheduler_->runDue();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("stored again"), std::string::npos) << log;
    EXPECT_EQ(scheduler_->nextDue(), std::nullopt) << "nothing left to do";

    scheduler_.reset();
    start();
    EXPECT_EQ(scheduler_->confirmedAddress(accounts_[0]), ip("1.2.3.4"));
    EXPECT_FALSE(statusOf(0).queued) << "the answer reached the file";
}

// A damaged part of the state file is named with the account it belongs to, and the original
// is kept beside it.
TEST_F(UpdateSchedulerTest, DamagedQueuedEntryIsReportedWithItsAccount) {
    {
        std::ofstream out(dir_ / "state.yaml");
        out << "version: 1\ntokens:\n  " << tokenKey(kTokenA)
            << ":\n    last_call: 1699999000\n    consecutive_missing: 0\n"
            << "    queued: {ip: 6.6.6.999, accepted_at: 1699999000, attempts: 0, "
            << "next_attempt: 1699999000}\n";
    }
    ::testing::internal::CaptureStderr();
    start();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("error: state file " + (dir_ / "state.yaml").string() +
                       ": the entry of account(s) router,camera (token AAAA\u2026): queued.ip: "
                       "'6.6.6.999' is not an IP address; the queued update is dropped"),
              std::string::npos)
        << log;
    EXPECT_TRUE(fs::exists(dir_ / "state.yaml.damaged-1700000000"));
    EXPECT_EQ(statusOf(0).lastCall, TimePoint(std::chrono::seconds(1'699'999'000)));
    EXPECT_FALSE(statusOf(0).queued);
}

TEST_F(UpdateSchedulerTest, ClockGoingBackwardsDelaysByAtMostOneWindow) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    now_ = start_ - 24h * 365;  // a Raspberry Pi without RTC, before NTP
    submit(0, ip("5.6.7.8"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(scheduler_->nextDue(), now_ + 300s);
}

// A Raspberry Pi without RTC: NTP steps the wall clock by `step` 2 s after a call. The
// service's window is real time, so the next call goes exactly min_interval after the first,
// by the steady clock: not earlier (a TF, and a device would hear 911), not later.
void UpdateSchedulerTest::expectWindowFollowsTheSteadyClockAfterAStep(std::chrono::seconds step) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 2s;
    jumpWallClock(step);
    submit(0, ip("5.6.7.8"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(scheduler_->nextDue(), now_ + 298s) << "the steady clock says 2 s ago";
    now_ += 297s;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u);
    now_ += 1s;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    EXPECT_EQ(api_.calls[1].ip, ip("5.6.7.8"));
}

TEST_F(UpdateSchedulerTest, AForwardWallClockJumpRightAfterACallDoesNotOpenTheWindow) {
    expectWindowFollowsTheSteadyClockAfterAStep(1h);
}

TEST_F(UpdateSchedulerTest, AWallClockSetBackRightAfterACallDelaysNothing) {
    expectWindowFollowsTheSteadyClockAfterAStep(-1h);
}

// fake-hwclock restored a time an hour behind the real one: the last call stored before the
// restart lies in the future, and the service's window is still shut.
TEST_F(UpdateSchedulerTest, ARestartWithLastCallSlightlyInTheFutureWaitsForIt) {
    start();
    submit(0, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::UpOk);
    const TimePoint lastCall = now_;
    scheduler_.reset();
    now_ -= 1h;  // the restarted Pi's clock is an hour behind
    start();
    submit(0, ip("5.6.7.8"));
    EXPECT_EQ(outcomes_.back(), UpdateOutcome::Queued);
    EXPECT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(scheduler_->nextDue(), lastCall + 300s);
    now_ += 1h;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u);
    now_ += 300s;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 2u);
}

// A device repeating the same address every min_interval while its update waits after failures
// must not undo the back-off: the service sees 5, 10, 20 minutes between calls, not 5, 5, 5.
TEST_F(UpdateSchedulerTest, DeviceRepeatsWhileQueuedAfterFailuresFollowTheBackOff) {
    start();
    std::vector<std::chrono::seconds> callTimes;
    for (int i = 0; i <= 8; ++i) {  // a repeat every 5 minutes for 40 minutes
        const size_t before = api_.calls.size();
        submit(0, ip("1.2.3.4"));
        if (api_.calls.size() > before) {
            callTimes.push_back(std::chrono::duration_cast<std::chrono::seconds>(now_ - start_));
            api_.answer(before, TokenApiCode::Er);
        }
        now_ += 300s;
    }
    EXPECT_EQ(callTimes, (std::vector<std::chrono::seconds>{0s, 300s, 900s, 2100s}));
    EXPECT_EQ(std::count(outcomes_.begin(), outcomes_.end(), UpdateOutcome::Queued), 5);
}

TEST_F(UpdateSchedulerTest, QueuedUpdatesOfRemovedAccountsAreNotSent) {
    start();
    submit(2, ip("1.2.3.4"));
    api_.answer(0, TokenApiCode::Er);
    ::testing::internal::CaptureStderr();
    scheduler_->reconfigure({accounts_[0]}, dynamo_);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("warning: the update queued for office (1.2.3.4) will not be sent"),
              std::string::npos)
        << log;
    EXPECT_EQ(scheduler_->nextDue(), std::nullopt);
    now_ += 2h;
    scheduler_->runDue();
    EXPECT_EQ(api_.calls.size(), 1u);
    EXPECT_EQ(scheduler_->snapshot().size(), 1u);
}

// Local names: the device that sent an accepted update is told the address it sent, so the
// scheduler keeps where the token's updates came from, newest first, each once, bounded.
TEST_F(UpdateSchedulerTest, SubmitRecordsTheSourceNewestFirstOnceEach) {
    start();
    submitFrom(0, ip("1.2.3.4"), ip("192.168.1.1"));
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 10s;
    submitFrom(1, ip("5.5.5.5"), ip("::ffff:192.168.1.7"));  // queued: the window is shut
    submitFrom(0, ip("5.5.5.5"), ip("192.168.1.1"));
    const std::vector<net::IpAddress> expected{ip("192.168.1.1"), ip("192.168.1.7")};
    EXPECT_EQ(statusOf(0).sources, expected);
    EXPECT_EQ(statusOf(1).sources, expected) << "kept per token: the camera shares it";
    EXPECT_TRUE(statusOf(2).sources.empty());
    // Without a source (an internal caller) the list is left alone.
    submit(0, ip("5.5.5.5"));
    EXPECT_EQ(statusOf(0).sources, expected);
    // And it is stored: a restart keeps it.
    start();
    EXPECT_EQ(statusOf(0).sources, expected);
}

TEST_F(UpdateSchedulerTest, SourcesAreBoundedKeepingTheNewest) {
    start();
    for (int i = 1; i <= static_cast<int>(StateStore::kMaxSources) + 4; ++i) {
        now_ += 1s;
        submitFrom(0, ip("1.2.3.4"), ip("10.0.0." + std::to_string(i)));
    }
    const auto sources = statusOf(0).sources;
    ASSERT_EQ(sources.size(), StateStore::kMaxSources);
    EXPECT_EQ(sources.front(), ip("10.0.0.20"));
    EXPECT_EQ(sources.back(), ip("10.0.0.5"));
}

TEST_F(UpdateSchedulerTest, AnUpdateThatCannotBeStoredRecordsNoSource) {
    start();
    fs::create_directory(dir_ / "state.yaml.tmp");  // every save fails now
    ::testing::internal::CaptureStderr();
    submitFrom(0, ip("1.2.3.4"), ip("192.168.1.1"));
    ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(outcomes_, std::vector{UpdateOutcome::Failed});
    EXPECT_TRUE(statusOf(0).sources.empty());
    EXPECT_FALSE(statusOf(0).acceptedIp);
    EXPECT_TRUE(accepted_.empty()) << "a refused update is not accepted";
}

// The newest accepted address: queued, else in flight, else confirmed.
TEST_F(UpdateSchedulerTest, AcceptedIpIsTheNewestAcceptedAddress) {
    start();
    EXPECT_FALSE(statusOf(0).acceptedIp);
    submit(0, ip("1.2.3.4"));
    EXPECT_EQ(statusOf(0).acceptedIp, ip("1.2.3.4")) << "in flight";
    EXPECT_FALSE(statusOf(0).confirmedIp);
    now_ += 10s;
    submit(0, ip("5.5.5.5"));
    EXPECT_EQ(statusOf(0).acceptedIp, ip("5.5.5.5")) << "queued behind the call";
    api_.answer(0, TokenApiCode::UpOk);
    EXPECT_EQ(statusOf(0).confirmedIp, ip("1.2.3.4"));
    EXPECT_EQ(statusOf(0).acceptedIp, ip("5.5.5.5")) << "still queued";
    EXPECT_EQ(statusOf(1).acceptedIp, ip("5.5.5.5")) << "per token";
    now_ += 300s;
    scheduler_->runDue();
    ASSERT_EQ(api_.calls.size(), 2u);
    api_.answer(1, TokenApiCode::UpOk);
    EXPECT_EQ(statusOf(0).acceptedIp, ip("5.5.5.5")) << "confirmed";
    EXPECT_FALSE(statusOf(2).acceptedIp);
}

// The daemon refreshes the resolver's local names from this hook: it must fire for every
// update the device is told was accepted, however it was decided.
TEST_F(UpdateSchedulerTest, OnAcceptedFiresOnEveryAcceptedUpdate) {
    start();
    submit(0, ip("1.2.3.4"));  // sent at once
    EXPECT_EQ(accepted_, std::vector<std::string>{"router"}) << "before the answer";
    api_.answer(0, TokenApiCode::UpOk);
    now_ += 10s;
    submit(1, ip("1.2.3.4"));  // already published: nochg, no call
    submit(0, ip("5.5.5.5"));  // the window is shut: queued
    submit(2, ip("9.9.9.9"));  // another token: sent
    api_.answer(1, TokenApiCode::Nc);
    EXPECT_EQ(outcomes_, (std::vector{UpdateOutcome::Updated, UpdateOutcome::NoChange,
                                      UpdateOutcome::Queued, UpdateOutcome::NoChange}));
    EXPECT_EQ(accepted_, (std::vector<std::string>{"router", "camera", "router", "office"}));
}

TEST_F(UpdateSchedulerTest, SnapshotNeverShowsTheWholeToken) {
    start();
    const auto statuses = scheduler_->snapshot();
    ASSERT_EQ(statuses.size(), 3u);
    EXPECT_EQ(statuses[0].username, "router");
    EXPECT_EQ(statuses[0].maskedToken, "AAAA\u2026");
    EXPECT_EQ(statuses[0].lastResult, "");
    EXPECT_FALSE(statuses[0].queued);
}

TEST(ResultCode, NamesEveryWayACallEnds) {
    EXPECT_EQ(resultCode({TokenApiResult::Transport::DnsFailed, 0, TokenApiCode::Unknown, ""}),
              "dns-failed");
    EXPECT_EQ(resultCode({TokenApiResult::Transport::ConnectFailed, 0, TokenApiCode::Unknown, ""}),
              "connect-failed");
    EXPECT_EQ(resultCode({TokenApiResult::Transport::Ok, 200, TokenApiCode::UpEr, ""}), "UP,ER");
    EXPECT_EQ(describeResult("NR"), compat::describe(TokenApiCode::Nr));
    EXPECT_EQ(describeResult("http-502"), "the service answered HTTP 502 (a service problem)");
    EXPECT_EQ(describeResult(""), "");
}

}  // namespace
}  // namespace dynamo::gateway
