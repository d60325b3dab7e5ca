# test_interop_backup.py - immuadmin 1.9.5's hot-backup / hot-restore across sealdb and the real immudb:
# a backup taken from sealdb restores into immudb and into sealdb (also incrementally, --append), and a
# backup taken from immudb restores into sealdb; every tx, key and proof then matches the source.
import os

from immudb_ref import immuadmin, seal
from immudb_ref import immudb_factory, immudb_ref, sealdb_pw, sealdb_pw_factory  # noqa: F401 (fixtures)
from interop_util import (assert_clean_stop, assert_same_and_verified, db_client, export_stream, parse_backup, state,
                          write_mixed)


def _fill(c, tag, n):
    for i in range(n):
        write_mixed(c, tag, i)
    # a value larger than one stream chunk: its export spans two chunks
    c.set(("%s-large" % tag).encode(), bytes(range(256)) * 274)


def _ok(r, what):
    assert r.returncode == 0, "%s: rc %d\nstdout: %s\nstderr: %s" % (what, r.returncode, r.stdout, r.stderr[-2000:])
    return r


def _backup_matches_source(path, src):
    """Records are txs 1..N in order, each the source's export stream of that tx, the last checksum
    the source's current Alh."""
    recs = parse_backup(open(path, "rb").read())
    txid, alh = state(src)
    assert [r[0] for r in recs] == list(range(1, txid + 1))
    for t, _, data in recs:
        assert data == export_stream(src, t), "record of tx %d is not the export stream" % t
    assert recs[-1][1] == alh
    return recs


def test_immuadmin_hot_backup_of_sealdb_restores_into_immudb_and_sealdb(sealdb_pw, immudb_ref, tmp_path):
    sealdb = sealdb_pw
    src = db_client(sealdb, "defaultdb")
    _fill(src, "sb", 24)
    path = str(tmp_path / "sealdb.backup")

    _ok(immuadmin(sealdb, "hot-backup", "defaultdb", "-o", path), "hot-backup from sealdb")
    first = open(path, "rb").read()
    _backup_matches_source(path, src)
    r = _ok(immuadmin(sealdb, "hot-restore", "--verify-only", "-i", path), "hot-restore --verify-only")
    out = r.stdout + r.stderr
    assert "Backup file contains transactions from 1 to %d\n" % state(src)[0] in out, out

    # into the real immudb: a new database, then compared tx by tx, key by key, with proofs on both sides
    _ok(immuadmin(immudb_ref, "hot-restore", "restored", "-i", path), "hot-restore into immudb")
    assert_same_and_verified((sealdb, "defaultdb"), (immudb_ref, "restored"), "sealdb -> backup -> immudb")

    # into sealdb itself (a new database of the same server)
    _ok(immuadmin(sealdb, "hot-restore", "restored", "-i", path), "hot-restore into sealdb")
    assert_same_and_verified((sealdb, "defaultdb"), (sealdb, "restored"), "sealdb -> backup -> sealdb")

    # incremental: new txs, --append resumes after the file's last tx and keeps its bytes
    for i in range(24, 31):
        write_mixed(src, "sb", i)
    _ok(immuadmin(sealdb, "hot-backup", "defaultdb", "-o", path, "--append"), "hot-backup --append")
    second = open(path, "rb").read()
    assert second[:len(first)] == first and len(second) > len(first)
    _backup_matches_source(path, src)
    for srv in (immudb_ref, sealdb):
        _ok(immuadmin(srv, "hot-restore", "restored", "-i", path, "--append", "--force-replica"),
            "hot-restore --append into %s" % type(srv).__name__)
        assert_same_and_verified((sealdb, "defaultdb"), (srv, "restored"), "append into %s" % type(srv).__name__)
    # the restored databases are primaries again and take writes
    for srv in (immudb_ref, sealdb):
        db_client(srv, "restored").set(b"after-restore", b"ok")
    assert_clean_stop(sealdb)


def test_immuadmin_hot_backup_of_immudb_restores_into_sealdb(sealdb_pw, immudb_ref, tmp_path):
    sealdb = sealdb_pw
    src = db_client(immudb_ref, "defaultdb")
    _fill(src, "im", 24)
    path = str(tmp_path / "immudb.backup")
    _ok(immuadmin(immudb_ref, "hot-backup", "defaultdb", "-o", path), "hot-backup from immudb")
    _backup_matches_source(path, src)

    _ok(immuadmin(sealdb, "hot-restore", "fromimmudb", "-i", path), "hot-restore into sealdb")
    assert_same_and_verified((immudb_ref, "defaultdb"), (sealdb, "fromimmudb"), "immudb -> backup -> sealdb")

    # sealdb's own hot-backup of the restored database is byte-identical to immudb's file
    path2 = str(tmp_path / "again.backup")
    _ok(immuadmin(sealdb, "hot-backup", "fromimmudb", "-o", path2), "hot-backup of the restored db")
    assert open(path2, "rb").read() == open(path, "rb").read()


def test_hot_restore_refuses_a_file_that_does_not_match(sealdb_pw, immudb_ref, tmp_path):
    """A backup of another history appended onto a restored database is refused by both servers
    (immuadmin compares its checksum with the database's Alh at that tx)."""
    sealdb = sealdb_pw
    a, b = db_client(immudb_ref, "defaultdb"), db_client(sealdb, "defaultdb")
    for i in range(5):
        write_mixed(a, "x", i)
        write_mixed(b, "y", i)
    pa, pb = str(tmp_path / "a.backup"), str(tmp_path / "b.backup")
    _ok(immuadmin(immudb_ref, "hot-backup", "defaultdb", "-o", pa), "backup a")
    _ok(immuadmin(sealdb, "hot-backup", "defaultdb", "-o", pb), "backup b")
    for srv in (immudb_ref, sealdb):
        _ok(immuadmin(srv, "hot-restore", "r", "-i", pa), "restore a into %s" % type(srv).__name__)
        r = immuadmin(srv, "hot-restore", "r", "-i", pb, "--append", "--force-replica")
        assert r.returncode != 0, "a diverging file was appended into %s: %s" % (type(srv).__name__, r.stdout)
        assert "differ" in r.stderr, r.stderr
        assert os.path.getsize(pb) > 0


def test_reference_harness_immudb_to_immudb(immudb_factory, tmp_path):
    """The harness itself, immudb on both sides: the backup/restore round trip compares equal, and the
    comparison does catch a database that differs (so the sealdb tests above can fail)."""
    a, b = immudb_factory(), immudb_factory()
    src = db_client(a, "defaultdb")
    _fill(src, "ref", 10)
    path = str(tmp_path / "ref.backup")
    _ok(immuadmin(a, "hot-backup", "defaultdb", "-o", path), "hot-backup")
    _backup_matches_source(path, src)
    _ok(immuadmin(b, "hot-restore", "restored", "-i", path), "hot-restore")
    assert_same_and_verified((a, "defaultdb"), (b, "restored"), "immudb -> immudb")
    db_client(b, "restored").set(b"extra", b"x")
    src.set(b"extra", b"y")
    try:
        assert_same_and_verified((a, "defaultdb"), (b, "restored"), "diverged")
    except AssertionError as e:
        assert "differ" in str(e)
    else:
        raise AssertionError("the comparison did not notice two different histories")


def test_seal_backup_is_immuadmins_file_and_restores_into_immudb(sealdb_pw, immudb_ref, tmp_path):
    """`seal backup` writes the very bytes immuadmin hot-backup writes (from sealdb and from immudb);
    immuadmin restores seal's file into immudb, and `seal restore` takes immudb's file into sealdb."""
    sealdb = sealdb_pw
    for srv, tag in ((sealdb, "s"), (immudb_ref, "i")):
        _fill(db_client(srv, "defaultdb"), tag, 14)
        ours, theirs = str(tmp_path / ("%s.seal" % tag)), str(tmp_path / ("%s.immuadmin" % tag))
        _ok(seal(srv, "backup", "defaultdb", "-o", ours), "seal backup from %s" % type(srv).__name__)
        _ok(immuadmin(srv, "hot-backup", "defaultdb", "-o", theirs), "hot-backup from %s" % type(srv).__name__)
        assert open(ours, "rb").read() == open(theirs, "rb").read(), "seal backup differs from immuadmin's"

    _ok(immuadmin(immudb_ref, "hot-restore", "fromseal", "-i", str(tmp_path / "s.seal")),
        "immuadmin restores seal's file")
    assert_same_and_verified((sealdb, "defaultdb"), (immudb_ref, "fromseal"), "seal backup -> immudb")

    _ok(seal(sealdb, "restore", "fromimmudb", "-f", str(tmp_path / "i.immuadmin")), "seal restore of immudb's file")
    assert_same_and_verified((immudb_ref, "defaultdb"), (sealdb, "fromimmudb"), "immudb backup -> seal restore")

    # incremental on both tools: new txs appended by seal, restored by immuadmin with --append
    for i in range(14, 20):
        write_mixed(db_client(sealdb, "defaultdb"), "s", i)
    _ok(seal(sealdb, "backup", "defaultdb", "-o", str(tmp_path / "s.seal"), "--append"), "seal backup --append")
    _ok(immuadmin(sealdb, "hot-backup", "defaultdb", "-o", str(tmp_path / "s.immuadmin"), "--append"),
        "hot-backup --append")
    assert open(str(tmp_path / "s.seal"), "rb").read() == open(str(tmp_path / "s.immuadmin"), "rb").read()
    _ok(immuadmin(immudb_ref, "hot-restore", "fromseal", "-i", str(tmp_path / "s.seal"), "--append",
                  "--force-replica"), "immuadmin restores seal's appended file")
    assert_same_and_verified((sealdb, "defaultdb"), (immudb_ref, "fromseal"), "seal backup --append -> immudb")
    assert_clean_stop(sealdb)
