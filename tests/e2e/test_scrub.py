# test_scrub.py - a copied data directory with one byte changed (in an old value, an old key, a tx
# header, or a derived file) is caught by the server itself: at open (the re-check of the chain's
# tail) or by the background scrub within its interval. The failure shows in the log, in /metrics and
# in `seal scrub-status` (exit 2), and a plain get of a damaged key answers DataLoss naming the tx
# instead of the forged value; a damaged derived file is rewritten from the journal instead. The
# scrub's read rate limit really limits, --scrub-interval 0 turns it off, bad flag values are refused.
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc
import pytest

from sealdb_proc import SEALDB_BIN, SealdbServer
from test_cli_tamper import FRAME, journal_files, records, reseal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "attack"))
from attack_util import bound  # noqa: E402

SEAL = os.path.abspath(os.environ.get("SEAL_BIN", "build/seal"))
OLD_VALUE = b"original-value-of-the-victim"
VICTIM = b"victim-key"
NEWER = 1100          # txs written after the victim: more than the open check's tail of 1000


def metrics(srv):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=10) as r:
        return r.read().decode()


def metric(srv, name, db="defaultdb"):
    m = re.search(r'^%s\{db="%s"\} (\S+)$' % (name, db), metrics(srv), re.M)
    return float(m.group(1)) if m else None


def wait_metric(srv, name, pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = metric(srv, name)
        if v is not None and pred(v):
            return v
        time.sleep(0.1)
    raise AssertionError("%s never satisfied the condition; log:\n%s" % (name, srv.log()[-3000:]))


def seal(srv, *args):
    home = os.path.join(srv.root, "home")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=home, IMMUDB_PASSWORD="immudb")
    cmd = [SEAL, "-p", str(srv.port), "--metrics-port", str(srv.metrics_port)] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def template():
    """A data directory: the victim in an early tx, then NEWER txs; the server stopped."""
    root = tempfile.mkdtemp(prefix="sealdb-scrub-")
    srv = SealdbServer(root).start()
    try:
        c = srv.client()
        victim_tx = c.set(VICTIM, OLD_VALUE).id
        for i in range(NEWER):
            c.set(b"k%d" % i, b"v%d" % i)
        c.shutdown()
    finally:
        srv.stop()
    yield root, victim_tx
    shutil.rmtree(root, ignore_errors=True)


def copy_of(template, args):
    root = tempfile.mkdtemp(prefix="sealdb-scrub-copy-")
    shutil.copytree(os.path.join(template, "data"), os.path.join(root, "data"))
    return SealdbServer(root, args)


def defaultdb_segments(srv):
    return [p for p in journal_files(srv.dir) if os.sep + "defaultdb" + os.sep in p]


def flip_in_record(srv, needle, where, resealed=False):
    """Changes one byte of the record holding needle in its values part: where = "value" (a byte of
    the value), "key" (a byte of the victim key in the entry) or "header" (the low byte of ts)."""
    for path in defaultdb_segments(srv):
        with open(path, "rb") as f:
            buf = bytearray(f.read())
        for off, meta_len, vals_len in records(buf):
            vals = off + FRAME + meta_len
            i = bytes(buf[vals:vals + vals_len]).find(needle)
            if i < 0:
                continue
            if where == "value":
                at = vals + i + 3
            elif where == "key":
                at = off + FRAME + bytes(buf[off + FRAME:vals]).find(VICTIM) + 2
            else:
                at = off + FRAME + 8 + 32 + 7          # header: u64 id, prevAlh[32], i64 ts (its low byte)
            buf[at] ^= 0x01
            if resealed:
                reseal(buf, off, meta_len, vals_len)
            with open(path, "r+b") as f:
                f.write(buf)
            return
    raise AssertionError("needle not found in the journal")


def assert_damaged(srv, victim_tx):
    assert metric(srv, "sealdb_scrub_failures_total") >= 1
    assert metric(srv, "sealdb_scrub_first_damaged_tx") == victim_tx
    log = srv.log()
    assert re.search(r"tx %d FAILED its integrity check" % victim_tx, log), log[-3000:]
    # plain reads refuse the damaged tx: immudb-py sees DataLoss naming the tx
    c = srv.client()
    with pytest.raises(grpc.RpcError) as ei:
        c.get(VICTIM)
    assert ei.value.code() == grpc.StatusCode.DATA_LOSS
    assert "integrity check at tx %d" % victim_tx in ei.value.details()
    with pytest.raises(grpc.RpcError) as ei:
        c.history(VICTIM, 0, 10, False)
    assert ei.value.code() == grpc.StatusCode.DATA_LOSS
    with pytest.raises(grpc.RpcError) as ei:
        c.getAll([VICTIM, b"k5"])
    assert ei.value.code() == grpc.StatusCode.DATA_LOSS
    # the rest of the database still answers
    assert c.get(b"k5").value == b"v5"
    c.shutdown()
    p = seal(srv, "login", "immudb")
    assert p.returncode == 0, p.stderr
    p = seal(srv, "get", VICTIM.decode())
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "original" not in p.stdout and "integrity check at tx %d" % victim_tx in p.stderr
    p = seal(srv, "scrub-status")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "DAMAGED" in p.stdout and "first_damaged_tx" in p.stdout


@pytest.mark.parametrize("where,resealed", [("value", False), ("value", True), ("key", False), ("header", False)])
def test_old_tx_tampered_is_found_by_the_scrub(template, where, resealed):
    root, victim_tx = template
    srv = copy_of(root, ["--scrub-interval=1s", "--scrub-rate=64"])
    flip_in_record(srv, OLD_VALUE, where, resealed)
    srv.start()
    try:
        # too old for the open check (which ran and saw nothing): the first pass finds it
        wait_metric(srv, "sealdb_scrub_failures_total", lambda v: v >= 1, bound(30))
        assert re.search(r"open check: txs \d+\.\.\d+ re-checked from the journal .*intact", srv.log())
        assert_damaged(srv, victim_tx)
    finally:
        srv.stop()
        shutil.rmtree(srv.root, ignore_errors=True)


def test_recent_tx_tampered_is_found_at_open(template):
    root, _ = template
    srv = copy_of(root, ["--scrub-interval=0"])
    # the last tx but one: inside the open check's tail, and not the last record (which recovery
    # itself already checks)
    flip_in_record(srv, b"v%d" % (NEWER - 2), "value")
    srv.start()
    try:
        log = srv.log()
        assert "integrity scrub: off" in log
        assert re.search(r"open check: .*DAMAGED", log), log[-3000:]
        # no scrub ran: the open check alone found it
        assert metric(srv, "sealdb_scrub_passes_total") == 0
        assert metric(srv, "sealdb_scrub_failures_total") == 1
        c = srv.client()
        with pytest.raises(grpc.RpcError) as ei:
            c.get(b"k%d" % (NEWER - 2))
        assert ei.value.code() == grpc.StatusCode.DATA_LOSS
        assert c.get(b"k%d" % (NEWER - 1)).value == b"v%d" % (NEWER - 1)
        c.shutdown()
    finally:
        srv.stop()
        shutil.rmtree(srv.root, ignore_errors=True)


def test_scrub_interval_zero_disables_it(template):
    root, victim_tx = template
    srv = copy_of(root, ["--scrub-interval=0"])
    flip_in_record(srv, OLD_VALUE, "value", resealed=True)
    srv.start()
    try:
        time.sleep(2)
        assert metric(srv, "sealdb_scrub_passes_total") == 0
        assert metric(srv, "sealdb_scrub_failures_total") == 0
        assert "pass complete" not in srv.log()
    finally:
        srv.stop()
        shutil.rmtree(srv.root, ignore_errors=True)


def test_damaged_derived_file_is_rewritten(template):
    root, victim_tx = template
    srv = copy_of(root, ["--scrub-interval=1s", "--scrub-rate=64"])
    txindex = os.path.join(srv.dir, "defaultdb", "txindex")
    with open(txindex, "r+b") as f:                  # one byte of the victim's Alh in its record
        f.seek((victim_tx - 1) * 64 + 20)
        b = f.read(1)
        f.seek((victim_tx - 1) * 64 + 20)
        f.write(bytes([b[0] ^ 0x01]))
    srv.start()
    try:
        wait_metric(srv, "sealdb_scrub_repaired_total", lambda v: v >= 1, bound(30))
        wait_metric(srv, "sealdb_scrub_passes_total", lambda v: v >= 1, bound(30))
        assert metric(srv, "sealdb_scrub_failures_total") == 0
        assert "tx index record of tx %d differed from the journal: rewritten" % victim_tx in srv.log()
        c = srv.client()
        assert c.get(VICTIM).value == OLD_VALUE
        assert c.verifiedGet(VICTIM).value == OLD_VALUE
        c.shutdown()
        p = seal(srv, "scrub-status")
        assert p.returncode == 0 and "intact" in p.stdout, (p.returncode, p.stdout, p.stderr)
    finally:
        srv.stop()
    try:
        p = subprocess.run([SEALDB_BIN, "verify", "--dir", srv.dir], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        shutil.rmtree(srv.root, ignore_errors=True)


def test_scrub_rate_limit_limits(sealdb_factory):
    srv = sealdb_factory(["--scrub-interval=0"])
    c = srv.client()
    for i in range(24):                               # 24 x 256 KiB = 6 MiB of values
        c.set(b"big%d" % i, os.urandom(256 << 10))
    c.shutdown()
    srv.stop()
    srv.args = ["--scrub-interval=1h", "--scrub-rate=2"]
    t0 = time.time()
    srv.start()
    deadline = t0 + bound(60)
    m = None
    while time.time() < deadline and not m:
        m = re.search(r"scrub: \S*defaultdb: pass complete: txs 1\.\.\d+ \((\d+) bytes\) in ([0-9.]+) s", srv.log())
        time.sleep(0.1)
    assert m, srv.log()[-3000:]
    nbytes, secs = int(m.group(1)), float(m.group(2))
    assert nbytes >= 6 << 20
    limit = 2 << 20
    assert secs >= nbytes / limit * 0.99, (nbytes, secs)
    assert time.time() - t0 >= nbytes / limit * 0.99
    assert metric(srv, "sealdb_scrub_last_run_seconds") >= nbytes / limit * 0.99


@pytest.mark.parametrize("flag,value", [
    ("--scrub-interval", "-1"), ("--scrub-interval", "abc"), ("--scrub-interval", "500ms"),
    ("--scrub-interval", "721h"), ("--scrub-rate", "0"), ("--scrub-rate", "-5"),
    ("--scrub-rate", "100001"), ("--scrub-rate", "fast")])
def test_bad_scrub_flags_are_refused(tmp_path, flag, value):
    p = subprocess.run([SEALDB_BIN, "--dir", str(tmp_path / "data"), "-p", "0", "--metrics-server=false",
                        flag + "=" + value],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "invalid" in p.stderr and flag in p.stderr and value in p.stderr and "ignoring" not in p.stderr, p.stderr


def test_scrub_flags_in_help():
    out = subprocess.run([SEALDB_BIN, "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "--scrub-interval" in out and "--scrub-rate" in out
