# test_interop_export_bytes.py - the same writes on sealdb and on the real immudb 1.9.5 give
# byte-identical exportTx streams for every tx (header, entries with their stored prefixes, KV
# metadata, trailer, chunking). A tx's header holds its commit second, so each write goes to both
# servers back to back and a run whose commit seconds differ somewhere is repeated on new databases.
import pytest

from immudb_ref import immudb_factory, immudb_ref, sealdb_pw, sealdb_pw_factory  # noqa: F401 (fixtures)
from immudb.grpc import schema_pb2
from interop_util import create_db, db_client, export_stream, state, write_mixed

NWRITES = 21  # three rounds of the 7 kinds of write_mixed


def _ts(c, n):
    return c._stub.TxById(schema_pb2.TxRequest(tx=n)).header.ts


def _lockstep(a, b, db):
    ca, cb = db_client(a, db), db_client(b, db)
    for i in range(NWRITES):
        write_mixed(ca, "e", i)
        write_mixed(cb, "e", i)
    for c in (ca, cb):
        c.set(b"e-large", bytes(range(256)) * 274)  # 70 144-byte value: a two-chunk export
    return ca, cb


@pytest.mark.parametrize("other", ["sealdb", "immudb"])
def test_same_writes_give_identical_export_streams(other, immudb_ref, sealdb_pw_factory, immudb_factory):
    """other = "immudb" runs the method on two immudb servers: it proves that equal writes in the same
    second do give equal bytes, so a sealdb difference is a real one."""
    b = sealdb_pw_factory() if other == "sealdb" else immudb_factory()
    adm_a, adm_b = db_client(immudb_ref, "defaultdb"), db_client(b, "defaultdb")
    for attempt in range(4):
        db = "cmp%d" % attempt
        create_db(adm_a, db)
        create_db(adm_b, db)
        ca, cb = _lockstep(immudb_ref, b, db)
        na = state(ca)[0]
        assert state(cb)[0] == na
        if all(_ts(ca, t) == _ts(cb, t) for t in range(1, na + 1)):
            break
    else:
        pytest.fail("commit seconds differed in 4 runs: the machine is too slow for this test")
    for t in range(1, na + 1):
        sa, sb = export_stream(ca, t), export_stream(cb, t)
        assert sa == sb, "tx %d: export streams differ (%d vs %d bytes)\nimmudb %s\n%s %s" % (
            t, len(sa), len(sb), sa[:400].hex(), other, sb[:400].hex())
        # and the chunking: the same chunk sizes
        assert [len(ch.content) for ch in ca.exportTx(t)] == [len(ch.content) for ch in cb.exportTx(t)]
    assert state(ca) == state(cb)
