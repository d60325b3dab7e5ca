# test_backup.py - `seal backup` / `seal restore` on a real server: immuadmin's hot-backup file
# format (each record's data is exactly the exportTx stream), --append that resumes after the last
# record (and cuts a torn one), restore into a new database that verifies every record and ends
# as a normal database, refusals of a tampered file, and a backup made by immudb 1.9.5 itself
# (the replication vectors) restored into sealdb with immudb's Alh.
import hashlib
import json
import os
import struct

import pytest
from immudb.grpc import schema_pb2

from sealcli import running_env

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "replication",
                       "replication.json")


@pytest.fixture
def env():
    yield from running_env("seal-backup-")


def records(data):
    out, off = [], 0
    while off < len(data):
        magic, ver, tx, slen, tlen = struct.unpack_from(">10sIQII", data, off)
        assert magic == b"IMMUBACKUP" and ver == 1 and slen == 32
        out.append((tx, data[off + 30:off + 62], data[off + 62:off + 62 + tlen]))
        off += 30 + slen + tlen
    return out


def fill(c):
    c.set(b"alpha", b"one")
    c.setReference(b"alpha", b"ref")
    c.zAdd(b"set", 1.5, b"alpha")
    c.set(b"big", os.urandom(70000))
    c.set(b"gamma", b"")


def test_backup_append_restore(env, tmp_path):
    c = env.srv.client()
    fill(c)
    env.ok("login", "immudb")
    f = str(tmp_path / "db.backup")
    p = env.ok("backup", "defaultdb", "-o", f)
    assert "Backing up transactions from 1 to 5" in p.stderr and "Done" in p.stderr
    data = open(f, "rb").read()
    recs = records(data)
    assert [r[0] for r in recs] == [1, 2, 3, 4, 5]
    for tx, alh, stream in recs:
        assert stream == b"".join(ch.content for ch in c.exportTx(tx))
    assert recs[-1][1] == c.currentState().txHash
    p = env.run("backup", "defaultdb", "-o", f)
    assert p.returncode == 1 and "file already exists, use --append option" in p.stderr
    p = env.ok("backup", "defaultdb", "-o", f, "--append")
    assert "All backed up, nothing to do" in p.stderr
    c.set(b"later", b"appended")
    c.set(b"later2", b"appended")
    p = env.ok("backup", "defaultdb", "-o", f, "--append")
    assert "Backing up transactions from 6 to 7" in p.stderr
    full = open(f, "rb").read()
    # an interrupted backup leaves a torn record: --append cuts it and writes it again
    with open(f, "r+b") as fh:
        fh.truncate(len(full) - 10)
    p = env.ok("backup", "defaultdb", "-o", f, "--append")
    assert "cut the incomplete last record" in p.stderr and "Backing up transaction 7" in p.stderr
    assert open(f, "rb").read() == full

    # restore into a new database: verified, same chain, then a normal (writable) database
    p = env.ok("restore", "copy", "-f", f)
    assert "Restored transactions from 1 to 7" in p.stdout
    cc = env.srv.client(database="copy")
    assert cc.currentState().txHash == c.currentState().txHash
    assert cc.get(b"big").value == c.get(b"big").value
    p = env.run("restore", "copy", "-f", f)
    assert p.returncode == 1 and "without --append" in p.stderr
    # appending to a non-replica database is refused by the server, as immudb does
    c.set(b"more", b"x")
    env.ok("backup", "defaultdb", "-o", f, "--append")
    p = env.run("restore", "copy", "-f", f, "--append")
    assert p.returncode == 1 and "database is NOT a replica" in p.stderr
    cc.set(b"own", b"write")


def test_restore_refuses_tampered_file(env, tmp_path):
    c = env.srv.client()
    fill(c)
    env.ok("login", "immudb")
    f = str(tmp_path / "db.backup")
    env.ok("backup", "defaultdb", "-o", f)
    data = bytearray(open(f, "rb").read())
    bad = bytearray(data)
    bad[data.find(b"one")] ^= 1             # a value byte of tx 1: its entries no longer hash to eH
    open(f, "wb").write(bad)
    p = env.run("restore", "t1", "-f", f)
    assert p.returncode == 2 and "record of tx 1 does not verify" in p.stderr, p.stderr
    # a record whose header and checksum were rewritten consistently breaks the chain at the next tx
    hdr_off = 30 + 32 + 8 + 4                # record header, checksum, u64(L), u32(hdrLen)
    ts_off = hdr_off + 8 + 32
    forged = bytearray(data)
    ts = struct.unpack_from(">q", forged, ts_off)[0]
    struct.pack_into(">q", forged, ts_off, ts + 1)
    # recompute the record's checksum with the forged header, as a careful forger would
    h = bytes(forged[hdr_off:hdr_off + 128])
    forged[30:62] = alh_of(h)
    open(f, "wb").write(forged)
    p = env.run("restore", "t2", "-f", f)
    assert p.returncode == 2 and "record of tx 2 does not verify" in p.stderr, p.stderr
    names = [d for d in c.databaseList()]
    assert "t1" not in names and "t2" not in names


def alh_of(hdr):
    """Alh of a v1 header with empty tx metadata (docs/format.md 4.4)."""
    tx_id, prev = hdr[:8], hdr[8:40]
    ts, ver, mdl, ne = hdr[40:48], hdr[48:50], hdr[50:52], hdr[52:56]
    eh, bl_id, bl_root = hdr[56:88], hdr[88:96], hdr[96:128]
    inner = hashlib.sha256(ts + ver + mdl + ne + eh + bl_id + bl_root).digest()
    return hashlib.sha256(tx_id + prev + inner).digest()


def test_restore_of_an_immudb_backup(env, tmp_path):
    hb = json.load(open(VECTORS))["hot_backup"]
    f = str(tmp_path / "immudb.backup")
    open(f, "wb").write(bytes.fromhex(hb["file_hex_without_large_record"]))   # txs 1-4 by immudb 1.9.5
    env.ok("login", "immudb")
    p = env.ok("restore", "fromimmudb", "-f", f)
    assert "Restored transactions from 1 to 4" in p.stdout
    c = env.srv.client(database="fromimmudb")
    s = c.currentState()
    assert s.txId == 4 and s.txHash.hex() == hb["records"][3]["checksum"]
    assert c.get(b"alpha").value == b"one"
    hdr = c._stub.TxById(schema_pb2.TxRequest(tx=1)).header
    assert hdr.ts == json.load(open(VECTORS))["txs"][0]["header"]["ts"]
