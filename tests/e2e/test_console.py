# test_console.py - the web console: its files are compiled into sealdb and served at / with a strict
# Content-Security-Policy, nothing else outside /api/ is served but /metrics (for its charts), and its proof
# checks (verify.js) and metrics parser (metrics.js) pass Node's test runner (tests/js/).
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def get(srv, path):
    try:
        r = urllib.request.urlopen("http://127.0.0.1:%d%s" % (srv.web_port, path), timeout=10)
        return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_console_files_served_from_the_binary(sealdb):
    st, h, body = get(sealdb, "/")
    assert st == 200 and h["Content-Type"].startswith("text/html")
    with open(os.path.join(ROOT, "web", "console", "index.html"), "rb") as f:
        assert body == f.read()
    assert "default-src 'self'" in h["Content-Security-Policy"] and "frame-ancestors 'none'" in h["Content-Security-Policy"]
    # every script and stylesheet the page names is served, same origin
    for ref in re.findall(rb'(?:src|href)="(/[^"]+)"', body):
        st, h, _ = get(sealdb, ref.decode())
        assert st == 200, ref
    # every module console.js imports, directly or through another module
    todo, seen = ["console.js"], set()
    while todo:
        m = todo.pop()
        seen.add(m)
        st, h, js = get(sealdb, "/" + m)
        assert st == 200 and h["Content-Type"].startswith("text/javascript"), m
        todo += [i.decode() for i in re.findall(rb'from "\./([^"]+)"', js) if i.decode() not in seen]
    assert {"verify.js", "charts.js", "metrics.js"} <= seen
    assert get(sealdb, "/nosuch.js")[0] == 404
    assert get(sealdb, "/../etc/passwd")[0] in (301, 404)


def test_console_verifier_against_vectors():
    assert shutil.which("node"), "the console's verifier tests need Node.js (scripts/install-deps.sh --test)"
    p = subprocess.run(["node", "--test", os.path.join(ROOT, "tests", "js")], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"# pass [1-9]", p.stdout) and "# fail 0" in p.stdout


def families(text):
    return sorted({l.split("{")[0].split(" ")[0] for l in text.splitlines() if l and not l.startswith("#")})


def test_metrics_on_the_web_port(sealdb_factory):
    """/metrics is served on the web port too (the console may only fetch from its own origin), without
    credentials as on the metrics port, the same text; with --metrics-server=false on neither."""
    srv = sealdb_factory()
    c = srv.client()
    c.set(b"k", b"v")
    st, h, body = get(srv, "/metrics")
    assert st == 200 and h["Content-Type"].startswith("text/plain") and h["Cache-Control"] == "no-store"
    text = body.decode()
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Set"' in text
    own = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=10).read().decode()
    assert families(text) == families(own) and "grpc_server_handling_seconds_bucket" in families(text)
    assert get(srv, "/metrics/")[0] == 404 and get(srv, "/metricsx")[0] == 404
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % srv.web_port, data=b"", method="POST")
    try:
        st = urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        st = e.code
    assert st == 404
    off = sealdb_factory(["--metrics-server=false"])
    assert get(off, "/metrics")[0] == 404
    assert get(off, "/")[0] == 200
