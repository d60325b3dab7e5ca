# test_interop_replication.py - asynchronous replication across implementations, under a concurrent
# write load, with the replica and then the primary restarted mid-stream: a sealdb replica database
# following a database of the real immudb 1.9.5, and an immudb 1.9.5 replica following a sealdb primary.
# At the end both sides hold the same txs (ids, headers, entries, Alh chain) and every tx and key
# verifies against either server; the replica refuses client writes with immudb's error. And a
# migration off immudb: a sealdb replica promoted to primary, then followed by a new immudb replica.
import time

import grpc
import pytest

from immudb_ref import ImmudbServer
from immudb_ref import immudb_factory, immudb_ref, sealdb_pw, sealdb_pw_factory  # noqa: F401 (fixtures)
from immudb.grpc import schema_pb2
from interop_util import (Writers, assert_clean_stop, assert_same_and_verified, create_db, db_client, replica_of,
                          restart, state, tx_record, wait_for, write_mixed)

READ_ONLY = "database is read-only because it's a replica"


def _run(primary, replica, pdb, rdb, catchup_timeout):
    """Write load on primary/pdb; restart the replica, then the primary, mid-stream; wait until the
    replica has caught up and compare."""
    w = Writers(lambda: primary, pdb, n=2).start()
    time.sleep(2.5)
    assert w.acked, "no write acknowledged by the primary: %s" % w.errors[:3]
    # an immudb replica fed faster than it imports may never finish a SIGTERM stop (its fetch loop
    # blocks on the full prefetch queue while holding the lock the stop needs): restart() kills -9 it then
    restart(replica)
    time.sleep(2.5)
    restart(primary)
    time.sleep(2.5)
    nacked = w.stop()
    assert nacked >= 20, "only %d writes acknowledged (errors: %s)" % (nacked, w.errors[:3])

    p = db_client(primary, pdb)
    want = state(p)
    assert want[0] >= max(w.acked)

    seen = []

    def caught_up():
        st = state(db_client(replica, rdb))
        seen.append((round(time.time() - t0, 1), st[0]))
        return st == want
    # the backlog depends on how fast the primary took writes (an immudb replica imports ~1k tx/s):
    # the replica gets catchup_timeout, extended while it keeps advancing, and fails once it stalls
    t0 = time.time()
    deadline = t0 + catchup_timeout
    def caught_up_now():
        try:
            return caught_up()
        except Exception:  # noqa: BLE001 (the replica may still be starting)
            return False
    while not caught_up_now():
        now = time.time()
        if len(seen) > 20 and seen[-1][1] > seen[-21][1]:
            deadline = max(deadline, now + 10)
        if now > deadline or now - t0 > 300:
            raise AssertionError("timed out after %.0f s waiting for the replica to reach tx %d of the primary; "
                                 "replica (s, tx): %s" % (now - t0, want[0], seen[::4]))
        time.sleep(0.5)
    n = assert_same_and_verified((primary, pdb), (replica, rdb), "primary vs replica")

    # the replica refuses client writes with immudb's message
    with pytest.raises(grpc.RpcError) as e:
        db_client(replica, rdb).set(b"not-here", b"x")
    assert READ_ONLY in e.value.details()
    for srv in (primary, replica):
        if not isinstance(srv, ImmudbServer):
            assert_clean_stop(srv)
    return n


def test_sealdb_replica_of_an_immudb_primary(immudb_ref, sealdb_pw):
    create_db(db_client(immudb_ref, "defaultdb"), "pdb")
    create_db(db_client(sealdb_pw, "defaultdb"), "rdb", replica_of(immudb_ref, "pdb"))
    _run(immudb_ref, sealdb_pw, "pdb", "rdb", catchup_timeout=30)


def test_immudb_replica_of_a_sealdb_primary(immudb_ref, sealdb_pw):
    create_db(db_client(sealdb_pw, "defaultdb"), "pdb")
    create_db(db_client(immudb_ref, "defaultdb"), "rdb", replica_of(sealdb_pw, "pdb"))
    # immudb's replicator backs off 2, 4, 8 ... s after each failed fetch, including the
    # primary's restart and the "EOF" of a caught-up fetch; 40 s covers the back-offs this run causes
    _run(sealdb_pw, immudb_ref, "pdb", "rdb", catchup_timeout=40)


def test_reference_harness_immudb_replica_of_immudb(immudb_factory):
    """The same scenario between two immudb servers: proves that the load, the restarts and the
    comparison work, so the two tests above fail only for sealdb reasons."""
    a, b = immudb_factory(), immudb_factory()
    create_db(db_client(a, "defaultdb"), "pdb")
    create_db(db_client(b, "defaultdb"), "rdb", replica_of(a, "pdb"))
    _run(a, b, "pdb", "rdb", catchup_timeout=40)


def _update(client, name, replication):
    """UpdateDatabaseV2 through the raw stub (see create_db)."""
    wrap = {f.name: getattr(schema_pb2, f.message_type.name)
            for f in schema_pb2.ReplicationNullableSettings.DESCRIPTOR.fields}
    rs = schema_pb2.ReplicationNullableSettings(**{k: wrap[k](value=v) for k, v in replication.items()})
    return client._stub.UpdateDatabaseV2(schema_pb2.UpdateDatabaseRequest(
        database=name, settings=schema_pb2.DatabaseNullableSettings(replicationSettings=rs)))


def test_migration_from_immudb_to_sealdb_by_promotion(immudb_ref, sealdb_pw, immudb_factory):
    """Moving a database off immudb: a sealdb replica catches up, the immudb primary stops, the replica
    is promoted and takes writes; its history is immudb's plus the new txs, and a new immudb replica
    of the promoted sealdb database ends up equal to it (every tx, key and proof)."""
    create_db(db_client(immudb_ref, "defaultdb"), "pdb")
    src = db_client(immudb_ref, "pdb")
    for i in range(30):
        write_mixed(src, "m", i)
    create_db(db_client(sealdb_pw, "defaultdb"), "moved", replica_of(immudb_ref, "pdb"))
    want = state(src)
    wait_for(lambda: state(db_client(sealdb_pw, "moved")) == want, 30, "the sealdb replica to catch up")
    assert_same_and_verified((immudb_ref, "pdb"), (sealdb_pw, "moved"), "before promotion")
    immudb_ref.stop()

    _update(db_client(sealdb_pw, "defaultdb"), "moved", {"replica": False})
    c = db_client(sealdb_pw, "moved")
    for i in range(30, 40):
        write_mixed(c, "m", i)
    after = state(c)
    assert after[0] > want[0]
    # the old history is unchanged: tx want[0] still has immudb's Alh
    immudb_ref.start()
    old = db_client(immudb_ref, "pdb")
    assert state(old) == want
    for t in range(1, want[0] + 1):
        assert tx_record(old, t) == tx_record(c, t), "tx %d changed by the promotion" % t

    # and an immudb replica of the promoted database copies all of it
    r = immudb_factory()
    create_db(db_client(r, "defaultdb"), "copy", replica_of(sealdb_pw, "moved"))
    wait_for(lambda: state(db_client(r, "copy")) == after, 40, "the immudb replica of the promoted db")
    assert_same_and_verified((sealdb_pw, "moved"), (r, "copy"), "promoted sealdb vs immudb replica")
    assert_clean_stop(sealdb_pw)
