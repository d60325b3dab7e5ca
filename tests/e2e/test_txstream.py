# test_txstream.py - sealdb's ExecAllStream (docs/api.md, sealdb extensions) from Python's gRPC: each request
# is its own tx, committed in stream order and answered in that order (even with many in flight), a failing
# request ends the call with its ExecAll error after the earlier answers, at most 64 requests are taken at
# once, bad bytes are refused like a unary request, and the method needs a logged-in read-write user.
import re
import threading
import time

import grpc
import pytest
from immudb.grpc import schema_pb2, schema_pb2_grpc

from interop_util import create_db, replica_of
from test_repl import metrics, wait_for
from test_repl_sync import sync_primary

PATH = "/sealdb.schema.SealService/ExecAllStream"


def _kv(k, v):
    return schema_pb2.Op(kv=schema_pb2.KeyValue(key=k, value=v))


def _stream(ch):
    return ch.stream_stream(PATH, request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
                            response_deserializer=schema_pb2.TxHeader.FromString)


def _login(ch):
    stub = schema_pb2_grpc.ImmuServiceStub(ch)
    return stub, [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token)]


def test_answers_in_order_and_txs_commit_in_stream_order(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    n = 300
    # every request after the first must find its predecessor's key: it holds only when commits follow the stream
    reqs = [schema_pb2.ExecAllRequest(Operations=[_kv(b"ts:%04d" % i, b"v%d" % i)],
                                      preconditions=[] if i == 0 else [schema_pb2.Precondition(
                                          keyMustExist=schema_pb2.Precondition.KeyMustExistPrecondition(
                                              key=b"ts:%04d" % (i - 1)))])
            for i in range(n)]
    answers = list(_stream(ch)(iter(reqs), metadata=md, timeout=60))
    assert len(answers) == n
    ids = [a.id for a in answers]
    assert ids == list(range(ids[0], ids[0] + n))   # one tx each, in the order sent
    assert all(a.nentries == 1 for a in answers)
    # answered after indexing (no noWait): the last key reads back at once
    got = stub.Get(schema_pb2.KeyRequest(key=b"ts:%04d" % (n - 1)), metadata=md)
    assert got.value == b"v%d" % (n - 1) and got.tx == ids[-1]
    tx = stub.TxById(schema_pb2.TxRequest(tx=ids[7]), metadata=md)
    assert [e.key for e in tx.entries] == [b"\x00ts:0007"]


def test_pipelined_writer_gets_answers_while_sending(sealdb):
    # the client sends the next request only after enough answers came: the server must answer while a
    # receive is pending (a server that only answered at the end of the stream would hang this test)
    ch = grpc.insecure_channel(sealdb.address)
    _, md = _login(ch)
    depth, total = 8, 200
    sent = threading.Semaphore(depth)

    def gen():
        for i in range(total):
            sent.acquire()
            yield schema_pb2.ExecAllRequest(Operations=[_kv(b"pl:%d" % i, b"x")])

    got = 0
    for _ in _stream(ch)(gen(), metadata=md, timeout=60):
        got += 1
        sent.release()
    assert got == total


def test_failed_request_ends_the_call_after_earlier_answers(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    reqs = [schema_pb2.ExecAllRequest(Operations=[_kv(b"fx:%d" % i, b"v")]) for i in range(5)]
    reqs.append(schema_pb2.ExecAllRequest(Operations=[_kv(b"fx:bad", b"v")], preconditions=[schema_pb2.Precondition(
        keyMustExist=schema_pb2.Precondition.KeyMustExistPrecondition(key=b"fx:never-written"))]))
    reqs += [schema_pb2.ExecAllRequest(Operations=[_kv(b"fx:after%d" % i, b"v")]) for i in range(3)]
    answers = []
    with pytest.raises(grpc.RpcError) as ei:
        for a in _stream(ch)(iter(reqs), metadata=md, timeout=60):
            answers.append(a)
    assert len(answers) == 5
    assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION or "precondition" in ei.value.details().lower()
    # the same error as unary ExecAll gives for it
    with pytest.raises(grpc.RpcError) as eu:
        stub.ExecAll(reqs[5], metadata=md)
    assert (eu.value.code(), eu.value.details()) == (ei.value.code(), ei.value.details())


def test_malformed_and_empty_requests(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    _, md = _login(ch)
    good = schema_pb2.ExecAllRequest(Operations=[_kv(b"mf:1", b"v")]).SerializeToString()
    with pytest.raises(grpc.RpcError) as ei:
        list(_stream(ch)(iter([good, b"\x0a\xff\xff"]), metadata=md, timeout=30))
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed" in ei.value.details()
    # an ExecAll without operations is refused as the unary call refuses it
    with pytest.raises(grpc.RpcError) as ee:
        list(_stream(ch)(iter([schema_pb2.ExecAllRequest()]), metadata=md, timeout=30))
    assert ee.value.code() != grpc.StatusCode.OK
    # a client that closes at once gets a bare OK
    assert list(_stream(ch)(iter([]), metadata=md, timeout=30)) == []


def test_needs_credentials_and_write_permission(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    with pytest.raises(grpc.RpcError) as ei:
        list(_stream(ch)(iter([schema_pb2.ExecAllRequest(Operations=[_kv(b"na", b"v")])]), timeout=30))
    assert ei.value.details() == "not logged in"   # immudb's answer to any call without credentials
    stub, md = _login(ch)
    stub.CreateUser(schema_pb2.CreateUserRequest(user=b"tsreader", password=b"Rd-pass-1234!", permission=1,
                                                 database="defaultdb"), metadata=md)
    rmd = [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"tsreader", password=b"Rd-pass-1234!")).token)]
    with pytest.raises(grpc.RpcError) as er:
        list(_stream(ch)(iter([schema_pb2.ExecAllRequest(Operations=[_kv(b"ro", b"v")])]), metadata=rmd, timeout=30))
    with pytest.raises(grpc.RpcError) as eu:   # refused as unary ExecAll is refused
        stub.ExecAll(schema_pb2.ExecAllRequest(Operations=[_kv(b"ro", b"v")]), metadata=rmd)
    assert (er.value.code(), er.value.details()) == (eu.value.code(), eu.value.details())
    assert er.value.details() == "permission denied"


def test_idle_stream_ends_after_the_idle_timeout(sealdb_factory):
    # a pending receive with nothing in flight holds a thread: it is bounded by --max-connection-idle
    srv = sealdb_factory(["--max-connection-idle", "1s"])
    ch = grpc.insecure_channel(srv.address)
    _, md = _login(ch)
    hold = threading.Event()

    def gen():
        yield schema_pb2.ExecAllRequest(Operations=[_kv(b"idle:1", b"v")])
        hold.wait(20)   # then stays open without sending

    answers = []
    with pytest.raises(grpc.RpcError) as ei:
        for a in _stream(ch)(gen(), metadata=md, timeout=15):
            answers.append(a)
    hold.set()
    assert len(answers) == 1
    assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "not received in time" in ei.value.details()


def test_client_that_cancels_with_txs_in_flight(sealdb):
    # the handler waits for the engine's outcome of every tx it took before the call ends (no callback into
    # freed memory: the sanitizer build runs this too); the server keeps serving afterwards
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    for round_ in range(20):
        call = _stream(ch)(iter([schema_pb2.ExecAllRequest(Operations=[_kv(b"cx:%d:%d" % (round_, i), b"v" * 100)])
                                 for i in range(100)]), metadata=md, timeout=30)
        next(call)
        call.cancel()
    got = list(_stream(ch)(iter([schema_pb2.ExecAllRequest(Operations=[_kv(b"cx:after", b"v")])]), metadata=md,
                           timeout=30))
    assert len(got) == 1
    assert stub.Get(schema_pb2.KeyRequest(key=b"cx:after"), metadata=md).value == b"v"


def test_at_most_64_requests_taken_per_stream(sealdb_factory):
    # the in-flight cap: on a sync primary with no replica every tx waits at the commit gate for an ack,
    # so what the stream took shows in the held-writes gauge; it stops at 64 (the rest wait in HTTP/2
    # flow control) and all 100 commit in order once a replica acks them
    a, r = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p", acks=1)
    ch = grpc.insecure_channel(a.address)
    stub, md = _login(ch)
    md = [("authorization", stub.UseDatabase(schema_pb2.Database(databaseName="p"), metadata=md).token)]

    def held():
        return int(re.search(r'sealdb_replication_sync_waiting_writes\{db="p"\} (\d+)', metrics(a)).group(1))

    n, res = 100, {}
    reqs = [schema_pb2.ExecAllRequest(Operations=[_kv(b"cap:%03d" % i, b"v")]) for i in range(n)]
    th = threading.Thread(target=lambda: res.setdefault("answers", list(_stream(ch)(iter(reqs), metadata=md,
                                                                                     timeout=120))))
    th.start()
    wait_for(lambda: held() >= 64, what="64 txs held at the gate")
    time.sleep(1.0)   # time for a server without the cap to take more
    assert held() == 64
    create_db(r.client(), "r", replica_of(a, "p", sync=True))
    th.join(120)
    ids = [h.id for h in res["answers"]]
    assert ids == list(range(1, n + 1))
    assert held() == 0
