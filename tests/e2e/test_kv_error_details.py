# test_kv_error_details.py - immudb's coded errors carry gRPC status details (docs/api.md 0.1): the
# grpc-status-details-bin trailer holds a google.rpc.Status with the call's code and message and the
# details immudb.schema.ErrorInfo{code, cause} then immudb.schema.RetryInfo; plain errors have none.
# Decoded here with grpc's Python runtime and the googleapis/immudb-py message types.
import grpc
import pytest
from google.rpc import status_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc

DETAILS_KEY = "grpc-status-details-bin"


def stub_for(addr):
    return schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(addr))


def call_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value


def details_of(err):
    """(google.rpc.Status, [ErrorInfo, RetryInfo]) from the trailer, or None if it is absent."""
    raw = [v for k, v in (err.trailing_metadata() or ()) if k == DETAILS_KEY]
    if not raw:
        return None
    assert len(raw) == 1
    st = status_pb2.Status.FromString(raw[0])
    return st


def check_coded(err, grpc_code, message, info_code, cause=None):
    assert err.code() == grpc_code
    assert err.details() == message
    st = details_of(err)
    assert st is not None, "no %s trailer" % DETAILS_KEY
    assert st.code == grpc_code.value[0]
    assert st.message == message
    assert [d.type_url for d in st.details] == ["type.googleapis.com/immudb.schema.ErrorInfo",
                                                "type.googleapis.com/immudb.schema.RetryInfo"]
    info = schema_pb2.ErrorInfo.FromString(st.details[0].value)
    retry = schema_pb2.RetryInfo.FromString(st.details[1].value)
    assert info.code == info_code
    assert info.cause == (message if cause is None else cause)
    assert retry.retry_delay == 0
    return info


def test_login_errors_carry_error_info(sealdb):
    s = stub_for(sealdb.address)
    e = call_error(s.Login, schema_pb2.LoginRequest(user=b"immudb", password=b"wrong"))
    check_coded(e, grpc.StatusCode.UNKNOWN, "invalid user name or password", "08004",
                "crypto/bcrypt: hashedPassword is not the hash of the given password")
    e = call_error(s.Login, schema_pb2.LoginRequest(user=b"nobody", password=b"wrong"))
    check_coded(e, grpc.StatusCode.UNKNOWN, "invalid user name or password", "08004", "tbtree: key not found")
    e = call_error(s.OpenSession, schema_pb2.OpenSessionRequest(username=b"nobody", password=b"x",
                                                                 databaseName="defaultdb"))
    check_coded(e, grpc.StatusCode.UNKNOWN, "invalid user name or password", "08004", "tbtree: key not found")


def test_session_and_database_errors(sealdb):
    s = stub_for(sealdb.address)
    e = call_error(s.CurrentState, schema_pb2.google_dot_protobuf_dot_empty__pb2.Empty(),
                   metadata=[("sessionid", "no-such-session")])
    check_coded(e, grpc.StatusCode.PERMISSION_DENIED, "session not found", "08001")
    tok = s.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token
    e = call_error(s.UseDatabase, schema_pb2.Database(databaseName="nosuchdb"),
                   metadata=[("authorization", "Bearer " + tok)])
    check_coded(e, grpc.StatusCode.NOT_FOUND, "'nosuchdb' does not exist", "3F000")


def test_precondition_failure_is_coded(client):
    s = client.stub
    P = schema_pb2.Precondition
    kv = schema_pb2.KeyValue(key=b"ed:k", value=b"v")
    must_not_exist = [P(keyMustNotExist=P.KeyMustNotExistPrecondition(key=b"ed:k"))]
    s.Set(schema_pb2.SetRequest(KVs=[kv], preconditions=must_not_exist))
    e = call_error(s.Set, schema_pb2.SetRequest(KVs=[kv], preconditions=must_not_exist))
    check_coded(e, grpc.StatusCode.FAILED_PRECONDITION, "precondition failed: KeyMustNotExist", "23000")
    e = call_error(s.ExecAll, schema_pb2.ExecAllRequest(Operations=[schema_pb2.Op(kv=kv)],
                                                        preconditions=must_not_exist))
    check_coded(e, grpc.StatusCode.FAILED_PRECONDITION, "precondition failed: KeyMustNotExist", "23000")


def test_permission_denied_is_coded_internal(client, sealdb):
    s = client.stub
    s.CreateUser(schema_pb2.CreateUserRequest(user=b"reader", password=b"Reader123!", permission=1,
                                              database="defaultdb"))
    r = stub_for(sealdb.address)
    tok = r.Login(schema_pb2.LoginRequest(user=b"reader", password=b"Reader123!")).token
    md = [("authorization", "Bearer " + tok)]
    tok = r.UseDatabase(schema_pb2.Database(databaseName="defaultdb"), metadata=md).token
    md = [("authorization", "Bearer " + tok)]
    e = call_error(r.Set, schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"ed:r", value=b"v")]), metadata=md)
    check_coded(e, grpc.StatusCode.INTERNAL, "permission denied", "XX000")


def test_plain_errors_have_no_details(client):
    s = client.stub
    e = call_error(s.Get, schema_pb2.KeyRequest(key=b"ed:missing"))
    assert (e.code(), e.details()) == (grpc.StatusCode.UNKNOWN, "tbtree: key not found")
    assert details_of(e) is None
    e = call_error(s.Set, schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"", value=b"v")]))
    assert details_of(e) is None
