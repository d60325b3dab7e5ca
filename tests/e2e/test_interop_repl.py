# test_interop_repl.py - asynchronous replication across sealdb and the real immudb 1.9.5: a sealdb
# replica database following an immudb primary, and an immudb replica database following a sealdb
# primary (immudb's replicator: OpenSession, ServerInfo "1.9.5", streamExportTx), each under a
# concurrent write load with the replica restarted and the primary restarted mid-stream; at the end
# both sides hold the same txs, keys and proofs.
import threading
import time

from immudb.grpc import schema_pb2

from immudb_ref import immudb_factory, immudb_ref, sealdb_pw, sealdb_pw_factory  # noqa: F401 (fixtures)
from interop_util import assert_same_and_verified, db_client, state, wait_for, write_mixed


def create_replica(server, name, primary):
    """CreateDatabaseV2 of a replica of primary's defaultdb, built from the protobuf messages:
    immudb-py 1.5.0's ReplicationSettings sends primaryUsername as primaryPassword."""
    S = schema_pb2
    rs = S.ReplicationNullableSettings(
        replica=S.NullableBool(value=True), primaryDatabase=S.NullableString(value="defaultdb"),
        primaryHost=S.NullableString(value="127.0.0.1"), primaryPort=S.NullableUint32(value=primary.port),
        primaryUsername=S.NullableString(value="immudb"),
        primaryPassword=S.NullableString(value=primary.admin_password))
    db_client(server, "defaultdb")._stub.CreateDatabaseV2(
        S.CreateDatabaseRequest(name=name, settings=S.DatabaseNullableSettings(replicationSettings=rs)))


def _load(server, stop, done, tag):
    """Writes mixed txs to server's defaultdb until stop; reconnects across restarts."""
    i = 0
    c = None
    while not stop.is_set():
        try:
            if c is None:
                c = db_client(server, "defaultdb")
            write_mixed(c, tag, i)
            done.append(i)
            i += 1
        except Exception:
            c = None
            time.sleep(0.2)


def _run(primary, replica_srv, replica_db, restart_replica, restart_primary):
    pc = db_client(primary, "defaultdb")
    for i in range(30):
        write_mixed(pc, "pre", i)
    stop, done = threading.Event(), []
    th = threading.Thread(target=_load, args=(primary, stop, done, "load"))
    th.start()
    try:
        time.sleep(1.5)
        restart_replica()
        time.sleep(1.5)
        restart_primary()
        time.sleep(1.5)
    finally:
        stop.set()
        th.join()
    assert len(done) > 10
    want = state(db_client(primary, "defaultdb"))
    wait_for(lambda: state(db_client(replica_srv, replica_db)) == want, 180, "the replica to catch up")
    return assert_same_and_verified((primary, "defaultdb"), (replica_srv, replica_db), "replica")


def _restart_same_port(srv):
    port = srv.port
    srv.kill9()
    srv.port = port
    srv.start()


def test_sealdb_replica_of_immudb_primary(immudb_ref, sealdb_pw):
    create_replica(sealdb_pw, "rep", immudb_ref)
    n = _run(immudb_ref, sealdb_pw, "rep", lambda: _restart_same_port(sealdb_pw),
             lambda: (immudb_ref.stop(), immudb_ref.start()))
    assert n > 40


def test_immudb_replica_of_sealdb_primary(immudb_ref, sealdb_pw):
    create_replica(immudb_ref, "rep", sealdb_pw)
    n = _run(sealdb_pw, immudb_ref, "rep", lambda: _restart_same_port(immudb_ref),
             lambda: (sealdb_pw.stop(), sealdb_pw.start()))
    assert n > 40
