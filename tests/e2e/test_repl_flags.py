# test_repl_flags.py - the --replication-* server flags (docs/replication.md 5) with real binaries: a
# sealdb replica started with immudb's flags follows a sealdb primary's defaultdb (every tx and key
# equal and verified, client writes refused with immudb's error), the flags decide at every start (a
# restart without them makes defaultdb a primary again), a primary started with
# --replication-sync-enabled --replication-sync-acks=1 answers a write only once a flag-started sync
# replica holds it, the environment form (IMMUDB_REPLICATION_*), a config file, immudb's deprecated
# flag names, every refused combination (exit code 2 and the one-line reason), and a sealdb replica
# started with the flags following a real immudb 1.9.5 primary.
import os
import subprocess

import grpc
import pytest
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2 as S

from immudb_ref import immudb_ref  # noqa: F401 (fixture)
from immudb_ref import immudb_factory  # noqa: F401 (fixture)
from interop_util import assert_same_and_verified, create_db, wait_for, write_mixed
from sealdb_proc import SEALDB_BIN, free_port
from test_repl import err

READ_ONLY = ("UNKNOWN", "database is read-only because it's a replica")


def follow_flags(primary, password="immudb", sync=False):
    f = ["--replication-is-replica", "--replication-primary-host=127.0.0.1",
         "--replication-primary-port=%d" % primary.port, "--replication-primary-username=immudb",
         "--replication-primary-password=" + password]
    return f + (["--replication-sync-enabled"] if sync else [])


def txid(c):
    return c._stub.CurrentState(empty_pb2.Empty()).txId


def repl_settings(c):
    return c._stub.GetDatabaseSettingsV2(S.DatabaseSettingsRequest()).settings.replicationSettings


def test_replica_by_flags_follows_defaultdb(sealdb_factory):
    a = sealdb_factory()
    ca = a.client()
    for i in range(30):
        write_mixed(ca, "pre", i)
    b = sealdb_factory(follow_flags(a) + ["--replication-wait-for-indexing"])
    assert "defaultdb: replica of 127.0.0.1:%d/defaultdb as immudb" % a.port in b.log()
    cb = b.client()
    rs = repl_settings(cb)
    assert rs.replica.value and rs.primaryHost.value == "127.0.0.1" and rs.primaryPort.value == a.port
    assert rs.primaryDatabase.value == "defaultdb" and rs.primaryUsername.value == "immudb"
    assert rs.primaryPassword.value == "******" and rs.waitForIndexing.value and not rs.syncReplication.value
    assert rs.prefetchTxBufferSize.value == 100 and rs.replicationCommitConcurrency.value == 10
    for i in range(30, 60):
        write_mixed(ca, "live", i)
    n = txid(ca)
    wait_for(lambda: txid(cb) == n, 30, "the flag-started replica to reach tx %d" % n)
    assert_same_and_verified((a, "defaultdb"), (b, "defaultdb"), "flag replica", ntx=n)
    assert err(cb.set, b"x", b"y") == READ_ONLY
    # systemdb stays local: this server's users and databases are its own (immudb would replicate them)
    cb.createUser("local", "Local-pw1!", 2, "defaultdb")
    create_db(cb, "own")
    assert cb.get(b"pre-0").value == ca.get(b"pre-0").value

    # the flags decide at every start: without them defaultdb is a primary again (immudb's rule too),
    # with them again it follows from where it was
    b.args = []
    b.restart()
    cb = b.client()
    assert not repl_settings(cb).replica.value and repl_settings(cb).primaryHost.value == ""
    t = cb.set(b"own-write", b"1").id
    assert t == n + 1
    b.args = follow_flags(a)
    b.restart()
    assert err(b.client().set, b"x", b"y") == READ_ONLY


def test_replica_by_flags_diverged_is_reported(sealdb_factory):
    # a replica whose defaultdb wrote on its own (above) cannot follow: it stops loudly
    a = sealdb_factory()
    a.client().set(b"p", b"1")
    b = sealdb_factory()
    b.client().set(b"b-own", b"1")
    b.args = follow_flags(a)
    b.restart()
    wait_for(lambda: "replication of database defaultdb stopped" in b.log(), 30, "the divergence log line")


def test_sync_primary_by_flags_waits_for_flag_replica(sealdb_factory):
    a = sealdb_factory(["--replication-sync-enabled", "--replication-sync-acks=1"])
    assert "defaultdb: synchronous primary, 1 replica acks per write" in a.log()
    ca = a.client()
    rs = repl_settings(ca)
    assert rs.syncReplication.value and rs.syncAcks.value == 1 and not rs.replica.value
    # no replica yet: the write is durable on the primary but not answered before the deadline
    with pytest.raises(grpc.RpcError) as e:
        ca._stub.Set(S.SetRequest(KVs=[S.KeyValue(key=b"held", value=b"1")]), timeout=1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    b = sealdb_factory(follow_flags(a, sync=True))
    assert "defaultdb: synchronous replica of 127.0.0.1:%d/defaultdb" % a.port in b.log()
    cb = b.client()
    assert repl_settings(cb).syncReplication.value
    wait_for(lambda: cb.get(b"held").value == b"1", 30, "the held write on the replica")
    for i in range(10):
        t = ca.set(b"k%d" % i, b"v%d" % i).id
        # answered: the replica holds it already
        assert cb._stub.CurrentState(empty_pb2.Empty()).precommittedTxId >= t
    assert err(cb.set, b"x", b"y") == READ_ONLY
    # the replica stops: writes wait again (the flags' syncAcks holds)
    b.stop()
    with pytest.raises(grpc.RpcError) as e:
        ca._stub.Set(S.SetRequest(KVs=[S.KeyValue(key=b"held2", value=b"1")]), timeout=1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    b.start()
    wait_for(lambda: b.client().get(b"held2").value == b"1", 30, "the second held write on the replica")
    assert ca.set(b"after", b"1").id > t


def test_sync_replica_by_flags_discards_with_allow_tx_discarding(sealdb_factory):
    # replica r (flags, sync, --replication-allow-tx-discarding) precommits txs 4 and 5 of primary a
    # that a never commits (syncAcks 2, one replica); a is replaced by b, a copy of a at tx 3 with its
    # own txs 4..: r discards exactly 4 and 5 and follows b (docs/replication.md 10.3)
    import re
    import shutil
    sync = ["--replication-sync-enabled", "--replication-sync-acks=1"]
    a = sealdb_factory(sync)
    r = sealdb_factory(follow_flags(a, sync=True) + ["--replication-allow-tx-discarding"])
    assert repl_settings(r.client()).allowTxDiscarding.value
    ca = a.client()
    for i in range(3):
        ca.set(b"k%d" % i, b"v%d" % i)
    n = txid(ca)
    cr = r.client()
    wait_for(lambda: txid(cr) == n, 30, "the replica to commit tx %d" % n)
    a.stop()
    b = sealdb_factory(sync, start=False)
    shutil.copytree(a.dir, b.dir)
    a.args = ["--replication-sync-enabled", "--replication-sync-acks=2"]
    a.start()
    ca = a.client()
    for k in (b"lost1", b"lost2"):
        with pytest.raises(grpc.RpcError) as e:
            ca._stub.Set(S.SetRequest(KVs=[S.KeyValue(key=k, value=b"x")]), timeout=1.5)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: cr._stub.CurrentState(empty_pb2.Empty()).precommittedTxId == n + 2, 30,
             "the replica to precommit the held txs")
    port = a.port
    a.kill9()
    b.port = port
    b.start()
    cb = b.client()
    ids = [cb._stub.Set(S.SetRequest(KVs=[S.KeyValue(key=b"new%d" % i, value=b"n")]), timeout=30).id
           for i in range(3)]
    assert ids == [n + 1, n + 2, n + 3]
    wait_for(lambda: txid(cr) == n + 3, 30, "the replica to follow the new primary")
    assert re.search(r"does not have its precommitted txs %d\.\.%d: discarding them" % (n + 1, n + 2), r.log())
    assert cr.get(b"lost1") is None and cr.verifiedGet(b"new2").value == b"n"
    assert cr.currentState().txHash == cb.currentState().txHash


def test_env_and_config_forms(sealdb_factory, tmp_path):
    a = sealdb_factory()
    ca = a.client()
    ca.set(b"k", b"v")
    env = {"IMMUDB_REPLICATION_IS_REPLICA": "true", "IMMUDB_REPLICATION_PRIMARY_HOST": "127.0.0.1",
           "IMMUDB_REPLICATION_PRIMARY_PORT": str(a.port), "IMMUDB_REPLICATION_PRIMARY_USERNAME": "immudb",
           "IMMUDB_REPLICATION_PRIMARY_PASSWORD": "immudb"}
    b = sealdb_factory(env=env)
    cb = b.client()
    wait_for(lambda: txid(cb) == txid(ca), 30, "the env-configured replica")
    assert err(cb.set, b"x", b"y") == READ_ONLY
    # config file keys are the flag names; immudb's deprecated flag names work as flags
    cfg = tmp_path / "immudb.toml"
    cfg.write_text('replication-is-replica = true\nreplication-primary-host = "127.0.0.1"\n'
                   'replication-primary-port = %d\nreplication-primary-username = "immudb"\n' % a.port)
    c = sealdb_factory(["--config", str(cfg), "--replication-follower-password=immudb"])
    cc = c.client()
    wait_for(lambda: txid(cc) == txid(ca), 30, "the config-file replica")
    d = sealdb_factory(["--replication-enabled", "--replication-master-address=127.0.0.1",
                        "--replication-master-port=%d" % a.port, "--replication-follower-username=immudb",
                        "--replication-follower-password=immudb"])
    wait_for(lambda: txid(d.client()) == txid(ca), 30, "the replica configured by deprecated names")


def test_replica_without_primary_takes_replicate_tx(sealdb_factory):
    a = sealdb_factory()
    ca = a.client()
    ca.set(b"k", b"v")
    b = sealdb_factory(["--replication-is-replica"])
    assert "defaultdb: replica without a primary" in b.log()
    cb = b.client()
    assert err(cb.set, b"x", b"y") == READ_ONLY
    for t in range(1, txid(ca) + 1):
        cb.replicateTx(ca.exportTx(t))
    assert cb.currentState().txHash == ca.currentState().txHash


def _run(tmp_path, args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    cmd = [os.path.abspath(SEALDB_BIN), "--dir", str(tmp_path / "d"), "-a", "127.0.0.1", "-p", str(free_port()),
           "--metrics-server=false", "--web-server=false"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=15, cwd=tmp_path, env=e)
    return p.returncode, [ln for ln in p.stderr.splitlines() if ln.strip()]


PRIMARY = "on primary database 'defaultdb' (only with --replication-is-replica; immudb 1.9.5 ignores it)"
REFUSED = [
    (["--replication-sync-enabled"], "sealdb: --replication-sync-enabled: invalid replication options for primary "
     "database 'defaultdb'. It is necessary to have at least one sync replica"),
    (["--replication-sync-acks=1"], "sealdb: --replication-sync-acks: invalid replication options for primary "
     "database 'defaultdb'. SyncAcks should be set to 0"),
    (["--replication-sync-enabled", "--replication-sync-acks=-1"], "invalid value for replication option SyncAcks "
     "on primary database 'defaultdb'"),
    (["--replication-is-replica", "--replication-sync-acks=1"], "sealdb: --replication-sync-acks: invalid value "
     "for replication option SyncAcks ReplicationCommitConcurrency on database 'defaultdb'"),
    (["--replication-primary-host=h"], "--replication-primary-host: invalid value for replication option "
     "PrimaryHost " + PRIMARY),
    (["--replication-primary-port=3323"], "option PrimaryPort " + PRIMARY),
    (["--replication-primary-username=u"], "option PrimaryUsername " + PRIMARY),
    (["--replication-primary-password=p"], "option PrimaryPassword " + PRIMARY),
    (["--replication-prefetch-tx-buffer-size=5"], "option PrefetchTxBufferSize " + PRIMARY),
    (["--replication-commit-concurrency=5"], "option ReplicationCommitConcurrency " + PRIMARY),
    (["--replication-skip-integrity-check"], "option SkipIntegrityCheck " + PRIMARY),
    (["--replication-wait-for-indexing"], "option WaitForIndexing " + PRIMARY),
    (["--replication-allow-tx-discarding"], "option AllowTxDiscarding " + PRIMARY),
    (["--replication-is-replica", "--replication-prefetch-tx-buffer-size=0"], "invalid value for replication "
     "option PrefetchTxBufferSize on replica database 'defaultdb'"),
    (["--replication-is-replica", "--replication-commit-concurrency=0"], "invalid value for replication option "
     "ReplicationCommitConcurrency on replica database 'defaultdb'"),
    (["--replication-is-replica", "--replication-primary-host=h", "--replication-primary-username=u"],
     "sealdb: --replication-primary-password: needed with --replication-primary-host"),
    (["--replication-is-replica", "--replication-primary-host=h", "--replication-primary-password=p"],
     "sealdb: --replication-primary-username: needed with --replication-primary-host"),
    (["--replication-is-replica", "--replication-primary-host=h", "--replication-primary-port=0",
      "--replication-primary-username=u", "--replication-primary-password=p"],
     "sealdb: --replication-primary-port: not a port (1..65535)"),
    (["--replication-is-replica", "--replication-primary-username=u"], "sealdb: --replication-primary-username: "
     "only with --replication-primary-host"),
    (["--replication-is-replica", "--replication-skip-integrity-check"], "only with --replication-primary-host"),
    (["--replication-master-database=x"], "unknown flag"),
    (["--replication-is-replica=maybe"], "sealdb: --replication-is-replica: invalid boolean"),
]


@pytest.mark.parametrize("args,reason", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_invalid_combination_refused(tmp_path, args, reason):
    rc, lines = _run(tmp_path, args)
    assert rc == 2, lines
    assert len(lines) == 1 and reason in lines[0], lines
    assert not (tmp_path / "d").exists()   # refused before anything was created


def test_invalid_combination_from_env_names_its_source(tmp_path):
    rc, lines = _run(tmp_path, [], env={"IMMUDB_REPLICATION_SYNC_ENABLED": "true"})
    assert rc == 2 and len(lines) == 1, lines
    assert "It is necessary to have at least one sync replica" in lines[0] and "(set by the environment)" in lines[0]


def test_sealdb_replica_by_flags_of_immudb_primary(immudb_ref, sealdb_factory):  # noqa: F811
    ci = immudb_ref.client(password=immudb_ref.admin_password)
    for i in range(40):
        write_mixed(ci, "imm", i)
    b = sealdb_factory(follow_flags(immudb_ref, password=immudb_ref.admin_password))
    cb = b.client()
    n = txid(ci)
    wait_for(lambda: txid(cb) == n, 60, "the sealdb replica of immudb's defaultdb")
    for i in range(40, 60):
        write_mixed(ci, "imm", i)
    n = txid(ci)
    wait_for(lambda: txid(cb) == n, 60, "the sealdb replica to follow new txs")
    assert_same_and_verified((immudb_ref, "defaultdb"), (b, "defaultdb"), "immudb primary, flag replica", ntx=n)
    assert err(cb.set, b"x", b"y") == READ_ONLY


def test_sealdb_sync_replica_by_flags_of_immudb_sync_primary_by_flags(immudb_factory, sealdb_factory):  # noqa: F811
    # both sides started with immudb's flags: immudb's defaultdb (and systemdb) become sync primaries
    p = immudb_factory(["--replication-sync-enabled", "--replication-sync-acks=1"])
    ci = p.client(password=p.admin_password)
    with pytest.raises(grpc.RpcError) as e:
        ci._stub.Set(S.SetRequest(KVs=[S.KeyValue(key=b"held", value=b"1")]), timeout=1.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    b = sealdb_factory(follow_flags(p, password=p.admin_password, sync=True))
    cb = b.client()
    wait_for(lambda: cb.get(b"held").value == b"1", 60, "immudb's held write on the sealdb sync replica")
    for i in range(20):
        t = write_mixed(ci, "sync", i)
        assert cb._stub.CurrentState(empty_pb2.Empty()).precommittedTxId >= t
    wait_for(lambda: txid(cb) == txid(ci), 30, "the replica to commit what immudb committed")
    assert_same_and_verified((p, "defaultdb"), (b, "defaultdb"), "immudb sync primary, flag sync replica")
    assert err(cb.set, b"x", b"y") == READ_ONLY
