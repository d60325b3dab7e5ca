# test_cli_tls.py - seal over TLS and mutual TLS against the real sealdb: the test makes a CA, a
# server and a client certificate with the openssl command, starts sealdb with --certificate/--pkey
# (TLS) and with --mtls --clientcas (mTLS), and checks that seal logs in, safesets and safegets
# through them, and that a wrong CA, a wrong server name, a missing or foreign client certificate and
# a plain connection to a TLS server fail with exit code 1 and a message that names the cause.
import json
import os
import shutil
import subprocess

import pytest

SEAL = os.environ.get("SEAL_BIN", "build/seal")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=" + name, "-keyout", name + ".key", "-out", name + ".pem", cwd=d)


def _leaf(d, name, ca, san=None):
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=" + name, "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
    ext = []
    if san:
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=" + san + "\n")
        ext = ["-extfile", name + ".ext"]
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
             "-days", "2", "-out", name + ".pem", *ext, cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    _ca(d, "ca")
    _ca(d, "otherca")
    _leaf(d, "server", "ca", san="DNS:localhost")
    _leaf(d, "client", "ca")
    _leaf(d, "stranger", "otherca")        # a client certificate from a CA the server does not trust
    return lambda name: os.path.join(d, name)


def seal(srv, home, *args, timeout_s=20):
    env = dict(os.environ, HOME=home, IMMUDB_PASSWORD="immudb")
    cmd = [os.path.abspath(SEAL), "-p", str(srv.port), "--timeout", str(timeout_s)] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def _session(srv, home, flags):
    """login, safeset, safeget (also as JSON) through the given connection flags."""
    p = seal(srv, home, *flags, "login", "immudb")
    assert p.returncode == 0, p.stderr
    p = seal(srv, home, *flags, "--json", "safeset", "greeting", "hello over tls")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["verified"] is True
    p = seal(srv, home, *flags, "--json", "safeget", "greeting")
    assert p.returncode == 0, p.stderr
    e = json.loads(p.stdout)
    assert e["value"] == "hello over tls" and e["verified"] is True


def _refused(p, *needles):
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    for n in needles:
        assert n in p.stderr, (n, p.stderr)
    assert "E1" not in p.stderr.split("seal:")[0]       # no gRPC log noise before seal's own message


def test_tls(sealdb_factory, pki, tmp_path):
    srv = sealdb_factory(args=["--certificate", pki("server.pem"), "--pkey", pki("server.key")])
    home = str(tmp_path)
    _session(srv, home, ["--tls", "--clientcas", pki("ca.pem"), "--servername", "localhost"])
    # --clientcas alone implies TLS
    p = seal(srv, home, "--clientcas", pki("ca.pem"), "--servername", "localhost", "safeget", "greeting")
    assert p.returncode == 0 and "hello over tls" in p.stdout, p.stderr
    # a server certificate from another CA is not trusted
    p = seal(srv, home, "--clientcas", pki("otherca.pem"), "--servername", "localhost", "safeget", "greeting")
    _refused(p, "certificate verify failed", "--clientcas")
    assert "hello over tls" not in p.stdout
    # the certificate names localhost, not 127.0.0.1
    p = seal(srv, home, "--clientcas", pki("ca.pem"), "health")
    _refused(p, "--servername")
    # plain text to a TLS server
    p = seal(srv, home, "health")
    _refused(p, "may require TLS")
    # JSON errors carry the hint too
    p = seal(srv, home, "--json", "--clientcas", pki("otherca.pem"), "--servername", "localhost", "health")
    assert p.returncode == 1
    err = json.loads(p.stdout)
    assert err["code"] == "NETWORK" and "--clientcas" in err["hint"]


def test_mtls(sealdb_factory, pki, tmp_path):
    srv = sealdb_factory(args=["--mtls", "--certificate", pki("server.pem"), "--pkey", pki("server.key"),
                               "--clientcas", pki("ca.pem")])
    home = str(tmp_path)
    good = ["-m", "--clientcas", pki("ca.pem"), "--certificate", pki("client.pem"), "--pkey", pki("client.key"),
            "--servername", "localhost"]
    _session(srv, home, good)
    p = seal(srv, home, *good, "--json", "history", "greeting")
    assert p.returncode == 0 and len(json.loads(p.stdout)["history"]) == 1
    # TLS without a client certificate
    p = seal(srv, home, "--tls", "--clientcas", pki("ca.pem"), "--servername", "localhost", "safeget", "greeting")
    _refused(p, "client certificate")
    assert "hello over tls" not in p.stdout
    # a client certificate signed by a CA the server does not trust
    p = seal(srv, home, "-m", "--clientcas", pki("ca.pem"), "--certificate", pki("stranger.pem"),
             "--pkey", pki("stranger.key"), "--servername", "localhost", "health")
    _refused(p, "client certificate")
    # --mtls without its files, a key without a certificate, a missing file: usage errors
    _refused(seal(srv, home, "-m", "--clientcas", pki("ca.pem"), "health"), "--certificate", "--pkey")
    _refused(seal(srv, home, "--clientcas", pki("ca.pem"), "--pkey", pki("client.key"), "health"), "--certificate")
    _refused(seal(srv, home, *good[:-2], "--servername", "localhost", "--certificate", pki("nope.pem"), "health"),
             "nope.pem")
