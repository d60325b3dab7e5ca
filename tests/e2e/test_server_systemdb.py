# test_server_systemdb.py - users, permissions and the database catalog live in the internal
# systemdb: they survive a clean restart and a kill -9, every change is a verifiable systemdb
# transaction readable only by the sysadmin, systemdb is hidden from database lists and refuses
# writes, and an old systemdb/catalog text file is imported once.
import os

import grpc
import pytest
from immudb import ImmudbClient, datatypesv2
from immudb.grpc import schema_pb2


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value.code().name, e.value.details()


def kill9(srv):
    srv.proc.kill()
    srv.proc.wait()
    srv.proc = None
    srv.start()


def users_of(c):
    return {u.user.decode(): (bool(u.active), sorted((p.database, p.permission) for p in u.permissions))
            for u in c.listUsers().userlist.users}


def make_changes(c):
    c.createDatabase(b"keep")
    c.createDatabase(b"lazy")
    c.createDatabase(b"gone")
    c.createUser("ann", "Ann_pw1", 1, "keep")
    c.createUser("ben", "Ben_pw1", 2, "keep")
    c.createUser("cat", "Cat_pw1", 2, "defaultdb")
    c.changePassword("ann", "Ann_pw2", "")
    c.changePermission(schema_pb2.GRANT, "ben", "lazy", 254)
    c.changePermission(schema_pb2.REVOKE, "ben", "keep", 2)
    c.setActiveUser(False, "cat")
    c.updateDatabaseV2("lazy", datatypesv2.DatabaseSettingsV2(autoload=False))
    c.unloadDatabase("lazy")
    c.unloadDatabase("keep")          # unloading alone does not persist (api.md 3.1): keep loads again
    c.loadDatabase("keep")
    c.unloadDatabase("keep")
    c.unloadDatabase("gone")
    c.deleteDatabase("gone")
    c.updateDatabaseV2("keep", datatypesv2.DatabaseSettingsV2(maxConcurrency=9))


def check_changes(srv):
    c = srv.client()
    assert c.databaseList() == ["defaultdb", "keep", "lazy"]
    loaded = {d.name: bool(d.loaded) for d in c.databaseListV2().databases}
    assert loaded == {"defaultdb": True, "keep": True, "lazy": False}
    assert c.getDatabaseSettingsV2().database == "defaultdb"
    c.useDatabase(b"keep")
    assert c.getDatabaseSettingsV2().settings.maxConcurrency == 9
    u = users_of(c)
    assert u["ann"] == (True, [("keep", 1)])
    assert u["ben"] == (True, [("lazy", 254)])
    assert u["cat"][0] is False
    assert set(u) == {"immudb", "ann", "ben", "cat"}
    assert err(ImmudbClient(srv.address).login, "ann", "Ann_pw1")[1] == "invalid user name or password"
    assert srv.client("ann", "Ann_pw2", database="keep").currentState().db == "keep"
    assert err(ImmudbClient(srv.address).login, "cat", "Cat_pw1") == ("UNKNOWN", "user is not active")
    # the deleted database's name can be reused
    c.createDatabase(b"gone")
    assert c.databaseList() == ["defaultdb", "keep", "lazy", "gone"]


def test_catalog_survives_restart(client, sealdb):
    make_changes(client)
    sealdb.restart()
    check_changes(sealdb)
    sealdb.restart()
    assert sealdb.client().databaseList() == ["defaultdb", "keep", "lazy", "gone"]


def test_catalog_survives_kill9(client, sealdb):
    make_changes(client)
    kill9(sealdb)
    check_changes(sealdb)
    kill9(sealdb)
    c = sealdb.client()
    assert c.databaseList() == ["defaultdb", "keep", "lazy", "gone"]
    c.changePassword("immudb", "Admin_pw2", "immudb")
    kill9(sealdb)
    assert err(ImmudbClient(sealdb.address).login, "immudb", "immudb")[1] == "invalid user name or password"
    assert sealdb.client("immudb", "Admin_pw2").databaseList()[0] == "defaultdb"


def test_systemdb_hidden_and_read_only(client, sealdb):
    client.createUser("dan", "Dan_pw1", 2, "defaultdb")
    assert "systemdb" not in client.databaseList()
    assert "systemdb" not in [d.name for d in client.databaseListV2().databases]
    assert client.serverInfo().numDatabases == 1
    # a plain user cannot select it
    d = sealdb.client("dan", "Dan_pw1")
    assert err(d.useDatabase, b"systemdb") == \
        ("PERMISSION_DENIED", "Logged in user does not have permission on this database")
    # the sysadmin may read it but not write it
    client.useDatabase(b"systemdb")
    assert err(client.set, b"k", b"v") == ("INTERNAL", "permission denied")
    assert err(client.setReference, b"sys/user/dan", b"r") == ("INTERNAL", "permission denied")


def test_user_changes_are_verifiable_systemdb_txs(client, sealdb):
    admin = sealdb.client()
    admin.useDatabase(b"systemdb")
    before = admin.currentState().txId
    assert before >= 1                    # the first start wrote the sysadmin and defaultdb
    client.createUser("eve", "Eve_pw1", 1, "defaultdb")
    client.changePassword("eve", "Eve_pw2", "")
    client.createDatabase(b"vdb")
    assert admin.currentState().txId == before + 3     # one transaction per change
    e = admin.verifiedGet(b"sys/user/eve")
    assert e.verified
    rec = e.value.decode().split()
    assert rec[3] == "1" and rec[7:] == ["defaultdb:1"]
    assert rec[2].startswith("$2")                     # bcrypt, never the password
    assert b"Eve_pw2" not in e.value
    hist = admin.history(b"sys/user/eve", 0, 10, False)
    assert len(hist) == 2 and hist[0].value != hist[1].value
    assert admin.verifiedGet(b"sys/db/vdb").verified
    keys = list(admin.scan(b"", b"sys/", False, 100))
    assert b"sys/user/immudb" in keys and b"sys/db/defaultdb" in keys and b"sys/db/vdb" in keys


def test_old_catalog_file_is_imported_once(sealdb_factory):
    # bcrypt hashes made by a throwaway server (read back from its systemdb)
    tmp = sealdb_factory()
    t = tmp.client()
    t.createUser("fay", "Fay_pw1", 1, "defaultdb")
    t.changePassword("immudb", "Old_admin1", "immudb")
    t = tmp.client("immudb", "Old_admin1")
    t.useDatabase(b"systemdb")
    h_admin = t.get(b"sys/user/immudb").value.decode().split()[2]
    h_fay = t.get(b"sys/user/fay").value.decode().split()[2]
    tmp.stop()
    srv = sealdb_factory(start=False)
    sysdir = os.path.join(srv.dir, "systemdb")
    os.makedirs(sysdir)
    with open(os.path.join(sysdir, "catalog"), "w") as f:
        f.write("sealdb-catalog 1\nmultidb 1\n")
        f.write("user immudb %s 1 - 0 1 *:255 epoch=0\n" % h_admin)
        f.write("user fay %s 1 immudb 0 1 olddb:2 epoch=3\n" % h_fay)
        f.write("db defaultdb 0 immudb -\n")
        f.write("db olddb 0 immudb -\n")
    srv.start()
    assert "imported" in srv.log()
    assert not os.path.exists(os.path.join(sysdir, "catalog"))
    c = srv.client("immudb", "Old_admin1")
    assert c.databaseList() == ["defaultdb", "olddb"]
    f = srv.client("fay", "Fay_pw1", database="olddb")
    f.set(b"k", b"v")
    c.changePassword("fay", "Fay_pw2", "")
    # a stale catalog file put back is ignored: systemdb is the source of truth
    with open(os.path.join(sysdir, "catalog"), "w") as fh:
        fh.write("sealdb-catalog 1\nmultidb 0\nuser immudb %s 1 - 0 1 *:255 epoch=0\ndb defaultdb 0 immudb -\n" % h_fay)
    srv.restart()
    assert srv.client("immudb", "Old_admin1").databaseList() == ["defaultdb", "olddb"]
    assert srv.client("fay", "Fay_pw2", database="olddb").get(b"k").value == b"v"
