// metrics.test.mjs - the console's /metrics reading (web/console/metrics.js): the Prometheus text parser
// (labels, escapes, special values, malformed lines refused), the read/write totals, histogram quantiles
// and the rates between two scrapes. Run: node --test tests/js/
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMetrics, quantile, rates, totals } from "../../web/console/metrics.js";

const L = (m, t = "unary") => `grpc_method="${m}",grpc_service="immudb.schema.ImmuService",grpc_type="${t}"`;
const BOUNDS = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "5", "+Inf"];

// A scrape shaped as sealdb writes it: per method handled counts per code and a cumulative histogram.
function scrape(calls) {
  let s = "# HELP grpc_server_handled_total Total number of RPCs completed on the server.\n" +
          "# TYPE grpc_server_handled_total counter\n";
  for (const [m, c] of Object.entries(calls)) {
    s += `grpc_server_handled_total{grpc_code="OK",${L(m)}} ${c.ok}\n`;
    if (c.err) s += `grpc_server_handled_total{grpc_code="NotFound",${L(m)}} ${c.err}\n`;
  }
  s += "# TYPE grpc_server_handling_seconds histogram\n";
  for (const [m, c] of Object.entries(calls)) {
    let cum = 0;
    BOUNDS.forEach((b, i) => { cum += c.b[i] || 0; s += `grpc_server_handling_seconds_bucket{${L(m)},le="${b}"} ${cum}\n`; });
    s += `grpc_server_handling_seconds_sum{${L(m)}} ${c.sum}\n`;
    s += `grpc_server_handling_seconds_count{${L(m)}} ${cum}\n`;
  }
  return s;
}

test("parser: names, labels, escapes, special values, timestamps, comments", () => {
  const s = parseMetrics([
    "# HELP a_total with {braces} and \"quotes\"",
    "# TYPE a_total counter",
    "",
    "a_total 3",
    "b{x=\"1\",y=\"two words\"} 1.5e3",
    "c{p=\"a\\\\b\\\"c\\nd\",} +Inf 1700000000000",
    "d { q = \"v\" } -Inf",
    "e NaN",
    "f:g_h{} -0.25",
    "  immudb_uptime_hours 0.000278  ",
  ].join("\n"));
  assert.equal(s.length, 7);
  assert.deepEqual(s[0], { name: "a_total", labels: {}, value: 3 });
  assert.deepEqual(s[1], { name: "b", labels: { x: "1", y: "two words" }, value: 1500 });
  assert.deepEqual(s[2], { name: "c", labels: { p: 'a\\b"c\nd' }, value: Infinity });
  assert.deepEqual(s[3], { name: "d", labels: { q: "v" }, value: -Infinity });
  assert.ok(Number.isNaN(s[4].value));
  assert.deepEqual(s[5], { name: "f:g_h", labels: {}, value: -0.25 });
  assert.equal(s[6].value, 0.000278);
});

test("parser: malformed lines are refused with their line number", () => {
  for (const bad of ["x", "x{a=\"1\" 2", "x{a=1} 2", "x{a=\"1\"} two", "x 1 2 3", "9x 1", "x{a=\"\\t\"} 1",
                     "x{a=\"1\"b=\"2\"} 1", "{a=\"1\"} 1", "x 0x10"])
    assert.throws(() => parseMetrics("ok 1\n" + bad + "\n"), /metrics line 2/, bad);
});

test("totals: handled calls of write and read methods, any status; others left out", () => {
  const t = totals(parseMetrics(scrape({
    Set: { ok: 5, sum: 0.01, b: [5] },
    VerifiableSet: { ok: 1, sum: 0.002, b: [0, 1] },
    streamSet: { ok: 2, sum: 0.004, b: [0, 2] },
    Get: { ok: 7, err: 3, sum: 0.05, b: [0, 0, 10] },
    Scan: { ok: 1, sum: 0.3, b: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1] },
    Login: { ok: 40, sum: 9, b: [0, 0, 0, 0, 0, 0, 0, 0, 40] },
    CurrentState: { ok: 11, sum: 0.1, b: [11] },
  })));
  assert.equal(t.writes, 8);
  assert.equal(t.reads, 11);
  assert.equal(t.latency.count, 19);   // Login and CurrentState are not in the latency either
  assert.ok(Math.abs(t.latency.sum - 0.366) < 1e-9);
  assert.equal(t.latency.buckets.length, 12);
  assert.deepEqual(t.latency.buckets.map((b) => b.c), [5, 8, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19]);
  assert.equal(t.latency.buckets[11].le, Infinity);
});

test("totals: without histograms (--no-histograms) there is no latency", () => {
  const t = totals(parseMetrics(`grpc_server_handled_total{grpc_code="OK",${L("Set")}} 4\n`));
  assert.deepEqual(t, { writes: 4, reads: 0, latency: null });
  assert.deepEqual(totals([]), { writes: 0, reads: 0, latency: null });
});

test("quantile: interpolated inside the bucket, +Inf capped, empty histogram", () => {
  const h = [{ le: 0.001, c: 50 }, { le: 0.002, c: 100 }, { le: 0.004, c: 100 }, { le: Infinity, c: 100 }];
  assert.equal(quantile(0.5, h), 0.001);
  assert.equal(quantile(0.25, h), 0.0005);
  assert.ok(Math.abs(quantile(0.95, h) - 0.0019) < 1e-12);
  assert.equal(quantile(1, h), 0.002);
  assert.equal(quantile(0.95, [{ le: 0.001, c: 1 }, { le: Infinity, c: 100 }]), 0.001);
  assert.equal(quantile(0.5, [{ le: 0.001, c: 0 }, { le: Infinity, c: 0 }]), null);
  assert.equal(quantile(0.5, []), null);
});

test("rates: per second between scrapes, latency of the calls in between, restarts", () => {
  const a = totals(parseMetrics(scrape({ Set: { ok: 10, sum: 1, b: [0, 0, 0, 0, 0, 0, 0, 0, 0, 10] },
                                         Get: { ok: 4, sum: 0, b: [4] } })));
  const b = totals(parseMetrics(scrape({ Set: { ok: 30, sum: 1.02, b: [0, 20, 0, 0, 0, 0, 0, 0, 0, 10] },
                                         Get: { ok: 8, sum: 0.002, b: [8] } })));
  const r = rates(a, b, 2);
  assert.equal(r.writes, 10);
  assert.equal(r.reads, 2);
  assert.ok(Math.abs(r.meanMs - 22 / 24) < 1e-9, String(r.meanMs));   // 22 ms over the 24 calls since
  // of the 24 new calls 4 in [0, 0.5 ms] and 20 in (0.5, 1 ms]: the 95th at rank 22.8
  assert.ok(Math.abs(r.p95Ms - (0.5 + 0.5 * (22.8 - 4) / 20)) < 1e-9, String(r.p95Ms));
  const idle = rates(b, b, 1);
  assert.deepEqual(idle, { writes: 0, reads: 0, meanMs: null, p95Ms: null });
  // a restarted server's counters start again from 0: what it shows now happened since the last scrape
  const c = totals(parseMetrics(scrape({ Set: { ok: 3, sum: 0.003, b: [0, 3] } })));
  const rc = rates(b, c, 1);
  assert.equal(rc.writes, 3);
  assert.equal(rc.reads, 0);   // Get's series is gone
  assert.ok(Math.abs(rc.meanMs - 1) < 1e-9);
  assert.deepEqual(rates({ writes: 0, reads: 0, latency: null }, b, 1).meanMs, null);
});
