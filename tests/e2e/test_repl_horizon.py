# test_repl_horizon.py - reads stop at the committed point (docs/replication.md 10.2, 10.3): a
# precommitted tx, durable but not yet committed (a sync primary's write waiting for replica acks,
# a sync replica's import the primary has not committed), is invisible to every client read (Get
# latest, atTx, sinceTx, atRevision, GetAll, Scan, ZScan, History, Count, TxById, TxScan,
# VerifiableGet, VerifiableTxById, CurrentState.txId) until it is committed, as in immudb; the
# committed-only export does not send it either, the precommitted one does.
import grpc
import pytest
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2 as S

from test_repl import err, wait_for
from test_repl_sync import pstate, set_with_deadline, sync_primary, sync_replica

NOT_FOUND = ("UNKNOWN", "tbtree: key not found")
TX_NOT_FOUND = ("UNKNOWN", "tx not found")
SINCE = ("UNKNOWN", "illegal arguments: SinceTx must not be greater than the current transaction ID")


def keys(entries):
    return [e.key for e in entries.entries]


def check_hidden(c, t, replica=False):
    """c's database committed up to t; tx t+1 (precommitted) wrote k=v2 (k=v1 at t), new=1 and
    zset z member k: none of it is visible."""
    s = c._stub
    assert pstate(c) == (t, t + 1)
    assert err(s.Get, S.KeyRequest(key=b"new")) == NOT_FOUND
    e = s.Get(S.KeyRequest(key=b"k"))
    assert (e.value, e.tx, e.revision) == (b"v1", t, 1)
    assert err(s.Get, S.KeyRequest(key=b"k", atRevision=2)) == ("UNKNOWN", "invalid key revision number")
    assert err(s.Get, S.KeyRequest(key=b"k", atRevision=-1)) == ("UNKNOWN", "invalid key revision number")
    assert s.Get(S.KeyRequest(key=b"k", atRevision=1)).value == b"v1"
    assert err(s.Get, S.KeyRequest(key=b"k", atTx=t + 1)) == TX_NOT_FOUND
    assert err(s.Get, S.KeyRequest(key=b"k", sinceTx=t + 1)) == SINCE
    assert s.Get(S.KeyRequest(key=b"k", sinceTx=t)).value == b"v1"
    if not replica:   # GetAll needs read-write permission, refused on a replica as in immudb
        assert keys(s.GetAll(S.KeyListRequest(keys=[b"k", b"new"]))) == [b"k"]
    assert [(x.key, x.value) for x in s.Scan(S.ScanRequest(prefix=b"")).entries] == [(b"k", b"v1")]
    assert err(s.Scan, S.ScanRequest(prefix=b"", sinceTx=t + 1))[0] == "INVALID_ARGUMENT"
    h = s.History(S.HistoryRequest(key=b"k")).entries
    assert [(x.value, x.revision) for x in h] == [(b"v1", 1)]
    assert [x.value for x in s.History(S.HistoryRequest(key=b"k", desc=True)).entries] == [b"v1"]
    assert err(s.History, S.HistoryRequest(key=b"new")) == NOT_FOUND
    assert s.Count(S.KeyPrefix(prefix=b"")).count == 1
    assert len(s.ZScan(S.ZScanRequest(set=b"z")).entries) == 0
    assert err(s.TxById, S.TxRequest(tx=t + 1)) == TX_NOT_FOUND
    assert s.TxById(S.TxRequest(tx=t)).header.id == t
    assert [x.header.id for x in s.TxScan(S.TxScanRequest(initialTx=1)).txs] == list(range(1, t + 1))
    assert err(s.VerifiableTxById, S.VerifiableTxRequest(tx=t + 1, proveSinceTx=1)) == TX_NOT_FOUND
    assert err(s.VerifiableTxById, S.VerifiableTxRequest(tx=t, proveSinceTx=t + 1)) == (
        "UNKNOWN", "illegal state: latest txID=%d is lower than specified as initial tx=%d" % (t, t + 1))
    ve = s.VerifiableGet(S.VerifiableGetRequest(keyRequest=S.KeyRequest(key=b"k"), proveSinceTx=t))
    assert (ve.entry.value, ve.verifiableTx.dualProof.targetTxHeader.id) == (b"v1", t)
    assert err(s.VerifiableGet, S.VerifiableGetRequest(keyRequest=S.KeyRequest(key=b"k"), proveSinceTx=t + 1))[0] \
        == "INVALID_ARGUMENT"
    assert c.verifiedGet(b"k").value == b"v1"


def check_visible(c, t):
    s = c._stub
    assert pstate(c) == (t + 1, t + 1)
    assert s.Get(S.KeyRequest(key=b"new")).value == b"1"
    e = s.Get(S.KeyRequest(key=b"k"))
    assert (e.value, e.tx, e.revision) == (b"v2", t + 1, 2)
    assert s.Get(S.KeyRequest(key=b"k", atRevision=-1)).value == b"v1"
    assert s.Get(S.KeyRequest(key=b"k", atTx=t + 1)).value == b"v2"
    assert [x.value for x in s.History(S.HistoryRequest(key=b"k", desc=True)).entries] == [b"v2", b"v1"]
    assert s.Count(S.KeyPrefix(prefix=b"")).count == 2
    assert len(s.ZScan(S.ZScanRequest(set=b"z")).entries) == 1
    assert s.TxById(S.TxRequest(tx=t + 1)).header.id == t + 1
    assert len(s.TxScan(S.TxScanRequest(initialTx=1)).txs) == t + 1
    assert c.verifiedGet(b"new").value == b"1"


def held_write():
    return S.ExecAllRequest(Operations=[
        S.Op(kv=S.KeyValue(key=b"k", value=b"v2")),
        S.Op(kv=S.KeyValue(key=b"new", value=b"1")),
        S.Op(zAdd=S.ZAddRequest(set=b"z", key=b"k", score=1.0)),
    ])


def test_sync_primary_hides_a_held_write(sealdb_factory):
    a, b = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p")
    sync_replica(b.client(), "r", a, "p")
    cp = a.client(database="p")
    t = cp.set(b"k", b"v1").id
    wait_for(lambda: pstate(b.client(database="r")) == (t, t), what="replica to commit tx %d" % t)
    b.stop()
    with pytest.raises(grpc.RpcError) as e:
        cp._stub.ExecAll(held_write(), timeout=1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    check_hidden(cp, t)
    # a committed-only export does not send it, a precommitted one (a sync replica's) does
    assert err(cp.exportTx, t + 1) == ("UNKNOWN", "EOF")
    assert len(b"".join(x.content for x in cp._stub.exportTx(S.ExportTxRequest(tx=t + 1, allowPreCommitted=True)))) > 0
    # the replica is back: it acks the write, which becomes visible
    b.start()
    wait_for(lambda: pstate(cp) == (t + 1, t + 1), what="the held write to be committed")
    check_visible(cp, t)
    cr = b.client(database="r")
    wait_for(lambda: pstate(cr) == (t + 1, t + 1), what="replica to commit tx %d" % (t + 1))
    check_visible(cr, t)


def test_sync_replica_hides_what_the_primary_did_not_commit(sealdb_factory):
    # syncAcks 2 with one replica: the replica precommits (and acks) the write, the primary never
    # commits it, so the replica is never allowed to
    a, b, c = sealdb_factory(), sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p", acks=2)
    sync_replica(b.client(), "r", a, "p")
    sync_replica(c.client(), "r", a, "p")
    cp = a.client(database="p")
    t = set_with_deadline(cp, b"k", b"v1", 20).id
    cr = b.client(database="r")
    wait_for(lambda: pstate(cr) == (t, t), what="replica to commit tx %d" % t)
    c.stop()
    with pytest.raises(grpc.RpcError) as e:
        cp._stub.ExecAll(held_write(), timeout=1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: pstate(cr) == (t, t + 1), what="replica to precommit tx %d" % (t + 1))
    check_hidden(cp, t)
    check_hidden(cr, t, replica=True)
    # a precommitted import stays readable through the precommitted export (cascading sync replicas)
    assert len(b"".join(x.content for x in cr._stub.exportTx(S.ExportTxRequest(tx=t + 1, allowPreCommitted=True)))) > 0
    c.start()
    wait_for(lambda: pstate(cp) == (t + 1, t + 1), what="the held write to be committed")
    check_visible(cp, t)
    wait_for(lambda: pstate(cr) == (t + 1, t + 1), what="replica to commit tx %d" % (t + 1))
    check_visible(cr, t)


def test_async_database_reads_at_once(sealdb_factory):
    # no gate: a write is visible as soon as it is answered (nothing of the above applies)
    a = sealdb_factory()
    c = a.client()
    t = c.set(b"hz-k", b"v").id
    assert pstate(c) == (t, t)
    s = c._stub
    assert s.Get(S.KeyRequest(key=b"hz-k", sinceTx=t)).value == b"v"
    assert s.TxById(S.TxRequest(tx=t)).header.id == t
    assert s.CountAll(empty_pb2.Empty()).count >= 1
