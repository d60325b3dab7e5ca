// proofs.test.mjs - the console's tree, linear, dual proof and state signature checks (web/console/verify.js)
// against the golden vectors in tests/vectors (ahtree.json, proofs.json, state_signature.json); each good proof
// also fails once one byte of it is flipped, so the checks are able to refuse. Run: node --test tests/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ahConsistencyOk, ahInclusionOk, derToRaw, dualOk, dualV2Ok, leafHash, linearOk, stateSignatureOk,
         statePayload } from "../../web/console/verify.js";

const vec = (name) => JSON.parse(readFileSync(new URL("../vectors/" + name, import.meta.url)));
const hex = (s) => Uint8Array.from((s || "").match(/../g) || [], (h) => parseInt(h, 16));
const tohex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const flip = (b) => { const c = b.slice(); c[c.length - 1] ^= 1; return c; };

const header = (h) => ({ id: h.id, prevAlh: hex(h.prevAlh), ts: h.ts, version: h.version, mdBytes: hex(h.metadata_bytes),
                         nentries: h.nentries, eH: hex(h.eH), blTxId: h.blTxId, blRoot: hex(h.blRoot) });
const linear = (l) => l && { sourceTxId: l.sourceTxId, targetTxId: l.TargetTxId, terms: l.terms.map(hex) };
const dual = (p) => ({
  source: header(p.sourceTxHeader), target: header(p.targetTxHeader), inclusion: p.inclusionProof.map(hex),
  consistency: p.consistencyProof.map(hex), lastInclusion: (p.lastInclusionProof || []).map(hex),
  targetBlTxAlh: hex(p.targetBlTxAlh), linear: linear(p.linearProof),
  lap: p.LinearAdvanceProof && { linearTerms: p.LinearAdvanceProof.linearProofTerms.map(hex),
                                 inclusions: p.LinearAdvanceProof.inclusionProofs.map((x) => x.terms.map(hex)) },
});

test("ahtree inclusion and consistency proofs", async () => {
  const v = vec("ahtree.json");
  for (const c of v.inclusion_proofs) {
    const terms = c.proof.map(hex);
    const leaf = await leafHash(hex(v.data[c.i - 1]));
    assert.equal(tohex(leaf), v.leaf_hashes[c.i - 1]);
    assert.ok(await ahInclusionOk(terms, c.i, c.j, leaf, hex(v.roots[c.j])), `inclusion ${c.i} in ${c.j}`);
    if (terms.length) {
      terms[0] = flip(terms[0]);
      assert.ok(!(await ahInclusionOk(terms, c.i, c.j, leaf, hex(v.roots[c.j]))), `tampered inclusion ${c.i} in ${c.j}`);
    }
  }
  for (const c of v.consistency_proofs) {
    const terms = c.proof.map(hex);
    assert.ok(await ahConsistencyOk(terms, c.i, c.j, hex(v.roots[c.i]), hex(v.roots[c.j])), `consistency ${c.i}-${c.j}`);
    if (terms.length) {
      terms[terms.length - 1] = flip(terms[terms.length - 1]);
      assert.ok(!(await ahConsistencyOk(terms, c.i, c.j, hex(v.roots[c.i]), hex(v.roots[c.j]))), `tampered ${c.i}-${c.j}`);
    }
  }
  assert.ok(v.inclusion_proofs.length > 100 && v.consistency_proofs.length > 100);
});

test("linear proofs", async () => {
  const v = vec("proofs.json");
  for (const c of v.linear_proofs) {
    const lp = linear(c.proof);
    assert.ok(await linearOk(lp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), hex(c.targetAlh)));
    assert.ok(!(await linearOk(lp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), flip(hex(c.targetAlh)))));
    lp.terms.pop();
    assert.ok(!(await linearOk(lp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), hex(c.targetAlh))), "short proof");
  }
});

test("dual proofs, with and without LinearAdvanceProof", async () => {
  const v = vec("proofs.json");
  let withLap = 0;
  for (const c of v.dual_proofs) {
    const what = `${c.chain} ${c.sourceTxId}->${c.targetTxId}`;
    const dp = dual(c.proof);
    assert.ok(await dualOk(dp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), hex(c.targetAlh)), what);
    assert.ok(!(await dualOk(dp, c.sourceTxId, c.targetTxId, flip(hex(c.sourceAlh)), hex(c.targetAlh))), what + " source");
    if (dp.lap) {
      withLap++;
      dp.lap.linearTerms[0] = flip(dp.lap.linearTerms[0]);
      assert.ok(!(await dualOk(dp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), hex(c.targetAlh))), what + " lap");
    } else if (dp.consistency.length) {
      dp.consistency[0] = flip(dp.consistency[0]);
      assert.ok(!(await dualOk(dp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), hex(c.targetAlh))), what + " cons");
    }
  }
  assert.ok(withLap > 0, "some vector exercises LinearAdvanceProof");
});

test("dual proofs v2", async () => {
  for (const c of vec("proofs.json").dual_proofs_v2) {
    const dp = dual(c.proof);
    assert.ok(await dualV2Ok(dp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), hex(c.targetAlh)));
    assert.ok(!(await dualV2Ok(dp, c.sourceTxId, c.targetTxId, hex(c.sourceAlh), flip(hex(c.targetAlh)))));
  }
});

test("state signatures (ECDSA P-256, DER)", async () => {
  const v = vec("state_signature.json");
  const pub = hex(v.public_key_uncompressed);
  for (const s of v.states) {
    assert.equal(tohex(statePayload(s.db, s.txId, hex(s.txHash))), s.signed_payload);
    assert.equal(tohex(derToRaw(hex(s.signature_der))), s.r.padStart(64, "0") + s.s.padStart(64, "0"));
    assert.ok(await stateSignatureOk(s.db, s.txId, hex(s.txHash), hex(s.signature_der), pub), `${s.db} ${s.txId}`);
    assert.ok(!(await stateSignatureOk(s.db, s.txId + 1, hex(s.txHash), hex(s.signature_der), pub)), "wrong txId");
    assert.ok(!(await stateSignatureOk(s.db + "x", s.txId, hex(s.txHash), hex(s.signature_der), pub)), "wrong db");
    assert.ok(!(await stateSignatureOk(s.db, s.txId, hex(s.txHash), flip(hex(s.signature_der)), pub)), "bad signature");
  }
  assert.equal(derToRaw(Uint8Array.of(0x30, 6, 2, 1, 0, 2, 1, 1)), null, "r = 0");
  assert.equal(derToRaw(Uint8Array.of(0x30, 7, 2, 2, 0, 1, 2, 1, 1)), null, "non-minimal r");
  assert.equal(derToRaw(Uint8Array.of(0x30, 7, 2, 1, 1, 2, 1, 1)), null, "length mismatch");
});
