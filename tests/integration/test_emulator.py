"""The token-API emulator (tests/emulator) against docs/token-api.md#the-emulator, over loopback with urllib and curl.

Every code, the window rule (TF restarts it), ip from the source address and from a form POST,
every fault, the control API, bounds, TLS with a private CA, clean stop. No sleeps: the clock
is moved with the control API, and slow answers are waited for with client timeouts.
"""

import os
import socket
import subprocess
import tempfile
import time
import unittest

import tls_util
from emulator import EMULATOR, Emulator, EmulatorError

OK = "OKtoken0123456789abcdefghijklmnopqrstuvwxy"
UPER = "UPtoken0123456789abcdefghijklmnopqrstuvwxy"
ND = "NDtoken0123456789abcdefghijklmnopqrstuvwxy"
ER = "ERtoken0123456789abcdefghijklmnopqrstuvwxy"
NR = "NRtoken0123456789abcdefghijklmnopqrstuvwxy"  # configured `nr`
UNKNOWN = "XXtoken0123456789abcdefghijklmnopqrstuvwxy"
H500 = "H5token0123456789abcdefghijklmnopqrstuvwxy"
GARBAGE = "GBtoken0123456789abcdefghijklmnopqrstuvwxy"
SLOW = "SLtoken0123456789abcdefghijklmnopqrstuvwxy"
DROP = "DRtoken0123456789abcdefghijklmnopqrstuvwxy"
STORED = "STtoken0123456789abcdefghijklmnopqrstuvwxy"
for _token in (OK, UPER, ND, ER, NR, UNKNOWN, H500, GARBAGE, SLOW, DROP, STORED):
    assert len(_token) == 42, _token

TOKENS = {OK: "ok", UPER: "uper", ND: "nd", ER: "er", NR: "nr", H500: "http500",
          GARBAGE: "garbage", SLOW: "slow:2", DROP: "drop", STORED: ("ok", "198.51.100.9")}
WINDOW = 300


def curl(*args, timeout=10):
    """curl without any proxy from the environment; returns CompletedProcess (text)."""
    return subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout), *args],
                          capture_output=True, text=True, timeout=timeout + 10)


class TokenApiCodes(unittest.TestCase):
    """One emulator for the class; every test starts from reset() (calls, windows, addresses)."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(tokens=TOKENS).start()

    @classmethod
    def tearDownClass(cls):
        status = cls.emu.stop()
        assert status == 0, "emulator exit status %s; log:\n%s" % (status, cls.emu.log_text())

    def setUp(self):
        self.emu.reset(addresses=True)
        for token, spec in TOKENS.items():
            mode, address = (spec, None) if isinstance(spec, str) else spec
            self.emu.set_token(token, mode, address)

    def assertCall(self, expected, token, ip=None, post=False):
        status, body = self.emu.call(token, ip=ip, post=post)
        self.assertEqual((status, body), (200, expected), "token %s ip %s" % (token[:4], ip))

    def open_window(self):
        self.emu.advance_clock(WINDOW + 1)

    # -- NT -------------------------------------------------------------------------------

    def test_nt_without_token_or_with_wrong_length(self):
        for path in ("/", "/short", "/" + OK + "x", "/" + OK[:-1], "/" + OK[:20] + "/" + OK[:21],
                     "/favicon.ico?ip=1.2.3.4"):
            with self.subTest(path=path):
                self.assertEqual(self.emu.request(path), (200, "NT"))
        self.assertEqual(set(self.emu.codes()), {"NT"})

    def test_nt_answers_text_plain(self):
        result = curl("-i", self.emu.url)
        self.assertIn("Content-Type: text/plain", result.stdout)

    # -- IN -------------------------------------------------------------------------------

    def test_in_for_invalid_ip_and_nothing_updated(self):
        self.assertCall("UP,OK", OK, "192.0.2.1")
        for bad in ("", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d",
                    "::1", "2001:db8::1", "1.2.3.-1", "192.0.2.1/24"):
            with self.subTest(ip=bad):
                self.open_window()
                self.assertCall("IN", OK, bad)
        self.assertEqual(self.emu.tokens()[OK]["address"], "192.0.2.1")
        self.open_window()
        self.assertCall("NC", OK, "192.0.2.1")

    def test_in_restarts_the_window_of_a_known_token(self):
        self.assertCall("IN", OK, "300.1.1.1")
        self.assertCall("TF", OK, "192.0.2.1")

    # -- NR / ND / ER ---------------------------------------------------------------------

    def test_nr_for_unknown_token(self):
        self.assertCall("NR", UNKNOWN, "192.0.2.1")
        self.assertCall("NR", UNKNOWN, "192.0.2.1")  # no window for a token nobody knows
        self.assertCall("NR", NR)
        self.assertNotIn(UNKNOWN, self.emu.tokens())

    def test_nd_and_er_modes(self):
        self.assertCall("ND", ND, "192.0.2.1")
        self.assertCall("ND", ND, "192.0.2.1")
        self.assertCall("ER", ER, "192.0.2.1")
        self.assertIsNone(self.emu.tokens()[ND]["address"])
        self.assertIsNotNone(self.emu.tokens()[ND]["last_call"])  # every call is counted

    # -- UP,OK / NC / UP,ER / TF ----------------------------------------------------------

    def test_up_ok_then_nc_then_up_ok_on_change(self):
        self.assertCall("UP,OK", OK, "192.0.2.1")
        self.open_window()
        self.assertCall("NC", OK, "192.0.2.1")
        self.open_window()
        self.assertCall("UP,OK", OK, "192.0.2.2")
        self.assertEqual(self.emu.tokens()[OK]["address"], "192.0.2.2")

    def test_stored_address_from_tokens_file_answers_nc(self):
        self.assertCall("NC", STORED, "198.51.100.9")

    def test_uper_stores_the_address(self):
        self.assertCall("UP,ER", UPER, "192.0.2.1")
        self.open_window()
        self.assertCall("NC", UPER, "192.0.2.1")
        self.open_window()
        self.assertCall("UP,ER", UPER, "192.0.2.7")

    def test_tf_within_window_and_nothing_updated(self):
        self.assertCall("UP,OK", OK, "192.0.2.1")
        self.emu.advance_clock(WINDOW - 1)
        self.assertCall("TF", OK, "192.0.2.2")
        self.assertEqual(self.emu.tokens()[OK]["address"], "192.0.2.1")

    def test_tf_restarts_the_window(self):
        # t=0 UP,OK; t=200 TF; t=400 TF (only 200 s after the TF, although 400 s after the
        # update); t=701 open again (301 s after the last TF).
        self.assertCall("UP,OK", OK, "192.0.2.1")
        self.emu.advance_clock(200)
        self.assertCall("TF", OK, "192.0.2.1")
        self.emu.advance_clock(200)
        self.assertCall("TF", OK, "192.0.2.1")
        self.emu.advance_clock(WINDOW + 1)
        self.assertCall("NC", OK, "192.0.2.1")
        self.assertEqual(self.emu.codes(OK), ["UP,OK", "TF", "TF", "NC"])

    def test_window_is_per_token(self):
        self.assertCall("UP,OK", OK, "192.0.2.1")
        self.assertCall("UP,ER", UPER, "192.0.2.1")
        self.assertCall("TF", OK, "192.0.2.1")

    def test_window_option(self):
        with Emulator(tokens={OK: "ok"}, window=5) as emu:
            self.assertEqual(emu.call(OK, "192.0.2.1"), (200, "UP,OK"))
            emu.advance_clock(4)
            self.assertEqual(emu.call(OK, "192.0.2.1"), (200, "TF"))
            emu.advance_clock(5)
            self.assertEqual(emu.call(OK, "192.0.2.1"), (200, "NC"))

    # -- where the address comes from ------------------------------------------------------

    def test_ip_from_source_address(self):
        self.assertCall("UP,OK", OK)
        self.assertEqual(self.emu.tokens()[OK]["address"], "127.0.0.1")
        self.open_window()
        self.assertCall("NC", OK, "127.0.0.1")
        call = self.emu.calls()[0]
        self.assertIsNone(call["ip"])
        self.assertTrue(call["source"].startswith("127.0.0.1:"), call)

    def test_ip_from_form_post(self):
        self.assertCall("UP,OK", OK, "192.0.2.55", post=True)
        self.assertEqual(self.emu.tokens()[OK]["address"], "192.0.2.55")
        call = self.emu.calls()[-1]
        self.assertEqual((call["method"], call["ip"]), ("POST", "192.0.2.55"))

    def test_post_form_with_curl_and_invalid_ip(self):
        result = curl("-d", "ip=1.2.3.999", self.emu.url + OK)
        self.assertEqual(result.stdout, "IN")

    def test_post_without_ip_uses_source(self):
        self.assertCall("UP,OK", OK, post=True)
        self.assertEqual(self.emu.tokens()[OK]["address"], "127.0.0.1")

    def test_query_ip_wins_over_form_ip(self):
        status, body = self.emu.request("/%s?ip=192.0.2.1" % OK, data=b"ip=192.0.2.2",
                                        method="POST")
        self.assertEqual((status, body), (200, "UP,OK"))
        self.assertEqual(self.emu.tokens()[OK]["address"], "192.0.2.1")

    def test_call_record(self):
        self.emu.call(OK, "192.0.2.1", headers={"User-Agent": "dynamo-gateway/0.1.0"})
        (call,) = self.emu.calls()
        self.assertEqual(call["token"], OK)
        self.assertEqual(call["method"], "GET")
        self.assertEqual(call["ip"], "192.0.2.1")
        self.assertEqual(call["code"], "UP,OK")
        self.assertEqual(call["status"], 200)
        self.assertEqual(call["user_agent"], "dynamo-gateway/0.1.0")
        self.assertFalse(call["tls"])
        self.assertGreater(call["time"], 0)

    def test_call_record_survives_odd_bytes(self):
        self.emu.request("/%C3%A9%22\\", headers={"User-Agent": "a\"b\\c\x7f"})
        (call,) = self.emu.calls()  # valid JSON whatever the client sent
        self.assertEqual(call["code"], "NT")
        self.assertEqual(call["user_agent"], "a\"b\\c\x7f")

    # -- faults ---------------------------------------------------------------------------

    def test_http500(self):
        status, _ = self.emu.call(H500, "192.0.2.1")
        self.assertEqual(status, 500)
        self.assertEqual(self.emu.calls()[-1]["code"], "HTTP 500")
        self.assertIsNone(self.emu.tokens()[H500]["last_call"])  # never reached the service

    def test_garbage(self):
        self.assertCall("hello", GARBAGE, "192.0.2.1")

    def test_drop_with_urllib(self):
        with self.assertRaises((ConnectionError, OSError)):
            self.emu.call(DROP, "192.0.2.1")
        self.assertEqual(self.emu.calls()[-1]["status"], 0)
        self.assertEqual(self.emu.calls()[-1]["code"], "DROP")

    def test_drop_with_curl(self):
        result = curl(self.emu.url + DROP)
        self.assertEqual(result.returncode, 52, result.stderr)  # "Empty reply from server"
        self.assertEqual(result.stdout, "")

    def test_slow_times_out_the_client_and_does_not_block_others(self):
        started = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError, OSError)):
            self.emu.call(SLOW, "192.0.2.1", timeout=0.5)
        # The loop is not blocked: another token answers while the slow answer is pending.
        self.assertCall("UP,OK", OK, "192.0.2.1")
        self.assertLess(time.monotonic() - started, 1.8)
        # The slow call was processed when it arrived.
        self.assertEqual(self.emu.tokens()[SLOW]["address"], "192.0.2.1")

    def test_slow_answers_after_the_delay(self):
        self.emu.set_token(SLOW, "slow:0.5")
        started = time.monotonic()
        self.assertCall("UP,OK", SLOW, "192.0.2.1")
        self.assertGreaterEqual(time.monotonic() - started, 0.45)
        self.assertEqual(self.emu.calls()[-1]["delay"], 0.5)

    # -- control API ----------------------------------------------------------------------

    def test_set_token_at_runtime(self):
        fresh = "RTtoken0123456789abcdefghijklmnopqrstuvwxy"
        self.assertCall("NR", fresh, "192.0.2.1")
        self.emu.set_token(fresh, "ok")
        self.assertCall("UP,OK", fresh, "192.0.2.1")
        self.emu.set_token(fresh, "nd")  # a mode change keeps the window and the address
        self.assertCall("ND", fresh, "192.0.2.1")
        self.emu.set_token(fresh, "ok")
        self.assertCall("TF", fresh, "192.0.2.1")
        self.assertEqual(self.emu.tokens()[fresh]["address"], "192.0.2.1")

    def test_set_token_rejects_bad_input(self):
        for params in ("token=short&mode=ok", "token=%s&mode=fast" % OK,
                       "token=%s&mode=slow:x" % OK, "token=%s&address=1.2.3" % OK):
            with self.subTest(params=params):
                status, _ = self.emu.request("/_control/token?" + params, data=b"")
                self.assertEqual(status, 400)
        self.assertEqual(self.emu.request("/_control/token?token=%s" % OK)[0], 405)
        self.assertEqual(self.emu.request("/_control/nope")[0], 404)

    def test_reset_clears_calls_and_windows(self):
        self.assertCall("UP,OK", OK, "192.0.2.1")
        self.emu.reset()
        self.assertEqual(self.emu.calls(), [])
        self.assertCall("NC", OK, "192.0.2.1")  # no TF: the window is gone, the address kept

    def test_clock_advance_accumulates(self):
        first = self.emu.advance_clock(10)
        self.assertEqual(self.emu.advance_clock(5), first + 5)
        self.assertEqual(self.emu.request("/_control/clock?advance=abc", data=b"")[0], 400)

    def test_control_calls_are_not_recorded(self):
        self.emu.tokens()
        self.assertEqual(self.emu.calls(), [])

    # -- bounds ---------------------------------------------------------------------------

    def test_body_too_large(self):
        status, _ = self.emu.request("/" + OK, data=b"ip=1.2.3.4&" + b"x" * 20000, method="POST")
        self.assertEqual(status, 413)

    def test_headers_too_large(self):
        try:
            status, _ = self.emu.request("/" + OK, headers={"X-Big": "y" * 20000})
        except (ConnectionError, OSError):
            return  # closing the connection is an acceptable refusal
        self.assertNotEqual(status, 200)

    def test_other_methods_refused(self):
        status, _ = self.emu.request("/" + OK, method="PUT", data=b"ip=1.2.3.4")
        self.assertNotEqual(status, 200)
        self.assertEqual(self.emu.calls(), [])


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dynamo-emu-tls-")
        cls.files = tls_util.make_ca_and_cert(cls.tmp.name, dns_names=["localhost"],
                                              ips=["127.0.0.1"])
        cls.emu = Emulator(tokens={OK: "ok", DROP: "drop", H500: "http500"},
                           tls=cls.files).start()

    @classmethod
    def tearDownClass(cls):
        status = cls.emu.stop()
        cls.tmp.cleanup()
        assert status == 0, "emulator exit status %s; log:\n%s" % (status, cls.emu.log_text())

    def test_faults_over_tls(self):
        result = curl("--cacert", self.files.ca_cert, self.emu.url + DROP)
        self.assertEqual(result.returncode, 52, result.stderr)
        result = curl("--cacert", self.files.ca_cert, "-o", "/dev/null", "-w", "%{http_code}",
                      self.emu.url + H500)
        self.assertEqual(result.stdout, "500", result.stderr)

    def test_curl_verifies_with_private_ca(self):
        result = curl("--cacert", self.files.ca_cert, self.emu.url + OK + "?ip=192.0.2.1")
        self.assertEqual((result.returncode, result.stdout), (0, "UP,OK"), result.stderr)
        self.assertTrue(self.emu.calls()[-1]["tls"])

    def test_curl_verifies_host_name(self):
        port = self.emu.port
        result = curl("--cacert", self.files.ca_cert, "--resolve",
                      "localhost:%d:127.0.0.1" % port, "https://localhost:%d/short" % port)
        self.assertEqual((result.returncode, result.stdout), (0, "NT"), result.stderr)
        result = curl("--cacert", self.files.ca_cert, "--resolve",
                      "wrong.test:%d:127.0.0.1" % port, "https://wrong.test:%d/short" % port)
        self.assertEqual(result.returncode, 60, result.stderr)  # peer certificate mismatch

    def test_untrusted_without_ca(self):
        result = curl("--capath", "/nonexistent", "--cacert", "/dev/null",
                      self.emu.url + OK)
        self.assertNotEqual(result.returncode, 0)

    def test_plain_http_to_tls_port_is_refused(self):
        result = curl("http://127.0.0.1:%d/%s" % (self.emu.port, OK))
        self.assertNotEqual(result.stdout, "UP,OK")

    def test_python_client_and_control_over_tls(self):
        self.assertEqual(self.emu.call(OK, "192.0.2.9", post=True)[0], 200)
        self.assertIn(OK, self.emu.tokens())


class Process(unittest.TestCase):
    def test_ready_file_and_listening_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            ready = os.path.join(tmp, "ready")
            emu = Emulator(extra_args=["--ready-file", ready]).start()
            try:
                with open(ready) as f:
                    self.assertEqual(int(f.read()), emu.port)
                self.assertEqual(emu.call("x")[1], "NT")
            finally:
                self.assertEqual(emu.stop(), 0)

    def test_sigint_stops_cleanly_with_a_slow_answer_pending(self):
        import signal as signals
        emu = Emulator(tokens={SLOW: "slow:30"}).start()
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as s:
            s.sendall(("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % SLOW).encode())
            deadline = time.monotonic() + 5
            while emu.codes() != ["UP,OK"] and time.monotonic() < deadline:
                pass  # the raw request and this control call race on two connections
            self.assertEqual(emu.codes(), ["UP,OK"])  # processed, answer pending
            self.assertEqual(emu.stop(signals.SIGINT, timeout=5), 0)

    def test_bad_tokens_file_names_the_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tokens")
            with open(path, "w") as f:
                f.write("# comment\n%s ok\n%s sometimes\n" % (OK, UPER))
            result = subprocess.run([EMULATOR, "--listen", "127.0.0.1:0", "--tokens", path],
                                    capture_output=True, text=True, timeout=10)
            self.assertEqual(result.returncode, 2)
            self.assertIn("%s:3: mode" % path, result.stderr)
            self.assertEqual(result.stdout, "")

    def test_bad_command_lines(self):
        for argv in ([], ["--listen", "nowhere"], ["--listen", "127.0.0.1:0", "--bogus", "1"],
                     ["--listen", "127.0.0.1:0", "--tls-cert", "only-cert"],
                     ["--listen", "127.0.0.1:0", "--window", "-1"]):
            with self.subTest(argv=argv):
                result = subprocess.run([EMULATOR, *argv], capture_output=True, text=True,
                                        timeout=10)
                self.assertEqual(result.returncode, 2, result.stderr)

    def test_missing_tls_files_fail_start(self):
        with self.assertRaises(EmulatorError):
            Emulator(tls=tls_util.TlsFiles("/", "/nonexistent/ca", "", "/nonexistent/cert",
                                           "/nonexistent/key")).start()


if __name__ == "__main__":
    unittest.main()
