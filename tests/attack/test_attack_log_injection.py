# test_attack_log_injection.py - a client's method path is written to the access log: it must stay one
# word of one line (no forged fields or lines), in text and in JSON, while an authorized client works.
import json

import grpc

from attack_util import Probe, raw_call


def _forge(server):
    for path in ("Get code=OK user=immudb", "Get\tuser=admin", 'Get"},{"level":"error'):
        code, _, _ = raw_call(server.address, path, b"")
        assert code == grpc.StatusCode.UNIMPLEMENTED


def test_access_log_fields_cannot_be_forged(sealdb_factory):
    s = sealdb_factory(["--log-access"])
    with Probe(s) as p:
        _forge(s)
    p.check(5)
    lines = [ln for ln in s.log().splitlines() if "access method=Get" in ln and "code=Unimplemented" in ln]
    assert len(lines) == 3, s.log()[-2000:]
    for ln in lines:
        assert ln.count("user=") == 1 and ln.count("code=") == 1 and "\t" not in ln, ln


def test_json_access_log_stays_one_object_per_line(sealdb_factory):
    s = sealdb_factory(["--log-access", "--logformat", "json"])
    _forge(s)
    s.stop()
    objs = [json.loads(ln) for ln in s.log().splitlines() if ln.strip()]
    forged = [o for o in objs if o.get("code") == "Unimplemented"]
    assert len(forged) == 3
    assert all(o["level"] == "info" and " " not in o["method"] for o in forged), forged
