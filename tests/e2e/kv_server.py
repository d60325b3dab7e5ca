# kv_server.py - starts a real sealdb binary for the KV end-to-end tests (free ports, own data dir,
# restart, kill -9) and gives logged-in immudb-py clients.
import os
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sealdb_bin():
    b = os.environ.get("SEALDB_BIN") or os.path.join(ROOT, "build", "sealdb")
    if not os.path.exists(b):
        pytest.skip("sealdb binary not built")
    return b


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SealServer:
    def __init__(self, datadir, signing_key=None):
        self.datadir = datadir
        self.signing_key = signing_key
        self.proc = None
        self.port = None
        self.log = os.path.join(datadir + ".log")

    def start(self):
        self.port = free_port()
        args = [sealdb_bin(), "--dir", self.datadir, "-a", "127.0.0.1", "-p", str(self.port),
                "--metrics-server-port", str(free_port())]
        if self.signing_key:
            args += ["--signingKey", self.signing_key]
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sealdb exited with %d: %s" % (self.proc.returncode, self.tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sealdb did not start: " + self.tail())

    def tail(self):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    @property
    def url(self):
        return "127.0.0.1:%d" % self.port

    def client(self, rs=None, public_key=None, max_msg=None):
        from immudb import ImmudbClient
        c = ImmudbClient(self.url, rs=rs, publicKeyFile=public_key, timeout=60, max_grpc_message_length=max_msg)
        c.login("immudb", "immudb")
        return c


@pytest.fixture(scope="module")
def kvserver(tmp_path_factory):
    srv = SealServer(str(tmp_path_factory.mktemp("kvdata") / "data"))
    srv.start()
    yield srv
    srv.stop()


def kv_status(srv):
    """"ok"; "noindex" while the engine's key index is a placeholder (reads answer "unsupported ...");
    "nokv" while the KV module is not registered in the server (Unimplemented)."""
    import grpc
    from immudb.grpc import schema_pb2
    c = srv.client()
    try:
        c.stub.Get(schema_pb2.KeyRequest(key=b"__probe__"))
        return "ok"
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            return "nokv"
        return "noindex" if "unsupported" in e.details() else "ok"
    finally:
        c.shutdown()


def has_key_index(srv):
    return kv_status(srv) == "ok"


def require_kv(srv):
    if kv_status(srv) == "nokv":
        pytest.skip("the KV module is not registered in the server yet")


def require_key_index(srv):
    st = kv_status(srv)
    if st != "ok":
        pytest.skip("the KV module or the engine's key index has not landed yet (%s)" % st)


@pytest.fixture
def kvclient(kvserver):
    require_key_index(kvserver)
    c = kvserver.client()
    yield c
    try:
        c.logout()
    except Exception:
        pass
    c.shutdown()


def rpc_error(fn, *args, **kw):
    """Runs fn, expects a grpc.RpcError, returns (code name, details)."""
    import grpc
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        return e.code().name, e.details()
    raise AssertionError("expected an RPC error")
