# test_cli_mock.py - seal against a scripted server (mock_immudb.py) replaying recorded proofs over
# real gRPC: an honest answer verifies, a tampered value or a rolled-back state gives exit code 2 and
# the tampered value is never printed.
import json
import os
import socket
import subprocess
import sys
import tempfile

import pytest

SEAL = os.environ.get("SEAL_BIN", "build/seal")
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mock():
    procs = []

    def start(mode, *tls):
        port = free_port()
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "mock_immudb.py"), str(port), mode] + list(tls),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        procs.append(p)
        return port

    yield start
    for p in procs:
        p.kill()
        p.wait()


def seal(port, home, *args):
    env = dict(os.environ, HOME=home, IMMUDB_PASSWORD="immudb")
    return subprocess.run([os.path.abspath(SEAL), "-p", str(port), "--username", "immudb"] + list(args),
                          capture_output=True, text=True, env=env, timeout=30)


def test_honest_answers_verify(mock):
    port = mock("honest")
    home = tempfile.mkdtemp()
    p = seal(port, home, "check-consistency")          # trust on first use: tx 13
    assert p.returncode == 0, p.stderr
    p = seal(port, home, "--json", "safeget", "alice")
    assert p.returncode == 0, p.stderr
    e = json.loads(p.stdout)
    assert e["value"] == "hello" and e["verified"] is True and e["tx"] == 1
    # through a reference: the reference entry and the referenced value are both proven
    p = seal(port, home, "--json", "safeget", "ref-alice")
    assert p.returncode == 0, p.stderr
    e = json.loads(p.stdout)
    assert e["key"] == "alice" and e["value"] == "hello" and e["reference"] == "ref-alice"
    p = seal(port, home, "--json", "state")
    assert json.loads(p.stdout)["states"][1]["tx"] == 13


def test_tampered_value_exit_2_and_not_printed(mock):
    port = mock("tamper-value")
    home = tempfile.mkdtemp()
    assert seal(port, home, "check-consistency").returncode == 0
    p = seal(port, home, "safeget", "alice")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "TAMPERED" not in p.stdout and "VERIFICATION FAILED" in p.stderr
    p = seal(port, home, "--json", "safeget", "alice")
    assert p.returncode == 2 and json.loads(p.stdout)["verification_failed"] is True
    # immudb's SDKs accept a tampered value behind a reference; seal proves it too
    p = seal(port, home, "safeget", "ref-alice")
    assert p.returncode == 2 and "TAMPERED" not in p.stdout, (p.stdout, p.stderr)


def test_rolled_back_server_exit_2(mock):
    home = tempfile.mkdtemp()
    port = mock("honest")
    assert seal(port, home, "check-consistency").returncode == 0
    # same server id, now presenting tx 11 < trusted 13
    port2 = mock("stale")
    p = seal(port2, home, "check-consistency")
    assert p.returncode == 2 and "older" in p.stderr, p.stderr
    p = seal(port2, home, "safeget", "alice")
    assert p.returncode == 2, (p.stdout, p.stderr)
    p = seal(port2, home, "audit", "--rounds", "1")
    assert p.returncode == 2


def make_certs(d):
    """A CA, a server certificate for localhost and a client certificate, with the openssl CLI."""
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), cwd=d, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
         "-out", "ca.pem", "-days", "2", "-subj", "/CN=seal-test-ca")
    for name, cn in (("server", "localhost"), ("client", "seal-client")):
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", "/CN=" + cn)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if name == "server" else "extendedKeyUsage=clientAuth\n")
        ossl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")


def test_tls_and_mtls(mock):
    d = tempfile.mkdtemp()
    make_certs(d)
    home = tempfile.mkdtemp()
    port = mock("honest", d)
    p = seal(port, home, "--tls", "--clientcas", os.path.join(d, "ca.pem"), "--servername", "localhost", "health")
    assert p.returncode == 0, p.stderr
    p = seal(port, home, "health")                     # plain text against a TLS server fails
    assert p.returncode == 1
    port = mock("honest", d, "mtls")
    base = ["--clientcas", os.path.join(d, "ca.pem"), "--servername", "localhost"]
    p = seal(port, home, *base, "--tls", "health")     # no client certificate: refused
    assert p.returncode == 1
    mtls = base + ["-m", "--certificate", os.path.join(d, "client.pem"), "--pkey", os.path.join(d, "client.key")]
    assert seal(port, home, *mtls, "check-consistency").returncode == 0
    p = seal(port, home, *mtls, "--json", "safeget", "alice")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["verified"] is True
