"""End-to-end tests of public address detection (README "Keeping the address current without a
device", docs/configuration.md#public-address): the real daemon asks loopback stand-ins for the
whoami servers (a scriptable DNS server answering A, TXT and TXT in class CH, as OpenDNS,
Google and Cloudflare do) and for an HTTP echo page (http.server in this test), and shows what
it believes on /status.json. With the token-API emulator, a believed address becomes one
self-update. Waiting is always a poll with a deadline."""

import http.server
import json
import os
import threading
import unittest

from dns_peers import RecordingUpstream
from emulator import Emulator
from gateway_harness import (EMULATOR_WINDOW, PUBLIC_A, PUBLIC_B, Gateway, account, calls_for,
                             free_port, make_token, poll_until, request, update, wait_calls)

BUILD = os.environ.get("DYNAMO_BUILD_DIR", "../../build")
CGNAT = "100.64.7.8"
CH = 3  # the CHAOS class of Cloudflare's whoami.cloudflare


def ipv4(text):
    return bytes(int(part) for part in text.split("."))


def txt(text):
    data = text.encode("ascii")
    return bytes([len(data)]) + data


class EchoPage:
    """An HTTP echo page on 127.0.0.1: GET / answers `body` (checkip.dyndns.org's format)."""

    def __init__(self, address):
        self.body = "<html><head><title>Current IP Check</title></head><body>" \
                    "Current IP Address: %s</body></html>\r\n" % address
        self.requests = 0
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                page.requests += 1
                data = page.body.encode("ascii")
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PublicAddressCase(unittest.TestCase):
    def setUp(self):
        self.whoami = RecordingUpstream().start()
        self.addCleanup(self.whoami.stop)

    def answer(self, opendns=None, google=None, cloudflare=None):
        """The loopback server answers the three whoami names with these addresses."""
        if opendns:
            self.whoami.add("myip.opendns.test", "A", ipv4(opendns))
        if google:
            self.whoami.add("o-o.myaddr.google.test", "TXT", txt(google))
        if cloudflare:
            self.whoami.add("whoami.cloudflare.test", "TXT", txt(cloudflare), rclass=CH)

    def whoami_entries(self, port=None):
        server = "127.0.0.1:%d" % (port or self.whoami.port)
        return [{"server": server, "name": "myip.opendns.test", "type": "A"},
                {"server": server, "name": "o-o.myaddr.google.test", "type": "TXT"},
                {"server": server, "name": "whoami.cloudflare.test", "type": "TXT",
                 "class": "CH"}]

    def gateway(self, public_address, update_url="http://127.0.0.1:%d/" % free_port(),
                accounts=None, **kwargs):
        gw = Gateway(update_url=update_url, accounts=accounts, **kwargs)
        if public_address is not None:
            gw.config["public_address"] = public_address
        self.addCleanup(gw.cleanup)
        return gw.start()

    def status(self, gw):
        return json.loads(request(gw.http_host, gw.http_port, "/status.json").body)

    def after_round(self, gw, rounds=1):
        return poll_until(lambda: (lambda s: s if s["public_address"]["rounds"] >= rounds
                                   else None)(self.status(gw)),
                          timeout=20, what="a public-address round")["public_address"]

    def source(self, state, name):
        return next(s for s in state["sources"] if name in s["source"])


class SourcesTest(PublicAddressCase):
    def test_whoami_names_in_a_txt_and_ch_agree_and_are_believed(self):
        self.answer(opendns=PUBLIC_A, google=PUBLIC_A, cloudflare=PUBLIC_A)
        gw = self.gateway({"sources": ["dns"], "dns_whoami": self.whoami_entries()})
        state = self.after_round(gw)
        self.assertEqual(state["address"], PUBLIC_A)
        self.assertEqual(len(state["agreeing"]), 3)
        self.assertIsNone(state["disagreement"])
        self.assertEqual(state["cgnat"], 0)
        for name in ("myip.opendns.test", "o-o.myaddr.google.test", "whoami.cloudflare.test"):
            entry = self.source(state, name)
            self.assertEqual(entry["address"], PUBLIC_A, entry)
            self.assertIsNone(entry["error"])
            self.assertIsNotNone(entry["time"])
        # The CH question really went out in class CH (RFC 1035 §3.2.4).
        classes = {q.msg.question[0][0].rstrip(".").lower(): q.msg.question[0][2]
                   for q in self.whoami.received()}
        self.assertEqual(classes["whoami.cloudflare.test"], CH)
        self.assertEqual(classes["myip.opendns.test"], 1)
        page = request(gw.http_host, gw.http_port, "/status").body
        self.assertIn('<strong class="public-address">%s</strong>' % PUBLIC_A, page)
        metrics = request(gw.http_host, gw.http_port, "/metrics").body
        self.assertIn("\ndynamo_gateway_public_address_rounds_total 1\n", metrics)
        self.assertIn("\ndynamo_gateway_public_address_cgnat 0\n", metrics)
        self.assertIn("public address: %s" % PUBLIC_A, gw.stderr_text())

    def test_disagreeing_sources_are_reported_and_nothing_is_believed(self):
        self.answer(opendns=PUBLIC_A, google=PUBLIC_B)
        entries = self.whoami_entries()[:2]
        gw = self.gateway({"sources": ["dns"], "dns_whoami": entries})
        state = self.after_round(gw)
        self.assertIsNone(state["address"])
        self.assertIn(PUBLIC_A, state["disagreement"])
        self.assertIn(PUBLIC_B, state["disagreement"])
        self.assertEqual(state["disagreements"], 1)
        self.assertIn("the sources disagree", gw.stderr_text())
        page = request(gw.http_host, gw.http_port, "/status").body
        self.assertIn('id="public-address-disagreement"', page)

    def test_one_source_down_the_other_two_still_agree(self):
        self.answer(opendns=PUBLIC_A, google=PUBLIC_A)
        silent = RecordingUpstream()
        silent.mode = "drop"  # hears the question, never answers
        silent.start()
        self.addCleanup(silent.stop)
        entries = self.whoami_entries()
        entries[2]["server"] = "127.0.0.1:%d" % silent.port
        # And one where nothing listens at all.
        entries.append({"server": "127.0.0.1:%d" % free_port(), "name": "myip.opendns.test"})
        gw = self.gateway({"sources": ["dns"], "dns_whoami": entries})
        state = self.after_round(gw)
        self.assertEqual(state["address"], PUBLIC_A)
        down = self.source(state, "whoami.cloudflare.test")
        self.assertIsNone(down["address"])
        self.assertEqual(down["error"], "timeout")
        self.assertGreaterEqual(silent.count("whoami.cloudflare.test"), 1)
        refused = state["sources"][3]
        self.assertIsNone(refused["address"])
        self.assertEqual(refused["error"], "connection refused")

    def test_a_name_the_server_does_not_know_is_an_error_not_an_address(self):
        self.answer(opendns=PUBLIC_A)
        gw = self.gateway({"sources": ["dns"], "dns_whoami": self.whoami_entries()[:2]})
        state = self.after_round(gw)
        self.assertIsNone(state["address"])  # one voice of two configured is not enough
        self.assertEqual(self.source(state, "o-o.myaddr.google.test")["error"], "NXDOMAIN")

    def test_detection_is_off_unless_asked_for(self):
        gw = self.gateway(None)
        state = self.status(gw)["public_address"]
        self.assertFalse(state["enabled"])
        self.assertEqual(state["rounds"], 0)
        self.assertEqual(state["sources"], [])
        self.assertNotIn("public address detection: on", gw.stderr_text())
        page = request(gw.http_host, gw.http_port, "/status").body
        self.assertIn("Detection is off", page)


class CarrierGradeNatTest(PublicAddressCase):
    def test_a_shared_address_is_reported_and_never_published(self):
        self.answer(opendns=CGNAT, google=CGNAT)
        token = make_token("cgnat")
        entry = account(token)
        entry["self_update"] = True
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway({"sources": ["dns"], "dns_whoami": self.whoami_entries()[:2]},
                              update_url=emu.url, accounts=[entry])
            state = self.after_round(gw)
            self.assertIsNone(state["address"])
            self.assertEqual(state["cgnat"], 1)
            self.assertIn(CGNAT, state["cgnat_reason"])
            log = gw.stderr_text()
            self.assertEqual(log.count("behind carrier-grade NAT: incoming connections will not "
                                       "reach this network"), 1, log[-3000:])
            page = request(gw.http_host, gw.http_port, "/status").body
            self.assertIn('id="cgnat"', page)
            metrics = request(gw.http_host, gw.http_port, "/metrics").body
            self.assertIn("\ndynamo_gateway_public_address_cgnat 1\n", metrics)
            self.assertEqual(calls_for(emu, token), [])


class SelfUpdateTest(PublicAddressCase):
    def test_the_believed_address_is_one_token_call(self):
        self.answer(opendns=PUBLIC_A, google=PUBLIC_A)
        token = make_token("self")
        entry = account(token)
        entry["self_update"] = True
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway({"sources": ["dns"], "dns_whoami": self.whoami_entries()[:2]},
                              update_url=emu.url, accounts=[entry], min_interval="2s")
            calls = wait_calls(emu, token, 1, timeout=20)
            self.assertEqual(calls[0]["ip"], PUBLIC_A)
            poll_until(lambda: self.status(gw)["accounts"][0]["published_ip"] == PUBLIC_A,
                       what="the account's published address")
            # A device reporting the same address adds nothing to publish.
            r = update(gw, "cam.example.net", myip=PUBLIC_A)
            self.assertTrue(r.body.startswith(("good", "nochg")), r.body)
            self.assertEqual(len(calls_for(emu, token)), 1)
            self.assertEqual(self.status(gw)["public_address"]["rounds"], 1)


if __name__ == "__main__":
    unittest.main()
