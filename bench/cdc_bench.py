#!/usr/bin/env python3
# cdc_bench.py - sealdb-cdc under a pgbench load (make bench): a PostgreSQL initialised here
# (wal_level=logical, fsync on), pgbench's standard TPC-B-like transactions (3 updates and 1 insert,
# pgbench_history given a primary key). Four runs of the same load: PostgreSQL alone; PostgreSQL with
# a do-nothing logical consumer (pg_recvlogical, pgoutput, written to /dev/null); PostgreSQL with
# sealdb-cdc recording it into a real sealdb; PostgreSQL alone again (the tables have grown: the two
# runs alone bracket the others, and one run alone varies by 15-20% from run to run). Prints
#   bench cdc.pg_rows_s: N rows/s     PostgreSQL's own rate for the load (no recorder): the mean of the
#                                     runs alone before and after
#   bench cdc.pg_rows_s_floor: N rows/s   PostgreSQL's rate while a logical consumer that does nothing
#                                     follows it: what logical decoding itself (the walsender) leaves
#                                     of PostgreSQL's rate, the most any recorder can reach
#   bench cdc.rows_s: N rows/s        rows recorded in sealdb per second, from the load's start until
#                                     the recorder has caught up with its last transaction
#   bench cdc.lag_ms_p99: N ms        99th percentile of (recorded in sealdb - committed in PostgreSQL)
#   bench cdc.pg_rows_s_recorded: N rows/s   PostgreSQL's rate during the recorded run (the machine is
#                                     shared by both: compare with cdc.rows_s to see who was the limit)
#   bench cdc.cdc_cpu_us_row: N us/row     sealdb-cdc's CPU (user+system, /proc) per recorded row
#   bench cdc.sealdb_cpu_us_row: N us/row  sealdb's CPU per recorded row (both: load-independent)
#   bench cdc.cdc_ctxsw_tx, cdc.sealdb_ctxsw_tx: N switches/tx   context switches of each process's
#                                     threads per recorded PostgreSQL transaction (hand-offs and waits)
#   bench cdc.resent_pct: N %          pipelined txs that overtook their predecessor and were sent again
#   bench cdc.pg_busy_pct: N %         the machine's CPU busy (all cores, /proc/stat) while PostgreSQL ran alone
#   bench cdc.pg_cpu_us_row: N us/row  the machine's CPU per row while PostgreSQL ran alone (PostgreSQL and
#                                      pgbench): what a recorded row costs before the recorder adds its own
#   bench cdc.rec_busy_pct: N %        the machine's CPU busy during the recorded run
#   bench cdc.rows_pct_pg: N %         cdc.rows_s as a share of cdc.pg_rows_s (the target: >= 80)
#   bench cdc.rows_pct_floor: N %      cdc.rows_s as a share of cdc.pg_rows_s_floor: the recorder's own cost
# Usage: cdc_bench.py [--seconds S] [--clients C] [--pipeline N] [--send-window-ms N]; SEALDB_BIN sets the server
# (sealdb-cdc beside it).
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from pg_proc import PgServer, pg_bindir  # noqa: E402
from sealdb_proc import SealdbServer, free_port  # noqa: E402

SEALDB = os.path.abspath(os.environ.get("SEALDB_BIN") or os.path.join(ROOT, "build", "sealdb"))
CDC = os.path.join(os.path.dirname(SEALDB), "sealdb-cdc")
ROWS_PER_TX = 4


def pgbench(pg, clients, seconds):
    """Runs the TPC-B-like load; returns the transactions committed (from pgbench's own count)."""
    r = subprocess.run([os.path.join(pg.bindir, "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                        "postgres", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "postgres"],
                       capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode:
        raise RuntimeError("pgbench failed: " + r.stderr[-2000:])
    for line in r.stdout.splitlines():
        if line.startswith("number of transactions actually processed:"):
            return int(line.split(":")[1].split("/")[0])
    raise RuntimeError("pgbench printed no count:\n" + r.stdout)


def cpu_s(pid):
    """User + system CPU seconds a live process has used (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        p = f.read().rsplit(")", 1)[1].split()
    return (int(p[11]) + int(p[12])) / os.sysconf("SC_CLK_TCK")


def ctxsw(pid):
    """Context switches (voluntary and not) of a live process's threads so far."""
    n = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        n += int(line.split()[1])
        except OSError:
            pass
    return n


def busy_jiffies():
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat's first line."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return total - idle, total


def decoding_floor(pg, clients, seconds, root):
    """pgbench with pg_recvlogical following a pgoutput slot of the same publication sealdb-cdc reads
    (protocol 1, text mode, as sealdb-cdc asks), written to /dev/null; returns pgbench's tx count."""
    base = [os.path.join(pg.bindir, "pg_recvlogical"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
            "-d", "postgres", "-S", "bench_floor"]
    subprocess.run(base + ["-P", "pgoutput", "--create-slot"], capture_output=True, check=True, timeout=60)
    rl = subprocess.Popen(base + ["--start", "-o", "proto_version=1", "-o", "publication_names=sealdb_cdc",
                                  "-f", "/dev/null"], stderr=open(os.path.join(root, "recvlogical.log"), "w"))
    try:
        time.sleep(1.0)
        if rl.poll() is not None:
            raise RuntimeError("pg_recvlogical exited: " + open(os.path.join(root, "recvlogical.log")).read())
        n = pgbench(pg, clients, seconds)
        if rl.poll() is not None:
            raise RuntimeError("pg_recvlogical exited during the load")
        return n
    finally:
        rl.terminate()
        rl.wait(30)
        # an inactive slot would keep WAL for the later runs
        pg.psql("SELECT pg_drop_replication_slot('bench_floor')")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--pipeline", type=int, default=0, help="sealdb-cdc's --pipeline (default: its own)")
    ap.add_argument("--send-window-ms", type=int, default=-1, help="sealdb-cdc's --send-window-ms (default: its own)")
    a = ap.parse_args()
    if pg_bindir() is None or not os.access(CDC, os.X_OK):
        print("# cdc bench skipped: PostgreSQL server binaries or %s missing" % CDC)
        return 0
    root = tempfile.mkdtemp(prefix="sealdb-cdc-bench-")
    pg = PgServer()
    srv = None
    cdc = None
    try:
        pg.init(fsync=True).start()
        subprocess.run([os.path.join(pg.bindir, "pgbench"), "-i", "-q", "-s", "4", "-h", "127.0.0.1", "-p",
                        str(pg.port), "-U", "postgres", "postgres"], capture_output=True, check=True, timeout=300)
        pg.psql("ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY")
        # sealdb-cdc --create-slot keeps a publication that exists
        pg.psql("CREATE PUBLICATION sealdb_cdc FOR ALL TABLES")
        # 1. PostgreSQL alone
        m0 = busy_jiffies()
        n_alone = pgbench(pg, a.clients, a.seconds)
        m1 = busy_jiffies()
        # 2. PostgreSQL followed by a logical consumer that does nothing
        floor_rows_s = decoding_floor(pg, a.clients, a.seconds, root) * ROWS_PER_TX / a.seconds
        # 3. the same load, recorded
        srv = SealdbServer(os.path.join(root, "sealdb"))
        os.makedirs(srv.root, exist_ok=True)
        srv.start()
        lag_log = os.path.join(root, "lag.log")
        env = dict(os.environ, SEALDB_PASSWORD="immudb")
        mport = free_port()
        args = [CDC, "--pg", pg.conninfo, "--sealdb", srv.address, "--create-slot", "-q", "--lag-log", lag_log,
                "--metrics", "127.0.0.1:%d" % mport]
        if a.pipeline:
            args += ["--pipeline", str(a.pipeline)]
        if a.send_window_ms >= 0:
            args += ["--send-window-ms", str(a.send_window_ms)]
        cdc = subprocess.Popen(args, env=env, stderr=open(os.path.join(root, "cdc.log"), "w"))
        time.sleep(1.0)
        cpu0 = (cpu_s(cdc.pid), cpu_s(srv.proc.pid))
        sw0 = (ctxsw(cdc.pid), ctxsw(srv.proc.pid))
        t0 = time.time()
        r0 = busy_jiffies()
        n = pgbench(pg, a.clients, a.seconds)
        r1 = busy_jiffies()
        # wait until the recorder has every row: pgbench's count of transactions, 4 rows each
        want = n * ROWS_PER_TX
        deadline = time.time() + 600
        rows, last_rec = 0, 0
        while time.time() < deadline:
            rows, last_rec = 0, 0
            if os.path.exists(lag_log):
                with open(lag_log) as f:
                    for line in f:
                        p = line.split()
                        if len(p) == 4:
                            rows += int(p[3])
                            last_rec = int(p[2])
            if rows >= want:
                break
            time.sleep(0.2)
        if rows < want:
            raise RuntimeError("recorded %d of %d rows" % (rows, want))
        cpu1 = (cpu_s(cdc.pid), cpu_s(srv.proc.pid))
        sw1 = (ctxsw(cdc.pid), ctxsw(srv.proc.pid))
        m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read().decode()
        metric = {ln.split()[0]: float(ln.split()[1]) for ln in m.splitlines() if ln and not ln.startswith("#")}
        elapsed = max(last_rec / 1e6 - t0, a.seconds)
        lags = []
        with open(lag_log) as f:
            for line in f:
                p = line.split()
                if len(p) == 4:
                    lags.append((int(p[2]) - int(p[1])) / 1000.0)
        lags.sort()
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0.0
        cdc.terminate()
        cdc.wait(30)
        srv.stop()
        srv = None
        pg.psql("SELECT pg_drop_replication_slot('sealdb_cdc')")
        # 4. PostgreSQL alone again
        m2 = busy_jiffies()
        n_alone += pgbench(pg, a.clients, a.seconds)
        m3 = busy_jiffies()
        pg_rows_s = n_alone * ROWS_PER_TX / (2 * a.seconds)
        rows_s = rows / elapsed
        print("bench cdc.pg_rows_s: %.0f rows/s" % pg_rows_s)
        hz = os.sysconf("SC_CLK_TCK")
        print("bench cdc.pg_rows_s_floor: %.0f rows/s" % floor_rows_s)
        print("bench cdc.rows_s: %.0f rows/s" % rows_s)
        print("bench cdc.lag_ms_p99: %.1f ms" % p99)
        print("bench cdc.pg_rows_s_recorded: %.0f rows/s" % (want / a.seconds))
        print("bench cdc.cdc_cpu_us_row: %.1f us/row" % ((cpu1[0] - cpu0[0]) * 1e6 / max(rows, 1)))
        print("bench cdc.sealdb_cpu_us_row: %.1f us/row" % ((cpu1[1] - cpu0[1]) * 1e6 / max(rows, 1)))
        ntx = max(n, 1)
        print("bench cdc.cdc_ctxsw_tx: %.2f switches/tx" % ((sw1[0] - sw0[0]) / ntx))
        print("bench cdc.sealdb_ctxsw_tx: %.2f switches/tx" % ((sw1[1] - sw0[1]) / ntx))
        print("bench cdc.resent_pct: %.1f %%" % (100.0 * metric.get("sealdb_cdc_reorders_total", 0) /
                                                  max(metric.get("sealdb_cdc_sealdb_transactions_total", 1), 1)))
        busy, total = m1[0] - m0[0] + m3[0] - m2[0], m1[1] - m0[1] + m3[1] - m2[1]
        print("bench cdc.pg_busy_pct: %.0f %%" % (100.0 * busy / max(total, 1)))
        print("bench cdc.pg_cpu_us_row: %.1f us/row" % (busy / hz * 1e6 / max(n_alone * ROWS_PER_TX, 1)))
        print("bench cdc.rec_busy_pct: %.0f %%" % (100.0 * (r1[0] - r0[0]) / max(r1[1] - r0[1], 1)))
        print("bench cdc.rows_pct_pg: %.0f %%" % (100.0 * rows_s / max(pg_rows_s, 1)))
        print("bench cdc.rows_pct_floor: %.0f %%" % (100.0 * rows_s / max(floor_rows_s, 1)))
        return 0
    finally:
        if cdc and cdc.poll() is None:
            cdc.terminate()
            cdc.wait(30)
        if srv:
            srv.stop()
        pg.cleanup()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
