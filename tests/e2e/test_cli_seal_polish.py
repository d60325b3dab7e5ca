# test_cli_seal_polish.py - seal's immuclient/immuadmin habits against the real sealdb: the password
# change reads the old password first (as its help says), immuclient/immuadmin command names scripts
# use, IMMUCLIENT_* variables, a stale login that says how to log in again, a missing state signature
# named as such, RFC 3339 times (epoch kept in --json), aligned `info` columns and sealdb's version.
import os
import re
import subprocess

import pytest
from immudb import ImmudbClient

from sealcli import SEAL, running_env


@pytest.fixture
def env():
    yield from running_env("seal-polish-")


def _help():
    return subprocess.run([os.path.abspath(SEAL), "--help"], capture_output=True, text=True, timeout=10).stdout


def test_user_password_reads_old_then_new_as_help_says(env):
    h = _help()
    assert "reads the OLD password first" in h and "then the new one (the second line)" in h
    env.ok("login", "immudb")
    env.ok("user", "password", "immudb", stdin="immudb\nN3w-secret!\n")
    env.ok("login", "immudb", password="N3w-secret!")
    assert env.run("login", "immudb", password="immudb").returncode == 1


def test_immuclient_and_immuadmin_names(env):
    env.ok("login", "immudb")
    env.ok("set", "k", "v")
    cur = env.js("current")
    assert cur["states"][0]["tx"] == 1
    v = env.run("version", check=0)
    assert re.match(r"^seal \d+\.\d+\.\d+$", v.stdout.strip())
    names = [d["name"] for d in env.js("database", "list")["databases"]]
    assert "defaultdb" in names
    env.ok("database", "create", "shop")
    env.ok("user", "create", "bob", "read", "defaultdb", stdin="B0b-password!\n")
    assert env.js("user", "permission", "grant", "bob", "readwrite", "shop")["result"] == "granted"
    users = {u["user"]: u for u in env.js("user", "list")["users"]}
    assert {"database": "shop", "permission": "readwrite"} in users["bob"]["permissions"]
    assert env.js("user", "permission", "revoke", "bob", "readwrite", "shop")["result"] == "revoked"
    users = {u["user"]: u for u in env.js("user", "list")["users"]}
    assert not [p for p in users["bob"]["permissions"] if p["database"] == "shop"]
    p = env.run("user", "permission", "give", "bob", "read", "shop")
    assert p.returncode == 1 and "user permission grant|revoke" in p.stderr


def test_immuclient_environment_variables(env):
    # no -p: the port comes from IMMUCLIENT_IMMUDB_PORT; a flag still wins over the variable
    e = dict(os.environ, HOME=env.home, IMMUDB_PASSWORD="immudb", IMMUCLIENT_IMMUDB_PORT=str(env.srv.port),
             IMMUCLIENT_IMMUDB_ADDRESS="127.0.0.1")
    seal = os.path.abspath(SEAL)
    p = subprocess.run([seal, "--json", "login", "immudb"], capture_output=True, text=True, env=e, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([seal, "-p", "1", "health"], capture_output=True, text=True, env=e, timeout=60)
    assert p.returncode == 1
    e["IMMUCLIENT_TOKENFILE"] = os.path.join(env.home, "other-token")
    p = subprocess.run([seal, "login", "immudb"], capture_output=True, text=True, env=e, timeout=60)
    assert p.returncode == 0 and os.path.exists(e["IMMUCLIENT_TOKENFILE"]), p.stderr
    e["IMMUCLIENT_IMMUDB_PORT"] = "not-a-port"
    p = subprocess.run([seal, "health"], capture_output=True, text=True, env=e, timeout=60)
    assert p.returncode == 1 and "IMMUCLIENT_IMMUDB_PORT" in p.stderr


def test_stale_token_says_how_to_log_in_again(env):
    env.ok("login", "immudb")
    # a password change made from another login revokes every other token of the user, the saved one
    # too (the changing login's own token survives: docs/compat.md)
    other = ImmudbClient("127.0.0.1:%d" % env.srv.port)
    other.login("immudb", "immudb")
    other.changePassword("immudb", "An0ther-secret!", "immudb")
    p = env.run("get", "k")
    assert p.returncode == 1
    assert "log in again with 'seal login <user>'" in p.stderr, p.stderr
    assert os.path.join(env.home, ".seal", "token") in p.stderr
    j = env.run("get", "k", json_out=True)
    assert "log in again" in j.stdout


def test_missing_state_signature_is_named(env, tmp_path):
    key = str(tmp_path / "k.pem")
    pub = str(tmp_path / "pub.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], check=True)
    subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
    env.ok("login", "immudb")
    env.ok("set", "k", "v")
    # the server runs without --signingKey: its answers carry no signature
    for cmd in (("safeget", "k"), ("safeset", "k2", "v2"), ("state",)):
        p = env.run("--server-signing-pub-key", pub, *cmd)
        assert p.returncode == 2, (cmd, p.stderr)
        assert "carries no signature" in p.stderr or "carries no state signature" in p.stderr, (cmd, p.stderr)
        assert "--signingKey" in p.stderr and "does not verify" not in p.stderr, (cmd, p.stderr)


def test_times_rfc3339_and_epoch_in_json(env):
    env.ok("login", "immudb")
    env.ok("set", "k", "v", "--expires-at", "4102444800")   # 2100-01-01
    t = env.ok("tx", "1").stdout
    m = re.search(r"^time:\s+(\S+)$", t, re.M)
    assert m and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", m.group(1)), t
    assert isinstance(env.js("tx", "1")["time"], int)
    g = env.ok("get", "k").stdout
    assert re.search(r"^expires:\s+2100-01-01T00:00:00Z$", g, re.M), g
    assert env.js("get", "k")["expires"] == 4102444800
    i = env.ok("info").stdout
    assert re.search(r"^started_at:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", i, re.M), i
    assert isinstance(env.js("info")["started_at"], int)


def test_info_columns_align(env):
    out = env.ok("info").stdout
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) >= 7
    cols = {re.match(r"^\S+:\s+", ln).end() for ln in lines}
    assert len(cols) == 1, lines


def test_health_names_sealdb_version(env):
    h = env.js("health")
    assert h["version"] == "1.9.5"
    assert re.match(r"^\d+\.\d+\.\d+$", h["sealdb_version"])
    assert "sealdb_version:" in env.ok("health").stdout
