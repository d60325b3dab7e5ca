# test_attack_metrics.py - the unauthenticated observability surface: /metrics listens on --address only
# (as immudb's metrics server does), and a flood of ServerInfo and /metrics, which need no credentials,
# does not stall authorized calls by walking database directories under the server-wide mutex.
import os
import socket
import statistics
import threading
import time
import urllib.request

import grpc
import pytest
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc

from attack_util import bound


def test_metrics_listens_on_address_only(sealdb):
    # the fixture serves on -a 127.0.0.1: 127.0.0.2 (also loopback) must not reach the metrics port
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % sealdb.metrics_port, timeout=10).read()
    assert b"immudb_number_of_stored_entries" in body
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", sealdb.metrics_port), timeout=5).close()
    assert "metrics on http://127.0.0.1:%d/metrics" % sealdb.metrics_port in sealdb.log()


def test_serverinfo_and_metrics_flood_does_not_stall_gets(sealdb, client):
    # a database directory that is slow to walk: many small files
    junk = os.path.join(sealdb.dir, "defaultdb", "junk")
    os.makedirs(junk)
    for i in range(20000):
        with open(os.path.join(junk, "f%05d" % i), "wb") as f:
            f.write(b"x")
    client.set(b"k", b"v")
    stop = threading.Event()
    infos = []

    def flood_info():
        stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(sealdb.address))
        while not stop.is_set():
            infos.append(stub.ServerInfo(schema_pb2.ServerInfoRequest(), timeout=30))

    def flood_metrics():
        while not stop.is_set():
            urllib.request.urlopen("http://127.0.0.1:%d/metrics" % sealdb.metrics_port, timeout=30).read()

    threads = [threading.Thread(target=f, daemon=True) for f in (flood_info, flood_info, flood_info, flood_metrics)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    lat = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        assert client.get(b"k").value == b"v"
        lat.append(time.monotonic() - t0)
    stop.set()
    for t in threads:
        t.join(30)
    assert infos and infos[-1].numDatabases == 1
    # the junk files are counted (from the cache, refreshed at most every few seconds)
    assert infos[-1].databasesDiskSize >= 20000
    assert statistics.median(lat) < bound(0.01), "Get p50 %.1f ms during the flood" % (statistics.median(lat) * 1e3)
    assert sealdb.proc.poll() is None
