"""End-to-end tests of public address detection (README "Keeping the address current without a
device", docs/configuration.md#public_address): the real daemon asks loopback stand-ins for the
whoami servers (a scriptable DNS server answering A, TXT and TXT in class CH, as OpenDNS,
Google and Cloudflare do) and for an HTTP echo page (http.server in this test), and shows what
it believes on /status.json. With the token-API emulator, a believed address becomes one
self-update. Waiting is always a poll with a deadline."""

import http.server
import json
import os
import shutil
import stat
import tempfile
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
                accounts=None, alerts=None, **kwargs):
        gw = Gateway(update_url=update_url, accounts=accounts, **kwargs)
        if public_address is not None:
            gw.config["public_address"] = public_address
        if alerts is not None:
            gw.config["alerts"] = alerts
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

    def echo(self, address):
        page = EchoPage(address)
        self.addCleanup(page.close)
        return page

    def test_a_whoami_name_and_an_http_echo_page_agree(self):
        self.answer(opendns=PUBLIC_A)
        page = self.echo(PUBLIC_A)
        gw = self.gateway({"sources": ["dns", "http"], "dns_whoami": self.whoami_entries()[:1],
                           "http_echo": [page.url]})
        state = self.after_round(gw)
        self.assertEqual(state["address"], PUBLIC_A)
        self.assertEqual(state["agreeing"],
                         ["dns myip.opendns.test@127.0.0.1:%d" % self.whoami.port,
                          "http " + page.url])
        self.assertEqual(self.source(state, "http")["address"], PUBLIC_A)
        self.assertEqual(page.requests, 1)

    def test_disagreeing_sources_are_reported_and_nothing_is_believed(self):
        self.answer(opendns=PUBLIC_A)
        page = self.echo(PUBLIC_B)
        gw = self.gateway({"sources": ["dns", "http"], "dns_whoami": self.whoami_entries()[:1],
                           "http_echo": [page.url]})
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
        # And one where nothing listens at all, and an echo page that is down.
        entries.append({"server": "127.0.0.1:%d" % free_port(), "name": "myip.opendns.test"})
        down_page = "http://127.0.0.1:%d/" % free_port()
        gw = self.gateway({"sources": ["dns", "http"], "dns_whoami": entries,
                           "http_echo": [down_page]})
        state = self.after_round(gw)
        self.assertEqual(state["address"], PUBLIC_A)
        down = self.source(state, "whoami.cloudflare.test")
        self.assertIsNone(down["address"])
        self.assertEqual(down["error"], "timeout")
        self.assertGreaterEqual(silent.count("whoami.cloudflare.test"), 1)
        refused = state["sources"][3]
        self.assertIsNone(refused["address"])
        self.assertEqual(refused["error"], "connection refused")
        page = self.source(state, down_page)
        self.assertIsNone(page["address"])
        self.assertTrue(page["error"].startswith("connect-refused"), page)

    def test_a_name_the_server_does_not_know_is_an_error_not_an_address(self):
        self.answer(opendns=PUBLIC_A)
        gw = self.gateway({"sources": ["dns"], "dns_whoami": self.whoami_entries()[:2]})
        state = self.after_round(gw)
        self.assertIsNone(state["address"])  # one voice of two configured is not enough
        self.assertEqual(self.source(state, "o-o.myaddr.google.test")["error"], "NXDOMAIN")

    def test_a_reload_turns_detection_on_and_off(self):
        self.answer(opendns=PUBLIC_A, google=PUBLIC_A)
        gw = self.gateway(None)
        self.assertFalse(self.status(gw)["public_address"]["enabled"])
        config = dict(gw.config)
        config["public_address"] = {"sources": ["dns"], "dns_whoami": self.whoami_entries()[:2]}
        self.assertEqual(gw.daemon.reload(config), "reloaded")
        state = self.after_round(gw)
        self.assertTrue(state["enabled"])
        self.assertEqual(state["address"], PUBLIC_A)
        del config["public_address"]
        self.assertEqual(gw.daemon.reload(config), "reloaded")
        self.assertFalse(self.status(gw)["public_address"]["enabled"])
        self.assertIn("public address detection: off", gw.stderr_text())

    def test_detection_is_off_unless_asked_for(self):
        gw = self.gateway(None)
        state = self.status(gw)["public_address"]
        self.assertFalse(state["enabled"])
        self.assertEqual(state["rounds"], 0)
        self.assertEqual(state["sources"], [])
        self.assertNotIn("public address detection: on", gw.stderr_text())
        page = request(gw.http_host, gw.http_port, "/status").body
        self.assertIn("Detection is off", page)


class DeviceVoiceTest(PublicAddressCase):
    def test_a_devices_public_myip_is_the_second_voice(self):
        self.answer(opendns=PUBLIC_A)  # the Google name is unknown: NXDOMAIN
        token = make_token("voice")
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway({"sources": ["dns"], "dns_whoami": self.whoami_entries()[:2]},
                              update_url=emu.url, accounts=[account(token)])
            self.assertIsNone(self.after_round(gw)["address"])
            # A private myip is no voice.
            r = update(gw, "cam.example.net", myip="192.168.1.7")
            self.assertIsNone(self.status(gw)["public_address"]["address"])
            r = update(gw, "cam.example.net", myip=PUBLIC_A)
            self.assertTrue(r.body.startswith("good"), r.body)
            state = poll_until(lambda: (lambda s: s if s["address"] else None)(
                self.status(gw)["public_address"]), what="the believed address")
            self.assertEqual(state["address"], PUBLIC_A)
            self.assertIn("device 127.0.0.1", state["agreeing"])
            self.assertEqual(state["rounds"], 1)  # no new round was needed


class CarrierGradeNatTest(PublicAddressCase):
    def setUp(self):
        super().setUp()
        tmp = tempfile.mkdtemp(prefix="dynamo-cgnat-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        self.exec_out = os.path.join(tmp, "exec.out")
        self.script = os.path.join(tmp, "on-event")
        with open(self.script, "w") as f:
            f.write("#!/bin/sh\nenv | grep '^DYNAMO_' | sort >> %s\necho --- >> %s\n"
                    % (self.exec_out, self.exec_out))
        os.chmod(self.script, stat.S_IRWXU)

    def exec_runs(self):
        try:
            with open(self.exec_out) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        return [dict(line.split("=", 1) for line in block.strip().splitlines())
                for block in text.split("---\n") if block.strip()]

    def test_a_shared_address_is_reported_and_never_published(self):
        self.answer(opendns=CGNAT)
        page = EchoPage(CGNAT)
        self.addCleanup(page.close)
        token = make_token("cgnat")
        entry = account(token)
        entry["self_update"] = True
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway({"sources": ["dns", "http"],
                               "dns_whoami": self.whoami_entries()[:1], "http_echo": [page.url]},
                              update_url=emu.url, accounts=[entry],
                              alerts={"channels": [{"type": "exec", "command": self.script}]})
            state = self.after_round(gw)
            self.assertIsNone(state["address"])
            self.assertEqual(state["cgnat"], 1)
            self.assertIn(CGNAT, state["cgnat_reason"])
            log = gw.stderr_text()
            self.assertEqual(log.count("warning: behind carrier-grade NAT: incoming connections "
                                       "will not reach this network"), 1, log[-3000:])
            page = request(gw.http_host, gw.http_port, "/status").body
            self.assertIn('id="cgnat"', page)
            # The cgnat alert, once.
            runs = poll_until(lambda: self.exec_runs(), what="the cgnat alert")
            self.assertEqual([r["DYNAMO_EVENT"] for r in runs], ["cgnat"])
            self.assertIn(CGNAT, runs[0]["DYNAMO_MESSAGE"])
            metrics = request(gw.http_host, gw.http_port, "/metrics").body
            self.assertIn("\ndynamo_gateway_public_address_cgnat 1\n", metrics)
            self.assertEqual(calls_for(emu, token), [])


class SelfUpdateTest(PublicAddressCase):
    def test_the_believed_address_is_one_token_call(self):
        self.answer(opendns=PUBLIC_A)
        page = EchoPage(PUBLIC_A)
        self.addCleanup(page.close)
        token = make_token("self")
        entry = account(token)
        entry["self_update"] = True
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway({"sources": ["dns", "http"],
                               "dns_whoami": self.whoami_entries()[:1], "http_echo": [page.url]},
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


    def test_a_self_update_and_a_device_update_in_one_window_survive_kill_9(self):
        # One window per token whoever asks (docs/updates.md#self-update): the self-update is
        # sent, the device's newer address waits in the queue, a power cut loses nothing, and
        # the service never sees two calls inside its window (no TF).
        self.answer(opendns=PUBLIC_A)
        page = EchoPage(PUBLIC_A)
        self.addCleanup(page.close)
        token = make_token("selfdev")
        entry = account(token)
        entry["self_update"] = True
        window = 6.0
        with Emulator(tokens={token: "ok"}, window=window - 0.5) as emu:
            gw = self.gateway({"sources": ["dns", "http"],
                               "dns_whoami": self.whoami_entries()[:1], "http_echo": [page.url]},
                              update_url=emu.url, accounts=[entry], min_interval="%ds" % window)
            first = wait_calls(emu, token, 1, timeout=20)[0]
            self.assertEqual(first["ip"], PUBLIC_A)
            # The address moves: a device says so inside the window, and so do the sources.
            r = update(gw, "cam.example.net", myip=PUBLIC_B)
            self.assertTrue(r.body.startswith("good"), r.body)
            queued = self.status(gw)["accounts"][0]["queued"]
            self.assertEqual((queued["ip"], queued["origin"]), (PUBLIC_B, "device"))
            self.assertEqual(len(calls_for(emu, token)), 1)
            self.whoami.table.clear()
            self.answer(opendns=PUBLIC_B)
            page.body = "Current IP Address: %s\r\n" % PUBLIC_B
            gw.kill9()
            gw.restart()
            calls = wait_calls(emu, token, 2, timeout=window + 15)
            self.assertEqual(calls[1]["ip"], PUBLIC_B)
            self.assertGreaterEqual(calls[1]["time"] - calls[0]["time"], window - 0.5)
            self.assertEqual([c["code"] for c in calls], ["UP,OK", "UP,OK"])
            account_state = poll_until(
                lambda: (lambda a: a if a["published_ip"] == PUBLIC_B else None)(
                    self.status(gw)["accounts"][0]), what="the published address after restart")
            self.assertTrue(account_state["self_update"])
            self.assertEqual(account_state["published_origin"], "device")
            self.assertIsNone(account_state["queued"])
            self.assertEqual(len(calls_for(emu, token)), 2)

if __name__ == "__main__":
    unittest.main()
