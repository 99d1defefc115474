"""Idle memory: a gateway that has not used TLS yet (no device connected over HTTPS, a token API
not yet called) leaves OpenSSL uninitialised. OpenSSL 3's first digest or SSL_CTX_new() reads
openssl.cnf, activates the default provider and fetches its algorithms, which faults in about
2 MiB of libcrypto (net/sha256.h, gateway/updates/http_client.cc; the HTTPS listener's context
is made by the first TLS connection, its certificate checked at start in a child process). The
real daemon, its /proc/PID/smaps, and for comparison a process that only loads the same
libcrypto."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import harness
import tls_util
from emulator import Emulator
from gateway_harness import (DEVICE_PASS, DEVICE_USER, PUBLIC_A, Gateway, account, free_port,
                             make_token, run, update, update_path, wait_calls)

# What a library's pages may grow by beyond merely being loaded: a few 64 KiB fault-around
# windows for the calls that do not initialise the library (error strings, OPENSSL_cleanse).
MARGIN_KIB = 256


def mapped_rss_kib(smaps, fragment):
    """(path, KiB resident) of the first mapped file whose path contains fragment, from the
    text of a /proc/PID/smaps."""
    path, total, current = None, 0, None
    for line in smaps.splitlines():
        fields = line.split()
        if len(fields) >= 5 and "-" in fields[0] and not fields[0].endswith(":"):
            current = fields[5] if len(fields) > 5 else ""
        elif fields and fields[0] == "Rss:" and current and fragment in current:
            path = path or current
            if current == path:
                total += int(fields[1])
    return path, total


def rss_of_loaded_library(path):
    """KiB resident of `path` in a fresh process that loads it (relocated, nothing called)."""
    code = ("import ctypes, sys\n"
            "ctypes.CDLL(sys.argv[1])\n"
            "sys.stdout.write(open('/proc/self/smaps').read())\n")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         timeout=30, check=True)
    return mapped_rss_kib(out.stdout, path)[1]


class IdleMemoryTest(unittest.TestCase):
    def start(self, update_url, accounts=None, env=None, https=False):
        # https: a listener on a free loopback port (the harness picks it), self-signed.
        gw = Gateway(update_url=update_url, accounts=accounts or [account()],
                     https_listen=None if https else [], log_level="info")
        self.addCleanup(gw.cleanup)
        saved = {key: os.environ.get(key) for key in env or {}}
        os.environ.update(env or {})  # the daemon inherits it
        try:
            gw.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    del os.environ[key]
                else:
                    os.environ[key] = value
        # An intercepted name is answered from the gateway itself: the start and a first answer.
        reply = harness.dig("members.dyndns.org", port=gw.dns_port)
        self.assertFalse(reply.timeout, gw.stderr_tail())
        return gw

    def libcrypto_rss(self, gw):
        """(path, KiB resident in the daemon, KiB resident when only loaded)."""
        with open("/proc/%d/smaps" % gw.daemon.proc.pid) as smaps:
            path, rss = mapped_rss_kib(smaps.read(), "libcrypto")
        self.assertIsNotNone(path, "the daemon maps no libcrypto")
        return path, rss, rss_of_loaded_library(path)

    def assert_libcrypto_untouched(self, gw):
        path, rss, loaded = self.libcrypto_rss(gw)
        self.assertLessEqual(rss, loaded + MARGIN_KIB,
                             "%s: %d KiB resident in the idle daemon, %d KiB when only loaded"
                             % (path, rss, loaded))

    def test_plain_http_token_api_leaves_openssl_untouched(self):
        # Each account's token is hashed at start (its key in the state file).
        self.assert_libcrypto_untouched(self.start("http://127.0.0.1:%d/" % free_port()))

    def test_https_token_api_makes_its_tls_context_on_the_first_call(self):
        # Nothing listens there: a call, if the scheduler made one, would be refused before
        # any TLS; the context would only have been made at start.
        self.assert_libcrypto_untouched(self.start("https://127.0.0.1:%d/" % free_port()))

    def test_the_first_https_call_without_a_ca_file_makes_the_context_and_succeeds(self):
        # Without dynamo.ca_file the context is made on the first call, with the system store:
        # SSL_CERT_FILE stands in for it, OpenSSL's default verify paths read that variable.
        tmp = tempfile.mkdtemp(prefix="dynamo-idle-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        tls = tls_util.make_ca_and_cert(tmp, dns_names=["update.test"], ips=["127.0.0.1"])
        token = make_token("Lazy")
        emu = Emulator(tokens={token: "ok"}, tls=tls)
        emu.start()
        self.addCleanup(emu.stop)
        gw = self.start(emu.url, accounts=[account(token)], env={"SSL_CERT_FILE": tls.ca_cert})
        self.assert_libcrypto_untouched(gw)
        r = update(gw, "cam.example.net", PUBLIC_A)
        self.assertEqual((r.status, r.body.strip()), (200, "good %s" % PUBLIC_A),
                         gw.stderr_tail())
        calls = wait_calls(emu, token, 1)
        self.assertEqual((calls[0]["ip"], calls[0]["code"]), (PUBLIC_A, "UP,OK"))

    def test_the_https_listener_makes_its_tls_context_on_the_first_connection(self):
        token = make_token("Https")
        emu = Emulator(tokens={token: "ok"})
        emu.start()
        self.addCleanup(emu.stop)
        gw = self.start(emu.url, accounts=[account(token)], https=True)
        # The self-signed certificate is made (and written) at start all the same, by a child
        # process: the daemon itself has not initialised OpenSSL.
        cert, key = gw.generated_cert()
        self.assertIsNotNone(cert, "no certificate in state_dir: %s" % os.listdir(gw.state_dir))
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assert_libcrypto_untouched(gw)

        url = "https://members.dyndns.org:%d%s" % (gw.https_port,
                                                    update_path("cam.example.net", PUBLIC_A))
        proc = run(["curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", cert,
                    "--resolve", "members.dyndns.org:%d:127.0.0.1" % gw.https_port,
                    "-u", "%s:%s" % (DEVICE_USER, DEVICE_PASS), "-w", "\nHTTP %{http_code}",
                    url], timeout=30)
        self.assertEqual(proc.returncode, 0, "curl failed: %s\n%s" % (proc.stderr,
                                                                     gw.stderr_tail()))
        body, _, status = proc.stdout.rpartition("\n")
        self.assertEqual((status, body.strip()), ("HTTP 200", "good %s" % PUBLIC_A), proc.stdout)
        calls = wait_calls(emu, token, 1)
        self.assertEqual((calls[0]["ip"], calls[0]["code"]), (PUBLIC_A, "UP,OK"))
        # Now it has been made: OpenSSL is initialised in the daemon.
        path, rss, loaded = self.libcrypto_rss(gw)
        self.assertGreater(rss, loaded + MARGIN_KIB,
                           "%s: %d KiB resident after a TLS connection, %d KiB when only loaded"
                           % (path, rss, loaded))


if __name__ == "__main__":
    unittest.main()
