# test_attack_rapid_reset.py - HTTP/2 rapid reset: HEADERS then RST_STREAM, as fast as the attacker can,
# on a few connections. Every stream costs the server a call set-up and tear-down; the authorized client
# must still be served within a bound, and the server must be healthy afterwards.
import threading
import time

from attack_util import Probe, bound
from h2_attack import RawH2


def test_rapid_reset_flood(sealdb):
    stop = threading.Event()
    sent = [0]

    def attack():
        atk = None
        while not stop.is_set():
            try:
                if atk is None or atk.closed:
                    atk = RawH2(sealdb.address)
                for _ in range(100):
                    sid = atk.open_stream("Get")
                    atk.reset(sid)
                    sent[0] += 1
                atk.flush()
                atk.pump(0.001)
            except Exception:   # noqa: BLE001 - the server may close an abusive connection
                atk = None
                time.sleep(0.01)

    with Probe(sealdb) as probe:
        threads = [threading.Thread(target=attack, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(4)
        stop.set()
        for t in threads:
            t.join(30)
    assert sent[0] > 1000
    probe.check(2.0)
    assert sealdb.proc.poll() is None
    c = sealdb.client()
    assert c.get(b"probe").value == b"v"
