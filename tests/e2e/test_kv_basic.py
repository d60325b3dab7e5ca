# test_kv_basic.py - the unary KV calls of immudb-py 1.5.0 against the real sealdb binary:
# values, revisions, references, sorted sets, ExecAll, transactions and immudb's error texts.
import datetime
import time

from immudb import datatypes
from immudb.grpc import schema_pb2
from google.protobuf import empty_pb2

from kv_server import kvserver, kvclient, rpc_error  # noqa: F401 (fixtures)


def test_set_get_revisions(kvclient):
    c = kvclient
    r1 = c.set(b"b:k", b"v1")
    r2 = c.set(b"b:k", b"v2")
    assert r2.id == r1.id + 1
    g = c.get(b"b:k")
    assert (g.key, g.value, g.tx, g.revision) == (b"b:k", b"v2", r2.id, 2)
    assert c.get(b"b:k", atRevision=1).value == b"v1"
    assert c.get(b"b:k", atRevision=-1).value == b"v1"
    assert c.getValue(b"b:k") == b"v2"
    assert c.get(b"b:missing") is None
    assert c.getValue(b"b:missing") is None
    assert rpc_error(c.get, b"b:k", atRevision=5) == ("UNKNOWN", "invalid key revision number")
    # empty value round trip
    c.set(b"b:empty", b"")
    assert c.get(b"b:empty").value == b""


def test_get_modes_and_errors(kvclient):
    c = kvclient
    tx = c.set(b"m:k", b"x").id
    c.set(b"m:k", b"y")
    s = c.stub
    e = s.Get(schema_pb2.KeyRequest(key=b"m:k", atTx=tx))
    assert (e.value, e.tx, e.revision) == (b"x", tx, 0)
    err = rpc_error(s.Get, schema_pb2.KeyRequest(key=b""))
    assert err == ("UNKNOWN", "illegal arguments: empty key")
    err = rpc_error(s.Get, schema_pb2.KeyRequest(key=b"m:k", atTx=1, sinceTx=1))
    assert err == ("UNKNOWN", "illegal arguments: SinceTx should not be specified when AtTx is used")
    err = rpc_error(s.Get, schema_pb2.KeyRequest(key=b"m:k", sinceTx=10**9))
    assert err == ("UNKNOWN", "illegal arguments: SinceTx must not be greater than the current transaction ID")
    err = rpc_error(s.Get, schema_pb2.KeyRequest(key=b"m:k", atTx=10**9))
    assert err == ("UNKNOWN", "tx not found")
    err = rpc_error(s.Get, schema_pb2.KeyRequest(key=b"m:other", atTx=tx))
    assert err == ("UNKNOWN", "tbtree: key not found")


def test_set_all_get_all_delete(kvclient):
    c = kvclient
    r = c.setAll({b"d:a": b"1", b"d:b": b"2", b"d:c": b"3"})
    tx = c.txById(r.id)
    assert sorted(tx) == [b"d:a", b"d:b", b"d:c"]
    assert c.getAll([b"d:a", b"d:zz", b"d:c"]) == {b"d:a": b"1", b"d:c": b"3"}
    h = c.delete(datatypes.DeleteKeysRequest(keys=[b"d:b"]))
    assert h.id == r.id + 1
    assert c.get(b"d:b") is None
    assert c.getAll([b"d:b"]) == {}
    err = rpc_error(c.delete, datatypes.DeleteKeysRequest(keys=[b"d:b"]))
    assert err == ("UNKNOWN", "tbtree: key not found")
    hist = c.history(b"d:b", 0, 10, False)
    assert [(x.value, x.tx) for x in hist] == [(b"2", r.id), (b"", r.id + 1)]
    # set again after delete: revision 3
    c.set(b"d:b", b"again")
    assert c.get(b"d:b").revision == 3


def test_expired_entry(kvclient):
    c = kvclient
    c.expireableSet(b"e:k", b"v", datetime.datetime.now() + datetime.timedelta(days=1))
    assert c.get(b"e:k").value == b"v"
    c.expireableSet(b"e:old", b"v", datetime.datetime.fromtimestamp(time.time() - 10))
    assert rpc_error(c.get, b"e:old") == ("UNKNOWN", "tbtree: key not found: expired entry")
    assert b"e:old" not in c.scan(b"", b"e:", False, 10)


def test_history_scan(kvclient):
    c = kvclient
    for i in range(5):
        c.set(b"h:k", b"v%d" % i)
    # immudb-py sends History with sinceTx = its cached state's tx, which plain sets do not advance, so the
    # server (like immudb) need not wait for the key index to cover the last set; a Get (sinceTx 0) does.
    assert c.get(b"h:k").value == b"v4"
    h = c.history(b"h:k", 0, 10, False)
    assert [x.value for x in h] == [b"v%d" % i for i in range(5)]
    h = c.history(b"h:k", 1, 2, True)
    assert [x.value for x in h] == [b"v3", b"v2"]
    s = c.stub
    assert rpc_error(s.History, schema_pb2.HistoryRequest(key=b"h:k", offset=5)) == ("UNKNOWN", "tbtree: no more entries")
    assert rpc_error(s.History, schema_pb2.HistoryRequest(key=b"h:nope")) == ("UNKNOWN", "tbtree: key not found")
    assert rpc_error(s.History, schema_pb2.HistoryRequest(key=b"h:k", limit=2501))[1].startswith(
        "result size limit exceeded: the specified limit (2501)")
    for k in (b"s:c", b"s:a", b"s:b", b"t:x"):
        c.set(k, k + b"-v")
    assert list(c.scan(b"", b"s:", False, 10).items()) == [(b"s:a", b"s:a-v"), (b"s:b", b"s:b-v"), (b"s:c", b"s:c-v")]
    assert list(c.scan(b"", b"s:", True, 2).keys()) == [b"s:c", b"s:b"]
    assert list(c.scan(b"s:a", b"s:", False, 10).keys()) == [b"s:b", b"s:c"]
    e = s.Scan(schema_pb2.ScanRequest(prefix=b"s:", seekKey=b"s:a", inclusiveSeek=True, endKey=b"s:b", inclusiveEnd=True))
    assert [x.key for x in e.entries] == [b"s:a", b"s:b"]
    assert s.Count(schema_pb2.KeyPrefix(prefix=b"s:")).count == 3
    assert s.CountAll(empty_pb2.Empty()).count >= 4
    err = rpc_error(s.Scan, schema_pb2.ScanRequest(prefix=b"s:", limit=2501))
    assert err == ("UNKNOWN", "result size limit exceeded: the specified limit (2501) is larger than the maximum allowed one (2500)")


def test_references(kvclient):
    c = kvclient
    t1 = c.set(b"r:target", b"tv").id
    h = c.setReference(b"r:target", b"r:ref")
    g = c.get(b"r:ref")
    assert (g.key, g.value, g.tx) == (b"r:target", b"tv", t1)
    e = c.stub.Get(schema_pb2.KeyRequest(key=b"r:ref"))
    assert e.referencedBy.key == b"r:ref" and e.referencedBy.tx == h.id and e.referencedBy.atTx == 0
    c.set(b"r:target", b"tv2")
    assert c.get(b"r:ref").value == b"tv2"
    # bound reference keeps the old value
    s = c.stub
    s.SetReference(schema_pb2.ReferenceRequest(key=b"r:bound", referencedKey=b"r:target", atTx=t1, boundRef=True))
    assert c.get(b"r:bound").value == b"tv"
    assert rpc_error(s.SetReference, schema_pb2.ReferenceRequest(key=b"r:x", referencedKey=b"r:target", atTx=t1)) == \
        ("INVALID_ARGUMENT", "illegal arguments")
    assert rpc_error(c.setReference, b"r:nope", b"r:x") == ("UNKNOWN", "tbtree: key not found")
    assert rpc_error(c.setReference, b"r:ref", b"r:x") == ("UNKNOWN", "referenced key cannot be a reference")
    assert rpc_error(c.setReference, b"r:ref", b"r:target") == ("UNKNOWN", "final key cannot be converted into a reference")
    assert c.getAll([b"r:ref"]) == {b"r:target": b"tv2"}
    c.delete(datatypes.DeleteKeysRequest(keys=[b"r:target"]))
    assert c.get(b"r:ref") is None


def test_sorted_sets(kvclient):
    c = kvclient
    for k, v in ((b"z:a", b"A"), (b"z:b", b"B"), (b"z:c", b"C")):
        c.set(k, v)
    assert c.zAdd(b"zs", 3.0, b"z:a").id > 0
    c.zAdd(b"zs", 1.0, b"z:b")
    c.zAdd(b"zs", 2.0, b"z:c")
    r = c.zScan(b"zs", b"", 0, 0, True, 10, False, 0.0, 100.0)
    assert [(e.key, e.score, e.entry.value) for e in r.entries] == [(b"z:b", 1.0, b"B"), (b"z:c", 2.0, b"C"), (b"z:a", 3.0, b"A")]
    r = c.zScan(b"zs", b"", 0, 0, True, 10, True, 0.0, 100.0)
    assert [e.key for e in r.entries] == [b"z:a", b"z:c", b"z:b"]
    r = c.zScan(b"zs", b"", 0, 0, True, 10, False, 1.5, 2.5)
    assert [e.key for e in r.entries] == [b"z:c"]
    # immudb-py always sends min/max: None means 0.0, which filters to score 0 exactly
    assert len(c.zScan(b"zs", b"", 0, 0, True, 10, False, None, None).entries) == 0
    # bound member keeps the value at that tx
    t = c.set(b"z:a", b"A2").id
    c.zAdd(b"zs2", 5.0, b"z:a", atTx=t)
    c.set(b"z:a", b"A3")
    r = c.zScan(b"zs2", b"", 0, 0, True, 10, False, 0.0, 10.0)
    assert [(e.entry.value, e.atTx) for e in r.entries] == [(b"A2", t)]
    assert rpc_error(c.zAdd, b"zs", 1.0, b"z:none") == ("UNKNOWN", "tbtree: key not found")
    assert rpc_error(c.stub.ZScan, schema_pb2.ZScanRequest(set=b"")) == ("INVALID_ARGUMENT", "illegal arguments")


def test_exec_all_and_tx(kvclient):
    c = kvclient
    c.set(b"x:base", b"b")
    h = c.execAll([
        datatypes.KeyValue(key=b"x:k1", value=b"v1"),
        datatypes.KeyValue(key=b"x:k2", value=b"v2"),
        datatypes.ZAddRequest(set=b"xs", score=1.0, key=b"x:base"),
        datatypes.ReferenceRequest(key=b"x:ref", referencedKey=b"x:k1"),
    ])
    assert c.get(b"x:k2").value == b"v2"
    assert c.get(b"x:ref").value == b"v1"
    assert c.txById(h.id) == [b"x:k1", b"x:k2", c.txById(h.id)[2], b"x:ref"]
    tx = c.stub.TxById(schema_pb2.TxRequest(tx=h.id))
    assert tx.header.nentries == 4 and len(tx.entries) == 4
    assert tx.entries[0].key == b"\x00x:k1" and len(tx.entries[0].hValue) == 32 and tx.entries[0].vLen == 3
    assert tx.entries[2].key[0] == 1
    assert len(tx.header.prevAlh) == 32 and len(tx.header.eH) == 32 and len(tx.header.blRoot) == 32
    assert c.txById(10**9) is None
    s = c.stub
    err = rpc_error(s.ExecAll, schema_pb2.ExecAllRequest(Operations=[
        schema_pb2.Op(kv=schema_pb2.KeyValue(key=b"x:d", value=b"1")),
        schema_pb2.Op(kv=schema_pb2.KeyValue(key=b"x:d", value=b"2"))]))
    assert err[0] == "INVALID_ARGUMENT" and "duplicated keys are not supported in single batch transaction" in err[1]
    assert rpc_error(s.ExecAll, schema_pb2.ExecAllRequest()) == ("INVALID_ARGUMENT", "empty set")
    # tx scan with resolved entries
    spec = schema_pb2.EntriesSpec(kvEntriesSpec=schema_pb2.EntryTypeSpec(action=schema_pb2.RESOLVE))
    tl = s.TxScan(schema_pb2.TxScanRequest(initialTx=h.id, limit=1, entriesSpec=spec))
    assert len(tl.txs) == 1 and [e.key for e in tl.txs[0].kvEntries] == [b"x:k1", b"x:k2", b"x:k1"]
    tl = c.txScan(1, 3)
    assert [t.header.id for t in tl.txs] == [1, 2, 3]
    assert rpc_error(s.TxById, schema_pb2.TxRequest(tx=0)) == ("INVALID_ARGUMENT", "illegal arguments")


def test_preconditions_and_set_errors(kvclient):
    s = kvclient.stub
    P = schema_pb2.Precondition
    kv = schema_pb2.KeyValue(key=b"p:k", value=b"1")
    s.Set(schema_pb2.SetRequest(KVs=[kv], preconditions=[P(keyMustNotExist=P.KeyMustNotExistPrecondition(key=b"p:k"))]))
    err = rpc_error(s.Set, schema_pb2.SetRequest(KVs=[kv], preconditions=[
        P(keyMustNotExist=P.KeyMustNotExistPrecondition(key=b"p:k"))]))
    assert err == ("FAILED_PRECONDITION", "precondition failed: KeyMustNotExist")
    err = rpc_error(s.Set, schema_pb2.SetRequest(KVs=[kv], preconditions=[
        P(keyMustExist=P.KeyMustExistPrecondition(key=b"p:zz"))]))
    assert err == ("FAILED_PRECONDITION", "precondition failed: KeyMustExist")
    err = rpc_error(s.Set, schema_pb2.SetRequest(KVs=[kv], preconditions=[
        P(keyNotModifiedAfterTX=P.KeyNotModifiedAfterTXPrecondition(key=b"p:k", txID=1))]))
    assert err == ("FAILED_PRECONDITION", "precondition failed: KeyNotModifiedAfterTxID")
    err = rpc_error(s.Set, schema_pb2.SetRequest(KVs=[kv], preconditions=[
        P(keyMustExist=P.KeyMustExistPrecondition(key=b""))]))
    assert err == ("UNKNOWN", "invalid precondition: null key")
    assert rpc_error(s.Set, schema_pb2.SetRequest(KVs=[kv, kv])) == \
        ("INVALID_ARGUMENT", "duplicated keys are not supported in single batch transaction")
    assert rpc_error(s.Set, schema_pb2.SetRequest()) == ("UNKNOWN", "no entries provided")
    assert rpc_error(s.Set, schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"")])) == ("INVALID_ARGUMENT", "illegal arguments")
    assert rpc_error(s.Set, schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"k" * 1024)])) == \
        ("UNKNOWN", "max key length exceeded")
    s.Set(schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"k" * 1023, value=b"ok")]))
    many = [schema_pb2.KeyValue(key=b"p:%d" % i, value=b"v") for i in range(1025)]
    assert rpc_error(s.Set, schema_pb2.SetRequest(KVs=many)) == ("UNKNOWN", "max number of entries per tx exceeded")
    h = s.Set(schema_pb2.SetRequest(KVs=many[:1024]))
    assert h.nentries == 1024


def test_state_flush_compact(kvclient):
    c = kvclient
    tx = c.set(b"st:k", b"v").id
    st = c.currentState()
    assert st.txId >= tx and len(st.txHash) == 32 and st.db == "defaultdb"
    assert c.flushIndex(10.0, True).database == "defaultdb"
    c.compactIndex()
    assert c.get(b"st:k").value == b"v"
