#pragma once
// dynamo-gateway --config FILE --test-notify (docs/operations.md#test-notify): one "test" alert
// on every channel of alerts.channels, one try each, a line per channel on stdout saying what
// happened; the exit status is kExitOk when every channel delivered, kExitFailure otherwise.

#include "config/config.h"

namespace dynamo::gateway {

int testNotify(const config::Config& config);

}  // namespace dynamo::gateway
