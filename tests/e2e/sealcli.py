# sealcli.py - helpers for the seal e2e tests: a restartable sealdb process on a private directory
# and port, and a runner for the seal CLI with its own HOME (token and trusted-state files).
import json
import os
import socket
import subprocess
import time

SEALDB = os.environ.get("SEALDB_BIN", "build/sealdb")
SEAL = os.environ.get("SEAL_BIN", "build/seal")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One sealdb process on a private directory and port; restartable on the same directory."""

    def __init__(self, root):
        self.root = root
        self.dir = os.path.join(root, "data")
        self.port = free_port()
        self.metrics = free_port()
        self.proc = None

    def start(self):
        log = open(os.path.join(self.root, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.abspath(SEALDB), "--dir", self.dir, "-a", "127.0.0.1", "-p", str(self.port),
             "--metrics-server-port", str(self.metrics)],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sealdb exited: " + open(os.path.join(self.root, "server.log")).read()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sealdb did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


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


