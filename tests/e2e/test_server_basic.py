# test_server_basic.py - sealdb's server basics through immudb-py: health, login and its errors,
# the immudb-uuid header, server info, metrics endpoint and an orderly SIGTERM stop.
import urllib.request

import grpc
import pytest
from immudb import ImmudbClient


def test_health_without_login(sealdb):
    c = ImmudbClient(sealdb.address)
    assert c.healthCheck() is True
    h = c.health()
    assert h.status is True and h.version


def test_login_default_password_warning_and_state(sealdb):
    c = ImmudbClient(sealdb.address)
    r = c.login("immudb", "immudb")
    assert r.token
    assert r.warning == b"immudb user has the default password: please change it to ensure proper security"
    st = c.currentState()
    assert st.db == "defaultdb" and st.txId in (0, None)
    assert "default password" in sealdb.log()


def test_login_bad_credentials(sealdb):
    c = ImmudbClient(sealdb.address)
    for user, pw in (("immudb", "wrong"), ("nobody", "immudb")):
        with pytest.raises(grpc.RpcError) as e:
            c.login(user, pw)
        assert e.value.code() == grpc.StatusCode.UNKNOWN
        assert e.value.details() == "invalid user name or password"


def test_data_rpc_without_credentials(sealdb):
    c = ImmudbClient(sealdb.address)
    with pytest.raises(grpc.RpcError) as e:
        c.currentState()
    assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == "not logged in"


def test_bad_and_logged_out_tokens(sealdb):
    from immudb.grpc import schema_pb2, schema_pb2_grpc
    ch = grpc.insecure_channel(sealdb.address)
    stub = schema_pb2_grpc.ImmuServiceStub(ch)
    from google.protobuf import empty_pb2
    with pytest.raises(grpc.RpcError) as e:
        stub.CurrentState(empty_pb2.Empty(), metadata=[("authorization", "Bearer garbage")])
    assert e.value.code() == grpc.StatusCode.INTERNAL and e.value.details() == "invalid token"
    tok = stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token
    md = [("authorization", "Bearer " + tok)]
    stub.CurrentState(empty_pb2.Empty(), metadata=md)
    stub.CurrentState(empty_pb2.Empty(), metadata=[("authorization", tok)])   # Go SDK style, no "Bearer"
    stub.Logout(empty_pb2.Empty(), metadata=md)
    with pytest.raises(grpc.RpcError) as e:
        stub.CurrentState(empty_pb2.Empty(), metadata=md)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == "not logged in"


def test_uuid_header_on_every_response(sealdb):
    from immudb.grpc import schema_pb2_grpc
    from google.protobuf import empty_pb2
    ch = grpc.insecure_channel(sealdb.address)
    stub = schema_pb2_grpc.ImmuServiceStub(ch)
    _, call = stub.Health.with_call(empty_pb2.Empty())
    md = dict(call.initial_metadata())
    uuid = md.get("immudb-uuid")
    assert uuid and len(uuid) == 20 and uuid == uuid.lower()
    with pytest.raises(grpc.RpcError) as e:   # error responses carry it too
        stub.CurrentState(empty_pb2.Empty())
    assert dict(e.value.initial_metadata()).get("immudb-uuid") == uuid


def test_server_id_persists_across_restart(sealdb):
    from immudb.grpc import schema_pb2_grpc
    from google.protobuf import empty_pb2

    def uuid():
        ch = grpc.insecure_channel(sealdb.address)
        _, call = schema_pb2_grpc.ImmuServiceStub(ch).Health.with_call(empty_pb2.Empty())
        ch.close()
        return dict(call.initial_metadata())["immudb-uuid"]
    u1 = uuid()
    assert sealdb.stop() == 0
    sealdb.start()
    assert uuid() == u1


def test_unknown_method_unimplemented(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    fn = ch.unary_unary("/immudb.schema.ImmuService/SQLExec")
    with pytest.raises(grpc.RpcError) as e:
        fn(b"")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    fn = ch.unary_unary("/no.such.Service/Nope")
    with pytest.raises(grpc.RpcError) as e:
        fn(b"\x01\x02")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_malformed_request_invalid_argument(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    fn = ch.unary_unary("/immudb.schema.ImmuService/Login")
    with pytest.raises(grpc.RpcError) as e:
        fn(b"\x0a\xff\xff\xff\xff\x0f")   # field 1, absurd length
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ImmudbClient(sealdb.address).healthCheck() is True


def test_oversized_request_resource_exhausted(sealdb_factory):
    s = sealdb_factory(args=["--max-recv-msg-size", "1024"])
    ch = grpc.insecure_channel(s.address)
    fn = ch.unary_unary("/immudb.schema.ImmuService/Login")
    with pytest.raises(grpc.RpcError) as e:
        fn(b"\x0a\x80\x10" + b"x" * 2048)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_server_info(client, sealdb):
    info = client.serverInfo()
    assert info.version
    assert info.numDatabases == 1
    assert info.startedAt > 1600000000


def test_metrics_and_probes(client, sealdb):
    base = "http://127.0.0.1:%d" % sealdb.metrics_port
    for p in ("/readyz", "/livez"):
        assert urllib.request.urlopen(base + p).status == 200
    body = urllib.request.urlopen(base + "/metrics").read().decode()
    assert 'immudb_number_of_stored_entries{db="defaultdb"}' in body
    assert "immudb_uptime_hours" in body
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Login"' in body
    assert 'grpc_server_handling_seconds_bucket{grpc_method="Login"' in body


def test_sigterm_exits_zero(sealdb):
    ImmudbClient(sealdb.address).healthCheck()
    assert sealdb.stop() == 0
    assert "stopped" in sealdb.log()


def test_version_and_verify_subcommands(tmp_path):
    import os
    import subprocess
    from conftest import SEALDB_BIN
    out = subprocess.run([SEALDB_BIN, "version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("sealdb ")
    r = subprocess.run([SEALDB_BIN, "verify", "--dir", os.path.join(str(tmp_path), "missing")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    r = subprocess.run([SEALDB_BIN, "verify"], capture_output=True, text=True)
    assert r.returncode == 2
