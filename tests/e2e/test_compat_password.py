# test_compat_password.py - a password change keeps the caller's own token or session working (immuadmin's first
# login forces a change of the default password and then goes on with the same login; the Go SDK does the same
# with its session), while every other token and session of that user ends (deliberate: a stolen credential
# dies with the old password). Checked with immudb-py (tokens) and raw OpenSession (sessions).
import grpc
import pytest
from immudb.grpc import schema_pb2, schema_pb2_grpc


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value.code().name, e.value.details()


def test_own_password_change_keeps_callers_token(sealdb):
    me = sealdb.client()                       # immudb/immudb, token bound to defaultdb
    other = sealdb.client()                    # a second login of the same user
    me.set(b"k", b"1")
    me.changePassword("immudb", "Newpass_1", "immudb")
    me.set(b"k", b"2")                         # the caller goes on
    assert me.get(b"k").value == b"2"
    assert err(other.get, b"k") == ("UNKNOWN", "not logged in")
    # a later logout still ends the kept token
    me.logout()
    assert err(me.get, b"k")[0] == "UNKNOWN"
    assert sealdb.client("immudb", "Newpass_1").get(b"k").value == b"2"


def test_changing_another_users_password_ends_all_their_logins(sealdb):
    admin = sealdb.client()
    admin.createUser("carol", "Carol_pw1", 2, "defaultdb")
    carol = sealdb.client("carol", "Carol_pw1")
    admin.changePassword("carol", "Carol_pw2", "")
    admin.set(b"still", b"ok")                  # the admin's own login is untouched
    assert err(carol.get, b"still") == ("UNKNOWN", "not logged in")


def test_own_password_change_keeps_callers_session(sealdb):
    stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(sealdb.address))

    def open_session():
        r = stub.OpenSession(schema_pb2.OpenSessionRequest(username=b"immudb", password=b"immudb",
                                                           databaseName="defaultdb"))
        return [("sessionid", r.sessionID)]

    mine, theirs = open_session(), open_session()
    stub.ChangePassword(schema_pb2.ChangePasswordRequest(user=b"immudb", oldPassword=b"immudb",
                                                         newPassword=b"Newpass_1"), metadata=mine)
    kv = schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=b"s", value=b"v")])
    assert stub.Set(kv, metadata=mine).id > 0
    code, msg = err(stub.Set, kv, metadata=theirs)
    assert (code, msg) == ("PERMISSION_DENIED", "session not found")
