# test_repl_sync.py - synchronous replication between real sealdb servers (docs/replication.md):
# a write on a sync primary is answered only once enough replicas hold it (a stopped replica blocks
# writes, its return releases them), syncAcks = 2 with two replicas and a changed syncAcks, kill -9
# of the primary under concurrent writes (every acknowledged write is on the replica, which is then
# promoted) and of a replica (it catches up, writes go on), immudb's settings validation, and the
# streamExportTx exchange of replication.md 5.4 played by a fake replica.
import queue
import threading
import time

import grpc
import pytest
from immudb.grpc import schema_pb2 as S

from interop_util import create_db, replica_of
from test_repl import err, state, wait_for

DBOPT = ("rpc error: code = InvalidArgument desc = illegal arguments: "
         "rpc error: code = InvalidArgument desc = illegal arguments: ")
E = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def sync_primary(c, name, acks=1):
    create_db(c, name, dict(syncReplication=True, syncAcks=acks))


def sync_replica(c, name, primary, pdb):
    create_db(c, name, replica_of(primary, pdb, sync=True))


def pstate(c):
    """(txId, precommittedTxId) of the client's database."""
    from google.protobuf import empty_pb2
    s = c._stub.CurrentState(empty_pb2.Empty())
    return s.txId, s.precommittedTxId


def set_with_deadline(c, k, v, timeout):
    return c._stub.Set(S.SetRequest(KVs=[S.KeyValue(key=k, value=v)]), timeout=timeout)


def test_set_waits_for_the_replica(sealdb_factory):
    a, b = sealdb_factory(), sealdb_factory()
    ca, cb = a.client(), b.client()
    sync_primary(ca, "p")
    sync_replica(cb, "r", a, "p")
    cp, cr = a.client(database="p"), b.client(database="r")
    for i in range(5):
        t = cp.set(b"k%d" % i, b"v%d" % i).id
        # answered: the replica holds it durably (precommitted at least) already; it reads it
        # once it commits it too (the primary says so in their next exchange, 10.3)
        assert pstate(cr)[1] >= t
        wait_for(lambda: pstate(cr)[0] >= t, what="replica to commit tx %d" % t)
        assert cr.get(b"k%d" % i).value == b"v%d" % i
    wait_for(lambda: pstate(cr) == pstate(cp) == (t, t), what="replica to commit what the primary committed")
    assert cp.currentState().txHash == cr.currentState().txHash
    assert err(cr.set, b"x", b"y") == ("UNKNOWN", "database is read-only because it's a replica")

    # replica down: the write is durable on the primary but not acknowledged (nor readable:
    # test_repl_horizon.py)
    b.stop()
    with pytest.raises(grpc.RpcError) as e:
        set_with_deadline(cp, b"held", b"1", 1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert pstate(cp) == (t, t + 1)
    # a committed-only export (an async replica, a backup) does not get it either
    assert err(cp.exportTx, t + 1) == ("UNKNOWN", "EOF")
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("h", cp.set(b"after", b"2")))
    th.start()
    time.sleep(1.0)
    assert "h" not in res and th.is_alive()
    b.start()
    th.join(30)
    assert res["h"].id == t + 2
    cr = b.client(database="r")
    wait_for(lambda: pstate(cr) == pstate(cp) == (t + 2, t + 2), what="replica to commit after its restart")
    assert cr.get(b"held").value == b"1" and cr.get(b"after").value == b"2"
    assert cr.verifiedGet(b"after").value == b"2"


def test_two_acks_and_changed_sync_acks(sealdb_factory):
    a, b, c = sealdb_factory(), sealdb_factory(), sealdb_factory()
    ca = a.client()
    sync_primary(ca, "p", acks=2)
    sync_replica(b.client(), "r", a, "p")
    cp = a.client(database="p")
    # one replica is not enough
    with pytest.raises(grpc.RpcError) as e:
        set_with_deadline(cp, b"one", b"1", 1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    sync_replica(c.client(), "r", a, "p")
    h = set_with_deadline(cp, b"two", b"2", 20)
    for srv in (b, c):
        cr = srv.client(database="r")
        assert pstate(cr)[1] >= h.id
        wait_for(lambda: pstate(cr)[0] >= h.id, what="replica to commit tx %d" % h.id)
        assert cr.get(b"one").value == b"1" and cr.get(b"two").value == b"2"
    c.stop()
    with pytest.raises(grpc.RpcError) as e:
        set_with_deadline(cp, b"three", b"3", 1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # syncAcks 1: the waiting tx (acked by b) is committed, writes are answered again
    cp._stub.UpdateDatabaseV2(S.UpdateDatabaseRequest(database="p", settings=S.DatabaseNullableSettings(
        replicationSettings=S.ReplicationNullableSettings(syncAcks=S.NullableUint32(value=1)))))
    h = set_with_deadline(cp, b"four", b"4", 20)
    assert pstate(cp) == (h.id, h.id)
    cr = b.client(database="r")
    wait_for(lambda: pstate(cr)[0] >= h.id, what="replica to commit tx %d" % h.id)
    assert cr.get(b"four").value == b"4"


def writer(c, stop, prefix, acked, errors):
    i = 0
    while not stop.is_set():
        k = b"%s-%d" % (prefix, i)
        try:
            h = c._stub.Set(S.SetRequest(KVs=[S.KeyValue(key=k, value=b"v%d" % i)]), timeout=3)
            acked.append((k, h.id))
        except Exception as ex:  # noqa: BLE001 (counted; the primary may be gone)
            errors.append(ex)
            time.sleep(0.05)
        i += 1


def load(srv, db, n, stop, acked, errors):
    ths = [threading.Thread(target=writer, args=(srv.client(database=db), stop, b"w%d" % j, acked, errors))
           for j in range(n)]
    for t in ths:
        t.start()
    return ths


def test_kill9_primary_loses_no_acknowledged_write(sealdb_factory):
    a, b = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p")
    sync_replica(b.client(), "r", a, "p")
    stop, acked, errors = threading.Event(), [], []
    ths = load(a, "p", 4, stop, acked, errors)
    try:
        time.sleep(2.5)
        a.kill9()
    finally:
        stop.set()
        for t in ths:
            t.join()
    assert len(acked) > 20, (len(acked), errors[:3])
    cr = b.client(database="r")
    _, pre = pstate(cr)
    assert pre >= max(t for _, t in acked)
    # promote: everything the replica holds becomes committed, writes are accepted (a primary
    # with syncReplication needs syncAcks > 0: immudb's validation; this one has no replica yet)
    promote = S.ReplicationNullableSettings(replica=S.NullableBool(value=False))
    assert err(cr._stub.UpdateDatabaseV2, S.UpdateDatabaseRequest(database="r", settings=S.DatabaseNullableSettings(
        replicationSettings=promote)))[1].endswith("It is necessary to have at least one sync replica")
    promote.syncReplication.value = False
    cr._stub.UpdateDatabaseV2(S.UpdateDatabaseRequest(database="r", settings=S.DatabaseNullableSettings(
        replicationSettings=promote)))
    assert pstate(cr) == (pre, pre)
    keys = [k for k, _ in acked]
    for i in range(0, len(keys), 1000):
        got = cr.getAll(keys[i:i + 1000])
        assert all(k in got and got[k] == b"v" + k.split(b"-")[1] for k in keys[i:i + 1000])
    assert cr.set(b"after-failover", b"x").id == pre + 1
    assert cr.verifiedGet(acked[-1][0]).value.startswith(b"v")


def test_kill9_replica_catches_up(sealdb_factory):
    a, b = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p")
    sync_replica(b.client(), "r", a, "p")
    stop, acked, errors = threading.Event(), [], []
    ths = load(a, "p", 4, stop, acked, errors)
    try:
        time.sleep(1.5)
        b.kill9()
        n_down = len(acked)
        time.sleep(1.0)
        assert len(acked) - n_down <= 4   # at most the answers already on their way
        b.start()
        wait_for(lambda: len(acked) > n_down + 20, timeout=30, what="writes after the replica's restart")
    finally:
        stop.set()
        for t in ths:
            t.join()
    cp, cr = a.client(database="p"), b.client(database="r")
    wait_for(lambda: pstate(cr) == pstate(cp), timeout=30, what="replica to catch up")
    last = pstate(cp)[0]
    assert last >= max(t for _, t in acked)
    for t in (1, last // 2, last):
        assert cp._stub.TxById(S.TxRequest(tx=t)).header == cr._stub.TxById(S.TxRequest(tx=t)).header


def test_settings_validation(sealdb_factory):
    a = sealdb_factory()
    c = a.client()

    def bad(name, rs):
        with pytest.raises(grpc.RpcError) as e:
            create_db(c, name, rs)
        return e.value.code().name, e.value.details()

    assert bad("s0", dict(syncReplication=True)) == ("INVALID_ARGUMENT", DBOPT + "invalid replication options for "
                                                     "primary database 's0'. It is necessary to have at least one sync replica")
    assert bad("s1", dict(syncAcks=1)) == ("INVALID_ARGUMENT", DBOPT + "invalid replication options for primary "
                                           "database 's1'. SyncAcks should be set to 0")
    assert bad("s2", dict(replica_of(a, "x", sync=True), syncAcks=1)) == \
        ("INVALID_ARGUMENT", DBOPT + "invalid value for replication option SyncAcks ReplicationCommitConcurrency "
                                     "on database 's2'")
    sync_primary(c, "ok", acks=3)
    st = a.client(database="ok").getDatabaseSettingsV2().settings.replicationSettings
    assert st.syncReplication and st.syncAcks == 3
    # turning it off commits what waited (a write with no replica at all)
    cp = a.client(database="ok")
    with pytest.raises(grpc.RpcError):
        set_with_deadline(cp, b"k", b"v", 1.0)
    assert pstate(cp) == (0, 1)
    cp._stub.UpdateDatabaseV2(S.UpdateDatabaseRequest(database="ok", settings=S.DatabaseNullableSettings(
        replicationSettings=S.ReplicationNullableSettings(syncReplication=S.NullableBool(value=False),
                                                          syncAcks=S.NullableUint32(value=0)))))
    assert pstate(cp) == (1, 1)
    assert cp.set(b"k2", b"v").id == 2


def test_replica_state_to_a_non_sync_database(sealdb_factory):
    a = sealdb_factory()
    c = a.client()
    c.set(b"a", b"1")
    rs = S.ReplicaState(UUID="x")
    want = ("UNKNOWN", "illegal state: replica state was NOT expected")
    assert err(c._stub.exportTx, S.ExportTxRequest(tx=1, replicaState=rs)) == want
    assert err(c._stub.streamExportTx, iter([S.ExportTxRequest(tx=1, replicaState=rs)])) == want
    # nor to a sync replica (it has no replica-state table)
    create_db(c, "r", replica_of(a, "defaultdb", sync=True))
    cr = a.client(database="r")
    assert err(cr._stub.exportTx, S.ExportTxRequest(tx=1, replicaState=rs)) == want


def md(ch):
    m = dict(ch.metadata)
    return (int.from_bytes(m["may-commit-up-to-txid-bin"], "big"), m["may-commit-up-to-alh-bin"],
            int.from_bytes(m["committed-txid-bin"], "big"))


def test_stream_export_sync_sequence(sealdb_factory):
    """replication.md 5.4 (vector sync_replication) with this test as the replica."""
    a = sealdb_factory()
    sync_primary(a.client(), "syncdb")
    cp = a.client(database="syncdb")
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("h", cp.set(b"s", b"1")))
    th.start()
    wait_for(lambda: pstate(cp) == (0, 1), what="the write to be precommitted")
    q = queue.Queue()

    def reqs():
        while True:
            r = q.get()
            if r is None:
                return
            yield r

    it = cp._stub.streamExportTx(reqs())
    uuid = "fakereplica000000000"

    def ask(tx, c_id, c_alh, p_id, p_alh):
        q.put(S.ExportTxRequest(tx=tx, allowPreCommitted=True, replicaState=S.ReplicaState(
            UUID=uuid, committedTxID=c_id, committedAlh=c_alh, precommittedTxID=p_id, precommittedAlh=p_alh)))
        return next(it)

    ch = ask(1, 0, b"", 0, b"")
    assert len(ch.content) == 8 + 0x93 and md(ch) == (0, bytes(32), 0)
    assert th.is_alive()                                  # not acknowledged yet
    # tx 1's Alh: the primary's precommitted state
    from google.protobuf import empty_pb2
    alh1 = cp._stub.CurrentState(empty_pb2.Empty()).precommittedTxHash
    t0 = time.time()
    ch = ask(2, 0, E, 1, alh1)                            # the ack; no tx 2: heartbeat after 4 x 20 ms
    assert time.time() - t0 >= 0.07
    assert ch.content == bytes(8) and md(ch) == (0, E, 1)
    th.join(10)
    assert res["h"].id == 1
    ch = ask(2, 0, E, 1, alh1)
    assert ch.content == bytes(8) and md(ch) == (1, alh1, 1)
    ch = ask(2, 1, alh1, 1, alh1)
    assert ch.content == bytes(8) and md(ch) == (1, alh1, 1)
    q.put(S.ExportTxRequest(tx=2, allowPreCommitted=True, replicaState=S.ReplicaState(
        UUID=uuid, committedTxID=0, committedAlh=E, precommittedTxID=1, precommittedAlh=b"\x11" * 32)))
    with pytest.raises(grpc.RpcError) as e:
        next(it)
    assert (e.value.code().name, e.value.details()) == \
        ("UNKNOWN", "replica diverged from primary: replica precommit state diverged from primary's")
    # a replica claiming more than the primary committed
    rs = S.ReplicaState(UUID=uuid, committedTxID=5, committedAlh=alh1, precommittedTxID=5, precommittedAlh=alh1)
    assert err(cp._stub.exportTx, S.ExportTxRequest(tx=6, allowPreCommitted=True, replicaState=rs)) == \
        ("UNKNOWN", "replica diverged from primary: replica commit state diverged from primary's")
    # unary exportTx with a replicaState: the same metadata on its first chunk and as trailers
    call = cp._stub.exportTx(S.ExportTxRequest(tx=1, allowPreCommitted=True, replicaState=S.ReplicaState(
        UUID=uuid, committedTxID=1, committedAlh=alh1, precommittedTxID=1, precommittedAlh=alh1)))
    chs = list(call)
    assert len(chs) == 1 and md(chs[0]) == (1, alh1, 1)
    tr = dict(call.trailing_metadata())
    assert (tr["may-commit-up-to-txid-bin"], tr["may-commit-up-to-alh-bin"], tr["committed-txid-bin"]) == \
        ((1).to_bytes(8, "big"), alh1, (1).to_bytes(8, "big"))
    # none without a replicaState
    call = cp._stub.exportTx(S.ExportTxRequest(tx=1))
    list(call)
    assert "committed-txid-bin" not in dict(call.trailing_metadata())


def test_stop_releases_waiting_writes(sealdb_factory):
    """A write waiting for acks does not hold up the server's stop: it ends with an error, and its
    tx is durable (committed after the restart)."""
    a = sealdb_factory()
    sync_primary(a.client(), "p")
    cp = a.client(database="p")
    res = {}

    def w():
        try:
            set_with_deadline(cp, b"k", b"v", 30)
        except grpc.RpcError as e:
            res["e"] = (e.code().name, e.details())

    th = threading.Thread(target=w)
    th.start()
    wait_for(lambda: pstate(cp) == (0, 1), what="the write to be precommitted")
    t0 = time.time()
    a.stop()
    th.join(10)
    assert time.time() - t0 < 8
    assert res["e"] == ("UNKNOWN", "already closed")
    a.start()
    cp = a.client(database="p")
    assert pstate(cp) == (1, 1) and cp.get(b"k").value == b"v"
    # unloading the database ends a waiting write the same way
    res.clear()
    th = threading.Thread(target=w)
    th.start()
    wait_for(lambda: pstate(cp) == (1, 2), what="the second write to be precommitted")
    a.client()._stub.UnloadDatabase(S.UnloadDatabaseRequest(database="p"))
    th.join(10)
    assert res["e"] == ("UNKNOWN", "already closed")
