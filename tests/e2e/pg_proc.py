# pg_proc.py - a real PostgreSQL for the sealdb-cdc tests: initdb in a temporary directory with
# wal_level=logical, a free port, a Unix socket in the same directory; run as the postgres user when
# the tests run as root (initdb refuses root). Skips the caller's test when PostgreSQL is missing.
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from sealdb_proc import free_port


def pg_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    return None


class PgServer:
    def __init__(self, root=None):
        self.bindir = pg_bindir()
        self.root = root or tempfile.mkdtemp(prefix="sealdb-pg-")
        self.data = os.path.join(self.root, "pgdata")
        self.port = free_port()
        self.user = None
        self.proc = None
        if os.getuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chmod(self.root, 0o777)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _run(self, args, **kw):
        if self.user:
            args = ["runuser", "-u", self.user, "--"] + args
        return subprocess.run(args, capture_output=True, text=True, **kw)

    def init(self):
        r = self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--locale=C", "--no-sync"], timeout=120)
        if r.returncode:
            raise RuntimeError("initdb failed: " + r.stderr)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\nwal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n"
                    "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\n"
                    "shared_buffers = 32MB\nmax_connections = 40\n" % self.root)
        return self

    def start(self, timeout=60):
        cmd = [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port)]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        self.log = open(os.path.join(self.root, "pg.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited: " + open(os.path.join(self.root, "pg.log")).read()[-2000:])
            r = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                               capture_output=True)
            if r.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("postgres did not start")

    def stop(self, fast=True):
        if self.proc and self.proc.poll() is None:
            r = self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "fast" if fast else "immediate",
                           "-w", "stop"], timeout=60)
            if r.returncode and self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    @property
    def conninfo(self):
        return "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port

    def psql(self, sql, check=True):
        r = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", sql],
                           capture_output=True, text=True, timeout=300)
        if check and r.returncode:
            raise RuntimeError("psql failed: %s\n%s" % (sql[:200], r.stderr))
        return r

    def query(self, sql):
        return self.psql(sql).stdout

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
