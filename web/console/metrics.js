// metrics.js - the console's reading of the server's Prometheus /metrics text: a parser of the text
// exposition format, the totals the charts need (calls handled by read and by write methods, and their
// latency histogram) and the rates between two scrapes. No DOM here: tests/js/metrics.test.mjs runs it in Node.

// The KV methods that write and that read data; the rest (log in, state, admin, replication) is neither.
export const WRITE_METHODS = new Set(["Set", "VerifiableSet", "Delete", "ExecAll", "SetReference", "VerifiableSetReference",
  "ZAdd", "VerifiableZAdd", "streamSet", "streamVerifiableSet", "streamExecAll"]);
export const READ_METHODS = new Set(["Get", "VerifiableGet", "GetAll", "Scan", "Count", "CountAll", "History", "TxById",
  "VerifiableTxById", "TxScan", "ZScan", "streamGet", "streamVerifiableGet", "streamScan", "streamHistory",
  "streamZScan"]);

function number(s) {
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error("not a number: " + s);
  return Number(s);
}

// One sample line: name{label="value",...} value [timestamp]. Label values may hold \\, \" and \n.
function sampleLine(line, no) {
  const bad = (why) => new Error("metrics line " + no + ": " + why);
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw bad("no metric name");
  const name = m[1];
  const labels = {};
  let i = name.length;
  while (line[i] === " ") i++;
  if (line[i] === "{") {
    i++;
    for (;;) {
      while (line[i] === " ") i++;
      if (line[i] === "}") { i++; break; }
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(i));
      if (!lm) throw bad("bad label");
      i += lm[0].length;
      let v = "";
      for (;;) {
        if (i >= line.length) throw bad("unterminated label value");
        const c = line[i++];
        if (c === '"') break;
        if (c === "\\") {
          const e = line[i++];
          if (e === "n") v += "\n";
          else if (e === "\\" || e === '"') v += e;
          else throw bad("bad escape \\" + e);
        } else v += c;
      }
      labels[lm[1]] = v;
      while (line[i] === " ") i++;
      if (line[i] === ",") i++;
      else if (line[i] !== "}") throw bad("expected , or }");
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === "") throw bad("expected a value and an optional timestamp");
  let value;
  try { value = number(rest[0]); } catch (e) { throw bad(e.message); }
  return { name, labels, value };
}

// The samples of a /metrics text, in order: [{name, labels, value}]. # lines (HELP, TYPE, comments) and
// blank lines are skipped; a malformed line throws (the console then says the server's metrics are unreadable).
export function parseMetrics(text) {
  const out = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (!line || line[0] === "#") continue;
    out.push(sampleLine(line, n + 1));
  }
  return out;
}

// What the charts need from one scrape: calls handled by write and read methods (any status), and the
// latency histogram summed over those methods (null when the server runs with --no-histograms).
export function totals(samples) {
  const t = { writes: 0, reads: 0, latency: null };
  const buckets = new Map();
  let sum = 0, count = 0, seen = false;
  for (const s of samples) {
    const meth = s.labels.grpc_method;
    const kv = WRITE_METHODS.has(meth) || READ_METHODS.has(meth);
    if (!kv) continue;
    if (s.name === "grpc_server_handled_total") {
      if (WRITE_METHODS.has(meth)) t.writes += s.value; else t.reads += s.value;
    } else if (s.name === "grpc_server_handling_seconds_bucket") {
      const le = number(s.labels.le);
      buckets.set(le, (buckets.get(le) || 0) + s.value);
      seen = true;
    } else if (s.name === "grpc_server_handling_seconds_sum") {
      sum += s.value;
    } else if (s.name === "grpc_server_handling_seconds_count") {
      count += s.value;
    }
  }
  if (seen) t.latency = { sum, count, buckets: [...buckets].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, c })) };
  return t;
}

// The q-quantile (0..1) of a cumulative histogram [{le, c}] (ascending le, last +Inf), interpolated
// linearly inside its bucket as Prometheus' histogram_quantile does; null without observations.
// A quantile in the +Inf bucket is the highest finite bound.
export function quantile(q, buckets) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1].c;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0, prevC = 0;
  for (const b of buckets) {
    if (b.c >= rank) {
      if (b.le === Infinity) return prevLe;
      if (b.c === prevC) return b.le;
      return prevLe + (b.le - prevLe) * (rank - prevC) / (b.c - prevC);
    }
    prevLe = b.le;
    prevC = b.c;
  }
  return prevLe;
}

// Rates between two scrapes dt seconds apart: writes/s, reads/s, and over the calls handled meanwhile
// their mean and p95 latency in milliseconds (null when no call ended or there is no histogram).
// A counter that went down means the server restarted: the later value counts as what happened since.
export function rates(prev, cur, dt) {
  const d = (a, b) => (b >= a ? b - a : b);
  const r = { writes: d(prev.writes, cur.writes) / dt, reads: d(prev.reads, cur.reads) / dt, meanMs: null, p95Ms: null };
  const a = prev.latency, b = cur.latency;
  if (a && b) {
    const restarted = b.count < a.count;
    const n = restarted ? b.count : b.count - a.count;
    if (n > 0) {
      r.meanMs = (restarted ? b.sum : b.sum - a.sum) / n * 1000;
      const before = new Map(restarted ? [] : a.buckets.map((x) => [x.le, x.c]));
      r.p95Ms = quantile(0.95, b.buckets.map((x) => ({ le: x.le, c: x.c - (before.get(x.le) || 0) }))) * 1000;
    }
  }
  return r;
}
