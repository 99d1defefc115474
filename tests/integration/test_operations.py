"""Operations (docs/operations.md#systemd-unit): the sd_notify protocol towards systemd, the watchdog, and the drop from
root to run_as. The real daemon, a notify socket the test listens on, /proc for the uid."""

import os
import pwd
import re
import socket
import tempfile
import time
import unittest

import harness


def _uid_of(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line")


class SystemdNotifyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dynamo-notify-")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.addCleanup(self.sock.close)
        self.addCleanup(lambda: os.path.exists(self.path) and os.unlink(self.path))

    def start_daemon(self, wait_ready=True, **environment):
        saved = {key: os.environ.get(key) for key in environment}
        os.environ.update(environment)
        try:
            daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
            self.addCleanup(daemon.stop)
            daemon.start(wait_ready=wait_ready)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return daemon

    def messages(self, until, timeout=5.0):
        """Datagrams received until `until(list)` holds, with a deadline."""
        received = []
        deadline = time.monotonic() + timeout
        while not until(received):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                received.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        return received

    def test_ready_after_the_listeners_are_bound_with_a_status_line(self):
        # Not waiting for the stderr 'ready' line: READY=1 on the socket is the only signal.
        daemon = self.start_daemon(wait_ready=False, NOTIFY_SOCKET=self.path)
        got = self.messages(lambda m: any("READY=1" in x for x in m), timeout=30.0)
        ready = [x for x in got if "READY=1" in x]
        self.assertTrue(ready, "%r\n%s" % (got, daemon.stderr_text()))
        self.assertIn("STATUS=", ready[0])
        # READY came after every listener was bound: each answers at once, with no retry (a
        # datagram sent before the bind would be lost, a connect refused).
        query = harness.build_query("members.dyndns.org")
        reply = harness.udp_exchange(query, daemon.dns_port, timeout=2.0)
        self.assertEqual(harness.parse_message(reply).rcode, "NOERROR")
        self.assertEqual(harness.parse_message(
            harness.tcp_exchange([query], daemon.dns_port)[0]).rcode, "NOERROR")
        for key in ("http_listen", "https_listen"):
            entry = daemon.config["gateway"][key][0]
            socket.create_connection((harness.listen_host(entry), harness.listen_port(entry)),
                                     timeout=2.0).close()

    def test_watchdog_pings_at_half_the_interval(self):
        self.start_daemon(NOTIFY_SOCKET=self.path, WATCHDOG_USEC="400000")
        start = time.monotonic()
        got = self.messages(lambda m: sum("WATCHDOG=1" in x for x in m) >= 4, timeout=5.0)
        pings = [x for x in got if "WATCHDOG=1" in x]
        self.assertGreaterEqual(len(pings), 4, got)
        # Four pings at 200 ms take about 0.8 s; at the 30 s default they would not come at all.
        self.assertLess(time.monotonic() - start, 3.0)

    def test_reload_says_reloading_then_ready(self):
        daemon = self.start_daemon(NOTIFY_SOCKET=self.path)
        self.messages(lambda m: any("READY=1" in x for x in m))
        self.assertEqual(daemon.reload(), "reloaded")
        got = self.messages(lambda m: any("READY=1" in x for x in m))
        self.assertTrue(any("RELOADING=1" in x for x in got), got)


class ReloadTlsTest(unittest.TestCase):
    def test_new_intercept_names_keep_the_self_signed_certificate_until_a_restart(self):
        """SIGHUP must not make an RSA key on the loop (seconds on a Pi Zero, DNS stalls) just
        because dns.intercept changed: the certificate stays, a warning says a restart renews
        it, and the restart does."""
        import copy
        daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        self.addCleanup(daemon.stop)
        daemon.start()
        key = os.path.join(daemon.state_dir, "tls-self-signed.key")
        with open(key, "rb") as f:
            before = f.read()
        config = copy.deepcopy(daemon.config)
        config["dns"]["intercept"]["names"].append("dyn.example.net")
        self.assertEqual(daemon.reload(config), "reloaded")
        with open(key, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertIn("restarted, which renews it", daemon.stderr_text())


class ReloadStartOnlyKeysTest(unittest.TestCase):
    def test_keys_applied_at_start_only_are_named_and_the_old_ones_keep_serving(self):
        """Listeners are bound, state_dir opened and run_as taken at start: a SIGHUP that changes
        them applies the rest, names each of them in a warning, and keeps serving as before."""
        import copy
        daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        self.addCleanup(daemon.stop)
        daemon.start()
        config = copy.deepcopy(daemon.config)
        old_dns = daemon.dns_port
        old_http = harness.listen_port(config["gateway"]["http_listen"][0])
        new_http = harness.free_port()
        config["dns"]["listen"] = ["127.0.0.1:%d" % harness.free_port()]
        config["gateway"]["http_listen"] = ["127.0.0.1:%d" % new_http]
        config["gateway"]["https_listen"] = ["127.0.0.1:%d" % harness.free_port()]
        config["state_dir"] = os.path.join(daemon.workdir, "other-state")
        config["run_as"] = "nobody"
        start = daemon.stderr.mark()
        self.assertEqual(daemon.reload(config), "reloaded")
        log = "\n".join(daemon.stderr.lines(start))
        for key in ("dns.listen", "gateway.http_listen", "gateway.https_listen", "state_dir",
                    "run_as"):
            self.assertRegex(log, r"<4>warning: %s changed: restart" % re.escape(key), log)
        reply = harness.udp_exchange(harness.build_query("members.dyndns.org"), old_dns)
        self.assertEqual(harness.parse_message(reply).rcode, "NOERROR")
        socket.create_connection(("127.0.0.1", old_http), timeout=2.0).close()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", new_http), timeout=2.0).close()


@unittest.skipUnless(os.geteuid() == 0, "dropping privileges needs root")
class PrivilegeDropTest(unittest.TestCase):
    def test_root_start_binds_then_becomes_run_as(self):
        nobody = pwd.getpwnam("nobody")
        daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        daemon.config["run_as"] = "nobody"
        self.addCleanup(daemon.stop)
        daemon.start()
        self.assertEqual(_uid_of(daemon.proc.pid), [nobody.pw_uid] * 4)
        self.assertIn("running as nobody", daemon.stderr_text())
        # The state directory was handed over, so the daemon can still write its state.
        self.assertEqual(os.stat(daemon.state_dir).st_uid, nobody.pw_uid)
        reply = harness.udp_exchange(harness.build_query("members.dyndns.org"), daemon.dns_port)
        self.assertEqual(harness.parse_message(reply).rcode, "NOERROR")

    def test_a_shared_state_dir_is_not_handed_over(self):
        """state_dir naming a shared directory (as `state_dir: /var/lib` would): the daemon
        neither chmods it nor chowns what is not its own, and refuses to go on, since run_as
        could not write in it."""
        nobody = pwd.getpwnam("nobody")
        shared = tempfile.mkdtemp(prefix="dynamo-shared-")
        self.addCleanup(lambda: __import__("shutil").rmtree(shared, ignore_errors=True))
        os.chmod(shared, 0o755)
        other = os.path.join(shared, "dpkg")
        os.mkdir(other)
        daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        daemon.config["run_as"] = "nobody"
        daemon.config["state_dir"] = shared
        self.addCleanup(daemon.stop)
        with self.assertRaises(harness.DaemonError):
            daemon.start(timeout=5)
        self.assertNotEqual(daemon.returncode, 0)
        self.assertIn("give the daemon a directory of its own", daemon.stderr_text())
        self.assertEqual(os.stat(shared).st_uid, 0)
        self.assertEqual(os.stat(shared).st_mode & 0o777, 0o755)
        self.assertEqual(os.stat(other).st_uid, 0)
        self.assertNotEqual(nobody.pw_uid, 0)

    def test_a_state_dir_of_another_user_is_refused(self):
        shared = tempfile.mkdtemp(prefix="dynamo-foreign-")
        self.addCleanup(lambda: __import__("shutil").rmtree(shared, ignore_errors=True))
        os.chown(shared, 4242, 4242)
        daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        daemon.config["run_as"] = "nobody"
        daemon.config["state_dir"] = shared
        self.addCleanup(daemon.stop)
        with self.assertRaises(harness.DaemonError):
            daemon.start(timeout=5)
        self.assertIn("neither root nor run_as", daemon.stderr_text())
        self.assertEqual(os.listdir(shared), [], "nothing written there")

    def test_a_state_dir_the_daemon_makes_is_its_own(self):
        nobody = pwd.getpwnam("nobody")
        parent = tempfile.mkdtemp(prefix="dynamo-parent-")
        self.addCleanup(lambda: __import__("shutil").rmtree(parent, ignore_errors=True))
        os.chmod(parent, 0o755)
        made = os.path.join(parent, "state")
        daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        daemon.config["run_as"] = "nobody"
        daemon.config["state_dir"] = made
        self.addCleanup(daemon.stop)
        daemon.start()
        self.assertEqual(os.stat(made).st_uid, nobody.pw_uid)
        self.assertEqual(os.stat(made).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(parent).st_uid, 0, "only what it made")

    def test_an_unknown_run_as_user_is_a_config_error(self):
        daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        daemon.config["run_as"] = "no-such-user-dynamo"
        self.addCleanup(daemon.stop)
        with self.assertRaises(harness.DaemonError):
            daemon.start(timeout=5)
        self.assertEqual(daemon.returncode, 78)
        self.assertIn("run_as", daemon.stderr_text())


if __name__ == "__main__":
    unittest.main()
