#include "resolver/local_records.h"

#include <algorithm>
#include <cctype>

namespace dynamo::resolver {
namespace {

constexpr uint16_t kClassAny = 255;  // QCLASS * (RFC 1035 §3.2.5)
constexpr uint16_t kTypeHinfo = 13;  // RFC 1035 §3.3.2
constexpr size_t kMaxChain = 8;      // CNAMEs followed in one answer (the config has no loops)
constexpr size_t kMaxTxtString = 255;

void appendName(std::vector<uint8_t>& out, std::string_view name) {
    const auto wire = dns::nameToWire(name).value_or(std::string(1, '\0'));
    out.insert(out.end(), wire.begin(), wire.end());
}

// RFC 1035 §3.3.14: one or more <character-string>s of at most 255 bytes each.
std::vector<uint8_t> txtRdata(std::string_view text) {
    std::vector<uint8_t> out;
    do {
        const std::string_view part = text.substr(0, kMaxTxtString);
        out.push_back(static_cast<uint8_t>(part.size()));
        out.insert(out.end(), part.begin(), part.end());
        text.remove_prefix(part.size());
    } while (!text.empty());
    return out;
}

// The address a reverse name stands for (RFC 1035 §3.5, RFC 3596 §2.5); nullopt otherwise.
std::optional<net::IpAddress> reverseAddress(std::string_view name) {
    constexpr std::string_view kV4 = ".in-addr.arpa";
    constexpr std::string_view kV6 = ".ip6.arpa";
    if (name.ends_with(kV4)) {
        name.remove_suffix(kV4.size());
        std::vector<std::string_view> labels;
        size_t start = 0;
        while (true) {
            const size_t dot = name.find('.', start);
            labels.push_back(name.substr(start, dot - start));
            if (dot == std::string_view::npos)
                break;
            start = dot + 1;
        }
        if (labels.size() != 4)
            return std::nullopt;
        std::string text;
        for (size_t i = 4; i-- > 0;) {
            if (labels[i].empty() || labels[i].size() > 3)
                return std::nullopt;
            text += std::string(labels[i]) + (i ? "." : "");
        }
        auto ip = net::IpAddress::parse(text);
        return ip && ip->isV4() ? ip : std::nullopt;
    }
    if (name.ends_with(kV6)) {
        name.remove_suffix(kV6.size());
        if (name.size() != 63)
            return std::nullopt;
        std::string hex;
        for (size_t i = 0; i < 32; ++i) {
            const char c = name[62 - 2 * i];
            if (i < 31 && name[62 - 2 * i - 1] != '.')
                return std::nullopt;
            if (!std::isxdigit(static_cast<unsigned char>(c)))
                return std::nullopt;
            hex.push_back(c);
            if (i % 4 == 3 && i != 31)
                hex.push_back(':');
        }
        return net::IpAddress::parse(hex);
    }
    return std::nullopt;
}

bool contains(const std::vector<net::IpAddress>& list, const net::IpAddress& ip) {
    return std::find(list.begin(), list.end(), ip.unmapped()) != list.end();
}

std::string joined(const std::vector<net::IpAddress>& addresses) {
    std::string text;
    for (const auto& address : addresses)
        text += (text.empty() ? "" : ", ") + address.toString();
    return text;
}

}  // namespace

LocalRecords::LocalRecords(const config::DnsConfig& config)
    : records_(config.records), ttl_(config.recordsTtl) {
    for (const auto& set : records_) {
        const std::string_view name = set.name;
        recordWire_.push_back(
            dns::nameToWire(name.starts_with("*.") ? name.substr(2) : name).value_or(""));
    }
    // Private addresses (RFC 1918, RFC 6598, link-local, ULA): the only ones whose reverse
    // names we answer; a public address's PTR belongs to its owner's zone.
    std::vector<net::Cidr> ranges;
    for (auto text : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                      "169.254.0.0/16", "fc00::/7", "fe80::/10"}) {
        ranges.push_back(*net::Cidr::parse(text));
    }
    private_ = net::CidrSet(std::move(ranges));
}

const AccountAddresses* LocalRecords::accountWithToken(std::string_view token) const {
    for (const auto& account : accounts_) {
        if (!account.ipToken.empty() && account.ipToken == token)
            return &account;
    }
    return nullptr;
}

void LocalRecords::setAccounts(std::vector<AccountAddresses> accounts) {
    accounts_ = std::move(accounts);
    accountWire_.clear();
    for (const auto& account : accounts_) {
        std::vector<std::string>& wires = accountWire_.emplace_back();
        for (const std::string& name : account.names)
            wires.push_back(dns::nameToWire(name).value_or(""));
    }
}

std::optional<LocalRecords::Set> LocalRecords::find(std::string_view nameWire) const {
    Set set;
    for (size_t i = 0; i < accounts_.size(); ++i) {
        const auto& wires = accountWire_[i];
        if (std::find(wires.begin(), wires.end(), nameWire) != wires.end()) {
            set.account = &accounts_[i];
            break;
        }
    }
    size_t best = 0;
    for (size_t i = 0; i < records_.size(); ++i) {
        if (records_[i].name.starts_with("*.")) {
            // RFC 4592 §3.3.1, simplified: the longest wildcard above the name wins, an exact
            // name wins over every wildcard.
            if (!set.records && dns::isStrictlyBelow(nameWire, recordWire_[i]) &&
                recordWire_[i].size() >= best) {
                best = recordWire_[i].size();
                set.records = &records_[i];
            }
        } else if (recordWire_[i] == nameWire) {
            set.records = &records_[i];
            break;
        }
    }
    if (!set.records && !set.account)
        return std::nullopt;
    // A wildcard does not stand for an account's own name: an exact local name owns it.
    if (set.account && set.records && set.records->name.starts_with("*."))
        set.records = nullptr;
    return set;
}

std::optional<std::vector<net::IpAddress>> LocalRecords::addresses(
    const Set& set, int family, const net::IpAddress& client) const {
    std::vector<net::IpAddress> out;
    if (set.account) {
        const auto& address = set.account->address;
        const bool updater = contains(set.account->sources, client);
        const bool recorded =
            set.records && (!set.records->a.empty() || !set.records->aaaa.empty());
        // The device that updated the name sees what it published (it checks its update);
        // the others see dns.records' entry (the LAN address: NAT loopback), else the
        // published one ahead of propagation. No address yet: the world's answer.
        if ((updater && address) || (!recorded && address)) {
            if (address->family() == family)
                out.push_back(*address);
            return out;
        }
        if (!recorded)
            return std::nullopt;
    }
    if (!set.records)
        return out;
    for (const std::string& value : family == AF_INET ? set.records->a : set.records->aaaa) {
        if (config::isIpToken(value)) {
            const AccountAddresses* owner = accountWithToken(value);
            if (!owner || !owner->address)
                return std::nullopt;  // forwarded until the account has an address
            if (owner->address->family() == family)
                out.push_back(*owner->address);
        } else if (auto ip = net::IpAddress::parse(value)) {
            out.push_back(*ip);
        }
    }
    // A token in the other family's list with no address yet also makes the name forwarded:
    // answering NODATA for one family while the other is unknown would be half a truth.
    for (const std::string& value : family == AF_INET ? set.records->aaaa : set.records->a) {
        if (config::isIpToken(value)) {
            const AccountAddresses* owner = accountWithToken(value);
            if (!owner || !owner->address)
                return std::nullopt;
        }
    }
    return out;
}

std::optional<std::vector<uint8_t>> LocalRecords::answerPtr(std::span<const uint8_t> queryBytes,
                                                            const dns::Message& query) const {
    const auto ip = reverseAddress(query.qname());
    if (!ip || !private_.contains(*ip))
        return std::nullopt;
    dns::ResponseWriter writer(queryBytes, query);
    for (const auto& set : records_) {
        if (set.name.starts_with("*."))
            continue;
        const auto& list = ip->isV4() ? set.a : set.aaaa;
        const bool named = std::any_of(list.begin(), list.end(), [&](const std::string& value) {
            return net::IpAddress::parse(value) == *ip;
        });
        if (named) {
            std::vector<uint8_t> rdata;
            appendName(rdata, set.name);
            writer.addAnswer(dns::type::PTR, ttl_, rdata);
        }
    }
    return writer.finish();
}

std::optional<std::vector<uint8_t>> LocalRecords::answer(
    std::span<const uint8_t> queryBytes, const dns::Message& query,
    const net::IpAddress& clientAddress) const {
    if (records_.empty() && accounts_.empty())
        return std::nullopt;
    const net::IpAddress client = clientAddress.unmapped();
    if (query.qtype == dns::type::PTR || query.qtype == dns::type::ANY) {
        if (reverseAddress(query.qname())) {
            if (query.qclass != dns::kClassIn && query.qclass != kClassAny)
                return std::nullopt;
            auto ptr = answerPtr(queryBytes, query);
            // Only an address some record names is ours to answer.
            if (ptr) {
                const auto parsed = dns::parse(*ptr);
                if (parsed.message && parsed.message->header.ancount > 0)
                    return ptr;
            }
            return std::nullopt;
        }
    }
    auto first = find(query.qnameWire);
    if (!first)
        return std::nullopt;
    // We are authoritative for these names' IN data only (as for interception).
    if (query.qclass != dns::kClassIn && query.qclass != kClassAny)
        return dns::errorResponse(queryBytes, &query, dns::Rcode::Refused);

    dns::ResponseWriter writer(queryBytes, query);
    std::string ownerWire(query.qnameWire.view());
    Set set = *first;
    bool any = false;
    for (size_t step = 0; step < kMaxChain; ++step) {
        const auto* records = set.records;
        // RFC 1034 §4.3.2 step 3a: a CNAME answers every type but CNAME by itself and leads on.
        if (records && records->cname) {
            std::vector<uint8_t> rdata;
            appendName(rdata, *records->cname);
            writer.addAnswer(ownerWire, dns::type::CNAME, ttl_, rdata);
            any = true;
            // QTYPE ANY matches the CNAME itself: it is the one RRset (RFC 8482 §4.1).
            if (query.qtype == dns::type::CNAME || query.qtype == dns::type::ANY)
                break;
            const auto targetWire = dns::nameToWire(*records->cname);
            auto next = targetWire ? find(*targetWire) : std::nullopt;
            if (!next)
                break;  // the target is not ours: the client's resolver looks it up
            ownerWire = *targetWire;
            set = *next;
            continue;
        }
        // RFC 8482 §4.1: ANY gets one RRset (the first present, in the order below), not all
        // the local data: no client may rely on a full ANY answer, and a large one is an
        // amplifier.
        const auto wanted = [&](uint16_t type) {
            return query.qtype == dns::type::ANY ? !any : query.qtype == type;
        };
        for (const auto& [type, family] :
             {std::pair{dns::type::A, AF_INET}, std::pair{dns::type::AAAA, AF_INET6}}) {
            if (!wanted(type))
                continue;
            const auto list = addresses(set, family, client);
            if (!list)
                return std::nullopt;
            for (const auto& address : *list) {
                writer.addAnswer(ownerWire, type, ttl_,
                                 std::span<const uint8_t>(address.bytes(), address.size()));
                any = true;
            }
        }
        if (records && wanted(dns::type::TXT)) {
            for (const auto& text : records->txt) {
                writer.addAnswer(ownerWire, dns::type::TXT, ttl_, txtRdata(text));
                any = true;
            }
        }
        if (records && wanted(dns::type::MX)) {
            for (const auto& mx : records->mx) {
                std::vector<uint8_t> rdata;
                dns::appendUint16(rdata, mx.preference);
                appendName(rdata, mx.exchange);
                writer.addAnswer(ownerWire, dns::type::MX, ttl_, rdata);
                any = true;
            }
        }
        if (records && wanted(dns::type::SRV)) {
            for (const auto& srv : records->srv) {
                std::vector<uint8_t> rdata;
                dns::appendUint16(rdata, srv.priority);
                dns::appendUint16(rdata, srv.weight);
                dns::appendUint16(rdata, srv.port);
                appendName(rdata, srv.target);
                writer.addAnswer(ownerWire, dns::type::SRV, ttl_, rdata);
                any = true;
            }
        }
        break;
    }
    if (!any && query.qtype == dns::type::ANY) {
        // RFC 8482 §4.2: nothing to pick (an account name without an address of the client's
        // view): a synthesized HINFO "RFC8482" "", not a NODATA a cache would take as "no
        // data of any type".
        // CPU "RFC8482", OS "": two character-strings (RFC 1035 §3.3.2).
        static constexpr uint8_t kHinfo[] = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};
        writer.addAnswer(query.qnameWire, kTypeHinfo, ttl_, std::span<const uint8_t>(kHinfo));
        any = true;
    }
    // RFC 2308 §3: a negative answer carries the SOA so it can be cached for its MINIMUM.
    if (!any)
        writer.addSyntheticSoa(ttl_);
    return writer.finish();
}

std::vector<std::string> LocalRecords::changingNames() const {
    std::vector<std::string> names;
    for (const auto& account : accounts_)
        names.insert(names.end(), account.names.begin(), account.names.end());
    for (const auto& set : records_) {
        const bool token = std::any_of(set.a.begin(), set.a.end(), config::isIpToken) ||
                           std::any_of(set.aaaa.begin(), set.aaaa.end(), config::isIpToken) ||
                           set.cname;
        if (token)
            names.push_back(set.name);
    }
    return names;
}

std::vector<LocalNameView> LocalRecords::describe() const {
    std::vector<LocalNameView> views;
    const auto told = [&](const Set& set, const net::IpAddress& client) -> std::string {
        if (set.records && set.records->cname)
            return "CNAME " + *set.records->cname;
        const auto v4 = addresses(set, AF_INET, client);
        const auto v6 = addresses(set, AF_INET6, client);
        if (!v4 || !v6)
            return "forwarded (no address yet)";
        std::vector<net::IpAddress> all = *v4;
        all.insert(all.end(), v6->begin(), v6->end());
        return all.empty() ? "no address (NODATA)" : joined(all);
    };
    const auto view = [&](const std::string& name) {
        const auto wire = dns::nameToWire(name.starts_with("*.") ? "x" + name.substr(1) : name);
        const auto set = wire ? find(*wire) : std::nullopt;
        if (!set)
            return;
        // A client that never updated: an unspecified address is in no account's sources.
        LocalNameView entry{name, "", told(*set, net::IpAddress())};
        if (set->account) {
            entry.toUpdaters =
                set->account->sources.empty() ? "" : told(*set, set->account->sources.front());
        }
        views.push_back(std::move(entry));
    };
    for (const auto& account : accounts_) {
        for (const auto& name : account.names)
            view(name);
    }
    for (const auto& set : records_) {
        const bool listed = std::any_of(views.begin(), views.end(),
                                        [&](const LocalNameView& v) { return v.name == set.name; });
        if (!listed)
            view(set.name);
    }
    return views;
}

}  // namespace dynamo::resolver
