#pragma once
// The daemon's device list: the observer the resolver and the HTTP side report clients to, the
// table behind /devices and /devices.json, and its file in state_dir. Loaded at start; written
// at most every kSaveInterval while it changes, and at a clean stop (save()).
//
// One thread, one event_base, no locks.

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <string>

#include "gateway/devices/device_table.h"
#include "gateway/http/update_observer.h"
#include "net/handles.h"
#include "resolver/client_observer.h"

namespace dynamo::gateway {

class DeviceRecorder final : public resolver::ClientObserver, public UpdateObserver {
  public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    static constexpr std::chrono::seconds kSaveInterval{60};

    // Loads state_dir/devices.yaml (a damaged file is moved aside, never fatal).
    DeviceRecorder(event_base* base, std::string stateDir,
                   Clock clock = std::chrono::system_clock::now);

    void interceptedQuery(const net::IpAddress& client, std::string_view name) override;
    void updateSeen(const UpdateSeen& update) override;
    void tlsHandshakeFailed(const net::IpAddress& client, const std::string& reason,
                            bool fromClient) override;

    const DeviceTable& table() const { return table_; }
    // Writes the file when something changed since the last write; errors are logged.
    void save();

  private:
    static void onSaveTimer(evutil_socket_t, short, void* arg);
    int64_t now() const;

    std::string stateDir_;
    Clock clock_;
    DeviceTable table_;
    net::EventPtr saveTimer_;
};

}  // namespace dynamo::gateway
