/* autocert.c - --auto-cert: a self-signed TLS certificate and its key, made on first start in the
 * data directory (immudb-cert.pem, immudb-key.pem) and reused afterwards, so clients can pin it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "server/autocert.h"

#define CERT_DAYS 365

static int add_ext(X509 *x, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* Writes PEM through a new file of the given mode, replacing `path` only once complete. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) { close(fd); unlink(tmp); return -1; }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) ok = 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) { unlink(tmp); return -1; }
    return 0;
}

static int generate(const char *cert_path, const char *key_path, char *err, size_t errlen) {
    int rc = -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    if (!key || !x || !serial) { snprintf(err, errlen, "out of memory"); goto done; }
    /* random 127-bit positive serial (RFC 5280 allows up to 20 octets) */
    if (!BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x))) { snprintf(err, errlen, "no serial"); goto done; }
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"sealdb", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        add_ext(x, NID_ext_key_usage, "serverAuth") ||
        add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1")) {
        snprintf(err, errlen, "cannot add certificate extensions");
        goto done;
    }
    if (!X509_sign(x, key, EVP_sha256())) { snprintf(err, errlen, "cannot sign the certificate"); goto done; }
    /* key first: a certificate is never on disk without its key */
    if (write_pem(key_path, 0600, key, NULL)) { snprintf(err, errlen, "cannot write %s: %s", key_path, strerror(errno)); goto done; }
    if (write_pem(cert_path, 0644, NULL, x)) { snprintf(err, errlen, "cannot write %s: %s", cert_path, strerror(errno)); goto done; }
    rc = 0;
done:
    BN_free(serial);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int sdb_autocert_ensure(const char *dir, char *cert_path, size_t cert_len, char *key_path, size_t key_len,
                        int *created, char *err, size_t errlen) {
    *created = 0;
    if ((size_t)snprintf(cert_path, cert_len, "%s/immudb-cert.pem", dir) >= cert_len ||
        (size_t)snprintf(key_path, key_len, "%s/immudb-key.pem", dir) >= key_len) {
        snprintf(err, errlen, "data directory path too long");
        return -1;
    }
    int have_cert = access(cert_path, F_OK) == 0, have_key = access(key_path, F_OK) == 0;
    if (have_cert && have_key) return 0;
    if (have_cert != have_key) {
        snprintf(err, errlen, "%s exists without %s: remove it to make a new pair", have_cert ? cert_path : key_path,
                 have_cert ? key_path : cert_path);
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (generate(cert_path, key_path, err, errlen)) return -1;
    *created = 1;
    return 0;
}
