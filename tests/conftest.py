# conftest.py - fixtures shared by the end-to-end (e2e/) and attack (attack/) tests: a real sealdb process
# (e2e/sealdb_proc.py) on a temporary directory and free ports (restartable on the same directory), and
# logged-in immudb-py clients.
import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from sealdb_proc import SEALDB_BIN, SealdbServer, free_port  # noqa: F401 (shared with the test modules)


@pytest.fixture
def sealdb_factory():
    """Makes servers with custom flags; all are stopped at the end of the test."""
    made = []
    dirs = []

    def make(args=(), env=None, start=True):
        d = tempfile.mkdtemp(prefix="sealdb-e2e-")
        dirs.append(d)
        s = SealdbServer(d, args, env)
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in made:
        try:
            s.stop()
        except Exception:
            pass
    for d in dirs:
        subprocess.run(["rm", "-rf", d])


@pytest.fixture
def sealdb(sealdb_factory):
    """A fresh running server with default settings."""
    return sealdb_factory()


@pytest.fixture
def client(sealdb):
    """An immudb-py client logged in as immudb/immudb on defaultdb."""
    c = sealdb.client()
    yield c
    try:
        c.shutdown()
    except Exception:
        pass


def _server_modules():
    try:
        out = subprocess.run([os.path.abspath(SEALDB_BIN), "version"], capture_output=True, text=True,
                             timeout=10).stdout
    except OSError:
        return set()
    for line in out.splitlines():
        if line.startswith("rpc modules:"):
            return set(line.split(":", 1)[1].split())
    return set()


# Integration gaps known when the KV module was linked into the server (owners: see the reason).
KNOWN_BROKEN = {
}


def pytest_collection_modifyitems(config, items):
    """Until the KV module is linked into sealdb, tests that need KV RPCs against the real binary are
    skipped (server-only tests, test_server_*.py, and binary-free tests still run)."""
    if "kv" in _server_modules():
        for item in items:
            key = os.path.basename(str(item.fspath)) + "::" + item.name
            if key in KNOWN_BROKEN:
                item.add_marker(pytest.mark.xfail(reason=KNOWN_BROKEN[key], strict=False))
        return
    skip = pytest.mark.skip(reason="this sealdb build has no KV module yet")
    for item in items:
        base = os.path.basename(str(item.fspath))
        if base.startswith("test_server_"):
            continue
        item.add_marker(skip)
