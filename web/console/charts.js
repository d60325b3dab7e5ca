// charts.js - the metrics tab: scrapes the server's /metrics (same origin) every second, turns two
// scrapes into writes/s, reads/s and latency (metrics.js) and draws each as a small live line chart on a
// <canvas>, its current value printed beside it. The figure elements carry data-value (latest),
// data-peak (highest shown) and data-total (the counter), for tests and for reading off.

import { parseMetrics, rates, totals } from "./metrics.js";

const POINTS = 60;          // one minute at one scrape a second
const PERIOD_MS = 1000;

// A round upper bound for the y axis: 1, 2 or 5 times a power of ten, at least max.
function roundUp(max) {
  if (!(max > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}
const fmt = (v, unit) => (v === null ? "–" : (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + unit);

class LineChart {
  constructor(fig, unit) {
    this.fig = fig;
    this.unit = unit;
    this.canvas = fig.querySelector("canvas");
    this.out = fig.querySelector(".val");
    this.sub = fig.querySelector(".sub");
    this.series = [];
  }

  push(v, sub) {
    this.series.push(v);
    if (this.series.length > POINTS) this.series.shift();
    const peak = Math.max(0, ...this.series.filter((x) => x !== null));
    this.out.textContent = fmt(v, this.unit);
    if (this.sub) this.sub.textContent = sub || "";
    this.fig.dataset.value = v === null ? "" : String(v);
    this.fig.dataset.peak = String(peak);
    this.draw(peak);
  }

  draw(peak) {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 320, h = c.clientHeight || 100;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const top = roundUp(peak), left = 4, right = w - 4, y0 = h - 14, y1 = 14;
    g.font = "10px system-ui, sans-serif";
    g.fillStyle = "#888";
    g.strokeStyle = "#e4e4e4";
    g.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      const y = Math.round(y0 - (y0 - y1) * f) + 0.5;
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
    }
    g.fillText(+top.toPrecision(3) + this.unit, left, y1 - 3);
    g.fillText("last " + POINTS + " s", left, h - 2);
    const x = (i) => right - (this.series.length - 1 - i) * (right - left) / (POINTS - 1);
    const y = (v) => y0 - (y0 - y1) * Math.min(v / top, 1);
    g.strokeStyle = "#1d3557";
    g.fillStyle = "rgba(29, 53, 87, 0.12)";
    g.lineWidth = 1.5;
    // a run of points without a value (no call ended then) leaves a gap
    let run = [];
    const flush = () => {
      if (!run.length) return;
      g.beginPath();
      run.forEach(([px, py], k) => (k ? g.lineTo(px, py) : g.moveTo(px, py)));
      g.stroke();
      g.lineTo(run[run.length - 1][0], y0); g.lineTo(run[0][0], y0); g.closePath(); g.fill();
      if (run.length === 1) g.fillRect(run[0][0] - 1.5, run[0][1] - 1.5, 3, 3);
      run = [];
    };
    this.series.forEach((v, i) => { if (v === null) flush(); else run.push([x(i), y(v)]); });
    flush();
  }
}

let timer = null, charts = null, last = null, lastAt = 0;

async function scrape(note) {
  let t;
  try {
    const r = await fetch("/metrics", { cache: "no-store" });
    if (r.status === 404) throw new Error("this server serves no metrics (started with --metrics-server=false)");
    if (!r.ok) throw new Error("/metrics: " + r.status);
    t = totals(parseMetrics(await r.text()));
  } catch (err) {
    note.textContent = err.message;
    note.className = "bad";
    return;
  }
  const now = performance.now();
  note.textContent = t.latency ? "" : "no latency figures: the server runs with --no-histograms";
  note.className = "";
  charts.writes.fig.dataset.total = String(t.writes);
  charts.reads.fig.dataset.total = String(t.reads);
  if (last) {
    const r = rates(last, t, (now - lastAt) / 1000);
    charts.writes.push(r.writes);
    charts.reads.push(r.reads);
    charts.latency.push(r.meanMs, r.p95Ms === null ? "" : "p95 ≈ " + fmt(r.p95Ms, " ms"));
  }
  last = t;
  lastAt = now;
}

// Starts the scrapes (the metrics tab is shown), one a second, each after the previous one ended; the
// charts start empty, as their time axis would not hold while the tab was hidden.
let generation = 0;
export function startCharts() {
  if (timer) return;
  const $ = (id) => document.getElementById(id);
  charts = charts || { writes: new LineChart($("chart-writes"), "/s"), reads: new LineChart($("chart-reads"), "/s"),
                       latency: new LineChart($("chart-latency"), " ms") };
  for (const c of Object.values(charts)) c.series = [];
  last = null;
  const mine = ++generation;
  const loop = async () => {
    const began = performance.now();
    await scrape($("metricsnote"));
    if (generation === mine) timer = setTimeout(loop, Math.max(100, PERIOD_MS - (performance.now() - began)));
  };
  timer = setTimeout(loop, 0);
}

export function stopCharts() {
  if (timer) clearTimeout(timer);
  timer = null;
  generation++;
}
