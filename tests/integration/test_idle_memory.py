"""Idle memory: a gateway whose configuration uses no TLS at start (no https_listen, a token API
not yet called) leaves OpenSSL uninitialised. OpenSSL 3's first digest or SSL_CTX_new() reads
openssl.cnf, activates the default provider and fetches its algorithms, which faults in about
2 MiB of libcrypto (net/sha256.h, gateway/updates/http_client.cc). The real daemon, its
/proc/PID/smaps, and for comparison a process that only loads the same libcrypto."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness
import tls_util
from emulator import Emulator
from gateway_harness import (PUBLIC_A, Gateway, account, free_port, make_token, update,
                             wait_calls)

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
    def start(self, update_url, accounts=None, env=None):
        gw = Gateway(update_url=update_url, accounts=accounts or [account()], https_listen=[],
                     log_level="info")
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

    def assert_libcrypto_untouched(self, gw):
        with open("/proc/%d/smaps" % gw.daemon.proc.pid) as smaps:
            path, rss = mapped_rss_kib(smaps.read(), "libcrypto")
        self.assertIsNotNone(path, "the daemon maps no libcrypto")
        loaded = rss_of_loaded_library(path)
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


if __name__ == "__main__":
    unittest.main()
