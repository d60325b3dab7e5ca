/* autocert.h - the self-signed certificate of --auto-cert (autocert.c). */
#ifndef SDB_SERVER_AUTOCERT_H
#define SDB_SERVER_AUTOCERT_H
#include <stddef.h>

/* Paths of <dir>/immudb-cert.pem and <dir>/immudb-key.pem into cert_path/key_path, making the pair
 * if neither exists (*created = 1). 0 on success, else -1 with a one-line reason in err. */
int sdb_autocert_ensure(const char *dir, char *cert_path, size_t cert_len, char *key_path, size_t key_len,
                        int *created, char *err, size_t errlen);
#endif
