// verify.js - the console's proof checks (docs/format.md 1.2, 3.1, 4.3-8) on bytes, with WebCrypto's SHA-256 and
// ECDSA P-256; pure functions, also run by Node's test runner against tests/vectors (tests/js/).

const sha = async (b) => new Uint8Array(await crypto.subtle.digest("SHA-256", b));

export function cat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
const u16 = (v) => Uint8Array.of((v >> 8) & 255, v & 255);
const u32 = (v) => Uint8Array.of((v >>> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255);
export function u64(v) {
  let x = BigInt.asUintN(64, BigInt(v || 0));
  const b = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { b[i] = Number(x & 255n); x >>= 8n; }
  return b;
}
export const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

// KV metadata as hashed: present attributes in code order (JSON form of KVMetadata).
export function kvMetadata(md) {
  if (!md) return new Uint8Array(0);
  const parts = [];
  if (md.deleted) parts.push(Uint8Array.of(0));
  if (md.expiration) parts.push(Uint8Array.of(1), u64(md.expiration.expiresAt));
  if (md.nonIndexable) parts.push(Uint8Array.of(2));
  return cat(...parts);
}

// Digest of a stored entry (prefixed key and value) in a tx of header version 0 or 1.
export async function entryDigest(storedKey, storedValue, mdBytes, version = 1) {
  const hv = await sha(storedValue);
  if (version === 0) return sha(cat(storedKey, hv));
  return sha(cat(u16(mdBytes.length), mdBytes, u16(storedKey.length), storedKey, hv));
}

// htree inclusion of digest at leaf among width entries, terms nearest sibling first.
export async function inclusionOk(leaf, width, terms, digest, eH) {
  let c = await sha(cat(Uint8Array.of(0), digest));
  let i = leaf, r = width - 1;
  for (const t of terms) {
    c = await sha(i % 2 === 0 && i !== r ? cat(Uint8Array.of(1), c, t) : cat(Uint8Array.of(1), t, c));
    i = Math.floor(i / 2);
    r = Math.floor(r / 2);
  }
  return i === r && same(c, eH);
}

// Alh of a header {id, prevAlh, ts, version, mdBytes, nentries, eH, blTxId, blRoot} (byte fields as bytes).
export async function alh(h) {
  const inner = h.version === 1
    ? cat(u64(h.ts), u16(1), u16(h.mdBytes.length), h.mdBytes, u32(h.nentries), h.eH, u64(h.blTxId), h.blRoot)
    : cat(u64(h.ts), u16(0), u16(h.nentries), h.eH, u64(h.blTxId), h.blRoot);
  return sha(cat(u64(h.id), h.prevAlh, await sha(inner)));
}

// ---- appendable hash tree of Alhs (docs/format.md 5): node = H(1‖l‖r), leaf = H(0‖alh) ----
const node = (l, r) => sha(cat(Uint8Array.of(1), l, r));
export const leafHash = (d) => sha(cat(Uint8Array.of(0), d));

// Leaf i (1-based) of a tree of size j under root; a proof longer than 64 terms cannot be honest.
export async function ahInclusionOk(terms, i, j, leaf, root) {
  if (i === 0 || i > j || (i < j && terms.length === 0) || terms.length > 64) return false;
  let a = BigInt(i - 1), b = BigInt(j - 1), c = leaf;
  for (const t of terms) {
    c = (a & 1n) === 0n && a !== b ? await node(c, t) : await node(t, c);
    a >>= 1n;
    b >>= 1n;
  }
  return same(c, root);
}

export async function ahLastInclusionOk(terms, j, leaf, root) {
  if (j === 0 || terms.length > 64) return false;
  let c = leaf;
  for (const t of terms) c = await node(t, c);
  return same(c, root);
}

// The tree of size i (root ri) is a prefix of the tree of size j (root rj).
export async function ahConsistencyOk(terms, i, j, ri, rj) {
  if (i === 0 || i > j || (i < j && terms.length === 0) || terms.length > 130) return false;
  if (i === j && terms.length === 0) return same(ri, rj);
  let f = BigInt(i - 1), s = BigInt(j - 1);
  while (f & 1n) { f >>= 1n; s >>= 1n; }
  let ci = terms[0], cj = terms[0];
  for (const t of terms.slice(1)) {
    if ((f & 1n) || f === s) {
      ci = await node(t, ci);
      cj = await node(t, cj);
      while ((f & 1n) === 0n && f !== 0n) { f >>= 1n; s >>= 1n; }
    } else {
      cj = await node(cj, t);
    }
    f >>= 1n;
    s >>= 1n;
  }
  return same(ci, ri) && same(cj, rj);
}

// ---- linear, linear-advance and dual proofs (docs/format.md 6, 7) ----
const alhFromInner = (id, prev, inner) => sha(cat(u64(id), prev, inner));

// lp = {sourceTxId, targetTxId, terms}: Alh(s) then the inner hashes of s+1..t.
export async function linearOk(lp, s, t, alhS, alhT) {
  if (!lp || lp.sourceTxId !== s || lp.targetTxId !== t || s === 0 || s > t) return false;
  if (lp.terms.length !== t - s + 1 || !same(lp.terms[0], alhS)) return false;
  let c = lp.terms[0];
  for (let x = 1; x < lp.terms.length; x++) c = await alhFromInner(s + x, c, lp.terms[x]);
  return same(c, alhT);
}

// lap = {linearTerms, inclusions: [terms...]} or null: txs start+1..end-1 are in the tree of size `size`.
export async function linearAdvanceOk(lap, start, end, endAlh, root, size) {
  if (end < start) return false;
  if (end <= start + 1) return true;
  if (!lap || lap.linearTerms.length !== end - start || lap.inclusions.length !== end - start - 1) return false;
  let c = lap.linearTerms[0];
  for (let x = start + 1; x < end; x++) {
    if (!(await ahInclusionOk(lap.inclusions[x - start - 1], x, size, await leafHash(c), root))) return false;
    c = await alhFromInner(x + 1, c, lap.linearTerms[x - start]);
  }
  return same(c, endAlh);
}

// dp = {source, target (headers as for alh()), inclusion, consistency, lastInclusion, targetBlTxAlh, linear, lap}:
// tx s with Alh alhS precedes tx t with Alh alhT in the same chain.
export async function dualOk(dp, s, t, alhS, alhT) {
  const sh = dp.source, th = dp.target;
  if (s === 0 || s > t || sh.id !== s || th.id !== t) return false;
  if (!same(await alh(sh), alhS) || !same(await alh(th), alhT)) return false;
  const sbl = sh.blTxId, tbl = th.blTxId;
  if (s < tbl) {
    if (!(await ahInclusionOk(dp.inclusion, s, tbl, await leafHash(alhS), th.blRoot))) return false;
  }
  if (tbl > 0 && !(await ahLastInclusionOk(dp.lastInclusion, tbl, await leafHash(dp.targetBlTxAlh), th.blRoot)))
    return false;
  if (sbl > 0 && !(await ahConsistencyOk(dp.consistency, sbl, tbl, sh.blRoot, th.blRoot))) return false;
  if (s < tbl) {
    return (await linearOk(dp.linear, tbl, t, dp.targetBlTxAlh, alhT)) &&
           linearAdvanceOk(dp.lap, sbl, s, alhS, th.blRoot, tbl);
  }
  return (await linearOk(dp.linear, s, t, alhS, alhT)) &&
         linearAdvanceOk(dp.lap, sbl, tbl, dp.targetBlTxAlh, th.blRoot, tbl);
}

// DualProofV2 (docs/format.md 7.4): chains where every tx links its predecessor (blTxId = id-1).
export async function dualV2Ok(dp, s, t, alhS, alhT) {
  const sh = dp.source, th = dp.target;
  if (s === 0 || s > t || sh.id !== s || th.id !== t) return false;
  if (!same(await alh(sh), alhS) || !same(await alh(th), alhT)) return false;
  if (sh.blTxId !== s - 1 || th.blTxId !== t - 1) return false;
  if (s === t) return true;
  const leaf = await leafHash(alhS);
  if (!(await ahInclusionOk(dp.inclusion, s, th.blTxId, leaf, th.blRoot))) return false;
  if (s === 1) return ahConsistencyOk(dp.consistency, 1, th.blTxId, leaf, th.blRoot);
  return ahConsistencyOk(dp.consistency, sh.blTxId, th.blTxId, sh.blRoot, th.blRoot);
}

// ---- state signatures (docs/format.md 8): ECDSA P-256 over SHA-256 of u32(len db)‖db‖u64(txId)‖txHash ----
export function statePayload(db, txId, txHash) {
  const name = new TextEncoder().encode(db);
  return cat(u32(name.length), name, u64(txId), txHash);
}

// DER SEQUENCE{INTEGER r, INTEGER s} to WebCrypto's r‖s (32 bytes each); null when malformed.
export function derToRaw(der) {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return null;
  const out = new Uint8Array(64);
  let o = 2;
  for (let k = 0; k < 2; k++) {
    if (der[o] !== 0x02) return null;
    const n = der[o + 1];
    if (n === 0 || n > 33 || o + 2 + n > der.length) return null;
    let v = der.subarray(o + 2, o + 2 + n);
    if (v[0] & 0x80) return null;                                      // negative
    if (v[0] === 0 && (n === 1 || !(v[1] & 0x80))) return null;        // zero or not minimal
    if (v[0] === 0) v = v.subarray(1);
    if (v.length > 32) return null;
    out.set(v, k * 32 + 32 - v.length);
    o += 2 + n;
  }
  return o === der.length ? out : null;
}

// pub: the 65-byte uncompressed point 04‖X‖Y.
export async function stateSignatureOk(db, txId, txHash, sigDer, pub) {
  const raw = derToRaw(sigDer);
  if (!raw || pub.length !== 65 || pub[0] !== 4) return false;
  let key;
  try {
    key = await crypto.subtle.importKey("raw", pub, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  } catch { return false; }
  return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, statePayload(db, txId, txHash));
}

// htree root over entry digests (docs/format.md 2, 3): leaves H(0‖d), an unpaired last node moves up as is.
export async function htreeRoot(digests) {
  if (digests.length === 0) return null;
  let level = [];
  for (const d of digests) level.push(await leafHash(d));
  while (level.length > 1) {
    const up = [];
    for (let k = 0; k + 1 < level.length; k += 2) up.push(await node(level[k], level[k + 1]));
    if (level.length % 2) up.push(level[level.length - 1]);
    level = up;
  }
  return level[0];
}

// Digest of a tx entry given its value's hash (a tx's entries carry hValue, not the value).
export function entryDigestOfHash(storedKey, hValue, mdBytes, version = 1) {
  if (version === 0) return sha(cat(storedKey, hValue));
  return sha(cat(u16(mdBytes.length), mdBytes, u16(storedKey.length), storedKey, hValue));
}
