# limits_util.py - helpers of the request-limit attacks: hand-encoded protobuf (building 200k ops with
# the generated classes would cost the test more than the server), server memory from /proc, and a
# sanitizer check (RSS bounds are meaningless under ASan's allocator).
import os
import threading
import time


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, payload):
    """A length-delimited protobuf field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def kv_op(key, value):
    """ExecAllRequest.operations entry: Op{kv #1 KeyValue{key #1, value #2}}."""
    return field(1, field(1, field(1, key) + field(2, value)))


def exec_all_body(n, prefix=b"k"):
    return b"".join(kv_op(b"%s%d" % (prefix, i), b"v") for i in range(n))


def rss_anon_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def sanitized():
    path = os.environ.get("SEALDB_BIN") or "build/sealdb"
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


class PeakRss(threading.Thread):
    """Samples the server's RssAnon every 20 ms while running: .peak_kb."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._stop_flag = pid, 0, False

    def run(self):
        while not self._stop_flag:
            try:
                self.peak_kb = max(self.peak_kb, rss_anon_kb(self.pid))
            except OSError:
                return
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._stop_flag = True
        self.join(5)
        return False
