# test_kv_stream.py - immudb-py's streaming calls against sealdb, with values of several MiB (larger
# than gRPC's default 4 MiB message limit, so only the chunked streams can carry them).
import os

from immudb import datatypes
from immudb.grpc import schema_pb2

from kv_server import kvserver, kvclient, rpc_error  # noqa: F401 (fixtures)

BIG = 5 * 1024 * 1024 + 123


def test_stream_set_get_large(kvclient):
    c = kvclient
    value = os.urandom(BIG)
    h = c.streamSetFullValue(b"big:1", value)
    assert h.id >= 1
    kv = c.streamGetFull(b"big:1")
    assert kv.key == b"big:1" and kv.value == value
    # immudb-py's stream verification uses its VerifiedTxById check, which cannot succeed from an
    # empty (tx 0) local state (docs/format.md 11.3): take a fresh state first
    c.currentState()
    v = c.streamVerifiedGet(b"big:1")
    assert v.verified and v.value == value and v.id == h.id
    r = c.streamVerifiedSetFullValue(b"big:2", value[::-1])
    assert r.verified
    assert c.streamGetFull(b"big:2").value == value[::-1]
    # history and scan through streams
    c.streamSetFullValue(b"big:1", b"small")
    hist = list(c.streamHistory(b"big:1"))
    assert [len(x.value) for x in hist] == [BIG, 5]
    keys = [(x.key, len(x.value)) for x in c.streamScan(prefix=b"big:")]
    assert keys == [(b"big:1", 5), (b"big:2", BIG)]


def test_stream_small_values_and_errors(kvclient):
    c = kvclient
    c.set(b"sm:a", b"1")
    c.set(b"sm:b", b"")
    assert [(x.key, x.value) for x in c.streamScan(prefix=b"sm:")] == [(b"sm:a", b"1"), (b"sm:b", b"")]
    assert c.streamGetFull(b"sm:b").value == b""
    import grpc
    try:
        c.streamGetFull(b"sm:missing")
        raise AssertionError("expected key not found")
    except grpc.RpcError as e:
        assert e.details().endswith("key not found")


def test_stream_zscan_exec_all(kvclient):
    c = kvclient
    h = c.streamExecAll([
        datatypes.KeyValue(key=b"sx:k1", value=b"v1"),
        datatypes.KeyValue(key=b"sx:k2", value=b"v2" * 1000),
    ])
    assert c.get(b"sx:k2").value == b"v2" * 1000
    c.streamExecAll([datatypes.ZAddRequest(set=b"sxs", score=7.0, key=b"sx:k1"),
                     datatypes.ZAddRequest(set=b"sxs", score=3.0, key=b"sx:k2")])
    zs = list(c.streamZScan(set=b"sxs"))
    assert [(z.key, z.score, z.value) for z in zs] == [(b"sx:k2", 3.0, b"v2" * 1000), (b"sx:k1", 7.0, b"v1")]
    tx = c.stub.TxById(schema_pb2.TxRequest(tx=h.id))
    assert [e.key for e in tx.entries] == [b"\x00sx:k1", b"\x00sx:k2"]
