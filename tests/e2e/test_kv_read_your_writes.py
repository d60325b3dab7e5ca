# test_kv_read_your_writes.py - immudb's read-your-writes: a write without noWait (the SDKs' default) is answered
# only once its tx is indexed, so a History or Scan sent right after it sees it, even while other clients keep
# the indexer busy with bulk writes and the reads carry an older sinceTx, as the SDKs send. With noWait the
# write is answered at commit (it may not be indexed yet) and still reads back once indexed.
import threading

import grpc
from immudb.grpc import schema_pb2, schema_pb2_grpc

TRIALS = 1000


def test_history_and_scan_after_set_never_miss_it(sealdb):
    stop = threading.Event()
    bulk_txs = []

    def bulk_writer():
        # 500-entry Sets without noWait, sent as prebuilt bytes so that Python is not the bottleneck: the
        # indexer stays busy (when writes do not wait for it, as before read-your-writes, it falls behind)
        ch = grpc.insecure_channel(sealdb.address)
        stub = schema_pb2_grpc.ImmuServiceStub(ch)
        md = [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token)]
        set_raw = ch.unary_unary("/immudb.schema.ImmuService/Set", request_serializer=None,
                                 response_deserializer=schema_pb2.TxHeader.FromString)
        me = threading.get_ident()
        body = schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"bulk:%d:%d" % (me, i), value=b"x" * 64)
                                          for i in range(500)]).SerializeToString()
        while not stop.is_set():
            bulk_txs.append(set_raw(body, metadata=md).id)

    threads = [threading.Thread(target=bulk_writer, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    c = sealdb.client(timeout=30)   # a read stuck behind the index fails the test instead of hanging it
    stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(sealdb.address))
    md = [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token)]
    missed = []
    try:
        since = 0
        for i in range(TRIALS):
            key = b"ryw:%05d" % i
            tx = c.set(key, b"v%d" % i).id
            # the sharpest probe: a read that does not wait for the index at all must already see the write
            try:
                now = stub.Get(schema_pb2.KeyRequest(key=key, noWait=True), metadata=md, timeout=30)
                if now.tx != tx:
                    missed.append(("get noWait", i, tx))
            except grpc.RpcError as e:
                missed.append(("get noWait: %s" % e.details(), i, tx))
            hist = c.history(key, 0, 10, False)
            if [h.value for h in hist] != [b"v%d" % i]:
                missed.append(("history", i, tx))
            got = c.scan(b"", key, False, 10, since)        # sinceTx older than the write, as SDKs send
            if got.get(key) != b"v%d" % i:
                missed.append(("scan", i, tx))
            since = tx
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert len(bulk_txs) > 0, "the bulk writer made no write"
    assert not missed, "%d reads missed the write just acknowledged: %r" % (len(missed), missed[:5])


def test_no_wait_write_reads_back_once_indexed(sealdb):
    stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(sealdb.address))
    md = [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token)]
    kvs = [schema_pb2.KeyValue(key=b"nw:%d" % i, value=b"v") for i in range(1000)]
    tx = stub.Set(schema_pb2.SetRequest(KVs=kvs, noWait=True), metadata=md).id
    got = stub.Get(schema_pb2.KeyRequest(key=b"nw:999", sinceTx=tx), metadata=md)   # waits for the index
    assert got.value == b"v" and got.tx == tx
