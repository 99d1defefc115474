"""The set-up page (README "Set up from a phone"): without an administrator password /setup only
says how to set one; `--set-admin-password` writes its hash into the file; after a log-in a new
account is added from the page, the file stays valid (comments, order, mode kept) and the daemon
reloads it, and a real ddclient then updates with the new account through the emulator. A wrong
password, a missing CSRF token, an invalid change and a client outside dns.allow are refused."""

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import tempfile
import shutil
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness
import struct
from emulator import Emulator
from gateway_harness import (PUBLIC_A, PUBLIC_B, Gateway, account, make_token, run, update,
                             wait_calls)

ADMIN_PASSWORD = "correct horse battery"
NEW_USER = "newcam"
NEW_PASS = 'n3w:p@ss"x'
CLIENT_TIMEOUT = 60
HERE = os.path.dirname(os.path.abspath(__file__))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping HTTP client (urllib's CookieJar follows RFC 6265 as browsers do)."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  NoRedirect())

    def call(self, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=15) as reply:
                return reply.status, dict(reply.headers), reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def csrf(self, page):
        match = re.search(r'name="csrf" value="([0-9a-f]{32})"', page)
        assert match, page[:2000]
        return match.group(1)


def sighup_and_wait(gw):
    start = gw.daemon.stderr.mark()
    os.kill(gw.daemon.proc.pid, signal.SIGHUP)
    line = gw.daemon.stderr.wait_for(lambda l: "reloaded" in l or "reload refused" in l,
                                     start=start, timeout=10)
    assert line is not None and "reloaded" in line, gw.stderr_tail()


class SetupPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.old_token = make_token("O")
        cls.new_token = make_token("N")
        cls.phone_token = make_token("P")
        cls.emu = Emulator(tokens={cls.old_token: "ok", cls.new_token: "ok",
                                   cls.phone_token: "ok"})
        cls.emu.start()
        cls.gw = Gateway(cls.emu.url, accounts=[account(cls.old_token, username="oldcam")])
        cls.gw.start()
        cls.path = cls.gw.daemon.config_path
        cls.base = "http://%s:%d" % (cls.gw.http_host, cls.gw.http_port)

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.emu.stop()

    def read_config(self):
        with open(self.path) as f:
            return f.read()

    def check_file(self):
        proc = run([harness.DAEMON, "--config", self.path, "--check"])
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def set_password(self):
        proc = subprocess.run([harness.DAEMON, "--config", self.path, "--set-admin-password"],
                              input=ADMIN_PASSWORD + "\n", capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        sighup_and_wait(self.gw)

    def logged_in(self):
        browser = Browser(self.base)
        status, _, page = browser.call("/setup")
        self.assertEqual(status, 200)
        status, headers, _ = browser.call(
            "/setup/login", {"csrf": browser.csrf(page), "password": ADMIN_PASSWORD})
        self.assertEqual(status, 303, headers)
        cookie = headers.get("Set-Cookie", "")
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/setup", "Max-Age="):
            self.assertIn(attribute, cookie)
        status, _, page = browser.call("/setup")
        self.assertEqual(status, 200)
        return browser, page

    def test_1_without_a_password_the_page_only_says_how_to_set_one(self):
        status, _, page = Browser(self.base).call("/setup")
        self.assertEqual(status, 200)
        self.assertIn("--set-admin-password", page)
        self.assertNotIn("<form", page)
        status, _, _ = Browser(self.base).call("/setup/login", {"password": "x"})
        self.assertEqual(status, 200)  # the same page, nothing done
        # Before the password is set: a comment and a narrow mode the edits must keep.
        with open(self.path) as f:
            text = f.read()
        with open(self.path, "w") as f:
            f.write("# the owner's own note, kept by every edit\n" + text)
        os.chmod(self.path, 0o640)
        self.set_password()
        self.assertRegex(self.read_config(), r'\n  admin_password_hash: "\$[y6]\$')
        self.check_file()

    def test_2_log_in_add_an_account_then_ddclient_updates_with_it(self):
        browser, page = self.logged_in()
        self.assertIn('data-username="oldcam"', page)
        self.assertNotIn(self.old_token, page)  # secrets never shown
        self.assertIn("127.0.0.1", page)  # the instructions name the address asked

        start = self.gw.daemon.stderr.mark()
        status, _, page = browser.call("/setup/account", {
            "csrf": browser.csrf(page), "original": "", "action": "save",
            "username": NEW_USER, "password": NEW_PASS, "token": self.new_token,
            "hostnames": "newcam.example.net", "ip_token": "", "names": ""})
        self.assertEqual(status, 200, page[-3000:])
        self.assertIn("account &#39;newcam&#39; added", page.replace("&#x27;", "&#39;"))
        self.assertIn('data-username="newcam"', page)
        self.assertIsNotNone(self.gw.daemon.stderr.wait_for(lambda l: "reloaded" in l,
                                                            start=start, timeout=10))
        text = self.read_config()
        self.assertTrue(text.startswith("# the owner's own note"))
        self.assertLess(text.index("oldcam"), text.index(NEW_USER))
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o640)
        self.check_file()

        self.ddclient_updates(NEW_USER, NEW_PASS, "newcam.example.net", self.new_token)

    def ddclient_updates(self, user, password, host, token):
        tmp = tempfile.mkdtemp(prefix="dynamo-setup-ddclient-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "ddclient.conf")
        with open(conf, "w") as f:
            f.write("\n".join(["protocol=dyndns2", "use=cmd, cmd='echo %s'" % PUBLIC_B,
                               "server=127.0.0.1:%d" % self.gw.http_port, "ssl=no",
                               "login=%s" % user, "password='%s'" % password, host, ""]))
        os.chmod(conf, 0o600)
        harness.require("ddclient", "ddclient")
        proc = run(["ddclient", "-daemon=0", "-foreground", "-verbose", "-noquiet", "-file", conf,
                    "-cache", os.path.join(tmp, "cache")], timeout=CLIENT_TIMEOUT)
        self.assertIn("good %s" % PUBLIC_B, proc.stdout + proc.stderr, self.gw.stderr_tail())
        calls = wait_calls(self.emu, token, 1)
        self.assertEqual([(c["ip"], c["code"]) for c in calls], [(PUBLIC_B, "UP,OK")])

    def test_3_an_invalid_change_is_refused_with_the_check_message(self):
        browser, page = self.logged_in()
        before = self.read_config()
        status, _, page = browser.call("/setup/account", {
            "csrf": browser.csrf(page), "original": "", "action": "save",
            "username": "short", "password": "pw", "token": "tooshort", "hostnames": ""})
        self.assertEqual(status, 400)
        self.assertRegex(page, r"dynamo\.yaml:\d+: accounts\[\d\]\.token: ")
        self.assertEqual(self.read_config(), before)

        status, _, page = browser.call("/setup/upstreams", {
            "csrf": browser.csrf(page), "upstreams": "not-an-address"})
        self.assertEqual(status, 400)
        self.assertRegex(page, r"dns\.upstreams\[0\]: ")
        self.assertEqual(self.read_config(), before)

    def test_4_wrong_password_and_missing_csrf_are_refused(self):
        browser = Browser(self.base)
        _, _, page = browser.call("/setup")
        status, _, page = browser.call("/setup/login",
                                       {"csrf": browser.csrf(page), "password": "wrong one!"})
        self.assertEqual(status, 403)
        self.assertIn("Wrong password", page)
        status, _, _ = browser.call("/setup")
        self.assertEqual(status, 200)
        browser, page = self.logged_in()
        before = self.read_config()
        status, _, _ = browser.call("/setup/upstreams", {"upstreams": "127.0.0.1:5353"})
        self.assertEqual(status, 403)
        status, _, _ = browser.call("/setup/upstreams",
                                    {"csrf": "0" * 32, "upstreams": "127.0.0.1:5353"})
        self.assertEqual(status, 403)
        self.assertEqual(self.read_config(), before)
        # No session at all (curl, another site's form): refused too.
        proc = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data",
                    "csrf=%s&upstreams=127.0.0.1:5353" % browser.csrf(page),
                    self.base + "/setup/upstreams"])
        self.assertEqual(proc.stdout, "403")

    def test_6_headless_chromium_logs_in_and_adds_an_account(self):
        """In a real browser: the cookie's attributes as Chromium stored them, the form posted
        with its CSRF token, the new account's card at phone width, and ddclient with it."""
        harness.require("chromium", "chromium")
        node = harness.require("node", "nodejs")
        modules = os.environ.get("DYNAMO_NODE_MODULES") or os.path.join(
            os.environ.get("DYNAMO_BUILD_DIR") or os.path.join(HERE, "..", "..", "build"),
            "node_modules")
        if not os.path.isdir(os.path.join(modules, "playwright-core")):
            raise AssertionError("playwright-core is missing: npm install --prefix BUILD_DIR "
                                 "playwright-core@1.65.2 (make test does it; or set "
                                 "DYNAMO_NODE_MODULES)")
        build = os.path.dirname(modules)
        shot = os.path.join(build, "setup-phone.png")
        user, password, host = "phonecam", "from a phone #1", "phonecam.example.net"
        proc = run([node, os.path.join(HERE, "setup_browser.js"), self.base, ADMIN_PASSWORD,
                    json.dumps({"username": user, "password": password, "token": self.phone_token,
                                "hostnames": host}), shot],
                   timeout=120, env=dict(os.environ, NODE_PATH=modules))
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual(seen["errors"], "")
        self.assertIn("account 'phonecam' added", seen["message"])
        self.assertIn(user, seen["cards"])  # the new account's card is in the DOM
        cookie = [c for c in seen["cookies"] if c["name"] == "dynamo_setup"][0]
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie["sameSite"], "Strict")
        self.assertEqual(cookie["path"], "/setup")
        self.assertGreater(cookie["expires"], 0)
        with open(shot, "rb") as image:
            head = image.read(24)
        self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
        width = struct.unpack(">I", head[16:20])[0]
        self.assertEqual(width, 390)  # IHDR: the phone-width viewport
        self.check_file()
        self.ddclient_updates(user, password, host, self.phone_token)

    def test_7_edit_keeps_the_secrets_and_remove_refuses_the_device(self):
        browser, page = self.logged_in()
        start = self.gw.daemon.stderr.mark()
        status, _, page = browser.call("/setup/account", {
            "csrf": browser.csrf(page), "original": "oldcam", "action": "save",
            "username": "oldcam", "password": "", "token": "",
            "hostnames": "only.example.net", "ip_token": "", "names": ""})
        self.assertEqual(status, 200, page[-2000:])
        self.assertIsNotNone(self.gw.daemon.stderr.wait_for(lambda l: "reloaded" in l,
                                                            start=start, timeout=10))
        self.check_file()
        # The empty fields kept the password and token: the device still updates, and only for
        # the one host name it may now use.
        reply = update(self.gw, "other.example.net", myip=PUBLIC_A, user="oldcam")
        self.assertEqual(reply.body.strip(), "nohost")
        reply = update(self.gw, "only.example.net", myip=PUBLIC_A, user="oldcam")
        self.assertIn(reply.body.split()[0], ("good", "nochg"), reply)

        status, _, page = browser.call("/setup/account", {
            "csrf": browser.csrf(page), "original": "oldcam", "action": "remove"})
        self.assertEqual(status, 200, page[-2000:])
        self.assertNotIn('data-username="oldcam"', page)
        self.assertNotIn("oldcam", self.read_config())
        self.check_file()
        reply = update(self.gw, "only.example.net", myip=PUBLIC_A, user="oldcam")
        self.assertEqual(reply.body.strip(), "badauth")

    def test_8_upstreams_are_saved_and_used(self):
        browser, page = self.logged_in()
        port = harness.free_port()
        status, _, page = browser.call("/setup/upstreams", {
            "csrf": browser.csrf(page), "upstreams": "127.0.0.1:%d 127.0.0.2:%d" % (port, port)})
        self.assertEqual(status, 200, page[-2000:])
        self.assertIn('upstreams: ["127.0.0.1:%d", "127.0.0.2:%d"]' % (port, port),
                      self.read_config())
        self.check_file()
        reply = Browser(self.base)
        status, _, json_text = reply.call("/status.json")
        self.assertEqual(status, 200)
        self.assertIn("127.0.0.2:%d" % port, json_text)  # the running forwarder has it

    def test_9_the_command_keeps_the_files_owner_and_mode(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give the file another owner")
        tmp = tempfile.mkdtemp(prefix="dynamo-setup-owner-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "config.yaml")
        shutil.copy(self.path, path)
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o600)
        proc = subprocess.run([harness.DAEMON, "--config", path, "--set-admin-password"],
                              input="another long one\n", capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        info = os.stat(path)
        self.assertEqual((info.st_uid, info.st_gid, info.st_mode & 0o7777), (65534, 65534, 0o600))
        self.assertEqual(os.listdir(tmp), ["config.yaml"])  # no temporary file left
        # Refused: too short, and nothing changes.
        with open(path) as f:
            before = f.read()
        proc = subprocess.run([harness.DAEMON, "--config", path, "--set-admin-password"],
                              input="short\n", capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("too short", proc.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), before)

    def test_5_a_client_outside_dns_allow_is_refused(self):
        gw = Gateway(self.emu.url, allow=["127.0.0.1/32"])
        self.addCleanup(gw.cleanup)
        gw.start()
        url = "http://%s:%d/setup" % (gw.http_host, gw.http_port)
        proc = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface",
                    "127.0.0.2", url])
        self.assertEqual(proc.stdout, "403")
        proc = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        self.assertEqual(proc.stdout, "200")


if __name__ == "__main__":
    unittest.main()
