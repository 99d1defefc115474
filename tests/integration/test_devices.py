"""The device list (docs/operations.md#devices): four clients on four loopback addresses, each
going wrong (or right) in its own way with a real client, each shown with its diagnosis in
/devices.json and on /devices; the list survives a restart, and a damaged file does not stop
the daemon."""

import json
import os
import subprocess
import unittest

import emulator
import gateway_harness as gh
import harness

ASKED = "asked for members.dyndns.org but never sent an update (check its DDNS settings)"
UNKNOWN_USER = "sent updates with an unknown user name 'admin'"
REFUSED_CERT = ("tried HTTPS and refused our certificate (%s): set it to HTTP or port 8245, "
                "or install state_dir/tls-self-signed.crt on it")
FINE = "updates fine"
BY_ADDRESS = "updates, but its DNS is not this gateway (it reached us by address)"


def html_escaped(text):
    # gateway/status escapeHtml(): & < > " ' as character references.
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


class DevicesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dig = harness.require("dig", "bind9-dnsutils")
        cls.curl = harness.require("curl", "curl")
        cls.token = gh.make_token("devices")
        cls.emu = emulator.Emulator(tokens={cls.token: "ok"})
        cls.emu.start()
        cls.gw = gh.Gateway(update_url=cls.emu.url, accounts=[gh.account(cls.token)])
        cls.gw.start()

        # 127.0.0.2: looks the update service up through us, never updates.
        cls.run_dig("127.0.0.2", "members.dyndns.org")
        # 127.0.0.3: updates with a user name no account has.
        cls.run_curl("127.0.0.3", "http://127.0.0.1:%d%s" % (
            cls.gw.http_port, gh.update_path("home.example", gh.PUBLIC_A)),
            "-u", "admin:secret-never-stored")
        # 127.0.0.4: tries HTTPS and, as a device without our certificate does, refuses it.
        # --resolve so the name matches the certificate: only the unknown issuer is wrong.
        cls.tls = subprocess.run(
            [cls.curl, "-sS", "--max-time", "15", "--interface", "127.0.0.4",
             "--resolve", "members.dyndns.org:%d:127.0.0.1" % cls.gw.https_port,
             "-u", "%s:%s" % (gh.DEVICE_USER, gh.DEVICE_PASS),
             "https://members.dyndns.org:%d/nic/update?hostname=home.example" % cls.gw.https_port],
            capture_output=True, text=True, timeout=30)
        # 127.0.0.5: does everything right: our DNS, then a good update.
        cls.run_dig("127.0.0.5", "members.dyndns.org")
        cls.run_curl("127.0.0.5", "http://127.0.0.1:%d%s" % (
            cls.gw.http_port, gh.update_path("home.example", gh.PUBLIC_A)),
            "-u", "%s:%s" % (gh.DEVICE_USER, gh.DEVICE_PASS), "-A", "FRITZ!Box <7590>")
        # 127.0.0.6: updates fine, but by address: it never asked us for the name.
        reply = gh.update(cls.gw, "home.example", myip=gh.PUBLIC_A, source="127.0.0.6")
        assert reply.status == 200, reply

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.emu.stop()

    @classmethod
    def run_dig(cls, source, name):
        out = subprocess.run([cls.dig, "+time=5", "+tries=1", "-b", source, "-p",
                              str(cls.gw.dns_port), "@127.0.0.1", name, "A"],
                             capture_output=True, text=True, timeout=30)
        assert "status: NOERROR" in out.stdout, out.stdout + out.stderr

    @classmethod
    def run_curl(cls, source, url, *args):
        out = subprocess.run([cls.curl, "-sS", "--max-time", "15", "--interface", source,
                              *args, url], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def get(self, path, source=None):
        return gh.request(self.gw.http_host, self.gw.http_port, path, source=source)

    def devices(self):
        reply = self.get("/devices.json")
        self.assertEqual(reply.status, 200)
        self.assertTrue(reply.headers["content-type"].startswith("application/json"))
        return {d["address"]: d for d in json.loads(reply.body)["devices"]}

    def wait_diagnosis(self, address, expected):
        def check():
            device = self.devices().get(address)
            return device if device and device["diagnosis"] == expected else None
        return gh.poll_until(check, what="%s: %s" % (address, expected))

    def refused_cert(self):
        # The alert a TLS stack sends for a self-signed certificate: OpenSSL's curl sends
        # unknown_ca (RFC 8446 §6.2); the diagnosis names whichever came.
        device = gh.poll_until(lambda: self.devices().get("127.0.0.4"), what="127.0.0.4 (curl: %s)" % self.tls.stderr)
        self.assertNotEqual(self.tls.returncode, 0, self.tls.stdout)
        return REFUSED_CERT % device["tls_failures"][-1]["reason"]

    def test_json_diagnoses_each_device(self):
        asked = self.wait_diagnosis("127.0.0.2", ASKED)
        self.assertEqual(asked["intercepted_queries"], 1)
        self.assertEqual(asked["last_query_name"], "members.dyndns.org")
        self.assertEqual(asked["updates"], [])

        unknown = self.wait_diagnosis("127.0.0.3", UNKNOWN_USER)
        attempt = unknown["updates"][-1]
        self.assertEqual(attempt["auth"], "unknown_user")
        self.assertEqual(attempt["username"], "admin")
        self.assertEqual(attempt["reply"], "badauth")
        self.assertEqual(attempt["hostnames"], ["home.example"])
        self.assertEqual(attempt["myip"], gh.PUBLIC_A)
        self.assertTrue(attempt["user_agent"].startswith("curl/"), attempt)

        tls = self.wait_diagnosis("127.0.0.4", self.refused_cert())
        self.assertTrue(tls["tls_failures"][-1]["from_client"])
        self.assertIn(tls["tls_failures"][-1]["reason"],
                      ("unknown CA", "bad certificate", "certificate unknown"))

        fine = self.wait_diagnosis("127.0.0.5", FINE)
        self.assertEqual(fine["updates"][-1]["reply"], "good %s" % gh.PUBLIC_A)
        self.assertEqual(fine["updates"][-1]["user_agent"], "FRITZ!Box <7590>")
        self.wait_diagnosis("127.0.0.6", BY_ADDRESS)

    def test_page_shows_each_diagnosis_escaped(self):
        self.wait_diagnosis("127.0.0.6", BY_ADDRESS)
        expected = [ASKED, UNKNOWN_USER, self.refused_cert(), FINE, BY_ADDRESS]
        page = self.get("/devices")
        self.assertEqual(page.status, 200)
        self.assertTrue(page.headers["content-type"].startswith("text/html"))
        self.assertIn('name="viewport"', page.body)
        for diagnosis in expected:
            self.assertIn(html_escaped(diagnosis), page.body)
        self.assertIn("FRITZ!Box &lt;7590&gt;", page.body)
        self.assertNotIn("<7590>", page.body)

    def test_a_phone_shows_the_device_list(self):
        # The list as a phone's browser builds it: a card per device with its diagnosis.
        self.wait_diagnosis("127.0.0.6", BY_ADDRESS)
        url = "http://%s:%d/devices" % (self.gw.http_host, self.gw.http_port)
        shot = os.path.join(self.gw.state_dir, "devices-phone.png")
        dom = harness.render_at_phone_width(self, url, screenshot=shot)
        self.assertGreaterEqual(dom.count('class="device"'), 5)
        self.assertIn(html_escaped(FINE), dom)
        self.assertIn(UNKNOWN_USER, dom)  # Chromium writes the quote back as a quote

    def test_passwords_are_never_kept(self):
        self.wait_diagnosis("127.0.0.3", UNKNOWN_USER)
        self.assertNotIn("secret-never-stored", self.get("/devices.json").body)
        self.assertNotIn(gh.DEVICE_PASS, self.get("/devices.json").body)
        self.assertNotIn("secret-never-stored", self.get("/devices").body)

    def test_metrics_count_devices_and_failed_handshakes(self):
        self.wait_diagnosis("127.0.0.4", self.refused_cert())
        body = self.get("/metrics").body
        self.assertRegex(body, r"\ndynamo_gateway_devices [5-9]\n")
        self.assertRegex(body, r"\ndynamo_gateway_tls_handshake_failures_total [1-9]")
        status = json.loads(self.get("/status.json").body)
        self.assertGreaterEqual(status["devices"]["count"], 5)

    def test_clients_outside_the_access_list_get_403(self):
        gw = gh.Gateway(update_url=self.emu.url, allow=["127.0.0.1/32"])
        self.addCleanup(gw.cleanup)
        gw.start()
        for path in ("/devices", "/devices.json"):
            reply = gh.request(gw.http_host, gw.http_port, path, source="127.0.0.2")
            self.assertEqual(reply.status, 403)
            self.assertEqual(gh.request(gw.http_host, gw.http_port, path).status, 200)


class DevicesFileTest(unittest.TestCase):
    def setUp(self):
        self.dig = harness.require("dig", "bind9-dnsutils")
        self.gw = gh.Gateway(update_url="http://127.0.0.1:%d/" % gh.free_port())
        self.addCleanup(self.gw.cleanup)
        self.gw.start()
        self.path = os.path.join(self.gw.state_dir, "devices.yaml")

    def devices(self):
        body = gh.request(self.gw.http_host, self.gw.http_port, "/devices.json").body
        return {d["address"]: d for d in json.loads(body)["devices"]}

    def test_the_list_survives_a_clean_restart(self):
        out = subprocess.run([self.dig, "+time=5", "+tries=1", "-b", "127.0.0.7", "-p",
                              str(self.gw.dns_port), "@127.0.0.1", "members.dyndns.org"],
                             capture_output=True, text=True, timeout=30)
        self.assertIn("status: NOERROR", out.stdout)
        before = gh.poll_until(lambda: self.devices().get("127.0.0.7"), what="127.0.0.7")
        self.gw.restart()  # SIGTERM: written at the clean stop
        self.assertTrue(os.path.exists(self.path))
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        after = self.devices().get("127.0.0.7")
        self.assertIsNotNone(after)
        self.assertEqual(after["diagnosis"], ASKED)
        self.assertEqual(after["first_seen"], before["first_seen"])
        self.assertEqual(after["intercepted_queries"], 1)

    def test_a_damaged_file_is_moved_aside_and_the_daemon_starts(self):
        self.gw.stop()
        with open(self.path, "w") as f:
            f.write("devices: [this is not\n")
        self.gw.start()
        self.assertEqual(self.devices(), {})
        aside = [n for n in os.listdir(self.gw.state_dir) if n.startswith("devices.yaml.corrupt-")]
        self.assertEqual(len(aside), 1, os.listdir(self.gw.state_dir))
        self.assertIn("device list", self.gw.stderr_text())
        self.assertIn("is damaged", self.gw.stderr_text())


if __name__ == "__main__":
    unittest.main()
