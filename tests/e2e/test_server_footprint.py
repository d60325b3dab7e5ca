# test_server_footprint.py - disk taken by small databases, counted as allocated blocks (what du
# reports), not apparent sizes: a new database with one tx stays under 1 MB, and a data directory
# with five one-tx databases (plus systemdb and defaultdb) under 8 MB.
import os


def allocated(path):
    """Bytes allocated to the files under path (st_blocks x 512, each inode once), like du."""
    seen, total = set(), 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            st = os.lstat(os.path.join(root, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def test_one_tx_databases_take_little_disk(sealdb):
    c = sealdb.client()
    for i in range(5):
        name = b"small%d" % i
        c.createDatabase(name)
        c.useDatabase(name)
        c.set(b"key", b"value %d" % i)
        assert c.get(b"key").value == b"value %d" % i
    c.shutdown()
    sealdb.stop()   # closed: what stays on disk between runs
    for i in range(5):
        size = allocated(os.path.join(sealdb.dir, "small%d" % i))
        assert size < 1_000_000, "small%d takes %d bytes" % (i, size)
    total = allocated(sealdb.dir)
    assert total < 8_000_000, "the data directory takes %d bytes" % total
    # and they open again and keep their tx
    sealdb.start()
    c = sealdb.client()
    c.useDatabase(b"small3")
    assert c.get(b"key").value == b"value 3"
    c.shutdown()
