/* sign.c - state signatures (docs/format.md 8): ECDSA P-256 / SHA-256 over
 * u32(len db) || db || u64(txId) || txHash, DER signatures, PEM keys (SEC1 or PKCS#8 private keys,
 * PKIX public keys) through libcrypto's EVP interface. */
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "crypto/crypto.h"
#include "util/file.h"

#define MAX_PEM_FILE (64 * 1024)

struct sdb_signer { EVP_PKEY *pkey; };
struct sdb_verifier { EVP_PKEY *pkey; };

int sdb_state_payload(sdb_slice db, uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN], sdb_buf *out) {
    if (db.len > UINT32_MAX) return SEALDB_TOOLARGE;
    int rc = sdb_buf_reserve(out, 4 + db.len + 8 + 32);
    if (rc) return rc;
    sdb_buf_append_u32be(out, (uint32_t)db.len);
    sdb_buf_append(out, db.ptr, db.len);
    sdb_buf_append_u64be(out, tx_id);
    return sdb_buf_append(out, alh, SDB_HASH_LEN);
}

/* Never prompt for a passphrase: encrypted keys simply fail to load. */
static int no_password(char *buf, int size, int rwflag, void *u) {
    (void)buf; (void)size; (void)rwflag; (void)u;
    return 0;
}

static int is_p256(EVP_PKEY *k) {
    char name[64];
    size_t len = 0;
    if (!EVP_PKEY_is_a(k, "EC")) return 0;
    if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len)) return 0;
    return strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0;
}

static int read_small_file(const char *path, sdb_buf *out) {
    sdb_file *f = NULL;
    uint64_t len;
    int rc = sdb_file_open(path, O_RDONLY | O_CLOEXEC, 0, &f);
    if (rc) return rc;
    if ((rc = sdb_file_size(f, &len))) goto done;
    if (len > MAX_PEM_FILE) { rc = SEALDB_TOOLARGE; goto done; }
    if ((rc = sdb_buf_reserve(out, (size_t)len))) goto done;
    if ((rc = sdb_file_read_at(f, out->ptr + out->len, (size_t)len, 0))) goto done;
    out->len += (size_t)len;
done:
    sdb_file_close(f);
    return rc;
}

int sdb_signer_load_pem(sdb_slice pem, sdb_signer **out) {
    if (!out || pem.len > MAX_PEM_FILE) return SEALDB_INVALID;
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    if (!bio) return SEALDB_NOMEM;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (!k) return SEALDB_INVALID;
    if (!is_p256(k)) { EVP_PKEY_free(k); return SEALDB_UNSUPPORTED; }
    sdb_signer *s = sdb_calloc(1, sizeof *s);
    if (!s) { EVP_PKEY_free(k); return SEALDB_NOMEM; }
    s->pkey = k;
    *out = s;
    return SEALDB_OK;
}

int sdb_signer_load_file(const char *path, sdb_signer **out) {
    sdb_buf b;
    sdb_buf_init(&b);
    int rc = read_small_file(path, &b);
    if (!rc) rc = sdb_signer_load_pem(sdb_buf_slice(&b), out);
    if (b.ptr) memset(b.ptr, 0, b.len);   /* private key material */
    sdb_buf_deinit(&b);
    return rc;
}

int sdb_signer_generate(sdb_signer **out) {
    if (!out) return SEALDB_INVALID;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!k) { ERR_clear_error(); return SEALDB_FAILED; }
    sdb_signer *s = sdb_calloc(1, sizeof *s);
    if (!s) { EVP_PKEY_free(k); return SEALDB_NOMEM; }
    s->pkey = k;
    *out = s;
    return SEALDB_OK;
}

static int write_bio_file(BIO *bio, const char *path, int mode) {
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    sdb_file *f = NULL;
    if (len <= 0) return SEALDB_FAILED;
    int rc = sdb_file_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode, &f);
    if (rc) return rc;
    rc = sdb_file_write_at(f, data, (size_t)len, 0);
    if (!rc) rc = sdb_file_sync(f);
    sdb_file_close(f);
    return rc;
}

int sdb_signer_write_pem(const sdb_signer *s, const char *priv_path, const char *pub_path) {
    int rc = SEALDB_OK;
    if (!s) return SEALDB_INVALID;
    if (priv_path) {
        BIO *bio = BIO_new(BIO_s_mem());
        if (!bio) return SEALDB_NOMEM;
        /* "traditional" = SEC1 "EC PRIVATE KEY", the form immudb servers use. */
        if (!PEM_write_bio_PrivateKey_traditional(bio, s->pkey, NULL, NULL, 0, NULL, NULL)) rc = SEALDB_FAILED;
        else rc = write_bio_file(bio, priv_path, 0600);
        BIO_free(bio);
        if (rc) { ERR_clear_error(); return rc; }
    }
    if (pub_path) {
        BIO *bio = BIO_new(BIO_s_mem());
        if (!bio) return SEALDB_NOMEM;
        if (!PEM_write_bio_PUBKEY(bio, s->pkey)) rc = SEALDB_FAILED;
        else rc = write_bio_file(bio, pub_path, 0644);
        BIO_free(bio);
    }
    ERR_clear_error();
    return rc;
}

void sdb_signer_free(sdb_signer *s) {
    if (!s) return;
    EVP_PKEY_free(s->pkey);
    sdb_free(s);
}

int sdb_signer_public_point(const sdb_signer *s, uint8_t out[65]) {
    size_t len = 0;
    if (!s) return SEALDB_INVALID;
    if (!EVP_PKEY_get_octet_string_param(s->pkey, OSSL_PKEY_PARAM_PUB_KEY, out, 65, &len) || len != 65 ||
        out[0] != 0x04) {
        ERR_clear_error();
        return SEALDB_FAILED;
    }
    return SEALDB_OK;
}

int sdb_state_sign(const sdb_signer *s, sdb_slice db, uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN],
                   sdb_buf *der_out) {
    if (!s || !alh || !der_out) return SEALDB_INVALID;
    sdb_buf payload;
    sdb_buf_init(&payload);
    EVP_MD_CTX *ctx = NULL;
    size_t siglen = 0;
    int rc = sdb_state_payload(db, tx_id, alh, &payload);
    if (rc) goto done;
    rc = SEALDB_FAILED;
    if (!(ctx = EVP_MD_CTX_new())) { rc = SEALDB_NOMEM; goto done; }
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->pkey) != 1) goto done;
    if (EVP_DigestSign(ctx, NULL, &siglen, payload.ptr, payload.len) != 1) goto done;
    if ((rc = sdb_buf_reserve(der_out, siglen))) goto done;
    rc = SEALDB_FAILED;
    if (EVP_DigestSign(ctx, der_out->ptr + der_out->len, &siglen, payload.ptr, payload.len) != 1) goto done;
    der_out->len += siglen;
    rc = SEALDB_OK;
done:
    EVP_MD_CTX_free(ctx);
    sdb_buf_deinit(&payload);
    ERR_clear_error();
    return rc;
}

int sdb_verifier_load_pem(sdb_slice pem, sdb_verifier **out) {
    if (!out || pem.len > MAX_PEM_FILE) return SEALDB_INVALID;
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    if (!bio) return SEALDB_NOMEM;
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (!k) return SEALDB_INVALID;
    if (!is_p256(k)) { EVP_PKEY_free(k); return SEALDB_UNSUPPORTED; }
    sdb_verifier *v = sdb_calloc(1, sizeof *v);
    if (!v) { EVP_PKEY_free(k); return SEALDB_NOMEM; }
    v->pkey = k;
    *out = v;
    return SEALDB_OK;
}

int sdb_verifier_load_file(const char *path, sdb_verifier **out) {
    sdb_buf b;
    sdb_buf_init(&b);
    int rc = read_small_file(path, &b);
    if (!rc) rc = sdb_verifier_load_pem(sdb_buf_slice(&b), out);
    sdb_buf_deinit(&b);
    return rc;
}

void sdb_verifier_free(sdb_verifier *v) {
    if (!v) return;
    EVP_PKEY_free(v->pkey);
    sdb_free(v);
}

int sdb_state_verify(const sdb_verifier *v, sdb_slice db, uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN],
                     sdb_slice der_sig) {
    if (!v || !alh) return SEALDB_INVALID;
    if (der_sig.len == 0 || der_sig.len > 256) return SEALDB_TAMPERED;
    sdb_buf payload;
    sdb_buf_init(&payload);
    EVP_MD_CTX *ctx = NULL;
    int rc = sdb_state_payload(db, tx_id, alh, &payload);
    if (rc) goto done;
    if (!(ctx = EVP_MD_CTX_new())) { rc = SEALDB_NOMEM; goto done; }
    rc = SEALDB_TAMPERED;
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, v->pkey) != 1) { rc = SEALDB_FAILED; goto done; }
    if (EVP_DigestVerify(ctx, der_sig.ptr, der_sig.len, payload.ptr, payload.len) == 1) rc = SEALDB_OK;
done:
    EVP_MD_CTX_free(ctx);
    sdb_buf_deinit(&payload);
    ERR_clear_error();
    return rc;
}
