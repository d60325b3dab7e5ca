# test_kv_crash.py - kill -9 of sealdb during concurrent writes from immudb-py clients: after a
# restart every acknowledged write is there, and the history verifies from a fresh client state.
import threading
import time

from kv_server import SealServer, has_key_index, require_kv


def test_kill9_during_concurrent_writes(tmp_path):
    srv = SealServer(str(tmp_path / "data")).start()
    try:
        require_kv(srv)
    except BaseException:
        srv.stop()
        raise
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    clients = [srv.client() for _ in range(4)]   # log in first: bcrypt logins are slow

    def writer(n):
        c = clients[n]
        i = 0
        while not stop.is_set():
            k = b"c%d:%06d" % (n, i)
            v = b"value-%d-%d" % (n, i)
            try:
                r = c.set(k, v) if i % 3 else c.verifiedSet(k, v)
            except Exception:
                break   # server died: this write was not acknowledged
            with lock:
                acked[k] = (v, r.id)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        with lock:
            if len(acked) >= 200:
                break
        time.sleep(0.01)
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acked) > 20, "too few writes acknowledged before the kill"

    srv.start()
    try:
        c = srv.client()
        # every acknowledged tx is there with its key (raw TxById needs no key index)
        for k, (v, tx) in acked.items():
            assert c.txById(tx) == [k], (k, tx)
        # and verifies against the state after the restart
        sample = sorted(acked.items(), key=lambda kv: kv[1][1])
        for k, (v, tx) in sample[:: max(1, len(sample) // 20)]:
            assert c.verifiedTxById(tx) == [k]
        if has_key_index(srv):
            got = c.getAll(list(acked.keys())[:1000])
            for k, (v, tx) in acked.items():
                if k in got:
                    assert got[k] == v
                else:
                    g = c.get(k)
                    assert g is not None and g.value == v and g.tx == tx, k
            for k, (v, tx) in sample[:: max(1, len(sample) // 20)]:
                g = c.verifiedGet(k)
                assert g.verified and g.value == v and g.id == tx
        # and the database still accepts verified writes afterwards
        assert c.verifiedSet(b"after", b"crash").verified
        c.shutdown()
    finally:
        srv.stop()
