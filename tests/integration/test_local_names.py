"""Local names (docs/dns.md#local-names) end to end: the real daemon, the token-API emulator,
curl as the updating device and dig from two loopback source addresses.

127.0.0.1 sends the accepted update (it is the router checking its own name); 127.0.0.2 never
did (any other device of the LAN). The first is told the address it published, the second the
dns.records entry (the LAN address: the NAT-loopback fix). A RecordingUpstream stands for the
world, so a forwarded name is seen arriving there.

The ddclient-in-a-namespace variant of the same story is not here (see the report of issue 9).
"""

import json
import subprocess
import unittest

from dns_peers import RecordingUpstream
from emulator import Emulator
import gateway_harness as gh
from gateway_harness import (DEVICE_PASS, DEVICE_USER, EMULATOR_WINDOW, MIN_INTERVAL, PUBLIC_A,
                             PUBLIC_B, Gateway, account, make_token, poll_until, wait_calls)
import harness

HOME = "home.example.com"
CLOUD = "cloud.example.com"
VPN = "vpn.example.com"
NAS = "nas.example.com"
LAN_HOME = "192.168.1.2"
IP_TOKEN = "dd:1234567890ABCDEF"
TTL = 42
UPDATER = "127.0.0.1"
OTHER = "127.0.0.2"


class LocalNamesTest(unittest.TestCase):
    def setUp(self):
        self.token = make_token("names")
        self.emu = Emulator(tokens={self.token: "ok"}, window=EMULATOR_WINDOW)
        self.emu.start()
        self.addCleanup(self.emu.stop)
        self.up = RecordingUpstream().start()
        self.addCleanup(self.up.stop)
        entry = account(self.token)
        entry["ip_token"] = IP_TOKEN
        entry["names"] = [HOME, CLOUD]
        self.gw = Gateway(self.emu.url, accounts=[entry], min_interval="%ds" % MIN_INTERVAL,
                          upstreams=["127.0.0.1:%d" % self.up.port])
        self.addCleanup(self.gw.cleanup)
        self.gw.config["dns"]["records_ttl"] = TTL
        self.gw.config["dns"]["records"] = {
            HOME: {"A": LAN_HOME},
            NAS: {"A": "192.168.1.10", "AAAA": "fd00::10"},
            VPN: {"A": IP_TOKEN},
            "www.example.com": {"CNAME": NAS},
            # Quoted here: the harness writes keys bare, and YAML reads a bare * as an alias.
            '"*.lab.example.com"': {"A": ["10.0.0.1"]},
            "example.com": {"MX": ["10 mail.example.com"], "TXT": ["v=spf1 -all"]},
        }
        self.gw.start()

    def dig(self, name, qtype="A", source=OTHER, options=()):
        reply = harness.dig(name, qtype, port=self.gw.dns_port, source=source,
                            options=list(options))
        self.assertFalse(reply.timeout, "no answer to %s %s from %s" % (name, qtype, source))
        return reply

    def curl_update(self, myip):
        """The device: curl with Basic auth from 127.0.0.1, as a router's DynDNS client does."""
        url = "http://%s:%d/nic/update?hostname=%s&myip=%s" % (
            self.gw.http_host, self.gw.http_port, HOME, myip)
        out = subprocess.run(["curl", "-s", "--max-time", "10", "--interface", UPDATER,
                              "-u", "%s:%s" % (DEVICE_USER, DEVICE_PASS), url],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip()

    def test_the_updater_and_the_others_get_different_answers(self):
        self.assertEqual(self.curl_update(PUBLIC_A), "good %s" % PUBLIC_A)
        mine = self.dig(HOME, source=UPDATER)
        theirs = self.dig(HOME, source=OTHER)
        self.assertEqual(mine.answers("A"), [PUBLIC_A], mine)
        self.assertEqual(theirs.answers("A"), [LAN_HOME], theirs)
        for reply in (mine, theirs):
            self.assertEqual(reply.rcode, "NOERROR")
            self.assertIn("aa", reply.flags)
            self.assertEqual([rr.ttl for rr in reply.answer], [TTL])
        # A name of the account without a records entry: everyone sees the accepted address.
        self.assertEqual(self.dig(CLOUD, source=OTHER).answers("A"), [PUBLIC_A])
        self.assertEqual(self.up.count(name=HOME), 0, "a local name went upstream")

    def test_a_queued_update_changes_the_updaters_answer_at_once(self):
        self.assertEqual(self.curl_update(PUBLIC_A), "good %s" % PUBLIC_A)
        wait_calls(self.emu, self.token, 1)
        self.assertEqual(self.dig(HOME, source=UPDATER).answers("A"), [PUBLIC_A])
        # Inside the window: queued, not sent; the answer follows the accepted address anyway.
        self.assertEqual(self.curl_update(PUBLIC_B), "good %s" % PUBLIC_B)
        self.assertEqual(len(self.emu.calls()), 1, "the second update was not held back")
        self.assertEqual(self.dig(HOME, source=UPDATER).answers("A"), [PUBLIC_B])
        self.assertEqual(self.dig(HOME, source=OTHER).answers("A"), [LAN_HOME])
        self.assertEqual(self.dig(VPN).answers("A"), [PUBLIC_B])

    def test_an_account_without_an_address_is_forwarded(self):
        for name in (CLOUD, VPN):
            reply = self.dig(name)
            self.assertNotIn("aa", reply.flags, reply)
            self.assertTrue(self.up.wait_for_count(1, name=name), "%s not forwarded" % name)
        # The dns.records entry still answers the others before any update.
        self.assertEqual(self.dig(HOME, source=OTHER).answers("A"), [LAN_HOME])

    def test_ip_token_record_is_forwarded_then_answered_and_follows_changes(self):
        first = self.dig(VPN)
        self.assertNotIn("aa", first.flags)
        self.assertTrue(self.up.wait_for_count(1, name=VPN))
        self.assertEqual(self.curl_update(PUBLIC_A), "good %s" % PUBLIC_A)
        answered = self.dig(VPN)
        self.assertIn("aa", answered.flags)
        self.assertEqual(answered.answers("A"), [PUBLIC_A])
        self.assertEqual([rr.ttl for rr in answered.answer], [TTL])
        wait_calls(self.emu, self.token, 1)
        self.assertEqual(self.curl_update(PUBLIC_B), "good %s" % PUBLIC_B)
        self.assertEqual(self.dig(VPN).answers("A"), [PUBLIC_B])
        self.assertEqual(self.up.count(name=VPN), 1, "answered locally after the update")

    def test_records_types_nodata_and_soa(self):
        nas = self.dig(NAS, "AAAA")
        self.assertEqual(nas.answers("AAAA"), ["fd00::10"])
        www = self.dig("www.example.com")
        self.assertEqual([rr.type_name for rr in www.answer], ["CNAME", "A"])
        self.assertEqual(www.answers("A"), ["192.168.1.10"])
        self.assertEqual(self.dig("x.lab.example.com").answers("A"), ["10.0.0.1"])
        self.assertEqual(self.dig("example.com", "MX").answers("MX"), ["10 mail.example.com."])
        self.assertEqual(self.dig("example.com", "TXT").answers("TXT"), ['"v=spf1 -all"'])
        ptr = self.dig("10.1.168.192.in-addr.arpa", "PTR")
        self.assertEqual(ptr.answers("PTR"), [NAS + "."])
        for name, qtype in ((NAS, "TXT"), ("example.com", "A"), (HOME, "HTTPS")):
            reply = self.dig(name, qtype)
            self.assertEqual(reply.rcode, "NOERROR", reply)
            self.assertIn("aa", reply.flags)
            self.assertEqual(reply.answer, [])
            self.assertEqual([rr.type_name for rr in reply.authority], ["SOA"], reply)
            self.assertEqual(reply.authority[0].ttl, TTL)
        signed = self.dig(NAS, "A", options=["+dnssec"])
        self.assertEqual([rr.type_name for rr in signed.answer], ["A"], "local answers are unsigned")
        self.assertEqual(self.up.count(), 0, "a local name went upstream")

    def local_names(self):
        reply = gh.request(self.gw.http_host, self.gw.http_port, "/status.json")
        self.assertEqual(reply.status, 200, reply)
        return {entry["name"]: (entry["to_updaters"], entry["to_others"])
                for entry in json.loads(reply.body)["local_names"]}

    def test_status_json_shows_what_each_kind_of_client_is_told(self):
        before = self.local_names()
        self.assertEqual(before[HOME], (None, LAN_HOME))
        self.assertEqual(before[CLOUD], (None, "forwarded (no address yet)"))
        self.assertEqual(before[VPN], (None, "forwarded (no address yet)"))
        self.assertEqual(self.curl_update(PUBLIC_A), "good %s" % PUBLIC_A)
        after = self.local_names()
        self.assertEqual(after[HOME], (PUBLIC_A, LAN_HOME))
        self.assertEqual(after[CLOUD], (PUBLIC_A, PUBLIC_A))
        self.assertEqual(after[VPN][1], PUBLIC_A)
        self.assertEqual(after[NAS], (None, "192.168.1.10, fd00::10"))
        # What the page says is what dig is told.
        self.assertEqual(self.dig(HOME, source=UPDATER).answers("A"), [PUBLIC_A])
        self.assertEqual(self.dig(HOME, source=OTHER).answers("A"), [LAN_HOME])

    def test_the_update_sources_survive_a_restart(self):
        self.assertEqual(self.curl_update(PUBLIC_A), "good %s" % PUBLIC_A)
        wait_calls(self.emu, self.token, 1)
        self.gw.restart()
        self.assertEqual(self.dig(HOME, source=UPDATER).answers("A"), [PUBLIC_A])
        self.assertEqual(self.dig(HOME, source=OTHER).answers("A"), [LAN_HOME])


if __name__ == "__main__":
    unittest.main()
