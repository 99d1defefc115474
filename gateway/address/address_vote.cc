#include "gateway/address/address_vote.h"

#include <algorithm>
#include <cstdint>

#include "net/ip_ranges.h"

namespace dynamo::gateway {
namespace {

bool inV4(const net::IpAddress& address, uint8_t a, uint8_t b, unsigned prefix) {
    const uint8_t* bytes = address.bytes();
    const uint32_t value = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
                           (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]};
    const uint32_t network = (uint32_t{a} << 24) | (uint32_t{b} << 16);
    const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    return (value & mask) == network;
}

std::string joined(const std::vector<std::string>& parts) {
    std::string text;
    for (const auto& part : parts)
        text += (text.empty() ? "" : ", ") + part;
    return text;
}

}  // namespace

AddressClass classifyAddress(const net::IpAddress& address) {
    if (!address.isV4())
        return AddressClass::Other;
    if (inV4(address, 10, 0, 8) || inV4(address, 172, 16, 12) || inV4(address, 192, 168, 16))
        return AddressClass::Private;
    if (inV4(address, 100, 64, 10))
        return AddressClass::Shared;
    if (inV4(address, 169, 254, 16))
        return AddressClass::LinkLocal;
    if (inV4(address, 127, 0, 8))
        return AddressClass::Loopback;
    return net::isPublicUnicast(address) ? AddressClass::Public : AddressClass::Other;
}

std::string_view describeClass(AddressClass kind) {
    switch (kind) {
        case AddressClass::Public:
            return "public";
        case AddressClass::Private:
            return "private (RFC 1918)";
        case AddressClass::Shared:
            return "carrier-grade NAT (RFC 6598)";
        case AddressClass::LinkLocal:
            return "link-local";
        case AddressClass::Loopback:
            return "loopback";
        case AddressClass::Other:
            return "not a public IPv4 address";
    }
    return "";
}

Verdict decide(const std::vector<Voice>& voices, size_t configuredSources) {
    Verdict verdict;
    // Public addresses in the order first heard, with who said each.
    struct Count {
        net::IpAddress address;
        std::vector<std::string> sources;
        bool configured = false;  // at least one voice is a configured source, not a device
    };
    std::vector<Count> tally;
    for (const Voice& voice : voices) {
        if (!voice.address || classifyAddress(*voice.address) != AddressClass::Public)
            continue;
        auto it = std::find_if(tally.begin(), tally.end(),
                               [&](const Count& entry) { return entry.address == *voice.address; });
        if (it == tally.end()) {
            tally.push_back({*voice.address, {}, false});
            it = tally.end() - 1;
        }
        it->sources.push_back(voice.source);
        it->configured = it->configured || voice.kind != "device";
    }
    size_t best = 0;
    size_t bestCount = 0;  // how many addresses have `best` votes
    for (const Count& entry : tally) {
        if (entry.sources.size() > best) {
            best = entry.sources.size();
            bestCount = 1;
        } else if (entry.sources.size() == best) {
            ++bestCount;
        }
    }
    for (const Count& entry : tally) {
        if (bestCount != 1 || entry.sources.size() != best)
            continue;
        // Two voices, or the one configured source alone (a device alone is not enough).
        if (best >= 2 || (configuredSources == 1 && entry.configured)) {
            verdict.believed = entry.address;
            verdict.agreeing = entry.sources;
        }
    }
    if (tally.size() > 1) {
        std::string text;
        for (const Count& entry : tally) {
            text += (text.empty() ? "" : " against ") + entry.address.toString() + " (" +
                    joined(entry.sources) + ")";
        }
        verdict.disagreement = text;
    }
    // Carrier-grade or double NAT: the router's own external address is not the Internet's
    // view of this network, so a port forwarded on it leads nowhere.
    for (const Voice& voice : voices) {
        if (!voice.address)
            continue;
        const AddressClass kind = classifyAddress(*voice.address);
        if (voice.kind == "router") {
            if (kind != AddressClass::Public) {
                verdict.cgnat = "the router's external address " + voice.address->toString() +
                                " is " + std::string(describeClass(kind));
                break;
            }
            if (verdict.believed && *voice.address != *verdict.believed) {
                verdict.cgnat = "the router's external address " + voice.address->toString() +
                                " differs from the address the Internet sees (" +
                                verdict.believed->toString() + "): double NAT";
                break;
            }
        } else if (kind == AddressClass::Private || kind == AddressClass::Shared) {
            // A service outside saw the question come from a private address: it sits inside
            // the carrier's network, behind the same NAT as this one.
            verdict.cgnat = voice.source + " sees " + voice.address->toString() + ", " +
                            std::string(describeClass(kind));
            break;
        }
    }
    return verdict;
}

}  // namespace dynamo::gateway
