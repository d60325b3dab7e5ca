# attack_util.py - what every attack test shares: a probe that keeps an authorized client's Get going
# while an attack runs and reports the slowest answer (and any failure), raw gRPC calls with hand-made
# request bytes, and a sanitizer-aware latency bound.
import os
import threading
import time

import grpc

SERVICE = "/immudb.schema.ImmuService/"

# Sanitizer builds (SEALDB_BIN under build/san) run every request 2-5x slower: bounds scale with them.
SLOW = 4.0 if "/san/" in (os.environ.get("SEALDB_BIN") or "") else 1.0


def bound(seconds):
    """A latency bound for an authorized call during an attack, scaled for sanitizer builds."""
    return seconds * SLOW


class Probe:
    """Runs Get(key) as a logged-in immudb-py client every `interval` seconds on its own thread.
    `with Probe(server) as p: attack()` then p.worst (seconds) and p.errors (exceptions) say how the
    authorized client fared while the attack ran; p.calls counts the answered Gets."""

    def __init__(self, server, key=b"probe", interval=0.05, timeout=30):
        self.server = server
        self.key = key
        self.interval = interval
        self.timeout = timeout
        self.worst = 0.0
        self.calls = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        c = self.server.client()
        c.set(self.key, b"v")
        self._client = c
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                got = self._client.get(self.key)
                if got is None or got.value != b"v":
                    self.errors.append(AssertionError("probe read %r" % (got,)))
            except Exception as e:  # noqa: BLE001 - any failure of the authorized client is the finding
                self.errors.append(e)
            dt = time.monotonic() - t0
            self.worst = max(self.worst, dt)
            self.calls += 1
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.timeout)
        try:
            self._client.shutdown()
        except Exception:
            pass
        return False

    def check(self, seconds):
        """Asserts the probe was answered, never failed, and never waited longer than bound(seconds)."""
        assert self.calls > 0, "the probe made no call"
        assert not self.errors, "authorized client failed during the attack: %r" % self.errors[:3]
        assert self.worst <= bound(seconds), "authorized Get took %.3f s (bound %.3f s)" % (self.worst, bound(seconds))


def raw_call(address, method, body, metadata=(), timeout=10):
    """One unary call with hand-made request bytes; returns (grpc code, details, response bytes)."""
    with grpc.insecure_channel(address) as ch:
        fn = ch.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
        try:
            resp = fn(body, metadata=list(metadata), timeout=timeout)
            return grpc.StatusCode.OK, "", resp
        except grpc.RpcError as e:
            return e.code(), e.details(), None


def login_token(address, user=b"immudb", password=b"immudb"):
    """A token from a raw Login (for raw calls that need authorization metadata)."""
    from immudb.grpc import schema_pb2
    code, details, resp = raw_call(address, "Login",
                                   schema_pb2.LoginRequest(user=user, password=password).SerializeToString())
    assert code == grpc.StatusCode.OK, details
    return schema_pb2.LoginResponse.FromString(resp).token
