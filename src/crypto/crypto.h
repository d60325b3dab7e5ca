/* crypto.h - the crypto layer's whole interface: SHA-256, immudb-compatible metadata, entry digests,
 * tx headers (innerHash, Alh), the per-tx htree, the appendable ahtree, linear and dual proofs and
 * state signatures. Byte layouts: docs/format.md. Every verifier returns
 * SEALDB_OK only when the proof checks; malformed input gives SEALDB_INVALID/CORRUPT, a failing
 * proof SEALDB_TAMPERED, never a crash. */
#ifndef SDB_CRYPTO_H
#define SDB_CRYPTO_H

#include <stdint.h>
#include <stddef.h>
#include "util/util.h"

#define SDB_HASH_LEN 32
typedef struct sdb_hash { uint8_t b[SDB_HASH_LEN]; } sdb_hash;

extern const sdb_hash sdb_hash_empty;   /* H("") */
extern const sdb_hash sdb_hash_zero;    /* 32 zero bytes */

/* ---- SHA-256 ---- */
typedef struct sdb_sha256_ctx { _Alignas(16) uint8_t opaque[128]; } sdb_sha256_ctx;
void sdb_sha256(const void *p, size_t n, uint8_t out[SDB_HASH_LEN]);
void sdb_sha256_init(sdb_sha256_ctx *c);
void sdb_sha256_update(sdb_sha256_ctx *c, const void *p, size_t n);
void sdb_sha256_final(sdb_sha256_ctx *c, uint8_t out[SDB_HASH_LEN]);
void sdb_hash_leaf(const uint8_t *data, size_t n, uint8_t out[SDB_HASH_LEN]);   /* H(0x00 || data) */
void sdb_hash_node(const uint8_t l[SDB_HASH_LEN], const uint8_t r[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]); /* H(0x01||l||r) */
/* Compression function behind the one-shot hashes above (chosen at first use: SHA-NI when the CPU
 * has it). set_impl is for tests and benchmarks (UNSUPPORTED when the CPU lacks it); not to be
 * called while other threads hash. */
#define SDB_SHA256_IMPL_AUTO     0
#define SDB_SHA256_IMPL_PORTABLE 1   /* libcrypto SHA256_Transform */
#define SDB_SHA256_IMPL_SHANI    2   /* x86 SHA extensions */
int sdb_sha256_impl(void);
/* Two independent hashes at once (about twice the throughput with SHA-NI). Each output may alias
 * its own inputs, but out0 must not alias l1, r1 or d1. */
void sdb_hash_node_x2(const uint8_t *l0, const uint8_t *r0, uint8_t *out0,
                      const uint8_t *l1, const uint8_t *r1, uint8_t *out1);
void sdb_hash_leaf32_x2(const uint8_t *d0, uint8_t *out0, const uint8_t *d1, uint8_t *out1);   /* H(00||d), d 32 bytes */
/* SHA-256 of two messages at once (the two streams interleave; a longer one's rest goes alone).
 * The outputs may alias the inputs. */
void sdb_sha256_x2(const void *p0, size_t n0, uint8_t out0[SDB_HASH_LEN], const void *p1, size_t n1,
                   uint8_t out1[SDB_HASH_LEN]);
int sdb_sha256_set_impl(int impl);

/* Growable list of hashes (proof terms). */
typedef struct sdb_hashes { sdb_hash *h; size_t n, cap; } sdb_hashes;
void sdb_hashes_init(sdb_hashes *l);
void sdb_hashes_deinit(sdb_hashes *l);
int  sdb_hashes_push(sdb_hashes *l, const uint8_t h[SDB_HASH_LEN]);

/* ---- KV metadata (docs/format.md 1.1) ---- */
#define SDB_KV_MD_MAX_LEN 11
typedef struct sdb_kv_md {
    uint8_t deleted, has_expires, non_indexable;
    int64_t expires_at;   /* unix seconds, valid when has_expires */
} sdb_kv_md;
size_t sdb_kv_md_encode(const sdb_kv_md *md, uint8_t out[SDB_KV_MD_MAX_LEN]);   /* returns length (0 = none) */
int    sdb_kv_md_decode(sdb_slice in, sdb_kv_md *out);

/* ---- tx metadata (docs/format.md 4.2) ---- */
#define SDB_TX_MD_MAX_EXTRA 256
#define SDB_TX_MD_MAX_LEN (1 + 8 + 1 + 2 + SDB_TX_MD_MAX_EXTRA)
typedef struct sdb_tx_md {
    uint64_t truncated_tx_id;                 /* 0 = absent */
    uint16_t extra_len;                       /* 0 = absent */
    uint8_t extra[SDB_TX_MD_MAX_EXTRA];
} sdb_tx_md;
size_t sdb_tx_md_encode(const sdb_tx_md *md, uint8_t out[SDB_TX_MD_MAX_LEN]);
int    sdb_tx_md_decode(sdb_slice in, sdb_tx_md *out);

/* ---- entry digest (docs/format.md 1.2); v0 with non-empty md is SEALDB_INVALID ---- */
int sdb_entry_digest(uint16_t version, sdb_slice key, sdb_slice md_bytes,
                     const uint8_t hvalue[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]);
/* Two entries' digests at once (sdb_sha256_x2): as two sdb_entry_digest calls. */
int sdb_entry_digest_x2(uint16_t version, sdb_slice key0, sdb_slice md0, const uint8_t hv0[SDB_HASH_LEN],
                        uint8_t out0[SDB_HASH_LEN], sdb_slice key1, sdb_slice md1, const uint8_t hv1[SDB_HASH_LEN],
                        uint8_t out1[SDB_HASH_LEN]);

/* ---- tx header, innerHash, Alh (docs/format.md 4) ---- */
typedef struct sdb_tx_header {
    uint64_t id;
    sdb_hash prev_alh;
    int64_t ts;            /* unix seconds */
    uint16_t version;      /* 0 or 1 */
    sdb_tx_md md;          /* version 1 only */
    uint32_t nentries;
    sdb_hash eh;
    uint64_t bl_tx_id;
    sdb_hash bl_root;
} sdb_tx_header;
int  sdb_tx_inner_hash(const sdb_tx_header *h, uint8_t out[SDB_HASH_LEN]);  /* UNSUPPORTED on unknown version */
int  sdb_tx_alh(const sdb_tx_header *h, uint8_t out[SDB_HASH_LEN]);
/* Two headers' Alh at once (their hashes run two at a time): as two sdb_tx_alh calls. */
int  sdb_tx_alh_x2(const sdb_tx_header *h0, uint8_t out0[SDB_HASH_LEN], const sdb_tx_header *h1,
                   uint8_t out1[SDB_HASH_LEN]);
void sdb_alh_from_inner(uint64_t id, const uint8_t prev_alh[SDB_HASH_LEN],
                        const uint8_t inner[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]);
int  sdb_tx_header_encode(const sdb_tx_header *h, sdb_buf *out);             /* docs/format.md 4.5, appends */
int  sdb_tx_header_decode(sdb_slice in, sdb_tx_header *out, size_t *consumed);

/* ---- htree: per-tx Merkle tree over entry digests (docs/format.md 3) ---- */
typedef struct sdb_htree {
    sdb_hash *nodes;        /* all levels, leaves first */
    size_t cap;             /* nodes allocated */
    uint32_t width;         /* leaves */
    uint32_t nlevels;
    uint32_t level_off[34], level_len[34];
} sdb_htree;
void sdb_htree_init(sdb_htree *t);
void sdb_htree_deinit(sdb_htree *t);
int  sdb_htree_build(sdb_htree *t, const sdb_hash *digests, uint32_t n);   /* reuses memory */
void sdb_htree_root(const sdb_htree *t, uint8_t out[SDB_HASH_LEN]);         /* E when empty */
/* Gives leaf (< width) a new digest and rehashes only its path to the root (log2 width hashes). */
void sdb_htree_set_leaf(sdb_htree *t, uint32_t leaf, const uint8_t digest[SDB_HASH_LEN]);
int  sdb_htree_proof(const sdb_htree *t, uint32_t leaf, sdb_hashes *terms);
/* Stored node block of a tx (the `htree` file): every node but the root, level-major as in
 * sdb_htree.nodes (leaf hashes first, then each level up). Its length is 0 for width <= 1. */
uint64_t sdb_htree_block_len(uint32_t width);
/* Recomputes every inner node of a stored block from its leaf hashes: SEALDB_OK when all stored
 * nodes and the root match eh, SEALDB_TAMPERED otherwise (width >= 2, blk holds block_len bytes). */
int  sdb_htree_check_block(const uint8_t *blk, uint32_t width, const uint8_t eh[SDB_HASH_LEN]);
int  sdb_htree_verify(const sdb_hashes *terms, uint32_t leaf, uint32_t width,
                      const uint8_t digest[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]);

/* A Merkle path to check, of the htree or the ahtree alike (RFC 6962 paths): from hash c up, term k
 * goes on the right when (a & 1) == 0 && a != b, else on the left, then a and b shift right. At
 * the end c must equal root and, with exact, a must equal b (the htree's width check). Checking
 * independent paths together (sdb_mpaths_verify) runs their hashes two at a time. */
typedef struct sdb_mpath {
    const sdb_hashes *terms;
    uint64_t a, b;
    uint8_t c[SDB_HASH_LEN];
    const uint8_t *root;
    int exact;
} sdb_mpath;
/* The path of sdb_htree_verify (same checks): TAMPERED when leaf, width or terms are impossible. */
int  sdb_htree_path(sdb_mpath *p, const sdb_hashes *terms, uint32_t leaf, uint32_t width,
                    const uint8_t digest[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]);
/* OK when all n paths (n <= 4) check, else TAMPERED; their c are consumed. */
int  sdb_mpaths_verify(sdb_mpath *p, size_t n);

/* ---- ahtree: appendable Merkle tree over Alh values (docs/format.md 5) ----
 * Threading: ONE appender thread calls append, truncate, sync and close. Any number of other
 * threads may concurrently call size, root_at, leaf_alh and the *_proof builders for tree sizes
 * <= a size they read from sdb_ahtree_size() (published with release/acquire ordering after the
 * appended record is readable). truncate must not race with readers of sizes above its target.
 * The file backend buffers appends (no fsync, no syscall per append); sdb_ahtree_sync() writes
 * and fdatasyncs. On reopen a partial last record is cut, and the last 1024 records are
 * recomputed: the file is cut before the first inconsistent one (unsynced tail). The file
 * is derived data (rebuildable from the Alhs), so recovery may truncate it to the durable tx. */
typedef struct sdb_ahtree sdb_ahtree;
int  sdb_ahtree_open_mem(sdb_ahtree **out);
int  sdb_ahtree_open_file(const char *path, sdb_ahtree **out);   /* append-only node file, created if absent */
void sdb_ahtree_close(sdb_ahtree *t);                             /* NULL is a no-op */
uint64_t sdb_ahtree_size(const sdb_ahtree *t);
int  sdb_ahtree_append(sdb_ahtree *t, const uint8_t alh[SDB_HASH_LEN], uint8_t root_out[SDB_HASH_LEN]); /* root_out may be NULL */
int  sdb_ahtree_root_at(sdb_ahtree *t, uint64_t n, uint8_t out[SDB_HASH_LEN]);   /* 1 <= n <= size */
int  sdb_ahtree_leaf_alh(sdb_ahtree *t, uint64_t i, uint8_t out[SDB_HASH_LEN]);  /* stored Alh of leaf i */
int  sdb_ahtree_inclusion_proof(sdb_ahtree *t, uint64_t i, uint64_t j, sdb_hashes *out);
int  sdb_ahtree_consistency_proof(sdb_ahtree *t, uint64_t i, uint64_t j, sdb_hashes *out);
/* The inclusion proof of incl_i, the consistency proof from cons_i and the last inclusion proof,
 * all against tree size j, in one pass that computes the shared right-border nodes once (the dual
 * proof's three tree proofs). A NULL output is skipped; results equal the separate calls. */
int  sdb_ahtree_proofs_at(sdb_ahtree *t, uint64_t j, uint64_t incl_i, sdb_hashes *incl,
                          uint64_t cons_i, sdb_hashes *cons, sdb_hashes *last);
int  sdb_ahtree_truncate(sdb_ahtree *t, uint64_t n);   /* keep leaves 1..n (recovery of a derived file) */
int  sdb_ahtree_sync(sdb_ahtree *t);
int  sdb_ahtree_verify_inclusion(const sdb_hashes *proof, uint64_t i, uint64_t j,
                                 const uint8_t leaf_hash[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]);
/* Both inclusion proofs must check (OK), else TAMPERED; the two are hashed in lockstep. A last
 * inclusion proof of j is the inclusion proof of (j, j). */
int  sdb_ahtree_verify_inclusion2(const sdb_hashes *p0, uint64_t i0, uint64_t j0, const uint8_t leaf0[SDB_HASH_LEN],
                                  const uint8_t root0[SDB_HASH_LEN], const sdb_hashes *p1, uint64_t i1, uint64_t j1,
                                  const uint8_t leaf1[SDB_HASH_LEN], const uint8_t root1[SDB_HASH_LEN]);
/* The same with a third path (when not NULL) in the lockstep. */
int  sdb_ahtree_verify_inclusion3(const sdb_hashes *p0, uint64_t i0, uint64_t j0, const uint8_t leaf0[SDB_HASH_LEN],
                                  const uint8_t root0[SDB_HASH_LEN], const sdb_hashes *p1, uint64_t i1, uint64_t j1,
                                  const uint8_t leaf1[SDB_HASH_LEN], const uint8_t root1[SDB_HASH_LEN], sdb_mpath *extra);
int  sdb_ahtree_verify_last_inclusion(const sdb_hashes *proof, uint64_t j,
                                      const uint8_t leaf_hash[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]);
int  sdb_ahtree_verify_consistency(const sdb_hashes *proof, uint64_t i, uint64_t j,
                                   const uint8_t root_i[SDB_HASH_LEN], const uint8_t root_j[SDB_HASH_LEN]);

/* ---- linear, linear advance and dual proofs (docs/format.md 6, 7) ---- */
/* Where proof builders read committed txs from (the engine's tx index, or a test chain). */
typedef struct sdb_tx_source {
    void *ctx;
    int (*header)(void *ctx, uint64_t tx_id, sdb_tx_header *out);   /* full header of tx_id */
    int (*alh)(void *ctx, uint64_t tx_id, uint8_t out[SDB_HASH_LEN]);
} sdb_tx_source;

typedef struct sdb_linear_proof {
    uint64_t source_tx_id, target_tx_id;
    sdb_hashes terms;
} sdb_linear_proof;

typedef struct sdb_linear_advance_proof {
    int present;                 /* 0: absent (null on the wire) */
    sdb_hashes linear_terms;
    sdb_hashes *inclusion;       /* n_inclusion proofs */
    size_t n_inclusion;
} sdb_linear_advance_proof;

typedef struct sdb_dual_proof {
    sdb_tx_header source, target;
    sdb_hashes inclusion, consistency, last_inclusion;
    sdb_hash target_bl_tx_alh;
    sdb_linear_proof linear;
    sdb_linear_advance_proof lap;
} sdb_dual_proof;

typedef struct sdb_dual_proof_v2 {
    sdb_tx_header source, target;
    sdb_hashes inclusion, consistency;
} sdb_dual_proof_v2;

/* Builders need an initialized `out` (the *_init functions) and reuse its memory; *_deinit frees.
 * The ahtree must hold at least target.blTxId leaves (else SEALDB_RANGE). */
void sdb_linear_proof_init(sdb_linear_proof *p);
void sdb_linear_proof_deinit(sdb_linear_proof *p);
int  sdb_linear_proof_build(const sdb_tx_source *src, uint64_t s, uint64_t t, sdb_linear_proof *out);
int  sdb_linear_proof_verify(const sdb_linear_proof *p, uint64_t s, uint64_t t,
                             const uint8_t alh_s[SDB_HASH_LEN], const uint8_t alh_t[SDB_HASH_LEN]);
void sdb_lap_init(sdb_linear_advance_proof *p);
void sdb_lap_deinit(sdb_linear_advance_proof *p);
int  sdb_lap_build(const sdb_tx_source *src, sdb_ahtree *tree, uint64_t start, uint64_t end,
                   uint64_t tree_size, sdb_linear_advance_proof *out);
int  sdb_lap_verify(const sdb_linear_advance_proof *p, uint64_t start, uint64_t end,
                    const uint8_t end_alh[SDB_HASH_LEN], const uint8_t tree_root[SDB_HASH_LEN], uint64_t tree_size);
void sdb_dual_proof_init(sdb_dual_proof *p);
void sdb_dual_proof_deinit(sdb_dual_proof *p);
int  sdb_dual_proof_build(const sdb_tx_source *src, sdb_ahtree *tree, uint64_t s, uint64_t t, sdb_dual_proof *out);
/* Go SDK rules (including the LAP and the linear length check). */
int  sdb_dual_proof_verify(const sdb_dual_proof *p, uint64_t s, uint64_t t,
                           const uint8_t alh_s[SDB_HASH_LEN], const uint8_t alh_t[SDB_HASH_LEN]);
/* The same, and extra (when not NULL: an entry's htree path) checked in lockstep with its paths. */
int  sdb_dual_proof_verify_with(const sdb_dual_proof *p, uint64_t s, uint64_t t, const uint8_t alh_s[SDB_HASH_LEN],
                                const uint8_t alh_t[SDB_HASH_LEN], sdb_mpath *extra);
void sdb_dual_proof_v2_init(sdb_dual_proof_v2 *p);
void sdb_dual_proof_v2_deinit(sdb_dual_proof_v2 *p);
int  sdb_dual_proof_v2_build(const sdb_tx_source *src, sdb_ahtree *tree, uint64_t s, uint64_t t, sdb_dual_proof_v2 *out);
int  sdb_dual_proof_v2_verify(const sdb_dual_proof_v2 *p, uint64_t s, uint64_t t,
                              const uint8_t alh_s[SDB_HASH_LEN], const uint8_t alh_t[SDB_HASH_LEN]);

/* ---- state signatures (docs/format.md 8): ECDSA P-256 over H(u32(len db)||db||u64(txId)||txHash) ---- */
typedef struct sdb_signer sdb_signer;       /* private key */
typedef struct sdb_verifier sdb_verifier;   /* public key */
int  sdb_state_payload(sdb_slice db, uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN], sdb_buf *out);
int  sdb_signer_load_pem(sdb_slice pem, sdb_signer **out);          /* SEC1 or PKCS#8 EC P-256 key */
int  sdb_signer_load_file(const char *path, sdb_signer **out);
int  sdb_signer_generate(sdb_signer **out);                         /* fresh P-256 key */
int  sdb_signer_write_pem(const sdb_signer *s, const char *priv_path, const char *pub_path);
void sdb_signer_free(sdb_signer *s);
int  sdb_signer_public_point(const sdb_signer *s, uint8_t out[65]);  /* 04 || X || Y */
int  sdb_state_sign(const sdb_signer *s, sdb_slice db, uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN],
                    sdb_buf *der_out);                               /* DER SEQUENCE{r,s}, appended */
int  sdb_verifier_load_pem(sdb_slice pem, sdb_verifier **out);      /* PKIX PUBLIC KEY */
int  sdb_verifier_load_file(const char *path, sdb_verifier **out);
void sdb_verifier_free(sdb_verifier *v);
int  sdb_state_verify(const sdb_verifier *v, sdb_slice db, uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN],
                      sdb_slice der_sig);                            /* OK or TAMPERED */

/* ---- database-layer encodings (docs/format.md 9; encoding.c). The server's db layer writes these,
 * the client verifier recomputes them. All sdb_enc_* append to `out`. ---- */
#define SDB_KEY_PREFIX_SET     0x00   /* plain KV key */
#define SDB_KEY_PREFIX_ZSET    0x01   /* sorted-set key */
#define SDB_KEY_PREFIX_SQL     0x02
#define SDB_KEY_PREFIX_DOC     0x03
#define SDB_VALUE_PREFIX_PLAIN 0x00
#define SDB_VALUE_PREFIX_REF   0x01
int sdb_enc_set_key(sdb_slice key, sdb_buf *out);                           /* 00 || key */
int sdb_enc_plain_value(sdb_slice value, sdb_buf *out);                     /* 00 || value */
int sdb_enc_ref_value(sdb_slice referenced_key, uint64_t at_tx, sdb_buf *out); /* 01 || u64(atTx) || 00 || key */
/* 01 || u64(len set) || set || f64be(score) || u64(len key + 1) || 00 || key || u64(atTx) */
int sdb_enc_zadd_key(sdb_slice set, double score, sdb_slice key, uint64_t at_tx, sdb_buf *out);
/* Parsed stored value; slices borrow from the input. */
typedef enum { SDB_ENC_EMPTY = 0, SDB_ENC_PLAIN = 1, SDB_ENC_REF = 2 } sdb_enc_kind;
typedef struct sdb_enc_value {
    sdb_enc_kind kind;       /* EMPTY: zero-length stored value (a delete) */
    sdb_slice value;         /* PLAIN: the user value */
    sdb_slice ref_key;       /* REF: referenced user key (without its 00 prefix) */
    uint64_t at_tx;          /* REF: 0 = unbound */
} sdb_enc_value;
int sdb_enc_parse_value(sdb_slice stored, sdb_enc_value *out);           /* CORRUPT on bad prefix/length */
typedef struct sdb_enc_zadd { sdb_slice set, key; double score; uint64_t at_tx; } sdb_enc_zadd;
int sdb_enc_parse_zadd_key(sdb_slice stored, sdb_enc_zadd *out);        /* key without its 00 prefix */

/* ---- client-side verification flows (docs/format.md 11; verified.c) ----
 * Plain C mirrors of the answers of VerifiableSet/SetReference/ZAdd/Get/TxById, filled by the
 * client from decoded protobuf (slices borrow from the decoded message). Every flow checks what
 * the Go SDK checks (plus: the proven header's id must be the expected tx) and on success writes
 * the new trusted state; on failure `new_state` is untouched and the result is SEALDB_TAMPERED
 * (proof or signature fails) or SEALDB_INVALID/PROTOCOL (malformed answer). Pure functions:
 * thread-safe, no allocation beyond a small htree. */
typedef struct sdb_vstate { uint64_t tx_id; sdb_hash alh; } sdb_vstate;   /* tx 0: alh = E */

/* Converts a wire digest (bytes field) to a hash: 32 bytes, or empty = all zero; else PROTOCOL. */
int sdb_digest_from_wire(sdb_slice in, sdb_hash *out);

typedef struct sdb_vtx_entry {     /* TxEntry */
    sdb_slice key;                 /* stored key, with its prefix byte */
    int has_md;                    /* metadata present */
    sdb_kv_md md;
    sdb_hash hvalue;
    uint32_t vlen;
} sdb_vtx_entry;

typedef struct sdb_vtx {           /* Tx: header + entries (entries may be absent for TxById) */
    sdb_tx_header header;
    const sdb_vtx_entry *entries;
    size_t nentries;               /* count of `entries` actually present */
} sdb_vtx;

typedef struct sdb_verifiable_tx { /* VerifiableTx */
    sdb_vtx tx;
    sdb_dual_proof dual;           /* caller-owned; fill with sdb_dual_proof_init + pushes */
    sdb_slice signature;           /* Signature.signature (DER); empty = not signed */
} sdb_verifiable_tx;

typedef struct sdb_vref {          /* Entry.referencedBy */
    uint64_t tx;
    sdb_slice key;                 /* reference key, without prefix */
    uint64_t at_tx;
    int has_md;
    sdb_kv_md md;
} sdb_vref;

typedef struct sdb_verifiable_entry {   /* VerifiableEntry */
    uint64_t tx;                   /* Entry.tx */
    sdb_slice key, value;          /* Entry.key / Entry.value, without prefixes */
    int has_md;
    sdb_kv_md md;
    int has_ref;                   /* referencedBy present */
    sdb_vref ref;
    sdb_verifiable_tx vtx;
    int64_t leaf, width;           /* InclusionProof.leaf / width (int32 on the wire) */
    sdb_hashes terms;              /* InclusionProof.terms */
} sdb_verifiable_entry;

/* Common arguments: `db` is the database name the signature covers, `verifier` may be NULL (no
 * signature check), `trusted` is the state before the call (what proveSinceTx carried). */
int sdb_verify_set(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                   const sdb_vstate *trusted, sdb_slice key, sdb_slice value, sdb_vstate *new_state);
int sdb_verify_reference(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                         const sdb_vstate *trusted, sdb_slice key, sdb_slice referenced_key, uint64_t at_tx,
                         sdb_vstate *new_state);
int sdb_verify_zadd(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                    const sdb_vstate *trusted, sdb_slice set, double score, sdb_slice key, uint64_t at_tx,
                    sdb_vstate *new_state);
/* requested_key: the key sent in the request; at_tx: the request's atTx (0 = latest). */
int sdb_verify_get(const sdb_verifiable_entry *ve, sdb_slice db, const sdb_verifier *verifier,
                   const sdb_vstate *trusted, sdb_slice requested_key, uint64_t at_tx, sdb_vstate *new_state);
/* Also checks, when all entries are present, that they hash to the proven header's eH. */
int sdb_verify_tx_by_id(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                        const sdb_vstate *trusted, uint64_t tx_id, sdb_vstate *new_state);

#endif
