# test_server_auth.py - sessions, users and permissions through immudb-py against the real sealdb:
# OpenSession/KeepAlive/CloseSession and idle expiry, CreateUser/ListUsers/ChangePassword/
# ChangePermission/SetActiveUser with immudb's exact errors, per-database permission checks.
import time

import grpc
import pytest
from google.protobuf import empty_pb2
from immudb import ImmudbClient
from immudb.grpc import schema_pb2, schema_pb2_grpc


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value.code().name, e.value.details()


def stub_for(addr):
    return schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(addr))


def test_session_lifecycle(sealdb):
    c = ImmudbClient(sealdb.address)
    c.openSession("immudb", "immudb", b"defaultdb")
    c.keepAlive()
    assert c.databaseHealth().pendingRequests is not None or True
    c.closeSession()
    s = stub_for(sealdb.address)
    resp = s.OpenSession(schema_pb2.OpenSessionRequest(username=b"immudb", password=b"immudb",
                                                       databaseName="DefaultDB"))   # lower-cased
    assert len(resp.sessionID) == 44 and len(resp.serverUUID) == 20
    md = [("sessionid", resp.sessionID)]
    st = s.CurrentState(empty_pb2.Empty(), metadata=md)
    assert st.db == "defaultdb"
    s.CloseSession(empty_pb2.Empty(), metadata=md)
    assert err(s.CurrentState, empty_pb2.Empty(), metadata=md) == ("PERMISSION_DENIED", "session not found")
    assert err(s.KeepAlive, empty_pb2.Empty()) == ("UNKNOWN", "no session auth data provided")
    assert err(s.CloseSession, empty_pb2.Empty()) == ("UNKNOWN", "no session auth data provided")


def test_open_session_errors(sealdb):
    s = stub_for(sealdb.address)
    req = schema_pb2.OpenSessionRequest
    assert err(s.OpenSession, req(username=b"immudb", password=b"bad", databaseName="defaultdb")) == \
        ("UNKNOWN", "invalid user name or password")
    assert err(s.OpenSession, req(username=b"immudb", password=b"immudb", databaseName="nodb")) == \
        ("UNKNOWN", "database does not exist")


def test_session_idle_expiry(sealdb_factory):
    srv = sealdb_factory(args=["--session-timeout", "1s"])
    s = stub_for(srv.address)
    sid = s.OpenSession(schema_pb2.OpenSessionRequest(username=b"immudb", password=b"immudb",
                                                      databaseName="defaultdb")).sessionID
    md = [("sessionid", sid)]
    for _ in range(4):   # activity keeps it alive
        time.sleep(0.4)
        s.KeepAlive(empty_pb2.Empty(), metadata=md)
    time.sleep(2.5)
    assert err(s.KeepAlive, empty_pb2.Empty(), metadata=md) == ("PERMISSION_DENIED", "session not found")


def test_max_sessions(sealdb_factory):
    srv = sealdb_factory(args=["--max-sessions", "2"])
    s = stub_for(srv.address)
    req = schema_pb2.OpenSessionRequest(username=b"immudb", password=b"immudb", databaseName="defaultdb")
    s.OpenSession(req)
    s.OpenSession(req)
    assert err(s.OpenSession, req) == ("INTERNAL", "can not create new session: max sessions number reached")


def test_users_and_permissions(client, sealdb):
    client.createDatabase(b"db1")
    client.createUser("alice", "Alice_pw1", 1, "db1")       # read
    client.createUser("bob", "Bob_pw1", 2, "db1")           # read-write
    assert err(client.createUser, "alice", "x", 1, "db1") == ("UNKNOWN", "user already exists")
    assert err(client.createUser, "carl", "x", 255, "db1") == ("UNKNOWN", "can not create another system admin")
    assert err(client.createUser, "carl", "x", 7, "db1") == ("UNKNOWN", "unrecognized permission")
    assert err(client.createUser, "carl", "x", 1, "nodb") == ("UNKNOWN", "database nodb does not exist")
    assert err(client.createUser, "carl-x", "x", 1, "db1") == \
        ("INVALID_ARGUMENT", "username can only contain letters, digits and underscores")
    assert err(client.createUser, "carl", "", 1, "db1") == ("UNKNOWN", "password is empty")
    names = {u.user for u in client.listUsers().userlist.users}
    assert names == {b"immudb", b"alice", b"bob"}

    a = sealdb.client("alice", "Alice_pw1", database="db1")
    assert a.currentState().db == "db1"
    assert [u.user for u in a.listUsers().userlist.users] == [b"alice"]
    assert a.databaseList() == ["db1"]
    # alice has no permission on defaultdb
    assert err(a.useDatabase, b"defaultdb") == \
        ("PERMISSION_DENIED", "Logged in user does not have permission on this database")
    # admin-only RPC with read permission
    assert err(a.flushIndex, 10.0, True) == ("INTERNAL", "permission denied")
    # a plain user cannot change passwords or create databases
    assert err(a.changePassword, "alice", "New_pw1", "Alice_pw1") == \
        ("UNKNOWN", "user is not system admin nor admin in any of the databases")
    assert err(a.createDatabase, b"db2")[0] == "UNKNOWN"

    # grant admin on db1 to alice: her old token stops working until she logs in again
    client.changePermission(schema_pb2.GRANT, "alice", "db1", 254)
    assert err(a.currentState) == ("UNKNOWN", "not logged in")
    a = sealdb.client("alice", "Alice_pw1", database="db1")
    assert a.flushIndex(10.0, True).database == "db1"
    assert {u.user for u in a.listUsers().userlist.users} == {b"alice", b"bob"}
    client.changePermission(schema_pb2.REVOKE, "alice", "db1", 254)
    assert err(ImmudbClient(sealdb.address).login, "alice", "Alice_pw1", b"db1") == \
        ("PERMISSION_DENIED", "Logged in user does not have permission on this database")

    assert err(client.changePermission, schema_pb2.GRANT, "immudb", "db1", 1) == \
        ("INVALID_ARGUMENT", "changing your own permissions is not allowed")
    assert err(client.changePermission, schema_pb2.GRANT, "nobody", "db1", 1) == ("NOT_FOUND", "user nobody not found")
    assert err(client.changePermission, schema_pb2.GRANT, "bob", "nodb", 1) == \
        ("INVALID_ARGUMENT", "database does not exist")


def test_change_password_and_deactivate(client, sealdb):
    client.createUser("dave", "Dave_pw1", 2, "defaultdb")
    d = sealdb.client("dave", "Dave_pw1")
    client.changePassword("dave", "Dave_pw2", "")
    assert err(d.currentState) == ("UNKNOWN", "not logged in")          # old tokens dropped
    assert err(ImmudbClient(sealdb.address).login, "dave", "Dave_pw1")[1] == "invalid user name or password"
    d = sealdb.client("dave", "Dave_pw2")
    assert client.setActiveUser(False, "dave") is True
    assert err(d.currentState) == ("UNKNOWN", "not logged in")
    assert err(ImmudbClient(sealdb.address).login, "dave", "Dave_pw2") == ("UNKNOWN", "user is not active")
    client.setActiveUser(True, "dave")
    sealdb.client("dave", "Dave_pw2").currentState()
    assert err(client.setActiveUser, False, "immudb") == ("UNKNOWN", "changing your own status is not allowed")
    # sysadmin password change needs the right old password
    assert err(client.changePassword, "immudb", "Other_pw1", "wrong") == ("PERMISSION_DENIED", "old password is incorrect")
    client.changePassword("immudb", "Other_pw1", "immudb")
    r = ImmudbClient(sealdb.address).login("immudb", "Other_pw1")
    assert not r.warning


def test_users_survive_restart(client, sealdb):
    client.createDatabase(b"keep")
    client.createUser("erin", "Erin_pw1", 1, "keep")
    sealdb.restart()
    e = sealdb.client("erin", "Erin_pw1", database="keep")
    assert e.currentState().db == "keep"
    c = sealdb.client()
    assert c.databaseList() == ["defaultdb", "keep"]


def test_admin_password_flag(sealdb_factory):
    srv = sealdb_factory(args=["--admin-password", "S3cret_pw"])
    assert err(ImmudbClient(srv.address).login, "immudb", "immudb")[1] == "invalid user name or password"
    r = ImmudbClient(srv.address).login("immudb", "S3cret_pw")
    assert not r.warning
    assert "default password" not in srv.log()


def test_tokens_survive_restart_but_not_logout(sealdb):
    s = stub_for(sealdb.address)
    tok = s.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token
    tok2 = s.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token
    sealdb.restart()
    s = stub_for(sealdb.address)
    md = [("authorization", "Bearer " + tok)]
    assert s.CurrentState(empty_pb2.Empty(), metadata=md).db == "defaultdb"
    s.Logout(empty_pb2.Empty(), metadata=md)
    sealdb.restart()
    s = stub_for(sealdb.address)
    assert err(s.CurrentState, empty_pb2.Empty(), metadata=[("authorization", tok2)]) == ("UNKNOWN", "not logged in")
