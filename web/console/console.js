// console.js - sealdb's minimal web console: log in, pick a database, browse and write keys, a key's
// history, a tx, the state, databases, users, live charts of the server's metrics (charts.js). Every value, history entry, tx and state it shows is proven
// here against a trusted state kept in localStorage per server and database (inclusion + dual proofs,
// state signatures with WebCrypto), as immudb's SDKs do; what fails is marked red with the reason.
// It only calls the REST API of the server that served it (same origin).

import { alh, cat, dualOk, entryDigest, entryDigestOfHash, htreeRoot, inclusionOk, kvMetadata, same,
         stateSignatureOk, u64 } from "./verify.js";
import { startCharts, stopCharts } from "./charts.js";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("sealdb.token") || "";
let nextSeek = null;

// ---- bytes and text ----
const enc = new TextEncoder();
const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
const unb64 = (s) => Uint8Array.from(atob(s || ""), (c) => c.charCodeAt(0));
const b64text = (s) => b64(enc.encode(s));
function show(s) {
  const bytes = unb64(s);
  try { return new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch { return "base64:" + s; }
}
// a key typed or clicked: "base64:..." is how show() writes keys that are not UTF-8
const keyBytes = (text) => (text.startsWith("base64:") ? unb64(text.slice(7)) : enc.encode(text));
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}
function msg(text) { $("msg").textContent = text || ""; }

// ---- the REST API ----
async function api(method, path, body) {
  const h = { "Content-Type": "application/json" };
  if (token) h.Authorization = "Bearer " + token;
  const r = await fetch("/api" + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let js = null;
  try { js = JSON.parse(text); } catch { /* routing errors are plain text */ }
  // a token this server does not know (expired, or the server's data was replaced): log in again
  if (path !== "/login" && (r.status === 401 || (js && /invalid token|token has expired/.test(js.message || ""))))
    loggedOut();
  if (!r.ok) throw new Error(js && js.message ? js.message : r.status + " " + text.trim());
  return js;
}

// ---- proofs: verify.js against the trusted state ----
const n64 = (v) => Number(v || 0);   // ids and counts stay far below 2^53
function headerBytes(h) {
  if (!h) throw new Error("no tx header in the answer");
  const md = h.metadata || {};
  if (md.truncatedTxID || md.extra) throw new Error("tx metadata this console cannot hash");
  return { id: n64(h.id), prevAlh: unb64(h.prevAlh), ts: h.ts || 0, version: h.version || 0, mdBytes: new Uint8Array(0),
           nentries: h.nentries || 0, eH: unb64(h.eH), blTxId: n64(h.blTxId), blRoot: unb64(h.blRoot) };
}
function dualBytes(dp) {
  if (!dp) throw new Error("no dual proof in the answer");
  const lp = dp.linearProof || {}, la = dp.LinearAdvanceProof || dp.linearAdvanceProof;
  return {
    source: headerBytes(dp.sourceTxHeader), target: headerBytes(dp.targetTxHeader),
    inclusion: (dp.inclusionProof || []).map(unb64), consistency: (dp.consistencyProof || []).map(unb64),
    lastInclusion: (dp.lastInclusionProof || []).map(unb64), targetBlTxAlh: unb64(dp.targetBlTxAlh),
    linear: { sourceTxId: n64(lp.sourceTxId), targetTxId: n64(lp.TargetTxId ?? lp.targetTxId), terms: (lp.terms || []).map(unb64) },
    lap: la ? { linearTerms: (la.linearProofTerms || []).map(unb64),
                inclusions: (la.inclusionProofs || []).map((x) => (x.terms || []).map(unb64)) } : null,
  };
}

// The trusted state {txId, txHash (base64), pubKey (base64, pinned at first signed state)} of this server
// and database; it only moves forward, to states proven consistent with it.
const stateKey = () => "sealdb.trusted." + location.host + "/" + (sessionStorage.getItem("sealdb.db") || "defaultdb");
function trusted() {
  try { return JSON.parse(localStorage.getItem(stateKey())) || { txId: 0, txHash: "" }; } catch { return { txId: 0, txHash: "" }; }
}
function trust(st) { localStorage.setItem(stateKey(), JSON.stringify(st)); }

// proofs run one at a time, so each starts from the state the previous one left
let chain = Promise.resolve();
const serial = (fn) => { const p = chain.then(fn, fn); chain = p.catch(() => {}); return p; };

async function checkSignature(st, id, alhT, sig) {
  const db = sessionStorage.getItem("sealdb.db") || "defaultdb";
  if (!sig || !sig.signature) {
    if (st.pubKey) throw new Error("the server signed earlier states but not this one");
    return "";
  }
  const pub = unb64(sig.publicKey);
  if (st.pubKey && st.pubKey !== sig.publicKey) throw new Error("the server's signing key changed");
  if (!(await stateSignatureOk(db, id, alhT, unb64(sig.signature), pub))) throw new Error("bad state signature");
  st.pubKey = sig.publicKey;
  return ", signed";
}

// A VerifiableTx answer for tx v: picks source and target as the SDKs do, proves the dual proof from
// the trusted state, checks the signature, moves the trusted state forward. Returns the header of v.
async function proveTx(vtx, v, st) {
  const dp = dualBytes(vtx.dualProof);
  let s, t, alhS, alhT, hv;
  if (st.txId <= v) {
    if (dp.target.id !== v) throw new Error("dual proof target is tx " + dp.target.id + ", not " + v);
    hv = dp.target;
    s = st.txId; alhS = unb64(st.txHash); t = v; alhT = await alh(dp.target);
  } else {
    if (dp.source.id !== v) throw new Error("dual proof source is tx " + dp.source.id + ", not " + v);
    hv = dp.source;
    s = v; alhS = await alh(dp.source); t = st.txId; alhT = unb64(st.txHash);
  }
  if (st.txId > 0 && !(await dualOk(dp, s, t, alhS, alhT)))
    throw new Error("dual proof from trusted tx " + st.txId + " fails: history was rewritten");
  const signed = await checkSignature(st, t, alhT, vtx.signature);
  if (t > st.txId) { st.txId = t; st.txHash = b64(alhT); }
  return { hv, note: "proven against trusted tx " + st.txId + signed };
}

// VerifiedGet of key (bytes) at tx atTx (0: latest): {e: the entry, ok, why: what was proven or why not}.
function proveEntry(key, atTx) {
  return serial(async () => {
    const st = trusted();
    const kr = { key: b64(key) };
    if (atTx) kr.atTx = String(atTx);
    let js;
    try {
      js = await api("POST", "/db/verifiable/get", { keyRequest: kr, proveSinceTx: String(st.txId) });
    } catch (err) {
      if (/key not found/.test(err.message)) throw err;
      return { e: {}, ok: false, why: "the server gives no proof: " + err.message };
    }
    const e = js.entry || {};
    let ok = false, why = "";
    try {
      let d;
      const version = ((js.verifiableTx.tx || {}).header || {}).version || 0;
      const rb = e.referencedBy;
      if (rb) {
        d = await entryDigest(cat(Uint8Array.of(0), key),
                              cat(Uint8Array.of(1), u64(rb.atTx), Uint8Array.of(0), unb64(e.key)),
                              kvMetadata(rb.metadata), version);
      } else {
        if (!same(unb64(e.key), key))
          throw new Error("the answer is for another key");
        d = await entryDigest(cat(Uint8Array.of(0), unb64(e.key)), cat(Uint8Array.of(0), unb64(e.value)),
                              kvMetadata(e.metadata), version);
      }
      const v = n64(rb ? rb.tx : e.tx);
      if (atTx && v !== atTx) throw new Error("entry of tx " + v + ", asked for tx " + atTx);
      const ns = { ...st };
      const { hv, note } = await proveTx(js.verifiableTx, v, ns);
      const ip = js.inclusionProof || {};
      if (!(await inclusionOk(ip.leaf || 0, ip.width || 0, (ip.terms || []).map(unb64), d, hv.eH)))
        throw new Error("inclusion proof fails: the value is not the one committed in tx " + v);
      trust(ns);
      ok = true;
      why = "entry in tx " + v + (rb ? " (reference; the resolved value is not covered)" : "") + ", " + note;
    } catch (err) {
      why = err.message;
    }
    return { e, ok, why };
  });
}

// VerifiedTxById with the entries re-hashed against eH (the SDKs skip that).
function proveTxById(id) {
  return serial(async () => {
    const st = trusted();
    const js = await api("GET", "/db/verifiable/tx/" + id + "?proveSinceTx=" + st.txId +
                         "&entriesSpec.kvEntriesSpec.action=RAW_VALUE");
    let ok = false, why = "";
    try {
      const ns = { ...st };
      const { hv, note } = await proveTx(js, id, ns);
      const tx = js.tx || {};
      const h = headerBytes(tx.header);
      if (!same(await alh(h), await alh(hv))) throw new Error("tx header differs from the proven one");
      const ds = [];
      for (const x of tx.entries || []) {
        const hv = unb64(x.hValue);
        if (x.value && !same(new Uint8Array(await crypto.subtle.digest("SHA-256", unb64(x.value))), hv))
          throw new Error("an entry's value does not hash to its hValue");
        ds.push(await entryDigestOfHash(unb64(x.key), hv, kvMetadata(x.metadata), h.version));
      }
      const root = await htreeRoot(ds);
      if (ds.length !== h.nentries || !root || !same(root, h.eH)) throw new Error("entries do not hash to the tx's eH");
      trust(ns);
      ok = true;
      why = "tx " + id + " and its " + ds.length + " entries, " + note;
    } catch (err) {
      why = err.message;
    }
    return { js, ok, why };
  });
}

// The server's current state, proven consistent with the trusted one (dual proof to its tx) and signed.
function proveState() {
  return serial(async () => {
    const st = trusted();
    const js = await api("GET", "/db/state");
    let ok = false, why = "";
    try {
      const id = n64(js.txId), hash = unb64(js.txHash);
      const ns = { ...st };
      const signed = await checkSignature(ns, id, hash, js.signature);
      if (id < st.txId) throw new Error("the server's state (tx " + id + ") is behind the trusted tx " + st.txId);
      if (id > 0) {
        const vt = await api("GET", "/db/verifiable/tx/" + id + "?proveSinceTx=" + st.txId);
        const { hv } = await proveTx(vt, id, ns);
        if (!same(await alh(hv), hash)) throw new Error("txHash is not the Alh of tx " + id);
      }
      trust(ns);
      ok = true;
      why = "state at tx " + id + " consistent with the trusted state" + signed;
    } catch (err) {
      why = err.message;
    }
    return { js, ok, why };
  });
}

function mark(ok, why) {
  const m = document.createElement("span");
  m.className = ok ? "ok" : "bad";
  m.textContent = ok ? "✔ verified" : "✘ not trusted: " + why;
  m.title = why;
  return m;
}
// a mark with its reason spelled out after it (the pages showing one item)
function markLine(r) {
  const p = document.createElement("p");
  p.appendChild(mark(r.ok, r.why));
  if (r.ok) {
    const note = document.createElement("small");
    note.textContent = " " + r.why;
    p.appendChild(note);
  }
  return p;
}
function markCell(row, r) {
  const td = document.createElement("td");
  td.appendChild(mark(r.ok, r.why));
  row.appendChild(td);
}

// ---- views ----
async function loadDatabases() {
  const js = await api("POST", "/db/list/v2", {});
  const sel = $("db");
  const cur = sessionStorage.getItem("sealdb.db") || "defaultdb";
  sel.replaceChildren();
  const rows = $("dbrows");
  rows.replaceChildren();
  for (const d of js.databases || []) {
    const o = document.createElement("option");
    o.value = o.textContent = d.name;
    o.selected = d.name === cur;
    sel.appendChild(o);
    const tr = document.createElement("tr");
    cell(tr, d.name);
    cell(tr, d.loaded ? "yes" : "no");
    cell(tr, d.numTransactions || "0");
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.textContent = d.loaded ? "unload" : "load";
    b.onclick = () => act(async () => {
      await api("POST", d.loaded ? "/db/unload" : "/db/load", { database: d.name });
      await loadDatabases();
    });
    td.appendChild(b);
    tr.appendChild(td);
    rows.appendChild(tr);
  }
}

async function useDatabase(name) {
  const js = await api("GET", "/db/use/" + encodeURIComponent(name));
  token = js.token;
  sessionStorage.setItem("sealdb.token", token);
  sessionStorage.setItem("sealdb.db", name);
}

// Each row's value is shown as the proven entry of its tx (a VerifiableGet at that tx), not the scan's copy.
async function scan(reset) {
  const prefix = new FormData($("scanform")).get("prefix");
  if (reset) { nextSeek = null; $("keyrows").replaceChildren(); }
  const body = { limit: "20" };
  if (prefix) body.prefix = b64text(prefix);
  if (nextSeek) body.seekKey = nextSeek;
  const js = await api("POST", "/db/scan", body);
  const entries = js.entries || [];
  nextSeek = entries.length === 20 ? entries[entries.length - 1].key : null;
  $("more").hidden = !nextSeek;
  for (const e of entries) {
    const tr = document.createElement("tr");
    const key = show(e.key);
    const r = await proveEntry(unb64(e.key), n64(e.tx));
    if (r.ok && r.e.value !== e.value) { r.ok = false; r.why = "the scan's value differs from the proven one"; }
    cell(tr, key);
    cell(tr, show(r.ok ? r.e.value : e.value), r.ok ? "v" : "v untrusted");
    cell(tr, e.tx);
    cell(tr, e.revision || "");
    markCell(tr, r);
    tr.onclick = () => { $("keyform").key.value = key; tab("key"); act(getKey); };
    $("keyrows").appendChild(tr);
  }
}

async function getKey() {
  const key = $("keyform").key.value;
  const out = $("keyout");
  out.replaceChildren();
  $("histrows").replaceChildren();
  const kb = keyBytes(key);
  const r = await proveEntry(kb, 0);
  out.appendChild(markLine(r));
  const v = document.createElement("pre");
  v.textContent = show(r.e.value);
  v.className = r.ok ? "v" : "bad-box";
  out.appendChild(v);
  // newest 20 revisions, each proven by a VerifiableGet at its tx
  const hist = await api("POST", "/db/history", { key: b64(kb), desc: true, limit: "20" });
  for (const h of hist.entries || []) {
    const tr = document.createElement("tr");
    const hr = await proveEntry(kb, n64(h.tx));
    if (hr.ok && (hr.e.value || "") !== (h.value || "")) { hr.ok = false; hr.why = "history's value differs from the proven one"; }
    cell(tr, h.tx);
    cell(tr, h.revision || "");
    cell(tr, h.metadata && h.metadata.deleted ? "(deleted)" : show(h.value), hr.ok ? "v" : "v untrusted");
    markCell(tr, hr);
    $("histrows").appendChild(tr);
  }
}

async function showTx() {
  const id = n64($("txform").tx.value);
  const r = await proveTxById(id);
  const out = $("txout");
  out.replaceChildren();
  out.appendChild(markLine(r));
  const h = (r.js.tx || {}).header || {};
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(h, null, 2);
  out.appendChild(pre);
  const t = document.createElement("table");
  t.innerHTML = "<thead><tr><th>key</th><th>value</th><th>value SHA-256</th></tr></thead>";
  const tb = document.createElement("tbody");
  for (const x of (r.js.tx || {}).entries || []) {
    const tr = document.createElement("tr");
    const k = unb64(x.key);
    cell(tr, show(b64(k.subarray(1))));   // stored keys carry a one-byte prefix
    const val = x.value ? unb64(x.value) : null;
    cell(tr, val && val[0] === 0 ? show(b64(val.subarray(1))) : "", r.ok ? "v" : "v untrusted");
    cell(tr, Array.from(unb64(x.hValue), (c) => c.toString(16).padStart(2, "0")).join("").slice(0, 16) + "...");
    tb.appendChild(tr);
  }
  t.appendChild(tb);
  out.appendChild(t);
}

async function showState() {
  const r = await proveState();
  const out = $("stateout");
  out.replaceChildren();
  out.appendChild(markLine(r));
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(r.js, null, 2) + (r.js.signature ? "" : "\n(the server signs no state: no --signingKey)");
  if (!r.ok) pre.className = "bad-box";
  out.appendChild(pre);
  const st = trusted();
  const t = document.createElement("p");
  t.className = "trusted";
  t.textContent = "trusted in this browser: tx " + st.txId + ", Alh " + (st.txHash || "(none)") +
                  (st.pubKey ? ", server key " + st.pubKey.slice(0, 24) + "..." : ", no server key pinned");
  const b = document.createElement("button");
  b.textContent = "forget the trusted state";
  b.title = "only after a legitimate reset of the server's data: the next state shown is trusted as is";
  b.onclick = () => act(async () => {
    if (!confirm("Forget the trusted state of this database?")) return;
    localStorage.removeItem(stateKey());
    await showState();
  });
  out.append(t, b);
}

async function showUsers() {
  const js = await api("GET", "/user/list");
  $("userrows").replaceChildren();
  for (const u of js.users || []) {
    const tr = document.createElement("tr");
    cell(tr, show(u.user));
    cell(tr, u.active ? "yes" : "no");
    cell(tr, (u.permissions || []).map((p) => p.database + ":" + p.permission).join(" "));
    cell(tr, u.createdby || "");
    $("userrows").appendChild(tr);
  }
}

function tab(name) {
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== name;
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("on", b.dataset.tab === name);
  if (name === "state") act(showState);
  if (name === "dbs") act(loadDatabases);
  if (name === "users") act(showUsers);
  if (name === "metrics") startCharts(); else stopCharts();
}

async function act(fn) {
  msg("");
  try { await fn(); } catch (err) { msg(err.message); }
}

function loggedOut() {
  stopCharts();
  token = "";
  sessionStorage.removeItem("sealdb.token");
  $("login").hidden = false;
  $("app").hidden = true;
  $("dbpick").hidden = true;
  $("logout").hidden = true;
}

async function enter() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("dbpick").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = sessionStorage.getItem("sealdb.user") || "";
  await loadDatabases();
  await scan(true);
}

// ---- wiring ----
$("loginform").onsubmit = (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  act(async () => {
    token = "";
    const js = await api("POST", "/login", { user: b64text(f.get("user")), password: b64text(f.get("password")) });
    token = js.token;
    sessionStorage.setItem("sealdb.user", f.get("user"));
    await useDatabase(sessionStorage.getItem("sealdb.db") || "defaultdb");
    await enter();
  });
};
$("logout").onclick = () => act(async () => {
  try { await api("POST", "/logout", {}); } finally {
    token = "";
    sessionStorage.clear();
    location.reload();
  }
});
$("db").onchange = (ev) => act(async () => { await useDatabase(ev.target.value); await scan(true); });
$("scanform").onsubmit = (ev) => { ev.preventDefault(); act(() => scan(true)); };
$("more").onclick = () => act(() => scan(false));
$("setform").onsubmit = (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  act(async () => {
    const js = await api("POST", "/db/set", { KVs: [{ key: b64text(f.get("key")), value: b64text(f.get("value")) }] });
    msg("written in tx " + js.id);
    await scan(true);
  });
};
$("keyform").onsubmit = (ev) => { ev.preventDefault(); act(getKey); };
$("txform").onsubmit = (ev) => { ev.preventDefault(); act(showTx); };
$("dbform").onsubmit = (ev) => {
  ev.preventDefault();
  const name = new FormData(ev.target).get("name");
  act(async () => { await api("POST", "/db/create/v2", { name }); await loadDatabases(); });
};
for (const b of document.querySelectorAll("nav button")) b.onclick = () => tab(b.dataset.tab);

// data-started marks the end of start-up (the stored token tried, or the login form shown), for tests
const started = () => { document.body.dataset.started = "1"; };
if (token) act(enter).finally(started); else started();
