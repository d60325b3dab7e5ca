# test_cli_tamper.py - an attacker with disk access edits the server's stored history (a value, a
# transaction header) and rewrites the journal's CRC32C checksums so the damage looks like valid
# data; after a restart, seal safeget and seal audit must report a verification failure (exit 2)
# and never print the tampered value as verified. The failure may be found by the client's proofs or
# reported by the server's own integrity checks (sealdb re-hashes what it reads): both give exit 2.
import hashlib
import os
import shutil
import struct
import tempfile

import pytest

from sealcli import Env, Server

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
    root = tempfile.mkdtemp(prefix="seal-tamper-")
    srv = Server(root)
    srv.start()
    home = os.path.join(root, "home")
    os.makedirs(home)
    yield Env(srv, home)
    srv.stop()
    shutil.rmtree(root, ignore_errors=True)


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
