# immudb_ref.py - runs the REAL immudb 1.9.5 (built into build/ref by scripts/get-immudb.sh) for the
# interoperability tests: a private directory, free ports, web/metrics/pgsql servers off, readiness
# from an accepted connection plus a successful login, SIGTERM stop, kill -9, restart on the same
# directory. A missing binary is a test FAILURE (never a skip): the interop tests must not pass silently.
import os
import signal
import subprocess
import tempfile
import time

import pytest

from sealdb_proc import ROOT, free_port

REF_DIR = os.environ.get("IMMUDB_REF_DIR") or os.path.join(ROOT, "build", "ref")
IMMUDB_BIN = os.environ.get("IMMUDB_BIN") or os.path.join(REF_DIR, "immudb")
IMMUADMIN_BIN = os.environ.get("IMMUADMIN_BIN") or os.path.join(REF_DIR, "immuadmin")
# not immudb's default: `immuadmin login` with the default password insists on changing it
ADMIN_PW = "Interop-1.9.5"


def require_ref(path):
    """Fails the calling test (not a skip) when a reference binary is missing."""
    if not os.access(path, os.X_OK):
        pytest.fail("reference binary %s is missing: run scripts/get-immudb.sh (make test does)" % path)
    return path


class ImmudbServer:
    """One real immudb process. `args` are extra flags (e.g. --replication-*)."""

    def __init__(self, root, args=(), admin_password=ADMIN_PW):
        self.root = root
        self.dir = os.path.join(root, "data")
        self.port = free_port()
        self.args = list(args)
        self.admin_password = admin_password
        self.proc = None
        self.log_path = os.path.join(root, "immudb.log")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, wait=True, retries=3):
        require_ref(IMMUDB_BIN)
        for attempt in range(retries):
            log = open(self.log_path, "ab")
            self._log_start = log.tell()
            cmd = [IMMUDB_BIN, "--dir", self.dir, "--address", "127.0.0.1", "--port", str(self.port),
                   "--web-server=false", "--metrics-server=false", "--pgsql-server=false",
                   "--admin-password", self.admin_password] + self.args
            # cwd = the private root: immudb writes its default log directory relative to it
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
            log.close()
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                if self.proc.poll() is not None and "address already in use" in self.log()[self._log_start:] \
                        and attempt + 1 < retries:
                    self.port = free_port()
                    continue
                raise
        return self

    def wait_ready(self, timeout=30):
        """Ready = the process runs and a login on defaultdb succeeds (immudb opens its port before
        the databases are loaded)."""
        from immudb import ImmudbClient
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("immudb exited with %s:\n%s" % (self.proc.returncode, self.log()[-3000:]))
            try:
                c = ImmudbClient(self.address, timeout=2)
                c.login("immudb", self.admin_password)
                c.shutdown()
                return
            except Exception as e:  # noqa: BLE001 (any failure means "not yet")
                last = e
            time.sleep(0.1)
        raise RuntimeError("immudb did not start (%s):\n%s" % (last, self.log()[-3000:]))

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=20):
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
                raise RuntimeError("immudb did not stop on SIGTERM")
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def client(self, user="immudb", password=None, database="defaultdb", **kw):
        from immudb import ImmudbClient
        c = ImmudbClient(self.address, **kw)
        if user is not None:
            c.login(user, self.admin_password if password is None and user == "immudb" else password,
                    database=database)
        return c


@pytest.fixture
def immudb_factory():
    """Makes real immudb servers; all are stopped and their directories removed at the end."""
    made = []
    dirs = []

    def make(args=(), start=True, **kw):
        d = tempfile.mkdtemp(prefix="immudb-ref-")
        dirs.append(d)
        s = ImmudbServer(d, args, **kw)
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in made:
        try:
            s.stop()
        except Exception:
            s.kill9()
    for d in dirs:
        subprocess.run(["rm", "-rf", d])


@pytest.fixture
def immudb_ref(immudb_factory):
    """A fresh running immudb 1.9.5 with default settings (admin password ADMIN_PW)."""
    return immudb_factory()


@pytest.fixture
def sealdb_pw_factory(sealdb_factory):
    """sealdb servers whose admin password is ADMIN_PW (as the immudb_ref servers), so that the same
    immuadmin and replication credentials work on both."""
    def make(args=(), **kw):
        s = sealdb_factory(["--admin-password", ADMIN_PW] + list(args), **kw)
        s.admin_password = ADMIN_PW
        return s
    return make


@pytest.fixture
def sealdb_pw(sealdb_pw_factory):
    return sealdb_pw_factory()


def immuadmin(server, *args, password=None, timeout=60, input_text=None):
    """Runs the real immuadmin against `server` (immudb or sealdb) as immudb; returns the
    CompletedProcess. Each call logs in first: immuadmin keeps its token in a file of the home
    directory, so HOME is the server's private root."""
    require_ref(IMMUADMIN_BIN)
    pw = password if password is not None else getattr(server, "admin_password", "immudb")
    env = dict(os.environ, HOME=server.root)
    base = [IMMUADMIN_BIN, "--immudb-address", "127.0.0.1", "--immudb-port", str(server.port)]
    r = subprocess.run(base + ["login", "immudb"], input=pw, capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=server.root)
    if r.returncode != 0:
        return r
    return subprocess.run(base + list(args), input=input_text, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=server.root)
