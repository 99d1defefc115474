"""Network namespaces for the tests that put real clients (DynDNS clients, a router) on a
network of their own: whether this machine allows them, and `ip` that says what failed."""

import os
import shutil

from gateway_harness import run


def netns_usable(why_root):
    """(True, "") or (False, why): root, iproute2 and a kernel that gives namespaces.
    why_root: what root is needed for, in the skip message."""
    if os.geteuid() != 0:
        return False, "needs root (%s)" % why_root
    if not shutil.which("ip"):
        return False, "iproute2's `ip` is not installed"
    proc = run(["ip", "netns", "list"], timeout=10)
    if proc.returncode != 0:
        return False, "`ip netns` is unavailable: %s" % proc.stderr.strip()
    return True, ""


def ip(*args, check=True):
    proc = run(["ip", *args], timeout=20)
    if check and proc.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), proc.stderr.strip()))
    return proc
