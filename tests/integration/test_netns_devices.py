"""The point of the product (README "Point your devices at it", docs/architecture.md#tests): an unmodified DynDNS client that only knows
members.dyndns.org, on a LAN whose DNS server is the gateway, updates KisoLabs' service
through it.

The LAN is a network namespace this test makes, joined to the root namespace by a veth pair
on a /30 from 10.231.0.0/16:

    namespace dgw-test-<pid>                       root namespace
    10.231.N.2/30  (no other route)  ── veth ──    10.231.N.1/30: dynamo-gateway on :53 :80 :443
    /etc/resolv.conf -> 10.231.N.1                 127.0.0.1: token-API emulator (update_url),
    inadyn, ddclient (their default server)                   dnsmasq (dns.upstreams)

`ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf, so the clients
resolve members.dyndns.org through the gateway (which answers with 10.231.N.1) exactly as a
device whose router hands out the gateway as DNS server. Their public address comes from a
local command (inadyn checkip-command, ddclient use=cmd): the namespace has no route to any
other host, so nothing reaches the internet. Everything made here is removed in class cleanup,
also when a test fails. Needs root and `ip netns`; skipped with the reason otherwise.
"""

import os
import re
import shutil
import tempfile
import unittest

import harness
from dns_peers import DnsmasqPeer
from emulator import Emulator
from gateway_harness import (EMULATOR_WINDOW, MIN_INTERVAL, PUBLIC_A, PUBLIC_B, Gateway,
                             account, calls_for, make_token, run, wait_calls)
from netns_util import ip, netns_usable

CLIENT_TIMEOUT = 60
PID = os.getpid()
NETNS = "dgw-test-%d" % PID
VETH_HOST = "dgwh%d" % (PID % 100000)   # interface names: at most 15 characters
VETH_NS = "dgwn%d" % (PID % 100000)
SUBNET_OCTET = PID % 250 + 1
HOST_IP = "10.231.%d.1" % SUBNET_OCTET
NS_IP = "10.231.%d.2" % SUBNET_OCTET
NET = "10.231.%d.0/30" % SUBNET_OCTET
NETNS_ETC = os.path.join("/etc/netns", NETNS)
OWN_NAME = "ddname.home.test"
OWN_LAN = "192.168.1.2"


USABLE, WHY = netns_usable("network namespaces, ports 53/80/443")


def in_ns(argv, timeout=CLIENT_TIMEOUT):
    return run(["ip", "netns", "exec", NETNS, *argv], timeout=timeout)


def remove_namespace():
    """Idempotent: what a previous, killed run with the same PID may have left, too."""
    ip("netns", "del", NETNS, check=False)           # takes the namespace's veth end with it
    ip("link", "del", VETH_HOST, check=False)        # and so the pair; this is belt and braces
    shutil.rmtree(NETNS_ETC, ignore_errors=True)


def make_namespace():
    remove_namespace()
    ip("netns", "add", NETNS)
    ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
    ip("link", "set", VETH_NS, "netns", NETNS)
    ip("addr", "add", HOST_IP + "/30", "dev", VETH_HOST)
    ip("link", "set", VETH_HOST, "up")
    ip("-n", NETNS, "link", "set", "lo", "up")
    ip("-n", NETNS, "addr", "add", NS_IP + "/30", "dev", VETH_NS)
    ip("-n", NETNS, "link", "set", VETH_NS, "up")
    os.makedirs(NETNS_ETC, exist_ok=True)
    with open(os.path.join(NETNS_ETC, "resolv.conf"), "w") as f:
        f.write("nameserver %s\noptions timeout:2 attempts:2\n" % HOST_IP)


@unittest.skipUnless(USABLE, WHY)
class DevicesInANamespace(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dynamo-netns-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.addClassCleanup(remove_namespace)
        make_namespace()
        cls.upstream = DnsmasqPeer(records=["address=/known.test/192.0.2.10"], local=("test",))
        cls.upstream.start()
        cls.addClassCleanup(cls.upstream.stop)
        # One account (and token) per client, so each test sees only its own calls.
        cls.tokens = {name: make_token(name) for name in
                      ("ddhttp", "ddhttps", "inhttp", "inhttps", "ddname")}
        cls.emu = Emulator(tokens={t: "ok" for t in cls.tokens.values()},
                           window=EMULATOR_WINDOW)
        cls.emu.start()
        cls.addClassCleanup(cls.emu.stop)
        cls.gw = Gateway(
            cls.emu.url,
            accounts=[account(token, username="%s-user" % name, password="%s-Pass9" % name)
                      for name, token in cls.tokens.items()],
            min_interval="%ds" % MIN_INTERVAL,
            dns_listen=["%s:53" % HOST_IP],
            http_listen=["%s:80" % HOST_IP],
            https_listen=["%s:443" % HOST_IP],
            allow=[NET, "127.0.0.0/8"],
            upstreams=["127.0.0.1:%d" % cls.upstream.port])
        cls.addClassCleanup(cls.gw.cleanup)
        # Local names (README "Your own names inside the network"): ddname's name is answered
        # here; every client but the updater gets the LAN address.
        named = [a for a in cls.gw.config["accounts"] if a["username"] == "ddname-user"][0]
        named["names"] = [OWN_NAME]
        cls.gw.config["dns"]["records"] = {OWN_NAME: {"A": OWN_LAN}}
        cls.gw.start()

    # ---- helpers

    def user(self, name):
        return "%s-user" % name, "%s-Pass9" % name

    def context(self, proc, token=None):
        calls = calls_for(self.emu, token) if token else self.emu.calls()
        return ("client exit %s\n--- client output:\n%s\n--- emulator calls: %s\n"
                "--- daemon stderr (tail):\n%s" % (
                    proc.returncode, (proc.stdout + proc.stderr)[-4000:],
                    [(c["ip"], c["code"], c["user_agent"]) for c in calls],
                    self.gw.stderr_tail()))

    def gateway_cert(self):
        cert, _ = self.gw.generated_cert()
        self.assertIsNotNone(cert, "no self-signed certificate in state_dir %s: %s" % (
            self.gw.state_dir, os.listdir(self.gw.state_dir)))
        return cert

    def assertDelivered(self, proc, token, ip=PUBLIC_B):
        calls = wait_calls(self.emu, token, 1)
        self.assertEqual([(c["ip"], c["code"]) for c in calls], [(ip, "UP,OK")],
                         self.context(proc, token))
        self.assertTrue(calls[0]["user_agent"].startswith("dynamo-gateway/"))

    # ---- the LAN

    def test_namespace_has_no_route_but_the_veth(self):
        proc = in_ns(["ip", "-4", "route", "show"])
        routes = [l for l in proc.stdout.splitlines() if l.strip()]
        self.assertEqual(len(routes), 1, proc.stdout)
        self.assertTrue(routes[0].startswith(NET), proc.stdout)

    def test_members_dyndns_org_resolves_to_the_gateway_in_the_namespace(self):
        # Through libc, with the namespace's resolv.conf: what the clients do.
        proc = in_ns(["getent", "ahostsv4", "members.dyndns.org"], timeout=20)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr +
                         "\n" + self.gw.stderr_tail())
        self.assertEqual({l.split()[0] for l in proc.stdout.splitlines() if l.strip()},
                         {HOST_IP}, proc.stdout)
        # Other names are forwarded to the upstream, not intercepted.
        proc = in_ns(["getent", "ahostsv4", "known.test"], timeout=20)
        self.assertIn("192.0.2.10", proc.stdout, proc.stdout + proc.stderr)

    # ---- inadyn, built-in default@dyndns.org provider

    def inadyn(self, name, hostname, ssl):
        harness.require("inadyn", "inadyn")
        user, password = self.user(name)
        lines = ["period = 300"]
        if ssl:
            # Trust the gateway's self-signed certificate (the appliance's setup page offers
            # it for download); the server name stays members.dyndns.org.
            lines.append('ca-trust-file = "%s"' % self.gateway_cert())
        lines += ["provider default@dyndns.org {",
                  "    ssl = %s" % ("true" if ssl else "false"),
                  '    checkip-command = "echo %s"' % PUBLIC_B,
                  '    username = "%s"' % user,
                  '    password = "%s"' % password,
                  '    hostname = "%s"' % hostname,
                  "}", ""]
        conf = os.path.join(self.tmp, "inadyn-%s.conf" % name)
        with open(conf, "w") as f:
            f.write("\n".join(lines))
        os.chmod(conf, 0o600)
        cache_dir = os.path.join(self.tmp, "inadyn-cache-%s" % name)
        os.makedirs(cache_dir, exist_ok=True)
        return in_ns(["inadyn", "-1", "--foreground", "-l", "debug", "-f", conf,
                      "--cache-dir", cache_dir,
                      "-P", os.path.join(self.tmp, "inadyn-%s.pid" % name)])

    def check_inadyn(self, name, ssl):
        token = self.tokens[name]
        hostname = "%s.home.test" % name
        proc = self.inadyn(name, hostname, ssl)
        out = proc.stdout + proc.stderr
        # It found the gateway by asking the gateway for members.dyndns.org.
        self.assertIn("connecting to members.dyndns.org([%s]:%d)" % (HOST_IP, 443 if ssl else 80),
                      out, self.context(proc, token))
        if ssl:
            self.assertIn("Certificate OK", out, self.context(proc, token))
        self.assertIn("Successful alias table update for %s => new IP# %s"
                      % (hostname, PUBLIC_B), out, self.context(proc, token))
        self.assertEqual(proc.returncode, 0, self.context(proc, token))
        self.assertDelivered(proc, token)

    def test_inadyn_default_dyndns_provider_over_http(self):
        self.check_inadyn("inhttp", ssl=False)

    def test_inadyn_default_dyndns_provider_over_https(self):
        self.check_inadyn("inhttps", ssl=True)

    # ---- ddclient, default server members.dyndns.org

    def ddclient(self, name, hostname, ssl):
        harness.require("ddclient", "ddclient")  # and the Perl modules ssl=yes loads
        user, password = self.user(name)
        lines = ["protocol=dyndns2",
                 "use=cmd, cmd='echo %s'" % PUBLIC_B,
                 "login=%s" % user,
                 "password='%s'" % password]
        if ssl:
            lines += ["ssl=yes", "ssl_ca_file=%s" % self.gateway_cert()]
        else:
            lines += ["ssl=no"]
        lines += [hostname, ""]
        conf = os.path.join(self.tmp, "ddclient-%s.conf" % name)
        with open(conf, "w") as f:
            f.write("\n".join(lines))
        os.chmod(conf, 0o600)
        cache = os.path.join(self.tmp, "ddclient-%s.cache" % name)
        return in_ns(["ddclient", "-daemon=0", "-foreground", "-verbose", "-noquiet",
                      "-file", conf, "-cache", cache])

    def check_ddclient(self, name, ssl):
        token = self.tokens[name]
        hostname = "%s.home.test" % name
        proc = self.ddclient(name, hostname, ssl)
        out = proc.stdout + proc.stderr
        self.assertRegex(out, r"CONNECT:\s+members\.dyndns\.org", self.context(proc, token))
        self.assertRegex(out, r"CONNECTED:\s+using %s" % ("SSL" if ssl else "HTTP"),
                         self.context(proc, token))
        self.assertRegex(out, r"SUCCESS:\s+updating %s: good: IP address set to %s"
                         % (re.escape(hostname), re.escape(PUBLIC_B)),
                         self.context(proc, token))
        self.assertDelivered(proc, token)

    def test_ddclient_default_server_over_http(self):
        self.check_ddclient("ddhttp", ssl=False)

    def test_ddclient_default_server_over_https(self):
        self.check_ddclient("ddhttps", ssl=True)

    # ---- local names: the updater sees its new address at once

    def test_ddclient_resolves_its_own_name_to_the_address_it_sent_while_queued(self):
        token = self.tokens["ddname"]
        user, password = self.user("ddname")
        # A first update from the root namespace opens and shuts the service's window.
        first = run(["curl", "-s", "--max-time", "10", "-u", "%s:%s" % (user, password),
                     "http://%s/nic/update?hostname=%s&myip=%s" % (HOST_IP, OWN_NAME, PUBLIC_A)],
                    timeout=30)
        self.assertEqual(first.stdout.strip(), "good %s" % PUBLIC_A)
        wait_calls(self.emu, token, 1)
        proc = self.ddclient("ddname", OWN_NAME, ssl=False)
        self.assertRegex(proc.stdout + proc.stderr, r"SUCCESS:\s+updating %s: good"
                         % re.escape(OWN_NAME), self.context(proc, token))
        # Queued: the window is shut, the service still has the first address...
        self.assertEqual(len(calls_for(self.emu, token)), 1, self.context(proc, token))
        # ...but ddclient, asking through its resolv.conf (the gateway), is told what it sent.
        mine = in_ns(["dig", "+short", "+time=2", "+tries=2", OWN_NAME, "A"])
        self.assertEqual(mine.stdout.split(), [PUBLIC_B], self.context(mine, token))
        # Any other client gets the LAN entry (not HOST_IP: the first update came from it).
        other = run(["dig", "+short", "+time=2", "+tries=2", "-b", "127.0.0.3", "@" + HOST_IP,
                     OWN_NAME, "A"], timeout=30)
        self.assertEqual(other.stdout.split(), [OWN_LAN], other.stdout + other.stderr)


if __name__ == "__main__":
    unittest.main()
