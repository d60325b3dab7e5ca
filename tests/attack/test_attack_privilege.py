# test_attack_privilege.py - privilege escalation through ChangePermission: a database admin granting
# permission 255 on its own database made the grantee pass every sysadmin-only check (CreateDatabase),
# because a per-database 255 was read as sysadmin. Sysadmin now comes only from the built-in user's
# global grant, and ChangePermission accepts only per-database values (1, 2, 254).
import grpc
import pytest
from immudb.grpc import schema_pb2

NOT_SYSADMIN = ("UNKNOWN", "loggedin user does not have permissions for this operation")
BAD_PERM = ("INVALID_ARGUMENT", "unrecognized permission")


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value.code().name, ei.value.details()


@pytest.fixture
def privdb(client):
    client.createDatabase(b"privdb")
    client.createUser("dbadm", "Adm_pw1!", 254, "privdb")
    client.createUser("mallory", "Mal_pw1!", 1, "privdb")
    return client


def test_db_admin_cannot_grant_sysadmin(sealdb, privdb):
    adm = sealdb.client("dbadm", "Adm_pw1!", database="privdb")
    for action in (schema_pb2.GRANT, schema_pb2.REVOKE):
        for perm in (255, 0, 3, 253, 256, 1 << 31):
            assert err(adm.changePermission, action, "mallory", "privdb", perm) == BAD_PERM, (action, perm)
    # the sysadmin cannot hand out 255 per database either: it exists only as the global grant
    assert err(privdb.changePermission, schema_pb2.GRANT, "mallory", "privdb", 255) == BAD_PERM
    m = sealdb.client("mallory", "Mal_pw1!", database="privdb")
    assert err(m.createDatabase, b"evil") == NOT_SYSADMIN
    assert err(m.createDatabaseV2, "evil", None, False) == NOT_SYSADMIN
    assert [u.user for u in m.listUsers().userlist.users] == [b"mallory"]
    assert "evil" not in privdb.databaseList()


def test_db_admin_grant_stays_per_database(sealdb, privdb):
    adm = sealdb.client("dbadm", "Adm_pw1!", database="privdb")
    adm.changePermission(schema_pb2.GRANT, "mallory", "privdb", 254)     # admin of privdb: allowed
    m = sealdb.client("mallory", "Mal_pw1!", database="privdb")
    assert m.flushIndex(10.0, True).database == "privdb"
    # ...but no more than that: no sysadmin RPC, no other database
    assert err(m.createDatabase, b"evil") == NOT_SYSADMIN
    assert err(m.useDatabase, b"defaultdb") == \
        ("PERMISSION_DENIED", "Logged in user does not have permission on this database")
    assert err(m.changePermission, schema_pb2.GRANT, "dbadm", "defaultdb", 2)[0] == "PERMISSION_DENIED"
    assert err(adm.createDatabase, b"evil2") == NOT_SYSADMIN
