# test_cli_seal.py - the seal CLI against the real sealdb binary: every command, JSON output, exit
# codes, the 0600 token and state files, streaming of a large value, and refusal of a server that
# presents a state older than the trusted one (exit code 2).
import json
import os
import re
import shutil
import stat

import pytest

from sealcli import running_env  # noqa: E402  (helpers shared by the seal e2e tests)


@pytest.fixture
def env():
    yield from running_env("seal-e2e-")


def test_login_token_file_and_state_file_are_private(env):
    env.ok("login", "immudb")
    tok = os.path.join(env.home, ".seal", "token")
    assert stat.S_IMODE(os.stat(tok).st_mode) == 0o600
    env.ok("safeset", "k", "v")
    st = os.path.join(env.home, ".seal", "seal-state")
    assert stat.S_IMODE(os.stat(st).st_mode) == 0o600
    # a state file others can write is no trust anchor: refused
    os.chmod(st, 0o644)
    p = env.run("safeget", "k")
    assert p.returncode == 1 and "0600" in p.stderr
    os.chmod(st, 0o600)
    env.ok("safeget", "k")


def test_wrong_password_and_not_logged_in(env):
    p = env.run("get", "k")
    assert p.returncode == 1 and "not logged in" in p.stderr
    p = env.run("login", "immudb", password="wrong")
    assert p.returncode == 1
    pwfile = os.path.join(env.home, "pw")
    with open(pwfile, "w") as f:
        f.write("immudb\n")
    env.run("--password-file", pwfile, "login", "immudb", password=None, check=0)
    # one-shot login without a token file
    os.unlink(os.path.join(env.home, ".seal", "token"))
    env.ok("--username", "immudb", "set", "a", "1")


def test_data_commands(env):
    env.ok("login", "immudb")
    h = env.js("set", "alice", "hello")
    assert h["tx"] == 1 and h["verified"] is False
    e = env.js("get", "alice")
    assert e["value"] == "hello" and e["tx"] == 1 and e["revision"] == 1
    assert env.ok("get", "alice", "--value-only").stdout == "hello\n"
    h = env.js("safeset", "alice", "world")
    assert h["tx"] == 2 and h["verified"] is True
    e = env.js("safeget", "alice")
    assert e["value"] == "world" and e["verified"] is True
    # revisions: key@rev and --revision
    assert env.js("get", "alice@1")["value"] == "hello"
    assert env.js("safeget", "alice", "--revision", "1")["value"] == "hello"
    assert env.js("get", "alice", "--at-tx", "1")["value"] == "hello"
    hist = env.js("history", "alice")["history"]
    assert [x["value"] for x in hist] == ["hello", "world"]
    assert [x["value"] for x in env.js("history", "alice", "--desc")["history"]] == ["world", "hello"]
    env.ok("set", "bob", "builder")
    env.ok("set", "carol", "c")
    scan = env.js("scan")["entries"]
    assert [x["key"] for x in scan] == ["alice", "bob", "carol"]
    assert [x["key"] for x in env.js("scan", "--desc", "--limit", "2")["entries"]] == ["carol", "bob"]
    assert [x["key"] for x in env.js("scan", "b")["entries"]] == ["bob"]
    ga = env.js("getall", "alice", "missing", "bob")["entries"]
    assert [x["key"] for x in ga] == ["alice", "bob"]
    env.ok("delete", "carol")
    p = env.run("get", "carol")
    assert p.returncode == 1 and "key not found" in p.stderr
    p = env.run("safeget", "nope")
    assert p.returncode == 1
    # preconditions
    p = env.run("set", "x", "1", "--must-exist", "x")
    assert p.returncode == 1 and "precondition" in p.stderr
    env.ok("set", "x", "1", "--must-not-exist", "x")
    # human output
    out = env.ok("safeget", "alice").stdout
    assert "value:" in out and "world" in out and re.search(r"^verified: +true$", out, re.M)


def test_count(env):
    env.ok("login", "immudb")
    env.ok("set", "p1", "1")
    env.ok("set", "p2", "1")
    env.ok("set", "q", "1")
    p = env.run("count", "p", json_out=True)
    if p.returncode == 0:
        assert json.loads(p.stdout)["count"] == 2
        assert env.js("count")["count"] == 3
    else:   # Count is optional on the server (api.md 2.10): a clean error, never a crash
        assert p.returncode == 1 and json.loads(p.stdout)["verification_failed"] is False


def test_references_and_sorted_sets(env):
    env.ok("login", "immudb")
    env.ok("set", "alice", "hello")
    env.ok("set", "bob", "builder")
    h = env.js("ref", "ref-alice", "alice")
    assert h["verified"] is False
    e = env.js("get", "ref-alice")
    assert e["key"] == "alice" and e["value"] == "hello" and e["reference"] == "ref-alice"
    env.ok("safe-ref", "ref-bob", "bob", "--at-tx", "2")
    e = env.js("safeget", "ref-bob")
    assert e["key"] == "bob" and e["value"] == "builder" and e["verified"] is True
    e = env.js("safeget", "ref-alice")
    assert e["value"] == "hello" and e["verified"] is True
    env.ok("zadd", "scores", "3.5", "alice")
    env.ok("safe-zadd", "scores", "1.25", "bob")
    z = env.js("zscan", "scores")["entries"]
    assert [(x["key"], x["score"]) for x in z] == [("bob", 1.25), ("alice", 3.5)]
    assert z[1]["value"] == "hello"
    z = env.js("zscan", "scores", "--min-score", "2")["entries"]
    assert [x["key"] for x in z] == ["alice"]


def test_transactions_state_and_audit(env):
    env.ok("login", "immudb")
    for i in range(5):
        env.ok("set", "k%d" % i, "v%d" % i)
    t = env.js("tx", "3")
    assert t["tx"] == 3 and t["kv"][0]["key"] == "k2"
    t = env.js("safe-tx", "3", "--values")
    assert t["verified"] is True and t["kv"][0]["value"] == "v2"
    txs = env.js("txscan", "2", "--limit", "2")["txs"]
    assert [x["tx"] for x in txs] == [2, 3]
    p = env.run("tx", "99")
    assert p.returncode == 1
    c = env.js("check-consistency")
    assert c["consistent"] is True and c["to_tx"] == 5
    env.ok("set", "k9", "v9")
    c = env.js("check-consistency")
    assert c["from_tx"] == 5 and c["to_tx"] == 6
    s = env.js("state")
    assert s["states"][0]["tx"] == 6 and s["states"][1]["state"] == "trusted"
    a = env.js("audit", "--rounds", "1", "--verify-values")
    assert a["result"] == "ok" and a["to_tx"] == 6
    env.ok("set", "k10", "v10")
    a = env.js("audit", "--rounds", "2", "--interval", "0", "--verify-values")
    assert a[0]["from_tx"] == 6 and a[0]["to_tx"] == 7 and a[0]["txs_verified"] == 7
    assert a[1]["from_tx"] == 7 and a[1]["txs_verified"] == 0


def test_server_commands(env):
    h = env.js("health")
    assert h["status"] == "ok" and len(h["server_id"]) == 20
    env.ok("status")
    i = env.js("info")
    assert i["status"] == "ok"


def test_databases_and_users(env):
    env.ok("login", "immudb")
    assert env.js("db", "create", "shop")["result"] == "created"
    assert env.js("db", "create", "shop", "--if-not-exists")["result"] == "already exists"
    names = [d["name"] for d in env.js("db", "list")["databases"]]
    assert "defaultdb" in names and "shop" in names
    env.ok("db", "use", "shop")
    env.ok("set", "item", "42")
    assert env.js("get", "item")["value"] == "42"
    env.ok("db", "flush")
    s = env.js("db", "settings")
    assert s["database"] == "shop" and s["max_key_len"] > 0
    env.ok("use", "defaultdb")
    assert env.run("get", "item").returncode == 1
    # the trusted state is per database
    env.ok("safeset", "d", "1")
    env.ok("--database", "shop", "safeset", "e", "2")
    env.ok("db", "unload", "shop")
    env.ok("db", "load", "shop")
    env.ok("db", "unload", "shop")
    env.ok("db", "delete", "shop")
    # users
    env.ok("db", "create", "team")
    env.run("user", "create", "ann", "readwrite", "team", stdin="Secret#123\n", check=0)
    users = {u["user"]: u for u in env.js("user", "list")["users"]}
    assert "ann" in users and users["ann"]["active"] is True
    env.ok("user", "grant", "ann", "read", "defaultdb")
    env.ok("user", "revoke", "ann", "read", "defaultdb")
    env.run("user", "password", "ann", stdin="Other#456\n", check=0)
    env.ok("user", "deactivate", "ann")
    users = {u["user"]: u for u in env.js("user", "list")["users"]}
    assert users["ann"]["active"] is False
    env.ok("user", "activate", "ann")
    p = env.run("--username", "ann", "--database", "team", "set", "t", "1", password="Other#456")
    assert p.returncode == 0, p.stderr
    env.ok("logout")
    assert not os.path.exists(os.path.join(env.home, ".seal", "token"))


def test_stream_large_value(env):
    env.ok("login", "immudb")
    src = os.path.join(env.home, "big.bin")
    data = os.urandom(3 * 1024 * 1024 + 17)
    with open(src, "wb") as f:
        f.write(data)
    env.ok("set", "big", "--file", src)
    dst = os.path.join(env.home, "big.out")
    env.ok("get", "big", "--output", dst)
    with open(dst, "rb") as f:
        assert f.read() == data


def test_older_server_state_is_refused(env):
    env.ok("login", "immudb")
    env.ok("safeset", "a", "1")
    srv = env.srv
    srv.stop()
    snapshot = srv.dir + ".old"
    shutil.copytree(srv.dir, snapshot)
    srv.start()
    env.ok("login", "immudb")                          # tokens do not survive a restart
    env.ok("safeset", "b", "2")
    env.ok("safeset", "c", "3")
    env.ok("check-consistency")
    srv.stop()
    shutil.rmtree(srv.dir)
    shutil.copytree(snapshot, srv.dir)   # same server id, shorter history
    srv.start()
    env.ok("login", "immudb")
    p = env.run("check-consistency")
    assert p.returncode == 2 and "older" in p.stderr, p.stderr
    p = env.run("safeget", "a")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "1" not in p.stdout.split("value")[-1] if "value" in p.stdout else True
    p = env.run("audit", "--rounds", "1")
    assert p.returncode == 2
    p = env.run("safeset", "z", "9")
    assert p.returncode == 2


def test_usage_errors_exit_1(env):
    assert env.run("frobnicate").returncode == 1
    assert env.run("get").returncode == 1
    assert env.run("--nope", "health").returncode == 1
    assert env.run("--help").returncode == 0


def test_audit_verifies_values_of_new_transactions(env):
    """A running audit re-proves, each round, the values of the transactions committed since."""
    import signal
    import subprocess
    env.ok("login", "immudb")
    env.ok("set", "a", "1")
    cmd = [os.path.abspath(os.environ.get("SEAL_BIN", "build/seal")), "-p", str(env.srv.port), "--json",
           "audit", "--interval", "1", "--verify-values"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, HOME=env.home))
    try:
        first = json.loads(p.stdout.readline())
        assert first["result"] == "ok" and first["to_tx"] == 1 and first["txs_verified"] == 1
        env.ok("set", "b", "2")
        env.ok("set", "c", "3")
        rounds = [first]
        while rounds[-1]["to_tx"] < 3:        # the writes may land in one round or two
            rounds.append(json.loads(p.stdout.readline()))
            assert rounds[-1]["result"] == "ok" and rounds[-1]["from_tx"] == rounds[-2]["to_tx"]
        assert all(r["txs_verified"] == r["to_tx"] - r["from_tx"] for r in rounds[1:])
        assert sum(r["txs_verified"] for r in rounds[1:]) == 2
        p.send_signal(signal.SIGTERM)         # audit stops cleanly between rounds
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_progress_and_json_of_streamed_values(env):
    env.ok("login", "immudb")
    src = os.path.join(env.home, "big.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(2 * 1024 * 1024 + 5))
    p = env.ok("set", "big", "--file", src, "--progress")
    assert "transferred" in p.stderr and "(100%)" in p.stderr, p.stderr
    dst = os.path.join(env.home, "big.out")
    p = env.run("--json", "get", "big", "--output", dst, "--progress", check=0)
    assert "transferred" in p.stderr, p.stderr
    assert json.loads(p.stdout) == {"key": "big", "bytes": 2 * 1024 * 1024 + 5, "file": dst}
    # without --progress and without a terminal: no progress lines
    assert "transferred" not in env.ok("get", "big", "--output", dst).stderr
    for i in range(3):
        env.ok("set", "k%d" % i, "v")
    p = env.ok("audit", "--rounds", "1", "--verify-values", "--progress")
    assert "verifying transactions 4/4 (100%)" in p.stderr, p.stderr
    assert env.js("logout") == {"result": "logged out"}


def test_password_prompt_does_not_echo(env):
    """login on a terminal asks for the password with echo off (run under a pseudo-terminal)."""
    import pty
    import select
    import time
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["HOME"] = env.home
        os.environ.pop("IMMUDB_PASSWORD", None)
        os.execv(os.path.abspath(os.environ.get("SEAL_BIN", "build/seal")),
                 ["seal", "-p", str(env.srv.port), "login", "immudb"])
    out = b""

    def read_until(needle, timeout=20):
        nonlocal out
        deadline = time.time() + timeout
        while needle not in out and time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return needle in out

    assert read_until(b"Password: "), out
    time.sleep(0.2)                      # let seal turn echo off before typing
    os.write(fd, b"immudb\n")
    read_until(b"logged_in")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WEXITSTATUS(status) == 0, out
    typed = out.split(b"Password: ", 1)[1].split(b"\r\n", 1)[0]
    assert b"logged_in" in out and typed == b"", out     # the typed password was not echoed
