"""Real DynDNS clients against the real daemon on loopback (docs/architecture.md#tests): ddclient (dyndns2),
inadyn (a `custom` provider pointed at the gateway), wget (credentials only after the 401
challenge, like wget-based firmware). The token-API emulator behind the daemon records what
reached the service.

Neither client touches the network beyond loopback: ddclient gets its address from a command
(use=cmd) and talks to 127.0.0.1:P; inadyn gets its address from checkip-command, talks to
127.0.0.1:P, and finds a cache file for its host name, so it never looks the name up through
the machine's resolver. Every subprocess runs with a deadline.
"""

import os
import re
import shutil
import tempfile
import unittest

import harness
from emulator import Emulator
from gateway_harness import (DEVICE_PASS, DEVICE_USER, EMULATOR_WINDOW, MIN_INTERVAL, PUBLIC_A,
                             PUBLIC_B, Gateway, account, calls_for, make_token, run,
                             update_path, wait_calls)

CLIENT_TIMEOUT = 60


class ClientCase(unittest.TestCase):
    PROGRAM = None  # (program, Debian package) the class drives

    @classmethod
    def setUpClass(cls):
        if cls.PROGRAM:
            harness.require(*cls.PROGRAM)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dynamo-clients-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, mode="ok", hostnames=(), password=DEVICE_PASS):
        token = make_token("C")
        emu = Emulator(tokens={token: mode}, window=EMULATOR_WINDOW)
        emu.start()
        self.addCleanup(emu.stop)
        gw = Gateway(emu.url, accounts=[account(token, password=password, hostnames=hostnames)],
                     min_interval="%ds" % MIN_INTERVAL)
        self.addCleanup(gw.cleanup)
        gw.start()
        return emu, gw, token

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def context(self, proc, gw, emu=None, token=None):
        calls = calls_for(emu, token) if emu is not None else []
        return ("client exit %s\n--- client output:\n%s\n--- emulator calls: %s\n"
                "--- daemon stderr (tail):\n%s" % (
                    proc.returncode, (proc.stdout + proc.stderr)[-4000:],
                    [(c["ip"], c["code"]) for c in calls], gw.stderr_tail()))


# ============================================================================================

class Ddclient(ClientCase):
    PROGRAM = ("ddclient", "ddclient")

    def ddclient(self, gw, hosts, ip=PUBLIC_B, password=DEVICE_PASS):
        conf = self.write("ddclient.conf", "\n".join([
            "protocol=dyndns2",
            "use=cmd, cmd='echo %s'" % ip,
            "server=127.0.0.1:%d" % gw.http_port,
            "ssl=no",
            "login=%s" % DEVICE_USER,
            "password='%s'" % password,
            ",".join(hosts),
            ""]))
        cache = os.path.join(self.tmp, "ddclient.cache")
        if os.path.exists(cache):
            os.unlink(cache)
        return run(["ddclient", "-daemon=0", "-foreground", "-verbose", "-noquiet",
                    "-file", conf, "-cache", cache], timeout=CLIENT_TIMEOUT)

    def test_update_through_the_gateway(self):
        emu, gw, token = self.start()
        proc = self.ddclient(gw, ["cam.example.net"])
        out = proc.stdout + proc.stderr
        self.assertRegex(out, r"SUCCESS:\s+updating cam\.example\.net: good: IP address set to "
                         + re.escape(PUBLIC_B), self.context(proc, gw, emu, token))
        self.assertIn("RECEIVE:  good %s" % PUBLIC_B, out, self.context(proc, gw, emu, token))
        calls = wait_calls(emu, token, 1)
        self.assertEqual([(c["ip"], c["code"]) for c in calls], [(PUBLIC_B, "UP,OK")])

    def test_two_hosts_in_one_request(self):
        emu, gw, token = self.start()
        proc = self.ddclient(gw, ["a.example.net", "b.example.net"])
        out = proc.stdout + proc.stderr
        for host in ("a", "b"):
            self.assertRegex(out, r"SUCCESS:\s+updating %s\.example\.net: good" % host,
                             self.context(proc, gw, emu, token))
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_B])

    def test_wrong_password_is_badauth_and_no_call(self):
        emu, gw, token = self.start()
        proc = self.ddclient(gw, ["cam.example.net"], password="not-the-password")
        out = proc.stdout + proc.stderr
        self.assertIn("badauth", out, self.context(proc, gw, emu, token))
        self.assertNotIn("SUCCESS", out, self.context(proc, gw, emu, token))
        self.assertEqual(calls_for(emu, token), [])

    def test_service_failure_is_911_for_ddclient(self):
        emu, gw, token = self.start(mode="er")
        proc = self.ddclient(gw, ["cam.example.net"])
        out = proc.stdout + proc.stderr
        self.assertRegex(out, r"FAILED:.*911", self.context(proc, gw, emu, token))
        self.assertNotIn("SUCCESS", out)
        self.assertEqual([c["code"] for c in wait_calls(emu, token, 1)], ["ER"])


# ============================================================================================

class Inadyn(ClientCase):
    PROGRAM = ("inadyn", "inadyn")

    def inadyn(self, gw, hostname, ip=PUBLIC_B):
        cache_dir = os.path.join(self.tmp, "inadyn-cache")
        os.makedirs(cache_dir, exist_ok=True)
        # A cached older address: inadyn then compares with it instead of resolving the name
        # through the machine's resolver, and updates because it changed.
        self.write(os.path.join("inadyn-cache", hostname + ".cache"), "192.0.2.99", 0o644)
        conf = self.write("inadyn.conf", """
period = 300
custom gateway@test {
    ssl = false
    ddns-server = "127.0.0.1:%d"
    ddns-path = "/nic/update?hostname=%%h&myip=%%i"
    checkip-command = "echo %s"
    username = "%s"
    password = "%s"
    hostname = "%s"
}
""" % (gw.http_port, ip, DEVICE_USER, DEVICE_PASS, hostname))
        return run(["inadyn", "-1", "--foreground", "-l", "debug", "-f", conf,
                    "--cache-dir", cache_dir, "-P", os.path.join(self.tmp, "inadyn.pid")],
                   timeout=CLIENT_TIMEOUT)

    def test_update_through_the_gateway(self):
        emu, gw, token = self.start()
        proc = self.inadyn(gw, "nas.example.net")
        out = proc.stdout + proc.stderr
        self.assertIn("Successful alias table update for nas.example.net => new IP# "
                      + PUBLIC_B, out, self.context(proc, gw, emu, token))
        self.assertEqual(proc.returncode, 0, self.context(proc, gw, emu, token))
        calls = wait_calls(emu, token, 1)
        self.assertEqual([(c["ip"], c["code"]) for c in calls], [(PUBLIC_B, "UP,OK")])


# ============================================================================================

class Wget(ClientCase):
    PROGRAM = ("wget", "wget")

    def test_credentials_after_the_challenge(self):
        emu, gw, token = self.start()
        url = "http://127.0.0.1:%d%s" % (gw.http_port, update_path("cam.example.net",
                                                                   PUBLIC_A))
        # Without --auth-no-challenge wget sends credentials only after a 401 with a
        # WWW-Authenticate challenge, as the firmware of many cameras does.
        proc = run(["wget", "-nv", "--no-proxy", "--tries=1", "--timeout=15", "-O", "-",
                    "--user=" + DEVICE_USER, "--password=" + DEVICE_PASS, url],
                   timeout=CLIENT_TIMEOUT)
        self.assertEqual(proc.returncode, 0, self.context(proc, gw, emu, token))
        self.assertEqual(proc.stdout.splitlines(), ["good %s" % PUBLIC_A],
                         self.context(proc, gw, emu, token))
        self.assertEqual([c["ip"] for c in wait_calls(emu, token, 1)], [PUBLIC_A])


if __name__ == "__main__":
    unittest.main()
