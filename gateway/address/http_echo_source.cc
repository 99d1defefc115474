#include "gateway/address/http_echo_source.h"

#include "gateway/address/address_text.h"
#include "gateway/updates/http_client.h"
#include "net/handles.h"

namespace dynamo::gateway {
namespace {

// An echo page is one small GET; ten seconds cover a slow one.
constexpr std::chrono::seconds kEchoTimeout{10};

class HttpEchoSource final : public AddressSource {
  public:
    HttpEchoSource(event_base* base, std::string url, std::unique_ptr<HttpClient> client)
        : url_(std::move(url)), label_("http " + url_), client_(std::move(client)) {
        busyTimer_.reset(evtimer_new(base, &HttpEchoSource::onBusy, this));
    }

    std::string kind() const override { return "http"; }

    void ask(Done done) override {
        if (busy_) {
            // Answered from an event of its own, never inside ask().
            refused_.push_back(std::move(done));
            const timeval now{0, 0};
            evtimer_add(busyTimer_.get(), &now);
            return;
        }
        busy_ = true;
        HttpRequest request;
        request.method = HttpRequest::Method::Get;
        request.url = url_;
        client_->request(request, [this, done = std::move(done)](const HttpResult& result) {
            busy_ = false;
            done(answerFor(result));  // may destroy this source: nothing of it after
        });
    }

  private:
    static void onBusy(evutil_socket_t, short, void* arg) {
        auto* self = static_cast<HttpEchoSource*>(arg);
        auto refused = std::move(self->refused_);
        self->refused_.clear();
        const AddressAnswer answer{self->label_, std::nullopt, "a question is already in flight"};
        for (auto& done : refused)
            done(answer);
    }

    AddressAnswer answerFor(const HttpResult& result) const {
        AddressAnswer answer{label_, std::nullopt, ""};
        if (!result.answered()) {
            answer.error = std::string(toString(result.failure));
            if (!result.detail.empty())
                answer.error += ": " + result.detail;
        } else if (result.status != 200) {
            answer.error = "HTTP status " + std::to_string(result.status);
        } else if (result.bodyTooLarge) {
            answer.error = "the body is too large for an echo page";
        } else if (auto address = parseEchoBody(result.body)) {
            answer.address = address;
        } else {
            answer.error = "the body holds no IPv4 address";
        }
        return answer;
    }

    std::string url_;
    std::string label_;
    bool busy_ = false;
    std::vector<Done> refused_;
    net::EventPtr busyTimer_;
    std::unique_ptr<HttpClient> client_;  // last: destroyed first, cancelling silently
};

}  // namespace

std::unique_ptr<AddressSource> makeHttpEchoSource(event_base* base, const std::string& url,
                                                  const config::Config& config,
                                                  std::string* error) {
    HttpClient::Options options;
    options.purpose = "the public address echo " + url;
    options.caFile = config.dynamo.caFile;
    options.dnsServers = config.dns.upstreams;
    // The address wanted is the network's IPv4 one: the echo must see the question come over
    // IPv4.
    options.ipv4Only = true;
    options.timeout = kEchoTimeout;
    auto client = HttpClient::create(base, std::move(options), error);
    if (!client)
        return nullptr;
    return std::make_unique<HttpEchoSource>(base, url, std::move(client));
}

}  // namespace dynamo::gateway
