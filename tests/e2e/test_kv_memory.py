# test_kv_memory.py - regression guard for the server's own (anonymous) memory under load:
# thousands of SetAll and VerifiableGet calls with many in flight must keep RssAnon under a generous
# bound (file-backed pages of the mapped data files are page cache and not counted), and the heap
# the burst freed is handed back once the server is idle. Sizes, not timings, are asserted.
import os
import threading
import time

import pytest
from immudb.grpc import schema_pb2

from sealdb_proc import SEALDB_BIN

N_SETALL = 300          # SetAll calls of 1000 KVs (~100 KB each): 300,000 entries
N_VGET = 3000           # VerifiableGet calls over the written keys
IN_FLIGHT = 32
PEAK_ANON_MB = 192      # 47 MB measured (2 cores); bench_server with 64 in flight: ~70 MB + engine caches
IDLE_ANON_MB = 128      # 40 MB measured after the burst, mostly the engine's and the database's caches
GROWTH_MB = 24          # a second round of the same reads: 0-2 MB measured


def rss_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_anon, self.stop_flag = pid, 0, False

    def run(self):
        while not self.stop_flag:
            self.peak_anon = max(self.peak_anon, rss_kb(self.pid)["RssAnon"])
            time.sleep(0.02)


def key(i):
    return b"mem:%08d" % i


def drive(fn, n, in_flight):
    """Runs fn(i) for i in 0..n-1 as gRPC futures, in_flight at a time; returns the failures."""
    failures = []
    sem = threading.Semaphore(in_flight)
    done = threading.Event()
    left = [n]
    mu = threading.Lock()

    def finished(fut):
        if fut.exception() is not None:
            failures.append(fut.exception())
        sem.release()
        with mu:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    for i in range(n):
        sem.acquire()
        fn(i).add_done_callback(finished)
    assert done.wait(600)
    return failures


def wait_idle_anon(pid, peak):
    """RssAnon once the janitor had time to trim the heap after a burst (it checks every second)."""
    deadline = time.time() + 8
    idle = rss_kb(pid)["RssAnon"]
    while idle >= IDLE_ANON_MB * 1024 and time.time() < deadline:
        time.sleep(0.5)
        idle = rss_kb(pid)["RssAnon"]
    time.sleep(2.5)
    return min(idle, rss_kb(pid)["RssAnon"])


def sanitized_build():
    """AddressSanitizer's shadow memory and quarantine make RssAnon meaningless as a measure."""
    try:
        with open(SEALDB_BIN, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(sanitized_build(), reason="sanitizer build: its allocator decides the footprint")
def test_anon_memory_bounded_under_load(sealdb):
    c = sealdb.client()
    pid = sealdb.proc.pid
    base = rss_kb(pid)["RssAnon"]
    value = os.urandom(64)
    reqs = [schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=key(b * 1000 + j), value=value)
                                       for j in range(1000)]) for b in range(N_SETALL)]
    sampler = Sampler(pid)
    sampler.start()

    def vgets(last):
        return drive(lambda i: c.stub.VerifiableGet.future(schema_pb2.VerifiableGetRequest(
            keyRequest=schema_pb2.KeyRequest(key=key((i * 7919) % (N_SETALL * 1000)), sinceTx=last),
            proveSinceTx=last)), N_VGET, IN_FLIGHT)
    try:
        bad = drive(lambda i: c.stub.Set.future(reqs[i]), N_SETALL, IN_FLIGHT)
        assert not bad, bad[:3]
        last = c.stub.CurrentState(schema_pb2.google_dot_protobuf_dot_empty__pb2.Empty()).txId
        assert last >= N_SETALL
        bad = vgets(last)
        assert not bad, bad[:3]
    finally:
        sampler.stop_flag = True
        sampler.join()
    peak = sampler.peak_anon
    assert peak < PEAK_ANON_MB * 1024, "peak RssAnon %d KB (idle %d KB)" % (peak, base)
    idle1 = wait_idle_anon(pid, peak)
    assert idle1 < IDLE_ANON_MB * 1024, "RssAnon %d KB after idle (peak %d KB)" % (idle1, peak)
    # the same reads again hit the same txs (and caches): what a call keeps after it ends would add up
    # (3000 VerifiableGet answers of ~75 KB each: >200 MB)
    bad = vgets(last)
    assert not bad, bad[:3]
    idle2 = wait_idle_anon(pid, peak)
    print("RssAnon: start %d KB, peak %d KB, idle after load %d KB, after more reads %d KB"
          % (base, peak, idle1, idle2))
    assert idle2 < idle1 + GROWTH_MB * 1024, "RssAnon grew from %d KB to %d KB" % (idle1, idle2)
    c.shutdown()
