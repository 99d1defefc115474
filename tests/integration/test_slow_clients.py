"""Slow and trickling clients against the real daemon (README: the TCP bullet of the DNS side,
the "Limits" paragraph of the update side): hosts that hold connections open by sending a byte
now and then cannot keep a device's DNS query or update out, one address cannot hold more than
its share, and a request (or DNS query) must arrive whole by its deadline however often bytes
come. Also the HTTP head checks evhttp leaves out: two different Content-Length values, and
the 8 KiB head bound counted with its line endings.

Everything on loopback: the "other hosts" are 127.0.0.2 and up, the real client 127.0.0.1.
Every socket is opened by the test and closed by it; the trickling runs in one thread that
stops with the test.
"""

import os
import socket
import threading
import time
import unittest

import harness
from gateway_harness import poll_until, raw_http
from harness import Daemon, dig

# Defaults these tests rely on (README): DNS over TCP 128 connections, 16 per address, a
# query whole within 5 s of its first byte; HTTP 256 connections, 32 per address, a request
# whole within 10 s.
DNS_CAP, DNS_PER_CLIENT, DNS_QUERY_DEADLINE = 128, 16, 5.0
HTTP_CAP, HTTP_PER_CLIENT, HTTP_REQUEST_DEADLINE = 256, 32, 10.0
TRICKLE_EVERY = 1.0  # well inside both idle timeouts (10 s DNS, 20 s HTTP)


def setUpModule():
    harness.require("dig", "bind9-dnsutils")


class Tricklers:
    """Connections that send a few bytes now and then and never finish. The sockets are closed
    by close() (a cleanup); server-side closes are seen through closed_by_server()."""

    def __init__(self):
        self.sockets = []
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def open(self, port, source, first_bytes):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(first_bytes)
        s.setblocking(False)
        with self._lock:
            self.sockets.append(s)
        return s

    def trickle(self, byte, every=TRICKLE_EVERY, duration=30.0):
        """One byte on every open socket each `every` seconds, for at most `duration`."""
        def run():
            end = time.monotonic() + duration
            while not self._stop.wait(every) and time.monotonic() < end:
                with self._lock:
                    sockets = list(self.sockets)
                for s in sockets:
                    try:
                        s.send(byte)
                    except OSError:
                        pass  # closed by the server: its own business
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    @staticmethod
    def closed_by_server(s):
        try:
            return s.recv(4096) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True  # reset

    def closed(self):
        return [s for s in self.sockets if self.closed_by_server(s)]

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for s in self.sockets:
            s.close()


def open_descriptors(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class SlowClientsTestCase(unittest.TestCase):
    def setUp(self):
        # Nothing is forwarded: the intercepted name is answered by the gateway itself.
        self.daemon = Daemon.for_dns(["127.0.0.1:%d" % harness.free_port()])
        self.addCleanup(self.daemon.stop)
        self.daemon.start()
        self.idle_descriptors = open_descriptors(self.daemon.proc.pid)
        self.tricklers = Tricklers()
        self.addCleanup(self.tricklers.close)

    @property
    def http_port(self):
        return harness.listen_port(self.daemon.config["gateway"]["http_listen"][0])

    def wait_accepted(self, count):
        """The daemon holds `count` more descriptors than when idle: it accepted them all."""
        pid = self.daemon.proc.pid
        poll_until(lambda: open_descriptors(pid) >= self.idle_descriptors + count,
                   timeout=10, what="the daemon to accept %d connections" % count)

    def wait_closed(self, sockets, timeout, what):
        done = set()

        def check():
            for s in sockets:
                if s not in done and self.tricklers.closed_by_server(s):
                    done.add(s)
            return len(done) == len(sockets)
        poll_until(check, timeout=timeout, what="%s (%d of %d)" % (what, len(done), len(sockets)))


class TcpDnsTricklersTest(SlowClientsTestCase):
    def hosts(self, count):
        return ["127.0.0.%d" % (2 + i) for i in range(count)]

    def test_a_query_gets_through_while_tricklers_hold_every_connection(self):
        # 8 hosts x 16: every connection the daemon allows, each with half a length prefix.
        sockets = []
        for host in self.hosts(DNS_CAP // DNS_PER_CLIENT):
            for _ in range(DNS_PER_CLIENT):
                sockets.append(self.tricklers.open(self.daemon.dns_port, host, b"\x00"))
        self.wait_accepted(DNS_CAP)
        started = time.monotonic()
        self.tricklers.trickle(b"\x40")  # a byte a second: the idle timeout never runs out

        reply = dig("members.dyndns.org", port=self.daemon.dns_port, tcp=True,
                    source="127.0.0.1", timeout=3)
        self.assertFalse(reply.timeout, reply.text)
        self.assertEqual(reply.rcode, "NOERROR", reply.text)
        self.assertTrue(reply.answers("A"), reply.text)
        self.assertLess(time.monotonic() - started, DNS_QUERY_DEADLINE,
                        "the query must get through before the tricklers' deadline")
        # Logged by the daemon before it answered; the reader thread may not have it yet.
        self.assertIsNotNone(
            self.daemon.stderr.wait_for(lambda line: "tcp connections open, the most allowed" in line),
            self.daemon.stderr_text())

        # Every byte restarts the idle timeout; the query deadline closes them all the same.
        self.wait_closed(sockets, timeout=DNS_QUERY_DEADLINE + 3,
                         what="the trickling DNS connections to be closed at their deadline")

    def test_one_address_cannot_hold_more_than_its_bound(self):
        sockets = [self.tricklers.open(self.daemon.dns_port, "127.0.0.2", b"\x00")
                   for _ in range(DNS_PER_CLIENT + 24)]
        # Its newest take the place of its oldest: the first 24 go, 16 stay.
        self.wait_closed(sockets[:24], timeout=DNS_QUERY_DEADLINE - 1,
                         what="the connections over the per-address bound to be closed")
        still_open = [s for s in sockets[24:] if not self.tricklers.closed_by_server(s)]
        self.assertEqual(len(still_open), DNS_PER_CLIENT)
        # Another address is not affected by the first one's bound.
        reply = dig("members.dyndns.org", port=self.daemon.dns_port, tcp=True,
                    source="127.0.0.1", timeout=3)
        self.assertEqual(reply.rcode, "NOERROR", reply.text)


class HttpTricklersTest(SlowClientsTestCase):
    PARTIAL = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: "

    def status(self):
        status, _, body, raw = raw_http("127.0.0.1", self.http_port,
                                        b"GET /status HTTP/1.1\r\nHost: x\r\n"
                                        b"Connection: close\r\n\r\n", timeout=5,
                                        source="127.0.0.1")
        return status, raw

    def test_a_request_gets_through_while_tricklers_hold_every_connection(self):
        sockets = []
        for i in range(HTTP_CAP // HTTP_PER_CLIENT):
            for _ in range(HTTP_PER_CLIENT):
                sockets.append(self.tricklers.open(self.http_port, "127.0.0.%d" % (2 + i),
                                                   self.PARTIAL))
        self.wait_accepted(HTTP_CAP)
        started = time.monotonic()
        self.tricklers.trickle(b"a")  # a header byte a second: evhttp's idle timeout never ends

        status, raw = self.status()
        self.assertEqual(status, 200, raw[:300])
        self.assertLess(time.monotonic() - started, HTTP_REQUEST_DEADLINE,
                        "the request must get through before the tricklers' deadline")
        self.assertIsNotNone(
            self.daemon.stderr.wait_for(lambda line: "connections open, over the most allowed" in line),
            self.daemon.stderr_text())

        # The request deadline, not the 60 s lifetime, ends them.
        self.wait_closed(sockets, timeout=HTTP_REQUEST_DEADLINE + 3,
                         what="the trickling HTTP connections to be closed at their deadline")

    def test_one_address_cannot_hold_more_than_its_bound(self):
        sockets = [self.tricklers.open(self.http_port, "127.0.0.2", self.PARTIAL)
                   for _ in range(HTTP_PER_CLIENT + 16)]
        self.wait_closed(sockets[:16], timeout=HTTP_REQUEST_DEADLINE - 2,
                         what="the connections over the per-address bound to be closed")
        still_open = [s for s in sockets[16:] if not self.tricklers.closed_by_server(s)]
        self.assertEqual(len(still_open), HTTP_PER_CLIENT)
        status, raw = self.status()
        self.assertEqual(status, 200, raw[:300])


class HttpHeadTest(SlowClientsTestCase):
    def test_two_different_content_lengths_get_400_and_the_connection_closes(self):
        # RFC 9112 §6.3. The first is the larger: evhttp alone would wait for 50 bytes.
        started = time.monotonic()
        status, headers, _, raw = raw_http(
            "127.0.0.1", self.http_port,
            b"POST /nic/update HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
            b"Content-Length: 5\r\n\r\nhello", timeout=5)
        self.assertEqual(status, 400, raw[:300])
        self.assertEqual(headers.get("connection"), "close", raw[:300])
        self.assertLess(time.monotonic() - started, 4, "raw_http returns when the server closes")

    def test_the_header_bound_counts_line_endings(self):
        def head(total):
            text = b"GET /status HTTP/1.1\r\nHost: x\r\n"
            while len(text) + 2 + 100 + 20 < total:
                text += b"X-Pad: " + b"a" * 91 + b"\r\n"
            last = total - len(text) - 2
            return text + b"X-Last: " + b"b" * (last - 10) + b"\r\n\r\n"
        self.assertEqual(len(head(8192)), 8192)
        status, _, _, raw = raw_http("127.0.0.1", self.http_port, head(8192), timeout=5)
        self.assertEqual(status, 200, raw[:300])
        # One byte more, in 84 lines: 8025 bytes without their line endings.
        status, _, _, raw = raw_http("127.0.0.1", self.http_port, head(8193), timeout=5)
        self.assertEqual(status, 400, raw[:300])


if __name__ == "__main__":
    unittest.main()
