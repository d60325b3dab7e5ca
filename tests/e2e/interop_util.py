# interop_util.py - shared pieces of the sealdb <-> immudb 1.9.5 interoperability tests: a mixed write
# load (every kind of entry an export carries), a full comparison of two databases (state, every tx
# header and entry, every live key, each proven by the client's verified calls on both sides), the
# hot-backup record parser and the export-stream reader.
import datetime
import struct
import threading
import time

from google.protobuf import empty_pb2
from immudb import datatypes
from immudb.grpc import schema_pb2


def db_client(server, database, user="immudb", password=None):
    """A client of `server` (sealdb or immudb) logged in on `database`."""
    if password is None and user == "immudb":
        password = getattr(server, "admin_password", None)
    kw = {} if password is None else {"password": password}
    return server.client(user=user, database=database.encode() if isinstance(database, str) else database, **kw)


def create_db(client, name, replication=None):
    """CreateDatabaseV2 through the raw stub, with optional replication settings (a dict of
    ReplicationNullableSettings fields). Not immudb-py's createDatabaseV2: immudb-py 1.5.0 sends the
    primaryUsername as primaryPassword."""
    rs = None
    if replication:
        wrap = {f.name: getattr(schema_pb2, f.message_type.name)
                for f in schema_pb2.ReplicationNullableSettings.DESCRIPTOR.fields}
        rs = schema_pb2.ReplicationNullableSettings(**{k: wrap[k](value=v) for k, v in replication.items()})
    settings = schema_pb2.DatabaseNullableSettings(replicationSettings=rs)
    return client._stub.CreateDatabaseV2(schema_pb2.CreateDatabaseRequest(name=name, settings=settings))


def replica_of(primary, database, sync=False):
    """Replication settings making a database follow `database` on `primary` as user immudb."""
    return dict(replica=True, primaryDatabase=database, primaryHost="127.0.0.1", primaryPort=primary.port,
                primaryUsername="immudb", primaryPassword=getattr(primary, "admin_password", "immudb"),
                syncReplication=sync)


def write_mixed(c, tag, i):
    """One tx of a kind chosen by i: plain set, multi-KV, reference, sorted-set entry, delete,
    ExecAll (KV + ref + ZAdd), expiring set. Returns the tx id."""
    k = ("%s-%d" % (tag, i)).encode()
    kind = i % 7
    if kind == 0:
        return c.set(k, b"v" * (i % 50) + k).id
    if kind == 1:
        return c.setAll({k + b"-a": b"A" + k, k + b"-b": b"", k + b"-c": b"C" * 300}).id
    if kind == 2:
        c.set(k, b"target " + k)
        return c.setReference(k, k + b"-ref").id
    if kind == 3:
        c.set(k, b"member " + k)
        return c.zAdd(("%s-zset" % tag).encode(), float(i), k).id
    if kind == 4:
        c.set(k, b"doomed")
        return c.delete(datatypes.DeleteKeysRequest(keys=[k])).id
    if kind == 5:
        return c.execAll([datatypes.KeyValue(key=k, value=b"exec " + k),
                          datatypes.ReferenceRequest(key=k + b"-eref", referencedKey=k),
                          datatypes.ZAddRequest(set=("%s-ezset" % tag).encode(), score=1.5, key=k)]).id
    return c.expireableSet(k, b"expiring " + k, datetime.datetime(2099, 1, 2, 3, 4, 5)).id


def tx_record(c, n):
    """Tx n as seen through TxById: its header fields and the (key, hValue, vLen, metadata) of each entry."""
    tx = c._stub.TxById(schema_pb2.TxRequest(tx=n))
    h = tx.header
    # field by field: an absent and an empty TxHeader.metadata message are the same for both SDKs
    hdr = (h.id, h.prevAlh, h.ts, h.nentries, h.eH, h.blTxId, h.blRoot, h.version,
           h.metadata.SerializeToString(deterministic=True))
    return (hdr,
            [(e.key, e.hValue, e.vLen, e.metadata.SerializeToString(deterministic=True)) for e in tx.entries])


def state(c):
    st = c._stub.CurrentState(empty_pb2.Empty())
    return st.txId, bytes(st.txHash)


def live_keys(c):
    """Every live key and its value (references resolved), by paging Scan."""
    out = {}
    seek = b""
    while True:
        page = c._stub.Scan(schema_pb2.ScanRequest(seekKey=seek, limit=500, noWait=False))
        for e in page.entries:
            out[bytes(e.key)] = bytes(e.value)
        if len(page.entries) < 500:
            return out
        seek = bytes(page.entries[-1].key)


def assert_same_and_verified(a, b, what="", ntx=None):
    """a and b, each a (server, database), hold the same history: equal CurrentState, equal header and
    entries for every tx, equal live keys; each tx and each key proven by verified calls on both sides.
    Fresh clients: immudb-py's verified calls need a client whose trusted state came from CurrentState
    (a client that wrote before keeps a state its proofs do not start from)."""
    a, b = db_client(*a), db_client(*b)
    sa, sb = state(a), state(b)
    assert sa == sb, "%s: states differ: %s vs %s" % (what, (sa[0], sa[1].hex()), (sb[0], sb[1].hex()))
    n = sa[0]
    if ntx is not None:
        assert n == ntx, "%s: %d txs, expected %d" % (what, n, ntx)
    for t in range(1, n + 1):
        ra, rb = tx_record(a, t), tx_record(b, t)
        assert ra == rb, "%s: tx %d differs:\n%r\n%r" % (what, t, ra, rb)
    # proofs: every 1 in `step` txs (all when few) plus the last, against each side's own state
    step = max(1, n // 40)
    for t in sorted(set(range(1, n + 1, step)) | {n}):
        assert a.verifiedTxById(t) == b.verifiedTxById(t), "%s: verified tx %d differs" % (what, t)
    ka, kb = live_keys(a), live_keys(b)
    assert ka == kb, "%s: live keys differ (%d vs %d keys)" % (what, len(ka), len(kb))
    for i, k in enumerate(sorted(ka)):
        if i % max(1, len(ka) // 40) == 0:
            va, vb = a.verifiedGet(k), b.verifiedGet(k)
            assert va.verified and vb.verified and va.value == vb.value == ka[k], "%s: key %r" % (what, k)
    return n


def export_stream(c, n):
    """The exportTx stream of tx n: the concatenated chunk contents (u64(L) || payload)."""
    return b"".join(ch.content for ch in c.exportTx(n))


def parse_backup(data):
    """immuadmin's hot-backup file -> [(txid, checksum, txdata)]: records of magic IMMUBACKUP, u32 version 1,
    u64 tx id, u32 checksum length (32), u32 data length, the tx's Alh, its export stream."""
    recs, o = [], 0
    while o < len(data):
        assert data[o:o + 10] == b"IMMUBACKUP", "bad magic at %d" % o
        ver, txid, sl, tl = struct.unpack_from(">IQII", data, o + 10)
        assert ver == 1 and sl == 32
        recs.append((txid, data[o + 30:o + 30 + sl], data[o + 30 + sl:o + 30 + sl + tl]))
        o += 30 + sl + tl
    assert o == len(data)
    return recs


def wait_for(fn, timeout, what, interval=0.2):
    """Polls fn() until it returns a true value (exceptions count as false); fails after timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last error: %s)" % (timeout, what, last))


class Writers:
    """`n` threads writing write_mixed txs into `database` of a server until stop(); a write that fails
    while the server restarts is retried on a fresh client (acknowledged txs are counted)."""

    def __init__(self, server_fn, database, n=2, tag="w"):
        self.server_fn = server_fn
        self.database = database
        self.stop_ev = threading.Event()
        self.acked = []
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=("%s%d" % (tag, j),), daemon=True)
                        for j in range(n)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, tag):
        c = None
        i = 0
        while not self.stop_ev.is_set():
            try:
                if c is None:
                    c = db_client(self.server_fn(), self.database)
                tx = write_mixed(c, tag, i)
                with self.lock:
                    self.acked.append(tx)
                i += 1
            except Exception as e:  # noqa: BLE001 (server restarting: reconnect and retry)
                with self.lock:
                    self.errors.append(repr(e)[:200])
                try:
                    if c is not None:
                        c.shutdown()
                except Exception:  # noqa: BLE001
                    pass
                c = None
                i += 1  # a write that failed mid-way may have committed: never reuse its keys
                time.sleep(0.2)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)
        return len(self.acked)


def restart(server):
    """Restarts either kind of server. A sealdb server must stop cleanly (exit 0, no sanitizer
    report); an immudb one whose SIGTERM stop hangs is killed -9 (see ImmudbServer.stop)."""
    if hasattr(server, "hung_stops"):
        server.restart(kill_if_hung=True)
        return
    assert_clean_stop(server)
    server.start()


def assert_clean_stop(server):
    """Stops a sealdb server and requires exit 0 and no sanitizer report in its log."""
    rc = server.stop()
    log = server.log()
    assert rc == 0 and "Sanitizer" not in log and "runtime error" not in log, \
        "sealdb stopped with %s:\n%s" % (rc, log[-3000:])
