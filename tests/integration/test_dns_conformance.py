"""DNS conformance through the gateway: odd queries (TC, Z, AD/CD/DO, EDNS versions and unknown
options, unknown opcodes and types, RD=0) must get an answer no worse than the upstream's when
asked directly, and must not change what ordinary clients get afterwards (issue 12).

The upstream is a real validating resolver: unbound in front of the knotd that serves the
signed test. zone (dns_peers.UnboundPeer). Every probe runs twice, each time against a fresh
gateway:

  COLD  the odd query first, then the ordinary queries (nothing of the odd one may linger);
  WARM  an ordinary query primes the cache, then the odd query, then the ordinary ones again.

Each reply from the gateway is compared with unbound's reply to the same bytes: same rcode
(extended included), same AA/TC/AD/CD/RD, same OPT presence and version, the same record types
in answer and authority. Run from this directory:
    DYNAMO_BUILD_DIR=../../build python3 -m unittest -v test_dns_conformance
"""

import collections
import struct
import unittest

from dns_peers import KnotPeer, UnboundPeer
from harness import Daemon, Message, dig, encode_name, kdig, opt_rr, udp_exchange

KNOT = None
UNBOUND = None

RD, TC, AA, Z, AD, CD = 0x0100, 0x0200, 0x0400, 0x0040, 0x0020, 0x0010


def setUpModule():
    global KNOT, UNBOUND
    KNOT = KnotPeer().start()
    try:
        UNBOUND = UnboundPeer(KNOT).start()
    except Exception:
        KNOT.stop()
        raise


def tearDownModule():
    for peer in (UNBOUND, KNOT):
        if peer is not None:
            peer.stop()


def query(name="test", qtype=6, flags=RD | AD, edns=None, opcode=0, question=True, qid=0x5151):
    """Raw query bytes. edns: None for no OPT, else opt_rr() keywords (version, do, options)."""
    flags |= opcode << 11
    body = encode_name(name) + struct.pack("!HH", qtype, 1) if question else b""
    additional = opt_rr(**edns) if edns is not None else b""
    header = struct.pack("!HHHHHH", qid, flags, 1 if question else 0, 0, 0,
                         1 if edns is not None else 0)
    return header + body + additional


def without_tc(raw):
    (flags,) = struct.unpack("!H", raw[2:4])
    return raw[:2] + struct.pack("!H", flags & ~TC) + raw[4:]


# What clients send for the ordinary queries: dig's default (EDNS 0, AD) and a libc stub's
# (no EDNS, no AD).
DIG = dict(flags=RD | AD, edns={})
STUB = dict(flags=RD, edns=None)
ORDINARY = (DIG, STUB)

Probe = collections.namedtuple("Probe", "name query ignores_tc issue")
Probe.__new__.__defaults__ = (False, None)

PROBES = [
    # RFC 1035 §4.1.1: TC means nothing in a query. Unbound answers it FORMERR; the gateway
    # ignores it and answers as for the query without TC.
    Probe("tc_noedns", dict(flags=RD | TC), ignores_tc=True, issue=1),
    Probe("tc_edns", dict(flags=RD | AD | TC, edns={}), ignores_tc=True, issue=1),
    Probe("z_bit", dict(flags=RD | Z, edns={})),
    Probe("z_bit_noedns", dict(flags=RD | Z)),
    Probe("aa_in_query", dict(flags=RD | AA, edns={})),
    # RFC 6840 §5.7: AD in the answer only for a query with AD or DO.
    Probe("no_ad", dict(flags=RD, edns={}), issue=5),
    Probe("ad", dict(flags=RD | AD), issue=5),
    Probe("do", dict(flags=RD, edns={"do": True})),
    Probe("do_ad", dict(flags=RD | AD, edns={"do": True})),
    Probe("cd", dict(flags=RD | CD, edns={})),
    Probe("cd_do", dict(flags=RD | CD, edns={"do": True})),
    Probe("cd_ad_noedns", dict(flags=RD | CD | AD)),
    # RFC 6891 §6.1.3: version 1 is BADVERS, cached version 0 answer or not.
    Probe("edns1", dict(flags=RD | AD, edns={"version": 1}), issue=2),
    Probe("edns1_do", dict(flags=RD, edns={"version": 1, "do": True}), issue=2),
    Probe("edns_unknown_option", dict(flags=RD | AD, edns={"options": [(65001, b"probe")]})),
    # RFC 8906 §8.1.4: unknown opcodes get NOTIMP, with or without a question.
    Probe("opcode15_header_only", dict(flags=RD, opcode=15, question=False, edns={}),
          issue=3),
    Probe("opcode15_header_only_noedns", dict(flags=0, opcode=15, question=False), issue=3),
    Probe("opcode15_with_question", dict(flags=RD, opcode=15, edns={})),
    # RFC 3597: unknown types pass; the answer is the zone's NODATA.
    Probe("unknown_type", dict(name="a.test", qtype=1234, flags=RD | AD, edns={})),
    Probe("nxdomain_do", dict(name="nx.test", flags=RD, edns={"do": True})),
    # RFC 1034 §4.3.1: RD=0 asks a recursive server for what it holds: unbound refuses.
    Probe("rd0", dict(flags=AD, edns={}), issue=4),
    Probe("rd0_noedns", dict(flags=0), issue=4),
]


def shape(raw):
    """What must match between the gateway's reply and the upstream's."""
    if raw is None:
        return "no reply"
    m = Message(raw)
    answered = m.rcode in ("NOERROR", "NXDOMAIN")
    # AD and CD say something only about data; on an error unbound echoes the query's.
    bits = ("aa", "tc", "rd", "ad", "cd") if answered else ("aa", "tc", "rd")
    return {
        "rcode": m.rcode,
        "opcode": m.opcode,
        "flags": sorted(b for b in bits if getattr(m, b)),
        "question": [(n.lower(), t, c) for n, t, c in m.question],
        "edns": None if m.edns is None else m.edns["version"],
        "answer": sorted(rr.type for rr in m.answer),
        "authority": sorted(rr.type for rr in m.authority),
    }


class ConformanceTest(unittest.TestCase):

    def start_gateway(self):
        d = Daemon.for_dns(["127.0.0.1:%d" % UNBOUND.port])
        self.addCleanup(d.stop)
        d.start()
        return d

    def assertNoWorse(self, gateway_port, raw, ignores_tc, step):
        got = udp_exchange(raw, gateway_port)
        want = udp_exchange(without_tc(raw) if ignores_tc else raw, UNBOUND.port)
        self.assertIsNotNone(want, "unbound did not answer (%s)" % step)
        self.assertEqual(shape(got), shape(want), step)

    def run_probe(self, probe, warm):
        d = self.start_gateway()
        steps = []
        if warm:
            steps.append(("prime with an ordinary query", DIG, False))
        steps.append(("the odd query", probe.query, probe.ignores_tc))
        for ordinary in ORDINARY:
            steps.append(("an ordinary query after it: %r" % (ordinary,), ordinary, False))
        for step, kwargs, ignores_tc in steps:
            self.assertNoWorse(d.dns_port, query(**kwargs), ignores_tc,
                               "%s %s: %s" % ("WARM" if warm else "COLD", probe.name, step))

    def test_probes_cold(self):
        for probe in PROBES:
            with self.subTest(probe=probe.name, issue=probe.issue):
                self.run_probe(probe, warm=False)

    def test_probes_warm(self):
        for probe in PROBES:
            with self.subTest(probe=probe.name, issue=probe.issue):
                self.run_probe(probe, warm=True)

    def test_ad_follows_each_query_in_both_orders(self):
        # Issue 12 item 5 as reported: +noad then +ad, and the reverse, on one gateway.
        d = self.start_gateway()
        for name in ("a.test", "www.test"):
            first, second = (DIG, dict(flags=RD, edns={})) if name == "a.test" else \
                (dict(flags=RD, edns={}), DIG)
            for kwargs in (first, second, first):
                reply = Message(udp_exchange(query(name, 1, **kwargs), d.dns_port))
                self.assertEqual(reply.ad, bool(kwargs["flags"] & AD), (name, kwargs))


class IssueReproTest(unittest.TestCase):
    """The outside test round's five reports, with its own clients and options, each on a fresh
    gateway: the odd query, then the ordinary one, compared with unbound asked the same."""

    def start_gateway(self):
        d = Daemon.for_dns(["127.0.0.1:%d" % UNBOUND.port])
        self.addCleanup(d.stop)
        d.start()
        return d

    def assertSameAsUnbound(self, client, port, name, qtype, options, what):
        got = client(name, qtype, port=port, options=options)
        want = client(name, qtype, port=UNBOUND.port, options=options)
        self.assertFalse(got.timeout or want.timeout, (what, got, want))
        self.assertEqual((got.rcode, sorted(got.flags & {"aa", "tc", "ad", "cd", "rd"}),
                          [rr.type_name for rr in got.answer]),
                         (want.rcode, sorted(want.flags & {"aa", "tc", "ad", "cd", "rd"}),
                          [rr.type_name for rr in want.answer]), what)
        return got

    def test_1_tc_query_is_answered_and_leaves_no_servfail_behind(self):
        port = self.start_gateway().dns_port
        odd = kdig("test", "SOA", port=port, options=["+noedns", "+noadflag", "+tcflag"])
        # Unbound says FORMERR to TC=1; the gateway ignores TC (RFC 1035 §4.1.1), at once.
        self.assertEqual(odd.rcode, "NOERROR", odd)
        self.assertNotIn("tc", odd.flags, odd)
        self.assertLess(odd.elapsed, 0.9, odd)
        self.assertSameAsUnbound(dig, port, "test", "SOA", ["+noedns"], "after TC=1")

    def test_2_edns_version_1_gets_badvers_after_version_0_was_cached(self):
        port = self.start_gateway().dns_port
        self.assertSameAsUnbound(dig, port, "test", "SOA", ["+edns=0"], "EDNS 0")
        reply = self.assertSameAsUnbound(dig, port, "test", "SOA", ["+edns=1", "+noednsneg"],
                                         "EDNS 1")
        self.assertEqual(reply.rcode, "BADVERS", reply)

    def test_3_unknown_opcode_without_question_gets_notimp(self):
        port = self.start_gateway().dns_port
        reply = dig("test", "SOA", port=port, options=["+header-only", "+opcode=15"])
        self.assertEqual(reply.rcode, "NOTIMP", reply)
        self.assertNotIn("aa", reply.flags, reply)

    def test_4_rd0_refused_is_passed_on_and_not_served_to_rd1(self):
        port = self.start_gateway().dns_port
        reply = self.assertSameAsUnbound(dig, port, "test", "SOA", ["+norec"], "RD=0")
        self.assertEqual(reply.rcode, "REFUSED", reply)
        self.assertSameAsUnbound(dig, port, "test", "SOA", [], "RD=1 after RD=0")

    def test_5_ad_follows_the_current_query_in_both_orders(self):
        port = self.start_gateway().dns_port
        for name, order in (("a.test", ("+noad", "+ad")), ("www.test", ("+ad", "+noad"))):
            for option in order:
                reply = self.assertSameAsUnbound(dig, port, name, "A", [option],
                                                 "%s %s" % (name, option))
                self.assertEqual("ad" in reply.flags, option == "+ad", reply)


if __name__ == "__main__":
    unittest.main()
