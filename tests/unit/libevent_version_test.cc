// The HTTP server and its connection guard rely on how libevent 2.1.12's evhttp frees requests
// and connections (gateway/http/http_server.h). CMake refuses other versions at build time;
// this catches a different shared library at run time (a distribution update under the same
// soname), before the HTTP tests fail in a less obvious way.

#include <event2/event.h>
#include <gtest/gtest.h>

namespace {

TEST(Libevent, IsTheReleaseTheHttpServerWasProvenAgainst) {
    // event_get_version_number(): 0xMMmmpp00 (major, minor, patch; the low byte is the
    // release status, 0 for -stable).
    const ev_uint32_t running = event_get_version_number();
    EXPECT_EQ(running >> 8, 0x02010cU) << "running libevent " << event_get_version();
    EXPECT_EQ(static_cast<ev_uint32_t>(LIBEVENT_VERSION_NUMBER) >> 8, 0x02010cU)
        << "built against libevent " << LIBEVENT_VERSION;
}

}  // namespace
