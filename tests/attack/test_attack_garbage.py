# test_attack_garbage.py - floods of malformed request bodies, unauthenticated and authenticated, on every
# kind of method: each gets a clean error, the server stays up, and an authorized client is still served.
import os
import random

import grpc

from attack_util import Probe, login_token, raw_call

METHODS = ["Login", "Get", "Set", "GetAll", "ExecAll", "VerifiableGet", "Scan", "History", "ZAdd",
           "CreateDatabaseV2", "ChangePermission", "TxById", "UseDatabase"]


def test_garbage_bodies_get_clean_errors_and_server_stays_up(sealdb):
    rnd = random.Random(1234)
    token = login_token(sealdb.address)
    auth = [("authorization", token)]
    with Probe(sealdb) as probe:
        for i in range(300):
            m = METHODS[i % len(METHODS)]
            body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
            code, details, _ = raw_call(sealdb.address, m, body, auth if i % 2 else ())
            # garbage is either refused (bad bytes, missing auth, bad argument) or, when it happens to
            # decode, answered like any request: never an UNAVAILABLE that would mean the server fell over
            assert code != grpc.StatusCode.UNAVAILABLE, (m, details)
    probe.check(2.0)
    assert sealdb.proc.poll() is None
    assert "AddressSanitizer" not in sealdb.log()
