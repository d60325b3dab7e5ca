# test_repl_discard.py - a sync replica's precommitted txs that its (replaced) primary does not have
# (docs/replication.md 10.3): with allowTxDiscarding it discards exactly the uncommitted ones and
# follows the new primary, without it stops with the divergence error and keeps them; a committed
# tx is never discarded; a restarted sync replica reports its stored committed point; the sync
# primary's metrics of waiting writes and acks.
import re
import shutil
import subprocess
import threading

import grpc
import pytest
from immudb.grpc import schema_pb2 as S

from interop_util import create_db, replica_of
from sealdb_proc import SEALDB_BIN
from test_repl import header, metrics, wait_for
from test_repl_sync import pstate, set_with_deadline, sync_primary


def set_acks(c, db, n):
    c._stub.UpdateDatabaseV2(S.UpdateDatabaseRequest(database=db, settings=S.DatabaseNullableSettings(
        replicationSettings=S.ReplicationNullableSettings(syncAcks=S.NullableUint32(value=n)))))


def verify_dir(path):
    p = subprocess.run([SEALDB_BIN, "verify", "--dir", path], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


def diverged_replica(sealdb_factory, discard):
    """A sync replica r whose committed point is 3 and which precommitted txs 4 and 5 of primary a
    (syncAcks 2 with one replica: never committed); then a is killed and a copy of a taken at tx 3
    (b, where txs 4.. differ) listens at a's address. Returns (b, replica server, its headers 1..3)."""
    a, r = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p")
    create_db(r.client(), "r", dict(replica_of(a, "p", sync=True), allowTxDiscarding=discard))
    cp, cr = a.client(database="p"), r.client(database="r")
    for i in range(3):
        assert cp.set(b"k%d" % i, b"v%d" % i).id == i + 1
    wait_for(lambda: pstate(cr) == (3, 3), what="replica to commit tx 3")
    # the new primary's history: a's first 3 txs, then its own
    a.stop()
    b = sealdb_factory(start=False)
    shutil.copytree(a.dir, b.dir)
    a.start()
    cp = a.client(database="p")
    set_acks(cp, "p", 2)
    for k in (b"lost4", b"lost5"):
        with pytest.raises(grpc.RpcError) as e:
            set_with_deadline(cp, k, b"x", 1.5)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert pstate(cp) == (3, 5)
    wait_for(lambda: pstate(cr) == (3, 5), what="replica to precommit txs 4 and 5")
    assert cr.get(b"lost5") is None   # precommitted only: not read (10.3)
    before = [header(cr, t) for t in (1, 2, 3)]
    port = a.port
    a.kill9()
    b.port = port
    b.start()
    return b, r, before


def test_discard_precommitted_and_follow_the_new_primary(sealdb_factory):
    b, r, before = diverged_replica(sealdb_factory, True)
    cb = b.client(database="p")
    # the new primary's own tx 4 and 5 (answered once the replica, back in line, acks them)
    ids = [set_with_deadline(cb, b"new%d" % i, b"n%d" % i, 30).id for i in (4, 5, 6)]
    assert ids == [4, 5, 6]
    cr = r.client(database="r")
    wait_for(lambda: pstate(cr) == pstate(cb) == (6, 6), what="replica to follow the new primary")
    log = r.log()
    assert re.search(r"does not have its precommitted txs 4\.\.5: discarding them", log), log[-3000:]
    m = re.search(r"reopened without its precommitted txs after 3 in (\d+) ms", log)
    assert m, log[-3000:]
    print("bench repl.discard_reopen_ms: %s ms" % m.group(1))
    assert "stopped" not in log
    # committed txs were kept as they were; the discarded ones are gone from the index too
    assert [header(cr, t) for t in (1, 2, 3)] == before
    for t in range(1, 7):
        assert header(cr, t) == header(cb, t)
    assert cr.currentState().txHash == cb.currentState().txHash
    for k in (b"lost4", b"lost5"):
        assert cr.get(k) is None and cb.get(k) is None   # immudb-py: None for key not found
    for i in (4, 5, 6):
        assert cr.verifiedGet(b"new%d" % i).value == b"n%d" % i
    assert cr.verifiedGet(b"k0").value == b"v0"
    assert 'sealdb_replication_diverged{db="r"} 0' in metrics(r)
    b.stop()
    r.stop()
    verify_dir(b.dir)
    verify_dir(r.dir)


def test_without_allow_tx_discarding_the_replicator_stops(sealdb_factory):
    b, r, before = diverged_replica(sealdb_factory, False)
    cr = r.client(database="r")
    wait_for(lambda: 'sealdb_replication_diverged{db="r"} 1' in metrics(r), what="divergence to be reported")
    assert "replica precommit state diverged from primary" in r.log()
    assert "discarding" not in r.log()
    # nothing was discarded
    assert pstate(cr) == (3, 5)
    assert cr.get(b"lost4") is None and cr.get(b"lost5") is None   # precommitted: held, not read
    for t in (4, 5):
        assert b"lost%d" % t in b"".join(x.content for x in cr._stub.exportTx(
            S.ExportTxRequest(tx=t, allowPreCommitted=True)))
    assert [header(cr, t) for t in (1, 2, 3)] == before
    r.stop()
    verify_dir(r.dir)


def test_restarted_sync_replica_reports_its_committed_point(sealdb_factory):
    a, r = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p", acks=1)
    create_db(r.client(), "r", replica_of(a, "p", sync=True))
    cp, cr = a.client(database="p"), r.client(database="r")
    for i in range(4):
        cp.set(b"k%d" % i, b"v")
    wait_for(lambda: pstate(cr) == (4, 4), what="replica to commit tx 4")
    set_acks(cp, "p", 2)   # tx 5 is precommitted on the replica, never committed
    with pytest.raises(grpc.RpcError):
        set_with_deadline(cp, b"k4", b"v", 1.5)
    wait_for(lambda: pstate(cr) == (4, 5), what="replica to precommit tx 5")
    h4 = cr.currentState().txHash
    a.stop()   # nobody can tell the replica its committed point after the restart
    r.restart()
    cr = r.client(database="r")
    assert pstate(cr) == (4, 5)
    assert cr.currentState().txHash == h4
    r.stop()
    verify_dir(r.dir)


def test_sync_primary_metrics(sealdb_factory):
    a, r = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p", acks=1)
    cp = a.client(database="p")
    assert 'sealdb_replication_sync_waiting_writes{db="p"} 0' in metrics(a)
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("h", set_with_deadline(a.client(database="p"), b"k", b"v", 30)))
    th.start()
    wait_for(lambda: 'sealdb_replication_sync_waiting_writes{db="p"} 1' in metrics(a), what="a waiting write")
    assert 'sealdb_replication_sync_acks_total{db="p"} 0' in metrics(a)
    create_db(r.client(), "r", replica_of(a, "p", sync=True))
    th.join(30)
    assert res["h"].id == 1
    m = metrics(a)
    assert 'sealdb_replication_sync_waiting_writes{db="p"} 0' in m
    acks = int(re.search(r'sealdb_replication_sync_acks_total\{db="p"\} (\d+)', m).group(1))
    assert acks >= 1
    assert cp.set(b"k2", b"v").id == 2
    m = metrics(a)
    assert int(re.search(r'sealdb_replication_sync_acks_total\{db="p"\} (\d+)', m).group(1)) > acks
    assert 'sealdb_replication_sync_waiting_writes{db="r"}' not in metrics(r)   # only primaries
