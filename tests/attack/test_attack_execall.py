# test_attack_execall.py - oversized ExecAll / streamExecAll requests: the entry limit (1024 per tx) is
# checked before any per-op work, duplicates are found in linear time, and a stream is refused at the
# first op past the limit, so neither a 200k-op request nor a 1M-op stream can hold a worker or
# memory while an authorized client keeps being served.
import struct
import threading
import time

import grpc
import pytest

from attack_util import Probe, bound, login_token, raw_call, SERVICE
from limits_util import PeakRss, exec_all_body, field, kv_op, rss_anon_kb, sanitized

TOO_MANY = "max number of entries per tx exceeded"


def test_execall_200k_ops_twice_at_once_refused_quickly(sealdb):
    auth = [("authorization", login_token(sealdb.address))]
    body = exec_all_body(200_000)          # ~2.6 MB: far below the 32 MiB message limit
    results = []

    def attack():
        t0 = time.monotonic()
        code, details, _ = raw_call(sealdb.address, "ExecAll", body, auth, timeout=60)
        results.append((code, details, time.monotonic() - t0))

    with Probe(sealdb) as probe:
        ts = [threading.Thread(target=attack) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(90)
        h_code, _, _ = raw_call(sealdb.address, "Health", b"", timeout=5)
    assert len(results) == 2
    for code, details, took in results:
        # 200k ops (~800k decoded items) pass the request item cap: refused before they are decoded
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
        assert details == "request has too many items (more than 160000)"
        assert took < bound(3.0), "a 200k-op ExecAll took %.2f s to be refused" % took
    assert h_code == grpc.StatusCode.OK
    probe.check(2.0)


def test_execall_5000_ops_get_immudbs_entry_limit_error(sealdb):
    """Under the item cap the request is decoded and the entry limit answers, before per-op work."""
    auth = [("authorization", login_token(sealdb.address))]
    body = exec_all_body(5000) + kv_op(b"k17", b"dup")      # the duplicate is never looked for
    t0 = time.monotonic()
    code, details, _ = raw_call(sealdb.address, "ExecAll", body, auth)
    assert (code, details) == (grpc.StatusCode.UNKNOWN, TOO_MANY)
    assert time.monotonic() - t0 < bound(2.0)


def test_tiny_items_cannot_amplify_memory(sealdb):
    """16 MB of empty ops / keys / chunk metadata entries: 8M structs for protobuf-c to allocate
    (+700 MB for ExecAll before the cap); refused from the wire bytes instead."""
    auth = [("authorization", login_token(sealdb.address))]
    pid = sealdb.proc.pid
    before_kb = rss_anon_kb(pid)
    with PeakRss(pid) as rss:
        for method in ("ExecAll", "GetAll", "Delete", "Set"):
            code, details, _ = raw_call(sealdb.address, method, b"\x0a\x00" * 8_000_000, auth, timeout=60)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (method, code, details)
            assert details.startswith("request has too many items"), details
        # the same inside a stream: a Chunk whose metadata map holds 4M empty entries
        with grpc.insecure_channel(sealdb.address) as ch:
            fn = ch.stream_unary(SERVICE + "streamSet", request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as ei:
                fn(iter([field(2, b"") * 4_000_000]), metadata=auth, timeout=60)
            assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, ei.value
    # nothing is decoded for a caller without credentials
    code, details, _ = raw_call(sealdb.address, "ExecAll", b"\x0a\x00" * 8_000_000, (), timeout=60)
    assert (code, details) == (grpc.StatusCode.UNKNOWN, "not logged in")
    if not sanitized():
        grew_mb = (rss.peak_kb - before_kb) / 1024
        assert grew_mb < 160, "server RssAnon grew by %.0f MB" % grew_mb
    assert sealdb.proc.poll() is None


def test_execall_entry_limit_boundary(sealdb):
    auth = [("authorization", login_token(sealdb.address))]
    code, details, _ = raw_call(sealdb.address, "ExecAll", exec_all_body(1024, b"ok"), auth)
    assert code == grpc.StatusCode.OK, details
    code, details, _ = raw_call(sealdb.address, "ExecAll", exec_all_body(1025, b"no"), auth)
    assert (code, details) == (grpc.StatusCode.UNKNOWN, TOO_MANY)
    # nothing of the refused request was written
    c = sealdb.client()
    assert c.get(b"no0") is None and c.get(b"ok1023").value == b"v"


def test_execall_duplicates_found_among_1024_ops(sealdb):
    """The duplicate check is a hash lookup now: the same messages as the pairwise compare gave."""
    auth = [("authorization", login_token(sealdb.address))]
    body = exec_all_body(1023, b"d") + kv_op(b"d17", b"again")
    code, details, _ = raw_call(sealdb.address, "ExecAll", body, auth)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == ("rpc error: code = InvalidArgument desc = duplicated keys are not supported in single "
                       "batch transaction: key/reference 'd17'")
    # two zAdds of the same (set, key, atTx) among many ops
    z = field(1, field(2, field(1, b"zs") + field(3, b"d1")))   # Op{zAdd #2 ZAddRequest{set #1, key #3}}
    code, details, _ = raw_call(sealdb.address, "ExecAll", exec_all_body(500, b"e") + z + z, auth)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "duplicated index inside zAdd insertions are not supported in single batch transaction"
    # a reference repeating an earlier reference exactly, then one reusing a kv's key
    ref = field(1, field(3, field(1, b"r1") + field(2, b"e1")))  # Op{ref #3 ReferenceRequest{key, referencedKey}}
    code, details, _ = raw_call(sealdb.address, "ExecAll", exec_all_body(10, b"e") + ref + ref, auth)
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT,
                               "duplicated references insertions are not supported in single batch transaction")
    ref_on_kv = field(1, field(3, field(1, b"e3") + field(2, b"e1")))
    code, details, _ = raw_call(sealdb.address, "ExecAll", exec_all_body(10, b"e") + ref_on_kv, auth)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.endswith("key/reference 'e3'"), details


def _stream_chunks(n_ops, sent):
    """streamExecAll chunks of ~64 KiB holding n_ops KV ops ([8-byte length][bytes] messages)."""
    one = struct.pack(">Q", 1) + b"\x01"
    buf = bytearray()
    for i in range(n_ops):
        k = b"s%d" % i
        buf += one + struct.pack(">Q", len(k)) + k + struct.pack(">Q", 1) + b"v"
        if len(buf) >= 65000:
            sent[0] += 1
            yield field(1, bytes(buf))
            buf = bytearray()
    if buf:
        sent[0] += 1
        yield field(1, bytes(buf))


def test_stream_execall_1m_ops_refused_at_the_limit(sealdb):
    token = login_token(sealdb.address)
    pid = sealdb.proc.pid
    before_kb = rss_anon_kb(pid)
    sent = [0]
    with Probe(sealdb) as probe, PeakRss(pid) as rss:
        with grpc.insecure_channel(sealdb.address) as ch:
            fn = ch.stream_unary(SERVICE + "streamExecAll", request_serializer=None, response_deserializer=None)
            t0 = time.monotonic()
            with pytest.raises(grpc.RpcError) as ei:
                fn(_stream_chunks(1_000_000, sent), metadata=[("authorization", token)], timeout=120)
            took = time.monotonic() - t0
    assert ei.value.code() == grpc.StatusCode.UNKNOWN and ei.value.details() == TOO_MANY, ei.value
    assert took < bound(5.0), "a 1M-op stream took %.2f s to be refused" % took
    # the stream is ~20 MB in ~330 chunks; the server stops reading it after the 1025th op (chunk 1)
    assert sent[0] < 200, "the client sent %d chunks before the refusal" % sent[0]
    probe.check(2.0)
    if not sanitized():
        grew_mb = (rss.peak_kb - before_kb) / 1024
        assert grew_mb < 64, "server RssAnon grew by %.0f MB" % grew_mb


def _set_chunks(n_pairs, sent):
    buf = bytearray()
    for i in range(n_pairs):
        k = b"p%d" % i
        buf += struct.pack(">Q", len(k)) + k + struct.pack(">Q", 1) + b"v"
        if len(buf) >= 65000:
            sent[0] += 1
            yield field(1, bytes(buf))
            buf = bytearray()
    if buf:
        sent[0] += 1
        yield field(1, bytes(buf))


def test_stream_set_1m_pairs_refused_at_the_limit(sealdb):
    """streamSet counts entries as they arrive too (a guard: it already did)."""
    token = login_token(sealdb.address)
    sent = [0]
    with grpc.insecure_channel(sealdb.address) as ch:
        fn = ch.stream_unary(SERVICE + "streamSet", request_serializer=None, response_deserializer=None)
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as ei:
            fn(_set_chunks(1_000_000, sent), metadata=[("authorization", token)], timeout=120)
        took = time.monotonic() - t0
    assert ei.value.code() == grpc.StatusCode.UNKNOWN
    assert ei.value.details() == "StreamSet receives following error: " + TOO_MANY
    assert took < bound(5.0) and sent[0] < 200, (took, sent[0])
