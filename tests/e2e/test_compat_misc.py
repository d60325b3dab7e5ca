# test_compat_misc.py - small differences from immudb 1.9.5 that the official SDKs and immuadmin see, each
# checked through immudb-py or raw gRPC against the real server: DatabaseHealth's time is Unix milliseconds,
# FlushIndex refuses a cleanup percentage outside 0..100, VerifiableZAdd with atTx needs boundRef (as on immudb,
# so immudb-py's verifiedZAdd(atTx>0) fails there too), users are listed by name, and defaultdb's creator is
# systemdb.
import time

import grpc
import pytest
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc


def admin(sealdb):
    stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(sealdb.address))
    tok = stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token
    return stub, [("authorization", tok)]


def test_database_health_time_is_unix_ms(sealdb):
    stub, md = admin(sealdb)
    stub.Set(schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"k", value=b"v")]), metadata=md)
    before_ms = time.time() * 1000
    h = stub.DatabaseHealth(empty_pb2.Empty(), metadata=md)
    # the last completed request was the Set (or this call's own bookkeeping): seconds ago at most, not 1970
    assert before_ms - 60_000 < h.lastRequestCompletedAt <= time.time() * 1000 + 1000
    c = sealdb.client()
    assert abs(c.databaseHealth().lastRequestCompletedAt - time.time() * 1000) < 60_000


@pytest.mark.parametrize("pct", [-1.0, 100.5, 1000.0])
def test_flush_index_refuses_bad_cleanup_percentage(sealdb, pct):
    stub, md = admin(sealdb)
    with pytest.raises(grpc.RpcError) as e:
        stub.FlushIndex(schema_pb2.FlushIndexRequest(cleanupPercentage=pct), metadata=md)
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert e.value.details() == "tbtree: illegal arguments: invalid cleanupPercentage"


@pytest.mark.parametrize("pct", [0.0, 50.0, 100.0])
def test_flush_index_accepts_0_to_100(sealdb, pct):
    stub, md = admin(sealdb)
    resp = stub.FlushIndex(schema_pb2.FlushIndexRequest(cleanupPercentage=pct, synced=True), metadata=md)
    assert resp.database == "defaultdb"


def test_verifiable_zadd_at_tx_needs_bound_ref(sealdb):
    c = sealdb.client()
    tx = c.set(b"member", b"m").id
    # immudb-py's verifiedZAdd sends atTx without boundRef: immudb refuses it, and so do we
    with pytest.raises(grpc.RpcError) as e:
        c.verifiedZAdd(b"set", 1.0, b"member", atTx=tx)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "illegal arguments"
    stub, md = admin(sealdb)
    req = schema_pb2.VerifiableZAddRequest(
        zAddRequest=schema_pb2.ZAddRequest(set=b"set", score=1.0, key=b"member", atTx=tx, boundRef=True),
        proveSinceTx=0)
    vtx = stub.VerifiableZAdd(req, metadata=md)
    assert vtx.tx.header.nentries == 1
    # unbound, and the plain ZAdd with atTx that immudb-py sends with boundRef, still work
    assert c.verifiedZAdd(b"set", 2.0, b"member").verified
    assert c.zAdd(b"set", 3.0, b"member", atTx=tx).id > 0


def test_users_listed_by_name(sealdb):
    c = sealdb.client()
    for name in ("zed", "alice", "mike"):
        c.createUser(name, "Passw0rd!x", 1, "defaultdb")
    names = [u.user for u in c.listUsers().userlist.users]
    assert names == sorted(names) and set(names) == {b"immudb", b"zed", b"alice", b"mike"}


def fields(buf):
    """(field number, value) pairs of a protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        else:
            val, i = buf[i:i + 4], i + 4
        yield num, val


def varint(buf, i):
    v = s = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << s
        s += 7
        if b < 0x80:
            return v, i


def test_defaultdb_created_by_systemdb(sealdb):
    stub, md = admin(sealdb)
    # immudb-py's DatabaseInfo has no field 7 (created_by): decode the answer's bytes
    ch = grpc.insecure_channel(sealdb.address)
    call = ch.unary_unary("/immudb.schema.ImmuService/DatabaseListV2", request_serializer=None,
                          response_deserializer=None)
    body = call(b"", metadata=md)
    infos = [dict(fields(v)) for n, v in fields(body) if n == 1]
    by_name = {i[1].decode(): i for i in infos}
    assert by_name["defaultdb"][7] == b"systemdb"


def raw_login(stub):
    return [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token)]


def test_login_token_selects_defaultdb_only_with_one_database(sealdb):
    stub, _ = admin(sealdb)
    get = schema_pb2.KeyRequest(key=b"nokey")
    with pytest.raises(grpc.RpcError) as e:      # single-database mode: the token works on defaultdb at once
        stub.Get(get, metadata=raw_login(stub))
    assert e.value.details() == "tbtree: key not found"
    stub.CreateDatabaseV2(schema_pb2.CreateDatabaseRequest(name="second"), metadata=raw_login(stub))
    md = raw_login(stub)
    with pytest.raises(grpc.RpcError) as e:
        stub.Get(get, metadata=md)
    assert (e.value.code(), e.value.details()) == (grpc.StatusCode.UNKNOWN, "please select a database first")
    tok = stub.UseDatabase(schema_pb2.Database(databaseName="defaultdb"), metadata=md).token
    with pytest.raises(grpc.RpcError) as e:
        stub.Get(get, metadata=[("authorization", tok)])
    assert e.value.details() == "tbtree: key not found"


def test_another_user_means_several_databases_after_restart(sealdb):
    c = sealdb.client()
    c.createUser("frank", "Frank_pw1", 1, "defaultdb")
    sealdb.restart()
    stub, _ = admin(sealdb)
    with pytest.raises(grpc.RpcError) as e:
        stub.Get(schema_pb2.KeyRequest(key=b"k"), metadata=raw_login(stub))
    assert e.value.details() == "please select a database first"
