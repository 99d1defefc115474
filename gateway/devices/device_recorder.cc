#include "gateway/devices/device_recorder.h"

#include "gateway/devices/devices_file.h"
#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::gateway {

DeviceRecorder::DeviceRecorder(event_base* base, std::string stateDir, Clock clock)
    : stateDir_(std::move(stateDir)), clock_(std::move(clock)) {
    loadDevices(stateDir_, &table_, now());
    table_.markClean();
    // A timer, not a write per event: a client can make events as fast as it sends packets, and
    // an SD card should not see a write for each.
    saveTimer_.reset(event_new(base, -1, EV_PERSIST, &DeviceRecorder::onSaveTimer, this));
    const timeval every = net::toTimeval(kSaveInterval);
    event_add(saveTimer_.get(), &every);
}

int64_t DeviceRecorder::now() const {
    return std::chrono::floor<std::chrono::seconds>(clock_()).time_since_epoch().count();
}

void DeviceRecorder::interceptedQuery(const net::IpAddress& client, std::string_view name) {
    table_.interceptedQuery(client.unmapped().toString(), name, now());
}

void DeviceRecorder::updateSeen(const UpdateSeen& update) {
    UpdateSeen copy = update;
    copy.client = update.client.unmapped();
    table_.updateSeen(copy, now());
}

void DeviceRecorder::tlsHandshakeFailed(const net::IpAddress& client, const std::string& reason,
                                        bool fromClient) {
    table_.tlsHandshakeFailed(client.unmapped().toString(), reason, fromClient, now());
}

void DeviceRecorder::save() {
    if (!table_.dirty())
        return;
    std::string error;
    if (!saveDevices(stateDir_, table_, &error)) {
        DLOG(Error) << "device list not saved: " << error;
        return;  // still dirty: the next tick tries again
    }
    table_.markClean();
}

void DeviceRecorder::onSaveTimer(evutil_socket_t, short, void* arg) {
    static_cast<DeviceRecorder*>(arg)->save();
}

}  // namespace dynamo::gateway
