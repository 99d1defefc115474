"""The address history and the per-minute series (docs/operations.md#address-history): real
updates with curl through the gateway to the token-API emulator show up in /status.json's
`history` with their source and the service's result codes, stay there across a clean restart
and a kill -9 (the history is written before the loop waits for anything new, so whatever a
client could have seen is on disk), a damaged history file is moved aside without stopping the
daemon, and queries sent with dig are counted in `series` for the current minute; /status draws
the charts as inline SVG."""

import calendar
import glob
import json
import os
import subprocess
import time
import unittest

import emulator
import gateway_harness as gh
import harness

MIN_INTERVAL = 2
EMULATOR_WINDOW = 1.5


def curl_update(gw, myip, user=gh.DEVICE_USER, password=gh.DEVICE_PASS):
    """An update as a device's DynDNS client sends it: curl with Basic auth."""
    url = "http://%s:%d%s" % (gw.http_host, gw.http_port,
                              gh.update_path("home.example.net", myip))
    proc = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "15",
                           "-u", "%s:%s" % (user, password), "-A", "history-e2e/1.0", url],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def epoch(text):
    """Seconds since the epoch of an RFC 3339 UTC time as /status.json writes it."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


class HistoryTest(unittest.TestCase):
    def setUp(self):
        harness.require("curl", "curl")
        self.token = gh.make_token("history")
        self.emu = emulator.Emulator(tokens={self.token: "ok"}, window=EMULATOR_WINDOW)
        self.emu.start()
        self.addCleanup(self.emu.stop)
        self.gw = gh.Gateway(update_url=self.emu.url, accounts=[gh.account(self.token)],
                             min_interval="%ds" % MIN_INTERVAL)
        self.addCleanup(self.gw.cleanup)
        self.gw.start()

    def status(self):
        reply = gh.request(self.gw.http_host, self.gw.http_port, "/status.json")
        self.assertEqual(reply.status, 200)
        return json.loads(reply.body)

    def history(self):
        [entry] = [h for h in self.status()["history"] if h["username"] == gh.DEVICE_USER]
        return entry

    def wait_answers(self, count):
        return gh.poll_until(lambda: (lambda h: h if len(h["answers"]) >= count else None)(
            self.history()), timeout=MIN_INTERVAL * 4 + 10, what="%d answers" % count)

    def wait_change(self, address):
        return gh.poll_until(
            lambda: (lambda h: h if h["changes"] and h["changes"][-1]["address"] == address
                     else None)(self.history()),
            timeout=MIN_INTERVAL * 8 + 10, what="a change to %s" % address)

    def test_changes_and_answers_are_recorded_and_survive_restarts(self):
        self.assertEqual(self.history(), {"username": gh.DEVICE_USER, "changes": [],
                                          "answers": []})
        self.assertEqual(curl_update(self.gw, gh.PUBLIC_A), "good " + gh.PUBLIC_A)
        # Inside the window: queued, sent when it opens.
        self.assertEqual(curl_update(self.gw, gh.PUBLIC_B), "good " + gh.PUBLIC_B)
        self.wait_change(gh.PUBLIC_B)
        # The service has no record for the token for a moment: an answer, no change; the
        # retry after it (the record is back) changes the address.
        self.emu.set_token(self.token, "nr")
        self.assertEqual(curl_update(self.gw, gh.PUBLIC_C), "good " + gh.PUBLIC_C)
        self.wait_answers(3)
        self.emu.set_token(self.token, "ok")
        history = self.wait_change(gh.PUBLIC_C)

        changes = history["changes"]
        self.assertEqual([(c["address"], c["previous"], c["source"]) for c in changes],
                         [(gh.PUBLIC_A, None, "device"), (gh.PUBLIC_B, gh.PUBLIC_A, "device"),
                          (gh.PUBLIC_C, gh.PUBLIC_B, "device")])
        answers = history["answers"]
        # NR once, or more if a retry came before the record was back.
        results = [a["result"] for a in answers]
        self.assertEqual(results[:3], ["UP,OK", "UP,OK", "NR"])
        self.assertEqual(set(results[3:-1]), set() if len(results) == 4 else {"NR"})
        self.assertEqual(results[-1], "UP,OK")
        self.assertEqual([(a["address"], a["source"]) for a in answers[:3]],
                         [(gh.PUBLIC_A, "device"), (gh.PUBLIC_B, "device"),
                          (gh.PUBLIC_C, "device")])
        self.assertEqual(answers[-1]["address"], gh.PUBLIC_C)
        self.assertEqual([c["code"] for c in gh.calls_for(self.emu, self.token)], results)
        for entry in changes + answers:
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertLessEqual(changes[0]["time"], changes[1]["time"])

        # The page lists them too, newest first.
        page = gh.request(self.gw.http_host, self.gw.http_port, "/status").body
        self.assertIn('id="history-%s"' % gh.DEVICE_USER, page)
        self.assertIn('<svg class="timeline-svg"', page)
        self.assertLess(page.index("<code>%s</code> (was" % gh.PUBLIC_C),
                        page.index("<code>%s</code> (was" % gh.PUBLIC_B))
        self.assertIn('<code class="result">NR</code>', page)

        # A clean stop, then a power cut: nothing is lost.
        self.gw.restart()
        self.assertEqual(self.history(), history)
        self.gw.kill9()
        self.gw.start()
        self.assertEqual(self.history(), history)
        # Written straight after an answer, not at the next stop: kill -9 after a change that
        # only this instance saw (and a page showed).
        self.assertEqual(curl_update(self.gw, gh.PUBLIC_A), "good " + gh.PUBLIC_A)
        after = self.wait_change(gh.PUBLIC_A)
        self.gw.kill9()
        self.gw.start()
        self.assertEqual(self.history(), after)
        self.assertTrue(os.path.exists(os.path.join(self.gw.state_dir, "history.yaml")))

    def test_a_damaged_history_file_is_moved_aside(self):
        self.gw.stop()
        path = os.path.join(self.gw.state_dir, "history.yaml")
        with open(path, "w") as damaged:
            damaged.write("version: 1\naccounts: [{username: x, changes: 7\n")
        self.gw.start()
        self.assertEqual(self.history()["changes"], [])
        self.assertFalse(os.path.exists(path))
        self.assertEqual(len(glob.glob(path + ".corrupt-*")), 1)
        self.assertIn("address history", self.gw.stderr_text())
        # And it records again.
        self.assertEqual(curl_update(self.gw, gh.PUBLIC_A), "good " + gh.PUBLIC_A)
        self.assertEqual(self.wait_answers(1)["changes"][0]["address"], gh.PUBLIC_A)

    def test_series_counts_the_queries_of_this_minute(self):
        harness.require("dig", "bind9-dnsutils")
        before = self.status()["series"]
        self.assertEqual(before["step_seconds"], 60)
        queries = 5
        for _ in range(queries):
            reply = harness.dig("members.dyndns.org", port=self.gw.dns_port)
            self.assertFalse(reply.timeout)
        self.assertEqual(curl_update(self.gw, gh.PUBLIC_A), "good " + gh.PUBLIC_A)
        status = self.status()
        series = status["series"]
        intercepted = series["queries"]["intercepted"]
        self.assertEqual(len(intercepted), series["minutes"])
        for group in ("queries", "updates"):
            for values in series[group].values():
                self.assertEqual(len(values), series["minutes"])
        # Every query of this run, and in this minute or (when one began between the digs
        # and the request, and the minute timer sampled then) the one before.
        self.assertEqual(sum(intercepted), queries)
        self.assertEqual(sum(intercepted[-2:]), queries)
        self.assertEqual(sum(series["updates"]["good"]), 1)
        self.assertEqual(sum(series["queries"]["forwarded"]), 0)
        # The last value is the minute of the report's "now".
        start_minute = epoch(series["start"]) // 60
        now_minute = epoch(status["now"]) // 60
        self.assertEqual(start_minute + series["minutes"] - 1, now_minute)

        page = gh.request(self.gw.http_host, self.gw.http_port, "/status").body
        self.assertIn('<figure class="chart" id="chart-queries">', page)
        self.assertIn('<figure class="chart" id="chart-updates">', page)
        self.assertIn('<polyline class="line-intercepted"', page)
        self.assertIn('Intercepted: <span class="total">%d</span>' % queries, page)
        self.assertNotIn("<script", page)
        self.assertNotIn("NaN", page)


if __name__ == "__main__":
    unittest.main()
