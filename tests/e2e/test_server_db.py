# test_server_db.py - databases (create/list/load/unload/delete/update/settings and their errors),
# signed CurrentState with a key pair made here, and TLS / mTLS listening, all through immudb-py.
import datetime
import hashlib
import os
import struct

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from immudb import ImmudbClient, datatypesv2
from immudb.grpc import schema_pb2, schema_pb2_grpc
from google.protobuf import empty_pb2


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value.code().name, e.value.details()


def test_create_and_list_databases(client):
    r = client.createDatabaseV2("Sales_2024", datatypesv2.DatabaseSettingsV2(maxKeyLen=512, excludeCommitTime=True), False)
    assert r.name == "sales_2024" and not r.alreadyExisted
    assert r.settings.maxKeyLen == 512 and r.settings.excludeCommitTime is True
    assert r.settings.maxValueLen == 33554432 and r.settings.maxTxEntries == 1024
    r2 = client.createDatabaseV2("sales_2024", None, True)
    assert r2.alreadyExisted and r2.settings.maxKeyLen == 512
    assert err(client.createDatabaseV2, "sales_2024", None, False) == ("UNKNOWN", "database already exists")
    assert err(client.createDatabaseV2, "defaultdb", None, False) == ("INTERNAL", "database is reserved")
    assert err(client.createDatabaseV2, "bad-name", None, False) == \
        ("UNKNOWN", "punctuation marks and symbols are not allowed in database name")
    assert err(client.createDatabaseV2, "bad name", None, False) == \
        ("UNKNOWN", "unrecognized character in database name")
    assert err(client.createDatabaseV2, "x" * 129, None, False) == ("UNKNOWN", "database name length outside of limits")
    client.createDatabase(b"other")
    assert client.databaseList() == ["defaultdb", "sales_2024", "other"]
    v2 = client.databaseListV2().databases
    assert [d.name for d in v2] == ["defaultdb", "sales_2024", "other"]
    assert all(d.loaded for d in v2)
    info = client.serverInfo()
    assert info.numDatabases == 3


def test_use_database_errors(client):
    assert err(client.useDatabase, b"nodb") == ("NOT_FOUND", "'nodb' does not exist")
    client.createDatabase(b"db1")
    client.useDatabase(b"db1")
    assert client.currentState().db == "db1"
    assert client.getDatabaseSettingsV2().database == "db1"


def test_load_unload_delete(client):
    client.createDatabase(b"tmpdb")
    assert err(client.loadDatabase, "tmpdb") == ("INTERNAL", "database already loaded")
    assert err(client.deleteDatabase, "tmpdb") == ("UNKNOWN", "cannot delete an open database")
    assert err(client.unloadDatabase, "defaultdb") == ("INTERNAL", "database is reserved")
    assert err(client.unloadDatabase, "nodb") == ("UNKNOWN", "database does not exist")
    client.unloadDatabase("tmpdb")
    assert err(client.unloadDatabase, "tmpdb") == ("UNKNOWN", "already closed")
    assert err(client.useDatabase, b"tmpdb") == ("UNKNOWN", "already closed")
    assert [bool(d.loaded) for d in client.databaseListV2().databases if d.name == "tmpdb"] == [False]
    client.loadDatabase("tmpdb")
    client.unloadDatabase("tmpdb")
    assert client.deleteDatabase("tmpdb").database == "tmpdb"
    assert "tmpdb" not in client.databaseList()
    client.createDatabase(b"tmpdb")   # the name can be reused
    assert "tmpdb" in client.databaseList()


def test_update_database(client):
    client.createDatabase(b"upd")
    r = client.updateDatabaseV2("upd", datatypesv2.DatabaseSettingsV2(autoload=False, maxConcurrency=7))
    assert r.database == "upd" and not r.settings.autoload and r.settings.maxConcurrency == 7
    assert r.settings.maxKeyLen == 1024
    r = client.updateDatabaseV2("upd", datatypesv2.DatabaseSettingsV2(maxKeyLen=1024))   # same value is fine
    e = err(client.updateDatabaseV2, "upd", datatypesv2.DatabaseSettingsV2(maxKeyLen=100))
    assert e == ("INVALID_ARGUMENT", "rpc error: code = InvalidArgument desc = illegal arguments: "
                 "max key length can not be changed after database creation ('upd')")
    assert err(client.updateDatabaseV2, "defaultdb", datatypesv2.DatabaseSettingsV2(maxConcurrency=3)) == \
        ("INTERNAL", "database is reserved")


def test_autoload_false_survives_restart_unloaded(client, sealdb):
    client.createDatabase(b"lazy")
    client.updateDatabaseV2("lazy", datatypesv2.DatabaseSettingsV2(autoload=False))
    client.createDatabase(b"eager")
    sealdb.restart()
    c = sealdb.client()
    loaded = {d.name: bool(d.loaded) for d in c.databaseListV2().databases}
    assert loaded == {"defaultdb": True, "lazy": False, "eager": True}
    c.loadDatabase("lazy")
    c.useDatabase(b"lazy")


def _keypair(tmp):
    key = ec.generate_private_key(ec.SECP256R1())
    priv = os.path.join(tmp, "sign.key")
    pub = os.path.join(tmp, "sign.pub")
    with open(priv, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(pub, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, priv, pub


def test_signed_current_state(sealdb_factory, tmp_path):
    key, priv, pub = _keypair(str(tmp_path))
    srv = sealdb_factory(args=["--signingKey", priv])
    c = srv.client()
    stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(srv.address))
    tok = stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token
    st = stub.CurrentState(empty_pb2.Empty(), metadata=[("authorization", "Bearer " + tok)])
    assert st.signature.signature
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert st.signature.publicKey == point
    payload = struct.pack(">I", len(st.db)) + st.db.encode() + struct.pack(">Q", st.txId) + st.txHash
    key.public_key().verify(st.signature.signature, payload, ec.ECDSA(hashes.SHA256()))
    # a tampered state does not verify
    from cryptography.exceptions import InvalidSignature
    with pytest.raises(InvalidSignature):
        key.public_key().verify(st.signature.signature, payload[:-1] + b"\x00", ec.ECDSA(hashes.SHA256()))
    # an immudb-py client configured with the public key accepts the server
    c2 = ImmudbClient(srv.address, publicKeyFile=pub)
    c2.login("immudb", "immudb")
    assert c2.currentState().db == "defaultdb"


def test_unsigned_state_has_no_signature(client):
    st = client.currentState()
    assert not st.signature


def _cert(tmp, name, issuer_key=None, issuer_name=None, ca=False):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2)))
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    cert = b.sign(issuer_key or key, hashes.SHA256())
    kp = os.path.join(tmp, name + ".key")
    cp = os.path.join(tmp, name + ".pem")
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, kp, cp


def test_tls_and_mtls(sealdb_factory, tmp_path):
    tmp = str(tmp_path)
    ca_key, ca_cert, _, ca_path = _cert(tmp, "ca", ca=True)
    _, _, skey, scert = _cert(tmp, "server", ca_key, ca_cert.subject)
    _, _, ckey, ccert = _cert(tmp, "client", ca_key, ca_cert.subject)
    rd = lambda p: open(p, "rb").read()
    opts = (("grpc.ssl_target_name_override", "localhost"),)

    srv = sealdb_factory(args=["--certificate", scert, "--pkey", skey])
    ch = grpc.secure_channel(srv.address, grpc.ssl_channel_credentials(rd(ca_path)), options=opts)
    h = schema_pb2_grpc.ImmuServiceStub(ch).Health(empty_pb2.Empty(), timeout=10)
    assert h.status
    plain = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(srv.address))
    with pytest.raises(grpc.RpcError):
        plain.Health(empty_pb2.Empty(), timeout=3)

    m = sealdb_factory(args=["--mtls", "--certificate", scert, "--pkey", skey, "--clientcas", ca_path])
    good = grpc.ssl_channel_credentials(rd(ca_path), rd(ckey), rd(ccert))
    ch = grpc.secure_channel(m.address, good, options=opts)
    assert schema_pb2_grpc.ImmuServiceStub(ch).Health(empty_pb2.Empty(), timeout=10).status
    nocert = grpc.secure_channel(m.address, grpc.ssl_channel_credentials(rd(ca_path)), options=opts)
    with pytest.raises(grpc.RpcError):
        schema_pb2_grpc.ImmuServiceStub(nocert).Health(empty_pb2.Empty(), timeout=3)
