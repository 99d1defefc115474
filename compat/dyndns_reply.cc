#include "compat/dyndns_reply.h"

namespace dynamo::compat {
namespace {

std::string_view lineFor(HostnameVerdict verdict) {
    switch (verdict) {
        case HostnameVerdict::NotFqdn:
            return toString(ReplyCode::NotFqdn);
        case HostnameVerdict::NoHost:
            return toString(ReplyCode::NoHost);
        case HostnameVerdict::Ok:
            break;
    }
    return toString(ReplyCode::ServerError);
}

DyndnsReply plainReply(std::string body) {
    DyndnsReply reply;
    reply.body = std::move(body);
    return reply;
}

DyndnsReply linesFor(const HostnameCheck& hosts, std::string_view acceptedLine) {
    switch (hosts.request) {
        case HostnameCheck::Request::NumHost:
            return plainReply(std::string(toString(ReplyCode::NumHost)));
        case HostnameCheck::Request::NotFqdn:
            return plainReply(std::string(toString(ReplyCode::NotFqdn)));
        case HostnameCheck::Request::Ok:
            break;
    }
    if (hosts.hosts.empty())
        return plainReply(std::string(toString(ReplyCode::NotFqdn)));
    std::string body;
    for (const HostnameVerdict verdict : hosts.hosts) {
        if (!body.empty())
            body.push_back('\n');
        body += verdict == HostnameVerdict::Ok ? acceptedLine : lineFor(verdict);
    }
    return plainReply(std::move(body));
}

}  // namespace

std::string_view toString(ReplyCode code) {
    switch (code) {
        case ReplyCode::Good:
            return "good";
        case ReplyCode::NoChg:
            return "nochg";
        case ReplyCode::BadAuth:
            return "badauth";
        case ReplyCode::NotFqdn:
            return "notfqdn";
        case ReplyCode::NoHost:
            return "nohost";
        case ReplyCode::NumHost:
            return "numhost";
        case ReplyCode::Abuse:
            return "abuse";
        case ReplyCode::BadAgent:
            return "badagent";
        case ReplyCode::DnsErr:
            return "dnserr";
        case ReplyCode::ServerError:
            break;
    }
    return "911";
}

UpdateOutcome outcomeFor(TokenApiCode code) {
    switch (code) {
        case TokenApiCode::UpOk:
        case TokenApiCode::UpEr:
            return UpdateOutcome::Updated;
        case TokenApiCode::Nc:
            return UpdateOutcome::NoChange;
        default:
            return UpdateOutcome::Failed;
    }
}

ReplyCode replyCodeFor(UpdateOutcome outcome) {
    switch (outcome) {
        case UpdateOutcome::Updated:
        case UpdateOutcome::Queued:
            return ReplyCode::Good;
        case UpdateOutcome::NoChange:
            return ReplyCode::NoChg;
        case UpdateOutcome::Failed:
            break;
    }
    return ReplyCode::ServerError;
}

DyndnsReply badAuthReply() {
    DyndnsReply reply;
    reply.httpStatus = 401;
    reply.wwwAuthenticate = "Basic realm=\"DynDNS API Access\"";
    reply.body = std::string(toString(ReplyCode::BadAuth));
    return reply;
}

DyndnsReply replyFor(const HostnameCheck& hosts, UpdateOutcome outcome,
                     const std::optional<net::IpAddress>& ip) {
    const ReplyCode code = replyCodeFor(outcome);
    std::string line(toString(code));
    // 911 stands alone: dyndns.org never put an address after it.
    if (code != ReplyCode::ServerError && ip) {
        line.push_back(' ');
        line += ip->toString();
    }
    return linesFor(hosts, line);
}

DyndnsReply replyFor(const HostnameCheck& hosts) {
    return linesFor(hosts, toString(ReplyCode::ServerError));
}

std::optional<net::IpAddress> replyAddress(const std::optional<net::IpAddress>& sent,
                                           const std::optional<net::IpAddress>& knownPublic,
                                           const MyIp& myip) {
    if (sent)
        return sent;
    if (knownPublic)
        return knownPublic;
    if (myip.v4)
        return myip.v4;
    return myip.v6;
}

}  // namespace dynamo::compat
