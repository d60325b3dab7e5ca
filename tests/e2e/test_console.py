# test_console.py - the web console: its files are compiled into sealdb and served at / with a strict
# Content-Security-Policy, nothing else outside /api/ is served, and its proof checks (verify.js) pass
# Node's test runner against the golden vectors (tests/js/).
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
    st, h, js = get(sealdb, "/console.js")
    assert h["Content-Type"].startswith("text/javascript")
    for imp in re.findall(rb'from "\./([^"]+)"', js):
        assert get(sealdb, "/" + imp.decode())[0] == 200, imp
    assert get(sealdb, "/nosuch.js")[0] == 404
    assert get(sealdb, "/../etc/passwd")[0] in (301, 404)


def test_console_verifier_against_vectors():
    assert shutil.which("node"), "the console's verifier tests need Node.js (scripts/install-deps.sh --test)"
    p = subprocess.run(["node", "--test", os.path.join(ROOT, "tests", "js")], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"# pass [1-9]", p.stdout) and "# fail 0" in p.stdout
