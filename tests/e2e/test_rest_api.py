# test_rest_api.py - the REST API beyond the captured exchanges: its limits crossed (connections,
# request size, slow clients), TLS with the gRPC certificate, tokens shared with gRPC, auth disabled,
# session end times, Go's escaping in error messages, and the README's three curl lines.
import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def call(srv, method, path, body=None, token=None, headers=None, conn=None, timeout=30):
    c = conn or http.client.HTTPConnection("127.0.0.1", srv.web_port, timeout=timeout)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    if conn is None:
        c.close()
    try:
        js = json.loads(text)
    except ValueError:
        js = None
    return r.status, js, text


def login(srv, conn=None):
    st, js, _ = call(srv, "POST", "/api/login", {"user": b64("immudb"), "password": b64("immudb")}, conn=conn)
    assert st == 200, js
    return js["token"]


def test_set_and_verified_get_share_tokens_with_grpc(sealdb):
    tok = login(sealdb)
    st, js, _ = call(sealdb, "POST", "/api/db/set", {"KVs": [{"key": b64("k"), "value": b64("v1")}]}, tok)
    assert st == 200 and js["id"] == "1" and js["nentries"] == 1
    # written over REST, read and verified over gRPC by immudb-py
    c = sealdb.client()
    assert c.verifiedGet(b"k").value == b"v1"
    c.verifiedSet(b"k", b"v2")
    st, js, _ = call(sealdb, "POST", "/api/db/verifiable/get", {"keyRequest": {"key": b64("k")}, "proveSinceTx": "1"}, tok)
    assert st == 200 and base64.b64decode(js["entry"]["value"]) == b"v2", js
    assert js["verifiableTx"]["dualProof"]["sourceTxHeader"]["id"] == "1"
    # a REST token works on gRPC: the raw gRPC stub with its metadata
    import grpc
    from immudb.grpc import schema_pb2_grpc
    from google.protobuf import empty_pb2
    with grpc.insecure_channel(sealdb.address) as ch:
        st_ = schema_pb2_grpc.ImmuServiceStub(ch).CurrentState(empty_pb2.Empty(), metadata=[("authorization", "Bearer " + tok)])
    assert st_.txId == 2
    # and Logout over REST ends it everywhere
    assert call(sealdb, "POST", "/api/logout", {}, tok)[0] == 200
    st, js, _ = call(sealdb, "GET", "/api/db/state", token=tok)
    assert (st, js["code"], js["message"]) == (500, 2, "not logged in")


def test_web_max_connections_crossed(sealdb_factory):
    srv = sealdb_factory(["--web-max-connections", "2"])
    held = [socket.create_connection(("127.0.0.1", srv.web_port)) for _ in range(2)]
    time.sleep(0.3)
    # the third connection is accepted by the kernel and closed by the server without an answer
    with pytest.raises((http.client.HTTPException, ConnectionError, socket.timeout, OSError)):
        call(srv, "GET", "/api/health", timeout=5)
    held.pop().close()
    time.sleep(0.3)
    st, js, _ = call(srv, "GET", "/api/health")
    assert st == 200 and js["status"] is True
    for s in held:
        s.close()
    stops_clean(srv)


def test_request_size_limit_crossed(sealdb_factory):
    srv = sealdb_factory(["--max-recv-msg-size", "4096"])
    tok = login(srv)
    ok = {"KVs": [{"key": b64("k"), "value": b64(b"x" * 3000)}]}
    assert call(srv, "POST", "/api/db/set", ok, tok)[0] == 200
    big = {"KVs": [{"key": b64("k"), "value": b64(b"x" * 5000)}]}
    st, js, _ = call(srv, "POST", "/api/db/set", big, tok)
    assert st == 429 and js["code"] == 8 and "larger than max" in js["message"] and "4096" in js["message"], js
    # a body declared far beyond the limit is refused before it is read
    c = http.client.HTTPConnection("127.0.0.1", srv.web_port, timeout=10)
    c.putrequest("POST", "/api/db/set")
    c.putheader("Authorization", "Bearer " + tok)
    c.putheader("Content-Length", str(10 * 1024 * 1024))
    c.endheaders()
    r = c.getresponse()
    assert r.status == 429 and json.loads(r.read())["code"] == 8
    c.close()
    # a chunked body (no declared length) past the limit is dropped and answered 429 at its end;
    # past 4 times the limit the connection is closed
    assert chunked_post(srv, tok, 6).startswith(b"HTTP/1.1 429")   # 192 KiB: limit 4096 * 4/3 + 64 KiB
    assert chunked_post(srv, tok, 64) == b""                         # 2 MiB
    assert call(srv, "GET", "/api/health")[0] == 200
    stops_clean(srv)


def stops_clean(srv):
    """SIGTERM ends the server with 0 and no sanitizer report (on a sanitizer build)."""
    assert srv.stop() == 0
    log = srv.log()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]


def chunked_post(srv, tok, chunks):
    s = socket.create_connection(("127.0.0.1", srv.web_port), timeout=10)
    s.sendall(("POST /api/db/set HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" % tok).encode())
    got = b""
    try:
        for _ in range(chunks):
            s.sendall(b"8000\r\n" + b"x" * 0x8000 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        while b"\r\n\r\n" not in got:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except OSError:
        pass   # closed by the server while we were still sending
    s.close()
    return got


def test_slow_client_is_dropped(sealdb_factory):
    srv = sealdb_factory(["--request-timeout", "1s"])
    s = socket.create_connection(("127.0.0.1", srv.web_port))
    s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")   # never finishes its headers
    s.settimeout(10)
    t0 = time.time()
    assert s.recv(100) == b""   # closed by the server
    assert time.time() - t0 < 8
    s.close()
    assert call(srv, "GET", "/api/health")[0] == 200


def test_tls_with_the_grpc_certificate(sealdb_factory):
    srv = sealdb_factory(["--auto-cert"])
    ctx = ssl.create_default_context(cafile=os.path.join(srv.dir, "immudb-cert.pem"))
    ctx.check_hostname = False
    c = http.client.HTTPSConnection("127.0.0.1", srv.web_port, context=ctx, timeout=10)
    st, js, _ = call(srv, "GET", "/api/health", conn=c)
    assert st == 200 and js["status"] is True
    c.close()
    assert "REST API on https://" in srv.log()
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        call(srv, "GET", "/api/health", timeout=5)   # plain HTTP is not served on a TLS port


def test_auth_disabled(sealdb_factory):
    srv = sealdb_factory(["--auth=false"])
    st, js, _ = call(srv, "POST", "/api/db/set", {"KVs": [{"key": b64("a"), "value": b64("b")}]})
    assert st == 200, js
    st, js, _ = call(srv, "GET", "/api/db/get/" + b64("a"))
    assert st == 200 and js["value"] == b64("b")


def test_session_end_times(sealdb_factory):
    srv = sealdb_factory(["--max-session-age-time", "1h", "--max-session-inactivity-time", "2m"])
    now = time.time()
    st, js, _ = call(srv, "POST", "/api/v2/authorization/session/open",
                     {"username": "immudb", "password": "immudb", "database": "defaultdb"})
    assert st == 200 and js["serverUUID"] and js["sessionID"]
    assert abs(js["expirationTimestamp"] - (now + 3600)) < 5
    assert abs(js["inactivityTimestamp"] - (now + 120)) < 5
    h = {"sessionid": js["sessionID"]}
    st, js2, _ = call(srv, "POST", "/api/db/set", {"KVs": [{"key": b64("s"), "value": b64("1")}]}, headers=h)
    assert st == 200, js2
    assert call(srv, "POST", "/api/v2/authorization/session/close", {}, headers=h)[0] == 200
    st, js2, _ = call(srv, "GET", "/api/db/state", headers=h)
    assert (st, js2["message"]) == (403, "session not found")


def test_error_messages_escaped_as_go(sealdb):
    tok = login(sealdb)
    st, js, text = call(sealdb, "GET", "/api/db/use/%3Cx%3E%26", token=tok)
    assert st == 404 and js["message"] == "'<x>&' does not exist"
    assert "\\u003cx\\u003e\\u0026" in text and "<" not in text


def test_routing_errors_are_plain_text(sealdb):
    st, _, text = call(sealdb, "GET", "/api/db/set")
    assert (st, text) == (405, "Method Not Allowed\n")
    st, _, text = call(sealdb, "GET", "/api/nosuch")
    assert (st, text) == (404, "Not Found\n")
    c = http.client.HTTPConnection("127.0.0.1", sealdb.web_port, timeout=10)
    c.request("GET", "/api//health")
    r = c.getresponse()
    assert r.status == 301 and r.getheader("Location") == "/api/health"
    c.close()


def readme_curl_lines():
    with open(os.path.join(ROOT, "README.md")) as f:
        sec = f.read().split("## REST API", 1)[1]
    block = re.search(r"```sh\n(.*?)```", sec, re.S).group(1)
    return [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def seal_help_curl_lines():
    seal = os.environ.get("SEAL_BIN", "build/seal")
    out = subprocess.run([os.path.abspath(seal), "--help"], capture_output=True, text=True, timeout=10).stdout
    return [ln.strip() for ln in out.splitlines() if ln.strip().startswith(("TOKEN=$(curl", "curl "))]


def run_curl_lines(srv, lines):
    assert len(lines) == 3 and all(ln.startswith(("curl", "TOKEN=")) for ln in lines), lines
    script = "set -e\n" + "\n".join(ln.replace("localhost:8080", "127.0.0.1:%d" % srv.web_port) + "; echo"
                                    for ln in lines)
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = [ln for ln in p.stdout.strip().splitlines() if ln.strip()]
    js = json.loads(out[-1])
    assert base64.b64decode(js["entry"]["value"]) == b"hello"
    return js


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_readme_curl_lines(sealdb):
    js = run_curl_lines(sealdb, readme_curl_lines())
    assert js["verifiableTx"]["tx"]["header"]["id"] == "1"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_seal_help_curl_lines(sealdb):
    run_curl_lines(sealdb, seal_help_curl_lines())
