"""Source ports of forwarded questions (RFC 5452 §9.2): an off-path attacker racing a forwarded
question must guess its source port as well as its 16-bit ID, so questions must not leave from a
handful of long-lived ports, even while the forwarder is busy.

The real daemon forwards 2000 distinct names, 32 at a time, to a real dnsmasq on loopback, whose
--log-queries=extra lines name the source address and port of every query it receives. A
loopback upstream answers in microseconds, so the forwarder would go idle between bursts (and
c-ares close its sockets) far more often than with a real upstream tens of milliseconds away;
the test first asks a few names that dnsmasq forwards to a silent server, as a slow or lossy
upstream would leave them, so questions stay in flight for the whole run as they do on a busy
network. Run from this directory:
    DYNAMO_BUILD_DIR=../../build python3 -m unittest -v test_source_ports
"""

import collections
import re
import select
import socket
import time
import unittest

from dns_peers import DnsmasqPeer
from harness import Daemon, build_query, parse_message

QUESTIONS = 2000
WINDOW = 32  # client questions in flight: a burst of cache misses on a busy network
SLOW = 4  # questions left unanswered upstream while the others run
DEADLINE = 60.0  # the whole run, seconds
RETRY_AFTER = 2.0  # a question without a reply by then is sent again (same ID, same name)

# dnsmasq's log line for a query: "<serial> <source address>/<source port> query[A] <name> from".
QUERY_LINE = re.compile(r" (\d+\.\d+\.\d+\.\d+)/(\d+) query\[A\] (q\d+\.ports\.test) from ")


def name_of(i):
    return "q%05d.ports.test" % i


class SourcePortTest(unittest.TestCase):
    def setUp(self):
        # The silent server behind slow.test: bound, so dnsmasq's queries are swallowed rather
        # than refused with ICMP.
        self.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.silent.close)
        self.silent.bind(("127.0.0.1", 0))
        self.upstream = DnsmasqPeer(records=["address=/ports.test/192.0.2.53",
                                             "server=/slow.test/127.0.0.1#%d"
                                             % self.silent.getsockname()[1]],
                                    local=("test",))
        self.upstream.start()
        self.addCleanup(self.upstream.stop)
        # The slow questions hold their c-ares queries for upstream_timeout: longer than the run.
        self.daemon = Daemon.for_dns(["127.0.0.1:%d" % self.upstream.port], cache={"size": 0},
                                     upstream_timeout="20s")
        self.addCleanup(self.daemon.stop)
        self.daemon.start()

    def ask_all(self):
        """Every name once, WINDOW at a time, over one client socket; the answers by name."""
        answers = {}
        sent_at = {}  # id -> (index, time of the last send)
        next_index = 0
        deadline = time.monotonic() + DEADLINE
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("127.0.0.1", self.daemon.dns_port))
            for i in range(SLOW):  # their SERVFAIL comes after the run; IDs above QUESTIONS
                s.send(build_query("s%d.slow.test" % i, "A", qid=QUESTIONS + 1 + i))
            self.assertIsNotNone(self.upstream.log.wait_for(
                lambda l: "query[A] s%d.slow.test" % (SLOW - 1) in l, timeout=10.0))
            while len(answers) < QUESTIONS and time.monotonic() < deadline:
                while next_index < QUESTIONS and len(sent_at) < WINDOW:
                    qid = next_index + 1  # unique per question: replies are matched by ID
                    s.send(build_query(name_of(next_index), "A", qid=qid))
                    sent_at[qid] = (next_index, time.monotonic())
                    next_index += 1
                now = time.monotonic()
                for qid, (index, when) in list(sent_at.items()):
                    if now - when > RETRY_AFTER:
                        s.send(build_query(name_of(index), "A", qid=qid))
                        sent_at[qid] = (index, now)
                readable, _, _ = select.select([s], [], [], 0.5)
                if not readable:
                    continue
                reply = parse_message(s.recv(65535))
                entry = sent_at.pop(reply.id, None)
                if entry is not None:
                    answers[name_of(entry[0])] = reply
        return answers

    def upstream_ports(self):
        """name -> source port as dnsmasq saw it, once dnsmasq logged every name."""
        seen = {}

        def note(line):
            m = QUERY_LINE.search(line)
            if m:
                seen.setdefault(m.group(3), (m.group(1), int(m.group(2))))
            return len(seen) == QUESTIONS

        self.upstream.log.wait_for(note, timeout=10.0)
        return seen

    def test_busy_forwarding_spreads_questions_over_many_source_ports(self):
        answers = self.ask_all()
        self.assertEqual(len(answers), QUESTIONS, "questions left unanswered")
        for name, reply in answers.items():
            self.assertEqual(reply.rcode, "NOERROR", name)
        seen = self.upstream_ports()
        self.assertEqual(len(seen), QUESTIONS, "dnsmasq did not log every name")
        self.assertEqual({address for address, _ in seen.values()}, {"127.0.0.1"})

        per_port = collections.Counter(port for _, port in seen.values())
        busiest = per_port.most_common(1)[0]
        spread = "%d distinct source ports for %d questions; busiest %d carried %d" % (
            len(per_port), QUESTIONS, busiest[0], busiest[1])
        print("\n" + spread)
        # The forwarder sends at most 16 questions from one socket, and the kernel picks each
        # new socket's port at random from ip_local_port_range (~28,000 ports): some 125
        # batches or more (a socket closed early carries fewer), and a port carries more than
        # 16 only when the kernel happened to pick it again for a later batch (32 for two
        # batches happens, 64 would take four). Long-lived sockets gave 4 ports with 500
        # questions each.
        self.assertGreaterEqual(len(per_port), QUESTIONS // 32, spread)
        self.assertLessEqual(busiest[1], 64, spread)

if __name__ == "__main__":
    unittest.main()
