"""End-to-end tests of the command line (docs/operations.md#command-line) and of config validation as a user meets it
(docs/configuration.md#errors): --check, --version, --help, start-up failures with one clear line, signals.

Run from this directory:  DYNAMO_BUILD_DIR=../../build python3 -m unittest -v test_config_cli
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

import harness
from harness import (DAEMON, Daemon, LinePump, base_config, free_port, listen_port, popen,
                     yaml_dump)

EXIT_DEADLINE = 15.0


def line_of(text, needle, after=0):
    """1-based number of the first line containing needle (at or after line `after`)."""
    for number, line in enumerate(text.splitlines(), 1):
        if number >= after and needle in line:
            return number
    raise AssertionError("%r not in config text" % needle)


class CliTestCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dynamo-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(self.state_dir)

    def config(self, **top):
        cfg = base_config(free_port(), ["127.0.0.1:%d" % free_port()], self.state_dir)
        cfg.update(top)
        return cfg

    def write(self, text, name="dynamo.yaml", mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def run_cli(self, *args, timeout=20):
        return subprocess.run([DAEMON, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=self.dir)

    def check(self, text):
        path = self.write(text)
        return path, self.run_cli("--config", path, "--check")

    def assertCheckError(self, text, key_pattern, line, problem=None):
        """--check exits 1 and prints 'FILE:LINE: key: problem' for this key at this line
        (line may be a tuple of acceptable lines)."""
        path, proc = self.check(text)
        output = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 1, output)
        lines = line if isinstance(line, tuple) else (line,)
        pattern = r"^%s:(%s): [^\n:]*%s[^\n:]*: \S" % (
            re.escape(path), "|".join(str(l) for l in lines), key_pattern)
        self.assertRegex(output, re.compile(pattern, re.M),
                         "expected FILE:LINE: key: problem for %s at line %s" % (key_pattern, line))
        if problem:
            self.assertRegex(output, problem)
        return output


class CheckTest(CliTestCase):

    def test_good_config_prints_nothing_and_exits_0(self):
        cfg = self.config(dynamo={"update_url": "https://update01-dynamo.kisolabs.net/"})
        path, proc = self.check(yaml_dump(cfg) + "\n")
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, "", ""))

    def test_good_config_with_plain_http_update_url(self):
        path, proc = self.check(yaml_dump(self.config()) + "\n")
        self.assertEqual((proc.returncode, proc.stdout), (0, ""), proc.stderr)
        self.assertNotIn("error", proc.stderr)

    def test_duration_forms_are_accepted(self):
        cfg = self.config()
        for timeout, interval in (("500ms", "5m"), ("2s", "1h"), (3, 300)):
            with self.subTest(upstream_timeout=timeout, min_interval=interval):
                cfg["dns"]["upstream_timeout"] = timeout
                cfg["dynamo"].update(min_interval=interval, timeout="15s")
                path, proc = self.check(yaml_dump(cfg) + "\n")
                self.assertEqual((proc.returncode, proc.stdout), (0, ""), proc.stderr)

    def test_unknown_key_is_an_error_with_file_line_and_key(self):
        text = yaml_dump(self.config()) + "\n"
        text = text.replace("  upstreams:", "  upstreems:")  # a typo must not be ignored
        output = self.assertCheckError(text, "upstreems", line_of(text, "upstreems"))
        self.assertEqual(len([l for l in output.splitlines() if l.strip()]), 1, output)

    def test_unknown_top_level_key(self):
        text = yaml_dump(self.config()) + "\nlog_levle: debug\n"
        self.assertCheckError(text, "log_levle", line_of(text, "log_levle"))

    def test_token_of_41_characters_is_an_error(self):
        text = yaml_dump(self.config()) + "\n"
        text = text.replace(harness.TOKEN, harness.TOKEN[:41])
        self.assertCheckError(text, "token", line_of(text, "token:"), problem="42")

    def test_token_of_43_characters_is_an_error(self):
        text = yaml_dump(self.config()) + "\n"
        text = text.replace(harness.TOKEN, harness.TOKEN + "X")
        self.assertCheckError(text, "token", line_of(text, "token:"))

    def test_every_error_is_reported(self):
        text = yaml_dump(self.config()) + "\n"
        text = text.replace(harness.TOKEN, "short").replace("  upstreams:", "  upstreems:")
        path, proc = self.check(text)
        output = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 1)
        self.assertIn("%s:%d: " % (path, line_of(text, "upstreems")), output)
        self.assertIn("%s:%d: " % (path, line_of(text, "token:")), output)

    def test_bad_values_name_their_key_and_line(self):
        cases = [
            # (dotted path to change, bad value, key regex, line needle)
            (("dns", "upstream_timeout"), "5 parsecs", "upstream_timeout", "upstream_timeout:"),
            (("dns", "listen"), ["127.0.0.1:99999"], "listen", "listen:"),
            (("dns", "allow"), ["10.0.0.0/33"], "allow", "allow:"),
            (("dns", "intercept", "answer_ipv4"), "not-an-address", "answer_ipv4",
             "answer_ipv4:"),
            (("dns", "intercept", "answer_ipv6"), "192.0.2.1", "answer_ipv6", "answer_ipv6:"),
            (("dns", "cache", "size"), -1, "size", "size:"),
            (("dynamo", "update_url"), "ftp://127.0.0.1/", "update_url", "update_url:"),
            (("log_level",), "loud", "log_level", "log_level:"),
        ]
        for keys, value, key_re, needle in cases:
            with self.subTest(key=".".join(keys), value=value):
                cfg = self.config()
                node = cfg
                for k in keys[:-1]:
                    node = node[k]
                node[keys[-1]] = value
                text = yaml_dump(cfg) + "\n"
                self.assertCheckError(text, key_re, line_of(text, needle))

    def test_upstream_that_is_our_own_listen_address_is_refused(self):
        # docs/configuration.md#checks-across-keys: a forwarding loop.
        cfg = self.config()
        cfg["dns"]["upstreams"] = list(cfg["dns"]["listen"])
        text = yaml_dump(cfg) + "\n"
        self.assertCheckError(text, "(upstreams|listen)",
                              (line_of(text, "upstreams:"), line_of(text, "listen:")))

    def test_yaml_syntax_error_names_file_and_line(self):
        text = "dns:\n  listen: [\"127.0.0.1:5353\"\n  upstreams: []\n"
        path, proc = self.check(text)
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stdout + proc.stderr, r"%s:\d+: " % re.escape(path))

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope.yaml")
        proc = self.run_cli("--config", path, "--check")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(path, proc.stdout + proc.stderr)

    def test_shipped_configs_pass_check(self):
        for name in ("dev.yaml", "example.yaml"):
            source = os.path.join(harness.SOURCE_DIR, "config", name)
            if not os.path.exists(source):
                continue
            with self.subTest(config=name):
                with open(source) as f:
                    text = f.read()
                # example.yaml leaves upstreams to /etc/resolv.conf: make the test independent
                # of this machine's resolver configuration.
                text = re.sub(r"^(\s*upstreams:)\s*\[\]", r'\1 ["192.0.2.1"]', text, flags=re.M)
                path = self.write(text, name)
                # Relative paths (dev.yaml's state_dir) resolve next to the file.
                proc = self.run_cli("--config", path, "--check")
                self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, "", ""))


class CommandLineTest(CliTestCase):

    def test_version(self):
        proc = self.run_cli("--version")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout, r"\d+\.\d+")

    def test_help(self):
        proc = self.run_cli("--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for word in ("--config", "--check", "--version"):
            self.assertIn(word, proc.stdout)

    def test_unknown_argument_exits_nonzero(self):
        proc = self.run_cli("--frobnicate")
        self.assertNotEqual(proc.returncode, 0)

    def test_without_config_exits_nonzero(self):
        proc = self.run_cli()
        self.assertNotEqual(proc.returncode, 0)


class StartupTest(CliTestCase):
    """Start-up failures: a non-zero exit with one line that says why (docs/operations.md#exit-statuses)."""

    def start_expecting_failure(self, text, mode=0o600):
        path = self.write(text, mode=mode)
        proc = popen([DAEMON, "--config", path], stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.dir)
        err = LinePump(proc.stderr)
        out = LinePump(proc.stdout)
        # Wait for the exit, but stop at once if it says ready instead (the stream then stays
        # open, so wait_for returns the ready line; it returns None when the process exits).
        ready = err.wait_for(lambda l: "<6>info: ready" in l, timeout=EXIT_DEADLINE)
        try:
            status = proc.wait(timeout=0 if ready else 5)
        except subprocess.TimeoutExpired:
            harness.stop_process(proc)
            status = None
        err.join()
        out.join()
        proc.stdout.close()
        proc.stderr.close()
        self.assertIsNone(ready, "started although it should not have:\n" + err.text()[-3000:])
        self.assertIsNotNone(status, "still running after %.0fs; stderr:\n%s"
                             % (EXIT_DEADLINE, err.text()[-3000:]))
        self.assertNotEqual(status, 0, err.text())
        self.assertFalse(any("<6>info: ready" in l for l in err.lines()),
                         "logged ready:\n" + err.text())
        return status, err.lines()

    def test_bad_config_exits_nonzero_with_one_line(self):
        text = yaml_dump(self.config()) + "\n"
        text = text.replace("  upstreams:", "  upstreems:")
        status, lines = self.start_expecting_failure(text)
        errors = [l for l in lines if l.strip()]
        self.assertEqual(len(errors), 1, "\n".join(lines))
        self.assertIn("upstreems", errors[0])
        self.assertIn(":%d:" % line_of(text, "upstreems"), errors[0])

    def assertNamesPort(self, lines, port):
        naming = [l for l in lines if re.search(r"(?<!\d)%d(?!\d)" % port, l)]
        self.assertTrue(naming, "no line names port %d:\n%s" % (port, "\n".join(lines)))
        self.assertEqual(len(naming), 1, "\n".join(lines))
        return naming[0]

    def assertBusyPortIsNamed(self, section, key, kind):
        """Hold the first port of cfg[section][key] (UDP or a listening TCP socket), start the
        daemon: it fails, with one line naming that port."""
        cfg = self.config()
        port = listen_port(cfg[section][key][0])
        with socket.socket(socket.AF_INET, kind) as held:
            held.bind(("127.0.0.1", port))
            if kind == socket.SOCK_STREAM:
                held.listen(1)
            _, lines = self.start_expecting_failure(yaml_dump(cfg) + "\n")
        self.assertNamesPort(lines, port)

    def test_dns_udp_port_in_use(self):
        self.assertBusyPortIsNamed("dns", "listen", socket.SOCK_DGRAM)

    def test_dns_tcp_port_in_use(self):
        self.assertBusyPortIsNamed("dns", "listen", socket.SOCK_STREAM)

    def test_http_port_in_use(self):
        self.assertBusyPortIsNamed("gateway", "http_listen", socket.SOCK_STREAM)


class SignalTest(CliTestCase):

    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                d = Daemon.for_dns(["127.0.0.1:%d" % free_port()])
                self.addCleanup(d.stop)
                d.start()
                self.assertEqual(d.stop(sig), 0, d.stderr_text()[-2000:])

    def test_config_readable_by_others_warns_at_start(self):
        d = Daemon.for_dns(["127.0.0.1:%d" % free_port()])
        self.addCleanup(d.stop)
        d.start()
        self.assertFalse([l for l in d.stderr.lines()
                          if "<4>" in l and "readable by every user" in l],
                         "warned about a 0600 file")
        d.stop()

        d2 = Daemon.for_dns(["127.0.0.1:%d" % free_port()])
        self.addCleanup(d2.stop)
        d2.write_config()
        os.chmod(d2.config_path, 0o644)
        d2.write_config = lambda *a, **k: None  # keep the 0644 file start() would rewrite
        d2.start()
        warnings = [l for l in d2.stderr.lines() if l.startswith("<4>")]
        self.assertTrue(any(d2.config_path in l and "readable by every user" in l
                            for l in warnings),
                        "no warning about a world-readable config:\n" + d2.stderr_text())


if __name__ == "__main__":
    unittest.main()
