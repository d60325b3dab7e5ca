// console.js - sealdb's minimal web console: log in, pick a database, browse and write keys, read a key
// with its inclusion proof checked here (WebCrypto SHA-256), history, a tx, the state, databases, users.
// It only calls the REST API of the server that served it (same origin).

import { alh, cat, entryDigest, inclusionOk, kvMetadata } from "./verify.js";

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
  if (!r.ok) throw new Error(js && js.message ? js.message : r.status + " " + text.trim());
  return js;
}

// ---- proofs: verify.js ----
function headerBytes(h) {
  if (h.metadata && (h.metadata.truncatedTxID || h.metadata.extra)) throw new Error("tx metadata this console cannot hash");
  return { id: h.id, prevAlh: unb64(h.prevAlh), ts: h.ts, version: h.version || 0, mdBytes: new Uint8Array(0),
           nentries: h.nentries, eH: unb64(h.eH), blTxId: h.blTxId, blRoot: unb64(h.blRoot) };
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

async function scan(reset) {
  const prefix = new FormData($("scanform")).get("prefix");
  if (reset) { nextSeek = null; $("keyrows").replaceChildren(); }
  const body = { limit: "20" };
  if (prefix) body.prefix = b64text(prefix);
  if (nextSeek) body.seekKey = nextSeek;
  const js = await api("POST", "/db/scan", body);
  const entries = js.entries || [];
  for (const e of entries) {
    const tr = document.createElement("tr");
    cell(tr, show(e.key));
    cell(tr, show(e.value), "v");
    cell(tr, e.tx);
    cell(tr, e.revision || "");
    tr.onclick = () => { $("keyform").key.value = show(e.key); tab("key"); act(getKey); };
    $("keyrows").appendChild(tr);
  }
  nextSeek = entries.length === 20 ? entries[entries.length - 1].key : null;
  $("more").hidden = !nextSeek;
}

async function getKey() {
  const key = $("keyform").key.value;
  const out = $("keyout");
  out.replaceChildren();
  const js = await api("POST", "/db/verifiable/get", { keyRequest: { key: b64text(key) }, proveSinceTx: "0" });
  const e = js.entry;
  const p = document.createElement("p");
  const mark = document.createElement("span");
  let ok = false, why = "";
  try {
    if (e.referencedBy) throw new Error("a reference: its entry is proven, not shown here");
    const hdrs = [js.verifiableTx.dualProof.sourceTxHeader, js.verifiableTx.dualProof.targetTxHeader];
    const h = hdrs.find((x) => x && x.id === e.tx);
    if (!h) throw new Error("no header of tx " + e.tx + " in the answer");
    const hb = headerBytes(h);
    const d = await entryDigest(cat(Uint8Array.of(0), unb64(e.key)), cat(Uint8Array.of(0), unb64(e.value)),
                                kvMetadata(e.metadata), hb.version);
    const ip = js.inclusionProof || {};
    if (!(await inclusionOk(ip.leaf || 0, ip.width || 0, (ip.terms || []).map(unb64), d, hb.eH)))
      throw new Error("inclusion proof does not match the tx's eH");
    const a = await alh(hb);
    ok = true;
    why = "entry proven in tx " + h.id + " (Alh " + b64(a).slice(0, 16) + "...)";
  } catch (err) {
    why = err.message;
  }
  mark.className = ok ? "ok" : "bad";
  mark.textContent = ok ? "✔ " + why : "✘ not trusted: " + why;
  p.appendChild(mark);
  out.appendChild(p);
  const v = document.createElement("pre");
  v.textContent = show(e.value);
  if (!ok) v.className = "bad-box";
  out.appendChild(v);
  const hist = await api("POST", "/db/history", { key: b64text(key) });
  $("histrows").replaceChildren();
  for (const h of hist.entries || []) {
    const tr = document.createElement("tr");
    cell(tr, h.tx);
    cell(tr, h.revision || "");
    cell(tr, h.metadata && h.metadata.deleted ? "(deleted)" : show(h.value), "v");
    $("histrows").appendChild(tr);
  }
}

async function showTx() {
  const id = $("txform").tx.value;
  const js = await api("GET", "/db/tx/" + encodeURIComponent(id) + "?entriesSpec.kvEntriesSpec.action=RESOLVE");
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(js, null, 2);
  $("txout").replaceChildren(pre);
}

async function showState() {
  const js = await api("GET", "/db/state");
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(js, null, 2) + (js.signature ? "" : "\n(the server signs no state: no --signingKey)");
  $("stateout").replaceChildren(pre);
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
}

async function act(fn) {
  msg("");
  try { await fn(); } catch (err) { msg(err.message); }
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

if (token) act(enter);
