# test_compat_limits.py - the largest key, value and transaction immudb 1.9.5 accepts, and the first one it
# refuses, with its codes and texts: a value of max value length - 1 bytes (the stored value has a one-byte
# prefix) through streamSet, FailedPrecondition "internal store max value length exceeded" one byte later;
# unary writes on a database with small limits answer Unknown "max ... exceeded".
import grpc
import pytest
from google.protobuf import json_format
from immudb.grpc import schema_pb2, schema_pb2_grpc

MAX_VALUE = 32 << 20          # immudb's maxValueLen for databases the server creates, prefix byte included


def test_largest_value_through_stream_set(sealdb):
    c = sealdb.client()
    big = bytes(range(256)) * ((MAX_VALUE - 1) // 256) + b"z" * ((MAX_VALUE - 1) % 256)
    assert len(big) == MAX_VALUE - 1
    tx = c.streamSetFullValue(b"big", big)
    assert tx.id > 0
    got = c.streamGetFull(b"big")
    assert got.value == big
    with pytest.raises(grpc.RpcError) as e:
        c.streamSetFullValue(b"big", big + b"!")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "internal store max value length exceeded"


def test_small_limits_of_a_database(sealdb):
    stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(sealdb.address))
    md = [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token)]
    settings = json_format.ParseDict({"maxKeyLen": {"value": 64}, "maxValueLen": {"value": 4096},
                                      "maxTxEntries": {"value": 8}}, schema_pb2.DatabaseNullableSettings())
    stub.CreateDatabaseV2(schema_pb2.CreateDatabaseRequest(name="small", settings=settings), metadata=md)
    md = [("authorization", stub.UseDatabase(schema_pb2.Database(databaseName="small"), metadata=md).token)]

    def put(*kvs):
        return stub.Set(schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=k, value=v) for k, v in kvs]), metadata=md)

    assert put((b"k" * 63, b"v" * 4095)).id > 0
    assert put(*[(b"e%d" % i, b"") for i in range(8)]).nentries == 8
    for kvs, msg in [([(b"k" * 64, b"v")], "max key length exceeded"),
                     ([(b"k", b"v" * 4096)], "max value length exceeded"),
                     ([(b"e%d" % i, b"") for i in range(9)], "max number of entries per tx exceeded")]:
        with pytest.raises(grpc.RpcError) as e:
            put(*kvs)
        assert (e.value.code(), e.value.details()) == (grpc.StatusCode.UNKNOWN, msg)
