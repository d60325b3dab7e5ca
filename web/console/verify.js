// verify.js - the console's proof checks (docs/format.md 1.2, 3.1, 4.3, 4.4) on bytes, with WebCrypto's
// SHA-256; pure functions, also run by Node's test runner against tests/vectors (tests/js/).

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
