#include "gateway/alerts/alert_dispatcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>

#include "net/error_text.h"
#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::gateway {
namespace {

// What an exec command gets besides the DYNAMO_* fields: a plain PATH, nothing of the
// daemon's own environment.
constexpr const char* kExecPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string exitText(int status) {
    if (WIFEXITED(status))
        return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
    return "ended";
}

}  // namespace

std::unique_ptr<AlertDispatcher> AlertDispatcher::create(event_base* base,
                                                         const config::Config& config,
                                                         std::string* error) {
    std::unique_ptr<AlertDispatcher> self(new AlertDispatcher(base, config.alerts.channels));
    bool needsHttp = false;
    for (const auto& channel : config.alerts.channels)
        needsHttp = needsHttp || channel.type != config::AlertChannel::Type::Exec;
    if (needsHttp) {
        self->poster_ = HttpPoster::create(base, config.dynamo.caFile, config.dns.upstreams,
                                           config.dynamo.timeout, error);
        if (!self->poster_)
            return nullptr;
    }
    return self;
}

AlertDispatcher::AlertDispatcher(event_base* base, std::vector<config::AlertChannel> configs)
    : base_(base), configs_(std::move(configs)) {
    for (size_t i = 0; i < configs_.size(); ++i) {
        auto channel = std::make_unique<Channel>();
        channel->owner = this;
        channel->index = i;
        channel->stats.label = channelLabel(configs_[i]);
        channel->retryTimer.reset(evtimer_new(base_, &AlertDispatcher::onRetry, channel.get()));
        channels_.push_back(std::move(channel));
    }
    // libevent turns the signal into an event on the loop (its own self-pipe), so reaping
    // happens here and not in a signal handler. waitpid() is asked for our children only.
    sigchld_.reset(evsignal_new(base_, SIGCHLD, &AlertDispatcher::onSigchld, this));
    event_add(sigchld_.get(), nullptr);
}

AlertDispatcher::~AlertDispatcher() {
    poster_.reset();  // cancels posts without calling back
    for (auto& [pid, child] : children_) {
        ::kill(pid, SIGKILL);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

std::vector<AlertChannelStats> AlertDispatcher::stats() const {
    std::vector<AlertChannelStats> result;
    for (const auto& channel : channels_)
        result.push_back(channel->stats);
    return result;
}

size_t AlertDispatcher::pending() const {
    size_t count = 0;
    for (const auto& channel : channels_)
        count += channel->queue.size();
    return count;
}

void AlertDispatcher::raise(AlertEvent event) {
    bool wanted = false;
    for (const auto& config : configs_)
        wanted = wanted || channelWants(config, event.kind);
    if (!wanted)
        return;
    if (!limiter_.admit(event, std::chrono::steady_clock::now())) {
        ++rateLimited_;
        DLOG(Info) << "alert " << alertKindName(event.kind)
                   << (event.account.empty() ? "" : " for " + event.account)
                   << " not sent: rate limited";
        return;
    }
    DLOG(Info) << "alert " << alertKindName(event.kind) << ": " << event.message;
    for (size_t i = 0; i < channels_.size(); ++i) {
        if (channelWants(configs_[i], event.kind))
            enqueue(i, Pending{event, 0, kMaxAlertAttempts, {}});
    }
}

void AlertDispatcher::sendOnce(const AlertEvent& event, Report report) {
    for (size_t i = 0; i < channels_.size(); ++i) {
        enqueue(i, Pending{event, 0, 1, [report, i](bool delivered, const std::string& detail) {
                               report(i, delivered, detail);
                           }});
    }
}

void AlertDispatcher::enqueue(size_t index, Pending pending) {
    Channel& channel = *channels_[index];
    // The front may be in flight; drop the oldest waiting behind it.
    if (channel.queue.size() >= kMaxQueuedAlerts) {
        const size_t victim = channel.sending || channel.queue.size() == 1 ? 1 : 0;
        if (victim < channel.queue.size()) {
            ++channel.stats.dropped;
            DLOG(Warning) << "alerts: " << channel.stats.label << ": queue full, dropped "
                          << alertKindName(channel.queue[victim].event.kind);
            channel.queue.erase(channel.queue.begin() + static_cast<std::ptrdiff_t>(victim));
        }
    }
    channel.queue.push_back(std::move(pending));
    pump(channel);
}

void AlertDispatcher::pump(Channel& channel) {
    if (channel.sending || channel.queue.empty() ||
        evtimer_pending(channel.retryTimer.get(), nullptr))
        return;
    channel.sending = true;
    ++channel.queue.front().attempts;
    deliver(channel, channel.queue.front().event);
}

void AlertDispatcher::deliver(Channel& channel, const AlertEvent& event) {
    const config::AlertChannel& config = configs_[channel.index];
    const size_t index = channel.index;
    const auto done = [this, index](const PostResult& result) {
        finished(index, result.delivered, result.detail);
    };
    switch (config.type) {
        case config::AlertChannel::Type::Webhook:
            poster_->post(config.url, config.headers, "application/json", webhookBody(event), done);
            return;
        case config::AlertChannel::Type::Ntfy:
            // ntfy: the message is the body, the title a header (docs.ntfy.sh "Message title").
            poster_->post(config.url, {{"Title", ntfyTitle(event)}}, "text/plain; charset=utf-8",
                          event.message, done);
            return;
        case config::AlertChannel::Type::Exec:
            spawn(channel, event);
            return;
    }
}

void AlertDispatcher::spawn(Channel& channel, const AlertEvent& event) {
    const std::string& command = configs_[channel.index].command;
    std::vector<std::string> env = execEnvironment(event);
    env.emplace_back(kExecPath);
    std::vector<char*> envp;
    for (auto& entry : env)
        envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string program = command;
    char* argv[] = {program.data(), nullptr};

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // The child starts with default signal dispositions and an empty mask (SIGPIPE is ignored
    // here).
    sigset_t all;
    sigfillset(&all);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = 0;
    const int error =
        ::posix_spawn(&pid, command.c_str(), &actions, &attributes, argv, envp.data());
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) {
        // Never inside pump()'s caller's frame for a post; here the channel's state is plain,
        // so finishing at once is safe.
        finished(channel.index, false, "cannot run " + command + ": " + net::errnoText(error));
        return;
    }
    auto child = std::make_unique<Child>();
    child->channel = channel.index;
    child->owner = this;
    child->pid = pid;
    child->killTimer.reset(evtimer_new(base_, &AlertDispatcher::onKill, child.get()));
    const timeval limit = net::toTimeval(kExecTimeLimit);
    evtimer_add(child->killTimer.get(), &limit);
    children_.emplace(pid, std::move(child));
    // A child may have ended before its entry existed: look now as well as on SIGCHLD.
    onSigchld(SIGCHLD, EV_SIGNAL, this);
}

void AlertDispatcher::onKill(evutil_socket_t, short, void* arg) {
    auto* child = static_cast<Child*>(arg);
    child->killed = true;
    ::kill(child->pid, SIGKILL);  // reaped on the SIGCHLD that follows
}

void AlertDispatcher::onSigchld(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<AlertDispatcher*>(arg);
    std::vector<std::pair<size_t, std::string>> ended;
    std::vector<bool> ok;
    for (auto it = self->children_.begin(); it != self->children_.end();) {
        int status = 0;
        const pid_t reaped = ::waitpid(it->first, &status, WNOHANG);
        if (reaped == 0 || (reaped < 0 && errno == EINTR)) {
            ++it;
            continue;
        }
        const Child& child = *it->second;
        const bool success = reaped > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        std::string detail = reaped < 0 ? "lost: " + net::errnoText(errno)
                             : child.killed
                                 ? "killed after " + std::to_string(kExecTimeLimit.count()) + "s"
                                 : exitText(status);
        ended.emplace_back(child.channel, std::move(detail));
        ok.push_back(success);
        it = self->children_.erase(it);
    }
    for (size_t i = 0; i < ended.size(); ++i)
        self->finished(ended[i].first, ok[i], ended[i].second);
}

void AlertDispatcher::finished(size_t index, bool delivered, const std::string& detail) {
    Channel& channel = *channels_[index];
    channel.sending = false;
    if (channel.queue.empty())
        return;
    Pending& front = channel.queue.front();
    channel.stats.lastTime = std::chrono::system_clock::now();
    if (delivered) {
        ++channel.stats.sent;
        channel.stats.lastResult = "delivered (" + detail + ")";
        DLOG(Info) << "alerts: " << channel.stats.label << ": " << alertKindName(front.event.kind)
                   << " delivered";
    } else if (front.attempts < front.maxAttempts) {
        channel.stats.lastResult = "failed, retrying: " + detail;
        const auto delay = alertRetryDelay(front.attempts);
        DLOG(Warning) << "alerts: " << channel.stats.label << ": "
                      << alertKindName(front.event.kind) << " failed (" << detail
                      << "); retrying in " << delay.count() << "s";
        const timeval wait = net::toTimeval(delay);
        evtimer_add(channel.retryTimer.get(), &wait);
        return;
    } else {
        ++channel.stats.failed;
        channel.stats.lastResult = "failed: " + detail;
        DLOG(Warning) << "alerts: " << channel.stats.label << ": "
                      << alertKindName(front.event.kind) << " given up after " << front.attempts
                      << (front.attempts == 1 ? " try" : " tries") << " (" << detail << ")";
    }
    auto report = std::move(front.report);
    channel.queue.pop_front();
    pump(channel);
    if (report)
        report(delivered, detail);  // last: it may stop the loop
}

void AlertDispatcher::onRetry(evutil_socket_t, short, void* arg) {
    auto* channel = static_cast<Channel*>(arg);
    channel->owner->pump(*channel);
}

}  // namespace dynamo::gateway
