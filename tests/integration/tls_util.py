"""Throwaway TLS material for tests: a private CA and a server certificate it signed.

Standard library only; the keys and certificates are made by the `openssl` command line tool
(Debian's openssl package), nothing is downloaded. Use as:

    with tempfile.TemporaryDirectory() as tmp:
        tls = make_ca_and_cert(tmp, dns_names=["localhost"], ips=["127.0.0.1"])
        ... server: tls.cert, tls.key ... client: tls.ca_cert (curl --cacert, ssl cafile) ...

or `with temporary_tls(...) as tls:` to get (and remove) a temp dir in one step.

The server certificate carries what a verifying client checks: subjectAltName with every
given name and address (CN is ignored by modern clients, RFC 6125 §6.4.4), extendedKeyUsage
serverAuth, basicConstraints CA:FALSE, and it chains to a CA with CA:TRUE + keyCertSign.
"""

import collections
import contextlib
import os
import subprocess
import tempfile

TlsFiles = collections.namedtuple("TlsFiles", "directory ca_cert ca_key cert key")


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s" % (args[0], proc.returncode,
                                                            proc.stderr))


def make_ca_and_cert(directory, dns_names=("localhost",), ips=("127.0.0.1",),
                     common_name=None, days=2, key_type="rsa:2048", prefix=""):
    """Writes <prefix>ca.pem, <prefix>ca.key, <prefix>server.pem, <prefix>server.key into
    directory (which must exist) and returns their paths as TlsFiles. key_type is the
    argument of `openssl req -newkey`: "rsa:2048" (the default; what old TLS 1.0 clients can
    use) or e.g. "ed25519"."""
    dns_names, ips = list(dns_names), list(ips)
    if not dns_names and not ips:
        raise ValueError("a server certificate needs at least one DNS name or IP address")
    name = lambda base: os.path.join(directory, prefix + base)
    files = TlsFiles(directory, name("ca.pem"), name("ca.key"), name("server.pem"),
                     name("server.key"))
    csr, ext = name("server.csr"), name("server.ext")
    cn = common_name or (dns_names[0] if dns_names else ips[0])

    _openssl("req", "-x509", "-newkey", key_type, "-nodes", "-sha256", "-days", str(days),
             "-keyout", files.ca_key, "-out", files.ca_cert,
             "-subj", "/CN=dynamo-gateway test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=directory)
    _openssl("req", "-new", "-newkey", key_type, "-nodes", "-sha256",
             "-keyout", files.key, "-out", csr, "-subj", "/CN=%s" % cn, cwd=directory)
    sans = ["DNS:%s" % n for n in dns_names] + ["IP:%s" % a for a in ips]
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n"
                "subjectAltName=%s\n" % ",".join(sans))
    _openssl("x509", "-req", "-in", csr, "-CA", files.ca_cert, "-CAkey", files.ca_key,
             "-CAcreateserial", "-sha256", "-days", str(days), "-extfile", ext,
             "-out", files.cert, cwd=directory)
    for private in (files.ca_key, files.key):
        os.chmod(private, 0o600)
    return files


@contextlib.contextmanager
def temporary_tls(dns_names=("localhost",), ips=("127.0.0.1",), **kwargs):
    """make_ca_and_cert() in a fresh temp dir that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="dynamo-tls-") as directory:
        yield make_ca_and_cert(directory, dns_names, ips, **kwargs)
