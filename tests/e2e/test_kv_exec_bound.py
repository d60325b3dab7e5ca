# test_kv_exec_bound.py - ExecAll references and sorted-set members bound to the transaction being
# created (boundRef=true, atTx=0, docs/api.md 2.8), also under concurrent writers, the noWait
# self-contained rule, and that SetReference/ZAdd still refuse missing targets.
import threading

import grpc
import pytest
from immudb.grpc import schema_pb2


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value.code().name, e.value.details()


def op_kv(k, v):
    return schema_pb2.Op(kv=schema_pb2.KeyValue(key=k, value=v))


def op_ref(k, target, at_tx=0, bound=True):
    return schema_pb2.Op(ref=schema_pb2.ReferenceRequest(key=k, referencedKey=target, atTx=at_tx, boundRef=bound))


def op_zadd(s, score, k, at_tx=0, bound=True):
    return schema_pb2.Op(zAdd=schema_pb2.ZAddRequest(set=s, score=score, key=k, atTx=at_tx, boundRef=bound))


def test_refs_bound_to_the_new_tx(client):
    s = client.stub
    client.set(b"b:old", b"o1")
    h = s.ExecAll(schema_pb2.ExecAllRequest(Operations=[
        op_kv(b"b:k", b"v1"), op_ref(b"b:ref", b"b:k"), op_zadd(b"bset", 2.0, b"b:k"),
        op_ref(b"b:ref_old", b"b:old")]))
    assert h.nentries == 4
    client.set(b"b:k", b"v2")
    client.set(b"b:old", b"o2")
    # the references stay on the values of tx h.id
    e = s.Get(schema_pb2.KeyRequest(key=b"b:ref"))
    assert (e.value, e.tx) == (b"v1", h.id)
    assert e.referencedBy.key == b"b:ref" and e.referencedBy.atTx == h.id
    z = s.ZScan(schema_pb2.ZScanRequest(set=b"bset"))
    assert [(x.key, x.atTx, x.entry.value) for x in z.entries] == [(b"b:k", h.id, b"v1")]
    # bound to a tx where b:old was not written: immudb's behaviour is a missing key at that tx
    assert err(s.Get, schema_pb2.KeyRequest(key=b"b:ref_old"))[0] == "UNKNOWN"
    # the tx is proven like any other
    assert client.verifiedGet(b"b:ref").verified


def test_no_wait_must_be_self_contained(client):
    s = client.stub
    h = s.ExecAll(schema_pb2.ExecAllRequest(noWait=True, Operations=[
        op_kv(b"n:k", b"x"), op_ref(b"n:ref", b"n:k"), op_zadd(b"nset", 1.0, b"n:k")]))
    assert client.get(b"n:ref").value == b"x" and client.get(b"n:ref").tx == h.id
    client.set(b"n:other", b"y")
    for op in (op_ref(b"n:r2", b"n:other"), op_ref(b"n:r3", b"n:other", bound=False),
               op_zadd(b"nset", 1.0, b"n:other")):
        e = err(s.ExecAll, schema_pb2.ExecAllRequest(noWait=True, Operations=[op_kv(b"n:z", b"z"), op]))
        assert e[0] == "UNKNOWN" and e[1].startswith("no wait operation must be self-contained")


def test_bound_refs_under_concurrent_writers(client, sealdb):
    stop = threading.Event()
    errors = []

    def writer(n):
        w = sealdb.client()
        i = 0
        try:
            while not stop.is_set():
                w.set(b"w%d:%d" % (n, i), b"x")
                i += 1
        except Exception as ex:   # pragma: no cover - reported below
            errors.append(ex)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        s = client.stub
        made = []
        for i in range(30):
            h = s.ExecAll(schema_pb2.ExecAllRequest(Operations=[
                op_kv(b"c:%d" % i, b"val%d" % i), op_ref(b"c:ref%d" % i, b"c:%d" % i),
                op_zadd(b"cset", float(i), b"c:%d" % i)]))
            made.append(h.id)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    for i, txid in enumerate(made):
        e = s.Get(schema_pb2.KeyRequest(key=b"c:ref%d" % i))
        assert (e.value, e.tx, e.referencedBy.atTx) == (b"val%d" % i, txid, txid)
    z = s.ZScan(schema_pb2.ZScanRequest(set=b"cset", limit=100))
    assert [x.atTx for x in z.entries] == made


def test_missing_targets_are_refused(client):
    s = client.stub
    assert err(client.setReference, b"m:nope", b"m:ref") == ("UNKNOWN", "tbtree: key not found")
    assert err(client.zAdd, b"mset", 1.0, b"m:nope") == ("UNKNOWN", "tbtree: key not found")
    e = err(s.ExecAll, schema_pb2.ExecAllRequest(Operations=[op_kv(b"m:a", b"1"), op_ref(b"m:r", b"m:nope", bound=False)]))
    assert e == ("UNKNOWN", "tbtree: key not found")
    client.set(b"m:t", b"1")
    client.setReference(b"m:t", b"m:ref")
    assert client.get(b"m:ref").value == b"1"
