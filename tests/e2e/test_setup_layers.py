# test_setup_layers.py - the layering of src/: nothing under src/rpc depends on src/server (the HTTP
# listeners and main sit above the dispatch table both transports call), checked on the includes and,
# when the objects are built, on the symbols the rpc objects need.
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")


def sources(layer):
    d = os.path.join(SRC, layer)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".c", ".h")))


def test_rpc_includes_nothing_of_server():
    bad = []
    for p in sources("rpc"):
        with open(p, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if re.match(r'\s*#\s*include\s+"server/', line):
                    bad.append("%s:%d: %s" % (os.path.relpath(p, ROOT), n, line.strip()))
    assert not bad, "\n".join(bad)


def defined(objs):
    out = subprocess.run(["nm", "--defined-only"] + objs, capture_output=True, text=True, check=True).stdout
    return {ln.split()[2] for ln in out.splitlines() if len(ln.split()) == 3 and ln.split()[1] in "TDBRC"}


def test_rpc_objects_need_no_server_symbol():
    bdir = os.path.join(os.path.dirname(os.path.abspath(os.environ.get("SEALDB_BIN", "build/sealdb"))), "src")
    rpc_o = [os.path.join(bdir, "rpc", f[:-2] + ".o") for f in os.listdir(os.path.join(SRC, "rpc")) if f.endswith(".c")]
    srv_o = [os.path.join(bdir, "server", f[:-2] + ".o") for f in os.listdir(os.path.join(SRC, "server"))
             if f.endswith(".c") and f != "main.c"]
    if not all(os.path.exists(p) for p in rpc_o + srv_o):
        pytest.skip("objects not built in " + bdir)
    undef = set()
    out = subprocess.run(["nm", "-u"] + rpc_o, capture_output=True, text=True, check=True).stdout
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 2:
            undef.add(parts[1])
    assert not (undef & defined(srv_o)), sorted(undef & defined(srv_o))
