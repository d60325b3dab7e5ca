# test_interop_repl_sync.py - synchronous replication across sealdb and the real immudb 1.9.5: an
# immudb sync replica of a sealdb sync primary (immudb's replicator: streamExportTx with its
# replicaState, precommitted txs, the 5.3 metadata and heartbeats) and a sealdb sync replica of an
# immudb sync primary (sealdb's replicator: exportTx with a replicaState). Every write is answered
# only once the replica holds it; at the end both sides hold the same txs, keys and proofs.
import threading

from google.protobuf import empty_pb2

from immudb_ref import immudb_factory, immudb_ref, sealdb_pw, sealdb_pw_factory  # noqa: F401 (fixtures)
from interop_util import assert_same_and_verified, create_db, db_client, replica_of, state, wait_for, write_mixed


def pstate(c):
    st = c._stub.CurrentState(empty_pb2.Empty())
    return st.txId, st.precommittedTxId


def _run(primary, replica_srv, n_threads=3, n_writes=8):
    """Mixed writes on primary's database p from a few threads; after each answer the replica's r
    must already hold the tx (precommitted at least)."""
    acked, problems = [], []

    def work(j):
        c, rc = db_client(primary, "p"), db_client(replica_srv, "r")
        for i in range(n_writes):
            try:
                t = write_mixed(c, "t%d" % j, i)
                pre = pstate(rc)[1]
                if pre < t:
                    problems.append("tx %d answered while the replica holds only %d" % (t, pre))
                acked.append(t)
            except Exception as ex:  # noqa: BLE001 (reported below)
                problems.append(repr(ex))

    ths = [threading.Thread(target=work, args=(j,)) for j in range(n_threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(300)
    assert not problems, problems[:3]
    assert len(acked) == n_threads * n_writes
    pc, rc = db_client(primary, "p"), db_client(replica_srv, "r")
    # the replica commits what the primary committed with the next answer's metadata
    wait_for(lambda: pstate(rc) == pstate(pc) and pstate(pc)[0] == pstate(pc)[1], 60, "the replica to commit")
    assert state(rc) == state(pc)
    return assert_same_and_verified((primary, "p"), (replica_srv, "r"), "sync replica")


def test_immudb_sync_replica_of_sealdb_sync_primary(immudb_ref, sealdb_pw):
    create_db(db_client(sealdb_pw, "defaultdb"), "p", dict(syncReplication=True, syncAcks=1))
    create_db(db_client(immudb_ref, "defaultdb"), "r", replica_of(sealdb_pw, "p", sync=True))
    n = _run(sealdb_pw, immudb_ref)
    assert n >= 24


def test_sealdb_sync_replica_of_immudb_sync_primary(immudb_ref, sealdb_pw):
    create_db(db_client(immudb_ref, "defaultdb"), "p", dict(syncReplication=True, syncAcks=1))
    create_db(db_client(sealdb_pw, "defaultdb"), "r", replica_of(immudb_ref, "p", sync=True))
    n = _run(immudb_ref, sealdb_pw)
    assert n >= 24


def _held_answers(srv):
    """A sync primary (1 ack) without replicas: a write is precommitted, never committed. What
    each read answers about it (every one must ignore it, as immudb's reads do)."""
    import grpc
    from immudb.grpc import schema_pb2 as S
    create_db(db_client(srv, "defaultdb"), "p", dict(syncReplication=True, syncAcks=1))
    c = db_client(srv, "p")
    s = c._stub
    held = S.ExecAllRequest(Operations=[S.Op(kv=S.KeyValue(key=b"k", value=b"v")),
                                        S.Op(zAdd=S.ZAddRequest(set=b"z", key=b"k", score=1.0))])
    try:
        s.ExecAll(held, timeout=1.5)
        raise AssertionError("a write without replica acks was answered")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    wait_for(lambda: pstate(c) == (0, 1), 10, "the held write to be precommitted")

    def ask(fn, req, pick):
        try:
            return pick(fn(req))
        except grpc.RpcError as e:
            return e.code().name, e.details()
    return [
        ask(s.Get, S.KeyRequest(key=b"k"), lambda r: r.value),
        ask(s.Get, S.KeyRequest(key=b"k", atTx=1), lambda r: r.value),
        ask(s.Get, S.KeyRequest(key=b"k", sinceTx=1), lambda r: r.value),
        ask(s.TxById, S.TxRequest(tx=1), lambda r: r.header.id),
        ask(s.VerifiableTxById, S.VerifiableTxRequest(tx=1), lambda r: r.tx.header.id),
        ask(s.TxScan, S.TxScanRequest(initialTx=1), lambda r: len(r.txs)),
        ask(s.Scan, S.ScanRequest(prefix=b""), lambda r: len(r.entries)),
        ask(s.ZScan, S.ZScanRequest(set=b"z"), lambda r: len(r.entries)),
        ask(s.History, S.HistoryRequest(key=b"k"), lambda r: len(r.entries)),
        pstate(c),
    ]


def test_precommitted_write_is_invisible_as_in_immudb(immudb_ref, sealdb_pw):
    want = _held_answers(immudb_ref)
    assert want[0] == ("UNKNOWN", "tbtree: key not found") and want[3] == ("UNKNOWN", "tx not found"), want
    assert _held_answers(sealdb_pw) == want
