# test_txstream.py - sealdb's ExecAllStream (docs/api.md, sealdb extensions) from Python's gRPC: each request
# is its own tx, committed in stream order and answered in that order (even with many in flight), a failing
# request ends the call with its ExecAll error after the earlier answers, at most 64 requests are taken at
# once, bad bytes are refused like a unary request, and the method needs a logged-in read-write user.
# ExecAllBatchStream (proto/sealdb.proto) likewise, with up to 64 requests per message and one TxHeaderList
# per message: its messages are encoded and decoded here by hand (immudb-py has no sealdb messages).
import re
import threading
import time

import grpc
import pytest
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc

from interop_util import create_db, replica_of
from test_repl import metrics, wait_for
from test_repl_sync import sync_primary

PATH = "/sealdb.schema.SealService/ExecAllStream"
BATCH_PATH = "/sealdb.schema.SealService/ExecAllBatchStream"


def _kv(k, v):
    return schema_pb2.Op(kv=schema_pb2.KeyValue(key=k, value=v))


def _varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _encode_batch(reqs):
    """ExecAllBatch { repeated ExecAllRequest requests = 1; }"""
    return b"".join(b"\x0a" + _varint(len(b)) + b for b in (r.SerializeToString() for r in reqs))


def _decode_headers(data):
    """TxHeaderList { repeated TxHeader headers = 1; } -> [TxHeader]"""
    headers, i = [], 0
    while i < len(data):
        assert data[i] == 0x0a, "unexpected tag %#x in a TxHeaderList" % data[i]
        i += 1
        n = shift = 0
        while True:
            n |= (data[i] & 0x7f) << shift
            shift += 7
            i += 1
            if not data[i - 1] & 0x80:
                break
        headers.append(schema_pb2.TxHeader.FromString(data[i:i + n]))
        i += n
    assert i == len(data)
    return headers


def _bidi(ch, path, encode, decode):
    # raw bytes go as they are (malformed-message tests)
    return ch.stream_stream(path, request_serializer=lambda m: m if isinstance(m, bytes) else encode(m),
                            response_deserializer=decode)


def _stream(ch):
    """ExecAllStream: ExecAllRequest in, TxHeader out"""
    return _bidi(ch, PATH, lambda m: m.SerializeToString(), schema_pb2.TxHeader.FromString)


def _batch_stream(ch):
    """ExecAllBatchStream: a list of ExecAllRequests in per message, a list of TxHeaders out per message"""
    return _bidi(ch, BATCH_PATH, _encode_batch, _decode_headers)


def _login(ch):
    stub = schema_pb2_grpc.ImmuServiceStub(ch)
    return stub, [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token)]


def _must_exist(key):
    return schema_pb2.Precondition(keyMustExist=schema_pb2.Precondition.KeyMustExistPrecondition(key=key))


def _unary_error(stub, md, req):
    """(code, details) of unary ExecAll refusing req: what a stream must end with when it fails on req"""
    with pytest.raises(grpc.RpcError) as eu:
        stub.ExecAll(req, metadata=md)
    return eu.value.code(), eu.value.details()


def _last_tx(stub, md):
    return stub.CurrentState(empty_pb2.Empty(), metadata=md).txId


def test_answers_in_order_and_txs_commit_in_stream_order(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    n = 300
    # every request after the first must find its predecessor's key: it holds only when commits follow the stream
    reqs = [schema_pb2.ExecAllRequest(Operations=[_kv(b"ts:%04d" % i, b"v%d" % i)],
                                      preconditions=[] if i == 0 else [_must_exist(b"ts:%04d" % (i - 1))])
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
    reqs.append(schema_pb2.ExecAllRequest(Operations=[_kv(b"fx:bad", b"v")],
                                          preconditions=[_must_exist(b"fx:never-written")]))
    reqs += [schema_pb2.ExecAllRequest(Operations=[_kv(b"fx:after%d" % i, b"v")]) for i in range(3)]
    answers = []
    with pytest.raises(grpc.RpcError) as ei:
        for a in _stream(ch)(iter(reqs), metadata=md, timeout=60):
            answers.append(a)
    assert len(answers) == 5
    assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION or "precondition" in ei.value.details().lower()
    # the same error as unary ExecAll gives for it
    assert _unary_error(stub, md, reqs[5]) == (ei.value.code(), ei.value.details())


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


def _check_needs_credentials_and_write_permission(ch, write):
    """write(req, md) sends req on the stream under test with those credentials (None: none) and reads it all"""
    with pytest.raises(grpc.RpcError) as ei:
        write(schema_pb2.ExecAllRequest(Operations=[_kv(b"na", b"v")]), None)
    assert ei.value.details() == "not logged in"   # immudb's answer to any call without credentials
    stub, md = _login(ch)
    stub.CreateUser(schema_pb2.CreateUserRequest(user=b"tsreader", password=b"Rd-pass-1234!", permission=1,
                                                 database="defaultdb"), metadata=md)
    rmd = [("authorization", stub.Login(schema_pb2.LoginRequest(user=b"tsreader", password=b"Rd-pass-1234!")).token)]
    ro = schema_pb2.ExecAllRequest(Operations=[_kv(b"ro", b"v")])
    with pytest.raises(grpc.RpcError) as er:
        write(ro, rmd)
    assert (er.value.code(), er.value.details()) == _unary_error(stub, rmd, ro)   # refused as unary ExecAll is
    assert er.value.details() == "permission denied"
    with pytest.raises(grpc.RpcError):
        stub.Get(schema_pb2.KeyRequest(key=b"ro"), metadata=md)   # nothing was written


def test_needs_credentials_and_write_permission(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    _check_needs_credentials_and_write_permission(
        ch, lambda req, md: list(_stream(ch)(iter([req]), metadata=md, timeout=30)))


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


def _held_at_the_gate(sealdb_factory, stream, msgs, cap):
    """The in-flight cap: on a sync primary with no replica every tx waits at the commit gate for an ack,
    so what the stream took shows in the held-writes gauge; it must stop at cap (the rest wait in HTTP/2
    flow control), and all commit once a replica acks them. Returns the stream's answers."""
    a, r = sealdb_factory(), sealdb_factory()
    sync_primary(a.client(), "p", acks=1)
    ch = grpc.insecure_channel(a.address)
    stub, md = _login(ch)
    md = [("authorization", stub.UseDatabase(schema_pb2.Database(databaseName="p"), metadata=md).token)]

    def held():
        return int(re.search(r'sealdb_replication_sync_waiting_writes\{db="p"\} (\d+)', metrics(a)).group(1))

    res = {}
    th = threading.Thread(target=lambda: res.setdefault("answers", list(stream(ch)(iter(msgs), metadata=md,
                                                                                    timeout=120))))
    th.start()
    wait_for(lambda: held() >= cap, what="%d txs held at the gate" % cap)
    time.sleep(1.0)   # time for a server without the cap to take more
    assert held() == cap
    create_db(r.client(), "r", replica_of(a, "p", sync=True))
    th.join(120)
    assert held() == 0
    return res["answers"]


def test_at_most_64_requests_taken_per_stream(sealdb_factory):
    n = 100
    answers = _held_at_the_gate(sealdb_factory, _stream, [schema_pb2.ExecAllRequest(
        Operations=[_kv(b"cap:%03d" % i, b"v")]) for i in range(n)], 64)
    assert [h.id for h in answers] == list(range(1, n + 1))


# ---- ExecAllBatchStream ----

def _batch_reqs(prefix, n, start=0):
    """n requests writing prefix:<i> (and a second key on every third one, so entry counts differ)"""
    return [schema_pb2.ExecAllRequest(Operations=[_kv(b"%s:%04d" % (prefix, i), b"v%d" % i)] +
                                      ([_kv(b"%s:%04d:x" % (prefix, i), b"x")] if i % 3 == 0 else []))
            for i in range(start, start + n)]


def test_batch_one_answer_per_message_txs_in_send_order(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    sizes = [1, 5, 64, 3, 64, 1]
    msgs, at = [], 0
    for n in sizes:
        msgs.append(_batch_reqs(b"bt", n, at))
        at += n
    # every request after the first must find its predecessor's key: it holds only when the txs commit in
    # order, within a message and across messages
    flat = [r for m in msgs for r in m]
    for i, r in enumerate(flat[1:], 1):
        r.preconditions.append(_must_exist(b"bt:%04d" % (i - 1)))
    # the next message leaves only once the previous one is answered: a server that answered only at the
    # end of the stream, or only when more came, would hang this test
    answered = threading.Semaphore(0)

    def gen():
        for m in msgs:
            yield m
            answered.acquire(timeout=60)

    answers = []
    for a in _batch_stream(ch)(gen(), metadata=md, timeout=60):
        answers.append(a)
        answered.release()
    assert [len(a) for a in answers] == sizes   # one TxHeaderList per message, one header per request
    hs = [h for a in answers for h in a]
    ids = [h.id for h in hs]
    assert ids == list(range(ids[0], ids[0] + len(flat)))   # one tx each, in the order sent
    assert [h.nentries for h in hs] == [len(r.Operations) for r in flat]
    for h, r in zip(hs, flat):
        tx = stub.TxById(schema_pb2.TxRequest(tx=h.id), metadata=md)
        assert sorted(e.key for e in tx.entries) == sorted(b"\x00" + op.kv.key for op in r.Operations)
        assert tx.header.eH == h.eH and tx.header.prevAlh == h.prevAlh
    # answered after indexing (no noWait): the last key reads back at once
    got = stub.Get(schema_pb2.KeyRequest(key=b"bt:%04d" % (len(flat) - 1)), metadata=md)
    assert got.tx == ids[-1]


@pytest.mark.parametrize("n", [0, 65])
def test_batch_of_0_or_65_requests_is_refused(sealdb, n):
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    answers = []
    with pytest.raises(grpc.RpcError) as ei:
        for a in _batch_stream(ch)(iter([_batch_reqs(b"ok", 2), _batch_reqs(b"big", n)]), metadata=md, timeout=30):
            answers.append(a)
    assert [len(a) for a in answers] == [2]   # the message before it is answered
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ei.value.details() == "a batch holds 1 to 64 requests, this one %d" % n
    # nothing of the refused message was committed
    assert _last_tx(stub, md) == answers[0][-1].id
    if n:
        with pytest.raises(grpc.RpcError):
            stub.Get(schema_pb2.KeyRequest(key=b"big:0000"), metadata=md)


def test_batch_failed_precondition_answers_the_txs_before_it(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    bad = schema_pb2.ExecAllRequest(Operations=[_kv(b"bx:bad", b"v")], preconditions=[_must_exist(b"bx:never")])
    # guarded by the failed one's key: none of these may commit (the engine checks preconditions after the
    # requests are taken, so an unguarded one after it may commit, as on ExecAllStream)
    after = [schema_pb2.ExecAllRequest(Operations=[_kv(b"bx:after%d" % i, b"v")],
                                       preconditions=[_must_exist(b"bx:bad")]) for i in range(3)]
    msgs = [_batch_reqs(b"b1", 4), _batch_reqs(b"b2", 5) + [bad] + after]
    answers = []
    with pytest.raises(grpc.RpcError) as ei:
        for a in _batch_stream(ch)(iter(msgs), metadata=md, timeout=60):
            answers.append(a)
    # the first message whole, then the part of the second before the failed request, then its error
    assert [len(a) for a in answers] == [4, 5]
    ids = [h.id for a in answers for h in a]
    assert ids == list(range(ids[0], ids[0] + 9))
    assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION or "precondition" in ei.value.details().lower()
    assert _unary_error(stub, md, bad) == (ei.value.code(), ei.value.details())
    assert _last_tx(stub, md) == ids[-1]   # nor the failed one nor any after it
    assert stub.Get(schema_pb2.KeyRequest(key=b"b2:0004"), metadata=md).tx == ids[-1]


def test_batch_refused_request_drops_the_rest_of_its_message(sealdb):
    # a request refused before it reaches the engine (no operations): the ones after it in its message
    # are never committed, guarded or not
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    empty = schema_pb2.ExecAllRequest()
    msg = _batch_reqs(b"dr", 3) + [empty] + _batch_reqs(b"dr", 2, 3)
    answers = []
    with pytest.raises(grpc.RpcError) as ei:
        for a in _batch_stream(ch)(iter([msg]), metadata=md, timeout=30):
            answers.append(a)
    assert [len(a) for a in answers] == [3]
    assert (ei.value.code(), ei.value.details()) == _unary_error(stub, md, empty)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _last_tx(stub, md) == answers[0][-1].id
    for k in (b"dr:0003", b"dr:0004"):
        with pytest.raises(grpc.RpcError):
            stub.Get(schema_pb2.KeyRequest(key=k), metadata=md)


def test_batch_malformed_messages(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    stub, md = _login(ch)
    # a truncated ExecAllBatch, and a well-framed one whose ExecAllRequest is truncated
    for bad in (b"\x0a\xff\xff", b"\x0a\x03\x0a\xff\xff"):
        answers = []
        with pytest.raises(grpc.RpcError) as ei:
            for a in _batch_stream(ch)(iter([_batch_reqs(b"mb", 1), bad]), metadata=md, timeout=30):
                answers.append(a)
        assert [len(a) for a in answers] == [1]
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "malformed" in ei.value.details()
        assert _last_tx(stub, md) == answers[0][0].id
    # a client that closes at once gets a bare OK
    assert list(_batch_stream(ch)(iter([]), metadata=md, timeout=30)) == []


def test_batch_needs_credentials_and_write_permission(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    _check_needs_credentials_and_write_permission(
        ch, lambda req, md: list(_batch_stream(ch)(iter([[req]]), metadata=md, timeout=30)))


@pytest.mark.parametrize("sizes,cap", [([64, 64, 64], 128), ([30, 30, 30, 64], 90)])
def test_at_most_128_requests_taken_per_batch_stream(sealdb_factory, sizes, cap):
    # a message is taken only while 64 of the 128 slots are free: two full messages and not the third;
    # three of 30 and then no more (90 taken: a fourth, of up to 64, might not fit)
    msgs, at = [], 0
    for n in sizes:
        msgs.append(_batch_reqs(b"bc", n, at))
        at += n
    answers = _held_at_the_gate(sealdb_factory, _batch_stream, msgs, cap)
    assert [len(a) for a in answers] == sizes
    assert [h.id for a in answers for h in a] == list(range(1, at + 1))
