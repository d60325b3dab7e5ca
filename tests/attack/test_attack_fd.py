# test_attack_fd.py - file-descriptor exhaustion without credentials: with the common limit of 1024
# open files, 1,100 connections used to make gRPC's own listener fail accept4 with EMFILE and stop
# accepting for good. Now connections beyond --max-connections (kept below the fd limit) are refused at
# once, an authorized client keeps being served, and once the attacker leaves new clients get in.
import os
import resource
import socket
import stat
import time

import pytest

import sealdb_proc
from attack_util import Probe, bound

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture
def low_fd_server(sealdb_factory, monkeypatch, tmp_path):
    # the server starts under a hard limit of 1024 open files (a shell wrapper: ulimit then exec)
    wrapper = tmp_path / "sealdb-1024"
    wrapper.write_text('#!/bin/sh\nulimit -n 1024 || exit 3\nexec "%s" "$@"\n' % os.path.abspath(sealdb_proc.SEALDB_BIN))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sealdb_proc, "SEALDB_BIN", str(wrapper))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2600:
        pytest.skip("the test process needs 2600 fds")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2600), hard))
    return sealdb_factory()


def open_connections(address, n, preface):
    host, port = address.rsplit(":", 1)
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect((host, int(port)))
            if preface:
                s.sendall(PREFACE)
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def test_fd_exhaustion_refuses_then_recovers(low_fd_server):
    srv = low_fd_server
    assert "(fd limit 1024)" in srv.log()
    with Probe(srv) as probe:
        held = open_connections(srv.address, 1100, preface=True)
        held += open_connections(srv.address, 300, preface=False)
        time.sleep(1)
        # the authorized client (connected before) is still served
        c = probe._client
        assert c.get(probe.key).value == b"v"
        for s in held:
            s.close()
    probe.check(2.0)
    assert "refusing connections" in srv.log()
    assert "Failed accept4" not in srv.log()
    # the attacker left: a new client connects, logs in and reads within a bound
    deadline = time.monotonic() + bound(10)
    while True:
        try:
            c = srv.client()
            assert c.get(b"probe").value == b"v"
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert srv.proc.poll() is None


def test_max_connections_refuses_beyond_then_recovers(sealdb_factory):
    srv = sealdb_factory(["--max-connections", "5"])
    with Probe(srv) as probe:          # the probe's own connection is one of the 5
        held = open_connections(srv.address, 10, preface=True)
        time.sleep(0.5)
        alive = 0
        for s in held:
            s.settimeout(0.5)
            try:
                alive += s.recv(1024) != b""      # the server's SETTINGS: handed to gRPC
            except OSError:
                pass
        assert alive == 4, alive
        for s in held:
            s.close()
    probe.check(2.0)
    assert "--max-connections reached" in srv.log()
    deadline = time.monotonic() + bound(10)
    while True:
        try:
            assert srv.client().get(b"probe").value == b"v"
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("flag,value", [("--max-connections", "0"), ("--max-calls", "-1"),
                                        ("--max-stream-threads", "0"), ("--request-timeout", "0"),
                                        ("--handshake-timeout", "soon"), ("--login-queue", "0")])
def test_limit_flags_refuse_bad_values(flag, value, tmp_path):
    import subprocess
    r = subprocess.run([os.path.abspath(sealdb_proc.SEALDB_BIN), "--dir", str(tmp_path / "d"), flag, value],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert flag in r.stderr
