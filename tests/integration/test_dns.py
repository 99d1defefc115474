"""End-to-end DNS tests: the real dynamo-gateway on loopback, driven by dig/kdig and raw sockets,
forwarding to real upstream servers (knotd, dnsmasq) and to a recording Python upstream.

Each test asserts one behaviour of docs/dns.md and fails when that behaviour breaks. Run from this
directory:  DYNAMO_BUILD_DIR=../../build python3 -m unittest -v test_dns
"""

import random
import socket
import struct
import threading
import time
import unittest

import harness
from dns_peers import DnsmasqPeer, KnotPeer, RecordingUpstream
from harness import (Daemon, a_rdata, build_query, dig, frame, kdig, parse_message,
                     recv_frame, tcp_connect, tcp_exchange, txt_rdata,
                     udp_exchange)

KNOT = None  # one signed-zone server for the whole module (read-only for every test)

# Upstream failure must become SERVFAIL within dns.upstream_timeout (1s here) plus this.
SERVFAIL_MARGIN = 1.5


def setUpModule():
    global KNOT
    KNOT = KnotPeer().start()


def tearDownModule():
    if KNOT is not None:
        KNOT.stop()


def knot_upstream():
    return ["127.0.0.1:%d" % KNOT.port]


class DaemonTestCase(unittest.TestCase):
    """Helpers: start a daemon / recording upstream that is stopped when the test ends."""

    def start_daemon(self, upstreams=None, **dns):
        d = Daemon.for_dns(upstreams or knot_upstream(), **dns)
        self.addCleanup(d.stop)
        d.start()
        return d

    def recording_upstream(self):
        u = RecordingUpstream().start()
        self.addCleanup(u.stop)
        return u

    def assertIntercepted(self, reply, address, ttl=77):
        self.assertFalse(reply.timeout, "no reply")
        self.assertEqual(reply.rcode, "NOERROR", reply)
        self.assertIn("aa", reply.flags, reply)
        self.assertEqual(reply.answers("A") or reply.answers("AAAA"), [address], reply)
        self.assertEqual([rr.ttl for rr in reply.answer], [ttl], reply)

    def assertNodataWithSoa(self, reply):
        self.assertFalse(reply.timeout, "no reply")
        self.assertEqual(reply.rcode, "NOERROR", reply)
        self.assertEqual(reply.answer, [], reply)
        self.assertIn("aa", reply.flags, reply)
        self.assertEqual([rr.type_name for rr in reply.authority], ["SOA"], reply)


class KnotDaemonTestCase(DaemonTestCase):
    """One daemon for the whole class, forwarding to the module's knotd: for tests that only
    read."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon.for_dns(knot_upstream())
        cls.daemon.start()
        cls.port = cls.daemon.dns_port

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()


# ---------------------------------------------------------------------------------------------
# Interception (one daemon for the class: these tests only read)

class InterceptTest(KnotDaemonTestCase):

    def test_a_is_the_listen_address_with_aa_and_configured_ttl(self):
        # knotd would say 192.0.2.98: the answer must come from the gateway, not upstream.
        self.assertIntercepted(dig("members.dyndns.org", "A", port=self.port), "127.0.0.1")

    def test_second_default_name_members_dyndns_com(self):
        self.assertIntercepted(dig("members.dyndns.com", "A", port=self.port), "127.0.0.1")

    def test_name_match_is_case_insensitive_and_question_echoed_as_sent(self):
        self.assertIntercepted(dig("MeMbErS.DynDns.ORG", "A", port=self.port), "127.0.0.1")
        query = build_query("MeMbErS.DynDns.ORG", "A")
        reply = parse_message(udp_exchange(query, self.port))
        # Clients (and 0x20-randomising resolvers) match the question byte for byte.
        self.assertEqual(reply.raw[12:reply.question_end], query[12:], reply.question)
        self.assertEqual(reply.id, struct.unpack("!H", query[:2])[0])

    def test_trailing_dot_in_query_name(self):
        self.assertIntercepted(dig("members.dyndns.org.", "A", port=self.port), "127.0.0.1")

    def test_intercept_over_tcp(self):
        reply = dig("members.dyndns.org", "A", port=self.port, tcp=True)
        self.assertEqual(reply.transport, "TCP")
        self.assertIntercepted(reply, "127.0.0.1")

    def test_aaaa_is_nodata_with_soa_when_answer_ipv6_none(self):
        self.assertNodataWithSoa(dig("members.dyndns.org", "AAAA", port=self.port))

    def test_https_svcb_and_other_types_are_nodata(self):
        # HTTPS/SVCB hints (ipv4hint) must not lead a device around the trick (docs/dns.md#interception).
        for qtype in ("HTTPS", "SVCB", "MX", "TXT", "ANY", "NS", "SOA", "CNAME", "TYPE65280"):
            with self.subTest(qtype=qtype):
                self.assertNodataWithSoa(dig("members.dyndns.org", qtype, port=self.port))

    def test_https_type65_nodata_over_raw_udp(self):
        reply = parse_message(udp_exchange(build_query("members.dyndns.org", 65), self.port))
        self.assertEqual((reply.rcode, reply.answer), ("NOERROR", []))
        self.assertEqual([rr.type for rr in reply.authority], [6])

    def test_checkip_is_forwarded_not_intercepted(self):
        # Devices learn their public address from checkip: it must reach the real upstream.
        reply = dig("checkip.dyndns.org", "A", port=self.port)
        self.assertEqual(reply.answers("A"), ["192.0.2.99"], reply)

    def test_names_below_an_exact_name_are_forwarded(self):
        reply = dig("www.members.dyndns.org", "A", port=self.port)
        self.assertEqual(reply.rcode, "NXDOMAIN", reply)  # knotd's answer, not 127.0.0.1
        self.assertEqual(reply.answer, [])

    def test_opt_in_reply_only_when_query_had_one(self):
        # RFC 6891 §7: an OPT in the query gets one back; none in the query, none back.
        with_edns = dig("members.dyndns.org", "A", port=self.port, options=["+bufsize=1232"])
        self.assertIsNotNone(with_edns.edns, with_edns.text)
        without = dig("members.dyndns.org", "A", port=self.port, options=["+noedns"])
        self.assertIsNone(without.edns, without.text)
        self.assertIntercepted(without, "127.0.0.1")


class InterceptConfigTest(DaemonTestCase):

    def test_fixed_answer_ipv4(self):
        d = self.start_daemon(intercept={"answer_ipv4": "192.0.2.55"})
        self.assertIntercepted(dig("members.dyndns.org", "A", port=d.dns_port), "192.0.2.55")

    def test_fixed_answer_ipv6(self):
        d = self.start_daemon(intercept={"answer_ipv6": "2001:db8::55", "ttl": 30})
        self.assertIntercepted(dig("members.dyndns.org", "AAAA", port=d.dns_port),
                               "2001:db8::55", ttl=30)

    def test_config_names_with_capitals_and_trailing_dot(self):
        d = self.start_daemon(intercept={"names": ["MEMBERS.DynDNS.org."]})
        self.assertIntercepted(dig("members.dyndns.org", "A", port=d.dns_port), "127.0.0.1")

    def test_wildcard_name_matches_below_it(self):
        d = self.start_daemon(intercept={"names": ["*.gw.test"]})
        for name in ("dev.gw.test", "a.b.gw.test"):
            with self.subTest(name=name):
                self.assertIntercepted(dig(name, "A", port=d.dns_port), "127.0.0.1")
        # And members.dyndns.org is no longer intercepted: knotd's address comes back.
        self.assertEqual(dig("members.dyndns.org", port=d.dns_port).answers("A"), ["192.0.2.98"])

    def test_default_names_when_intercept_names_omitted(self):
        d = Daemon.for_dns(knot_upstream())
        del d.config["dns"]["intercept"]["names"]
        self.addCleanup(d.stop)
        d.start()
        for name in ("members.dyndns.org", "members.dyndns.com"):
            with self.subTest(name=name):
                self.assertIntercepted(dig(name, port=d.dns_port), "127.0.0.1")
        self.assertEqual(dig("checkip.dyndns.org", port=d.dns_port).answers("A"), ["192.0.2.99"])

    def test_auto_answers_with_the_address_the_query_arrived_on(self):
        port = harness.free_port(("127.0.0.1", "127.0.0.2"))
        d = self.start_daemon(listen=["127.0.0.1:%d" % port, "127.0.0.2:%d" % port])
        for address in ("127.0.0.1", "127.0.0.2"):
            with self.subTest(server=address):
                self.assertIntercepted(dig("members.dyndns.org", port=port, server=address),
                                       address)
                self.assertIntercepted(dig("members.dyndns.org", port=port, server=address,
                                           tcp=True), address)

    @unittest.skipUnless(harness.have_ipv6_loopback(), "no ::1")
    def test_ipv6_listener_and_answer_ipv6_auto(self):
        port = harness.free_port(("127.0.0.1", "::1"))
        d = self.start_daemon(listen=["127.0.0.1:%d" % port, "[::1]:%d" % port],
                              intercept={"answer_ipv6": "auto"})
        self.assertIntercepted(dig("members.dyndns.org", "AAAA", port=port, server="::1"), "::1")
        self.assertIntercepted(dig("members.dyndns.org", "AAAA", port=port, server="::1",
                                   tcp=True), "::1")
        # Forwarding works over the IPv6 listener as well.
        self.assertEqual(dig("a.test", port=port, server="::1").answers("A"), ["192.0.2.7"])

    @unittest.skipUnless(harness.have_netns(), "cannot make a network namespace (needs root)")
    def test_wildcard_listener_replies_from_and_with_the_address_queried(self):
        # docs/dns.md#listening: on 0.0.0.0 / [::] the reply leaves from the address the query was sent to
        # (IP_PKTINFO / IPV6_RECVPKTINFO) and `auto` answers with it. Run in a namespace of our
        # own so the wildcard bind touches no real interface. dig drops a reply that comes from
        # another address than it asked, so a wrong source shows as a timeout.
        v4, v6 = ("10.53.0.1", "10.53.0.2"), ("fd53::1",)
        d = Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()],
                           listen=["0.0.0.0:53", "[::]:53"],
                           allow=["127.0.0.0/8", "10.53.0.0/24", "::1/128", "fd53::/64"],
                           intercept={"answer_ipv6": "auto"},
                           prefix=harness.netns_prefix(v4, v6))
        self.addCleanup(d.stop)
        d.start()
        pid = d.proc.pid
        for address in v4 + ("127.0.0.1",):
            for tcp in (False, True):
                with self.subTest(server=address, tcp=tcp):
                    self.assertIntercepted(dig("members.dyndns.org", "A", port=53, server=address,
                                               tcp=tcp, netns_pid=pid), address)
        for address in v6 + ("::1",):
            for tcp in (False, True):
                with self.subTest(server=address, tcp=tcp):
                    self.assertIntercepted(dig("members.dyndns.org", "AAAA", port=53,
                                               server=address, tcp=tcp, netns_pid=pid), address)


# ---------------------------------------------------------------------------------------------
# Forwarding to a real server (knotd, signed zone)

class ForwardTest(KnotDaemonTestCase):

    def test_a_record_forwarded(self):
        reply = dig("a.test", "A", port=self.port)
        self.assertEqual((reply.rcode, reply.answers("A")), ("NOERROR", ["192.0.2.7"]), reply)

    def test_cname_chain_forwarded(self):
        reply = dig("www.test", "A", port=self.port)
        self.assertEqual(reply.answers("CNAME"), ["a.test."], reply)
        self.assertEqual(reply.answers("A"), ["192.0.2.7"], reply)

    def test_nxdomain_carries_the_soa(self):
        reply = dig("nx.test", "A", port=self.port)
        self.assertEqual(reply.rcode, "NXDOMAIN", reply)
        self.assertEqual([rr.type_name for rr in reply.authority], ["SOA"], reply)

    def test_nodata_carries_the_soa(self):
        reply = dig("a.test", "MX", port=self.port)
        self.assertEqual((reply.rcode, reply.answer), ("NOERROR", []), reply)
        self.assertEqual([rr.type_name for rr in reply.authority], ["SOA"], reply)

    def test_big_answer_over_udp_with_bufsize_1232_is_truncated(self):
        reply = dig("big.test", "TXT", port=self.port,
                    options=["+bufsize=1232", "+ignore", "+notcp"])
        self.assertIn("tc", reply.flags, reply)
        self.assertEqual(reply.transport, "UDP")
        self.assertLessEqual(reply.size, 1232, reply)

    def test_truncated_reply_keeps_id_question_and_opt(self):
        query = build_query("Big.Test", "TXT", qid=0x7777, edns={"bufsize": 1232})
        raw = udp_exchange(query, self.port)
        self.assertIsNotNone(raw, "no reply")
        reply = parse_message(raw)
        self.assertTrue(reply.tc)
        self.assertEqual(reply.id, 0x7777)
        self.assertEqual(raw[12:reply.question_end], query[12:parse_message(query).question_end])
        self.assertIsNotNone(reply.opt, "OPT dropped from the truncated reply")
        self.assertLessEqual(len(raw), 1232)

    def test_client_bufsize_above_1232_is_capped(self):
        # docs/dns.md#truncation: the client's EDNS size, capped at 1232 (DNS flag day 2020 / RFC 9715).
        reply = dig("big.test", "TXT", port=self.port,
                    options=["+bufsize=4096", "+ignore", "+notcp"])
        self.assertIn("tc", reply.flags, reply)
        self.assertLessEqual(reply.size, 1232, reply)

    def test_big_answer_over_tcp_is_whole(self):
        reply = dig("big.test", "TXT", port=self.port, tcp=True)
        self.assertNotIn("tc", reply.flags, reply)
        self.assertEqual(len(reply.answers("TXT")), 20, reply)
        self.assertGreater(reply.size, 2000)

    def test_truncated_answer_makes_dig_retry_over_tcp(self):
        reply = dig("big.test", "TXT", port=self.port, options=["+bufsize=1232"])
        self.assertEqual(reply.transport, "TCP", reply.text[-600:])
        self.assertEqual(len(reply.answers("TXT")), 20)

    def test_without_edns_udp_answer_over_512_is_truncated(self):
        reply = dig("medium.test", "TXT", port=self.port, options=["+noedns", "+ignore"])
        self.assertIn("tc", reply.flags, reply)
        self.assertLessEqual(reply.size, 512, reply)

    def test_with_edns_udp_answer_between_512_and_1232_is_whole(self):
        reply = dig("medium.test", "TXT", port=self.port, options=["+bufsize=1232", "+ignore"])
        self.assertNotIn("tc", reply.flags, reply)
        self.assertEqual(len(reply.answers("TXT")), 6, reply)
        self.assertGreater(reply.size, 512)

    def test_cached_big_answer_is_truncated_again_for_each_udp_client(self):
        # Fetch whole over TCP (cached whole), then ask over UDP: the cache must cut per client.
        whole = dig("big.test", "TXT", port=self.port, tcp=True)
        self.assertEqual(len(whole.answers("TXT")), 20)
        for options, limit in ((["+bufsize=1232"], 1232), (["+noedns"], 512)):
            with self.subTest(options=options):
                reply = dig("big.test", "TXT", port=self.port,
                            options=options + ["+ignore", "+notcp"])
                self.assertIn("tc", reply.flags, reply)
                self.assertLessEqual(reply.size, limit)

    def test_cached_answer_follows_the_current_clients_edns(self):
        # Cached from an EDNS query, asked again without EDNS: no OPT back (RFC 6891 §7: "the
        # responder MUST NOT include an OPT record"), and the 512-byte limit applies, not the
        # first client's size.
        for name, qtype in (("a.test", "A"), ("medium.test", "TXT")):
            with self.subTest(name=name):
                first = dig(name, qtype, port=self.port, options=["+bufsize=1232"])
                self.assertIsNotNone(first.edns)
                self.assertNotIn("tc", first.flags)
                again = dig(name, qtype, port=self.port, options=["+noedns", "+ignore"])
                self.assertIsNone(again.edns, again)
                self.assertLessEqual(again.size, 512, again)
                if name == "medium.test":
                    self.assertIn("tc", again.flags, again)
        # And the other way round: cached from a plain query, an EDNS client gets its OPT.
        first = dig("www.test", "A", port=self.port, options=["+noedns"])
        self.assertIsNone(first.edns, first)
        again = dig("www.test", "A", port=self.port, options=["+bufsize=1232"])
        self.assertIsNotNone(again.edns, again)
        self.assertEqual(again.answers("A"), ["192.0.2.7"])

    def test_do_bit_reaches_upstream_signatures_come_back(self):
        # knotd signs test.: RRSIGs come back only when DO=1 reached it (RFC 3225).
        signed = kdig("a.test", "A", port=self.port, options=["+dnssec", "+bufsize=1232"])
        self.assertEqual(sorted(rr.type_name for rr in signed.answer), ["A", "RRSIG"], signed)
        self.assertTrue(signed.edns and signed.edns["do"], signed)
        plain = kdig("a.test", "A", port=self.port, options=["+bufsize=1232"])
        self.assertEqual([rr.type_name for rr in plain.answer], ["A"], plain)
        self.assertIsNotNone(plain.edns)
        self.assertFalse(plain.edns["do"])

    def test_signed_negative_answer_keeps_nsec_and_rrsig(self):
        reply = dig("nx.test", "A", port=self.port, options=["+dnssec"])
        types = {rr.type_name for rr in reply.authority}
        self.assertTrue({"SOA", "NSEC", "RRSIG"} <= types, reply)


# ---------------------------------------------------------------------------------------------
# Forwarding through the recording upstream: bytes, types, classes, caching, failures

def exotic_query(name="x.test", qtype="A", qid=0x1234):
    """RD, AD and CD set, EDNS with DO, a client cookie and a private option."""
    return build_query(name, qtype, qid=qid, rd=True, ad=True, cd=True,
                       edns={"bufsize": 1232, "do": True,
                             "options": [(10, bytes.fromhex("0123456789abcdef")),
                                         (65001, b"dynamo")]})


class RecordingForwardTest(DaemonTestCase):

    def setUp(self):
        self.up = self.recording_upstream()
        self.up.add("x.test", "A", a_rdata("192.0.2.10"), ttl=300)
        self.up.add("x.test", 65280, b"\x01\x02\x03")
        self.up.add("ver.test", "TXT", txt_rdata("chaos"), rclass=3)
        self.up.add("ver.test", "TXT", txt_rdata("private-class"), rclass=65280)
        self.upstreams = ["127.0.0.1:%d" % self.up.port]

    def test_query_reaches_upstream_byte_for_byte_except_the_id(self):
        d = self.start_daemon(self.upstreams)
        query = exotic_query()
        reply = udp_exchange(query, d.dns_port)
        self.assertIsNotNone(reply, "no reply")
        got = [q for q in self.up.received() if q.qname == "x.test."]
        self.assertEqual(len(got), 1, [q.raw for q in self.up.received()])
        self.assertEqual(got[0].raw[2:].hex(), query[2:].hex(),
                         "upstream must see the client's flags, question and OPT unchanged")

    def test_reply_reaches_client_byte_for_byte_except_the_id(self):
        self.up.response_options = [(65002, b"from-upstream")]
        d = self.start_daemon(self.upstreams)
        query = exotic_query(qid=0xBEEF)
        raw = udp_exchange(query, d.dns_port)
        self.assertIsNotNone(raw, "no reply")
        sent = [r for q, r in self.up.replies() if q.qname == "x.test."]
        self.assertEqual(len(sent), 1)
        self.assertEqual(raw[:2], b"\xbe\xef")
        self.assertEqual(raw[2:].hex(), sent[0][2:].hex())
        self.assertIn((65002, b"from-upstream"), parse_message(raw).edns["options"])

    def test_query_over_tcp_reaches_upstream_unchanged(self):
        d = self.start_daemon(self.upstreams)
        query = exotic_query(qid=7)
        (raw,) = tcp_exchange([query], d.dns_port)
        self.assertEqual(parse_message(raw).id, 7)
        got = [q for q in self.up.received() if q.qname == "x.test."]
        self.assertEqual([q.raw[2:].hex() for q in got], [query[2:].hex()])

    def test_unknown_type_passes_through(self):
        d = self.start_daemon(self.upstreams)
        reply = dig("x.test", "TYPE65280", port=d.dns_port)
        self.assertEqual([rr.data for rr in reply.answer], [r"\# 3 010203"], reply)
        self.assertEqual([q.qtype for q in self.up.received()], [65280])

    def test_unknown_classes_pass_through(self):
        d = self.start_daemon(self.upstreams)
        for qclass, text in (("CH", '"chaos"'), ("CLASS65280", '"private-class"')):
            with self.subTest(qclass=qclass):
                reply = dig("ver.test", "TXT", qclass=qclass, port=d.dns_port)
                self.assertEqual(reply.answers("TXT"), [text], reply)

    def test_edns_options_and_do_reach_upstream_with_kdig(self):
        self.up.response_options = [(65002, b"up")]
        d = self.start_daemon(self.upstreams)
        reply = kdig("x.test", "A", port=d.dns_port,
                     options=["+dnssec", "+bufsize=1232", "+ednsopt=65001:cafe"])
        self.assertEqual(reply.answers("A"), ["192.0.2.10"], reply)
        self.assertIn((65002, b"up"), reply.edns["options"], reply)
        (q,) = self.up.received()
        self.assertTrue(q.msg.edns["do"])
        self.assertEqual(q.msg.edns["udp"], 1232)
        self.assertIn((65001, b"\xca\xfe"), q.msg.edns["options"])

    def test_the_first_askers_cookie_is_not_served_from_the_cache(self):
        # RFC 7873: a server cookie is made for one client; another client's resolver rejects
        # it. The first asker gets the upstream's bytes; the cached copy has no COOKIE.
        server_cookie = bytes.fromhex("0123456789abcdef") + bytes.fromhex("aabbccddeeff0011")
        self.up.response_options = [(10, server_cookie), (65002, b"up")]
        d = self.start_daemon(self.upstreams)
        first = udp_exchange(exotic_query(qid=1), d.dns_port)
        self.assertIsNotNone(first, "no reply")
        self.assertIn((10, server_cookie), parse_message(first).edns["options"])
        other = build_query("x.test", "A", qid=2, rd=True, ad=True, cd=True,
                            edns={"bufsize": 1232, "do": True,
                                  "options": [(10, bytes.fromhex("fedcba9876543210"))]})
        second = udp_exchange(other, d.dns_port)
        self.assertIsNotNone(second, "no reply")
        options = parse_message(second).edns["options"]
        self.assertNotIn(10, [code for code, _ in options], options)
        self.assertIn((65002, b"up"), options)
        self.assertEqual(self.up.count("x.test."), 1, "the second answer was not from the cache")

    def test_query_without_edns_reaches_upstream_without_opt(self):
        d = self.start_daemon(self.upstreams)
        reply = dig("x.test", port=d.dns_port, options=["+noedns"])
        self.assertEqual(reply.answers("A"), ["192.0.2.10"], reply)
        self.assertIsNone(reply.edns, reply)
        (q,) = self.up.received()
        self.assertIsNone(q.msg.opt, "an OPT appeared on the way to the upstream")

    def test_refused_outside_allow(self):
        d = self.start_daemon(self.upstreams, allow=["127.0.0.1/32"])
        for name in ("x.test", "members.dyndns.org"):
            with self.subTest(name=name, transport="udp"):
                reply = dig(name, port=d.dns_port, source="127.0.0.2")
                self.assertEqual(reply.rcode, "REFUSED", reply)
                self.assertEqual(reply.answer, [])
            with self.subTest(name=name, transport="tcp"):
                # One REFUSED over TCP too; then the server closes the connection.
                reply = dig(name, port=d.dns_port, source="127.0.0.2", tcp=True)
                self.assertEqual(reply.rcode, "REFUSED", reply)
                self.assertEqual(reply.answer, [])
        self.assertEqual(self.up.count(), 0, "a refused client's query reached the upstream")
        # The allowed source still gets answers.
        self.assertEqual(dig("x.test", port=d.dns_port, source="127.0.0.1").answers("A"),
                         ["192.0.2.10"])

    def test_servfail_when_upstream_is_silent(self):
        self.up.mode = "drop"
        d = self.start_daemon(self.upstreams, upstream_timeout="1s")
        reply = dig("x.test", port=d.dns_port, timeout=5)
        self.assertEqual(reply.rcode, "SERVFAIL", reply)
        self.assertLess(reply.elapsed, 1.0 + SERVFAIL_MARGIN, "SERVFAIL came too late")
        self.assertGreaterEqual(self.up.count("x.test"), 1)

    def test_servfail_when_upstream_is_dead(self):
        d = self.start_daemon(self.upstreams, upstream_timeout="1s")
        self.assertEqual(dig("x.test", port=d.dns_port).answers("A"), ["192.0.2.10"])
        self.up.stop()  # closed port: ICMP port unreachable
        reply = dig("other.test", port=d.dns_port, timeout=5)
        self.assertEqual(reply.rcode, "SERVFAIL", reply)
        self.assertLess(reply.elapsed, 1.0 + SERVFAIL_MARGIN)
        # The cached answer is still served and the daemon still answers.
        self.assertEqual(dig("x.test", port=d.dns_port).answers("A"), ["192.0.2.10"])

    def test_servfail_within_timeout_when_every_upstream_is_silent(self):
        # The budget is dns.upstream_timeout for the client, not per upstream or per retry.
        second = self.recording_upstream()
        second.mode = self.up.mode = "drop"
        d = self.start_daemon(self.upstreams + ["127.0.0.1:%d" % second.port],
                              upstream_timeout="1s")
        reply = dig("x.test", port=d.dns_port, timeout=6)
        self.assertEqual(reply.rcode, "SERVFAIL", reply)
        self.assertLess(reply.elapsed, 1.0 + SERVFAIL_MARGIN, "SERVFAIL came too late")

    def test_upstream_servfail_is_answered_and_not_cached_for_long(self):
        self.up.mode = "servfail"
        d = self.start_daemon(self.upstreams)
        self.assertEqual(dig("x.test", port=d.dns_port, timeout=4).rcode, "SERVFAIL")
        self.up.mode = "answer"
        # RFC 2308 §7.1, docs/dns.md#cache: SERVFAIL is cached for seconds at most. Poll (bounded) for the recovery.
        deadline = time.monotonic() + 12.0
        reply = None
        while time.monotonic() < deadline:
            reply = dig("x.test", port=d.dns_port)
            if reply.answers("A") == ["192.0.2.10"]:
                break
            threading.Event().wait(0.25)
        self.assertEqual(reply.answers("A"), ["192.0.2.10"], "still failing after 12s")

    def test_many_concurrent_queries_each_get_their_own_answer(self):
        d = self.start_daemon(self.upstreams)
        # 150 different names and 50 copies of one uncached name (coalescing must still answer
        # each client with its own ID and question), all in flight at once.
        queries = {}
        for i in range(150):
            queries[i] = build_query("n%d.test" % i, "A", qid=i)
        for i in range(150, 200):
            queries[i] = build_query("X.test" if i % 2 else "x.test", "A", qid=i)
        replies = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            for q in queries.values():
                s.sendto(q, ("127.0.0.1", d.dns_port))
            s.settimeout(0.5)
            deadline = time.monotonic() + 8.0
            while len(replies) < len(queries) and time.monotonic() < deadline:
                try:
                    m = parse_message(s.recv(65535))
                except socket.timeout:
                    continue
                replies[m.id] = m
        self.assertEqual(sorted(set(queries) - set(replies)), [], "unanswered IDs")
        for qid, m in replies.items():
            with self.subTest(qid=qid):
                q = parse_message(queries[qid])
                self.assertEqual(m.raw[12:m.question_end], queries[qid][12:q.question_end])
                if qid < 150:
                    self.assertEqual(m.rcode, "NXDOMAIN")
                else:
                    self.assertEqual([rr.rdata for rr in m.answer], [a_rdata("192.0.2.10")])

    def test_second_upstream_used_when_first_is_dead(self):
        dead = harness.free_port()
        d = self.start_daemon(["127.0.0.1:%d" % dead] + self.upstreams, upstream_timeout="2s")
        reply = dig("x.test", port=d.dns_port, timeout=5)
        self.assertEqual(reply.answers("A"), ["192.0.2.10"], reply)

    def test_slow_upstream_within_timeout_is_answered(self):
        self.up.delay = 0.4
        d = self.start_daemon(self.upstreams, upstream_timeout="2s")
        reply = dig("x.test", port=d.dns_port, timeout=5)
        self.assertEqual(reply.answers("A"), ["192.0.2.10"], reply)

    def test_upstream_ids_are_rewritten_and_random(self):
        # Every client uses ID 1: the IDs towards the upstream must not be the client's, and
        # must differ (RFC 5452 §9.2 — guessable IDs invite cache poisoning).
        d = self.start_daemon(self.upstreams)
        for i in range(20):
            raw = udp_exchange(build_query("id%d.test" % i, "A", qid=1), d.dns_port)
            self.assertEqual(parse_message(raw).id, 1)
        ids = [q.msg.id for q in self.up.received()]
        self.assertEqual(len(ids), 20)
        self.assertGreaterEqual(len(set(ids)), 18, ids)
        self.assertLess(ids.count(1), 3, ids)

    def test_reply_with_a_different_question_is_not_accepted(self):
        # An upstream (or spoofer) answering another question must not reach the client.
        def wrong_question(rec):
            q = rec.msg
            if q is None or q.qr:
                return None
            question = harness.encode_name("evil.test") + rec.raw[q.question_end - 4:q.question_end]
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + a_rdata("192.0.2.66")
            return struct.pack("!HHHHHH", q.id, 0x8180, 1, 1, 0, 0) + question + answer
        self.up.responder = wrong_question
        d = self.start_daemon(self.upstreams, upstream_timeout="1s")
        reply = dig("x.test", port=d.dns_port, timeout=5)
        self.assertNotIn("192.0.2.66", reply.answers("A"), reply)
        self.assertEqual(reply.rcode, "SERVFAIL", reply)
        self.up.responder = None
        # (x.test may now be a cached SERVFAIL for a few seconds: ask other names.)
        self.up.add("ok.test", "A", a_rdata("192.0.2.11"))
        self.assertEqual(dig("ok.test", port=d.dns_port).answers("A"), ["192.0.2.11"])
        self.assertEqual(dig("evil.test", port=d.dns_port).rcode, "NXDOMAIN", "cache poisoned")

    # ---- cache

    def test_ttl_zero_answer_is_not_cached(self):
        self.up.add("zero.test", "A", a_rdata("192.0.2.20"), ttl=0)
        d = self.start_daemon(self.upstreams)
        for _ in range(3):
            self.assertEqual(dig("zero.test", port=d.dns_port).answers("A"), ["192.0.2.20"])
        self.assertEqual(self.up.count("zero.test"), 3)

    def test_cache_hit_does_not_reach_upstream_and_ttl_decrements(self):
        d = self.start_daemon(self.upstreams)
        first = dig("x.test", port=d.dns_port)
        self.assertEqual(first.answers("A"), ["192.0.2.10"], first)
        self.assertEqual(self.up.count("x.test", "A"), 1)
        ttl0 = first.answer[0].ttl
        # Poll (bounded) until the cached TTL has gone down; every answer must be a cache hit.
        deadline = time.monotonic() + 4.0
        ttl = ttl0
        polls = 0
        while ttl >= ttl0 and time.monotonic() < deadline:
            threading.Event().wait(0.1)
            reply = dig("x.test", port=d.dns_port)
            self.assertEqual(reply.answers("A"), ["192.0.2.10"], reply)
            ttl = reply.answer[0].ttl
            polls += 1
        self.assertLess(ttl, ttl0, "cached answer's TTL never decremented")
        self.assertGreaterEqual(ttl, ttl0 - 5)
        self.assertEqual(self.up.count("x.test", "A"), 1,
                         "%d cache hits went upstream" % (self.up.count("x.test") - 1))

    def test_cache_key_folds_case_and_reply_echoes_the_question(self):
        d = self.start_daemon(self.upstreams)
        for name in ("X.Test", "x.TEST", "x.test"):
            query = build_query(name, "A")
            reply = parse_message(udp_exchange(query, d.dns_port))
            with self.subTest(name=name):
                self.assertEqual(reply.raw[12:reply.question_end], query[12:])
                self.assertEqual(reply.id, struct.unpack("!H", query[:2])[0])
                self.assertEqual(len(reply.answer), 1)
        self.assertEqual(self.up.count("x.test", "A"), 1)

    def test_cache_key_includes_do_and_cd(self):
        d = self.start_daemon(self.upstreams)
        variants = [["+bufsize=1232"], ["+bufsize=1232", "+dnssec"], ["+bufsize=1232", "+cd"]]
        for n, options in enumerate(variants, 1):
            self.assertEqual(dig("x.test", port=d.dns_port, options=options).answers("A"),
                             ["192.0.2.10"])
            self.assertEqual(self.up.count("x.test"), n, "variant %s served from cache" % options)
        for options in variants:
            dig("x.test", port=d.dns_port, options=options)
        self.assertEqual(self.up.count("x.test"), 3)

    def test_negative_answer_cached(self):
        d = self.start_daemon(self.upstreams)
        for _ in range(3):
            reply = dig("missing.test", port=d.dns_port)
            self.assertEqual(reply.rcode, "NXDOMAIN", reply)
            self.assertEqual([rr.type_name for rr in reply.authority], ["SOA"])
        self.assertEqual(self.up.count("missing.test"), 1)

    def test_cache_size_zero_disables_cache(self):
        d = self.start_daemon(self.upstreams, cache={"size": 0})
        for _ in range(3):
            self.assertEqual(dig("x.test", port=d.dns_port).answers("A"), ["192.0.2.10"])
        self.assertEqual(self.up.count("x.test"), 3)

    # ---- robustness (RFC 7766 TCP, malformed input)

    def test_tcp_pipelined_queries_on_one_connection(self):
        d = self.start_daemon(self.upstreams)
        queries = [build_query("members.dyndns.org", "A", qid=101),
                   build_query("x.test", "A", qid=102),
                   build_query("missing.test", "A", qid=103)]
        replies = {m.id: m for m in map(parse_message, tcp_exchange(queries, d.dns_port))}
        self.assertEqual(sorted(replies), [101, 102, 103])
        self.assertEqual(replies[101].answer[0].rdata, a_rdata("127.0.0.1"))
        self.assertEqual(replies[102].answer[0].rdata, a_rdata("192.0.2.10"))
        self.assertEqual(replies[103].rcode, "NXDOMAIN")

    def test_tcp_connection_serves_sequential_queries_and_split_frames(self):
        d = self.start_daemon(self.upstreams)
        with tcp_connect(d.dns_port) as s:
            for qid in range(1, 4):
                query = frame(build_query("x.test", "A", qid=qid))
                s.sendall(query[:1])  # the length prefix split across writes
                s.sendall(query[1:5])
                s.sendall(query[5:])
                reply = parse_message(recv_frame(s))
                self.assertEqual((reply.id, reply.answer[0].rdata), (qid, a_rdata("192.0.2.10")))

    def test_tcp_query_then_half_close_is_answered(self):
        d = self.start_daemon(self.upstreams)
        with tcp_connect(d.dns_port) as s:
            s.sendall(frame(build_query("x.test", "A", qid=77)))
            s.shutdown(socket.SHUT_WR)  # RFC 7766 §6.2.4 clients may close their side first
            reply = parse_message(recv_frame(s))
        self.assertEqual((reply.id, reply.answer[0].rdata), (77, a_rdata("192.0.2.10")))

    def test_garbage_after_header_gets_formerr(self):
        d = self.start_daemon(self.upstreams)
        header = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
        for garbage in (b"\x07garbage", b"\xff\xff\xff", b"\x03abc\x00\x00", b"\xc0\x0c\x00"):
            with self.subTest(garbage=garbage):
                raw = udp_exchange(header + garbage, d.dns_port)
                self.assertIsNotNone(raw, "no reply to an unparseable query")
                reply = parse_message(raw)
                self.assertEqual((reply.id, reply.qr, reply.rcode), (0x4242, True, "FORMERR"))
        self.assertEqual(self.up.count(), 0)

    def test_responses_and_short_packets_are_dropped(self):
        d = self.start_daemon(self.upstreams)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            response = bytearray(build_query("x.test", qid=9))
            response[2] |= 0x80  # QR=1
            for packet in (bytes(response), b"\x00\x01\x01", b""):
                with self.subTest(packet=packet):
                    s.sendto(packet, ("127.0.0.1", d.dns_port))
                    with self.assertRaises(socket.timeout, msg="answered a packet to drop"):
                        s.recv(4096)
            # The same socket still gets answers.
            s.settimeout(3)
            s.sendto(build_query("x.test", qid=10), ("127.0.0.1", d.dns_port))
            self.assertEqual(parse_message(s.recv(4096)).id, 10)

    def test_survives_a_burst_of_malformed_packets(self):
        d = self.start_daemon(self.upstreams)
        rng = random.Random(5625)
        valid = build_query("x.test", "A")
        packets = []
        for i in range(500):
            kind = i % 10
            if kind == 0:
                packets.append(bytes(rng.randrange(256) for _ in range(rng.randrange(12))))
            elif kind == 1:
                packets.append(bytes(rng.randrange(256) for _ in range(rng.randrange(12, 600))))
            elif kind == 2:  # QR=1
                packets.append(valid[:2] + bytes([valid[2] | 0x80]) + valid[3:])
            elif kind == 3:  # compression pointer to itself
                packets.append(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01")
            elif kind == 4:  # counts promise records that are not there
                packets.append(valid[:4] + struct.pack("!HHHH", 1, 40, 40, 40) + valid[12:])
            elif kind == 5:  # OPT whose RDLENGTH runs past the end
                packets.append(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 1) + valid[12:]
                               + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\xff\xff\x00")
            elif kind == 6:  # name longer than 255 octets
                packets.append(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0)
                               + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63
                               + b"\x3f" + b"d" * 63 + b"\x3f" + b"e" * 63 + b"\x00\x00\x01\x00\x01")
            elif kind == 7:  # other opcodes, several questions, reserved label types
                packets.append(struct.pack("!HHHHHH", i, rng.choice((0x2800, 0x2000, 0x1000, 0x7800)),
                                           rng.randrange(0, 4), 0, 0, 0) + valid[12:])
                packets.append(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + b"\x80abc\x00\x00\x01\x00\x01")
            elif kind == 8:  # two OPT records, EDNS version 1
                packets.append(valid[:10] + b"\x00\x02" + valid[12:] + harness.opt_rr() + harness.opt_rr())
                packets.append(valid[:10] + b"\x00\x01" + valid[12:] + harness.opt_rr(version=1))
            else:  # bit flips of a valid query
                flipped = bytearray(valid)
                for _ in range(3):
                    flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
                packets.append(bytes(flipped))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for packet in packets[:600]:
                s.sendto(packet, ("127.0.0.1", d.dns_port))
        # TCP too: garbage frames, a zero-length frame, a frame that promises more than it sends.
        for payload in (frame(b""), frame(b"\xff" * 3), b"\xff\xff" + b"x" * 100,
                        frame(packets[1]), frame(packets[3])):
            with tcp_connect(d.dns_port) as s:
                s.sendall(payload)
        self.assertTrue(d.alive(), "daemon died:\n" + d.stderr_text()[-3000:])
        self.assertEqual(dig("x.test", port=d.dns_port).answers("A"), ["192.0.2.10"])
        self.assertEqual(dig("x.test", port=d.dns_port, tcp=True).answers("A"), ["192.0.2.10"])
        self.assertIntercepted(dig("members.dyndns.org", port=d.dns_port), "127.0.0.1")


# ---------------------------------------------------------------------------------------------
# A second real upstream (dnsmasq), killed mid-test

class DnsmasqUpstreamTest(DaemonTestCase):

    def test_forwarded_then_servfail_after_upstream_killed(self):
        peer = DnsmasqPeer(["address=/a.test/192.0.2.7", "address=/b.test/192.0.2.8"]).start()
        self.addCleanup(peer.stop)
        d = self.start_daemon(["127.0.0.1:%d" % peer.port], upstream_timeout="1s")
        mark = peer.log.mark()
        self.assertEqual(dig("a.test", port=d.dns_port).answers("A"), ["192.0.2.7"])
        self.assertTrue(any("query[A] a.test" in l for l in peer.queries(mark)))
        peer.kill()
        reply = dig("b.test", port=d.dns_port, timeout=5)
        self.assertEqual(reply.rcode, "SERVFAIL", reply)
        self.assertLess(reply.elapsed, 1.0 + SERVFAIL_MARGIN)
        self.assertTrue(d.alive())


# ---------------------------------------------------------------------------------------------
# SIGHUP reload

class ReloadTest(DaemonTestCase):

    def test_sighup_applies_a_changed_intercept_answer(self):
        d = self.start_daemon(intercept={"answer_ipv4": "192.0.2.1"})
        self.assertIntercepted(dig("members.dyndns.org", port=d.dns_port), "192.0.2.1")
        d.config["dns"]["intercept"]["answer_ipv4"] = "192.0.2.2"
        d.config["dns"]["intercept"]["names"].append("extra.gw.test")
        self.assertEqual(d.reload(d.config), "reloaded", d.stderr_text()[-2000:])
        self.assertIntercepted(dig("members.dyndns.org", port=d.dns_port), "192.0.2.2")
        self.assertIntercepted(dig("extra.gw.test", port=d.dns_port), "192.0.2.2")
        self.assertEqual(dig("a.test", port=d.dns_port).answers("A"), ["192.0.2.7"])

    def test_bad_config_on_sighup_is_refused_and_old_one_keeps_answering(self):
        d = self.start_daemon(intercept={"answer_ipv4": "192.0.2.1"})
        bad = dict(d.config, dns=dict(d.config["dns"], listne=["127.0.0.1:1"]))  # a typo
        bad["dns"]["intercept"] = dict(bad["dns"]["intercept"], answer_ipv4="192.0.2.2")
        self.assertEqual(d.reload(bad), "refused", d.stderr_text()[-2000:])
        self.assertTrue(d.alive())
        self.assertIntercepted(dig("members.dyndns.org", port=d.dns_port), "192.0.2.1")
        self.assertEqual(dig("a.test", port=d.dns_port).answers("A"), ["192.0.2.7"])
        # Unparseable YAML is refused the same way.
        self.assertEqual(d.reload(text="dns: [unclosed\n"), "refused")
        self.assertIntercepted(dig("members.dyndns.org", port=d.dns_port, tcp=True), "192.0.2.1")
        self.assertEqual(d.stop(), 0, d.stderr_text()[-2000:])

    def test_reload_drops_no_queries_and_keeps_tcp_connections(self):
        d = self.start_daemon(intercept={"answer_ipv4": "192.0.2.1"})
        conn = tcp_connect(d.dns_port)
        self.addCleanup(conn.close)
        conn.sendall(frame(build_query("a.test", qid=1)))
        self.assertEqual(parse_message(recv_frame(conn)).id, 1)

        lost, answered = [], []
        done = threading.Event()

        def client():  # bounded: at most 3000 queries, each waiting at most 2s
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                for i in range(3000):
                    if done.is_set():
                        break
                    name = "members.dyndns.org" if i % 2 else "a.test"
                    s.sendto(build_query(name, qid=i), ("127.0.0.1", d.dns_port))
                    try:
                        while parse_message(s.recv(4096)).id != i:
                            pass
                        answered.append(i)
                    except socket.timeout:
                        lost.append(i)

        worker = threading.Thread(target=client, daemon=True)
        worker.start()
        try:
            for n in range(3):
                d.config["dns"]["intercept"]["ttl"] = 30 + n
                self.assertEqual(d.reload(d.config), "reloaded")
        finally:
            done.set()
            worker.join(10)
        self.assertGreater(len(answered), 0)
        self.assertEqual(lost, [], "queries lost around SIGHUP")
        # The TCP connection opened before the reloads still works, with the new config.
        conn.sendall(frame(build_query("members.dyndns.org", qid=2)))
        reply = parse_message(recv_frame(conn))
        self.assertEqual((reply.id, reply.answer[0].ttl), (2, 32))


if __name__ == "__main__":
    unittest.main()
