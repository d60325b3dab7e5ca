# test_attack_login.py - the unauthenticated password paths: empty passwords (UBSan once saw NULL passed
# to memchr), and a flood of wrong passwords that must neither starve other calls (bcrypt runs on a
# small pool of its own with a bounded queue) nor keep a correct password from another address out.
import multiprocessing
import threading
import time

import grpc
from immudb import ImmudbClient
from immudb.grpc import schema_pb2

from attack_util import Probe, bound, login_token, raw_call
from h2_attack import RawH2


def test_empty_passwords_are_refused_cleanly(sealdb):
    code, details, _ = raw_call(sealdb.address, "Login",
                                schema_pb2.LoginRequest(user=b"immudb", password=b"").SerializeToString())
    assert (code, details) == (grpc.StatusCode.UNKNOWN, "invalid user name or password")
    tok = login_token(sealdb.address)
    code, details, _ = raw_call(sealdb.address, "ChangePassword", schema_pb2.ChangePasswordRequest(
        user=b"immudb", oldPassword=b"", newPassword=b"Other_pw1").SerializeToString(), [("authorization", tok)])
    assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED, "old password is incorrect")
    login_token(sealdb.address)   # the password did not change
    assert sealdb.proc.poll() is None
    assert "runtime error" not in sealdb.log()


def wrong_login_body(user=b"immudb"):
    return schema_pb2.LoginRequest(user=user, password=b"wrong-password").SerializeToString()


def _flood_proc(address, source, seconds, threads, user, out):
    codes, worst = {}, [0.0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run():
        atk = RawH2(address, source=source)
        while time.monotonic() < stop and not atk.closed:
            t0 = time.monotonic()
            st = atk.unary("Login", wrong_login_body(user))
            with lock:
                codes[st] = codes.get(st, 0) + 1
                worst[0] = max(worst[0], time.monotonic() - t0)
        atk.close()

    ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 60)
    out.put((codes, worst[0]))


class flood:
    """Wrong-password Logins from `threads` connections bound to `source`, in a child process (so the
    attacker's loop does not compete with the test's own clients for the GIL). join() returns
    ({grpc-status: count}, slowest answer in seconds)."""

    def __init__(self, address, source, seconds, threads=16, user=b"immudb"):
        ctx = multiprocessing.get_context("fork")
        self.q = ctx.Queue()
        self.p = ctx.Process(target=_flood_proc, args=(address, source, seconds, threads, user, self.q))
        self.p.start()

    def join(self):
        res = self.q.get(timeout=120)
        self.p.join(30)
        return res


def test_login_flood_does_not_starve_others(sealdb):
    # 16 connections of wrong passwords from 127.0.0.2; the owner logs in from 127.0.0.1 meanwhile
    with Probe(sealdb) as probe:
        f = flood(sealdb.address, "127.0.0.2", 4)
        time.sleep(0.5)
        for _ in range(4):
            t0 = time.monotonic()
            c = ImmudbClient(sealdb.address)
            c.login("immudb", "immudb")
            assert time.monotonic() - t0 < bound(2.0)
            time.sleep(0.5)
        codes, worst = f.join()
    probe.check(1.0)
    # the flooding address was throttled: refused at once, without a bcrypt check each
    assert codes.get("8", 0) > codes.get("2", 0), codes       # RESOURCE_EXHAUSTED > wrong-password answers
    assert worst < bound(3.0)
    assert sealdb.proc.poll() is None


def test_login_queue_is_bounded(sealdb_factory):
    # one bcrypt thread, two queued checks, no address throttling: a flood gets quick UNAVAILABLE
    srv = sealdb_factory(["--login-workers", "1", "--login-queue", "2", "--login-failures-per-address", "1000000",
                          "--login-failures-per-user", "1000000"])
    with Probe(srv) as probe:
        codes, worst = flood(srv.address, "127.0.0.2", 3).join()
    probe.check(1.0)
    assert codes.get("14", 0) > 0, codes        # UNAVAILABLE: queue full
    assert codes.get("2", 0) > 0, codes         # some were checked (wrong password)
    assert worst < bound(3.0)
    login_token(srv.address)


def test_failed_logins_per_user_spare_clean_addresses(sealdb_factory):
    srv = sealdb_factory(["--login-failures-per-address", "1000", "--login-failures-per-user", "5"])
    a = RawH2(srv.address, source="127.0.0.2")
    got = [a.unary("Login", wrong_login_body()) for _ in range(8)]
    assert got[:5] == ["2"] * 5 and got[5:] == ["8"] * 3, got     # then throttled for this user name
    ok_body = schema_pb2.LoginRequest(user=b"immudb", password=b"immudb").SerializeToString()
    assert a.unary("Login", ok_body) == "8"                       # this address is refused even so
    # a clean address still gets its password checked, and the right one logs in
    b = RawH2(srv.address, source="127.0.0.3")
    assert b.unary("Login", wrong_login_body()) == "2"
    c = RawH2(srv.address, source="127.0.0.4")
    assert c.unary("Login", ok_body) == "0"
    for x in (a, b, c):
        x.close()
