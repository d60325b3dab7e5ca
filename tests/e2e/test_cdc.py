# test_cdc.py - sealdb-cdc against a real PostgreSQL (initdb'd by pg_proc.py with wal_level=logical)
# and a real sealdb: types, updates of a primary key, TOAST, truncate, a 100k-row transaction, ADD
# COLUMN mid-stream, kill -9 of sealdb-cdc and of sealdb under a pgbench load (every PostgreSQL
# transaction then recorded exactly once, in commit order), a PostgreSQL restart, the final table
# contents against the latest row versions, and the proofs of `seal cdc-history` / `seal cdc-verify`.
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from immudb_ref import immudb_factory, immudb_ref  # noqa: F401 (fixtures)
from pg_proc import PgServer, pg_bindir
from sealcli import Env
from sealdb_proc import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CDC_BIN = os.environ.get("SEALDB_CDC_BIN") or os.path.join(os.path.dirname(os.path.abspath(
    os.environ.get("SEALDB_BIN") or os.path.join(ROOT, "build", "sealdb"))), "sealdb-cdc")

@pytest.fixture(scope="module")
def pg():
    # a missing PostgreSQL fails these tests (never a skip): scripts/install-deps.sh --test installs it
    if pg_bindir() is None:
        pytest.fail("PostgreSQL server binaries not installed (run scripts/install-deps.sh --test)")
    p = PgServer().init().start()
    yield p
    p.cleanup()


class Cdc:
    """One sealdb-cdc process following slot `slot` into server `srv`."""

    def __init__(self, pg, srv, slot, tables, root, extra=(), env=None):
        self.pg, self.srv, self.slot, self.tables, self.root = pg, srv, slot, tables, root
        self.extra = list(extra)
        self.env = dict(env or {})
        self.conninfo = pg.conninfo
        self.metrics_port = free_port()
        self.proc = None
        self.log_path = os.path.join(root, "cdc-%s.log" % slot)

    def args(self):
        return [CDC_BIN, "--pg", self.conninfo, "--sealdb", "127.0.0.1:%d" % self.srv.port,
                "--slot", self.slot, "--publication", self.slot, "--tables", ",".join(self.tables),
                "--create-slot", "--metrics", "127.0.0.1:%d" % self.metrics_port, "-v", "-v"] + self.extra

    def start(self, wait=True):
        env = dict(os.environ, SEALDB_PASSWORD="immudb")
        env.update(self.env)
        self.proc = subprocess.Popen(self.args(), stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, env=env)
        if wait:   # following the slot: what commits from now on is streamed
            deadline = time.time() + 30
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    if "\nsealdb_cdc_connected 1\n" in self.metrics():
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            raise AssertionError("sealdb-cdc did not start following its slot:\n" + self.log()[-2000:])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(30)
            self.proc = None
            return rc
        return self.proc.returncode if self.proc else None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5) as r:
            return r.read().decode()


@pytest.fixture
def rig(pg, sealdb):
    made = []
    root = tempfile.mkdtemp(prefix="sealdb-cdc-")

    def make(slot, tables, extra=(), env=None):
        c = Cdc(pg, sealdb, slot, tables, root, extra, env)
        made.append(c)
        return c
    yield make
    for c in made:
        try:
            c.stop()
        except Exception:
            c.kill9()
        if os.environ.get("CDC_TEST_LOGS"):
            print(c.log())
    shutil.rmtree(root, ignore_errors=True)


def key(table, **pk):
    return ("cdc/public.%s/" % table + json.dumps({k: str(v) for k, v in pk.items()}, separators=(",", ":"))).encode()


def history(client, k):
    out, off = [], 0
    while True:
        try:
            h = client.history(k, off, 1000, False)
        except Exception as e:  # immudb-py raises on a key never written
            if "not found" in str(e).lower():
                return out
            raise
        out += [json.loads(x.value) for x in h]
        if len(h) < 1000:
            return out
        off += len(h)


def latest_rows(client, table, page_size=1000):
    """{pk JSON: row} of the live rows of table in sealdb (tombstones dropped)."""
    prefix = ("cdc/public.%s/" % table).encode()
    rows, seek = {}, b""
    while True:
        page = client.scan(seek, prefix, False, page_size)
        for k, v in page.items():
            val = json.loads(v)
            if val["row"] is not None:
                rows[k[len(prefix):].decode()] = val["row"]
        if len(page) < page_size:
            return rows
        seek = max(page)


def sync(pg, client, slot, timeout=90):
    """Waits until everything committed in PostgreSQL so far is recorded: a marker row committed now
    is recorded last (transactions are recorded in commit order)."""
    n = pg.query("INSERT INTO %s_sync DEFAULT VALUES RETURNING id" % slot).strip()
    k = key("%s_sync" % slot, id=n)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if client.get(k) is not None:
                return
        except Exception:
            pass
        time.sleep(0.1)
    act = pg.query("SELECT pid, backend_type, state, wait_event, left(query, 80) FROM pg_stat_activity")
    raise AssertionError("marker %s not recorded in %ss; PostgreSQL sessions:\n%s" % (k, timeout, act))


def pg_rows(pg, table, pkcols):
    """{pk JSON: row} of the table in PostgreSQL, every value in its text form."""
    out = pg.query("SELECT json_agg(x) FROM (SELECT * FROM %s) x" % table).strip()
    if not out:
        return {}
    # the text form of each column, as pgoutput sends it
    cols = [c for c in pg.query("SELECT attname FROM pg_attribute WHERE attrelid = '%s'::regclass AND attnum > 0 "
                                "AND NOT attisdropped ORDER BY attnum" % table).split("\n") if c]
    bools = set(pg.query("SELECT attname FROM pg_attribute WHERE attrelid = '%s'::regclass AND atttypid = "
                         "'bool'::regtype" % table).split())
    # bool's cast to text says true/false; its output function (pgoutput's text mode) t/f
    sel = ", ".join(("CASE WHEN %s THEN 't' WHEN NOT %s THEN 'f' END AS %s" % (c, c, c)) if c in bools
                    else "%s::text AS %s" % (c, c) for c in cols)
    data = json.loads(pg.query("SELECT coalesce(json_agg(x), '[]') FROM (SELECT %s FROM %s) x" % (sel, table)))
    return {json.dumps({c: r[c] for c in pkcols}, separators=(",", ":")): r for r in data}


def seal(srv, *args):
    home = tempfile.mkdtemp(prefix="seal-home-")
    return Env(srv, home).run("--username", "immudb", *args)


def test_types_updates_deletes_truncate(pg, sealdb, rig):
    pg.psql("""CREATE TABLE ty_sync (id serial primary key);
        CREATE TABLE ty_a (id int primary key, t text, n numeric, j jsonb, b bytea, arr int[], ts timestamptz,
                           f float8, ok boolean, u uuid);
        CREATE TABLE ty_b (k1 text, k2 int, v text, primary key (k1, k2));""")
    cdc = rig("ty", ["public.ty_sync", "public.ty_a", "public.ty_b"]).start()
    c = sealdb.client()
    sync(pg, c, "ty")
    pg.psql("""INSERT INTO ty_a VALUES (1, E'quote" back\\\\ tab\\t nl\\n é', 12345678901234567890.123456789,
                 '{"a": [1, 2, {"b": null}]}', '\\x00ff10', '{1,NULL,3}', '2026-01-02 03:04:05.678901+00', 1.5e300,
                 true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
        INSERT INTO ty_a (id) VALUES (2), (3);
        INSERT INTO ty_b VALUES ('x', 1, 'one'), ('x', 2, 'two');""")
    pg.psql("BEGIN; UPDATE ty_a SET t = 'second' WHERE id = 1; UPDATE ty_a SET t = 'third' WHERE id = 1; COMMIT;")
    pg.psql("UPDATE ty_a SET id = 20 WHERE id = 2")          # primary key change
    pg.psql("DELETE FROM ty_a WHERE id = 3")
    pg.psql("UPDATE ty_b SET k2 = 3 WHERE k2 = 2")
    # PostgreSQL itself refuses a NUL in text: nothing to record
    r = pg.psql("INSERT INTO ty_a (id, t) VALUES (99, E'a\\\\000b'::text || chr(0))", check=False)
    assert r.returncode != 0
    sync(pg, c, "ty")

    h1 = history(c, key("ty_a", id=1))
    assert [v["op"] for v in h1] == ["insert", "update", "update"]
    assert [v["row"]["t"] for v in h1] == ['quote" back\\ tab\t nl\n é', "second", "third"]
    first = h1[0]["row"]
    assert first["n"] == "12345678901234567890.123456789"
    assert json.loads(first["j"]) == {"a": [1, 2, {"b": None}]}
    assert first["b"] == "\\x00ff10" and first["arr"] == "{1,NULL,3}"
    assert first["ts"] == "2026-01-02 03:04:05.678901+00" and first["ok"] == "t"
    assert first["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" and first["f"] == "1.5e+300"
    assert h1[1]["xid"] == h1[2]["xid"] and h1[1]["lsn"] == h1[2]["lsn"]   # one PG tx
    # each tx's own xid, commit LSN and time (formatted once per tx), never a previous tx's
    assert h1[0]["xid"] != h1[1]["xid"] and h1[0]["lsn"] != h1[1]["lsn"]
    assert h1[0]["commit_time"] <= h1[1]["commit_time"] and h1[0]["commit_time"].endswith("Z")
    assert str(h1[2]["xid"]) == pg.query("SELECT xmin FROM ty_a WHERE id = 1").strip()
    # the moved key: a tombstone naming the new key, and the new key naming the old one
    h2 = history(c, key("ty_a", id=2))
    assert h2[-1]["row"] is None and h2[-1]["new_key"] == {"id": "20"}
    h20 = history(c, key("ty_a", id=20))
    assert h20[0]["old_key"] == {"id": "2"} and h20[0]["row"]["id"] == "20"
    h3 = history(c, key("ty_a", id=3))
    assert [v["op"] for v in h3] == ["insert", "delete"] and h3[-1]["row"] is None
    assert history(c, key("ty_a", id=99)) == []
    assert latest_rows(c, "ty_b").keys() == {'{"k1":"x","k2":"1"}', '{"k1":"x","k2":"3"}'}

    # final contents: PostgreSQL's rows are exactly the latest live versions in sealdb
    la, pa = latest_rows(c, "ty_a"), pg_rows(pg, "ty_a", ["id"])
    assert la == pa, [(k, c_, la[k][c_], pa[k][c_]) for k in la for c_ in la[k] if la[k][c_] != pa.get(k, {}).get(c_)]
    assert latest_rows(c, "ty_b") == pg_rows(pg, "ty_b", ["k1", "k2"])

    pg.psql("INSERT INTO ty_b VALUES ('y', 1, 'new'); TRUNCATE ty_b;")   # truncate in the same tx as an insert
    sync(pg, c, "ty")
    assert latest_rows(c, "ty_b") == {}
    assert history(c, key("ty_b", k1="y", k2=1))[-1]["op"] == "truncate"

    # the auditor's view: each version proven; the slot's transactions present and in order
    p = seal(sealdb, "cdc-history", "public.ty_a", '{"id": 1}')
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("verified") == 3 and "third" in p.stdout
    p = seal(sealdb, "--json", "cdc-history", "ty_b", '{"k1": "x", "k2": 1}')
    assert p.returncode == 0, p.stderr
    assert [json.loads(v["value"])["op"] for v in json.loads(p.stdout)["versions"]] == ["insert", "truncate"]
    assert seal(sealdb, "cdc-history", "ty_a", '{"id": 404}').returncode == 1
    assert seal(sealdb, "cdc-history", "ty_a", '[1]').returncode == 1
    p = seal(sealdb, "cdc-verify", "--slot", "ty")
    assert p.returncode == 0 and "in order" in p.stdout, (p.stdout, p.stderr)
    m = cdc.metrics()
    assert "sealdb_cdc_rows_total" in m and "sealdb_cdc_lag_bytes" in m and "\nsealdb_cdc_connected 1\n" in m
    assert cdc.stop() == 0


def test_table_name_with_a_slash_and_moved_key(pg, sealdb, rig):
    pg.psql('CREATE TABLE oc_sync (id serial primary key); CREATE TABLE "oc/t" (id int primary key, v text)')
    cdc = rig("oc", ["public.oc_sync", "public.oc/t"]).start()
    c = sealdb.client()
    pg.psql('INSERT INTO "oc/t" VALUES (1, \'a\'); UPDATE "oc/t" SET id = 2 WHERE id = 1')
    sync(pg, c, "oc")
    h = history(c, b'cdc/public.oc/t/{"id":"2"}')
    assert h[0]["old_key"] == {"id": "1"} and h[0]["table"] == "public.oc/t"
    assert history(c, b'cdc/public.oc/t/{"id":"1"}')[-1]["new_key"] == {"id": "2"}
    p = seal(sealdb, "cdc-history", "public.oc/t", '{"id": 2}')
    assert p.returncode == 0 and "verified" in p.stdout, p.stderr
    assert cdc.stop() == 0


def test_toast_and_add_column(pg, sealdb, rig):
    pg.psql("""CREATE TABLE to_sync (id serial primary key);
        CREATE TABLE to_t (id int primary key, big text, small int);
        ALTER TABLE to_t ALTER COLUMN big SET STORAGE EXTERNAL;""")
    cdc = rig("to", ["public.to_sync", "public.to_t"], extra=["--proto", "2"]).start()   # protocol 2 here
    c = sealdb.client()
    sync(pg, c, "to")
    big = "".join(random.choice("abcdefghij") for _ in range(100000))
    pg.psql("INSERT INTO to_t VALUES (1, '%s', 0)" % big)
    pg.psql("UPDATE to_t SET small = 1 WHERE id = 1")          # big is TOASTed and unchanged: not sent
    pg.psql("ALTER TABLE to_t ADD COLUMN extra text DEFAULT 'd'")
    pg.psql("UPDATE to_t SET small = 2, extra = 'e' WHERE id = 1; INSERT INTO to_t (id, big, small) VALUES (2, 'b', 5)")
    sync(pg, c, "to")
    h = history(c, key("to_t", id=1))
    assert [v["row"]["small"] for v in h] == ["0", "1", "2"]
    assert all(v["row"]["big"] == big for v in h) and not any(v.get("incomplete") for v in h)
    assert h[2]["row"]["extra"] == "e" and "extra" not in h[1]["row"]
    assert latest_rows(c, "to_t") == pg_rows(pg, "to_t", ["id"])
    assert cdc.stop() == 0


def test_100k_row_transaction(pg, sealdb, rig):
    pg.psql("CREATE TABLE big_sync (id serial primary key); CREATE TABLE big_t (id int primary key, v text)")
    cdc = rig("big", ["public.big_sync", "public.big_t"]).start()
    c = sealdb.client()
    sync(pg, c, "big")
    lsn0 = c.get(b"cdc/_cdc/big/lsn").value
    pg.psql("INSERT INTO big_t SELECT g, 'row ' || g FROM generate_series(1, 100000) g")
    # kill -9 once the first parts are written: the restart resumes at the next part
    deadline = time.time() + 60
    while time.time() < deadline and c.get(b"cdc/_cdc/big/part") is None:
        time.sleep(0.01)
    cdc.kill9()
    assert c.get(b"cdc/_cdc/big/lsn").value == lsn0, "the whole tx was recorded before the kill"
    cdc.start()
    sync(pg, c, "big", timeout=170)
    assert "resuming the transaction" in cdc.log()
    rows = latest_rows(c, "big_t")
    assert len(rows) == 100000 and rows['{"id":"77777"}'] == {"id": "77777", "v": "row 77777"}
    for i in random.Random(3).sample(range(1, 100001), 30) + [1, 100000]:
        assert len(history(c, key("big_t", id=i))) == 1, i
    # one PG tx in several sealdb txs (the server's 1024 entries per tx), the LSN key in the last one
    p = seal(sealdb, "--json", "cdc-verify", "--slot", "big", "--limit", "5")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["sealdb_transactions"] >= out["transactions"] + 97
    assert cdc.stop() == 0


def test_large_values_split_by_bytes(pg, sealdb, rig):
    # 40 rows of 300 KB in one PostgreSQL tx: 12 MB, cut at --max-batch-bytes (8 MiB) into two
    # sealdb txs, each one ExecAll message well below the server's 32 MiB limit
    pg.psql("CREATE TABLE lv_sync (id serial primary key); CREATE TABLE lv_t (id int primary key, v text)")
    cdc = rig("lv", ["public.lv_sync", "public.lv_t"]).start()
    c = sealdb.client()
    pg.psql("INSERT INTO lv_t SELECT g, repeat(md5(g::text), 9375) FROM generate_series(1, 40) g")
    sync(pg, c, "lv", timeout=120)
    rows = latest_rows(c, "lv_t", page_size=5)   # immudb-py receives at most 4 MB
    assert len(rows) == 40 and all(len(r["v"]) == 300000 for r in rows.values())
    p = seal(sealdb, "--json", "cdc-verify", "--slot", "lv", "--limit", "2")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["sealdb_transactions"] == out["transactions"] + 1     # the 12 MB tx in two parts
    assert cdc.stop() == 0


def test_no_primary_key_refused_or_full(pg, sealdb, rig):
    pg.psql("CREATE TABLE np_sync (id serial primary key); CREATE TABLE np_t (a int, b text)")
    cdc = rig("np", ["public.np_sync", "public.np_t"]).start()
    pg.psql("INSERT INTO np_t VALUES (1, 'x')")
    assert cdc.proc.wait(60) == 1
    assert "np_t has no primary key" in cdc.log()
    # with REPLICA IDENTITY FULL and --no-pk=full: keyed by all columns, old rows recorded
    pg.psql("CREATE TABLE npf_sync (id serial primary key); CREATE TABLE npf_t (a int, b text);"
            "ALTER TABLE npf_t REPLICA IDENTITY FULL")
    cdc2 = rig("npf", ["public.npf_sync", "public.npf_t"], extra=["--no-pk", "full"]).start()
    c = sealdb.client()
    pg.psql("INSERT INTO npf_t VALUES (2, 'y'); UPDATE npf_t SET b = 'z' WHERE a = 2")
    pg.psql("DELETE FROM npf_t")
    sync(pg, c, "npf")
    h = history(c, key("npf_t", a=2, b="y"))
    assert [v["op"] for v in h] == ["insert", "update"]
    assert h[-1]["row"] is None and h[-1]["new_key"] == {"a": "2", "b": "z"}
    h = history(c, key("npf_t", a=2, b="z"))
    assert h[0]["old"] == {"a": "2", "b": "y"} and h[1]["op"] == "delete" and h[1]["old"] == {"a": "2", "b": "z"}
    assert cdc2.stop() == 0


PGBENCH = """BEGIN;
INSERT INTO ld_ev (client, v) VALUES (:client_id, md5(random()::text));
UPDATE ld_counter SET n = n + 1 WHERE id = 1;
END;
"""


# split: every tx in two parts, one at a time; pipelined: up to 16 txs in flight (the default) on one
# ExecAllBatchStream, which commits them in order (the order guard is never hit); the test hook makes the
# session use unary ExecAlls, which the server may run in any order:
# swapped: the hook sends every second tx before its predecessor, so the order guard is hit;
# reversed: groups of three sent newest first, so a tx is sent again while the one before it is
# itself being sent again (the younger one's resend guarded by the older one's)
@pytest.mark.parametrize("mode", ["split", "pipelined", "swapped", "reversed"])
def test_kill9_under_load_exactly_once(pg, sealdb, rig, mode):
    pg.psql("""DROP TABLE IF EXISTS ld_sync, ld_ev, ld_counter;
        CREATE TABLE ld_sync (id serial primary key);
        CREATE TABLE ld_ev (id bigserial primary key, client int, v text);
        CREATE TABLE ld_counter (id int primary key, n bigint);
        INSERT INTO ld_counter VALUES (1, 0);""")
    tables = ["public.ld_sync", "public.ld_ev", "public.ld_counter"]
    slot = "ld_" + mode
    c = sealdb.client()
    extra = ["--max-batch-rows", "1"] if mode == "split" else ["--pipeline", "16"]
    swap = {"swapped": "1", "reversed": "2"}.get(mode)
    cdc = rig(slot, tables, extra=extra, env={"SEALDB_CDC_TEST_SWAP": swap} if swap else None).start()
    sync(pg, c, "ld")
    script = os.path.join(pg.root, "ld.sql")
    with open(script, "w") as f:
        f.write(PGBENCH)
    bench = subprocess.Popen([os.path.join(pg.bindir, "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(pg.port),
                              "-U", "postgres", "-c", "2", "-T", "14", "-f", script, "postgres"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rnd = random.Random(7)
    # kill -9 of sealdb-cdc, twice, at random points
    for _ in range(2):
        time.sleep(rnd.uniform(0.5, 1.5))
        cdc.kill9()
        time.sleep(rnd.uniform(0.0, 0.3))
        cdc.start(wait=False)
    # kill -9 of sealdb: same directory and port; sealdb-cdc reconnects by itself
    time.sleep(rnd.uniform(0.5, 1.5))
    port = sealdb.port
    sealdb.kill9()
    sealdb.port = port
    time.sleep(0.3)
    sealdb.start()
    # PostgreSQL restart mid-load (pgbench's connections fail: it is restarted after)
    time.sleep(1.0)
    pg.restart()
    bench.wait(60)
    subprocess.run([os.path.join(pg.bindir, "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                    "postgres", "-c", "2", "-t", "100", "-f", script, "postgres"], capture_output=True, timeout=120)
    c = sealdb.client()
    sync(pg, c, "ld", timeout=120)
    n = int(pg.query("SELECT n FROM ld_counter WHERE id = 1"))
    assert n > 200
    # every committed counter update exactly once, in commit order: the versions are 1..n (the
    # row's insert predates the slot)
    h = history(c, key("ld_counter", id=1))
    assert [int(v["row"]["n"]) for v in h] == list(range(1, n + 1))
    # every event row recorded once; the latest versions equal the table
    ev = latest_rows(c, "ld_ev")
    assert ev == pg_rows(pg, "ld_ev", ["id"])
    for k in rnd.sample(sorted(ev), 20):
        assert len(history(c, ("cdc/public.ld_ev/" + k).encode())) == 1
    assert "reconnecting" in cdc.log()
    p = seal(sealdb, "cdc-verify", "--slot", slot, "--limit", "300")
    assert p.returncode == 0, (p.stdout, p.stderr)
    m = cdc.metrics()
    assert cdc.stop() == 0
    log = cdc.log()
    reorders = int(m.split("\nsealdb_cdc_reorders_total ")[1].split()[0])
    if swap:   # the guard caught txs that overtook their predecessor
        assert reorders > 0, m
    else:      # on the stream no tx overtakes another
        assert reorders == 0, m
        assert "no ExecAllBatchStream" not in log
    if mode == "reversed":   # and resent ones behind an older one being resent
        assert "guarded by the predecessor's marker" in log
    if mode != "split":     # pipelined txs carry their marker; a split tx does not need one
        assert c.scan(b"", ("cdc/_cdc/%s/tx/" % slot).encode(), False, 5)
    pg.query("SELECT pg_drop_replication_slot('%s')" % slot)


def test_pipeline_falls_back_to_unary_without_execallbatchstream(pg, immudb_ref, tmp_path):
    # immudb 1.9.5 has no ExecAllBatchStream: its first answer is Unimplemented, every tx in flight is sent
    # again as a unary ExecAll, and the session goes on that way, saying so once
    from immudb_ref import ADMIN_PW
    pg.psql("""DROP TABLE IF EXISTS fb_sync, fb_t; CREATE TABLE fb_sync (id serial primary key);
        CREATE TABLE fb_t (id int primary key, v text);""")
    cdc = Cdc(pg, immudb_ref, "fb", ["public.fb_sync", "public.fb_t"], str(tmp_path), extra=["--pipeline", "16"],
              env={"SEALDB_PASSWORD": ADMIN_PW}).start()
    c = immudb_ref.client()
    # 300 txs at once: many are in flight when the first answer comes
    pg.psql("".join("BEGIN; INSERT INTO fb_t VALUES (%d, 'v%d'); COMMIT;\n" % (i, i) for i in range(300)))
    sync(pg, c, "fb")
    pg.psql("UPDATE fb_t SET v = v || 'u' WHERE id % 7 = 0")
    sync(pg, c, "fb")
    assert latest_rows(c, "fb_t") == pg_rows(pg, "fb_t", ["id"])
    for i in (0, 7, 299):
        assert len(history(c, key("fb_t", id=i))) == (2 if i % 7 == 0 else 1)
    assert cdc.stop() == 0
    log = cdc.log()
    assert log.count("has no ExecAllBatchStream") == 1, log[-3000:]
    assert "reconnecting" not in log, log[-3000:]
    pg.query("SELECT pg_drop_replication_slot('fb')")


def test_stream_ended_while_idle_is_replaced_in_session(pg, sealdb_factory, tmp_path):
    # sealdb ends an ExecAllBatchStream with nothing in flight after its idle timeout: sealdb-cdc opens a new
    # one at the next send, without ending its session (no reconnect, nothing lost or doubled)
    # (the connection itself is closed one more idle timeout after the stream's end: the sends come
    # between the two, a send after both would find the connection gone and start a new session)
    srv = sealdb_factory(["--max-connection-idle", "3s"])
    pg.psql("""DROP TABLE IF EXISTS id_sync, id_t; CREATE TABLE id_sync (id serial primary key);
        CREATE TABLE id_t (id int primary key, v text);""")
    cdc = Cdc(pg, srv, "id", ["public.id_sync", "public.id_t"], str(tmp_path), extra=["--pipeline", "16"]).start()
    c = srv.client()
    for r in range(4):
        pg.psql("".join("BEGIN; INSERT INTO id_t VALUES (%d, 'v'); COMMIT;\n" % (r * 50 + i) for i in range(50)))
        sync(pg, c, "id")
        if r < 3:
            time.sleep(4.5)   # beyond the idle timeout
    assert latest_rows(c, "id_t") == pg_rows(pg, "id_t", ["id"])
    m = cdc.metrics()
    assert cdc.stop() == 0
    log = cdc.log()
    assert "transaction stream ended while idle" in log, log[-3000:]
    assert "reconnecting" not in log, log[-3000:]
    assert int(m.split("\nsealdb_cdc_reorders_total ")[1].split()[0]) == 0, m
    pg.query("SELECT pg_drop_replication_slot('id')")


def wait_key(client, k, timeout=60):
    """The time at which k is first seen in sealdb (polled every 10 ms)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if client.get(k) is not None:
                return time.time()
        except Exception:
            pass
        time.sleep(0.01)
    raise AssertionError("%s not recorded in %ss" % (k, timeout))


def test_send_window_holds_txs_back_and_sends_them_together(pg, sealdb, rig):
    # --send-window-ms 1000: a pipelined tx waits up to 1 s (from when it was decoded, after its
    # commit) for the ones after it; then all are sent, in order, each still its own sealdb tx
    pg.psql("CREATE TABLE sw_sync (id serial primary key); CREATE TABLE sw_t (id int primary key, v text)")
    cdc = rig("sw", ["public.sw_sync", "public.sw_t"], extra=["--pipeline", "16", "--send-window-ms", "1000"]).start()
    c = sealdb.client()
    sync(pg, c, "sw")
    committed = time.time()
    pg.psql("INSERT INTO sw_t VALUES (1, 'a')")
    assert wait_key(c, key("sw_t", id=1)) - committed >= 0.95
    # three txs within one window: none is recorded before the window ends, then all are, in order
    committed = time.time()
    pg.psql("".join("BEGIN; INSERT INTO sw_t VALUES (%d, 'b'); COMMIT;\n" % i for i in (2, 3, 4)))
    first = wait_key(c, key("sw_t", id=2))
    assert first - committed >= 0.95
    txs = [c.verifiedGet(key("sw_t", id=i)).id for i in (2, 3, 4)]
    assert txs[1] == txs[0] + 1 and txs[2] == txs[1] + 1, txs
    # SIGTERM with a tx held back (received: what PostgreSQL has sent reaches its commit, nothing
    # recorded yet): it is recorded before the process ends
    hi, lo = pg.query("INSERT INTO sw_t VALUES (5, 'c'); SELECT pg_current_wal_lsn()").strip().split("/")
    end = (int(hi, 16) << 32) | int(lo, 16)
    deadline = time.time() + 30
    while True:
        m = cdc.metrics()
        got = {k: int(float(m.split("\n%s " % k)[1].split()[0])) for k in ("sealdb_cdc_last_lsn", "sealdb_cdc_lag_bytes")}
        if got["sealdb_cdc_last_lsn"] + got["sealdb_cdc_lag_bytes"] >= end or time.time() > deadline:
            break
        time.sleep(0.005)
    assert c.get(key("sw_t", id=5)) is None        # held back by the window
    assert cdc.stop() == 0
    assert c.get(key("sw_t", id=5)) is not None
    assert latest_rows(c, "sw_t") == pg_rows(pg, "sw_t", ["id"])
    pg.query("SELECT pg_drop_replication_slot('sw')")


def test_pipeline_bytes_are_bounded(pg, sealdb, rig):
    # the pipeline holds at most 4 x --max-batch-bytes of keys and values: with a long send window
    # and 30 txs of ~1.2 KB, the oldest are recorded once 16 KiB are in flight (36 KB otherwise)
    pg.psql("CREATE TABLE pb_sync (id serial primary key); CREATE TABLE pb_t (id int primary key, v text)")
    cdc = rig("pb", ["public.pb_sync", "public.pb_t"],
              extra=["--pipeline", "64", "--send-window-ms", "1000", "--max-batch-bytes", "4096"]).start()
    c = sealdb.client()
    sync(pg, c, "pb")
    pg.psql("".join("BEGIN; INSERT INTO pb_t VALUES (%d, '%s'); COMMIT;\n" % (i, "x" * 1100) for i in range(30)))
    sync(pg, c, "pb")
    m = cdc.metrics()
    peak = int(m.split("\nsealdb_cdc_inflight_bytes_max ")[1].split()[0])
    assert 8000 < peak <= 4 * 4096, m
    assert int(m.split("\nsealdb_cdc_inflight_transactions ")[1].split()[0]) == 0, m
    txs = [c.verifiedGet(key("pb_t", id=i)).id for i in range(30)]
    assert txs == list(range(txs[0], txs[0] + 30))   # one sealdb tx each, in commit order
    assert latest_rows(c, "pb_t") == pg_rows(pg, "pb_t", ["id"])
    assert cdc.stop() == 0
    pg.query("SELECT pg_drop_replication_slot('pb')")


def test_cdc_history_detects_tampering(pg, sealdb, rig):
    from test_cli_tamper import tamper
    pg.psql("CREATE TABLE tm_sync (id serial primary key); CREATE TABLE tm_t (id int primary key, v text)")
    cdc = rig("tm", ["public.tm_sync", "public.tm_t"]).start()
    c = sealdb.client()
    sync(pg, c, "tm")
    pg.psql("INSERT INTO tm_t VALUES (1, 'original-balance-100')")
    pg.psql("UPDATE tm_t SET v = 'original-balance-200' WHERE id = 1")
    sync(pg, c, "tm")
    assert cdc.stop() == 0
    home = tempfile.mkdtemp(prefix="seal-home-")
    env = Env(sealdb, home)
    env.ok("login", "immudb")
    env.ok("cdc-history", "tm_t", '{"id":1}')          # trusted state saved
    sealdb.stop()
    assert tamper(sealdb.dir, b"original-balance-100", replacement=b"FORGED!!-balance-999") > 0
    sealdb.start()
    env.ok("login", "immudb")
    p = env.run("cdc-history", "tm_t", '{"id":1}')
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "FORGED" not in p.stdout


def test_flags_and_config(pg, sealdb, tmp_path):
    def run(*a, env=None):
        e = dict(os.environ, SEALDB_PASSWORD="immudb")
        e.update(env or {})
        return subprocess.run([CDC_BIN] + list(a), capture_output=True, text=True, env=e, timeout=30)
    assert run("--help").returncode == 0 and "--create-slot" in run("--help").stdout
    assert run().returncode == 2                                     # --pg required
    assert run("--pg", "x", "--slot", "Bad-Name").returncode == 2
    assert run("--pg", "x", "--proto", "3").returncode == 2
    assert run("--pg", "x", "--no-pk", "maybe").returncode == 2
    assert run("--pg", "x", "--sealdb", "nohost").returncode == 2
    assert run("--pg", "x", "--sealdb-ca", "ca.pem").returncode == 2   # needs --sealdb-tls
    assert run("--pg", "x", "--prefix", "a/").returncode == 2
    assert run("--pg", "x", "--max-batch-rows", "0").returncode == 2
    assert run("--pg", "x", "--pipeline", "0").returncode == 2
    assert run("--pg", "x", "--pipeline", "257").returncode == 2
    assert "--pipeline" in run("--help").stdout
    assert run("--pg", "x", "--send-window-ms", "-1").returncode == 2
    p = run("--pg", "x", "--send-window-ms", "1001")
    assert p.returncode == 2 and "--send-window-ms" in p.stderr
    assert "--send-window-ms" in run("--help").stdout
    e = dict(os.environ)
    e.pop("SEALDB_PASSWORD", None)
    p = subprocess.run([CDC_BIN, "--pg", "x"], capture_output=True, text=True, env=e, timeout=30)
    assert p.returncode == 2 and "SEALDB_PASSWORD" in p.stderr
    cfg = tmp_path / "cdc.conf"
    cfg.write_text("# comment\nslot = nope!\n")
    assert run("--config", str(cfg), "--pg", "x").returncode == 2
    cfg.write_text("bogus = 1\n")
    assert "unknown option bogus" in run("--config", str(cfg), "--pg", "x").stderr
    # a config file with everything, and a missing slot without --create-slot: a clear fatal error
    pw = tmp_path / "pw"
    pw.write_text("immudb\n")
    cfg.write_text("pg = %s\nsealdb = 127.0.0.1:%d\nslot = not_there\npassword-file = %s\n"
                   % (pg.conninfo, sealdb.port, pw))
    p = run("--config", str(cfg), env={"SEALDB_PASSWORD": ""})
    assert p.returncode == 1 and "replication slot not_there does not exist" in p.stderr, p.stderr
    # a wrong sealdb password is not retried
    pw.write_text("wrong\n")
    p = run("--config", str(cfg))
    assert p.returncode == 1 and "login" in p.stderr, p.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_to_both_sides(pg, sealdb_factory, tmp_path):
    import pwd
    from test_cli_tls import _ca, _leaf
    d = str(tmp_path)
    _ca(d, "ca")
    _leaf(d, "server", "ca", san="DNS:localhost,IP:127.0.0.1")
    _leaf(d, "client", "ca")
    srv = sealdb_factory(args=["--certificate", d + "/server.pem", "--pkey", d + "/server.key",
                               "--mtls", "--clientcas", d + "/ca.pem"])
    # PostgreSQL: TLS switched on by a reload, its key readable by the server's user only
    for f in ("server.pem", "server.key"):
        shutil.copy(os.path.join(d, f), os.path.join(pg.root, "tls-" + f))
        os.chmod(os.path.join(pg.root, "tls-" + f), 0o600)
        if pg.user:
            pw = pwd.getpwnam(pg.user)
            os.chown(os.path.join(pg.root, "tls-" + f), pw.pw_uid, pw.pw_gid)
    pg.psql("ALTER SYSTEM SET ssl_cert_file = '%s/tls-server.pem'" % pg.root)
    pg.psql("ALTER SYSTEM SET ssl_key_file = '%s/tls-server.key'" % pg.root)
    pg.psql("ALTER SYSTEM SET ssl = on")
    pg.psql("SELECT pg_reload_conf()")
    time.sleep(0.5)
    pg.psql("CREATE TABLE tl_sync (id serial primary key); CREATE TABLE tl_t (id int primary key, v text)")
    root = tempfile.mkdtemp(prefix="sealdb-cdc-")
    cdc = Cdc(pg, srv, "tl", ["public.tl_sync", "public.tl_t"], root,
              extra=["--sealdb-tls", "--sealdb-ca", d + "/ca.pem", "--sealdb-cert", d + "/client.pem",
                     "--sealdb-key", d + "/client.key", "--sealdb-server-name", "localhost"])
    cdc.conninfo = pg.conninfo + " sslmode=verify-ca sslrootcert=%s/ca.pem" % d
    try:
        cdc.start()
        ssl = pg.query("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                       "WHERE a.application_name = 'sealdb-cdc'").strip()
        assert ssl == "t"
        pg.psql("INSERT INTO tl_t VALUES (1, 'over tls')")
        deadline = time.time() + 30
        while time.time() < deadline and "sealdb_cdc_pg_transactions_total 1\n" not in cdc.metrics():
            time.sleep(0.1)
        assert "sealdb_cdc_pg_transactions_total 1\n" in cdc.metrics(), cdc.log()
        assert cdc.stop() == 0
    finally:
        cdc.kill9()
        pg.psql("ALTER SYSTEM SET ssl = off")
        pg.psql("SELECT pg_reload_conf()")
        shutil.rmtree(root, ignore_errors=True)


def test_status_updates_confirm_promptly_when_idle(pg, sealdb, rig):
    """Status updates are coalesced under load, yet the last recorded position reaches PostgreSQL as
    soon as the stream goes idle: with a 1-hour --status-interval, the slot's confirmed_flush_lsn
    must still reach the last recorded transaction within seconds."""
    pg.psql("CREATE TABLE st_sync (id serial primary key); CREATE TABLE st_a (id int primary key, v text);")
    cdc = rig("st", ["public.st_sync", "public.st_a"], extra=["--status-interval", "3600000"]).start()
    c = sealdb.client()
    base = int(cdc.metrics().split("\nsealdb_cdc_pg_transactions_total ")[1].split("\n")[0])
    # with an hour between timed updates, only the coalesced ones and the one sent when idle confirm the burst
    pg.psql("DO $$ BEGIN FOR i IN 1..300 LOOP INSERT INTO st_a VALUES (i, 'v' || i); COMMIT; END LOOP; END $$;")
    deadline = time.time() + 60
    while time.time() < deadline:
        m = cdc.metrics()
        if int(m.split("\nsealdb_cdc_pg_transactions_total ")[1].split("\n")[0]) >= base + 300:
            break
        time.sleep(0.05)
    assert int(m.split("\nsealdb_cdc_pg_transactions_total ")[1].split("\n")[0]) >= base + 300, m
    last = int(m.split("\nsealdb_cdc_last_lsn ")[1].split("\n")[0])
    assert c.get(key("st_a", id=300)) is not None
    confirmed = 0
    deadline = time.time() + 5
    while time.time() < deadline:
        confirmed = int(pg.query("SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots "
                                 "WHERE slot_name = 'st'").strip())
        if confirmed >= last:
            break
        time.sleep(0.1)
    assert confirmed >= last, (confirmed, last)
    # coalesced: one update per recorded tx before (300+); a quick burst now takes a handful
    updates = int(cdc.metrics().split("\nsealdb_cdc_status_updates_total ")[1].split("\n")[0])
    assert 1 <= updates < 150, updates
    assert cdc.stop() == 0
