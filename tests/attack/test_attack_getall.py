# test_attack_getall.py - read amplification: a small request naming one large value many times (GetAll
# with a repeated key), or scans/history/txscan/zscan over large values, used to build answers of
# gigabytes. Keys per GetAll are capped like every list-taking read (2500), and every answer's size is
# checked against the max answer size (32 MiB) before the memory is used.
import grpc
import pytest
from immudb.grpc import schema_pb2

from attack_util import Probe, login_token, raw_call
from limits_util import PeakRss, rss_anon_kb, sanitized

MIB = 1 << 20
TOO_BIG = "result size limit exceeded: the answer would be larger than the maximum allowed size (33554432 bytes)"


@pytest.fixture
def big(sealdb):
    """40 keys of 1 MiB each (one tx each), plus 'big' itself; returns the authorization metadata."""
    c = sealdb.client()
    c.set(b"big", b"x" * MIB)
    for i in range(40):
        c.set(b"blob:%02d" % i, bytes([i]) * MIB)
    c.shutdown()
    return [("authorization", login_token(sealdb.address))]


def call(sealdb, method, req, auth):
    return raw_call(sealdb.address, method, req.SerializeToString(), auth, timeout=60)


def test_getall_repeated_big_key_refused_without_the_memory(sealdb, big):
    pid = sealdb.proc.pid
    before_kb = rss_anon_kb(pid)
    req = schema_pb2.KeyListRequest(keys=[b"big"] * 1000)     # ~5 KB asking for 1000 x 1 MiB
    assert len(req.SerializeToString()) < 8192
    with Probe(sealdb) as probe, PeakRss(pid) as rss:
        for _ in range(3):
            code, details, _ = call(sealdb, "GetAll", req, big)
            assert (code, details) == (grpc.StatusCode.RESOURCE_EXHAUSTED, TOO_BIG)
    probe.check(2.0)
    if not sanitized():
        grew_mb = (rss.peak_kb - before_kb) / 1024
        assert grew_mb < 160, "server RssAnon grew by %.0f MB for a refused GetAll" % grew_mb
    # under the cap the same key may repeat: 3 x 1 MiB is answered (immudb-compatible duplicates)
    code, details, resp = call(sealdb, "GetAll", schema_pb2.KeyListRequest(keys=[b"big"] * 3), big)
    assert code == grpc.StatusCode.OK, details
    assert [e.value for e in schema_pb2.Entries.FromString(resp).entries] == [b"x" * MIB] * 3


def test_getall_key_count_limit(sealdb):
    auth = [("authorization", login_token(sealdb.address))]
    code, details, _ = call(sealdb, "GetAll", schema_pb2.KeyListRequest(keys=[b"k%d" % i for i in range(2500)]), auth)
    assert code == grpc.StatusCode.OK, details
    code, details, _ = call(sealdb, "GetAll", schema_pb2.KeyListRequest(keys=[b"k%d" % i for i in range(2501)]), auth)
    assert code == grpc.StatusCode.UNKNOWN
    assert details == ("result size limit exceeded: the number of keys (2501) is larger than the maximum "
                       "allowed one (2500)")


def test_scan_history_txscan_zscan_answers_are_bounded(sealdb, big):
    c = sealdb.client()
    for i in range(40):
        c.set(b"hist", bytes([i]) * MIB)                   # 40 versions of 1 MiB
        c.zAdd(b"zbig", float(i), b"blob:%02d" % i)         # 40 members of 1 MiB
    c.shutdown()
    refused = [
        ("Scan", schema_pb2.ScanRequest(prefix=b"blob:")),
        ("History", schema_pb2.HistoryRequest(key=b"hist")),
        ("ZScan", schema_pb2.ZScanRequest(set=b"zbig")),
        ("TxScan", schema_pb2.TxScanRequest(initialTx=1, entriesSpec=schema_pb2.EntriesSpec(
            kvEntriesSpec=schema_pb2.EntryTypeSpec(action=schema_pb2.RAW_VALUE)))),
    ]
    with Probe(sealdb) as probe:
        for method, req in refused:
            code, details, _ = call(sealdb, method, req, big)
            assert (code, details) == (grpc.StatusCode.RESOURCE_EXHAUSTED, TOO_BIG), method
    probe.check(2.0)
    # the same reads with a limit that fits are answered
    code, details, resp = call(sealdb, "Scan", schema_pb2.ScanRequest(prefix=b"blob:", limit=3), big)
    assert code == grpc.StatusCode.OK, details
    assert len(schema_pb2.Entries.FromString(resp).entries) == 3
    code, details, resp = call(sealdb, "History", schema_pb2.HistoryRequest(key=b"hist", limit=3), big)
    assert code == grpc.StatusCode.OK, details
    code, details, resp = call(sealdb, "TxScan", schema_pb2.TxScanRequest(initialTx=1, limit=3), big)
    assert code == grpc.StatusCode.OK, details
    # a streamed scan builds the same answer first: refused the same way
    with grpc.insecure_channel(sealdb.address) as ch:
        fn = ch.unary_stream("/immudb.schema.ImmuService/streamScan", request_serializer=None,
                             response_deserializer=None)
        with pytest.raises(grpc.RpcError) as ei:
            list(fn(schema_pb2.ScanRequest(prefix=b"blob:").SerializeToString(), metadata=big, timeout=60))
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
