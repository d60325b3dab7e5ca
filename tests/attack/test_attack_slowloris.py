# test_attack_slowloris.py - peers that start and never finish: a partial HTTP/2 preface, a partial frame
# after the preface, a request whose DATA frame never completes. Each is closed or cancelled within its
# deadline (--handshake-timeout, --max-connection-idle, --request-timeout) while an authorized client is
# served, so a slow attacker cannot hold connections or calls for ever.
import socket
import time

from immudb.grpc import schema_pb2

from attack_util import Probe, bound, login_token
from h2_attack import PREFACE, RawH2, grpc_frame

FLAGS = ["--handshake-timeout", "2s", "--request-timeout", "2s", "--max-connection-idle", "3s"]


def closed_within(sock, seconds):
    """True when the server closes the socket within `seconds` (EOF or reset)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def connect(address):
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def test_partial_preface_is_closed(sealdb_factory):
    srv = sealdb_factory(FLAGS)
    with Probe(srv) as probe:
        socks = [connect(srv.address) for _ in range(50)]
        for s in socks:
            s.sendall(PREFACE[:10])
        assert all(closed_within(s, bound(6)) for s in socks)
        for s in socks:
            s.close()
    probe.check(2.0)


def test_partial_frame_after_preface_is_closed(sealdb_factory):
    srv = sealdb_factory(FLAGS)
    with Probe(srv) as probe:
        socks = [connect(srv.address) for _ in range(20)]
        for s in socks:
            # the preface, then the first 5 of 9 bytes of a SETTINGS frame header
            s.sendall(PREFACE + b"\x00\x00\x00\x04\x00")
        assert all(closed_within(s, bound(10)) for s in socks)
        for s in socks:
            s.close()
    probe.check(2.0)


def test_unfinished_request_message_is_cancelled(sealdb_factory):
    srv = sealdb_factory(FLAGS)
    token = login_token(srv.address)
    body = grpc_frame(schema_pb2.KeyRequest(key=b"probe").SerializeToString())
    with Probe(srv) as probe:
        atk = RawH2(srv.address)
        sids = []
        for _ in range(50):
            sid = atk.open_stream("Get", [("authorization", token)])
            atk.send(sid, body[:4])          # the message header promises more than ever comes
            sids.append(sid)
        atk.flush()
        deadline = time.monotonic() + bound(8)
        while len(atk.status) < len(sids) and time.monotonic() < deadline and not atk.closed:
            atk.pump(0.2)
        assert {atk.status.get(s) for s in sids} == {"4"}, atk.status    # DEADLINE_EXCEEDED
        atk.close()
    probe.check(2.0)
    assert srv.proc.poll() is None
