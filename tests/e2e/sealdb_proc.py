# sealdb_proc.py - the one way the end-to-end tests run a real sealdb process: a private directory,
# free ports (retried if taken meanwhile), readiness from the server's own log line plus an open port,
# SIGTERM stop, kill -9, restart on the same directory and port, and logged-in immudb-py clients.
# Used by the conftest fixtures (sealdb, sealdb_factory), kv_server.py and sealcli.py.
import os
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEALDB_BIN = os.environ.get("SEALDB_BIN") or os.path.join(ROOT, "build", "sealdb")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SealdbServer:
    """One sealdb process. `args` are extra flags; start()/stop()/restart() keep the directory."""

    def __init__(self, root, args=(), env=None):
        self.root = root
        self.dir = os.path.join(root, "data")
        self.port = free_port()
        self.metrics_port = free_port()
        self.web_port = free_port()
        self.args = list(args)
        self.env = env
        self.proc = None
        self.log_path = os.path.join(root, "server.log")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, wait=True, retries=3):
        """Starts the server; if its port was taken meanwhile (other test runs share the machine),
        retries on fresh ports."""
        for attempt in range(retries):
            log = open(self.log_path, "ab")
            self._log_start = log.tell()
            cmd = [os.path.abspath(SEALDB_BIN), "--dir", self.dir, "-a", "127.0.0.1", "-p", str(self.port),
                   "--metrics-server-port", str(self.metrics_port), "--web-server-port", str(self.web_port)] + self.args
            env = dict(os.environ)
            if self.env:
                env.update(self.env)
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env=env)
            log.close()
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                if self.proc.poll() is not None and "cannot listen" in self.log()[self._log_start:] \
                        and attempt + 1 < retries:
                    self.port = free_port()
                    self.metrics_port = free_port()
                    self.web_port = free_port()
                    continue
                raise
        return self

    def wait_ready(self, timeout=20):
        """Ready = our process logged that it serves (so the port is ours) and the port answers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sealdb exited with %s:\n%s" % (self.proc.returncode, self.log()[-3000:]))
            if " serving " in self.log()[getattr(self, "_log_start", 0):]:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("sealdb did not start:\n" + self.log()[-3000:])

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code."""
        if not self.proc:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("sealdb did not stop on SIGTERM")
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def client(self, user="immudb", password="immudb", database="defaultdb", **kw):
        from immudb import ImmudbClient
        c = ImmudbClient(self.address, **kw)
        if user is not None:
            c.login(user, password, database=database)
        return c

    def kill9(self):
        """SIGKILL: no orderly stop (crash tests). The next start() uses fresh ports: grpc-python
        shares subchannels between channels to the same target, so clients that saw the kill leave
        one in reconnect backoff, and a new client to the same port then fails at once with the
        cached "Connection refused" (test_kv_crash failed so about one run in five)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.port = free_port()
        self.metrics_port = free_port()

