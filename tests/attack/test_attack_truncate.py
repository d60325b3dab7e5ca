# test_attack_truncate.py - files the server reads through its own shared mappings (journal
# segments, txindex, htree, ahtree, the key index's run files) truncated by someone while it runs: a
# read of a mapped page past the new end of file is a SIGBUS, which must not kill the server. Reads may fail
# (the bytes are gone) but the server keeps answering, and after a restart the derived files are
# rebuilt from the journal and every value reads back and verifies.
import os

import pytest

from attack_util import bound

KEYS = 40


def load(c):
    """Single- and multi-entry txs (the latter have htree blocks), touched once through the maps."""
    for i in range(KEYS):
        c.set(b"k%d" % i, b"v%d" % i)
    c.setAll({b"m%d" % i: b"w%d" % i for i in range(8)})
    for i in range(0, KEYS, 7):
        assert c.verifiedGet(b"k%d" % i).value == b"v%d" % i
    assert c.verifiedGet(b"m3").value == b"w3"


def hammer(c):
    """Every read kind over every key; failures are allowed, a dead server is not."""
    failed = 0
    for i in range(KEYS):
        for call in (lambda: c.get(b"k%d" % i), lambda: c.verifiedGet(b"k%d" % i),
                     lambda: c.verifiedTxById(i + 1)):
            try:
                call()
            except Exception:
                failed += 1
    for i in range(8):
        try:
            c.verifiedGet(b"m%d" % i)
        except Exception:
            failed += 1
    return failed


def check_all(c):
    for i in range(KEYS):
        assert c.verifiedGet(b"k%d" % i).value == b"v%d" % i
    for i in range(8):
        assert c.verifiedGet(b"m%d" % i).value == b"w%d" % i


@pytest.mark.parametrize("victim", ["txindex", "htree", "ahtree"])
def test_truncated_derived_file_does_not_kill_the_server(sealdb, victim):
    c = sealdb.client()
    load(c)
    path = os.path.join(sealdb.dir, "defaultdb", victim)
    os.truncate(path, 0)
    hammer(c)
    assert sealdb.proc.poll() is None, "server died:\n" + sealdb.log()[-3000:]
    # writes after the truncation do not kill it either
    for i in range(5):
        try:
            c.set(b"after-%d" % i, b"x")
        except Exception:
            pass
    hammer(c)
    assert sealdb.proc.poll() is None, "server died:\n" + sealdb.log()[-3000:]
    c.shutdown()
    # derived: a restart rebuilds it from the journal and everything verifies again
    sealdb.stop(timeout=bound(15))
    sealdb.start()
    c = sealdb.client()
    check_all(c)
    c.shutdown()


def test_truncated_journal_segment_does_not_kill_the_server(sealdb):
    c = sealdb.client()
    load(c)
    jdir = os.path.join(sealdb.dir, "defaultdb", "journal")
    for name in os.listdir(jdir):
        if name.endswith(".seg"):
            os.truncate(os.path.join(jdir, name), 0)
    failed = hammer(c)
    assert failed > 0   # the values are gone: reads fail, they do not answer wrong data
    assert sealdb.proc.poll() is None, "server died:\n" + sealdb.log()[-3000:]
    c.shutdown()


def test_truncated_index_run_does_not_kill_the_server(sealdb):
    c = sealdb.client()
    load(c)
    c.shutdown()
    sealdb.restart()   # closing writes the key index's memtable as a run file
    ixdir = os.path.join(sealdb.dir, "defaultdb", "index")
    runs = [n for n in os.listdir(ixdir) if n.startswith("run-")]
    assert runs, os.listdir(ixdir)
    c = sealdb.client()
    for name in runs:
        os.truncate(os.path.join(ixdir, name), 0)
    hammer(c)   # gets may fail (CORRUPT from zeroed blocks), never a wrong answer or a dead server
    assert sealdb.proc.poll() is None, "server died:\n" + sealdb.log()[-3000:]
    c.shutdown()
    # derived: the restart finds the damaged run and rebuilds the index from the journal
    sealdb.stop(timeout=bound(15))
    sealdb.start()
    c = sealdb.client()
    check_all(c)
    c.shutdown()
