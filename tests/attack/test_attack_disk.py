# test_attack_disk.py - disk events against the real server on a small filesystem the test mounts
# itself (tmpfs, 200 MiB): filling it with 256 KB values through immudb-py until writes fail, a
# journal directory made immutable (EPERM on every new segment), and Unload/Load of a database that
# failed. The server must stay alive, name the cause to the client and in its log, keep serving
# reads, lose nothing acknowledged, and take writes again once space (or permission) is back,
# without a restart. Needs root (CI runs as root): as root a mount that fails is a test failure.
import os
import subprocess
import tempfile

import pytest

from sealdb_proc import SealdbServer

VALUE = 256 * 1024
FILLER = 12 * 1024 * 1024
ROUNDS = 4


@pytest.fixture
def small_fs():
    """A 200 MiB tmpfs mounted for this test (and a log directory outside it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a test filesystem needs root")
    mnt = tempfile.mkdtemp(prefix="sealdb-diskfs-")
    logdir = tempfile.mkdtemp(prefix="sealdb-disklog-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("cannot mount a tmpfs as root: " + r.stderr)
    yield mnt, logdir
    subprocess.run(["chattr", "-R", "-i", mnt], capture_output=True)
    subprocess.run(["umount", "-l", mnt], capture_output=True)
    subprocess.run(["rm", "-rf", mnt, logdir])


def server_on(mnt, logdir):
    s = SealdbServer(logdir)
    s.dir = os.path.join(mnt, "data")   # data on the small filesystem, the log outside it
    return s.start()


def fillers(mnt, n):
    """n files of FILLER bytes, really allocated: deleting one gives that much space back."""
    paths = []
    for i in range(n):
        p = os.path.join(mnt, "filler%d" % i)
        with open(p, "wb") as f:
            f.write(b"\xa5" * FILLER)
        paths.append(p)
    return paths


def value_of(i):
    return (b"%08d" % i) * (VALUE // 8)


def fill(c, acked, start, limit=2000):
    """Writes 256 KB values until three in a row fail (near the end a failed write can free what it
    had taken, so the next may pass); returns the failures' texts (lowercase)."""
    errs = []
    for i in range(start, start + limit):
        key = b"big-%d" % i
        try:
            c.set(key, value_of(i))
        except Exception as e:   # grpc.RpcError from immudb-py
            errs.append(str(e).lower())
            if len(errs) == 3:
                return errs
            continue
        errs = []
        acked[key] = i
    raise AssertionError("the filesystem never filled up")


def check_reads(c, acked, keys=None):
    for key in (keys if keys is not None else list(acked)):
        assert c.get(key).value == value_of(acked[key]), key


def test_full_disk_fails_writes_with_cause_and_recovers_without_restart(small_fs):
    mnt, logdir = small_fs
    free = fillers(mnt, ROUNDS)
    s = server_on(mnt, logdir)
    try:
        c = s.client()
        acked = {}
        nxt = 0
        for rnd in range(ROUNDS):
            errs = fill(c, acked, nxt)
            nxt = max(acked.values()) + 4
            assert s.proc.poll() is None, "server died on a full disk:\n" + s.log()[-3000:]
            for err in errs:
                assert "no space left on device" in err, err
            # reads keep working while the disk is full
            keys = list(acked)
            check_reads(c, acked, keys[:3] + keys[-5:])
            assert s.proc.poll() is None
            # space back: the next write succeeds on the same server process
            os.unlink(free.pop())
            c.set(b"after-%d" % rnd, b"small")
            assert c.get(b"after-%d" % rnd).value == b"small"
            # the state is consistent: a verified write and read prove against the client's state
            c.verifiedSet(b"verified-%d" % rnd, b"v%d" % rnd)
            assert c.verifiedGet(b"verified-%d" % rnd).value == b"v%d" % rnd
        check_reads(c, acked)
        log = s.log()
        assert "No space left on device" in log
        assert "recovered" in log
        c.shutdown()
        assert s.stop() == 0
        # and everything acknowledged is still there after a restart
        s.start()
        c = s.client()
        check_reads(c, acked)
        c.verifiedSet(b"after-restart", b"ok")
        c.shutdown()
    finally:
        s.stop()


def test_journal_dir_without_permission_fails_writes_and_recovers(small_fs):
    mnt, logdir = small_fs
    s = server_on(mnt, logdir)
    jdir = os.path.join(s.dir, "defaultdb", "journal")
    try:
        c = s.client()
        acked = {}
        for i in range(5):
            c.set(b"big-%d" % i, value_of(i))
            acked[b"big-%d" % i] = i
        # no new file can be made in the journal directory: the next segment fails (EPERM)
        assert subprocess.run(["chattr", "+i", jdir]).returncode == 0
        errs = fill(c, acked, 5, limit=1000)
        assert s.proc.poll() is None
        for err in errs:
            assert "permission denied" in err, err
        check_reads(c, acked)
        assert "Operation not permitted" in s.log()
        assert subprocess.run(["chattr", "-i", jdir]).returncode == 0
        c.set(b"after", b"ok")
        c.verifiedSet(b"after-verified", b"ok")
        assert c.verifiedGet(b"after-verified").value == b"ok"
        check_reads(c, acked)
        c.shutdown()
    finally:
        subprocess.run(["chattr", "-i", jdir], capture_output=True)
        s.stop()


def test_unload_load_of_a_failed_database(small_fs):
    mnt, logdir = small_fs
    free = fillers(mnt, 1)
    s = server_on(mnt, logdir)
    try:
        c = s.client()
        c.createDatabase(b"filled")
        c.useDatabase(b"filled")
        acked = {}
        errs = fill(c, acked, 0)
        assert "no space left on device" in errs[0], errs
        c.useDatabase(b"defaultdb")
        c.unloadDatabase("filled")
        os.unlink(free.pop())
        c.loadDatabase("filled")
        c.useDatabase(b"filled")
        check_reads(c, acked)
        c.set(b"after-load", b"ok")
        assert c.get(b"after-load").value == b"ok"
        c.shutdown()
    finally:
        s.stop()
