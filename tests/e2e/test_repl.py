# test_repl.py - replication between two real sealdb servers (docs/replication.md): exportTx and
# replicateTx through immudb-py (a tx copied keeps its id, header and Alh; immudb's errors), replica
# databases refusing client writes, a replica that follows its primary through the C client and
# catches up after kill -9 of itself and of the primary under write load, promotion, and a
# primary whose history differs from the replica's refused loudly.
import threading
import time
import urllib.request

import grpc
import pytest
from immudb import datatypesv2
from immudb.grpc import schema_pb2

from test_truncate import DAY_MS, OLD_KEYS, old_db, truncate  # noqa: F401 (old_db: fixture)


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        r = fn(*a, **kw)
        if hasattr(r, "__iter__") and not isinstance(r, (bytes, str)):
            list(r)
    return e.value.code().name, e.value.details()


def replica_settings(**kw):
    return datatypesv2.DatabaseSettingsV2(replicationSettings=datatypesv2.ReplicationSettings(replica=True, **kw))


def follow_settings(primary, db="defaultdb"):
    # immudb-py 1.5.0 sends primaryUsername as primaryPassword: fine here (both "immudb");
    # follow_pb below sends a real password
    return replica_settings(primaryHost="127.0.0.1", primaryPort=primary.port, primaryDatabase=db,
                            primaryUsername="immudb", primaryPassword="immudb")


def follow_pb(primary, password, db="defaultdb"):
    S = schema_pb2
    return S.DatabaseNullableSettings(replicationSettings=S.ReplicationNullableSettings(
        replica=S.NullableBool(value=True), primaryDatabase=S.NullableString(value=db),
        primaryHost=S.NullableString(value="127.0.0.1"), primaryPort=S.NullableUint32(value=primary.port),
        primaryUsername=S.NullableString(value="immudb"), primaryPassword=S.NullableString(value=password)))


def metrics(srv):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=10) as r:
        return r.read().decode()


def header(c, t):
    return c._stub.TxById(schema_pb2.TxRequest(tx=t)).header


def state(c):
    s = c.currentState()
    return s.txId, s.txHash


def wait_for(cond, timeout=30, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def write_some(c):
    c.set(b"alpha", b"one")
    c.setReference(b"alpha", b"ref-alpha")
    c.zAdd(b"scores", 3.5, b"alpha")
    c.set(b"big", bytes((i * 7 + 3) & 0xFF for i in range(70000)))
    c.delete(datatypesv2.DeleteKeysRequest(keys=[b"alpha"]))
    c.expireableSet(b"soon", b"gone", datetime_in(3600))


def datetime_in(seconds):
    import datetime
    return datetime.datetime.now() + datetime.timedelta(seconds=seconds)


def test_export_replicate_through_immudb_py(sealdb_factory):
    a, b = sealdb_factory(), sealdb_factory()
    ca, cb = a.client(), b.client()
    write_some(ca)
    last = state(ca)[0]
    chunks = list(ca.exportTx(1))
    assert len(chunks) == 1 and int.from_bytes(chunks[0].content[:8], "big") == len(chunks[0].content) - 8
    # the 70000-byte value: immudb's chunking, 65536 then the rest
    big_tx = next(t for t in range(1, last + 1) if len(list(ca.exportTx(t))) == 2)
    assert [len(ch.content) for ch in ca.exportTx(big_tx)][0] == 65536
    assert err(ca.exportTx, 0) == ("INVALID_ARGUMENT", "illegal arguments")
    assert err(ca.exportTx, last + 1) == ("UNKNOWN", "EOF")
    # replicateTx only into replica databases
    assert err(cb.replicateTx, ca.exportTx(1)) == ("UNKNOWN", "database is NOT a replica")
    cb.createDatabaseV2("rep", replica_settings(), False)
    cb.useDatabase(b"rep")
    assert err(cb.replicateTx, ca.exportTx(2)) == \
        ("FAILED_PRECONDITION", "illegal arguments: tx 2 is not the next transaction: expected tx 1")
    for t in range(1, last + 1):
        h = cb.replicateTx(ca.exportTx(t))
        want = header(ca, t)
        assert h.id == t and h.prevAlh == want.prevAlh and h.eH == want.eH and h.ts == want.ts
    assert state(cb) == state(ca)
    assert cb.get(b"big").value == ca.get(b"big").value
    assert err(cb.replicateTx, ca.exportTx(1)) == ("UNKNOWN", "tx already committed")
    # client writes are refused on a replica, reads served, and it can feed another replica
    assert err(cb.set, b"x", b"y") == ("UNKNOWN", "database is read-only because it's a replica")
    assert err(cb.setReference, b"big", b"r2") == ("UNKNOWN", "database is read-only because it's a replica")
    assert [ch.content for ch in cb.exportTx(last)] == [ch.content for ch in ca.exportTx(last)]
    # a tx whose value was changed after export is refused (eH), and so is a short stream
    raw = bytearray(b"".join(ch.content for ch in ca.exportTx(1)))
    ca.set(b"next", b"v")
    raw = bytearray(b"".join(ch.content for ch in ca.exportTx(last + 1)))
    raw[-5] ^= 1
    assert err(cb.replicateTx, [schema_pb2.Chunk(content=bytes(raw))]) == \
        ("UNKNOWN", "illegal arguments: entries hash (Eh) differs")
    assert err(cb.replicateTx, [schema_pb2.Chunk(content=bytes(raw[:-20]))]) == ("UNKNOWN", "EOF")
    assert err(cb.replicateTx, []) == ("UNKNOWN", "EOF")
    # sealdb-expected-alh (request metadata): the tx must hash to it before it is committed
    good = [schema_pb2.Chunk(content=b"".join(ch.content for ch in ca.exportTx(last + 1)))]
    alh = state(ca)[1]
    bad_alh = bytes([alh[0] ^ 1]) + alh[1:]
    assert err(cb._stub.replicateTx, iter(good), metadata=(("sealdb-expected-alh", bad_alh.hex()),)) == \
        ("UNKNOWN", "illegal arguments: tx %d does not have the expected Alh" % (last + 1))
    assert err(cb._stub.replicateTx, iter(good), metadata=(("sealdb-expected-alh", "zz"),))[0] == "INVALID_ARGUMENT"
    assert cb._stub.replicateTx(iter(good), metadata=(("sealdb-expected-alh", alh.hex()),)).id == last + 1
    last += 1
    # settings: a replica reports its defaults, promotion clears them and accepts writes
    s = cb.getDatabaseSettingsV2().settings.replicationSettings
    assert s.replica and s.prefetchTxBufferSize == 100 and s.replicationCommitConcurrency == 10
    r = cb.updateDatabaseV2("rep", datatypesv2.DatabaseSettingsV2(
        replicationSettings=datatypesv2.ReplicationSettings(replica=False)))
    assert not r.settings.replicationSettings.replica and not r.settings.replicationSettings.prefetchTxBufferSize
    assert cb.set(b"x", b"y").id == last + 1
    assert err(cb.replicateTx, ca.exportTx(1)) == ("UNKNOWN", "database is NOT a replica")


def writer(c, stop, prefix, acked):
    i = 0
    while not stop.is_set():
        try:
            h = c.set(b"%s-%d" % (prefix, i), b"v%d" % i)
            acked.append(h.id)
        except Exception:
            time.sleep(0.05)
        i += 1


def test_replica_follows_primary_through_kill9(sealdb_factory):
    a, b = sealdb_factory(), sealdb_factory()
    ca, cb = a.client(), b.client()
    for i in range(20):
        ca.set(b"k%d" % i, b"v%d" % i)
    cb.createDatabaseV2("f", follow_settings(a), False)
    cf = b.client(database="f")
    wait_for(lambda: state(cf) == state(ca), what="replica to catch up")
    assert err(cf.set, b"x", b"y") == ("UNKNOWN", "database is read-only because it's a replica")
    # the primary's password is never sent back (W10)
    assert cf.getDatabaseSettingsV2().settings.replicationSettings.primaryPassword == "******"
    # a replica with a wrong password says why it does not follow
    cb._stub.CreateDatabaseV2(schema_pb2.CreateDatabaseRequest(name="wrongpw", settings=follow_pb(a, "nope")))
    wait_for(lambda: "replication of database wrongpw: cannot reach the primary" in b.log() and
             "invalid user name or password" in b.log(), what="the login failure in the log")
    assert 'sealdb_replication_failures_total{db="wrongpw"} 0' not in metrics(b)
    # a second external importer is refused while the replicator runs
    assert err(cf.replicateTx, ca.exportTx(1)) == ("INTERNAL", "replication already in progress")

    # kill -9 of the replica under load, then of the primary (restarted on its port)
    stop, acked = threading.Event(), []
    th = threading.Thread(target=writer, args=(a.client(), stop, b"load", acked))
    th.start()
    try:
        time.sleep(1.0)
        b.kill9()
        time.sleep(0.5)
        b.start()
        time.sleep(1.0)
        port = a.port
        a.kill9()
        a.port = port
        time.sleep(0.3)
        a.start()
        time.sleep(1.0)
    finally:
        stop.set()
        th.join()
    assert len(acked) > 10
    ca = a.client()
    cf = b.client(database="f")
    wait_for(lambda: state(cf) == state(ca), timeout=60, what="replica to catch up after the kills")
    last = state(ca)[0]
    assert last >= max(acked)
    for t in (1, last // 2, last):
        assert header(ca, t) == header(cf, t)
    assert cf.get(b"load-0").value == b"v0"
    # the replica's proofs verify against the primary's states
    assert cf.verifiedGet(b"k3").value == b"v3"


def test_catch_up_over_many_answers(sealdb_factory):
    """A new asynchronous replica catches up a history of many export answers (256 txs or 4 MiB
    each), importing one answer while it fetches the next: every tx is the primary's, each is
    counted once, and its reads answer from the replica."""
    a, b = sealdb_factory(), sealdb_factory()
    ca, cb = a.client(), b.client()
    for i in range(600):
        ca.setAll({b"k%05d-%d" % (i, j): b"v%d-%d" % (i, j) for j in range(10)})
    big = bytes((i * 13 + 5) & 0xFF for i in range(300000))
    for i in range(30):                 # ~9 MB: answers cut by bytes too
        ca.set(b"big%d" % i, big)
    for i in range(100):
        ca.set(b"tail%d" % i, b"t")
    cb.createDatabaseV2("f", follow_settings(a), False)
    cf = b.client(database="f")
    wait_for(lambda: state(cf) == state(ca), timeout=120, what="replica to catch up")
    last = state(ca)[0]
    for t in (1, 255, 256, 257, 512, 513, 600, 601, 615, 631, last):
        assert header(ca, t) == header(cf, t)
    wait_for(lambda: 'sealdb_replication_imported_txs_total{db="f"} %d\n' % last in metrics(b),
             what="the imported count")
    assert cf.get(b"k00300-5").value == b"v300-5"
    assert cf.get(b"big29").value == big
    assert cf.verifiedGet(b"tail99").value == b"t"


def test_diverged_primary_is_refused(sealdb_factory):
    a, c_, b = sealdb_factory(), sealdb_factory(), sealdb_factory()
    ca, cc, cb = a.client(), c_.client(), b.client()
    for i in range(5):
        ca.set(b"a%d" % i, b"x")
    for i in range(10):
        cc.set(b"c%d" % i, b"y")     # another history: same ids, different txs
    cb.createDatabaseV2("f", follow_settings(a), False)
    cf = b.client(database="f")
    wait_for(lambda: state(cf) == state(ca), what="replica to catch up")
    # point the replica at the other server: its tx 6 does not continue the replica's tx 5
    cb.updateDatabaseV2("f", follow_settings(c_))
    wait_for(lambda: "diverged" in b.log(), what="the divergence to be logged")
    assert "error: replication of database f stopped: primary 127.0.0.1:%d/defaultdb diverged at tx 6" % c_.port in b.log()
    time.sleep(0.5)
    assert state(cf) == state(ca)     # nothing of the other history was imported
    m = metrics(b)
    assert "sealdb_replication_divergences_total 1" in m
    assert 'sealdb_replication_diverged{db="f"} 1' in m and 'sealdb_replication_running{db="f"} 0' in m
    # a stopped replicator no longer blocks a manual import (W4)
    cf.useDatabase(b"f")
    assert err(cf.replicateTx, cc.exportTx(6))[1] == "illegal arguments: attempt to commit a tx with invalid blRoot"


def test_tampered_primary_is_not_followed(sealdb_factory):
    """An attacker edits a value of the primary's journal and rewrites its checksums: the primary's
    export checks or the replica's own checks refuse it; the forged value never reaches the replica."""
    from test_cli_tamper import tamper
    a, b = sealdb_factory(), sealdb_factory()
    ca, cb = a.client(), b.client()
    for i in range(3):
        ca.set(b"k%d" % i, b"v")
    cb.createDatabaseV2("f", follow_settings(a), False)
    cf = b.client(database="f")
    wait_for(lambda: state(cf) == state(ca), what="replica to catch up")
    b.stop()
    ca.set(b"victim", b"original-value-9")
    before = state(ca)[0] - 1
    a.stop()
    assert tamper(a.dir, b"original-value-9", replacement=b"FORGED-VALUE-XX9") == 1
    a.start()
    b.start()
    cf = b.client(database="f")
    wait_for(lambda: "sealdb_replication_failures_total{db=\"f\"} 0" not in metrics(b), what="a refused attempt")
    time.sleep(0.5)
    assert state(cf)[0] == before
    assert "replication of database f" in b.log()
    assert cf.get(b"victim") is None
    assert "FORGED" not in b.log()


def test_last_tx_checked_against_primary_state(sealdb_factory):
    """A tx whose ts was changed in transit is accepted by replicateTx (the ts is taken from the
    header, as immudb does) but its Alh differs from the primary's: the replicator compares its
    last tx with the primary's state once it caught up, and stops on the difference."""
    a, b = sealdb_factory(), sealdb_factory()
    ca, cb = a.client(), b.client()
    for i in range(3):
        ca.set(b"k%d" % i, b"v")
    cb.createDatabaseV2("f", replica_settings(), False)
    cf = b.client(database="f")
    for t in (1, 2):
        cf.replicateTx(ca.exportTx(t))
    raw = bytearray(b"".join(ch.content for ch in ca.exportTx(3)))
    ts_at = 8 + 4 + 8 + 32                   # u64(L), u32(hdrLen), id, prevAlh
    raw[ts_at + 7] ^= 1
    assert cf.replicateTx([schema_pb2.Chunk(content=bytes(raw))]).id == 3
    cb.updateDatabaseV2("f", follow_settings(a))
    wait_for(lambda: "its state has another Alh" in b.log(), what="the last tx's check")
    assert "primary 127.0.0.1:%d/defaultdb diverged at tx 3" % a.port in b.log()
    assert 'sealdb_replication_diverged{db="f"} 1' in metrics(b)


def test_stream_export_tx(sealdb_factory):
    """immudb's replicas follow a primary with streamExportTx: requests answered one after the other
    on one call, each with its tx's message; the call ends with Unknown "EOF" at the client's
    half-close, or with the first error (a tx past the end: "EOF")."""
    a = sealdb_factory()
    ca = a.client()
    ca.set(b"a", b"1")
    ca.set(b"big", bytes(70000))
    ca.set(b"c", b"3")
    reqs = [schema_pb2.ExportTxRequest(tx=t) for t in (1, 2, 3)]
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for ch in ca._stub.streamExportTx(iter(reqs)):
            got.append(ch.content)
    assert (e.value.code().name, e.value.details()) == ("UNKNOWN", "EOF")
    want = [ch.content for t in (1, 2, 3) for ch in ca.exportTx(t)]
    assert got == want and len(got) == 4          # tx 2 takes two chunks
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for ch in ca._stub.streamExportTx(iter([schema_pb2.ExportTxRequest(tx=3), schema_pb2.ExportTxRequest(tx=4),
                                                schema_pb2.ExportTxRequest(tx=1)])):
            got.append(ch.content)
    assert (e.value.code().name, e.value.details()) == ("UNKNOWN", "EOF") and len(got) == 1
    rs = schema_pb2.ReplicaState(UUID="x")
    assert err(ca._stub.streamExportTx, iter([schema_pb2.ExportTxRequest(tx=1, replicaState=rs)])) == \
        ("UNKNOWN", "illegal state: replica state was NOT expected")


def test_export_of_truncated_tx(old_db, sealdb_factory):
    """After TruncateDatabase a tx's values are gone: it is exported as immudb exports a truncated
    tx (every value replaced by its 32-byte hValue, flag 01); a sealdb replica refuses to import it."""
    srv = old_db
    c = srv.client()
    c.useDatabase(b"tdb")
    truncate(c, "tdb", DAY_MS)
    raw = b"".join(ch.content for ch in c.exportTx(1))
    p = raw[8:]
    assert int.from_bytes(raw[:8], "big") == len(p) and p[-3:] == b"\x00\x01\x01"
    tx = c._stub.TxById(schema_pb2.TxRequest(tx=1))
    for e in tx.entries:
        assert (32).to_bytes(4, "big") + e.hValue in p
    kept = b"".join(ch.content for ch in c.exportTx(OLD_KEYS))       # the newest old tx keeps its value
    assert kept[-3:] == b"\x00\x01\x00"
    b = sealdb_factory()
    cb = b.client()
    cb.createDatabaseV2("rep", replica_settings(), False)
    cb.useDatabase(b"rep")
    assert err(cb.replicateTx, [schema_pb2.Chunk(content=raw)]) == \
        ("INVALID_ARGUMENT", "illegal arguments: transactions with truncated values are not supported by sealdb")
