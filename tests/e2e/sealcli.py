# sealcli.py - helpers for the seal e2e tests: a restartable sealdb process on a private directory
# and port, and a runner for the seal CLI with its own HOME (token and trusted-state files).
import json
import os
import subprocess

from sealdb_proc import SealdbServer

SEAL = os.environ.get("SEAL_BIN", "build/seal")


class Server(SealdbServer):
    """One sealdb process on a private directory and port; restartable on the same directory."""


class Env:
    def __init__(self, srv, home):
        self.srv = srv
        self.home = home

    def run(self, *args, password="immudb", stdin=None, check=None, json_out=False):
        env = dict(os.environ)
        env["HOME"] = self.home
        env.pop("IMMUDB_PASSWORD", None)
        if password is not None:
            env["IMMUDB_PASSWORD"] = password
        cmd = [os.path.abspath(SEAL), "-p", str(self.srv.port)] + (["--json"] if json_out else []) + list(args)
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=60)
        if check is not None:
            assert p.returncode == check, (cmd, p.returncode, p.stdout, p.stderr)
        return p

    def ok(self, *args, **kw):
        return self.run(*args, check=0, **kw)

    def js(self, *args, **kw):
        p = self.run(*args, check=0, json_out=True, **kw)
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        return [json.loads(l) for l in lines] if len(lines) > 1 else json.loads(lines[0])




def running_env(prefix):
    """Generator for the seal fixtures: a running server on a fresh directory and an Env with its own
    HOME; stops the server and removes the directory afterwards."""
    import shutil
    import tempfile
    root = tempfile.mkdtemp(prefix=prefix)
    srv = Server(root)
    srv.start()
    home = os.path.join(root, "home")
    os.makedirs(home)
    try:
        yield Env(srv, home)
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)
