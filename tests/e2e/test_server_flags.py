# test_server_flags.py - every flag `sealdb --help` lists either works or stops the start with one line
# saying why: one case per flag (a flag added to --help without a case here fails the suite), typed
# values checked at start, unknown flags refused, and the log: JSON lines, the access log, SIGHUP
# reopening --logfile, library noise kept out, and the holder of a locked data directory named.
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import grpc
import pytest
from immudb import ImmudbClient

from sealdb_proc import SEALDB_BIN, free_port


def _help():
    p = subprocess.run([os.path.abspath(SEALDB_BIN), "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    return p.stdout


def _help_flags():
    """{name: (type, description)} for every flag line of --help."""
    out = {}
    for line in _help().splitlines():
        m = re.match(r"^\s+(?:-\w,|   )--([\w-]+) ?(string|int|duration)?\s+(.*)$", line)
        if m:
            out[m.group(1)] = (m.group(2) or "bool", m.group(3))
    return out


def _run(tmp_path, *args, env=None, timeout=15):
    """Runs sealdb expecting it to refuse the start; returns (exit code, stderr lines)."""
    e = dict(os.environ)
    e.update(env or {})
    cmd = [os.path.abspath(SEALDB_BIN), "--dir", str(tmp_path / "d"), "-a", "127.0.0.1", "-p", str(free_port()),
           "--metrics-server-port", str(free_port())] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=e)
    return p.returncode, [ln for ln in p.stderr.splitlines() if ln.strip()]


def _refused(tmp_path, args, reason, env=None):
    rc, lines = _run(tmp_path, *args, env=env)
    assert rc == 2, lines
    assert len(lines) == 1, lines
    assert reason in lines[0], lines
    return lines[0]


def _metrics(srv):
    return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=10).read().decode()


def _start_logging_to(f, args, logfile):
    """A server whose log goes to logfile (the helper's readiness check reads its own log)."""
    s = f(args, start=False)
    s.start(wait=False)
    deadline = time.time() + 30
    while time.time() < deadline:
        assert s.proc.poll() is None, s.log()
        if os.path.exists(logfile) and " serving " in open(logfile).read():
            with socket.create_connection(("127.0.0.1", s.port), timeout=5):
                return s
        time.sleep(0.05)
    raise AssertionError("no serving line in %s" % logfile)


def _tls_client(srv, cert_pem):
    """An immudb-py client whose channel is TLS, trusting cert_pem for the name localhost."""
    c = ImmudbClient(srv.address, timeout=20)
    creds = grpc.ssl_channel_credentials(root_certificates=cert_pem)
    c.channel = grpc.secure_channel(srv.address, creds, options=[("grpc.ssl_target_name_override", "localhost")])
    c._resetStub()
    return c


# ---- one case per flag: each gets (tmp_path, sealdb_factory) and asserts the flag's effect ----

def c_dir(t, f):
    d = str(t / "elsewhere")
    s = f(["--dir", d])
    s.client().set(b"k", b"v")
    assert os.path.isdir(os.path.join(d, "defaultdb")) and not os.path.exists(os.path.join(s.dir, "defaultdb"))


def c_address(t, f):
    s = f()   # the helper binds -a 127.0.0.1
    assert "serving" in s.log() and "on 127.0.0.1:%d" % s.port in s.log()
    rc, lines = _run(t, "-a", "192.0.2.1")   # TEST-NET-1: not an address of this machine
    assert rc == 1 and any("cannot listen on 192.0.2.1:" in ln for ln in lines), lines


def c_port(t, f):
    s = f()
    assert s.client().healthCheck() is True
    _refused(t, ["-p", "70000"], "not a port")


def c_auth(t, f):
    s = f(["--auth=false"])
    c = ImmudbClient(s.address)
    c.set(b"k", b"v")   # no login
    assert c.get(b"k").value == b"v"


def c_admin_password(t, f):
    s = f(["--admin-password", "s3cret-pw"])
    s.client(password="s3cret-pw")
    with pytest.raises(grpc.RpcError):
        s.client(password="immudb")


def c_force_admin_password(t, f):
    s = f(["--admin-password", "first-pw"])
    s.stop()
    s.args = ["--admin-password", "second-pw"]
    s.start()
    s.client(password="first-pw")      # applied only when systemdb is created
    s.stop()
    s.args = ["--admin-password", "second-pw", "--force-admin-password"]
    s.start()
    s.client(password="second-pw")


def c_maintenance(t, f):
    _refused(t, ["--maintenance", "--auth=false"], "maintenance mode is not implemented")
    f(["--maintenance=false"])


def c_devmode(t, f):
    s = f(["--devmode", "--auth=false"])
    assert ImmudbClient(s.address).healthCheck() is True


def c_max_recv_msg_size(t, f):
    s = f(["--max-recv-msg-size", "4096"])
    c = s.client()
    c.set(b"small", b"x" * 100)
    with pytest.raises(grpc.RpcError) as e:
        c.set(b"big", b"x" * 8192)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def c_token_expiry_time(t, f):
    s = f(["--token-expiry-time", "0"])   # valid until the end of the second it was made in
    # login then UseDatabase may straddle a second boundary (seen under ASan): try again then
    for attempt in range(5):
        try:
            c = s.client()
            break
        except grpc.RpcError as e:
            assert "token has expired" in e.details() and attempt < 4
    time.sleep(1.5)
    with pytest.raises(grpc.RpcError) as e:
        c.get(b"k")
    assert "token has expired" in e.value.details()
    s2 = f(["--token-expiry-time", "5"])
    c2 = s2.client()
    time.sleep(1.2)
    c2.set(b"k", b"v")


def c_signingKey(t, f):
    key = t / "signing.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    s = f(["--signingKey", str(key)])
    st = s.client()._stub.CurrentState(__import__("google.protobuf.empty_pb2", fromlist=["Empty"]).Empty())
    assert st.signature.signature and st.signature.publicKey
    st2 = f().client()._stub.CurrentState(__import__("google.protobuf.empty_pb2", fromlist=["Empty"]).Empty())
    assert not st2.signature.signature


def _syncs_for_10_sets(t, synced):
    """fsync/fdatasync calls of a server (under strace) while one client makes 10 Sets."""
    port = free_port()
    out = str(t / ("strace-%s.txt" % synced))
    pf = str(t / ("s-%s.pid" % synced))
    p = subprocess.Popen(["strace", "-f", "-e", "trace=fsync,fdatasync", "-o", out, os.path.abspath(SEALDB_BIN),
                          "--dir", str(t / ("s-%s" % synced)), "-a", "127.0.0.1", "-p", str(port),
                          "--metrics-server=false", "--synced=%s" % synced, "--pidfile", pf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                c = ImmudbClient("127.0.0.1:%d" % port)
                c.login("immudb", "immudb")
                break
            except Exception:
                if time.time() > deadline or p.poll() is not None:
                    raise
                time.sleep(0.1)
        before = open(out).read().count("sync(")
        for i in range(10):
            c.set(b"k%d" % i, b"v")
        return open(out).read().count("sync(") - before
    finally:
        if os.path.exists(pf):
            os.kill(int(open(pf).read()), signal.SIGTERM)   # sealdb itself, not strace
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def c_synced(t, f):
    if subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True).returncode != 0:
        pytest.skip("strace cannot trace here")
    assert _syncs_for_10_sets(t, "true") >= 10
    assert _syncs_for_10_sets(t, "false") <= 3   # none per commit (the rest: systemdb, state files)


def c_metrics_server(t, f):
    s = f(["--metrics-server=false"])
    with pytest.raises(OSError):
        _metrics(s)
    assert "immudb_uptime_hours" in _metrics(f())


def c_metrics_server_port(t, f):
    s = f()   # the helper passes --metrics-server-port
    assert "immudb_uptime_hours" in _metrics(s)


def _health(srv):
    return urllib.request.urlopen("http://127.0.0.1:%d/api/health" % srv.web_port, timeout=10).read().decode()


def c_web_server(t, f):
    s = f(["--web-server=false"])
    with pytest.raises(OSError):
        _health(s)
    s = f([], env={"IMMUDB_WEB_SERVER": "false"})
    with pytest.raises(OSError):
        _health(s)
    assert '"status":true' in _health(f())


def c_web_server_port(t, f):
    s = f()   # the helper passes --web-server-port
    assert '"status":true' in _health(s)
    assert "REST API on http://127.0.0.1:%d/api/" % s.web_port in s.log()
    _refused(t, ["--web-server-port", "70000"], "not a port")


def c_web_max_connections(t, f):
    assert '"status":true' in _health(f(["--web-max-connections", "4"]))
    _refused(t, ["--web-max-connections", "0"], "must be 1..100000")


def c_pgsql_server(t, f):
    line = _refused(t, ["--pgsql-server"], "SQL is not served")
    assert line == "sealdb: --pgsql-server: SQL is not served by sealdb"
    f(["--pgsql-server=false"])


def c_pgsql_server_port(t, f):
    _refused(t, ["--pgsql-server-port", "5433"], "SQL is not served")


def c_pprof(t, f):
    _refused(t, ["--pprof"], "pprof")


def c_no_histograms(t, f):
    s = f(["--no-histograms"])
    s.client().set(b"k", b"v")
    m = _metrics(s)
    assert "grpc_server_handled_total" in m and "grpc_server_handling_seconds" not in m
    assert "grpc_server_handling_seconds_bucket" in _metrics(f())


def c_max_sessions(t, f):
    s = f(["--max-sessions", "1"])
    a = ImmudbClient(s.address)
    a.openSession("immudb", "immudb", b"defaultdb")
    b = ImmudbClient(s.address)
    with pytest.raises(grpc.RpcError) as e:
        b.openSession("immudb", "immudb", b"defaultdb")
    assert "max sessions" in e.value.details()


def c_session_timeout(t, f):
    s = f(["--session-timeout", "1s"])
    a = ImmudbClient(s.address)
    a.openSession("immudb", "immudb", b"defaultdb")
    a.keepAlive()
    time.sleep(3)
    with pytest.raises(grpc.RpcError):
        a.keepAlive()
    _refused(t, ["--session-timeout", "2 minutes"], "invalid duration")


def c_max_session_inactivity_time(t, f):
    # sessions ending: tests/attack/test_attack_sessions.py
    f(["--max-session-inactivity-time", "5m"])
    _refused(t, ["--max-session-inactivity-time", "soon"], "invalid duration")


def c_max_session_age_time(t, f):
    f(["--max-session-age-time", "1h"])
    _refused(t, ["--max-session-age-time", "forever"], "invalid duration")


def c_max_active_databases(t, f):
    _refused(t, ["--max-active-databases", "5"], "not implemented")


def c_pidfile(t, f):
    pf = str(t / "sealdb.pid")
    s = f(["--pidfile", pf])
    assert open(pf).read().strip() == str(s.proc.pid)
    assert s.stop() == 0
    assert not os.path.exists(pf)


def c_logdir(t, f):
    d = str(t / "logs")
    s = _start_logging_to(f, ["--logdir", d, "--logfile", "sealdb.log"], os.path.join(d, "sealdb.log"))
    assert " serving " in open(os.path.join(d, "sealdb.log")).read()
    assert " serving " not in s.log()
    _refused(t, ["--logdir", d], "only used with --logfile")


def c_logfile(t, f):
    lf = str(t / "server.log")
    s = _start_logging_to(f, ["--logfile", lf], lf)
    assert " serving " not in s.log()


def c_logformat(t, f):
    test_json_log_every_line_parses(f)
    _refused(t, ["--logformat", "xml"], "must be text or json")


def c_log_rotation_size(t, f):
    _refused(t, ["--log-rotation-size", "10MB"], "rotate with logrotate and SIGHUP")


def c_log_rotation_age(t, f):
    _refused(t, ["--log-rotation-age", "24h"], "rotate with logrotate and SIGHUP")


def c_log_access(t, f):
    test_access_log_one_line_per_call(f)


def c_log_request_metadata(t, f):
    _refused(t, ["--log-request-metadata"], "not implemented")


def c_mtls(t, f):
    _refused(t, ["--mtls"], "--mtls needs --certificate, --pkey and --clientcas")


def c_certificate(t, f):
    test_auto_cert_tls(f)   # makes a pair, then serves it through --certificate/--pkey
    _refused(t, ["--certificate", str(t / "c.pem"), "--auto-cert"], "not with --certificate")


def c_pkey(t, f):
    rc, lines = _run(t, "--certificate", str(t / "missing.pem"), "--pkey", str(t / "missing.key"))
    assert rc == 1 and any("cannot read certificate or private key" in ln for ln in lines), lines


def c_clientcas(t, f):
    rc, lines = _run(t, "--mtls", "--certificate", "c.pem", "--pkey", "k.pem", "--clientcas", str(t / "none.pem"))
    assert rc == 1 and any("cannot read" in ln for ln in lines), lines


def c_auto_cert(t, f):
    test_auto_cert_tls(f)


def c_grpc_reflection(t, f):
    _refused(t, ["--grpc-reflection"], "reflection is not served")


def c_swaggerui(t, f):
    _refused(t, ["--swaggerui=true"], "not served by sealdb")


def c_detached(t, f):
    pf = str(t / "d.pid")
    lf = str(t / "d.log")
    port = free_port()
    p = subprocess.run([os.path.abspath(SEALDB_BIN), "--dir", str(t / "dd"), "-a", "127.0.0.1", "-p", str(port),
                        "--metrics-server=false", "-d", "--pidfile", pf, "--logfile", lf], timeout=20)
    assert p.returncode == 0
    deadline = time.time() + 20
    while time.time() < deadline and not (os.path.exists(lf) and " serving " in open(lf).read()):
        time.sleep(0.05)
    pid = int(open(pf).read())
    try:
        assert " serving " in open(lf).read()
        assert ImmudbClient("127.0.0.1:%d" % port).healthCheck() is True
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 20
    while time.time() < deadline and os.path.exists(pf):
        time.sleep(0.05)
    assert not os.path.exists(pf)


def c_config(t, f):
    cfg = t / "sealdb.toml"
    cfg.write_text('# comment\nadmin-password = "from-config"\nno-such-key = 1\n')
    s = f(["--config", str(cfg)])
    s.client(password="from-config")
    assert "unknown key no-such-key ignored" in s.log()
    cfg.write_text("pgsql-server = true\n")
    _refused(t, ["--config", str(cfg)], "SQL is not served by sealdb (set by the config file)")
    _refused(t, ["--config", str(t / "absent.toml")], "cannot read")


def c_workers(t, f):
    s = f(["--workers", "1"])
    c = s.client()
    c.set(b"k", b"v")
    assert c.get(b"k").value == b"v"
    _refused(t, ["--workers", "many"], "invalid number")


def c_scrub_interval(t, f):
    # the scrub itself: tests/e2e/test_scrub.py
    s = f(["--scrub-interval", "0"])
    assert "integrity scrub: off" in s.log()
    _refused(t, ["--scrub-interval", "500ms"], "from 1s to 720h")


def c_scrub_rate(t, f):
    s = f(["--scrub-rate", "50", "--scrub-interval", "1s"])
    s.client().set(b"k", b"v")
    deadline = time.time() + 30
    while "sealdb_scrub_passes_total" not in _metrics(s) and time.time() < deadline:
        time.sleep(0.2)
    assert "sealdb_scrub_passes_total" in _metrics(s)
    _refused(t, ["--scrub-rate", "0"], "from 1 to 100000")


def c_index_memtable_mb(t, f):
    # the smallest memtable (1 MiB) fills after a few thousand keys: the index is flushed to run
    # files while the writes go on, and every key stays readable
    s = f(["--index-memtable-mb", "1"])
    c = s.client()
    for b in range(12):
        c.setAll({b"key-%02d-%05d-%s" % (b, i, b"x" * 40): b"v%d" % i for i in range(1000)})
    assert c.get(b"key-00-00007-" + b"x" * 40).value == b"v7"
    assert c.get(b"key-11-00999-" + b"x" * 40).value == b"v999"
    runs = [n for n in os.listdir(os.path.join(s.dir, "defaultdb", "index")) if n.startswith("run-")]
    assert runs, os.listdir(os.path.join(s.dir, "defaultdb", "index"))
    _refused(t, ["--index-memtable-mb", "0"], "MiB from 1 to 4096")
    _refused(t, ["--index-memtable-mb", "4097"], "MiB from 1 to 4096")


# The limits against unauthenticated peers: each is crossed by its attack test in tests/attack/
# (test_attack_fd, _streams, _slowloris, _login); here the server works with a small value and refuses 0.
def _limit(t, f, name, good, bad_reason):
    s = f(["--" + name, good])
    c = s.client()
    c.set(b"k", b"v")
    assert c.get(b"k").value == b"v"
    _refused(t, ["--" + name, "0"], bad_reason)


def c_max_connections(t, f):
    _limit(t, f, "max-connections", "8", "must be 1..1000000")


def c_max_streams_per_connection(t, f):
    _limit(t, f, "max-streams-per-connection", "4", "must be 1..1000000")


def c_max_calls(t, f):
    _limit(t, f, "max-calls", "16", "must be 1..1000000")


def c_max_stream_threads(t, f):
    _limit(t, f, "max-stream-threads", "2", "must be 1..1000000")


def c_request_timeout(t, f):
    _limit(t, f, "request-timeout", "2s", "a duration, more than 0")


def c_handshake_timeout(t, f):
    _limit(t, f, "handshake-timeout", "2s", "a duration, more than 0")


def c_max_connection_idle(t, f):
    _limit(t, f, "max-connection-idle", "30s", "a duration, more than 0")


def c_login_workers(t, f):
    _limit(t, f, "login-workers", "1", "must be 1..1000000")


def c_login_queue(t, f):
    _limit(t, f, "login-queue", "4", "must be 1..1000000")


def c_login_failures_per_address(t, f):
    _limit(t, f, "login-failures-per-address", "3", "must be 1..1000000")


def c_login_failures_per_user(t, f):
    _limit(t, f, "login-failures-per-user", "3", "must be 1..1000000")


# ---- --replication-* (the full behaviour: test_repl_flags.py) ----

def _repl_settings(srv):
    from immudb.grpc import schema_pb2 as S
    return srv.client()._stub.GetDatabaseSettingsV2(S.DatabaseSettingsRequest()).settings.replicationSettings


def _unreachable_primary():
    return ["--replication-is-replica", "--replication-primary-host=127.0.0.1",
            "--replication-primary-port=%d" % free_port(), "--replication-primary-username=immudb",
            "--replication-primary-password=immudb"]


def c_replication_is_replica(t, f):
    c = f(["--replication-is-replica"]).client()
    with pytest.raises(grpc.RpcError) as e:
        c.set(b"k", b"v")
    assert e.value.details() == "database is read-only because it's a replica"


def c_replication_sync_enabled(t, f):
    _refused(t, ["--replication-sync-enabled"], "It is necessary to have at least one sync replica")
    assert _repl_settings(f(["--replication-sync-enabled", "--replication-sync-acks=1"])).syncReplication.value


def c_replication_sync_acks(t, f):
    _refused(t, ["--replication-sync-acks=2"], "SyncAcks should be set to 0")
    assert _repl_settings(f(["--replication-sync-enabled", "--replication-sync-acks=2"])).syncAcks.value == 2


def c_replication_primary_host(t, f):
    _refused(t, ["--replication-primary-host=h"], "option PrimaryHost on primary database 'defaultdb'")
    assert _repl_settings(f(_unreachable_primary())).primaryHost.value == "127.0.0.1"


def c_replication_primary_port(t, f):
    _refused(t, _unreachable_primary() + ["--replication-primary-port=70000"], "not a port (1..65535)")


def c_replication_primary_username(t, f):
    _refused(t, ["--replication-is-replica", "--replication-primary-host=h", "--replication-primary-password=p"],
             "--replication-primary-username: needed with --replication-primary-host")


def c_replication_primary_password(t, f):
    _refused(t, ["--replication-is-replica", "--replication-primary-host=h", "--replication-primary-username=u"],
             "--replication-primary-password: needed with --replication-primary-host")


def c_replication_prefetch_tx_buffer_size(t, f):
    _refused(t, ["--replication-is-replica", "--replication-prefetch-tx-buffer-size=0"], "PrefetchTxBufferSize")
    s = f(["--replication-is-replica", "--replication-prefetch-tx-buffer-size=7"])
    assert _repl_settings(s).prefetchTxBufferSize.value == 7


def c_replication_commit_concurrency(t, f):
    _refused(t, ["--replication-is-replica", "--replication-commit-concurrency=0"], "ReplicationCommitConcurrency")
    assert _repl_settings(f(["--replication-is-replica", "--replication-commit-concurrency=3"])) \
        .replicationCommitConcurrency.value == 3


def c_replication_allow_tx_discarding(t, f):
    _refused(t, ["--replication-allow-tx-discarding"], "option AllowTxDiscarding on primary database 'defaultdb'")
    assert _repl_settings(f(["--replication-is-replica", "--replication-allow-tx-discarding"])).allowTxDiscarding.value
    assert not _repl_settings(f(["--replication-is-replica"])).allowTxDiscarding.value


def c_replication_skip_integrity_check(t, f):
    assert _repl_settings(f(_unreachable_primary() + ["--replication-skip-integrity-check"])).skipIntegrityCheck.value


def c_replication_wait_for_indexing(t, f):
    assert _repl_settings(f(_unreachable_primary() + ["--replication-wait-for-indexing"])).waitForIndexing.value


CASES = {name[2:].replace("_", "-"): fn for name, fn in globals().items() if name.startswith("c_")}


def test_help_lists_only_flags_with_a_case():
    flags = _help_flags()
    assert len(flags) > 30
    assert set(flags) == set(CASES), "flags without a test case: %s; cases without a flag: %s" % (
        sorted(set(flags) - set(CASES)), sorted(set(CASES) - set(flags)))


def test_help_describes_every_flag():
    for name, (_, desc) in _help_flags().items():
        assert desc and "(undocumented)" not in desc, name
        assert "(default " in desc, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_flag(name, tmp_path, sealdb_factory):
    CASES[name](tmp_path, sealdb_factory)


@pytest.mark.parametrize("name", sorted(n for n, (ty, _) in _help_flags().items() if ty != "string"))
def test_typed_flag_bad_value_refused(name, tmp_path):
    ty = _help_flags()[name][0]
    line = _refused(tmp_path, ["--%s=not-a-%s" % (name, ty)], "invalid")
    assert line.startswith("sealdb: --%s: invalid " % name)


def test_unknown_flag_refused_in_one_line(tmp_path):
    line = _refused(tmp_path, ["--prot=3330"], "unknown flag --prot")
    assert "see sealdb --help" in line
    _refused(tmp_path, ["--replication-primary-database=x"], "unknown flag --replication-primary-database")
    _refused(tmp_path, ["--s3-storage"], "S3")
    _refused(tmp_path, ["-x"], "unknown flag -x")
    _refused(tmp_path, ["stray"], "unexpected argument stray")


# ---- the log ----

def test_json_log_every_line_parses(sealdb_factory):
    s = sealdb_factory(["--logformat", "json"])
    c = s.client()
    c.set(b"k", b"v")
    s.stop()
    lines = [ln for ln in s.log().splitlines() if ln.strip()]
    assert len(lines) >= 4
    for ln in lines:
        o = json.loads(ln)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["time"]), ln
        assert o["level"] in ("info", "warning", "error") and o["message"], ln
    msgs = [json.loads(ln) for ln in lines]
    assert any(m["level"] == "warning" and m["message"].startswith("user immudb has the default password")
               for m in msgs)
    assert any(" serving " in m["message"] for m in msgs)


def test_access_log_one_line_per_call(sealdb_factory):
    s = sealdb_factory(["--log-access"])
    c = s.client()
    c.set(b"k", b"v")
    c.get(b"k")
    assert c.get(b"missing") is None
    log = s.log()
    lines = [ln for ln in log.splitlines() if " access method=" in ln]
    methods = [re.search(r"method=(\w+)", ln).group(1) for ln in lines]
    assert methods == ["Login", "UseDatabase", "CurrentState", "Set", "Get", "Get"], lines
    assert re.search(r"access method=Set peer=ipv4:127\.0\.0\.1:\d+ code=OK duration_ms=[\d.]+ user=immudb$",
                     lines[3]), lines[3]
    assert "code=NotFound" in lines[5] or "code=Unknown" in lines[5], lines[5]
    # off by default
    s2 = sealdb_factory()
    s2.client().set(b"k", b"v")
    assert "access method=" not in s2.log()
    # JSON access lines carry the fields as members
    s3 = sealdb_factory(["--log-access", "--logformat", "json"])
    s3.client().set(b"k", b"v")
    acc = [json.loads(ln) for ln in s3.log().splitlines() if '"access"' in ln]
    a = [x for x in acc if x["method"] == "Set"][0]
    assert a["peer"].startswith("ipv4:127.0.0.1:") and a["code"] == "OK" and a["user"] == "immudb"
    assert isinstance(a["duration_ms"], float)


def test_sighup_reopens_logfile(sealdb_factory, tmp_path):
    lf = str(tmp_path / "rot.log")
    s = _start_logging_to(sealdb_factory, ["--logfile", lf, "--log-access"], lf)
    s.client().set(b"k", b"v")
    os.rename(lf, lf + ".1")            # what logrotate does
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(lf):
        time.sleep(0.05)
    s.client().get(b"k")
    assert s.stop() == 0
    old, new = open(lf + ".1").read(), open(lf).read()
    assert " serving " in old and "method=Set" in old and "method=Get" not in old
    assert "log file reopened" in new and "method=Get" in new and "stopped" in new


def test_auto_cert_tls(sealdb_factory):
    s = sealdb_factory(["--auto-cert"])
    cert = os.path.join(s.dir, "immudb-cert.pem")
    key = os.path.join(s.dir, "immudb-key.pem")
    assert "made a self-signed certificate" in s.log() and ", TLS)" in s.log()
    assert os.stat(key).st_mode & 0o077 == 0
    pem = open(cert, "rb").read()
    c = _tls_client(s, pem)
    c.login("immudb", "immudb")
    c.verifiedSet(b"k", b"over tls")
    assert c.verifiedGet(b"k").value == b"over tls"
    # plaintext is refused
    p = ImmudbClient(s.address, timeout=5)
    with pytest.raises(grpc.RpcError):
        p.login("immudb", "immudb")
    # kept and reused across restarts
    s.restart()
    assert open(cert, "rb").read() == pem and "using the self-signed certificate" in s.log()
    _tls_client(s, pem).login("immudb", "immudb")
    # the same pair through --certificate/--pkey
    s2 = sealdb_factory(["--certificate", cert, "--pkey", key])
    _tls_client(s2, pem).login("immudb", "immudb")


# ---- library noise ----

def test_port_in_use_one_line_of_ours(sealdb_factory, tmp_path):
    s = sealdb_factory()
    rc, lines = _run(tmp_path, "-p", str(s.port))
    assert rc == 1
    assert not [ln for ln in lines if not ln.startswith("sealdb ")], lines   # nothing from gRPC core
    errs = [ln for ln in lines if " error: " in ln]
    assert len(errs) == 1 and "cannot listen on 127.0.0.1:%d: the port is in use" % s.port in errs[0], lines


def test_grpc_client_on_metrics_port_logs_prefixed(sealdb_factory):
    s = sealdb_factory()
    ch = grpc.insecure_channel("127.0.0.1:%d" % s.metrics_port)
    with pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(ch).result(timeout=1)
    ch.close()
    time.sleep(0.3)
    s.stop()
    lines = [ln for ln in s.log().splitlines() if ln.strip()]
    assert not [ln for ln in lines if not ln.startswith("sealdb ")], lines
    assert any("warning: metrics server: " in ln for ln in lines), lines


def test_locked_data_dir_names_the_holder(sealdb_factory, tmp_path):
    s = sealdb_factory()
    rc, lines = _run(tmp_path, "--dir", s.dir)
    assert rc == 1
    err = [ln for ln in lines if "cannot start" in ln]
    assert len(err) == 1, lines
    assert "in use by process %d (sealdb)" % s.proc.pid in err[0], err
    assert os.path.join(s.dir, "systemdb", "LOCK") in err[0], err
