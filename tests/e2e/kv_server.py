# kv_server.py - the KV end-to-end tests' server (sealdb_proc.SealdbServer on a data dir, optionally
# signing), a module-wide server fixture, logged-in immudb-py clients and KV availability probes.
import os

import pytest

from sealdb_proc import SEALDB_BIN, SealdbServer


class SealServer(SealdbServer):
    """A server on datadir (its parent holds the log), optionally with a signing key; the process
    handling is sealdb_proc's."""

    def __init__(self, datadir, signing_key=None):
        if not os.path.exists(SEALDB_BIN):
            pytest.skip("sealdb binary not built")
        super().__init__(os.path.dirname(datadir), ["--signingKey", signing_key] if signing_key else [])
        self.dir = datadir

    def tail(self):
        return self.log()[-2000:]

    @property
    def url(self):
        return self.address

    def client(self, rs=None, public_key=None, max_msg=None):
        return super().client(rs=rs, publicKeyFile=public_key, timeout=60, max_grpc_message_length=max_msg)


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
