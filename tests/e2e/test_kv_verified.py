# test_kv_verified.py - immudb-py's verified calls against sealdb: proofs, a trusted state persisted
# across client restarts and a server restart, and state signatures with a key pair made here.
import hashlib
import struct

import grpc
import pytest
from ecdsa import NIST256p, SigningKey, VerifyingKey
from ecdsa.util import sigdecode_der
from immudb.rootService import PersistentRootService
from immudb.exceptions import ErrCorruptedData

from kv_server import SealServer, has_key_index, require_key_index, require_kv


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    sk = SigningKey.generate(curve=NIST256p)
    priv, pub = d / "priv.pem", d / "pub.pem"
    priv.write_bytes(sk.to_pem())
    pub.write_bytes(sk.get_verifying_key().to_pem())
    other = d / "other.pem"
    other.write_bytes(SigningKey.generate(curve=NIST256p).get_verifying_key().to_pem())
    return str(priv), str(pub), str(other)


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory, keys):
    srv = SealServer(str(tmp_path_factory.mktemp("vdata") / "data"), signing_key=keys[0])
    srv.start()
    yield srv
    srv.stop()


def state_payload(db, tx_id, tx_hash):
    return struct.pack(">I", len(db)) + db + struct.pack(">Q", tx_id) + tx_hash


def test_verified_calls_persistent_state(signed_server, keys, tmp_path):
    statefile = str(tmp_path / "state.pickle")
    srv = signed_server
    require_key_index(srv)
    c = srv.client(rs=PersistentRootService(statefile), public_key=keys[1])
    r = c.verifiedSet(b"v:a", b"alpha")
    assert r.verified and r.id >= 1
    g = c.verifiedGet(b"v:a")
    assert g.verified and g.value == b"alpha" and g.id == r.id
    r2 = c.verifiedSet(b"v:a", b"beta")
    assert c.verifiedGetAt(b"v:a", r.id).value == b"alpha"
    assert c.verifiedGetSince(b"v:a", r2.id).value == b"beta"
    ref = c.verifiedSetReference(b"v:a", b"v:ref")
    assert ref.verified
    g = c.verifiedGet(b"v:ref")
    assert g.verified and g.value == b"beta" and g.refkey == b"v:ref"
    z = c.verifiedZAdd(b"vset", 2.5, b"v:a")
    assert z.verified
    # bound ZAdd: immudb-py's verifiedZAdd sends atTx without boundRef, which immudb refuses (so do we);
    # its zAdd sends boundRef
    with pytest.raises(grpc.RpcError):
        c.verifiedZAdd(b"vset", 3.5, b"v:a", atTx=r.id)
    c.zAdd(b"vset", 3.5, b"v:a", atTx=r.id)
    z2 = c.verifiedZAdd(b"vset", 4.5, b"v:a")
    assert z2.verified
    entries = c.zScan(b"vset", b"", 0, 0, True, 10, False, 0.0, 10.0).entries
    assert [(e.score, e.entry.value) for e in entries] == [(2.5, b"beta"), (3.5, b"alpha"), (4.5, b"beta")]
    t = c.verifiedTxById(r.id)
    assert t == [b"v:a"]
    c.shutdown()

    # writes by another (unverified) client, then a fresh client that reloads the persisted state:
    # its first verified call must prove consistency from that old state
    w = srv.client()
    for i in range(5):
        w.set(b"v:w%d" % i, b"x")
    w.shutdown()
    c = srv.client(rs=PersistentRootService(statefile), public_key=keys[1])
    old = c._rs.get()
    assert old.txId == z2.id
    g = c.verifiedGet(b"v:w4")
    assert g.verified and g.value == b"x"
    assert c._rs.get().txId > old.txId
    c.shutdown()

    # server restart in the middle: data and verification survive
    srv.restart()
    c = srv.client(rs=PersistentRootService(statefile), public_key=keys[1])
    g = c.verifiedGet(b"v:a")
    assert g.verified and g.value == b"beta"
    r3 = c.verifiedSet(b"v:after", b"restart")
    assert r3.verified
    assert c.verifiedGet(b"v:ref").value == b"beta"
    assert c.verifiedTxById(r2.id) == [b"v:a"]
    c.shutdown()


def test_wrong_public_key_rejected(signed_server, keys):
    require_kv(signed_server)
    c = signed_server.client(public_key=keys[2])
    with pytest.raises(Exception):
        c.verifiedSet(b"v:bad", b"x")
    c.shutdown()


def test_current_state_signature(signed_server, keys):
    require_kv(signed_server)
    c = signed_server.client()
    c.set(b"v:sig", b"1")
    st = c.stub.CurrentState(__import__("google.protobuf.empty_pb2", fromlist=["Empty"]).Empty())
    assert st.db == "defaultdb" and st.txId >= 1 and len(st.txHash) == 32
    assert len(st.signature.publicKey) == 65 and st.signature.publicKey[0] == 4
    vk = VerifyingKey.from_pem(open(keys[1], "rb").read())
    payload = state_payload(b"defaultdb", st.txId, st.txHash)
    assert vk.verify(st.signature.signature, payload, hashfunc=hashlib.sha256, sigdecode=sigdecode_der)
    bad = state_payload(b"defaultdb", st.txId + 1, st.txHash)
    with pytest.raises(Exception):
        vk.verify(st.signature.signature, bad, hashfunc=hashlib.sha256, sigdecode=sigdecode_der)
    c.shutdown()


def test_unsigned_server_has_no_signature(tmp_path):
    srv = SealServer(str(tmp_path / "data")).start()
    try:
        require_kv(srv)
        c = srv.client()
        r = c.verifiedSet(b"u:k", b"v")
        assert r.verified
        assert not c.stub.CurrentState(__import__("google.protobuf.empty_pb2", fromlist=["Empty"]).Empty()).HasField("signature")
        if has_key_index(srv):
            # empty local state + VerifiableGet: self dual proof
            assert c.verifiedGet(b"u:k").value == b"v"
        c.shutdown()
    finally:
        srv.stop()


def test_tampering_detected_by_client(signed_server, keys):
    """A reply for another key must not verify: ask verifiedGet for a key, the SDK compares digests."""
    require_key_index(signed_server)
    c = signed_server.client(public_key=keys[1])
    c.set(b"v:t1", b"one")
    assert c.verifiedGet(b"v:t1").verified
    with pytest.raises(ErrCorruptedData):
        # state claims a tx that is not the server's: consistency proof must fail
        st = c._rs.get()
        st.txHash = b"\x00" * 32
        c._rs.set(st)
        c.set(b"v:t2", b"two")
        c.verifiedGet(b"v:t2")
    c.shutdown()


def test_verified_set_tx_persistent_state_restart(signed_server, keys, tmp_path):
    """Verified writes and VerifiableTxById (no key reads): the persisted trusted state survives client
    restarts and a server restart, every answer is signed with the configured key."""
    statefile = str(tmp_path / "state2.pickle")
    srv = signed_server
    require_kv(srv)
    c = srv.client(rs=PersistentRootService(statefile), public_key=keys[1])
    ids = [c.verifiedSet(b"p:%d" % i, b"val%d" % i).id for i in range(4)]
    assert ids == list(range(ids[0], ids[0] + 4))
    assert c._rs.get().txId == ids[-1]
    c.shutdown()
    w = srv.client()
    extra = w.setAll({b"p:x": b"1", b"p:y": b"2"}).id
    w.shutdown()
    c = srv.client(rs=PersistentRootService(statefile), public_key=keys[1])
    assert c._rs.get().txId == ids[-1]           # reloaded from the file, not from CurrentState
    assert c.verifiedTxById(ids[1]) == [b"p:1"]  # older tx proven against the persisted newer state
    assert c._rs.get().txId == ids[-1]
    r = c.verifiedSet(b"p:z", b"z")              # consistency proven from the persisted state
    assert r.verified and r.id == extra + 1
    c.shutdown()
    srv.restart()
    c = srv.client(rs=PersistentRootService(statefile), public_key=keys[1])
    assert c.verifiedTxById(extra) == [b"p:x", b"p:y"]
    r2 = c.verifiedSet(b"p:after", b"restart")
    assert r2.verified and r2.id == r.id + 1
    tx = c.stub.TxById(__import__("immudb.grpc.schema_pb2", fromlist=["TxRequest"]).TxRequest(tx=r2.id))
    assert tx.header.nentries == 1 and tx.entries[0].key == b"\x00p:after"
    assert len(tx.header.prevAlh) == 32 and len(tx.header.blRoot) == 32 and tx.header.version == 1
    c.shutdown()
    # a client holding another public key must refuse the server's signed answers
    bad = srv.client(public_key=keys[2])
    with pytest.raises(Exception):
        bad.verifiedSet(b"p:bad", b"x")
    bad.shutdown()
