"""The Debian package (docs/operations.md#install): what the .deb holds, and what installing,
reinstalling, removing and purging it does to a system.

The package is built by the test itself with cpack from DYNAMO_BUILD_DIR into a temporary
directory, so it always matches the tree under test, whatever ctest was started by (`make test`,
`make test-sanitize`, a bare ctest), and nothing is left in the build directory. DYNAMO_DEB=FILE
tests a given package instead (e.g. build/dynamo-gateway_*_amd64.deb after `make deb`).

The install test needs root: it runs dpkg against a copy-on-write view of this machine (an
overlay of / on a tmpfs, in a private mount namespace, chrooted), a Debian 12 system with the
package's dependencies but not the package. Maintainer scripts run chrooted exactly as on a
Raspberry Pi, dpkg checks the computed Depends for real (no --force-depends), and no write
reaches this machine's /etc, its users or its dpkg database. systemd is not running in there
(a tmpfs /run), as in an image build: the scripts must then enable the unit without starting it.

Run from this directory:  DYNAMO_BUILD_DIR=../../build python3 -m unittest -v test_deb_package
"""

import glob
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import unittest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("DYNAMO_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
SOURCE_DIR = os.environ.get("DYNAMO_SOURCE_DIR") or os.path.join(HERE, "..", "..")
CPACK_CONFIG = os.path.join(BUILD_DIR, "CPackConfig.cmake")

PACKAGE = "dynamo-gateway"
USER = "dynamo-gateway"
BINARY = "/usr/sbin/dynamo-gateway"
UNIT = "/lib/systemd/system/dynamo-gateway.service"
SYSUSERS = "/usr/lib/sysusers.d/dynamo-gateway.conf"
CONFIG = "/etc/dynamo-gateway/config.yaml"
STATE = "/var/lib/dynamo-gateway"
WANTS = "/etc/systemd/system/multi-user.target.wants/dynamo-gateway.service"
# The libraries the daemon links, by the package names dpkg-shlibdeps must have found.
EXPECTED_DEPENDS = ["libc6", "libc-ares2", "libevent-core-2.1-7", "libevent-extra-2.1-7",
                    "libevent-openssl-2.1-7", "libssl3",
                    "libyaml-cpp0.7", "libstdc++6"]


def run(args, **kwargs):
    kwargs.setdefault("timeout", 120)
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def why_no_package():
    """None when a package can be had, else why not: `make test` builds and has every tool, so
    that is a broken setup and the module fails (setUpModule), it is not skipped."""
    if os.environ.get("DYNAMO_DEB"):
        return None if os.path.isfile(os.environ["DYNAMO_DEB"]) else \
            "DYNAMO_DEB=%s does not exist" % os.environ["DYNAMO_DEB"]
    if not os.path.isfile(CPACK_CONFIG):
        return "no %s: configure the build first (make build), then make deb" % CPACK_CONFIG
    for tool, package in (("cpack", "cmake"), ("dpkg-deb", "dpkg"),
                          ("dpkg-shlibdeps", "dpkg-dev")):
        if not shutil.which(tool):
            return "%s is missing (Debian package %s): the .deb cannot be built" % (tool, package)
    return None


def setUpModule():
    problem = why_no_package()
    if problem:
        raise AssertionError(problem)


def why_no_install():
    """None when the package can be installed into a throwaway root here, else why this machine
    cannot (the install tests are skipped then)."""
    if os.geteuid() != 0:
        return "installing the package needs root (a mount namespace, an overlay, chroot)"
    for tool in ("unshare", "chroot", "mount"):
        if not shutil.which(tool):
            return "%s is missing (Debian package util-linux / coreutils)" % tool
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            return "this kernel has no overlayfs"
    return None


_package_cache = {}


def package_path(tmp_root):
    """The .deb under test: DYNAMO_DEB, or one cpack builds from BUILD_DIR (once per run)."""
    if os.environ.get("DYNAMO_DEB"):
        return os.path.abspath(os.environ["DYNAMO_DEB"])
    if "deb" not in _package_cache:
        out = os.path.join(tmp_root, "cpack")
        result = run(["cpack", "-G", "DEB", "--config", CPACK_CONFIG, "-B", out], cwd=BUILD_DIR,
                     timeout=300)
        if result.returncode != 0:
            raise AssertionError("cpack failed:\n" + result.stdout + result.stderr)
        debs = glob.glob(os.path.join(out, "*.deb"))
        if len(debs) != 1:
            raise AssertionError("cpack made %r\n%s" % (debs, result.stdout))
        _package_cache["deb"] = debs[0]
    return _package_cache["deb"]


def setUpModule():
    global TMP
    TMP = tempfile.mkdtemp(prefix="dynamo-deb-")


def tearDownModule():
    shutil.rmtree(TMP, True)


class PackageContentsTest(unittest.TestCase):
    """What is in the .deb, read with dpkg-deb: no root needed."""

    @classmethod
    def setUpClass(cls):
        cls.deb = package_path(TMP)
        cls.fields = {}
        control = run(["dpkg-deb", "--field", cls.deb]).stdout
        for match in re.finditer(r"^(\S+): (.*(?:\n .*)*)", control, re.M):
            cls.fields[match.group(1)] = match.group(2)
        cls.control_dir = tempfile.mkdtemp(dir=TMP)
        subprocess.run(["dpkg-deb", "--control", cls.deb, cls.control_dir], check=True)
        # name -> (mode, owner, group, is_dir), from the data archive itself.
        cls.files = {}
        data = tempfile.mkdtemp(dir=TMP)
        cls.data_dir = data
        subprocess.run(["dpkg-deb", "--extract", cls.deb, data], check=True)
        with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", cls.deb],
                              stdout=subprocess.PIPE) as tar_stream:
            with tarfile.open(fileobj=tar_stream.stdout, mode="r|") as tar:
                for member in tar:
                    name = "/" + os.path.normpath(member.name).lstrip("./")
                    cls.files[name] = (member.mode, member.uname, member.gname, member.isdir())

    def test_control_fields(self):
        self.assertEqual(self.fields["Package"], PACKAGE)
        arch = self.fields["Architecture"]
        self.assertIn(arch, ("amd64", "arm64"))
        self.assertTrue(self.fields["Version"])
        self.assertIn("Section", self.fields)

    def test_depends_were_computed_from_the_binary(self):
        depends = [alternative.strip().split()[0]
                   for item in self.fields["Depends"].split(",")
                   for alternative in item.split("|")]
        for name in EXPECTED_DEPENDS:
            self.assertIn(name, depends, "Depends: %s" % self.fields["Depends"])
        # dpkg-shlibdeps writes minimum versions from the libraries' symbols files.
        self.assertRegex(self.fields["Depends"], r"libc-ares2 \(>= [0-9.]+\)")
        self.assertRegex(self.fields["Depends"], r"libssl3 \(>= 3[0-9.]*\)")

    def test_files_owners_and_modes(self):
        expected = {BINARY: 0o755, UNIT: 0o644, SYSUSERS: 0o644, CONFIG: 0o640}
        for path, mode in expected.items():
            self.assertIn(path, self.files)
            got_mode, owner, group, _ = self.files[path]
            self.assertEqual(oct(got_mode & 0o7777), oct(mode), path)
            # root:root in the archive; the postinst gives config.yaml to its group.
            self.assertEqual((owner, group), ("root", "root"), path)
        regular = {name for name, entry in self.files.items() if not entry[3]}
        self.assertEqual(regular, set(expected), "unexpected files in the package")
        for name, (mode, owner, group, is_dir) in self.files.items():
            if is_dir:
                self.assertEqual(oct(mode & 0o7777), oct(0o755), name)
        # The state directory belongs to the postinst, not to dpkg (it would own queue files).
        self.assertNotIn(STATE, self.files)

    def test_shipped_files_are_the_sources(self):
        for packaged, source in ((UNIT, "systemd/dynamo-gateway.service"),
                                 (CONFIG, "config/example.yaml"),
                                 (SYSUSERS, "systemd/dynamo-gateway.sysusers")):
            with open(os.path.join(self.data_dir, packaged.lstrip("/")), "rb") as a, \
                    open(os.path.join(SOURCE_DIR, source), "rb") as b:
                self.assertEqual(a.read(), b.read(), packaged)

    def test_binary_is_stripped(self):
        result = run([harness.require("file", "file"), "-b",
                      os.path.join(self.data_dir, BINARY.lstrip("/"))])
        self.assertIn("ELF", result.stdout)
        self.assertIn("stripped", result.stdout)
        self.assertNotIn("not stripped", result.stdout)

    def test_conffiles(self):
        with open(os.path.join(self.control_dir, "conffiles")) as f:
            self.assertEqual(f.read().split(), [CONFIG])

    def test_maintainer_scripts(self):
        for name in ("postinst", "prerm", "postrm"):
            path = os.path.join(self.control_dir, name)
            self.assertTrue(os.path.isfile(path), name)
            self.assertEqual(oct(os.stat(path).st_mode & 0o777), oct(0o755), name)
            result = run(["sh", "-n", path])
            self.assertEqual(result.returncode, 0, name + ": " + result.stderr)
        with open(os.path.join(self.control_dir, "postinst")) as f:
            postinst = f.read()
        self.assertIn("systemd-sysusers", postinst)
        self.assertIn("deb-systemd-helper", postinst)


# Runs inside a private mount namespace: builds the overlay, then each stage's commands in the
# chroot; "@@ stage key value" lines carry the facts back to the test.
INSTALL_SCRIPT = r"""
set -eu
deb=$1; top=$2
mount -t tmpfs -o mode=0755 tmpfs "$top"
mkdir "$top/upper" "$top/work" "$top/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root"
root=$top/root
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"       # no /run/systemd/system: systemd is not running
mount -t tmpfs tmpfs "$root/tmp"
cp "$deb" "$root/tmp/package.deb"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

facts() {
    stage=$1
    for path in %(paths)s; do
        if [ -e "$root$path" ] || [ -L "$root$path" ]; then
            echo "@@ $stage stat:$path $(in_root stat -c '%%a %%U %%G %%F' "$path")"
        else
            echo "@@ $stage stat:$path absent"
        fi
    done
    echo "@@ $stage passwd $(in_root getent passwd %(user)s || echo absent)"
    echo "@@ $stage group $(in_root getent group %(user)s || echo absent)"
    echo "@@ $stage status $(in_root dpkg-query -W -f='${db:Status-Abbrev}' %(package)s 2>/dev/null || echo absent)"
    echo "@@ $stage conffiles $(in_root dpkg-query -W -f='${Conffiles}' %(package)s 2>/dev/null | tr '\n' ' ')"
    echo "@@ $stage wants $(readlink "$root%(wants)s" || echo absent)"
}

# A machine that had the package before is made fresh in the overlay first.
in_root dpkg --purge %(package)s >/dev/null 2>&1 || true
in_root userdel %(user)s >/dev/null 2>&1 || true
in_root groupdel %(user)s >/dev/null 2>&1 || true

echo "@@ install output $(in_root dpkg -i /tmp/package.deb 2>&1 | tr '\n' '~')"
facts install
# The service user can read its configuration and check it, as the unit's ExecStartPre does;
# another unprivileged user cannot read the secrets.
status_of() { if "$@" >/dev/null 2>&1; then echo 0; else echo $?; fi; }
echo "@@ install check_as_service $(status_of in_root runuser -u %(user)s -- %(binary)s --config %(config)s --check)"
echo "@@ install read_as_nobody $(status_of in_root runuser -u nobody -- cat %(config)s)"

# Reinstalling (what an upgrade runs) keeps an edited conffile and the permissions.
echo "# edited by the admin" >>"$root%(config)s"
echo "@@ reinstall output $(in_root dpkg -i /tmp/package.deb 2>&1 | tr '\n' '~')"
facts reinstall
echo "@@ reinstall edited $(grep -c 'edited by the admin' "$root%(config)s")"

echo "@@ remove output $(in_root dpkg --remove %(package)s 2>&1 | tr '\n' '~')"
facts remove
echo "@@ purge output $(in_root dpkg --purge %(package)s 2>&1 | tr '\n' '~')"
facts purge
"""


@unittest.skipIf(why_no_install(), why_no_install())
class PackageInstallTest(unittest.TestCase):
    """dpkg -i, dpkg -i again, dpkg --remove and dpkg --purge on a copy-on-write system."""

    @classmethod
    def setUpClass(cls):
        deb = package_path(TMP)
        arch = run(["dpkg-deb", "--field", deb, "Architecture"]).stdout.strip()
        native = run(["dpkg", "--print-architecture"]).stdout.strip()
        if arch != native:
            raise unittest.SkipTest("a %s package cannot be installed on this %s machine"
                                    % (arch, native))
        top = tempfile.mkdtemp(dir=TMP)
        paths = " ".join([BINARY, UNIT, SYSUSERS, CONFIG, os.path.dirname(CONFIG), STATE])
        script = INSTALL_SCRIPT % {"paths": paths, "user": USER, "package": PACKAGE,
                                   "wants": WANTS, "binary": BINARY, "config": CONFIG}
        result = run(["unshare", "--mount", "--propagation", "private", "--",
                      "sh", "-c", script, "install-test", deb, top], timeout=300)
        cls.log = result.stdout + result.stderr
        if result.returncode != 0:
            raise AssertionError("install script failed:\n" + cls.log)
        cls.facts = {}
        for line in result.stdout.splitlines():
            if line.startswith("@@ "):
                _, stage, key, *value = line.split(" ", 3)
                cls.facts[(stage, key)] = value[0] if value else ""

    def fact(self, stage, key):
        self.assertIn((stage, key), self.facts, self.log)
        return self.facts[(stage, key)]

    def stat(self, stage, path):
        return self.fact(stage, "stat:" + path)

    def test_install_succeeds_with_real_dependency_check(self):
        self.assertEqual(self.fact("install", "status"), "ii ", self.fact("install", "output"))

    def test_installed_files_owners_and_modes(self):
        self.assertEqual(self.stat("install", BINARY), "755 root root regular file")
        self.assertEqual(self.stat("install", UNIT), "644 root root regular file")
        self.assertEqual(self.stat("install", SYSUSERS), "644 root root regular file")
        self.assertEqual(self.stat("install", CONFIG), "640 %s %s regular file" % (USER, USER))
        # Writable by the service user for /setup (systemd/dynamo-gateway.service says why).
        self.assertEqual(self.stat("install", os.path.dirname(CONFIG)),
                         "770 root %s directory" % USER)
        self.assertEqual(self.stat("install", STATE), "700 %s %s directory" % (USER, USER))

    def test_system_user_is_created(self):
        fields = self.fact("install", "passwd").split(":")
        self.assertEqual(fields[0], USER, self.fact("install", "output"))
        self.assertLess(int(fields[2]), 1000, "not a system uid")
        self.assertEqual(fields[5], STATE)
        self.assertIn(fields[6], ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"))
        group = self.fact("install", "group").split(":")
        self.assertEqual(group[0], USER)
        self.assertEqual(group[2], fields[3], "the user's primary group is dynamo-gateway")

    def test_config_is_a_conffile(self):
        self.assertIn(CONFIG, self.fact("install", "conffiles"))

    def test_service_user_reads_config_and_others_do_not(self):
        self.assertEqual(self.fact("install", "check_as_service"), "0")
        self.assertEqual(self.fact("install", "read_as_nobody"), "1")  # cat: Permission denied

    def test_enabled_but_not_started_on_first_install(self):
        self.assertEqual(self.fact("install", "wants"), UNIT)
        output = self.fact("install", "output")
        self.assertIn("enabled, but not started", output)
        self.assertIn("systemctl start dynamo-gateway", output)

    def test_reinstall_keeps_edits_and_permissions(self):
        self.assertEqual(self.fact("reinstall", "status"), "ii ", self.fact("reinstall", "output"))
        self.assertEqual(self.fact("reinstall", "edited"), "1")
        self.assertEqual(self.stat("reinstall", CONFIG), "640 %s %s regular file" % (USER, USER))
        self.assertEqual(self.stat("reinstall", STATE), "700 %s %s directory" % (USER, USER))
        self.assertEqual(self.fact("reinstall", "passwd"), self.fact("install", "passwd"))
        self.assertNotIn("not started", self.fact("reinstall", "output"))

    def test_remove_keeps_config_state_and_user(self):
        self.assertEqual(self.fact("remove", "status"), "rc ", self.fact("remove", "output"))
        self.assertEqual(self.stat("remove", BINARY), "absent")
        self.assertEqual(self.stat("remove", UNIT), "absent")
        self.assertEqual(self.stat("remove", CONFIG), "640 %s %s regular file" % (USER, USER))
        self.assertNotEqual(self.stat("remove", STATE), "absent")
        self.assertTrue(self.fact("remove", "passwd").startswith(USER + ":"))

    def test_purge_removes_everything(self):
        self.assertEqual(self.fact("purge", "status"), "absent", self.fact("purge", "output"))
        for path in (CONFIG, os.path.dirname(CONFIG), STATE, SYSUSERS, UNIT):
            self.assertEqual(self.stat("purge", path), "absent", path)
        self.assertEqual(self.fact("purge", "passwd"), "absent")
        self.assertEqual(self.fact("purge", "group"), "absent")
        self.assertEqual(self.fact("purge", "wants"), "absent")

    def test_this_machine_was_not_touched(self):
        self.assertFalse(os.path.exists(CONFIG))
        self.assertFalse(os.path.exists(WANTS))
        result = run(["getent", "passwd", USER])
        self.assertNotEqual(result.returncode, 0, "the user leaked into this machine")


if __name__ == "__main__":
    unittest.main()
