// verify.test.mjs - the web console's proof checks (web/console/verify.js) against the golden vectors
// in tests/vectors: entry digests, htree inclusion proofs (every leaf of every width, and a flipped
// term failing), header Alh. Run: node --test tests/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { alh, entryDigest, htreeRoot, inclusionOk } from "../../web/console/verify.js";

const vec = (name) => JSON.parse(readFileSync(new URL("../vectors/" + name, import.meta.url)));
const hex = (s) => Uint8Array.from((s || "").match(/../g) || [], (h) => parseInt(h, 16));
const tohex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

test("entry digests", async () => {
  const cases = vec("entry_digests.json").cases;
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const d = await entryDigest(hex(c.key), hex(c.value), hex(c.metadata_bytes), c.header_version);
    assert.equal(tohex(d), c.digest, c.description);
  }
});

test("htree inclusion proofs", async () => {
  let n = 0;
  for (const c of vec("htree.json").cases) {
    for (const p of c.proofs) {
      const terms = p.terms.map(hex);
      assert.ok(await inclusionOk(p.leaf, p.width, terms, hex(c.digests[p.leaf]), hex(c.root)), `width ${c.width} leaf ${p.leaf}`);
      if (terms.length) {
        terms[0] = terms[0].slice();
        terms[0][0] ^= 1;
        assert.ok(!(await inclusionOk(p.leaf, p.width, terms, hex(c.digests[p.leaf]), hex(c.root))), "tampered term");
      }
      n++;
    }
  }
  assert.ok(n > 10);
});

test("header Alh", async () => {
  let n = 0;
  for (const c of vec("tx_header_misc.json").cases) {
    const h = c.header;
    if (!c.alh) continue;
    n++;
    const a = await alh({ id: h.id, prevAlh: hex(h.prevAlh), ts: h.ts, version: h.version, mdBytes: hex(h.metadata_bytes),
                          nentries: h.nentries, eH: hex(h.eH), blTxId: h.blTxId, blRoot: hex(h.blRoot) });
    assert.equal(tohex(a), c.alh, c.description);
  }
  assert.ok(n > 0);
});

test("htree roots", async () => {
  const cases = vec("htree.json").cases;
  for (const c of cases) assert.equal(tohex(await htreeRoot(c.digests.map(hex))), c.root, `width ${c.width}`);
  assert.ok(cases.length > 5);
});
