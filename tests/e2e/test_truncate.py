# test_truncate.py - TruncateDatabase through immudb-py's stub, the background truncator driven by
# truncationSettings, and `seal db truncate`: values older than the retention period are gone (a read
# answers immudb's UNKNOWN "EOF"), the disk shrinks, while every header, proof and `sealdb verify` stay
# valid. Old data is made by running the server under libfaketime three days in the past.
import os
import subprocess
import time

import grpc
import pytest
from immudb import datatypesv2
from immudb.grpc import schema_pb2

from sealcli import Env
from sealdb_proc import SEALDB_BIN, free_port

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
DAY_MS = 24 * 3600 * 1000
BIG = 1 << 20
OLD_KEYS = 12


def faketime(spec):
    # libfaketime (Debian package libfaketime, a --test dependency): fails, not skips, without it
    assert os.path.exists(FAKETIME_LIB), "libfaketime is missing: run scripts/install-deps.sh --test"
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": spec, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    if os.environ.get("ASAN_OPTIONS"):   # a sanitizer build: the preload comes before ASan's runtime
        env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":verify_asan_link_order=0"
    return env


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value.code().name, e.value.details()


def truncate(c, db, retention_ms):
    return c._stub.TruncateDatabase(schema_pb2.TruncateDatabaseRequest(database=db, retentionPeriod=retention_ms))


def journal_bytes(srv, db):
    d = os.path.join(srv.dir, db, "journal")
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for f in os.listdir(d) if f.endswith(".seg"))


def value(i):
    return bytes([i % 251]) * BIG


@pytest.fixture
def old_db(sealdb_factory):
    """A server whose database `tdb` got OLD_KEYS 1 MiB values three days ago (one tx each, key
    old<i>, plus `small` in the first tx), then restarted on the real clock."""
    srv = sealdb_factory(env=faketime("-3d"))
    c = srv.client()
    c.createDatabase(b"tdb")
    c.useDatabase(b"tdb")
    c.setAll({b"old0": value(0), b"small": b"tiny"})
    for i in range(1, OLD_KEYS):
        c.set(b"old%d" % i, value(i))
    c.shutdown()
    srv.stop()
    srv.env = None
    # fresh ports: the machine is shared, and a port freed by the stop may be taken meanwhile
    srv.port, srv.metrics_port, srv.web_port = free_port(), free_port(), free_port()
    srv.start()
    return srv


def test_truncate_discards_old_values_proofs_stay(old_db):
    srv = old_db
    c = srv.client()
    c.useDatabase(b"tdb")
    c.set(b"fresh", b"kept value")
    assert c.verifiedGet(b"fresh").value == b"kept value"     # the client now trusts a state
    last_old = c.get(b"old%d" % (OLD_KEYS - 1)).tx
    before = journal_bytes(srv, "tdb")

    r = truncate(c, "tdb", DAY_MS)
    assert r.database == "tdb"

    # below the newest tx of the old day: values gone, with immudb's error
    assert err(c.get, b"old0") == ("UNKNOWN", "EOF")
    assert err(c.get, b"small") == ("UNKNOWN", "EOF")
    assert err(c.get, b"old5") == ("UNKNOWN", "EOF")
    assert err(c.verifiedGet, b"old3") == ("UNKNOWN", "EOF")
    assert err(c.history, b"old2", 0, 10, False) == ("UNKNOWN", "EOF")
    assert err(c.scan, b"", b"old", False, 100) == ("UNKNOWN", "EOF")
    assert err(c.streamGetFull, b"old4") == ("UNKNOWN", "EOF")
    assert err(c.streamVerifiedGet, b"old4") == ("UNKNOWN", "EOF")
    assert err(lambda: list(c.streamHistory(b"old4"))) == ("UNKNOWN", "EOF")
    assert c.getAll([b"fresh"]) == {b"fresh": b"kept value"}
    assert err(c.getAll, [b"fresh", b"old6"]) == ("UNKNOWN", "EOF")
    # the newest old tx keeps its value (immudb truncates strictly below it), new data too
    assert c.get(b"old%d" % (OLD_KEYS - 1)).value == value(OLD_KEYS - 1)
    assert c.verifiedGet(b"fresh").value == b"kept value"     # proof from the trusted state verifies
    c.set(b"after", b"written after truncation")
    assert c.verifiedGet(b"after").value == b"written after truncation"
    # headers of truncated txs still verify (no value is needed for the tx proofs)
    assert c.verifiedTxById(2)
    assert len(c.txById(3)) == 1                                # tx 3 = old2: its entry is listed

    # the disk gave back (almost) every discarded MiB
    after = journal_bytes(srv, "tdb")
    assert before - after >= (OLD_KEYS - 2) * BIG, (before, after)
    assert last_old == OLD_KEYS

    # offline verification passes; the server's scrubber found nothing on reopen
    c.shutdown()
    srv.stop()
    p = subprocess.run([os.path.abspath(SEALDB_BIN), "verify", "--dir", srv.dir], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "discarded by truncation" in p.stdout + p.stderr
    srv.start()
    c = srv.client()
    c.useDatabase(b"tdb")
    assert err(c.get, b"old1") == ("UNKNOWN", "EOF")
    assert c.get(b"fresh").value == b"kept value"
    assert "DAMAGED" not in srv.log()
    # a second truncation with the same retention has nothing more to do
    truncate(c, "tdb", DAY_MS)
    assert c.get(b"old%d" % (OLD_KEYS - 1)).value == value(OLD_KEYS - 1)


def test_truncate_checks_and_messages(old_db):
    srv = old_db
    c = srv.client()
    assert err(truncate, c, "defaultdb", DAY_MS) == ("INTERNAL", "database is reserved")
    assert err(truncate, c, "systemdb", DAY_MS) == ("INTERNAL", "database is reserved")
    bad = ("INVALID_ARGUMENT", "rpc error: code = InvalidArgument desc = illegal arguments: invalid retention "
           "period for database 'tdb'. RetentionPeriod should at least '24h0m0s' hours")
    assert err(truncate, c, "tdb", DAY_MS - 1) == bad
    assert err(truncate, c, "tdb", -1) == bad
    assert err(truncate, c, "nosuch", DAY_MS) == ("UNKNOWN", "database does not exist")
    # a database whose txs are all newer than the truncation point
    c.createDatabase(b"newdb")
    c.useDatabase(b"newdb")
    assert err(truncate, c, "newdb", DAY_MS) == ("UNKNOWN", "retention period has not been reached")
    c.set(b"k", b"v")
    assert err(truncate, c, "newdb", DAY_MS) == ("UNKNOWN", "retention period has not been reached")
    # a user without admin permission on the database
    c.createUser("reader", "Reader1!pass", 1, "tdb")
    r = srv.client("reader", "Reader1!pass", database="tdb")
    assert err(truncate, r, "tdb", DAY_MS) == (
        "UNKNOWN", "the database 'tdb' does not exist or you do not have admin permission on this database")
    # an unloaded database
    c.unloadDatabase("tdb")
    assert err(truncate, c, "tdb", DAY_MS) == ("UNKNOWN", "already closed")
    c.loadDatabase("tdb")
    c.useDatabase(b"tdb")
    assert c.get(b"old1").value == value(1)                    # nothing was truncated by the refusals


def test_truncate_refused_without_auth(sealdb_factory):
    srv = sealdb_factory(args=["--auth=false"])
    from immudb import ImmudbClient
    c = ImmudbClient(srv.address)
    assert err(truncate, c, "anydb", DAY_MS) == ("INVALID_ARGUMENT", "authentication must be on")


def test_background_truncator_from_settings(old_db):
    srv = old_db
    c = srv.client()
    c.updateDatabaseV2("tdb", datatypesv2.DatabaseSettingsV2(
        truncationSettings=datatypesv2.TruncationSettings(retentionPeriod=DAY_MS, truncationFrequency=3600 * 1000)))
    c.useDatabase(b"tdb")
    ts = c.getDatabaseSettingsV2().settings.truncationSettings
    assert (ts.retentionPeriod, ts.truncationFrequency) == (DAY_MS, 3600 * 1000), ts
    assert c.get(b"old1").value == value(1)                    # nothing runs before one period
    c.shutdown()
    # one real second = one hour: the truncator's first run (one period after start) comes in a second
    srv.stop()
    srv.env = faketime("+0 x3600")
    srv.start()
    deadline = time.time() + 30
    while "discarded (retention period" not in srv.log() and time.time() < deadline:
        time.sleep(0.2)
    assert "discarded (retention period 86400000 ms)" in srv.log(), srv.log()[-2000:]
    srv.stop()
    srv.env = None
    srv.start()
    c = srv.client()
    c.useDatabase(b"tdb")
    assert err(c.get, b"old1") == ("UNKNOWN", "EOF")
    assert c.get(b"old%d" % (OLD_KEYS - 1)).value == value(OLD_KEYS - 1)


def test_seal_db_truncate(old_db):
    srv = old_db
    home = os.path.join(srv.root, "home")
    os.makedirs(home, exist_ok=True)
    env = Env(srv, home)
    env.ok("login", "immudb")
    p = env.run("db", "truncate", "tdb", "--retention-period", "24h")
    assert p.returncode == 1 and "--yes-i-know-what-i-am-doing" in p.stderr
    p = env.run("db", "truncate", "tdb", "--retention-period", "3x", "--yes-i-know-what-i-am-doing")
    assert p.returncode == 1 and "--retention-period" in p.stderr
    p = env.run("db", "truncate", "tdb", "--retention-period", "23h59m", "--yes-i-know-what-i-am-doing")
    assert p.returncode == 1 and "RetentionPeriod should at least '24h0m0s' hours" in p.stderr
    c = srv.client()
    c.useDatabase(b"tdb")
    assert c.get(b"old1").value == value(1)                    # refusals change nothing
    out = env.js("db", "truncate", "tdb", "--retention-period", "36h", "--yes-i-know-what-i-am-doing")
    assert out["database"] == "tdb" and out["result"] == "truncated"
    assert err(c.get, b"old1") == ("UNKNOWN", "EOF")


def test_seal_db_update_truncation_settings(sealdb_factory):
    srv = sealdb_factory()
    home = os.path.join(srv.root, "home")
    os.makedirs(home, exist_ok=True)
    env = Env(srv, home)
    env.ok("login", "immudb")
    env.ok("db", "create", "sdb")
    p = env.run("db", "create", "other", "--retention-period", "48h")
    assert p.returncode == 1 and "db update" in p.stderr
    p = env.run("db", "update", "sdb", "--retention-period", "-48h")
    assert p.returncode == 1 and "negative" in p.stderr
    p = env.run("db", "update", "sdb", "--truncation-frequency", "30m")
    assert p.returncode == 1 and "TruncationFrequency should at least '1' hour" in p.stderr
    env.ok("db", "update", "sdb", "--retention-period", "48h", "--truncation-frequency", "2h")
    c = srv.client()
    c.useDatabase(b"sdb")
    ts = c.getDatabaseSettingsV2().settings.truncationSettings
    assert (ts.retentionPeriod, ts.truncationFrequency) == (2 * DAY_MS, 2 * 3600 * 1000)
    env.ok("db", "update", "sdb", "--retention-period", "0")
    ts = c.getDatabaseSettingsV2().settings.truncationSettings
    assert (ts.retentionPeriod or 0, ts.truncationFrequency) == (0, 2 * 3600 * 1000)


def test_rest_db_truncate(old_db):
    from test_rest_api import b64, call, login
    srv = old_db
    tok = login(srv)
    st, js, _ = call(srv, "GET", "/api/db/use/tdb", token=tok)
    assert st == 200, js
    tok = js["token"]
    st, js, _ = call(srv, "POST", "/api/db/truncate", {"database": "tdb", "retentionPeriod": str(DAY_MS - 1)}, tok)
    assert st == 400 and js["code"] == 3 and "RetentionPeriod should at least '24h0m0s' hours" in js["message"], js
    st, js, _ = call(srv, "POST", "/api/db/truncate", {"database": "tdb", "retentionPeriod": str(DAY_MS)}, tok)
    assert (st, js) == (200, {"database": "tdb"}), js
    st, js, _ = call(srv, "POST", "/api/db/verifiable/get", {"keyRequest": {"key": b64("old1")}}, tok)
    assert js["code"] == 2 and js["message"] == "EOF", (st, js)
    c = srv.client()
    c.useDatabase(b"tdb")
    assert err(c.get, b"old1") == ("UNKNOWN", "EOF")
