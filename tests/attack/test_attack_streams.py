# test_attack_streams.py - streams held without credentials: 256 HEADERS for streamGet on one connection
# and no request message used to pin every stream thread, so real clients got RESOURCE_EXHAUSTED. A call
# now gets no thread before its request message arrived, calls per connection are capped, and the
# request deadline (--request-timeout) ends such streams.
import time

from immudb.grpc import schema_pb2

from attack_util import Probe, bound, login_token
from h2_attack import RawH2, grpc_frame


def test_held_streams_pin_nothing_and_expire(sealdb_factory):
    srv = sealdb_factory(["--request-timeout", "2s"])
    with Probe(srv) as probe:
        c = probe._client
        c.set(b"big", b"x" * 1000)
        atk = RawH2(srv.address)
        for _ in range(256):
            atk.open_stream("streamGet")
        atk.flush()
        atk.pump(0.5)
        # a real streaming client is served while the attacker holds its streams
        t0 = time.monotonic()
        key, reader = c.streamGet(b"big")
        assert (key, reader.read()) == (b"big", b"x" * 1000)
        assert time.monotonic() - t0 < bound(2.0)
        # the attacker's streams end: refused beyond the per-connection cap at once, the others when
        # the request deadline passes
        deadline = time.monotonic() + bound(8)
        while len(atk.status) < 256 and time.monotonic() < deadline and not atk.closed:
            atk.pump(0.2)
        assert len(atk.status) == 256, "%d of 256 held streams were ended" % len(atk.status)
        codes = set(atk.status.values())
        assert codes <= {"4", "8", "reset"}, codes   # DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, refused
        assert "4" in codes
        # beyond --max-streams-per-connection (128) the calls were refused at once
        assert sum(1 for v in atk.status.values() if v in ("8", "reset")) >= 256 - 128
        atk.close()
    probe.check(2.0)
    assert srv.proc.poll() is None


def test_stream_threads_capped_in_total(sealdb_factory):
    # streams whose request did arrive run on a thread each, up to --max-stream-threads: a stream
    # beyond is refused at once, and the server keeps serving unary calls
    srv = sealdb_factory(["--max-stream-threads", "2"])
    token = login_token(srv.address)
    c = srv.client()
    c.set(b"k", b"v")
    atk = RawH2(srv.address)
    # client streams (streamSet) that sent a first chunk and then wait: each holds a stream thread
    sids = []
    for _ in range(4):
        sid = atk.open_stream("streamSet", [("authorization", token)])
        atk.send(sid, grpc_frame(schema_pb2.Chunk(content=b"\x00" * 8 + b"\x00\x00\x00\x00\x00\x00\x00\x01").SerializeToString()))
        sids.append(sid)
    atk.flush()
    deadline = time.monotonic() + bound(5)
    while sum(1 for s in sids if s in atk.status) < 2 and time.monotonic() < deadline:
        atk.pump(0.2)
    refused = [s for s in sids if atk.status.get(s) == "8"]
    assert len(refused) == 2, atk.status
    assert c.get(b"k").value == b"v"
    atk.close()
    assert srv.proc.poll() is None


def test_max_calls_in_total(sealdb_factory):
    srv = sealdb_factory(["--max-calls", "3", "--request-timeout", "3s"])
    atk = RawH2(srv.address)
    sids = [atk.open_stream("Get") for _ in range(5)]
    atk.flush()
    deadline = time.monotonic() + bound(2)
    while sum(1 for s in sids if atk.status.get(s) == "8") < 2 and time.monotonic() < deadline:
        atk.pump(0.1)
    assert [atk.status.get(s) for s in sids].count("8") == 2, atk.status
    # the held calls expire, and then new calls are admitted again
    deadline = time.monotonic() + bound(8)
    while len(atk.status) < 5 and time.monotonic() < deadline:
        atk.pump(0.2)
    atk.close()
    assert srv.client().currentState().db == "defaultdb"
