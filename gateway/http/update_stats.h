#pragma once
// The update endpoint's counters as plain data (UpdateEndpoint::stats()), in a header of their
// own so the status views hold a copy without including the endpoint (and with it evhttp).

#include <cstdint>

namespace dynamo::gateway {

struct UpdateStats {
    uint64_t requests = 0;
    uint64_t badAuth = 0;
    uint64_t good = 0;
    uint64_t noChange = 0;
    uint64_t queued = 0;
    uint64_t failed = 0;  // 911
};

}  // namespace dynamo::gateway
