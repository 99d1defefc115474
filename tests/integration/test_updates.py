"""End-to-end tests of the update side (docs/updates.md#dyndns-updates) against the real daemon and the token-API
emulator: every row of the mapping table, the rate window and the durable queue, retries,
credentials, paths, access control, upstream TLS, the HTTPS listener, secrets in logs.

Each test starts its own emulator and daemon on free loopback ports. Waiting is always a poll
with a deadline (gateway_harness.poll_until / wait_calls). A test that needs to prove "no API
call was made" sends a later, valid update for the same token as a barrier and checks that it
is the only call (or the only new one): a deterministic proof, not a timed wait.

Tests for the window use dynamo.min_interval 2s and an emulator window of 1.5 s (see
gateway_harness.MIN_INTERVAL); every test also checks, at its end, that no two calls for one
token were closer than the daemon's min_interval and that no token or password appeared whole
in the daemon's stderr.
"""

import ipaddress
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import unittest
import urllib.parse

import harness
import tls_util
from dns_peers import DnsmasqPeer, RecordingUpstream
from emulator import Emulator
from gateway_harness import (DEVICE_PASS, DEVICE_USER, EMULATOR_WINDOW, GAP_TOLERANCE,
                             MIN_INTERVAL, PUBLIC_A, PUBLIC_B, PUBLIC_C, ConnectionCounter,
                             Gateway, account, basic, calls_for, free_port, gaps, make_token,
                             poll_until, raw_http, request, run, update, update_path,
                             wait_calls)

HOST = "cam.example.net"


def is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False

CHALLENGE = 'Basic realm="DynDNS API Access"'
RETRY_DEADLINE = MIN_INTERVAL + 10.0  # the first retry is due min_interval after the failure


class UpdateCase(unittest.TestCase):
    """Starts an emulator and a gateway per test; checks the invariants at the end."""

    def setUp(self):
        self.gateways = []
        self.emulators = []
        self.min_interval_s = MIN_INTERVAL

    # ---- fixtures

    def emulator(self, tokens, window=EMULATOR_WINDOW, **kwargs):
        emu = Emulator(tokens=tokens, window=window, **kwargs)
        emu.start()
        self.addCleanup(emu.stop)
        self.emulators.append(emu)
        return emu

    def gateway(self, update_url, accounts, min_interval="%ds" % MIN_INTERVAL, start=True,
                **kwargs):
        gw = Gateway(update_url, accounts=accounts, min_interval=min_interval, **kwargs)
        self.addCleanup(gw.cleanup)
        # Registered after cleanup, so it runs before it (LIFO), while stderr is still there.
        self.addCleanup(self._check_invariants, gw)
        self.gateways.append(gw)
        if start:
            gw.start()
        return gw

    def simple(self, mode="ok", address=None, hostnames=(), **gw_kwargs):
        """One token in `mode`, one account; returns (emulator, gateway, token)."""
        token = make_token("T")
        emu = self.emulator({token: (mode, address) if address else mode})
        gw = self.gateway(emu.url, [account(token, hostnames=hostnames)], **gw_kwargs)
        return emu, gw, token

    # ---- diagnostics

    def context(self, gw, emu=None, token=None):
        parts = []
        if emu is not None:
            try:
                calls = emu.calls()
                if token:
                    calls = [c for c in calls if c["token"] == token]
                parts.append("emulator calls: %s" % [
                    {k: c.get(k) for k in ("time", "method", "ip", "source", "code", "path")}
                    for c in calls])
            except Exception as e:  # the emulator may be the thing that is down
                parts.append("emulator calls: unavailable (%s)" % e)
        parts.append("daemon stderr (tail):\n" + gw.stderr_tail())
        return "\n".join(parts)

    def _check_invariants(self, gw):
        text = gw.stderr_text()
        for secret in gw.secrets():
            self.assertNotIn(secret, text,
                             "a token or password appears whole in the daemon's stderr "
                             "(docs/updates.md#secrets-in-logs: first 4 characters, then …)")
        for emu in self.emulators:
            if emu.proc is None or emu.proc.poll() is not None:
                continue
            for acc in gw.accounts:
                calls = [c for c in calls_for(emu, acc["token"])
                         if (c.get("user_agent") or "").startswith("dynamo-gateway/")]
                for gap in gaps(calls):
                    self.assertGreaterEqual(
                        gap, self.min_interval_s - GAP_TOLERANCE,
                        "two calls for one token %.3fs apart, min_interval is %.1fs\n%s"
                        % (gap, self.min_interval_s, self.context(gw, emu, acc["token"])))

    # ---- assertions

    def assertReply(self, response, lines, gw, emu=None, token=None):
        ctx = "\n" + self.context(gw, emu, token)
        self.assertEqual(response.status, 200, "%r%s" % (response, ctx))
        self.assertIn("text/plain", response.headers.get("content-type", ""),
                      "%r%s" % (response, ctx))
        self.assertEqual(response.lines, list(lines), "%r%s" % (response, ctx))

    def assertBadauth(self, response, gw):
        ctx = "%r\n%s" % (response, self.context(gw))
        self.assertEqual(response.status, 401, ctx)
        self.assertEqual(response.headers.get("www-authenticate"), CHALLENGE, ctx)
        self.assertEqual(response.body.strip(), "badauth", ctx)

    def assertOnlyCallIsBarrier(self, gw, emu, token, hostname=HOST, ip=PUBLIC_C):
        """Proves that nothing before reached the token API: a valid update now is answered
        at once (the window was never started) and is the token's first and only call."""
        r = update(gw, hostname, ip)
        self.assertReply(r, ["good %s" % ip], gw, emu, token)
        calls = wait_calls(emu, token, 1)
        self.assertEqual([(c["ip"], c["code"]) for c in calls], [(ip, "UP,OK")],
                         "a call reached the token API before the barrier update\n"
                         + self.context(gw, emu, token))

    def check_failure_then_retry(self, mode, first_code, final_codes=("UP,OK",), **gw_kwargs):
        """docs/updates.md#reply-mapping: this service answer -> the device gets 911, the update stays queued and is
        retried min_interval later (here the token is fixed in between, so the retry works)."""
        emu, gw, token = self.simple(mode, **gw_kwargs)
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["911"], gw, emu, token)
        calls = wait_calls(emu, token, 1)
        self.assertEqual(calls[0]["code"], first_code, self.context(gw, emu, token))
        self.assertEqual(calls[0]["ip"], PUBLIC_A, self.context(gw, emu, token))
        failed_at = calls[0]["time"]
        emu.set_token(token, "ok")
        calls = wait_calls(emu, token, 2, timeout=RETRY_DEADLINE)
        self.assertEqual(calls[1]["ip"], PUBLIC_A, self.context(gw, emu, token))
        self.assertIn(calls[1]["code"], final_codes, self.context(gw, emu, token))
        self.assertGreaterEqual(calls[1]["time"] - failed_at, MIN_INTERVAL - GAP_TOLERANCE,
                                "retried before min_interval\n" + self.context(gw, emu, token))
        return emu, gw, token


# ============================================================================================
# The mapping table, row by row

class MappingTable(UpdateCase):

    def test_up_ok_is_good_with_the_address_sent(self):
        emu, gw, token = self.simple("ok")
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["good %s" % PUBLIC_A], gw, emu, token)
        calls = wait_calls(emu, token, 1)
        self.assertEqual(len(calls), 1, self.context(gw, emu, token))
        self.assertEqual((calls[0]["ip"], calls[0]["code"]), (PUBLIC_A, "UP,OK"))
        self.assertTrue((calls[0].get("user_agent") or "").startswith("dynamo-gateway/"),
                        "User-Agent must be dynamo-gateway/<version>: %r" % calls[0])

    def test_up_er_is_good(self):
        emu, gw, token = self.simple("uper")
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["good %s" % PUBLIC_A], gw, emu, token)
        calls = wait_calls(emu, token, 1)
        self.assertEqual((calls[0]["ip"], calls[0]["code"]), (PUBLIC_A, "UP,ER"))

    def test_nc_from_service_is_nochg_and_the_repeat_is_answered_locally(self):
        # The service already holds PUBLIC_A: it answers NC.
        emu, gw, token = self.simple("ok", address=PUBLIC_A)
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["nochg %s" % PUBLIC_A], gw, emu, token)
        self.assertEqual([c["code"] for c in wait_calls(emu, token, 1)], ["NC"])
        # Same address again: the last confirmed one -> nochg, no call.
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["nochg %s" % PUBLIC_A], gw, emu, token)
        self.assertBarrierAfterOneCall(gw, emu, token)

    def test_equal_to_last_confirmed_is_nochg_without_a_call(self):
        emu, gw, token = self.simple("ok")
        self.assertReply(update(gw, HOST, PUBLIC_A), ["good %s" % PUBLIC_A], gw, emu, token)
        wait_calls(emu, token, 1)
        for _ in range(2):
            r = update(gw, HOST, PUBLIC_A)
            self.assertReply(r, ["nochg %s" % PUBLIC_A], gw, emu, token)
        self.assertBarrierAfterOneCall(gw, emu, token)

    def assertBarrierAfterOneCall(self, gw, emu, token):
        """A different address now must be the second call, and the only one after the first:
        so the nochg answers above cost no API call (queued or immediate)."""
        r = update(gw, HOST, PUBLIC_B)
        self.assertReply(r, ["good %s" % PUBLIC_B], gw, emu, token)
        calls = wait_calls(emu, token, 2, timeout=RETRY_DEADLINE)
        self.assertEqual([c["ip"] for c in calls], [PUBLIC_A, PUBLIC_B],
                         "nochg must be answered locally, without an API call\n"
                         + self.context(gw, emu, token))
        self.assertNotIn("TF", [c["code"] for c in calls])

    def test_window_not_open_is_good_and_queued_then_sent_when_it_opens(self):
        emu, gw, token = self.simple("ok")
        self.assertReply(update(gw, HOST, PUBLIC_A), ["good %s" % PUBLIC_A], gw, emu, token)
        wait_calls(emu, token, 1)
        r = update(gw, HOST, PUBLIC_B)
        self.assertReply(r, ["good %s" % PUBLIC_B], gw, emu, token)
        self.assertLess(r.elapsed, MIN_INTERVAL * 0.75,
                        "a queued update is answered at once, not when the window opens")
        self.assertEqual(len(calls_for(emu, token)), 1,
                         "called within min_interval\n" + self.context(gw, emu, token))
        calls = wait_calls(emu, token, 2, timeout=RETRY_DEADLINE)
        self.assertEqual([(c["ip"], c["code"]) for c in calls],
                         [(PUBLIC_A, "UP,OK"), (PUBLIC_B, "UP,OK")],
                         self.context(gw, emu, token))
        self.assertGreaterEqual(gaps(calls)[0], MIN_INTERVAL - GAP_TOLERANCE)

    def test_queue_keeps_the_latest_address(self):
        emu, gw, token = self.simple("ok")
        self.assertReply(update(gw, HOST, PUBLIC_A), ["good %s" % PUBLIC_A], gw, emu, token)
        wait_calls(emu, token, 1)
        # Both inside the window (two loopback requests take far less than min_interval): C
        # replaces B in the queue, and B is never sent.
        self.assertReply(update(gw, HOST, PUBLIC_B), ["good %s" % PUBLIC_B], gw, emu, token)
        self.assertReply(update(gw, HOST, PUBLIC_C), ["good %s" % PUBLIC_C], gw, emu, token)
        calls = wait_calls(emu, token, 2, timeout=RETRY_DEADLINE)
        self.assertEqual([(c["ip"], c["code"]) for c in calls],
                         [(PUBLIC_A, "UP,OK"), (PUBLIC_C, "UP,OK")], self.context(gw, emu, token))

    # ---- 911 and the retry

    def test_nr_is_911_and_retried(self):
        self.check_failure_then_retry("nr", "NR")

    def test_nd_is_911_and_retried(self):
        self.check_failure_then_retry("nd", "ND")

    def test_er_is_911_and_retried(self):
        self.check_failure_then_retry("er", "ER")

    def test_http500_is_911_and_retried(self):
        self.check_failure_then_retry("http500", "HTTP 500")

    def test_other_body_is_911_and_retried(self):
        self.check_failure_then_retry("garbage", "hello")

    def test_dropped_connection_is_911_and_retried(self):
        self.check_failure_then_retry("drop", "DROP")

    def test_timeout_is_911_and_retried(self):
        # The slow call ran the rules on arrival (stored the address): the retry may get NC.
        started = time.monotonic()
        emu, gw, token = self.simple("slow:4", timeout="1s")
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["911"], gw, emu, token)
        self.assertLess(r.elapsed, 3.5, "dynamo.timeout 1s not applied: %r" % r)
        emu.set_token(token, "ok")
        calls = wait_calls(emu, token, 2, timeout=RETRY_DEADLINE + 4)
        self.assertIn(calls[1]["code"], ("UP,OK", "NC"), self.context(gw, emu, token))
        self.assertEqual(calls[1]["ip"], PUBLIC_A)
        self.assertLess(time.monotonic() - started, 60)

    def test_tf_is_911_and_retried(self):
        emu, gw, token = self.simple("ok")
        # Someone else (the same token in another tool) just called: the service's window runs.
        status, body = emu.call(token, ip=PUBLIC_C)
        self.assertEqual((status, body.strip()), (200, "UP,OK"))
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["911"], gw, emu, token)
        calls = wait_calls(emu, token, 2)
        self.assertEqual((calls[1]["ip"], calls[1]["code"]), (PUBLIC_A, "TF"),
                         self.context(gw, emu, token))
        calls = wait_calls(emu, token, 3, timeout=RETRY_DEADLINE)
        self.assertEqual((calls[2]["ip"], calls[2]["code"]), (PUBLIC_A, "UP,OK"),
                         self.context(gw, emu, token))
        self.assertGreaterEqual(calls[2]["time"] - calls[1]["time"],
                                MIN_INTERVAL - GAP_TOLERANCE)

    def test_service_down_is_911_and_retried_when_it_is_back(self):
        port = free_port()
        token = make_token("Down")
        gw = self.gateway("http://127.0.0.1:%d/" % port, [account(token)])
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["911"], gw)
        # The service comes back on the same port; the queued update gets through.
        emu = self.emulator({token: "ok"}, extra_args=["--listen", "127.0.0.1:%d" % port])
        calls = wait_calls(emu, token, 1, timeout=RETRY_DEADLINE)
        self.assertEqual((calls[0]["ip"], calls[0]["code"]), (PUBLIC_A, "UP,OK"),
                         self.context(gw, emu, token))

    # ---- credentials

    def test_wrong_password_is_badauth(self):
        emu, gw, token = self.simple("ok")
        self.assertBadauth(update(gw, HOST, PUBLIC_A, password="wrong-Pass-1234"), gw)
        self.assertOnlyCallIsBarrier(gw, emu, token)

    def test_unknown_user_is_badauth(self):
        emu, gw, token = self.simple("ok")
        self.assertBadauth(update(gw, HOST, PUBLIC_A, user="nobody"), gw)
        self.assertOnlyCallIsBarrier(gw, emu, token)

    def test_a_right_password_during_the_hold_is_badauth_and_works_after_it(self):
        """docs/updates.md#throttle throttle: while a source is on hold after repeated failures, its requests are
        answered badauth at the end of the hold without their credentials being checked, so
        parallel connections do not get one guess each. After the hold, the right password
        works (and the failures are forgotten)."""
        import threading
        emu, gw, token = self.simple("ok")
        # 3 free failures, then holds of 0.25, 0.5, 1 s: each answer comes at its hold's end.
        for _ in range(6):
            self.assertBadauth(update(gw, HOST, PUBLIC_A, password="wrong-Pass-1234"), gw)
        # The 7th failure starts a 2 s hold; the right password inside it is not even checked.
        wrong = {}
        guesser = threading.Thread(target=lambda: wrong.update(
            r=update(gw, HOST, PUBLIC_A, password="wrong-Pass-1234")))
        guesser.start()
        # Logged as "(7 failures)", or as "on hold after 7" when it came before the previous
        # hold's very end; counted as a failure either way.
        poll_until(lambda: re.search(r"\(7 failures\)|on hold after 7 ", gw.stderr_text()),
                   timeout=5.0, what="the guesser's 7th failure in the log")
        started = time.monotonic()
        right = update(gw, HOST, PUBLIC_A)
        waited = time.monotonic() - started
        guesser.join()
        self.assertBadauth(wrong["r"], gw)
        self.assertBadauth(right, gw)
        self.assertGreater(waited, 1.0, "answered at the end of the hold, not at once")
        self.assertIn("on hold after", gw.stderr_text())
        # The hold is over: the right password is checked again and the update goes through
        # (and nothing reached the token API before).
        self.assertOnlyCallIsBarrier(gw, emu, token)

    def test_missing_credentials_challenge_then_credentials_like_wget(self):
        emu, gw, token = self.simple("ok")
        path = update_path(HOST, PUBLIC_A)
        first = request(gw.http_host, gw.http_port, path, headers={"User-Agent": "Wget/1.21"})
        self.assertBadauth(first, gw)
        self.assertEqual(calls_for(emu, token), [])
        second = request(gw.http_host, gw.http_port, path, headers={
            "User-Agent": "Wget/1.21", "Authorization": basic(DEVICE_USER, DEVICE_PASS)})
        self.assertReply(second, ["good %s" % PUBLIC_A], gw, emu, token)
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_A])

    def test_credentials_in_the_query(self):
        for names in (("username", "password"), ("user", "pass")):
            with self.subTest(params=names):
                token = make_token("Q")
                emu = self.emulator({token: "ok"})
                gw = self.gateway(emu.url, [account(token)])
                path = update_path(HOST, PUBLIC_A, **{names[0]: DEVICE_USER,
                                                       names[1]: DEVICE_PASS})
                r = request(gw.http_host, gw.http_port, path)
                self.assertReply(r, ["good %s" % PUBLIC_A], gw, emu, token)
                self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_A])
                bad = update_path(HOST, PUBLIC_A, **{names[0]: DEVICE_USER,
                                                      names[1]: "not-the-pass"})
                self.assertBadauth(request(gw.http_host, gw.http_port, bad), gw)

    # ---- protocol variants

    def test_http_1_0_request(self):
        emu, gw, token = self.simple("ok")
        data = ("GET %s HTTP/1.0\r\nAuthorization: %s\r\nUser-Agent: OldCam/1.0\r\n\r\n"
                % (update_path(HOST, PUBLIC_A), basic(DEVICE_USER, DEVICE_PASS))).encode()
        started = time.monotonic()
        status, headers, body, raw = raw_http(gw.http_host, gw.http_port, data, timeout=10)
        self.assertLess(time.monotonic() - started, 8,
                        "HTTP/1.0: the server must close the connection after the answer")
        self.assertEqual(status, 200, raw + "\n" + self.context(gw, emu, token))
        self.assertIn("text/plain", headers.get("content-type", ""), raw)
        self.assertEqual(body.splitlines(), ["good %s" % PUBLIC_A], raw)

    def test_post_form_body(self):
        emu, gw, token = self.simple("ok")
        form = urllib.parse.urlencode({"hostname": HOST, "myip": PUBLIC_B})
        r = request(gw.http_host, gw.http_port, "/nic/update", method="POST", body=form,
                    headers={"Authorization": basic(DEVICE_USER, DEVICE_PASS),
                             "Content-Type": "application/x-www-form-urlencoded"})
        self.assertReply(r, ["good %s" % PUBLIC_B], gw, emu, token)
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_B])

    def test_post_form_merged_with_query(self):
        emu, gw, token = self.simple("ok")
        r = request(gw.http_host, gw.http_port, update_path(HOST), method="POST",
                    body=urllib.parse.urlencode({"myip": PUBLIC_B}),
                    headers={"Authorization": basic(DEVICE_USER, DEVICE_PASS),
                             "Content-Type": "application/x-www-form-urlencoded"})
        self.assertReply(r, ["good %s" % PUBLIC_B], gw, emu, token)
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_B])

    def test_three_hostnames_three_lines_one_call(self):
        emu, gw, token = self.simple("ok")
        names = ["a.example.net", "b.example.net", "c.example.net"]
        r = update(gw, ",".join(names), PUBLIC_A)
        self.assertReply(r, ["good %s" % PUBLIC_A] * 3, gw, emu, token)
        self.assertBarrierAfterOneCall(gw, emu, token)

    def test_21_hostnames_is_numhost(self):
        emu, gw, token = self.simple("ok")
        names = ["h%d.example.net" % i for i in range(21)]
        r = update(gw, ",".join(names), PUBLIC_A)
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.context(gw)))
        self.assertTrue(r.lines and set(r.lines) == {"numhost"}, "%r\n%s" % (
            r, self.context(gw)))
        self.assertOnlyCallIsBarrier(gw, emu, token)

    def test_20_hostnames_are_accepted(self):
        emu, gw, token = self.simple("ok")
        names = ["h%d.example.net" % i for i in range(20)]
        r = update(gw, ",".join(names), PUBLIC_A)
        self.assertReply(r, ["good %s" % PUBLIC_A] * 20, gw, emu, token)

    def test_hostname_outside_the_allow_list_is_nohost(self):
        emu, gw, token = self.simple("ok", hostnames=["allowed.example.net"])
        r = update(gw, "other.example.net", PUBLIC_A)
        self.assertReply(r, ["nohost"], gw, emu, token)
        self.assertOnlyCallIsBarrier(gw, emu, token, hostname="allowed.example.net")

    def test_malformed_hostname_with_an_allow_list_is_notfqdn(self):
        emu, gw, token = self.simple("ok", hostnames=["allowed.example.net"])
        for bad in ("a..example.net", "sp ace.example.net", "x" * 64 + ".example.net"):
            with self.subTest(hostname=bad):
                r = update(gw, bad, PUBLIC_A)
                self.assertReply(r, ["notfqdn"], gw, emu, token)
        self.assertOnlyCallIsBarrier(gw, emu, token, hostname="allowed.example.net")

    def test_missing_hostname_is_notfqdn(self):
        emu, gw, token = self.simple("ok")
        for hostname in (None, ""):
            with self.subTest(hostname=hostname):
                self.assertReply(update(gw, hostname, PUBLIC_A), ["notfqdn"], gw, emu, token)
        self.assertOnlyCallIsBarrier(gw, emu, token)

    def test_any_hostname_without_allow_list_even_x(self):
        emu, gw, token = self.simple("ok")
        self.assertReply(update(gw, "x", PUBLIC_A), ["good %s" % PUBLIC_A], gw, emu, token)

    def test_non_public_myip_sends_no_ip(self):
        cases = ["192.168.1.10", "10.1.2.3", "172.16.5.5", "127.0.0.1", "100.64.1.1",
                 "169.254.1.1", "192.0.2.1", "198.51.100.7", "203.0.113.5", "",
                 "2001:db8::1", "not-an-ip"]
        tokens = {c: make_token("P%d" % i) for i, c in enumerate(cases)}
        accounts = [account(tokens[c], username="dev%d" % i) for i, c in enumerate(cases)]
        emu = self.emulator({t: "ok" for t in tokens.values()})
        gw = self.gateway(emu.url, accounts)
        for i, myip in enumerate(cases):
            with self.subTest(myip=myip):
                token = tokens[myip]
                r = update(gw, HOST, myip, user="dev%d" % i)
                self.assertEqual(r.status, 200, "%r\n%s" % (r, self.context(gw)))
                self.assertEqual(len(r.lines), 1, repr(r))
                # docs/updates.md#replies <ip> with nothing sent: the best known public address (none yet for
                # a fresh account), else the device's myip; bare "good" when that is no address.
                self.assertEqual(r.lines[0], "good %s" % myip if is_ip(myip) else "good",
                                 "%r\n%s" % (r, self.context(gw, emu, token)))
                calls = wait_calls(emu, token, 1)
                self.assertIsNone(calls[0]["ip"], "myip=%r must not be sent\n%s" % (
                    myip, self.context(gw, emu, token)))
                self.assertTrue(calls[0]["source"].startswith("127.0.0.1:"))

    def test_public_myip_forms(self):
        cases = [("5.6.7.8/32", PUBLIC_B), ("5.6.7.8,2001:db8::1", PUBLIC_B)]
        tokens = [make_token("F%d" % i) for i in range(len(cases))]
        emu = self.emulator({t: "ok" for t in tokens})
        gw = self.gateway(emu.url, [account(t, username="dev%d" % i)
                                    for i, t in enumerate(tokens)])
        for i, (myip, sent) in enumerate(cases):
            with self.subTest(myip=myip):
                r = update(gw, HOST, myip, user="dev%d" % i)
                self.assertReply(r, ["good %s" % sent], gw, emu, tokens[i])
                self.assertEqual(wait_calls(emu, tokens[i], 1)[0]["ip"], sent)

    def test_no_myip_sends_no_ip(self):
        emu, gw, token = self.simple("ok")
        r = update(gw, HOST)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.lines, ["good"], "nothing sent, nothing known: %r\n%s"
                         % (r, self.context(gw)))
        self.assertIsNone(wait_calls(emu, token, 1)[0]["ip"])

    # ---- paths

    def test_v3_update_path(self):
        emu, gw, token = self.simple("ok")
        r = update(gw, HOST, PUBLIC_A, path="/v3/update")
        self.assertReply(r, ["good %s" % PUBLIC_A], gw, emu, token)
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_A])

    def test_legacy_nic_dyndns_with_host_id(self):
        emu, gw, token = self.simple("ok")
        path = "/nic/dyndns?" + urllib.parse.urlencode({
            "action": "edit", "started": "1", "hostname": "YES", "host_id": HOST,
            "myip": PUBLIC_A})
        r = request(gw.http_host, gw.http_port, path,
                    headers={"Authorization": basic(DEVICE_USER, DEVICE_PASS)})
        self.assertReply(r, ["good %s" % PUBLIC_A], gw, emu, token)
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_A])

    def test_legacy_nic_statdns_with_host_id(self):
        emu, gw, token = self.simple("ok")
        path = "/nic/statdns?" + urllib.parse.urlencode({
            "action": "edit", "started": "1", "hostname": "YES", "host_id": HOST,
            "myip": PUBLIC_A})
        r = request(gw.http_host, gw.http_port, path,
                    headers={"Authorization": basic(DEVICE_USER, DEVICE_PASS)})
        self.assertReply(r, ["good %s" % PUBLIC_A], gw, emu, token)

    def test_other_paths_are_404(self):
        emu, gw, token = self.simple("ok")
        for path in ("/nic/updatex", "/nic", "/update", "/nic/update/extra", "/foo"):
            with self.subTest(path=path):
                r = request(gw.http_host, gw.http_port, update_path(HOST, PUBLIC_A, path=path),
                            headers={"Authorization": basic(DEVICE_USER, DEVICE_PASS)})
                self.assertEqual(r.status, 404, "%s -> %r" % (path, r))
        self.assertOnlyCallIsBarrier(gw, emu, token)

    def test_client_outside_dns_allow_is_403(self):
        token = make_token("Acl")
        emu = self.emulator({token: "ok"})
        gw = self.gateway(emu.url, [account(token)], allow=["127.0.0.1/32"])
        r = update(gw, HOST, PUBLIC_A, source="127.0.0.2")
        self.assertEqual(r.status, 403, "%r\n%s" % (r, self.context(gw)))
        self.assertEqual(calls_for(emu, token), [])
        # The allowed address still works, and this is the first call.
        self.assertOnlyCallIsBarrier(gw, emu, token)

    # ---- durability

    def test_kill_9_with_a_queued_update_then_restart_delivers_it(self):
        interval = 3.0
        self.min_interval_s = interval
        token = make_token("Dur")
        emu = self.emulator({token: "ok"}, window=interval - 0.2)
        gw = self.gateway(emu.url, [account(token)], min_interval="%ds" % interval)
        self.assertReply(update(gw, HOST, PUBLIC_A), ["good %s" % PUBLIC_A], gw, emu, token)
        first = wait_calls(emu, token, 1)[0]
        r = update(gw, HOST, PUBLIC_B)
        self.assertReply(r, ["good %s" % PUBLIC_B], gw, emu, token)  # queued, on disk
        gw.kill9()
        self.assertEqual(len(calls_for(emu, token)), 1,
                         "the queued update went out before min_interval\n"
                         + self.context(gw, emu, token))
        gw.start()
        calls = wait_calls(emu, token, 2, timeout=interval + 15)
        self.assertEqual((calls[1]["ip"], calls[1]["code"]), (PUBLIC_B, "UP,OK"),
                         "the queued update was lost or refused after kill -9\n"
                         + self.context(gw, emu, token))
        # The window survived the crash as well.
        self.assertGreaterEqual(calls[1]["time"] - first["time"], interval - GAP_TOLERANCE)


# ============================================================================================
# Upstream TLS: the token API over HTTPS, the host resolved through dns.upstreams

# The emulator's own control requests (calls(), set_token()) go to 127.0.0.1 with the CA, so
# every emulator certificate also names 127.0.0.1; the daemon connects by host name, which an IP
# SAN never matches.
IPS = ["127.0.0.1"]


class UpstreamTls(UpdateCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="dynamo-upd-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.dns = DnsmasqPeer(records=["address=/update.test/127.0.0.1"], local=("test",))
        self.dns.start()
        self.addCleanup(self.dns.stop)

    def test_https_update_url_with_the_right_ca(self):
        tls = tls_util.make_ca_and_cert(self.tmp, dns_names=["update.test"], ips=IPS)
        token = make_token("Tls")
        emu = self.emulator({token: "ok"}, tls=tls)
        gw = self.gateway("https://update.test:%d/" % emu.port, [account(token)],
                          ca_file=tls.ca_cert, upstreams=["127.0.0.1:%d" % self.dns.port])
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["good %s" % PUBLIC_A], gw, emu, token)
        calls = wait_calls(emu, token, 1)
        self.assertEqual((calls[0]["ip"], calls[0]["code"]), (PUBLIC_A, "UP,OK"))
        # dnsmasq writes its log after answering: poll for the line.
        poll_until(lambda: any("update.test" in q for q in self.dns.queries()), timeout=5,
                   what="the update host resolved through dns.upstreams (dnsmasq log)")

    def test_certificate_for_another_name_is_911_no_call_and_retried(self):
        tls = tls_util.make_ca_and_cert(self.tmp, dns_names=["other.test"], ips=IPS)
        token = make_token("Wrong")
        emu = self.emulator({token: "ok"}, tls=tls)
        counter = ConnectionCounter(emu.port)
        self.addCleanup(counter.close)
        gw = self.gateway("https://update.test:%d/" % counter.port, [account(token)],
                          ca_file=tls.ca_cert, upstreams=["127.0.0.1:%d" % self.dns.port])
        r = update(gw, HOST, PUBLIC_A)
        self.assertReply(r, ["911"], gw, emu, token)
        self.assertGreaterEqual(counter.count(), 1, "no connection attempt at all")
        # Retried: a new connection after the retry delay, and still nothing reaches the API.
        poll_until(lambda: counter.count() >= 2, timeout=RETRY_DEADLINE,
                   what="a retried connection")
        times = counter.times()
        self.assertGreaterEqual(times[1] - times[0], MIN_INTERVAL - GAP_TOLERANCE)
        self.assertEqual(calls_for(emu, token), [],
                         "the token went to a server with the wrong certificate:\n"
                         + self.context(gw, emu, token))

    def test_certificate_from_an_unknown_ca_is_911_and_no_call(self):
        tls = tls_util.make_ca_and_cert(self.tmp, dns_names=["update.test"], ips=IPS)
        other = tls_util.make_ca_and_cert(self.tmp, dns_names=["update.test"], ips=IPS,
                                          prefix="other-")
        token = make_token("Ca")
        emu = self.emulator({token: "ok"}, tls=tls)
        gw = self.gateway("https://update.test:%d/" % emu.port, [account(token)],
                          ca_file=other.ca_cert, upstreams=["127.0.0.1:%d" % self.dns.port])
        self.assertReply(update(gw, HOST, PUBLIC_A), ["911"], gw, emu, token)
        self.assertEqual(calls_for(emu, token), [])

    def test_update_host_that_does_not_resolve_is_911(self):
        token = make_token("Nx")
        emu = self.emulator({token: "ok"})
        gw = self.gateway("http://nowhere.test:%d/" % emu.port, [account(token)],
                          upstreams=["127.0.0.1:%d" % self.dns.port])
        self.assertReply(update(gw, HOST, PUBLIC_A), ["911"], gw, emu, token)
        self.assertEqual(calls_for(emu, token), [])


# ============================================================================================
# The HTTPS listener and its self-signed certificate

class HttpsListener(UpdateCase):

    def test_generated_certificate_verifies_for_members_dyndns_org(self):
        emu, gw, token = self.simple("ok")
        cert, key = gw.generated_cert()
        self.assertIsNotNone(cert, "no certificate in state_dir: %s\n%s" % (
            os.listdir(gw.state_dir), self.context(gw)))
        self.assertIsNotNone(key, "no private key in state_dir")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode) & 0o077, 0,
                         "the generated key must be mode 0600: %s" % oct(os.stat(key).st_mode))
        url = "https://members.dyndns.org:%d%s" % (gw.https_port, update_path(HOST, PUBLIC_A))
        proc = run(["curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", cert,
                    "--resolve", "members.dyndns.org:%d:127.0.0.1" % gw.https_port,
                    "-u", "%s:%s" % (DEVICE_USER, DEVICE_PASS), "-w", "\nHTTP %{http_code}",
                    url], timeout=30)
        self.assertEqual(proc.returncode, 0, "curl failed: %s\n%s" % (proc.stderr,
                                                                     self.context(gw)))
        body, _, status = proc.stdout.rpartition("\n")
        self.assertEqual(status, "HTTP 200", proc.stdout)
        self.assertEqual(body.splitlines(), ["good %s" % PUBLIC_A], proc.stdout)
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_A])
        # members.dyndns.com is intercepted too: the certificate names it as well.
        proc = run(["curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", cert,
                    "--resolve", "members.dyndns.com:%d:127.0.0.1" % gw.https_port,
                    "-o", "/dev/null", "-w", "%{http_code}",
                    "https://members.dyndns.com:%d/nic/update" % gw.https_port], timeout=30)
        self.assertEqual((proc.returncode, proc.stdout), (0, "401"), proc.stderr)

    def _handshake_tls1(self, gw):
        return run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % gw.https_port,
                    "-servername", "members.dyndns.org", "-tls1",
                    "-cipher", "DEFAULT:@SECLEVEL=0"], timeout=30)

    def test_tls_1_0_handshake_with_min_version_1_0(self):
        emu, gw, token = self.simple("ok", tls={"cert": None, "key": None,
                                                "min_version": "1.0"})
        proc = self._handshake_tls1(gw)
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 0, out[-3000:] + "\n" + self.context(gw))
        self.assertRegex(out, r"(?m)Protocol\s*:\s*TLSv1\s*$", out[-3000:])

    def test_tls_1_0_refused_with_min_version_1_2(self):
        emu, gw, token = self.simple("ok", tls={"cert": None, "key": None,
                                                "min_version": "1.2"})
        proc = self._handshake_tls1(gw)
        out = proc.stdout + proc.stderr
        self.assertNotEqual(proc.returncode, 0, "TLS 1.0 accepted with min_version 1.2:\n"
                            + out[-3000:])

    # A configured certificate is checked at start and on every reload, although the TLS
    # context is made only when the first device connects over HTTPS.

    def _tls_files(self, prefix=""):
        tmp = tempfile.mkdtemp(prefix="dynamo-https-")
        self.addCleanup(shutil.rmtree, tmp, True)
        return tls_util.make_ca_and_cert(tmp, dns_names=["members.dyndns.org"],
                                         ips=["127.0.0.1"], prefix=prefix)

    def _https_update(self, gw, ca_cert):
        url = "https://members.dyndns.org:%d%s" % (gw.https_port, update_path(HOST, PUBLIC_A))
        return run(["curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", ca_cert,
                    "--resolve", "members.dyndns.org:%d:127.0.0.1" % gw.https_port,
                    "-u", "%s:%s" % (DEVICE_USER, DEVICE_PASS), "-o", "/dev/null",
                    "-w", "%{http_code}", url], timeout=30)

    def test_the_self_signed_certificate_made_at_first_start_is_reused_by_the_next(self):
        emu, gw, token = self.simple("ok")
        cert, key = gw.generated_cert()
        self.assertIsNotNone(cert, "no certificate in state_dir: %s" % os.listdir(gw.state_dir))
        with open(cert, "rb") as f:
            first = f.read()
        self.assertIn("making a self-signed certificate", gw.stderr_text())
        gw.restart()
        with open(cert, "rb") as f:
            self.assertEqual(f.read(), first)
        self.assertNotIn("making", gw.daemon.stderr_text())
        # And it is the one served.
        proc = self._https_update(gw, cert)
        self.assertEqual((proc.returncode, proc.stdout), (0, "200"),
                         proc.stderr + "\n" + self.context(gw))

    def test_a_bad_configured_certificate_or_key_refuses_the_start_in_one_line(self):
        tls = self._tls_files()
        other = self._tls_files()
        garbage = os.path.join(tls.directory, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        token = make_token("T")
        emu = self.emulator({token: "ok"})
        for files, named in (({"cert": tls.cert, "key": other.key}, other.key),
                             ({"cert": garbage, "key": tls.key}, garbage)):
            gw = self.gateway(emu.url, [account(token)], start=False, tls=files)
            with self.assertRaises(harness.DaemonError):
                gw.start()
            lines = [l for l in gw.stderr_text().splitlines() if "<3>error:" in l]
            self.assertEqual(len(lines), 1, gw.stderr_tail())
            self.assertIn(named, lines[0])

    def test_a_reload_with_a_bad_certificate_is_refused_and_the_old_one_keeps_serving(self):
        import copy
        tls = self._tls_files()
        renewed = self._tls_files(prefix="renewed-")
        emu, gw, token = self.simple("ok", tls={"cert": tls.cert, "key": tls.key})
        config = copy.deepcopy(gw.config)
        # Refused before any TLS connection (nothing made yet) ...
        config["gateway"]["tls"]["key"] = renewed.key
        start = gw.daemon.stderr.mark()
        self.assertEqual(gw.daemon.reload(config), "refused")
        self.assertIn(renewed.key, "\n".join(gw.daemon.stderr.lines(start)))
        proc = self._https_update(gw, tls.ca_cert)
        self.assertEqual((proc.returncode, proc.stdout), (0, "200"),
                         proc.stderr + "\n" + self.context(gw))
        # ... and after one, when the context is in use.
        config["gateway"]["tls"]["key"] = tls.key
        config["gateway"]["tls"]["cert"] = os.path.join(tls.directory, "missing.pem")
        self.assertEqual(gw.daemon.reload(config), "refused")
        proc = self._https_update(gw, tls.ca_cert)
        self.assertEqual((proc.returncode, proc.stdout), (0, "200"),
                         proc.stderr + "\n" + self.context(gw))
        # A good one replaces it for the next connection.
        config["gateway"]["tls"] = {"cert": renewed.cert, "key": renewed.key}
        self.assertEqual(gw.daemon.reload(config), "reloaded")
        proc = self._https_update(gw, renewed.ca_cert)
        self.assertEqual((proc.returncode, proc.stdout), (0, "200"),
                         proc.stderr + "\n" + self.context(gw))
        self.assertNotEqual(self._https_update(gw, tls.ca_cert).returncode, 0)


# ============================================================================================
# What an update does beyond the reply

def a_rdata(address):
    return socket.inet_aton(address)


class SideEffects(UpdateCase):

    def test_accepted_update_drops_cached_answers_for_the_account_hostnames(self):
        # docs/updates.md#cache-after-an-update: devices (FRITZ!Box, OpenWrt) look their own name up to confirm an update.
        up = RecordingUpstream().start()
        self.addCleanup(up.stop)
        up.add("cam.home.test", "A", a_rdata("192.0.2.10"), ttl=300)
        up.add("other.home.test", "A", a_rdata("192.0.2.11"), ttl=300)
        token = make_token("Cache")
        emu = self.emulator({token: "ok"})
        gw = self.gateway(emu.url, [account(token, hostnames=["cam.home.test"])],
                          upstreams=["127.0.0.1:%d" % up.port])
        for name in ("cam.home.test", "other.home.test"):
            for _ in range(2):
                reply = harness.dig(name, port=gw.dns_port)
                self.assertEqual(reply.rcode, "NOERROR", reply)
            self.assertEqual(up.count(name, "A"), 1, "the second answer must be cached")
        self.assertReply(update(gw, "cam.home.test", PUBLIC_A), ["good %s" % PUBLIC_A],
                         gw, emu, token)
        wait_calls(emu, token, 1)
        # The drop happens when the service confirms; poll with a deadline.
        poll_until(lambda: (harness.dig("cam.home.test", port=gw.dns_port),
                            up.count("cam.home.test", "A") == 2)[1],
                   timeout=5, what="cam.home.test asked upstream again after the update")
        harness.dig("other.home.test", port=gw.dns_port)
        self.assertEqual(up.count("other.home.test", "A"), 1,
                         "a name outside the account's hostnames was dropped from the cache")

    def test_two_nr_in_a_row_log_an_error_naming_kisolabs_support(self):
        emu, gw, token = self.simple("nr")
        self.assertReply(update(gw, HOST, PUBLIC_A), ["911"], gw, emu, token)
        calls = wait_calls(emu, token, 2, timeout=RETRY_DEADLINE)
        self.assertEqual([c["code"] for c in calls[:2]], ["NR", "NR"])
        line = gw.daemon.stderr.wait_for(
            lambda l: "<3>error:" in l and "support" in l.lower(), timeout=5)
        self.assertIsNotNone(line, "docs/updates.md#missing-record: two NR/ND in a row -> an error in the log saying "
                             "to contact KisoLabs support\n" + self.context(gw, emu, token))


# ============================================================================================
# Secrets

class Secrets(UpdateCase):

    def test_tokens_and_passwords_never_whole_in_stderr(self):
        # debug logging, every path that might print a secret: query credentials, a wrong
        # password, a failing call (the token URL), a good call.
        token = make_token("Sec")
        emu = self.emulator({token: "er"})
        gw = self.gateway(emu.url, [account(token)])
        wrong = "Wrong-Password-987654"
        self.assertBadauth(update(gw, HOST, PUBLIC_A, password=wrong), gw)
        r = request(gw.http_host, gw.http_port, update_path(
            HOST, PUBLIC_A, username=DEVICE_USER, password=DEVICE_PASS))
        self.assertReply(r, ["911"], gw, emu, token)
        emu.set_token(token, "ok")
        wait_calls(emu, token, 2, timeout=RETRY_DEADLINE)
        text = gw.stderr_text()
        for secret in (token, DEVICE_PASS, wrong, basic(DEVICE_USER, DEVICE_PASS)[6:]):
            self.assertNotIn(secret, text, "secret %s… whole in stderr" % secret[:4])


if __name__ == "__main__":
    unittest.main()
