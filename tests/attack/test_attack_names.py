# test_attack_names.py - user and database names holding a NUL byte: C code reads "immudb\0anything" as
# "immudb", so every place a name arrives (Login, OpenSession, CreateUser, ChangePassword,
# ChangePermission, SetActiveUser, UseDatabase) must refuse it instead of acting on the truncated name.
import grpc
from immudb.grpc import schema_pb2

from attack_util import login_token, raw_call


def call(sealdb, method, msg, token=None):
    md = [("authorization", token)] if token else []
    code, details, resp = raw_call(sealdb.address, method, msg.SerializeToString(), md)
    return code, details


def test_nul_in_login_user_name_is_refused(sealdb):
    code, details = call(sealdb, "Login", schema_pb2.LoginRequest(user=b"immudb\x00anything", password=b"immudb"))
    assert code != grpc.StatusCode.OK, "logged in as a NUL-truncated user name"
    assert details == "invalid user name or password"
    code, _ = call(sealdb, "OpenSession", schema_pb2.OpenSessionRequest(
        username=b"immudb\x00x", password=b"immudb", databaseName="defaultdb"))
    assert code != grpc.StatusCode.OK
    # the real name still works
    assert call(sealdb, "Login", schema_pb2.LoginRequest(user=b"immudb", password=b"immudb"))[0] == grpc.StatusCode.OK


def test_nul_in_user_names_of_admin_calls_is_refused(sealdb, client):
    client.createUser("bob", "Bob_pw1", 2, "defaultdb")
    tok = login_token(sealdb.address)

    code, _ = call(sealdb, "CreateUser", schema_pb2.CreateUserRequest(
        user=b"carl\x00x", password=b"Carl_pw1", permission=1, database="defaultdb"), tok)
    assert code != grpc.StatusCode.OK
    assert {u.user for u in client.listUsers().userlist.users} == {b"immudb", b"bob"}

    code, _ = call(sealdb, "ChangePassword", schema_pb2.ChangePasswordRequest(
        user=b"bob\x00x", oldPassword=b"", newPassword=b"Bob_pw2"), tok)
    assert code != grpc.StatusCode.OK

    code, details = call(sealdb, "ChangePermission", schema_pb2.ChangePermissionRequest(
        action=schema_pb2.GRANT, username="bob\x00x", database="defaultdb", permission=254), tok)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details

    code, details = call(sealdb, "SetActiveUser", schema_pb2.SetActiveUserRequest(active=False, username="bob\x00x"), tok)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details

    code, details = call(sealdb, "UseDatabase", schema_pb2.Database(databaseName="defaultdb\x00x"), tok)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details

    # bob is untouched: same password, still active, still read-write only
    bob = sealdb.client("bob", "Bob_pw1")
    bob.set(b"k", b"v")
    assert bob.get(b"k").value == b"v"
    users = {u.user: u for u in client.listUsers().userlist.users}
    assert users[b"bob"].active
    assert [p.permission for p in users[b"bob"].permissions] == [2]
