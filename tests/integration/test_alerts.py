"""End-to-end tests of alerts (README "Alerts", docs/configuration.md#alerts): the real daemon,
the token-API emulator, and loopback receivers in this test: an HTTPS webhook and an ntfy-like
endpoint (http.server behind a CA the daemon trusts through dynamo.ca_file), and an exec
command that writes its environment to a file. Waiting is always a poll with a deadline."""

import http.server
import json
import os
import ssl
import stat
import tempfile
import threading
import time
import unittest

import tls_util
from emulator import Emulator
from gateway_harness import (EMULATOR_WINDOW, PUBLIC_A, PUBLIC_B, Gateway, account, free_port,
                             make_token, poll_until, request, run, update, wait_calls)

BUILD = os.environ.get("DYNAMO_BUILD_DIR", "../../build")
HOST = "cam.example.net"


class Receiver:
    """An HTTPS server on 127.0.0.1 that records every POST (path, headers, body)."""

    def __init__(self, tls, port=0):
        self.posts = []
        received = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                received.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path):
        return [body for p, _, body in self.posts if p == path]


class AlertsCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dynamo-alerts-")
        self.tls = tls_util.make_ca_and_cert(self.tmp, dns_names=["localhost"], ips=["127.0.0.1"])
        self.secret_header = "Bearer hook-secret-0123456789abcdef"
        self.exec_out = os.path.join(self.tmp, "exec.out")
        self.script = os.path.join(self.tmp, "on-event")
        with open(self.script, "w") as f:
            f.write("#!/bin/sh\nenv | grep '^DYNAMO_' | sort >> %s\necho --- >> %s\n"
                    % (self.exec_out, self.exec_out))
        os.chmod(self.script, stat.S_IRWXU)

    def start_receiver(self, port=0):
        receiver = Receiver(self.tls, port)
        self.addCleanup(receiver.close)
        return receiver

    def gateway(self, emu, token, webhook_port, extra_channels=(), min_interval="2s"):
        gw = Gateway(update_url=emu.url, accounts=[account(token)], min_interval=min_interval)
        gw.config["dynamo"]["ca_file"] = self.tls.ca_cert
        gw.config["alerts"] = {"channels": [
            {"type": "webhook", "url": "https://127.0.0.1:%d/hook" % webhook_port,
             "headers": {"Authorization": self.secret_header}},
            {"type": "ntfy", "url": "https://127.0.0.1:%d/my-topic" % webhook_port,
             "events": ["changed", "missing_record"]},
            {"type": "exec", "command": self.script},
        ] + list(extra_channels)}
        self.addCleanup(gw.cleanup)
        return gw

    def events(self, receiver):
        return [json.loads(body) for body in receiver.bodies("/hook")]

    def exec_runs(self):
        try:
            with open(self.exec_out) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        runs = []
        for block in text.split("---\n"):
            if block.strip():
                runs.append(dict(line.split("=", 1) for line in block.strip().splitlines()))
        return runs

    def assert_no_secret(self, gw, receiver):
        everything = b"".join(body for _, _, body in receiver.posts).decode()
        everything += json.dumps(self.exec_runs()) + gw.stderr_text()
        for secret in gw.secrets() + [self.secret_header, "hook-secret"]:
            self.assertNotIn(secret, everything)

    def test_changed_arrives_once_on_every_channel(self):
        token = make_token("changed")
        receiver = self.start_receiver()
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway(emu, token, receiver.port).start()
            self.assertEqual(update(gw, HOST, myip=PUBLIC_A).body.strip(), "good " + PUBLIC_A)
            poll_until(lambda: self.events(receiver) and len(self.exec_runs()) >= 1
                       and receiver.bodies("/my-topic"), what="changed on every channel")
            (event,) = self.events(receiver)
            self.assertEqual(event["event"], "changed")
            self.assertEqual(event["account"], gw.accounts[0]["username"])
            self.assertEqual(event["address"], PUBLIC_A)
            self.assertRegex(event["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertIn(PUBLIC_A, event["message"])
            headers = [h for p, h, _ in receiver.posts if p == "/hook"][0]
            self.assertEqual(headers["Authorization"], self.secret_header)
            (title,) = [h["Title"] for p, h, _ in receiver.posts if p == "/my-topic"]
            self.assertIn("changed", title)
            (env,) = self.exec_runs()
            self.assertEqual(env["DYNAMO_EVENT"], "changed")
            self.assertEqual(env["DYNAMO_ACCOUNT"], gw.accounts[0]["username"])
            self.assertEqual(env["DYNAMO_TIME"], event["time"])
            self.assertEqual(env["DYNAMO_MESSAGE"], event["message"])
            self.assert_no_secret(gw, receiver)

    def test_missing_record_after_two_nr(self):
        token = make_token("missing")  # unknown to the emulator: it answers NR
        receiver = self.start_receiver()
        with Emulator(tokens={}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway(emu, token, receiver.port).start()
            update(gw, HOST, myip=PUBLIC_A)
            poll_until(lambda: any(e["event"] == "missing_record" for e in self.events(receiver)),
                       timeout=20, what="missing_record")
            self.assertGreaterEqual(emu.codes(token).count("NR"), 2)
            missing = [e for e in self.events(receiver) if e["event"] == "missing_record"]
            self.assertEqual(len(missing), 1)
            self.assertEqual(missing[0]["result"], "NR")
            self.assert_no_secret(gw, receiver)

    def test_unclean_stop_with_a_queued_update(self):
        token = make_token("unclean")
        receiver = self.start_receiver()
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            # A long window: the second update stays queued.
            gw = self.gateway(emu, token, receiver.port, min_interval="1h").start()
            update(gw, HOST, myip=PUBLIC_A)
            self.assertIn("good", update(gw, HOST, myip=PUBLIC_B).body)
            gw.kill9()
            gw.start()
            poll_until(lambda: any(e["event"] == "unclean_stop" for e in self.events(receiver)),
                       what="unclean_stop")
            (event,) = [e for e in self.events(receiver) if e["event"] == "unclean_stop"]
            self.assertIn(gw.accounts[0]["username"], event["queued_accounts"])
            # A clean stop and start: no second unclean_stop.
            gw.restart()
            update(gw, HOST, myip=PUBLIC_A)  # barrier: its changed alert is not sent (NC/queued)
            gw.stop()
            self.assertEqual(
                len([e for e in self.events(receiver) if e["event"] == "unclean_stop"]), 1)

    def status(self, gw):
        reply = request(gw.http_host, gw.http_port, "/status.json")
        self.assertEqual(reply.status, 200)
        return json.loads(reply.body)

    def test_failing_after_the_shortest_failing_after(self):
        # The service answers ER to every call: the update stays queued, retried, until
        # failing_after (its minimum, 1m) has passed since the device sent it.
        token = make_token("failing")
        receiver = self.start_receiver()
        with Emulator(tokens={token: "er"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway(emu, token, receiver.port)
            gw.config["alerts"]["failing_after"] = "1m"
            gw.start()
            sent = time.monotonic()
            update(gw, HOST, myip=PUBLIC_A)
            wait_calls(emu, token, 1)
            self.assertEqual(emu.codes(token)[0], "ER")
            poll_until(lambda: any(e["event"] == "failing" for e in self.events(receiver)),
                       timeout=90, interval=0.5, what="failing")
            # Not before failing_after (the watch looks every 5 s; the poll's 90 s bounds the rest).
            self.assertGreaterEqual(time.monotonic() - sent, 60)
            (event,) = [e for e in self.events(receiver) if e["event"] == "failing"]
            self.assertEqual(event["account"], gw.accounts[0]["username"])
            self.assertEqual(event["last_result"], "ER")
            self.assertGreaterEqual(int(event["attempts"]), 2)
            self.assertIn("has waited 1 minute", event["message"])
            poll_until(lambda: any(r["DYNAMO_EVENT"] == "failing" for r in self.exec_runs()),
                       what="failing on the exec channel")
            # The ntfy channel asked for changed and missing_record only.
            self.assertEqual(receiver.bodies("/my-topic"), [])
            self.assertTrue(self.status(gw)["accounts"][0]["queued"])
            self.assert_no_secret(gw, receiver)

    def test_rate_limit_holds_back_a_flapping_address(self):
        # A, B, A, B: four confirmed changes within minutes; only the first "changed" goes out
        # (one per event and account per 10 minutes), the other three are counted.
        token = make_token("flap")
        receiver = self.start_receiver()
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway(emu, token, receiver.port).start()
            flaps = [PUBLIC_A, PUBLIC_B, PUBLIC_A, PUBLIC_B]
            for count, address in enumerate(flaps, start=1):
                self.assertIn("good", update(gw, HOST, myip=address).body)
                calls = wait_calls(emu, token, count, timeout=20)
                self.assertEqual(calls[-1]["ip"], address)
            # The counter is the barrier: every later change was seen and held back.
            poll_until(lambda: self.status(gw)["alerts"]["rate_limited"] == len(flaps) - 1,
                       timeout=20, what="three changes held back")
            poll_until(lambda: self.events(receiver) and len(self.exec_runs()) >= 1,
                       what="the first change delivered")
            self.assertEqual([(e["event"], e["address"]) for e in self.events(receiver)],
                             [("changed", PUBLIC_A)])
            self.assertEqual(len(receiver.bodies("/my-topic")), 1)
            self.assertEqual(len(self.exec_runs()), 1)
            status = self.status(gw)
            self.assertEqual(status["alerts"]["rate_limited"], len(flaps) - 1)
            channels = status["alerts"]["channels"]
            self.assertEqual([c["sent"] for c in channels], [1, 1, 1])
            self.assertEqual(channels[0]["label"],
                             "webhook https://127.0.0.1:%d/…" % receiver.port)
            self.assertNotIn("hook-secret", json.dumps(status))

    def test_a_receiver_that_is_down_delays_nothing_and_is_retried(self):
        token = make_token("down")
        port = free_port()
        with Emulator(tokens={token: "ok"}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway(emu, token, port).start()
            started = time.monotonic()
            self.assertEqual(update(gw, HOST, myip=PUBLIC_A).body.strip(), "good " + PUBLIC_A)
            self.assertLess(time.monotonic() - started, 2.0)
            poll_until(lambda: "retrying" in gw.stderr_text(), what="a failed delivery")
            receiver = self.start_receiver(port)
            poll_until(lambda: self.events(receiver), timeout=30, what="the retried alert")
            self.assertEqual([e["event"] for e in self.events(receiver)], ["changed"])

    def test_test_notify_reports_each_channel(self):
        receiver = self.start_receiver()
        with Emulator(tokens={}, window=EMULATOR_WINDOW) as emu:
            gw = self.gateway(emu, make_token("t"), receiver.port)
            gw.start()
            config_path = gw.daemon.config_path
            result = run([os.path.join(BUILD, "dynamo-gateway"), "--config", config_path,
                          "--test-notify"])
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            lines = result.stdout.splitlines()
            self.assertEqual(len(lines), 3, result.stdout)
            self.assertTrue(all("delivered" in line for line in lines), result.stdout)
            self.assertNotIn("/hook", result.stdout)  # the URL's path is not shown
            self.assertEqual(self.events(receiver)[-1]["event"], "test")
            self.assertEqual(self.exec_runs()[-1]["DYNAMO_EVENT"], "test")
            # One channel down: exit 1 and that channel's line says so.
            gw.config["alerts"]["channels"].append(
                {"type": "webhook", "url": "https://127.0.0.1:%d/x" % free_port()})
            gw.stop()
            gw.start()
            result = run([os.path.join(BUILD, "dynamo-gateway"), "--config",
                          gw.daemon.config_path, "--test-notify"])
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            self.assertIn("FAILED", result.stdout.splitlines()[3])


if __name__ == "__main__":
    unittest.main()
