"""Status for people and machines (docs/operations.md#status-and-metrics): after a real update through the emulator,
/status (read by headless Chromium, screenshot taken), /status.json and /metrics show it; and
clients outside dns.allow get 403."""

import json
import os
import shutil
import tempfile
import unittest

import emulator
import gateway_harness as gh
import harness



class StatusPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.token = gh.make_token("status")
        cls.emu = emulator.Emulator(tokens={cls.token: "ok"})
        cls.emu.start()
        cls.gw = gh.Gateway(update_url=cls.emu.url,
                            accounts=[gh.account(cls.token, username="cam<era>")])
        cls.gw.start()
        reply = gh.update(cls.gw, "home.example", myip=gh.PUBLIC_A, user="cam<era>")
        assert reply.body == "good %s" % gh.PUBLIC_A, reply

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.emu.stop()

    def get(self, path, source=None):
        return gh.request(self.gw.http_host, self.gw.http_port, path, source=source)

    def test_json_shows_the_account_after_the_update(self):
        reply = self.get("/status.json")
        self.assertEqual(reply.status, 200)
        self.assertTrue(reply.headers["content-type"].startswith("application/json"))
        status = json.loads(reply.body)
        account = status["accounts"][0]
        self.assertEqual(account["username"], "cam<era>")
        self.assertEqual(account["published_ip"], gh.PUBLIC_A)
        self.assertEqual(account["last_result"], "UP,OK")
        self.assertNotIn(self.token, reply.body)  # masked: first 4 characters only
        self.assertIn(self.token[:4], account["masked_token"])

    def test_metrics_count_the_update_and_dns(self):
        harness.udp_exchange(harness.build_query("members.dyndns.org"), self.gw.dns_port)
        body = self.get("/metrics").body
        self.assertIn('dynamo_gateway_updates_total{result="good"} 1', body)
        self.assertRegex(body, r'dynamo_gateway_dns_queries_total\{transport="udp"\} [1-9]')
        self.assertIn("# TYPE dynamo_gateway_dns_upstream_latency_seconds histogram", body)
        # This request's own connection is open while the figures are taken.
        self.assertRegex(body, r"\ndynamo_gateway_http_connections [1-9]")
        self.assertIn('dynamo_gateway_http_connections_closed_total{reason="over_cap"} 0', body)

    def test_clients_outside_the_access_list_get_403(self):
        # The gateway's allow list is 127.0.0.0/8 and ::1 in the harness; narrow it is not
        # possible without a restart, so ask from an address outside it via a second daemon.
        gw = gh.Gateway(update_url=self.emu.url, allow=["127.0.0.1/32"])
        self.addCleanup(gw.cleanup)
        gw.start()
        reply = gh.request(gw.http_host, gw.http_port, "/status.json", source="127.0.0.2")
        self.assertEqual(reply.status, 403)

    def test_headless_chromium_renders_the_account_row(self):
        url = "http://%s:%d/status" % (self.gw.http_host, self.gw.http_port)
        shot = os.path.join(tempfile.mkdtemp(prefix="dynamo-shot-"), "status.png")
        self.addCleanup(shutil.rmtree, os.path.dirname(shot), True)
        dom = harness.render_at_phone_width(self, url, screenshot=shot)
        self.assertIn('class="account"', dom)
        self.assertIn('class="published-ip"', dom)
        self.assertIn(gh.PUBLIC_A, dom)
        self.assertIn("cam&lt;era&gt;", dom)  # escaped, not markup
        self.assertNotIn("<era>", dom)
        # The charts are inline SVG in the DOM Chromium built (an SVG it could not parse would
        # not be there as elements), and the address history of the update.
        self.assertIn('<figure class="chart" id="chart-queries">', dom)
        self.assertIn('<svg class="chart-svg"', dom)
        self.assertIn('<polyline class="line-good"', dom)
        self.assertIn('<svg class="timeline-svg"', dom)
        self.assertIn('<circle class="change-device"', dom)
        keep = os.environ.get("DYNAMO_KEEP_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)


if __name__ == "__main__":
    unittest.main()
