"""Faults of state_dir/state.yaml against the real daemon and the token-API emulator (README
"Troubleshooting"): a state_dir that fills up while an update is queued, and a state file with
a damaged part.

Disk full: state_dir is a 1 MiB tmpfs that only this test sees. A holder process
(`unshare -m --propagation private`, then `sleep`) owns a private mount namespace with the
tmpfs mounted over the Gateway's state_dir; the daemon runs in that namespace
(`nsenter -t HOLDER -m`, which execs it, so its PID is the one we signal). The test reaches the
tmpfs through /proc/HOLDER/root. The mount dies with the holder, which the test stops by its
PID in cleanup (and which dies with the test runner too). Needs root; skipped when a mount
namespace cannot be made.

What must hold: an update whose pre-send state cannot be stored is not sent (it stays
queued); once space returns it is sent exactly once, also across a kill -9 and a restart, and
the service never answers TF. "Not sent" is proven by the daemon's own log lines (the failed
save and its retry), and "exactly once" by a later update used as a barrier: it must be the
next call, with no repeat in between.
"""

import glob
import hashlib
import os
import select
import shutil
import subprocess
import time
import unittest

import harness
from emulator import Emulator
from gateway_harness import (PUBLIC_A, PUBLIC_B, PUBLIC_C, Gateway, account, calls_for,
                             make_token, poll_until, update, wait_calls)

HOST = "cam.example.net"
# A window long enough that filling the disk surely happens inside it; the emulator's is
# shorter by the send delays (see gateway_harness.EMULATOR_WINDOW).
MIN_INTERVAL = 3
EMULATOR_WINDOW = 2.5
NOT_SENT = "stay queued, not sent until the update state can be stored"


def mount_namespace_usable():
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return False
    try:
        return subprocess.run(["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
                               "mount -t tmpfs -o size=64k dynamo-probe /mnt"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


USABLE = mount_namespace_usable()


class TmpfsHolder:
    """A private mount namespace with a small tmpfs over `mountpoint`, kept by one process."""

    def __init__(self, mountpoint, size="1m"):
        self.mountpoint = mountpoint
        script = ('mount -t tmpfs -o size=%s,mode=0700 dynamo-test-state "$1" && echo mounted '
                  '&& exec sleep 600' % size)
        self.proc = harness.popen(["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
                                   script, "sh", mountpoint],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"mounted":
            err = self.proc.stderr.read() if self.proc.poll() is not None else b""
            self.stop()
            raise AssertionError("could not mount the test tmpfs: %r %r" % (line, err))

    def path(self, *parts):
        """A path inside the tmpfs as seen from outside the namespace."""
        return os.path.join("/proc/%d/root" % self.proc.pid, self.mountpoint.lstrip("/"), *parts)

    def prefix(self):
        return ["nsenter", "-t", str(self.proc.pid), "-m", "--"]

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def fill(self):
        """Writes until ENOSPC; returns the bytes written."""
        written = 0
        chunk = b"\0" * 65536
        with open(self.path("fill"), "wb", buffering=0) as f:
            try:
                for _ in range(10000):  # 640 MiB: far more than any test tmpfs
                    written += f.write(chunk)
            except OSError:
                pass
        stat = os.statvfs(self.path())
        assert stat.f_bavail == 0, "the tmpfs still has %d free blocks" % stat.f_bavail
        return written

    def free(self):
        os.unlink(self.path("fill"))

    def stop(self):
        harness.stop_process(self.proc)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


class NamespacedGateway(Gateway):
    """A Gateway whose daemon runs in the holder's mount namespace."""

    prefix = ()

    def start(self, timeout=harness.READY_TIMEOUT, attempts=1):
        self.daemon = harness.Daemon(config=self.config, workdir=self.workdir,
                                     prefix=self.prefix)
        self.daemon.start(timeout=timeout)
        return self


class StateFaultTest(unittest.TestCase):
    def setUp(self):
        self.token = make_token("state")
        self.emu = Emulator(tokens={self.token: "ok"}, window=EMULATOR_WINDOW)
        self.emu.start()
        self.addCleanup(self.emu.stop)

    def context(self, gw):
        return "\nemulator calls: %r\n--- daemon stderr (tail):\n%s" % (
            [(c["ip"], c["code"]) for c in calls_for(self.emu, self.token)], gw.stderr_tail(6000))

    def assertNoTf(self, gw):
        self.assertNotIn("TF", self.emu.codes(self.token), self.context(gw))


@unittest.skipUnless(USABLE, "needs root and a private mount namespace (unshare -m) for a tmpfs")
class DiskFullTest(StateFaultTest):
    def setUp(self):
        super().setUp()
        self.gw = NamespacedGateway(update_url=self.emu.url, accounts=[account(self.token)],
                                    min_interval="%ds" % MIN_INTERVAL)
        self.addCleanup(self.gw.cleanup)
        self.holder = TmpfsHolder(self.gw.state_dir)
        self.addCleanup(self.holder.stop)
        self.gw.prefix = self.holder.prefix()
        self.addCleanup(self.gw.stop)  # before the holder goes

    def queue_then_fill(self):
        """One call made, a second update queued and stored, then state_dir full: all inside
        the window."""
        gw = self.gw.start()
        before_first_call = time.monotonic()
        self.assertTrue(update(gw, HOST, myip=PUBLIC_A).body.startswith("good"))
        wait_calls(self.emu, self.token, 1)
        self.assertTrue(update(gw, HOST, myip=PUBLIC_B).body.startswith("good"))
        self.assertIn(PUBLIC_B, self.holder.read("state.yaml"), "the queued update is on disk")
        self.holder.fill()
        self.assertLess(time.monotonic() - before_first_call, MIN_INTERVAL,
                        "the disk filled too late for this test: the window was open")
        # The window opens; the daemon cannot store the new last_call: it does not send.
        poll_until(lambda: NOT_SENT in gw.stderr_text(), timeout=MIN_INTERVAL + 10,
                   what="the daemon to hold the update back" + self.context(gw))
        poll_until(lambda: "(attempt 2)" in gw.stderr_text(), timeout=10,
                   what="a second try to store the state" + self.context(gw))
        self.assertEqual(len(calls_for(self.emu, self.token)), 1, self.context(gw))
        return gw

    def assertSentOnceThenBarrier(self, gw):
        """The queued update went out once; a later update is the next call (no repeat)."""
        calls = wait_calls(self.emu, self.token, 2, timeout=30)
        self.assertEqual([(c["ip"], c["code"]) for c in calls[:2]],
                         [(PUBLIC_A, "UP,OK"), (PUBLIC_B, "UP,OK")], self.context(gw))
        self.assertTrue(update(gw, HOST, myip=PUBLIC_C).body.startswith("good"))
        calls = wait_calls(self.emu, self.token, 3, timeout=MIN_INTERVAL + 15)
        self.assertEqual([(c["ip"], c["code"]) for c in calls],
                         [(PUBLIC_A, "UP,OK"), (PUBLIC_B, "UP,OK"), (PUBLIC_C, "UP,OK")],
                         self.context(gw))
        self.assertNoTf(gw)

    def test_update_is_held_until_space_returns_then_sent_once(self):
        gw = self.queue_then_fill()
        self.holder.free()
        wait_calls(self.emu, self.token, 2, timeout=30)
        # The answer reaches the file without waiting for another update.
        poll_until(lambda: "queued" not in self.holder.read("state.yaml"),
                   timeout=30, what="state.yaml rewritten after the answer" + self.context(gw))
        self.assertIn("stored again", gw.stderr_text())
        # A power cut now: the restart must not send it again.
        gw.kill9()
        gw.start()
        self.assertSentOnceThenBarrier(gw)

    def test_kill9_while_full_then_restart_sends_it_once(self):
        gw = self.queue_then_fill()
        gw.kill9()
        self.holder.free()
        gw.start()
        self.assertSentOnceThenBarrier(gw)


class DamagedStateFileTest(StateFaultTest):
    def start_with_state(self, text):
        gw = Gateway(update_url=self.emu.url, accounts=[account(self.token)],
                     min_interval="%ds" % MIN_INTERVAL)
        self.addCleanup(gw.cleanup)
        with open(os.path.join(gw.state_dir, "state.yaml"), "w") as f:
            f.write(text)
        return gw.start()

    def entry(self, queued):
        key = hashlib.sha256(self.token.encode()).hexdigest()
        return ("version: 1\ntokens:\n  %s:\n    last_call: 1600000000\n"
                "    consecutive_missing: 0\n    queued:\n%s" % (key, queued))

    def assertKeptAside(self, gw, text):
        copies = glob.glob(os.path.join(gw.state_dir, "state.yaml.damaged-*"))
        self.assertEqual(len(copies), 1, os.listdir(gw.state_dir))
        with open(copies[0]) as f:
            self.assertEqual(f.read(), text)
        self.assertIn("is partly damaged (", gw.stderr_text())
        self.assertIn("the original is kept as " + copies[0], gw.stderr_text())

    def test_unreadable_queued_address_is_reported_with_its_account(self):
        text = self.entry("      ip: 6.6.6.999\n      accepted_at: 1600000000\n"
                          "      attempts: 0\n      next_attempt: 1600000000\n")
        gw = self.start_with_state(text)
        self.assertIn("error: state file %s: the entry of account(s) device-user (token %s\u2026): "
                      "queued.ip: '6.6.6.999' is not an IP address; the queued update is dropped"
                      % (os.path.join(gw.state_dir, "state.yaml"), self.token[:4]),
                      gw.stderr_text())
        self.assertKeptAside(gw, text)
        # Nothing else was lost: the rest of the entry holds, and new updates go out.
        self.assertTrue(update(gw, HOST, myip=PUBLIC_A).body.startswith("good"))
        wait_calls(self.emu, self.token, 1)
        self.assertNoTf(gw)

    def test_entry_cut_short_is_reported_and_its_update_still_sent(self):
        text = self.entry("      ip: %s\n      accepted_at: 16000" % PUBLIC_B)  # cut mid-entry
        gw = self.start_with_state(text)
        stderr = gw.stderr_text()
        self.assertIn("the entry of account(s) device-user", stderr)
        self.assertIn("queued.attempts: missing (the entry was cut short?)", stderr)
        self.assertKeptAside(gw, text)
        calls = wait_calls(self.emu, self.token, 1, timeout=15)
        self.assertEqual([(c["ip"], c["code"]) for c in calls], [(PUBLIC_B, "UP,OK")])


if __name__ == "__main__":
    unittest.main()
