# test_attack_sessions.py - sessions end as the session flags say: --max-session-inactivity-time and
# --session-timeout end idle sessions, --max-session-age-time ends even a busy one at that age (0, the
# default, leaves age unlimited). An ended session is refused at once on every path: unary calls
# (PermissionDenied "session not found"), KeepAlive (it cannot revive one), and streams
# (InvalidArgument "no session found"); the janitor then frees it, so a new session fits the limit.
import time

import grpc
import pytest
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc

NOT_FOUND = ("PERMISSION_DENIED", "session not found")


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value.code().name, ei.value.details()


def open_session(srv):
    stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(srv.address))
    sid = stub.OpenSession(schema_pb2.OpenSessionRequest(username=b"immudb", password=b"immudb",
                                                         databaseName="defaultdb")).sessionID
    return stub, [("sessionid", sid)]


def busy_for(stub, md, seconds):
    """Uses the session every 0.2 s for `seconds` (each call must succeed)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stub.CurrentState(empty_pb2.Empty(), metadata=md)
        time.sleep(0.2)


def test_inactivity_time_ends_idle_sessions(sealdb_factory):
    srv = sealdb_factory(args=["--max-session-inactivity-time", "1s"])   # session-timeout stays 2m
    stub, md = open_session(srv)
    busy_for(stub, md, 2.0)              # activity keeps it alive past the limit
    time.sleep(1.6)
    assert err(stub.CurrentState, empty_pb2.Empty(), metadata=md) == NOT_FOUND
    assert err(stub.KeepAlive, empty_pb2.Empty(), metadata=md) == NOT_FOUND


def test_session_age_ends_even_busy_sessions(sealdb_factory):
    srv = sealdb_factory(args=["--max-session-age-time", "2s", "--max-sessions", "1"])
    stub, md = open_session(srv)
    busy_for(stub, md, 1.5)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:    # still busy: it must end at 2 s of age all the same
        try:
            stub.KeepAlive(empty_pb2.Empty(), metadata=md)
        except grpc.RpcError as e:
            assert (e.code().name, e.details()) == NOT_FOUND
            break
        time.sleep(0.1)
    else:
        pytest.fail("a session older than --max-session-age-time was still served")
    assert err(stub.CurrentState, empty_pb2.Empty(), metadata=md) == NOT_FOUND
    # streams refuse it too
    fn = grpc.insecure_channel(srv.address).unary_stream("/immudb.schema.ImmuService/streamScan",
                                                         request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as ei:
        list(fn(schema_pb2.ScanRequest().SerializeToString(), metadata=md, timeout=10))
    assert (ei.value.code(), ei.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "no session found")
    # the ended session was freed: with --max-sessions 1 a new one opens
    time.sleep(1.0)
    stub2, md2 = open_session(srv)
    stub2.CurrentState(empty_pb2.Empty(), metadata=md2)


def test_age_zero_is_unlimited_and_timeout_still_applies(sealdb_factory):
    srv = sealdb_factory(args=["--max-session-age-time", "0", "--session-timeout", "1s"])
    stub, md = open_session(srv)
    busy_for(stub, md, 2.5)              # older than the timeout, never idle: alive
    time.sleep(1.6)
    assert err(stub.CurrentState, empty_pb2.Empty(), metadata=md) == NOT_FOUND


@pytest.mark.parametrize("flag", ["--max-session-inactivity-time", "--max-session-age-time"])
def test_bad_session_flag_refused_at_start(sealdb_factory, flag):
    srv = sealdb_factory(args=[flag, "soon"], start=False)
    srv.start(wait=False)
    assert srv.proc.wait(20) == 2
    assert "sealdb: %s: invalid duration" % flag in srv.log()
