# test_cli_tamper.py - an attacker with disk access edits the server's stored history (a value, a
# transaction header) and rewrites the journal's CRC32C checksums so the damage looks like valid
# data; after a restart, seal safeget and seal audit must report a verification failure (exit 2)
# and never print the tampered value as verified. The failure may be found by the client's proofs or
# reported by the server's own integrity checks (sealdb re-hashes what it reads): both give exit 2.
import hashlib
import os
import shutil
import struct

import pytest

from sealcli import Env, Server, running_env

MAGIC = 0x53444A42
FRAME = 24


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_T = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def journal_files(data_dir):
    """Every journal segment under the data directory (any database), as paths."""
    out = []
    for root, _, files in os.walk(data_dir):
        if os.path.basename(root) == "journal":
            out += [os.path.join(root, f) for f in sorted(files)]
    return out


def records(buf):
    """Yields (offset, meta_len, vals_len) of each record of one segment."""
    off = 0
    while off + FRAME <= len(buf):
        magic, _, meta_len, _, vals_len = struct.unpack_from(">IIIIQ", buf, off)
        if magic != MAGIC:
            return
        yield off, meta_len, vals_len
        off += FRAME + meta_len + vals_len


def reseal(buf, off, meta_len, vals_len):
    """Rewrites both checksums of the record at off, as an attacker would."""
    meta_end = off + FRAME + meta_len
    struct.pack_into(">I", buf, off + 4, crc32c(bytes(buf[off + 8:meta_end])))
    struct.pack_into(">I", buf, off + 12, crc32c(bytes(buf[meta_end:meta_end + vals_len])))


def tamper(data_dir, needle, replacement=None, header_of=None):
    """Replaces the stored value needle (same length) or bumps the timestamp in the header of the
    record holding header_of; returns how many records were changed."""
    changed = 0
    for path in journal_files(data_dir):
        with open(path, "rb") as f:
            buf = bytearray(f.read())
        for off, meta_len, vals_len in list(records(buf)):
            vals = off + FRAME + meta_len
            region = bytes(buf[vals:vals + vals_len])
            i = region.find(needle)
            if i < 0:
                continue
            if replacement is not None:
                # the value and its SHA-256 in the entry (stored value = 0x00 prefix + user value)
                old_h = hashlib.sha256(b"\x00" + needle).digest()
                buf[vals + i:vals + i + len(needle)] = replacement
                meta = bytes(buf[off + FRAME:vals])
                j = meta.find(old_h)
                if j >= 0:
                    new_h = hashlib.sha256(b"\x00" + replacement).digest()
                    buf[off + FRAME + j:off + FRAME + j + 32] = new_h
            if header_of is not None:
                ts_off = off + FRAME + 8 + 32            # header: u64 id, prevAlh[32], i64 ts
                (ts,) = struct.unpack_from(">q", buf, ts_off)
                struct.pack_into(">q", buf, ts_off, ts + 1)
            reseal(buf, off, meta_len, vals_len)
            changed += 1
        if changed:
            with open(path, "r+b") as f:
                f.write(buf)
    return changed


@pytest.fixture
def env():
    yield from running_env("seal-tamper-")


def write_history(env):
    env.ok("login", "immudb")
    env.ok("safeset", "alice", "original-value-1")
    env.ok("safeset", "bob", "original-value-2")
    env.ok("safeset", "carol", "original-value-3")
    env.ok("check-consistency")                          # trusted state saved at the last tx


def restart_after(env, fn):
    env.srv.stop()
    assert fn() > 0, "the value was not found in the journal"
    env.srv.start()
    env.ok("login", "immudb")


def test_tampered_value_is_detected(env):
    write_history(env)
    restart_after(env, lambda: tamper(env.srv.dir, b"original-value-2", replacement=b"FORGED-VALUE-XX2"))
    p = env.run("safeget", "bob")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "FORGED" not in p.stdout
    p = env.run("--json", "safeget", "bob")
    assert p.returncode == 2 and "FORGED" not in p.stdout
    # the untouched keys still verify
    env.ok("safeget", "alice")
    p = env.run("audit", "--rounds", "1", "--verify-values")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "FORGED" not in p.stdout


def test_tampered_header_is_detected(env):
    write_history(env)
    restart_after(env, lambda: tamper(env.srv.dir, b"original-value-2", header_of=True))
    p = env.run("audit", "--rounds", "1", "--verify-values")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    p = env.run("safeget", "bob")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "original-value-2" not in p.stdout


# A forked history: the attacker replaces the server's whole data directory by the one of another
# sealdb that wrote other values (keeping the server id file, so the client's stored state applies).
# The server's own integrity checks see nothing wrong (every record is genuine); only the client's
# proofs from its trusted state can tell. With a longer fork the dual proof from the trusted tx fails;
# with one of the same length the state hash at the trusted tx differs.
def fork_history(env, ntx):
    other = Server(os.path.join(env.srv.root, "fork"))
    os.makedirs(other.root)
    other.start()
    try:
        forger = Env(other, os.path.join(other.root, "home"))
        os.makedirs(forger.home)
        forger.ok("login", "immudb")
        for i in range(ntx):
            forger.ok("set", ["alice", "bob", "carol", "dave", "erin"][i % 5], "FORGED-%d" % i)
    finally:
        other.stop()
    env.srv.stop()
    ident = os.path.join(env.srv.dir, "immudb.identifier")
    with open(ident, "rb") as f:
        server_id = f.read()
    shutil.rmtree(env.srv.dir)
    shutil.copytree(other.dir, env.srv.dir)
    with open(ident, "wb") as f:
        f.write(server_id)
    env.srv.start()
    env.ok("login", "immudb")


@pytest.mark.parametrize("ntx", [3, 5])
def test_forked_history_is_detected_by_the_client(env, ntx):
    write_history(env)
    before = env.js("state")["states"]
    trusted = [s for s in before if s["state"] == "trusted"][0]
    fork_history(env, ntx)
    # the server itself is healthy and serves the forged values without complaint
    assert "FORGED" in env.ok("get", "bob").stdout
    server = [s for s in env.js("state")["states"] if s["state"] == "server"][0]
    assert server["tx"] == ntx and server["hash"] != trusted["hash"]
    for cmd in (["safeget", "bob"], ["--json", "safeget", "alice"], ["check-consistency"],
                ["audit", "--rounds", "1"], ["audit", "--rounds", "1", "--verify-values"],
                ["safe-tx", "2", "--values"], ["safeset", "new", "value"]):
        p = env.run(*cmd)
        assert p.returncode == 2, (cmd, p.returncode, p.stdout, p.stderr)
        assert "FORGED" not in p.stdout, (cmd, p.stdout)
        assert "VERIFICATION FAILED" in p.stderr, (cmd, p.stderr)
    # the trusted state did not move to the forged one
    after = [s for s in env.js("state")["states"] if s["state"] == "trusted"][0]
    assert after == trusted
