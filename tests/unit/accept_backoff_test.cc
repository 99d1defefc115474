// AcceptBackoff in process: the test lowers its own RLIMIT_NOFILE, runs out of descriptors,
// and watches the listener pause instead of spinning, then accept once descriptors are free.

#include "net/accept_backoff.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "event_loop_util.h"
#include "net/handles.h"
#include "net/log.h"

namespace dynamo::net {
namespace {

// Restores the descriptor limit however the test ends.
class ScopedNofileLimit {
  public:
    explicit ScopedNofileLimit(rlim_t soft) {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit lowered = saved_;
        lowered.rlim_cur = soft;
        ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
    }
    ~ScopedNofileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
    bool ok() const { return ok_; }

  private:
    rlimit saved_{};
    bool ok_ = false;
};

struct Accepted {
    int count = 0;
    std::vector<UniqueFd> fds;
};

void onAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
    auto* accepted = static_cast<Accepted*>(arg);
    ++accepted->count;
    accepted->fds.emplace_back(fd);
}

TEST(AcceptBackoffTest, RunningOutOfDescriptorsPausesTheListenerAndItResumes) {
    EventBasePtr base(event_base_new());
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Accepted accepted;
    ListenerPtr listener(evconnlistener_new_bind(
        base.get(), &onAccept, &accepted, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
        reinterpret_cast<sockaddr*>(&address), sizeof address));
    ASSERT_TRUE(listener);
    socklen_t length = sizeof address;
    ::getsockname(evconnlistener_get_fd(listener.get()), reinterpret_cast<sockaddr*>(&address),
                  &length);
    AcceptBackoff backoff(listener.get());

    // The client's socket exists before descriptors run out: only the server side lacks one.
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    ASSERT_TRUE(client);

    // The backoff's warning is not logged while descriptors are out: UBSan's vptr check of the
    // log line's ostringstream probes memory through a pipe(), and with no descriptor left it
    // reports a false "invalid vptr". Without sanitizers logging needs no descriptor.
    const log::Level savedLevel = log::level();
    log::setLevel(log::Level::Error);
    struct RestoreLevel {
        log::Level level;
        ~RestoreLevel() { log::setLevel(level); }
    } restoreLevel{savedLevel};

    // A low limit, then every remaining descriptor taken (the loop needs none per turn).
    UniqueFd probe(::dup(0));
    ASSERT_TRUE(probe);
    const ScopedNofileLimit limit(static_cast<rlim_t>(probe.get()) + 32);
    ASSERT_TRUE(limit.ok());
    std::vector<UniqueFd> hogs;
    for (;;) {
        UniqueFd fd(::fcntl(probe.get(), F_DUPFD_CLOEXEC, 0));
        if (!fd) {
            ASSERT_EQ(errno, EMFILE);
            break;
        }
        hogs.push_back(std::move(fd));
    }
    ASSERT_FALSE(hogs.empty());

    const int connected =
        ::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
    ASSERT_TRUE(connected == 0 || errno == EINPROGRESS);

    // accept() fails with EMFILE: the listener pauses rather than firing again at once.
    ASSERT_TRUE(test::runUntil(base.get(), [&] { return backoff.pauses() >= 1; }));
    test::runUntil(
        base.get(), [] { return false; }, std::chrono::milliseconds(300));
    EXPECT_EQ(backoff.pauses(), 1u);  // paused, not spinning on the pending connection
    EXPECT_EQ(accepted.count, 0);

    // Descriptors come back: within the pause (a second) plus slack the connection is taken.
    hogs.clear();
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(test::runUntil(
        base.get(), [&] { return accepted.count == 1; }, std::chrono::milliseconds(1500)));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
    EXPECT_EQ(backoff.pauses(), 1u);
}

}  // namespace
}  // namespace dynamo::net
