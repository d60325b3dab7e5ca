/* main.c - seal, sealdb's command-line client: immuclient and immuadmin in one, git-style
 * subcommands over libsealdb-client. Exit codes: 0 success, 1 error (usage, network, server
 * refusal), 2 verification failure (a proof, signature or state check failed: data not trusted). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "sealdb_client.h"
#include "cli/args.h"
#include "cli/cdc.h"
#include "cli/out.h"
#include "cli/scrub.h"
#include "cli/backup.h"

#define EXIT_VERIFY 2

static seal_args A;
static seal_out O;
static char g_tokenfile[4096], g_state_dir[4096];

static const char usage_text[] =
"usage: seal [flags] <command> [args]\n"
"\n"
"data:      set <key> <value> | set <key> --file F     (--expires-at T --non-indexable\n"
"                                                       --must-exist K --must-not-exist K\n"
"                                                       --not-modified-key K --not-modified-after TX)\n"
"           get <key>[@rev] (--at-tx N --since-tx N --revision N --output F)\n"
"           safeset|verified-set <key> <value>     safeget|verified-get <key>[@rev]\n"
"           getall <key>...   delete <key>...   history <key> (--offset --limit --desc)\n"
"           scan [prefix] (--seek --end --limit --offset --desc)   count [prefix]\n"
"           ref|safe-ref <refkey> <key> (--at-tx N)\n"
"           zadd|safe-zadd <set> <score> <key> (--at-tx N)   zscan <set> (--min-score --max-score)\n"
"           tx|safe-tx <id> (--values)   txscan <id> (--limit --desc)\n"
"verify:    state|current   check-consistency   audit (--interval S --rounds N --verify-values)\n"
"cdc:       cdc-history <schema.table> <key JSON>   every recorded version of a PostgreSQL row,\n"
"                                                  each proven (--prefix, default cdc)\n"
"           cdc-verify (--slot sealdb_cdc --limit 100)  the slot's last N PostgreSQL transactions\n"
"                                                  are all recorded, proven and in order\n"
"session:   login <user>   logout   use <db>\n"
"server:    health | status | info   version (seal's own)\n"
"           scrub-status (--metrics-port 9497)   integrity scrub per database, from the\n"
"                                                  server's /metrics; exit 2 when damaged\n"
"backup:    backup <db> -o FILE (--append)   restore <db> -f FILE (--append)   immuadmin's\n"
"           hot-backup file format; every record verified (eH, Alh, chain); exit 2 when not\n"
"databases: db create <name> (--max-key-len --max-value-len --max-tx-entries --if-not-exists)\n"
"           db list | use <name> | load <name> | unload <name> | delete <name> | settings\n"
"           (database ... is the same as db ...: immuadmin's name)\n"
"           db flush | compact     (index of the selected database)\n"
"           db update <name> (--autoload B --exclude-commit-time B\n"
"                             --retention-period D --truncation-frequency D: background truncation)\n"
"           db truncate <name> --retention-period D --yes-i-know-what-i-am-doing\n"
"                  discard values older than D (Go duration, 0 or >= 24h) before today's start\n"
"users:     user create <name> <read|readwrite|admin> [db]   user list\n"
"           user password <name>   user grant|revoke <name> <read|readwrite|admin> <db>\n"
"           (also immuadmin's user permission grant|revoke <name> <perm> <db>)\n"
"           user activate|deactivate <name>\n"
"\n"
"flags:     -a/--immudb-address (127.0.0.1)  -p/--immudb-port (3322)  --database D\n"
"           --username U (one-shot login)  --password-file F (else IMMUDB_PASSWORD, else prompt)\n"
"           --tokenfile F (~/.seal/token)  --roots-filepath DIR (trusted states, ~/.seal)\n"
"           --server-signing-pub-key PEM   --timeout SECONDS  --json  --value-only\n"
"           --revision-separator (@)\n"
"           IMMUCLIENT_<FLAG> environment variables (IMMUCLIENT_IMMUDB_ADDRESS, ...) as immuclient; flags win\n"
"tls:       --tls                 TLS, server certificate checked against --clientcas (or system roots)\n"
"           --clientcas CA.pem    CA(s) that signed the server certificate (implies --tls)\n"
"           -m/--mtls --certificate C.pem --pkey K.pem   client certificate for mTLS (implies --tls)\n"
"           --servername NAME     name expected in the server certificate (default: the address)\n"
"           --progress  -q/--quiet\n"
"\n"
"exit codes: 0 ok, 1 error, 2 verification failure (never trust the data printed before it)\n"
"docs/seal.md: TLS setup, what is verified, immuclient/immuadmin commands not covered and why\n"
"times print as RFC 3339 (UTC); --json keeps Unix seconds\n"
"new passwords (user create/password) are read from a prompt, or one line of stdin (SEAL_NEW_PASSWORD);\n"
"user password immudb reads the OLD password first (SEAL_OLD_PASSWORD, or the first of two stdin\n"
"lines), then the new one (the second line).\n"
"\n"
"without seal: the server also answers immudb's JSON REST API on port 8080 (docs/rest.md), e.g.\n"
"  TOKEN=$(curl -s localhost:8080/api/login -d '{\"user\":\"aW1tdWRi\",\"password\":\"aW1tdWRi\"}' | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n"
"  curl -s localhost:8080/api/db/set -H \"Authorization: Bearer $TOKEN\" -d '{\"KVs\":[{\"key\":\"Z3JlZXRpbmc=\",\"value\":\"aGVsbG8=\"}]}'\n"
"  curl -s localhost:8080/api/db/verifiable/get -H \"Authorization: Bearer $TOKEN\" -d '{\"keyRequest\":{\"key\":\"Z3JlZXRpbmc=\"}}'\n"
"  (the proofs in that answer are for the client to check; seal safeget checks them for you)\n";

/* ---- errors ---- */
static int is_verify_failure(int rc) { return rc == SEALDB_TAMPERED || rc == SEALDB_STALE; }

/* gRPC reports TLS trouble as a bare transport error; say which flag to look at. */
static const char *tls_hint(sealdb_client *c, int rc) {
    if (rc != SEALDB_NETWORK && rc != SEALDB_TIMEOUT && rc != SEALDB_PROTOCOL) return NULL;
    const char *msg = c ? sealdb_client_errmsg(c) : "";
    int tls = A.tls || A.mtls || A.clientcas || A.certificate;
    if (strstr(msg, "certificate verify failed") || strstr(msg, "CERTIFICATE_VERIFY_FAILED"))
        return "the server's TLS certificate is not signed by the --clientcas CA (or is expired)";
    if (strstr(msg, "Peer name") || strstr(msg, "hostname"))
        return "the server's TLS certificate does not name this server: set --servername";
    if (!strstr(msg, "Socket closed") && !strstr(msg, "handshake") && !strstr(msg, "Handshake")) return NULL;
    if (!tls) return "the server may require TLS: use --tls --clientcas CA.pem (mTLS: -m --certificate --pkey)";
    if (!A.certificate) return "the server refused the TLS handshake: it may require a client certificate (-m --certificate C --pkey K)";
    return "the server refused the TLS handshake: is the client certificate signed by a CA the server trusts?";
}

static int fail(sealdb_client *c, int rc, const char *what) {
    const char *msg = c ? sealdb_client_errmsg(c) : "";
    if (!*msg) msg = sealdb_strerror(rc);
    int code = is_verify_failure(rc) ? EXIT_VERIFY : 1;
    const char *hint = tls_hint(c, rc);
    char relogin[4400];
    if (!hint && rc == SEALDB_AUTH && !A.username &&
        (strstr(msg, "token") || !strcmp(msg, "not logged in") || strstr(msg, "session"))) {
        /* a saved login the server no longer accepts (expired, logged out, password changed, restarted) */
        snprintf(relogin, sizeof relogin, "the saved login in %s is no longer valid: log in again with "
                 "'seal login <user>' (or pass --username)", g_tokenfile);
        hint = relogin;
    }
    if (O.json) {
        fprintf(stdout, "{\"error\":");
        out_json_str(stdout, msg, strlen(msg));
        fprintf(stdout, ",\"code\":\"%s\",\"verification_failed\":%s", sealdb_errname(rc),
                code == EXIT_VERIFY ? "true" : "false");
        if (hint) { fprintf(stdout, ",\"hint\":"); out_json_str(stdout, hint, strlen(hint)); }
        fprintf(stdout, "}\n");
    }
    if (code == EXIT_VERIFY)
        fprintf(stderr, "seal: VERIFICATION FAILED (%s): %s\n", what, msg);
    else
        fprintf(stderr, "seal: %s: %s\n", what, msg);
    if (hint) fprintf(stderr, "seal: hint: %s\n", hint);
    return code;
}

static int usage_err(const char *msg) {
    fprintf(stderr, "seal: %s\n(see seal --help)\n", msg);
    return 1;
}

/* ---- passwords ---- */
static int read_line(FILE *f, char *buf, size_t cap) {
    if (!fgets(buf, (int)cap, f)) return -1;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
    return 0;
}

/* Prompts on the terminal without echo; without a terminal, reads one line of stdin. */
static int prompt_secret(const char *prompt, char *buf, size_t cap) {
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty || !isatty(0)) {
        if (tty) fclose(tty);
        return read_line(stdin, buf, cap);
    }
    struct termios old, noecho;
    int fd = fileno(tty);
    fputs(prompt, tty);
    fflush(tty);
    int have = tcgetattr(fd, &old) == 0;
    if (have) { noecho = old; noecho.c_lflag &= ~(tcflag_t)ECHO; tcsetattr(fd, TCSAFLUSH, &noecho); }
    int rc = read_line(tty, buf, cap);
    if (have) tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', tty);
    fclose(tty);
    return rc;
}

static int login_password(char *buf, size_t cap) {
    if (A.password_file) {
        FILE *f = fopen(A.password_file, "r");
        if (!f) { fprintf(stderr, "seal: cannot read %s: %s\n", A.password_file, strerror(errno)); return -1; }
        int rc = read_line(f, buf, cap);
        fclose(f);
        if (rc) buf[0] = 0;
        return 0;
    }
    const char *env = getenv("IMMUDB_PASSWORD");
    if (env) { snprintf(buf, cap, "%s", env); return 0; }
    if (prompt_secret("Password: ", buf, cap)) { fprintf(stderr, "seal: no password given\n"); return -1; }
    return 0;
}

/* ---- token file ---- */
#define TOKEN_MAGIC "sealdb-token 1"

static int save_token(sealdb_client *c) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_tokenfile);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", g_tokenfile);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) { *slash = 0; mkdir(dir, 0700); }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) { fprintf(stderr, "seal: cannot write %s: %s\n", tmp, strerror(errno)); return -1; }
    FILE *f = fdopen(fd, "w");
    if (!f) { close(fd); return -1; }
    fprintf(f, "%s\n%s\n%s\n", TOKEN_MAGIC, sealdb_client_token(c), sealdb_client_database(c));
    int bad = fflush(f) != 0 || fsync(fd) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, g_tokenfile) != 0) {
        fprintf(stderr, "seal: cannot write %s: %s\n", g_tokenfile, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int load_token(char *token, size_t tcap, char *db, size_t dcap) {
    FILE *f = fopen(g_tokenfile, "r");
    if (!f) return -1;
    char magic[64];
    int rc = read_line(f, magic, sizeof magic) || strcmp(magic, TOKEN_MAGIC) || read_line(f, token, tcap) ||
             read_line(f, db, dcap) ? -1 : 0;
    fclose(f);
    return rc;
}

/* ---- connecting ---- */
static int connect_client(sealdb_client **out) {
    sealdb_client_opts o;
    sealdb_client_opts_init(&o);
    if (A.mtls && (!A.certificate || !A.pkey)) {
        fprintf(stderr, "seal: --mtls needs the client certificate and key: --certificate C.pem --pkey K.pem\n");
        return 1;
    }
    if (!A.certificate != !A.pkey) {
        fprintf(stderr, "seal: --certificate and --pkey go together (mTLS client certificate and its key)\n");
        return 1;
    }
    const char *files[][2] = { { "--clientcas", A.clientcas }, { "--certificate", A.certificate },
                               { "--pkey", A.pkey }, { "--server-signing-pub-key", A.pub_key } };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (files[i][1] && access(files[i][1], R_OK) != 0) {
            fprintf(stderr, "seal: %s %s: %s\n", files[i][0], files[i][1], strerror(errno));
            return 1;
        }
    }
    o.address = A.address;
    o.port = A.port;
    o.tls = A.tls || A.mtls || A.clientcas || A.certificate;
    o.ca_file = A.clientcas;
    o.cert_file = A.certificate;
    o.key_file = A.pkey;
    o.server_name = A.servername;
    o.state_dir = g_state_dir;
    o.server_pub_key_file = A.pub_key;
    o.timeout_ms = A.timeout_s > 0 ? A.timeout_s * 1000 : -1;
    if (A.max_recv) o.max_recv_msg_size = (size_t)A.max_recv;
    int rc = sealdb_client_connect(&o, out);
    if (rc != SEALDB_OK) {
        fprintf(stderr, "seal: cannot set up the connection: %s%s\n", sealdb_strerror(rc),
                o.tls ? " (are --clientcas, --certificate and --pkey PEM files?)" : "");
        return 1;
    }
    return 0;
}

/* Authenticates for a data/admin command: one-shot --username login, or the saved token. */
static int authenticate(sealdb_client *c) {
    int rc;
    if (A.username) {
        char pw[512];
        if (login_password(pw, sizeof pw)) return 1;
        rc = sealdb_client_login(c, A.username, pw, A.database ? A.database : "defaultdb", NULL);
        memset(pw, 0, sizeof pw);
        return rc == SEALDB_OK ? 0 : fail(c, rc, "login");
    }
    char token[4096], db[256];
    if (load_token(token, sizeof token, db, sizeof db)) {
        fprintf(stderr, "seal: not logged in (run: seal login <user>, or pass --username)\n");
        return 1;
    }
    rc = sealdb_client_set_token(c, token, db);
    memset(token, 0, sizeof token);
    if (rc != SEALDB_OK) { fprintf(stderr, "seal: malformed token file %s\n", g_tokenfile); return 1; }
    if (A.database && strcmp(A.database, db) != 0) {
        rc = sealdb_client_use_database(c, A.database);
        if (rc != SEALDB_OK) return fail(c, rc, "use database");
    }
    return 0;
}

static void print_header(const sealdb_tx_header *h, int verified) {
    out_begin(&O);
    out_header(&O, h);
    out_field_bool(&O, "verified", verified);
    out_end(&O);
    if (O.json) fputc('\n', stdout);
}

static void json_nl(void) { if (O.json) fputc('\n', stdout); }

/* One two-field record, e.g. {"database": "db1", "result": "created"}. */
static void print_pair(const char *k1, const char *v1, const char *k2, const char *v2) {
    out_begin(&O);
    out_field_str(&O, k1, v1);
    if (k2) out_field_str(&O, k2, v2);
    out_end(&O);
    json_nl();
}

/* "key@rev" (immuclient's revision separator) -> key and revision. */
static void split_revision(const char *arg, char *key, size_t cap, sealdb_get_opts *go) {
    snprintf(key, cap, "%s", arg);
    if (!A.revision_sep || !*A.revision_sep) return;
    char *at = strstr(key, A.revision_sep);
    char *last = NULL;
    while (at) { last = at; at = strstr(at + 1, A.revision_sep); }
    if (!last || last == key) return;
    char *num = last + strlen(A.revision_sep), *e;
    if (!*num) return;
    errno = 0;
    long long r = strtoll(num, &e, 10);
    if (*e || errno) return;
    *last = 0;
    go->at_revision = r;
}

/* ---- commands ---- */
typedef struct file_rd { FILE *f; } file_rd;
static long read_file_cb(void *ctx, void *buf, size_t cap) {
    file_rd *r = ctx;
    size_t n = fread(buf, 1, cap, r->f);
    if (n == 0 && ferror(r->f)) return -1;
    return (long)n;
}
static int write_file_cb(void *ctx, const void *buf, size_t n) {
    return fwrite(buf, 1, n, (FILE *)ctx) == n ? 0 : -1;
}
static void progress_cb(void *ctx, uint64_t done, uint64_t total) {
    (void)ctx;
    if (A.progress || (!A.quiet && total > (1u << 20))) out_progress("transferred", done, total, A.progress);
}

static int cmd_set(sealdb_client *c, int verified) {
    if (A.npos < 2 || (A.npos < 3 && !A.file) || A.npos > 3) return usage_err("usage: set <key> <value> | set <key> --file F");
    const char *key = A.pos[1];
    sealdb_tx_header h;
    int rc;
    if (A.file) {
        if (verified) return usage_err("safeset takes the value as an argument");
        FILE *f = fopen(A.file, "rb");
        if (!f) { fprintf(stderr, "seal: cannot open %s: %s\n", A.file, strerror(errno)); return 1; }
        struct stat sb;
        if (fstat(fileno(f), &sb) != 0) { fclose(f); return 1; }
        file_rd r = { f };
        rc = sealdb_client_stream_set(c, key, strlen(key), (uint64_t)sb.st_size, read_file_cb, &r, progress_cb, &h);
        fclose(f);
        if (A.progress || (!A.quiet && sb.st_size > (1 << 20))) out_progress_end(A.progress);
    } else if (verified) {
        rc = sealdb_client_verified_set(c, key, strlen(key), A.pos[2], strlen(A.pos[2]), &h);
    } else {
        sealdb_kv_meta md = { 0, A.has_expires, A.expires_at, A.non_indexable };
        sealdb_kv kv = { key, strlen(key), A.pos[2], strlen(A.pos[2]), (A.has_expires || A.non_indexable) ? &md : NULL };
        sealdb_precondition pre[3];
        size_t npre = 0;
        if (A.must_exist) pre[npre++] = (sealdb_precondition){ SEALDB_PRE_KEY_MUST_EXIST, A.must_exist, strlen(A.must_exist), 0 };
        if (A.must_not_exist) pre[npre++] = (sealdb_precondition){ SEALDB_PRE_KEY_MUST_NOT_EXIST, A.must_not_exist, strlen(A.must_not_exist), 0 };
        if (A.not_modified_key) pre[npre++] = (sealdb_precondition){ SEALDB_PRE_NOT_MODIFIED_AFTER_TX, A.not_modified_key,
                                                                     strlen(A.not_modified_key), A.not_modified_tx };
        rc = sealdb_client_set_all(c, &kv, 1, pre, npre, &h);
    }
    if (rc != SEALDB_OK) return fail(c, rc, verified ? "safeset" : "set");
    print_header(&h, verified);
    return 0;
}

static int cmd_get(sealdb_client *c, int verified) {
    if (A.npos != 2) return usage_err("usage: get <key>");
    char key[4096];
    sealdb_get_opts go = { A.at_tx, A.since_tx, A.has_revision ? A.revision : 0, 0 };
    split_revision(A.pos[1], key, sizeof key, &go);
    if (A.output) {
        if (verified) return usage_err("safeget prints the verified value; --output is for get");
        FILE *f = strcmp(A.output, "-") ? fopen(A.output, "wb") : stdout;
        if (!f) { fprintf(stderr, "seal: cannot write %s: %s\n", A.output, strerror(errno)); return 1; }
        uint64_t n = 0;
        int rc = sealdb_client_stream_get(c, key, strlen(key), write_file_cb, f, progress_cb, &n);
        if (f != stdout && fclose(f) != 0 && rc == SEALDB_OK) rc = SEALDB_IO;
        if (rc != SEALDB_OK) return fail(c, rc, "get");
        if (A.progress || (!A.quiet && n > (1u << 20))) out_progress_end(A.progress);
        if (f == stdout) return 0;
        if (O.json) {
            out_begin(&O);
            out_field_str(&O, "key", key);
            out_field_u64(&O, "bytes", n);
            out_field_str(&O, "file", A.output);
            out_end(&O);
            json_nl();
        } else if (!A.quiet) {
            fprintf(stderr, "wrote %" PRIu64 " bytes to %s\n", n, A.output);
        }
        return 0;
    }
    sealdb_entry *e = NULL;
    int rc = verified ? sealdb_client_verified_get(c, key, strlen(key), &go, &e)
                      : sealdb_client_get(c, key, strlen(key), &go, &e);
    if (rc != SEALDB_OK) return fail(c, rc, verified ? "safeget" : "get");
    if (A.value_only && !O.json) { out_bytes_human(stdout, e->value, e->value_len); fputc('\n', stdout); }
    else { out_entry(&O, e); json_nl(); }
    sealdb_entry_free(e);
    return 0;
}

static void print_entries(const char *name, const sealdb_entries *l) {
    if (O.json) {
        out_begin(&O);
        out_array_begin(&O, name);
        for (size_t i = 0; i < l->n; i++) out_entry(&O, &l->items[i]);
        out_array_end(&O);
        out_end(&O);
        fputc('\n', stdout);
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (A.value_only) { out_bytes_human(stdout, l->items[i].value, l->items[i].value_len); fputc('\n', stdout); continue; }
        if (i) out_sep(&O);
        out_entry(&O, &l->items[i]);
    }
    if (!l->n && !A.quiet) fprintf(stderr, "no entries\n");
}

static int keys_from_pos(int from, const void ***keys, size_t **lens) {
    int n = A.npos - from;
    *keys = calloc((size_t)n + 1, sizeof **keys);
    *lens = calloc((size_t)n + 1, sizeof **lens);
    if (!*keys || !*lens) return -1;
    for (int i = 0; i < n; i++) { (*keys)[i] = A.pos[from + i]; (*lens)[i] = strlen(A.pos[from + i]); }
    return n;
}

static int cmd_getall(sealdb_client *c, int unused) {
    if (A.npos < 2) return usage_err("usage: getall <key>...");
    const void **keys; size_t *lens;
    int n = keys_from_pos(1, &keys, &lens);
    if (n < 0) return 1;
    sealdb_entries *l = NULL;
    int rc = sealdb_client_get_all(c, keys, lens, (size_t)n, &l);
    free(keys); free(lens);
    if (rc != SEALDB_OK) return fail(c, rc, "getall");
    print_entries("entries", l);
    sealdb_entries_free(l);
    return 0;
}

static int cmd_delete(sealdb_client *c, int unused) {
    if (A.npos < 2) return usage_err("usage: delete <key>...");
    const void **keys; size_t *lens;
    int n = keys_from_pos(1, &keys, &lens);
    if (n < 0) return 1;
    sealdb_tx_header h;
    int rc = sealdb_client_delete(c, keys, lens, (size_t)n, &h);
    free(keys); free(lens);
    if (rc != SEALDB_OK) return fail(c, rc, "delete");
    print_header(&h, 0);
    return 0;
}

static int cmd_history(sealdb_client *c, int unused) {
    if (A.npos != 2) return usage_err("usage: history <key>");
    if (A.limit > INT32_MAX) return usage_err("--limit too large");
    sealdb_entries *l = NULL;
    int rc = sealdb_client_history(c, A.pos[1], strlen(A.pos[1]), A.offset, (int32_t)A.limit, A.desc, A.since_tx, &l);
    if (rc != SEALDB_OK) return fail(c, rc, "history");
    print_entries("history", l);
    sealdb_entries_free(l);
    return 0;
}

static int cmd_scan(sealdb_client *c, int unused) {
    if (A.npos > 2) return usage_err("usage: scan [prefix]");
    const char *prefix = A.npos == 2 ? A.pos[1] : (A.prefix ? A.prefix : "");
    sealdb_scan_opts so = {
        prefix, strlen(prefix), A.seek, A.seek ? strlen(A.seek) : 0, A.end, A.end ? strlen(A.end) : 0,
        A.inclusive_seek, A.inclusive_end, A.desc, A.limit, A.offset, A.since_tx,
    };
    sealdb_entries *l = NULL;
    int rc = sealdb_client_scan(c, &so, &l);
    if (rc != SEALDB_OK) return fail(c, rc, "scan");
    print_entries("entries", l);
    sealdb_entries_free(l);
    return 0;
}

static int cmd_count(sealdb_client *c, int unused) {
    if (A.npos > 2) return usage_err("usage: count [prefix]");
    uint64_t n = 0;
    int rc = A.npos == 2 ? sealdb_client_count(c, A.pos[1], strlen(A.pos[1]), &n) : sealdb_client_count_all(c, &n);
    if (rc != SEALDB_OK) return fail(c, rc, "count");
    out_begin(&O);
    out_field_u64(&O, "count", n);
    out_end(&O);
    json_nl();
    return 0;
}

static int cmd_ref(sealdb_client *c, int verified) {
    if (A.npos != 3) return usage_err("usage: ref <refkey> <key>");
    sealdb_tx_header h;
    const char *r = A.pos[1], *k = A.pos[2];
    int rc = verified ? sealdb_client_verified_set_reference(c, r, strlen(r), k, strlen(k), A.at_tx, &h)
                      : sealdb_client_set_reference(c, r, strlen(r), k, strlen(k), A.at_tx, &h);
    if (rc != SEALDB_OK) return fail(c, rc, verified ? "safe-ref" : "ref");
    print_header(&h, verified);
    return 0;
}

static int parse_score(const char *s, double *out) {
    char *e;
    errno = 0;
    *out = strtod(s, &e);
    return (!*s || *e || errno) ? -1 : 0;
}

static int cmd_zadd(sealdb_client *c, int verified) {
    if (A.npos != 4) return usage_err("usage: zadd <set> <score> <key>");
    double score;
    if (parse_score(A.pos[2], &score)) return usage_err("invalid score");
    sealdb_tx_header h;
    const char *s = A.pos[1], *k = A.pos[3];
    int rc = verified ? sealdb_client_verified_zadd(c, s, strlen(s), score, k, strlen(k), A.at_tx, &h)
                      : sealdb_client_zadd(c, s, strlen(s), score, k, strlen(k), A.at_tx, &h);
    if (rc != SEALDB_OK) return fail(c, rc, verified ? "safe-zadd" : "zadd");
    print_header(&h, verified);
    return 0;
}

static int cmd_zscan(sealdb_client *c, int unused) {
    if (A.npos != 2) return usage_err("usage: zscan <set>");
    sealdb_zscan_opts zo;
    memset(&zo, 0, sizeof zo);
    zo.set = A.pos[1];
    zo.set_len = strlen(A.pos[1]);
    if (A.seek) { zo.seek_key = A.seek; zo.seek_len = strlen(A.seek); }
    zo.inclusive_seek = A.inclusive_seek;
    zo.desc = A.desc;
    zo.has_min = A.has_min; zo.min_score = A.min_score;
    zo.has_max = A.has_max; zo.max_score = A.max_score;
    zo.limit = A.limit; zo.offset = A.offset; zo.since_tx = A.since_tx;
    sealdb_zentries *l = NULL;
    int rc = sealdb_client_zscan(c, &zo, &l);
    if (rc != SEALDB_OK) return fail(c, rc, "zscan");
    if (O.json) { out_begin(&O); out_array_begin(&O, "entries"); }
    for (size_t i = 0; i < l->n; i++) {
        const sealdb_zentry *z = &l->items[i];
        if (i) out_sep(&O);
        out_begin(&O);
        out_field_bytes(&O, "set", z->set, z->set_len);
        out_field_double(&O, "score", z->score);
        out_field_bytes(&O, "key", z->key, z->key_len);
        out_field_u64(&O, "at_tx", z->at_tx);
        out_field_u64(&O, "tx", z->entry.tx);
        out_field_bytes(&O, "value", z->entry.value, z->entry.value_len);
        out_end(&O);
    }
    if (O.json) { out_array_end(&O); out_end(&O); fputc('\n', stdout); }
    else if (!l->n && !A.quiet) fprintf(stderr, "no entries\n");
    sealdb_zentries_free(l);
    return 0;
}

static int parse_tx_arg(const char *s, uint64_t *tx) {
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (!*s || *e || errno || *s == '-' || v == 0) return -1;
    *tx = v;
    return 0;
}

static int cmd_tx(sealdb_client *c, int verified) {
    uint64_t tx;
    if (A.npos != 2 || parse_tx_arg(A.pos[1], &tx)) return usage_err("usage: tx <id>  (id > 0)");
    sealdb_tx *t = NULL;
    int rc = verified ? sealdb_client_verified_tx_by_id(c, tx, A.values, &t) : sealdb_client_tx_by_id(c, tx, A.values, &t);
    if (rc != SEALDB_OK) return fail(c, rc, verified ? "safe-tx" : "tx");
    out_tx(&O, t);
    json_nl();
    sealdb_tx_free(t);
    return 0;
}

static int cmd_txscan(sealdb_client *c, int unused) {
    uint64_t tx;
    if (A.npos != 2 || parse_tx_arg(A.pos[1], &tx)) return usage_err("usage: txscan <initial tx>");
    if (A.limit > UINT32_MAX) return usage_err("--limit too large");
    sealdb_txs *l = NULL;
    int rc = sealdb_client_tx_scan(c, tx, (uint32_t)A.limit, A.desc, &l);
    if (rc != SEALDB_OK) return fail(c, rc, "txscan");
    if (O.json) { out_begin(&O); out_array_begin(&O, "txs"); }
    for (size_t i = 0; i < l->n; i++) { if (i) out_sep(&O); out_tx(&O, &l->items[i]); }
    if (O.json) { out_array_end(&O); out_end(&O); fputc('\n', stdout); }
    sealdb_txs_free(l);
    return 0;
}

static int cmd_state(sealdb_client *c, int unused) {
    sealdb_state cur, tr;
    int rc = sealdb_client_current_state(c, &cur);
    if (rc != SEALDB_OK) return fail(c, rc, "state");
    int trc = sealdb_client_trusted_state(c, &tr);
    if (trc != SEALDB_OK && trc != SEALDB_NOTFOUND) return fail(c, trc, "state");
    if (O.json) {
        out_begin(&O);
        out_field_str(&O, "server_id", sealdb_client_server_uuid(c));
        out_array_begin(&O, "states");
        out_state(&O, "server", &cur);
        if (trc == SEALDB_OK) out_state(&O, "trusted", &tr);
        out_array_end(&O);
        out_end(&O);
        fputc('\n', stdout);
        return 0;
    }
    printf("server id: %s\n", sealdb_client_server_uuid(c));
    out_state(&O, "server (unverified)", &cur);
    out_sep(&O);
    if (trc == SEALDB_OK) out_state(&O, "trusted", &tr);
    else printf("trusted:   none yet (run a verified command or check-consistency)\n");
    return 0;
}

static int cmd_check(sealdb_client *c, int unused) {
    sealdb_state before, after;
    int had = sealdb_client_trusted_state(c, &before) == SEALDB_OK;
    int rc = sealdb_client_check_consistency(c, &after);
    if (rc != SEALDB_OK) return fail(c, rc, "check-consistency");
    out_begin(&O);
    out_field_bool(&O, "consistent", 1);
    out_field_u64(&O, "from_tx", had ? before.tx_id : 0);
    out_field_u64(&O, "to_tx", after.tx_id);
    out_field_hex(&O, "hash", after.alh, sizeof after.alh);
    if (!had) out_field_str(&O, "note", "first state for this server and database: trusted on first use");
    out_end(&O);
    json_nl();
    return 0;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int s) { (void)s; g_stop = 1; }

static int cmd_audit(sealdb_client *c, int unused) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* With --verify-values the first round re-proves every value up to the server's state, later
     * rounds the values of the transactions committed since: stored history is re-read each run. */
    uint64_t values_done = 0;
    for (uint64_t round = 1; !g_stop; round++) {
        sealdb_state before, after;
        int had = sealdb_client_trusted_state(c, &before) == SEALDB_OK;
        int rc = sealdb_client_check_consistency(c, &after);
        if (rc != SEALDB_OK) return fail(c, rc, "audit");
        uint64_t from = had ? before.tx_id : 0, checked = 0;
        if (A.verify_values) {
            uint64_t total = after.tx_id > values_done ? after.tx_id - values_done : 0;
            for (uint64_t t = values_done + 1; t <= after.tx_id && !g_stop; t++) {
                sealdb_tx *tx = NULL;
                rc = sealdb_client_verified_tx_by_id(c, t, 1, &tx);
                sealdb_tx_free(tx);
                if (rc != SEALDB_OK) return fail(c, rc, "audit");
                checked++;
                values_done = t;
                if (A.progress || (!A.quiet && total > 100)) out_progress("verifying transactions", checked, total, A.progress);
            }
            if (A.progress || (!A.quiet && total > 100)) out_progress_end(A.progress);
        }
        time_t now = time(NULL);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        out_begin(&O);
        out_field_str(&O, "time", ts);
        out_field_u64(&O, "round", round);
        out_field_str(&O, "result", "ok");
        out_field_u64(&O, "from_tx", from);
        out_field_u64(&O, "to_tx", after.tx_id);
        out_field_hex(&O, "hash", after.alh, sizeof after.alh);
        if (A.verify_values) out_field_u64(&O, "txs_verified", checked);
        out_end(&O);
        if (O.json) fputc('\n', stdout); else out_sep(&O);
        fflush(stdout);
        if (A.rounds && round >= A.rounds) break;
        for (uint64_t s = 0; s < A.interval_s * 10 && !g_stop; s++) {
            struct timespec ts100 = { 0, 100000000 };
            nanosleep(&ts100, NULL);
        }
    }
    return 0;
}

static int cmd_health(sealdb_client *c, int info) {
    sealdb_server_info si;
    int rc;
    if (info) rc = sealdb_client_server_info(c, &si);
    else { memset(&si, 0, sizeof si); rc = sealdb_client_health(c, &si.health_ok, si.version, sizeof si.version); }
    if (rc != SEALDB_OK) return fail(c, rc, "health");
    out_begin(&O);
    out_field_str(&O, "status", si.health_ok ? "ok" : "unhealthy");
    out_field_str(&O, "version", si.version);
    if (sealdb_client_server_version(c)[0]) out_field_str(&O, "sealdb_version", sealdb_client_server_version(c));
    out_field_str(&O, "server_id", sealdb_client_server_uuid(c));
    if (info) {
        out_field_time(&O, "started_at", si.started_at);
        out_field_i64(&O, "transactions", si.num_transactions);
        out_field_i64(&O, "databases", si.num_databases);
        out_field_i64(&O, "disk_size", si.disk_size);
    }
    out_end(&O);
    json_nl();
    return si.health_ok ? 0 : 1;
}

static int cmd_scrub_status(sealdb_client *c, int unused) {
    if (A.npos != 1) return usage_err("usage: scrub-status (--metrics-port N --database D)");
    return seal_scrub_status(&A, &O);
}

static int cmd_login(sealdb_client *c, int unused) {
    const char *user = A.npos >= 2 ? A.pos[1] : A.username;
    if (!user || A.npos > 2) return usage_err("usage: login <user>");
    char pw[512];
    if (login_password(pw, sizeof pw)) return 1;
    int warn = 0;
    int rc = sealdb_client_login(c, user, pw, A.database ? A.database : "defaultdb", &warn);
    memset(pw, 0, sizeof pw);
    if (rc != SEALDB_OK) return fail(c, rc, "login");
    if (save_token(c)) return 1;
    if (warn) fprintf(stderr, "warning: %s has the default password: change it (seal user password %s)\n", user, user);
    print_pair("logged_in", user, "database", sealdb_client_database(c));
    return 0;
}

static int cmd_logout(sealdb_client *c, int unused) {
    int rc = sealdb_client_logout(c);
    unlink(g_tokenfile);
    if (rc != SEALDB_OK && rc != SEALDB_AUTH) return fail(c, rc, "logout");
    if (O.json) print_pair("result", "logged out", NULL, NULL);
    else if (!A.quiet) fprintf(stderr, "logged out\n");
    return 0;
}

static int cmd_use(sealdb_client *c, const char *db) {
    int rc = sealdb_client_use_database(c, db);
    if (rc != SEALDB_OK) return fail(c, rc, "use");
    if (!A.username && save_token(c)) return 1;
    print_pair("database", db, NULL, NULL);
    return 0;
}

static int parse_perm(const char *s, uint32_t *p) {
    if (!strcmp(s, "read") || !strcmp(s, "r") || !strcmp(s, "1")) *p = SEALDB_PERM_READ;
    else if (!strcmp(s, "readwrite") || !strcmp(s, "rw") || !strcmp(s, "2")) *p = SEALDB_PERM_READWRITE;
    else if (!strcmp(s, "admin") || !strcmp(s, "254")) *p = SEALDB_PERM_ADMIN;
    else return -1;
    return 0;
}

static const char *perm_name(uint32_t p) {
    switch (p) {
    case SEALDB_PERM_READ: return "read";
    case SEALDB_PERM_READWRITE: return "readwrite";
    case SEALDB_PERM_ADMIN: return "admin";
    case SEALDB_PERM_SYSADMIN: return "sysadmin";
    default: return "unknown";
    }
}

static int cmd_db(sealdb_client *c, int unused) {
    if (A.npos < 2) return usage_err("usage: db create|list|use|load|unload|delete|settings|update|flush|compact|truncate");
    const char *sub = A.pos[1], *name = A.npos >= 3 ? A.pos[2] : NULL;
    int rc;
    if (!strcmp(sub, "list")) {
        sealdb_db_list *l = NULL;
        if ((rc = sealdb_client_list_databases(c, &l)) != SEALDB_OK) return fail(c, rc, "db list");
        if (O.json) { out_begin(&O); out_array_begin(&O, "databases"); }
        for (size_t i = 0; i < l->n; i++) {
            if (O.json) {
                out_begin(&O);
                out_field_str(&O, "name", l->items[i].name);
                out_field_bool(&O, "loaded", l->items[i].loaded);
                out_field_u64(&O, "transactions", l->items[i].num_transactions);
                out_field_u64(&O, "disk_size", l->items[i].disk_size);
                out_end(&O);
            } else {
                printf("%s%s\t%s\t%" PRIu64 " txs\n", !strcmp(l->items[i].name, sealdb_client_database(c)) ? "*" : " ",
                       l->items[i].name, l->items[i].loaded ? "loaded" : "unloaded", l->items[i].num_transactions);
            }
        }
        if (O.json) { out_array_end(&O); out_end(&O); fputc('\n', stdout); }
        sealdb_db_list_free(l);
        return 0;
    }
    if (!strcmp(sub, "settings")) {
        char dbname[256];
        sealdb_db_settings s;
        if ((rc = sealdb_client_database_settings(c, dbname, sizeof dbname, &s)) != SEALDB_OK) return fail(c, rc, "db settings");
        out_begin(&O);
        out_field_str(&O, "database", dbname);
        out_field_u64(&O, "max_key_len", s.max_key_len);
        out_field_u64(&O, "max_value_len", s.max_value_len);
        out_field_u64(&O, "max_tx_entries", s.max_tx_entries);
        out_field_u64(&O, "file_size", s.file_size);
        if (s.has_exclude_commit_time) out_field_bool(&O, "exclude_commit_time", s.exclude_commit_time);
        if (s.has_autoload) out_field_bool(&O, "autoload", s.autoload);
        out_end(&O);
        json_nl();
        return 0;
    }
    if (!strcmp(sub, "flush") || !strcmp(sub, "compact")) {
        rc = !strcmp(sub, "flush") ? sealdb_client_flush_index(c, 0, 1) : sealdb_client_compact_index(c);
        if (rc != SEALDB_OK) return fail(c, rc, "db");
        print_pair("database", sealdb_client_database(c), "result", !strcmp(sub, "flush") ? "index flushed" : "index compacted");
        return 0;
    }
    if (!strcmp(sub, "truncate")) {
        if (!name || A.npos != 3 || !A.has_retention)
            return usage_err("usage: db truncate <name> --retention-period D --yes-i-know-what-i-am-doing");
        if (!A.yes_i_know) {
            fprintf(stderr, "seal: db truncate: database '%s' was not truncated: values older than the retention "
                    "period are discarded for good; confirm with --yes-i-know-what-i-am-doing\n", name);
            return 1;
        }
        if ((rc = sealdb_client_truncate_database(c, name, A.retention_ms)) != SEALDB_OK) return fail(c, rc, "db truncate");
        print_pair("database", name, "result", "truncated");
        return 0;
    }
    if (!name || A.npos != 3) return usage_err("usage: db <create|use|load|unload|delete|update|truncate> <name>");
    if (!strcmp(sub, "use")) return cmd_use(c, name);
    if (((A.has_retention && A.retention_ms < 0) || (A.has_trunc_freq && A.trunc_freq_ms < 0)) && !strcmp(sub, "update"))
        return usage_err("--retention-period and --truncation-frequency must not be negative");
    if ((A.has_retention || A.has_trunc_freq) && strcmp(sub, "update") != 0)
        return usage_err("--retention-period and --truncation-frequency are settings of db update (and the "
                         "retention of db truncate); create the database first");
    const char *done;
    sealdb_db_settings s = { A.max_key_len, A.max_value_len, A.max_tx_entries, 0,
                             A.has_excl_time, A.excl_time, A.has_autoload, A.autoload };
    if (!strcmp(sub, "create")) {
        int already = 0;
        rc = sealdb_client_create_database(c, name, &s, A.if_not_exists, &already);
        done = already ? "already exists" : "created";
    } else if (!strcmp(sub, "load")) { rc = sealdb_client_load_database(c, name); done = "loaded"; }
    else if (!strcmp(sub, "unload")) { rc = sealdb_client_unload_database(c, name); done = "unloaded"; }
    else if (!strcmp(sub, "delete")) { rc = sealdb_client_delete_database(c, name); done = "deleted"; }
    else if (!strcmp(sub, "update")) {
        rc = sealdb_client_update_database(c, name, &s);
        if (rc == SEALDB_OK && (A.has_retention || A.has_trunc_freq))
            rc = sealdb_client_update_truncation(c, name, A.has_retention ? A.retention_ms : -1,
                                                 A.has_trunc_freq ? A.trunc_freq_ms : -1);
        done = "updated";
    }
    else return usage_err("unknown db subcommand");
    if (rc != SEALDB_OK) return fail(c, rc, "db");
    print_pair("database", name, "result", done);
    return 0;
}

static int new_password(const char *prompt, char *buf, size_t cap) {
    const char *env = getenv("SEAL_NEW_PASSWORD");
    if (env) { snprintf(buf, cap, "%s", env); return 0; }
    if (prompt_secret(prompt, buf, cap) || !*buf) { fprintf(stderr, "seal: no password given\n"); return -1; }
    if (isatty(0)) {
        char again[512];
        if (prompt_secret("Repeat: ", again, sizeof again) || strcmp(again, buf)) {
            fprintf(stderr, "seal: passwords differ\n");
            return -1;
        }
    }
    return 0;
}

static int cmd_user(sealdb_client *c, int unused) {
    if (A.npos < 2) return usage_err("usage: user create|list|password|grant|revoke|activate|deactivate");
    if (!strcmp(A.pos[1], "permission")) {   /* immuadmin: user permission grant|revoke <name> <perm> <db> */
        if (A.npos < 3 || (strcmp(A.pos[2], "grant") && strcmp(A.pos[2], "revoke")))
            return usage_err("usage: user permission grant|revoke <name> <read|readwrite|admin> <db>");
        memmove(&A.pos[1], &A.pos[2], (size_t)(A.npos - 2) * sizeof A.pos[0]);
        A.npos--;
    }
    const char *sub = A.pos[1];
    int rc;
    if (!strcmp(sub, "list")) {
        sealdb_user_list *l = NULL;
        if ((rc = sealdb_client_list_users(c, &l)) != SEALDB_OK) return fail(c, rc, "user list");
        if (O.json) { out_begin(&O); out_array_begin(&O, "users"); }
        for (size_t i = 0; i < l->n; i++) {
            const sealdb_user *u = &l->items[i];
            if (O.json) {
                out_begin(&O);
                out_field_str(&O, "user", u->name);
                out_field_bool(&O, "active", u->active);
                out_field_str(&O, "created_by", u->created_by);
                out_array_begin(&O, "permissions");
                for (size_t j = 0; j < u->nperms; j++) {
                    out_begin(&O);
                    out_field_str(&O, "database", u->perms[j].database);
                    out_field_str(&O, "permission", perm_name(u->perms[j].permission));
                    out_end(&O);
                }
                out_array_end(&O);
                out_end(&O);
            } else {
                printf("%s\t%s", u->name, u->active ? "active" : "inactive");
                for (size_t j = 0; j < u->nperms; j++) printf("\t%s:%s", u->perms[j].database, perm_name(u->perms[j].permission));
                printf("\n");
            }
        }
        if (O.json) { out_array_end(&O); out_end(&O); fputc('\n', stdout); }
        sealdb_user_list_free(l);
        return 0;
    }
    if (A.npos < 3) return usage_err("user: missing user name");
    const char *user = A.pos[2];
    const char *done = NULL;
    if (!strcmp(sub, "create")) {
        uint32_t perm;
        if (A.npos < 4 || A.npos > 5 || parse_perm(A.pos[3], &perm)) return usage_err("usage: user create <name> <read|readwrite|admin> [db]");
        char pw[512];
        if (new_password("New password: ", pw, sizeof pw)) return 1;
        rc = sealdb_client_create_user(c, user, pw, perm, A.npos == 5 ? A.pos[4] : (A.database ? A.database : sealdb_client_database(c)));
        memset(pw, 0, sizeof pw);
        done = "created";
    } else if (!strcmp(sub, "password")) {
        char pw[512], old[512] = "";
        if (!strcmp(user, "immudb")) {
            const char *env = getenv("SEAL_OLD_PASSWORD");
            if (env) snprintf(old, sizeof old, "%s", env);
            else if (prompt_secret("Old password: ", old, sizeof old)) { fprintf(stderr, "seal: no old password given\n"); return 1; }
        }
        if (new_password("New password: ", pw, sizeof pw)) return 1;
        rc = sealdb_client_change_password(c, user, old, pw);
        memset(pw, 0, sizeof pw);
        memset(old, 0, sizeof old);
        done = "password changed";
    } else if (!strcmp(sub, "grant") || !strcmp(sub, "revoke")) {
        uint32_t perm;
        if (A.npos != 5 || parse_perm(A.pos[3], &perm)) return usage_err("usage: user grant|revoke <name> <read|readwrite|admin> <db>");
        rc = sealdb_client_change_permission(c, user, A.pos[4], perm, !strcmp(sub, "grant"));
        done = !strcmp(sub, "grant") ? "granted" : "revoked";
    } else if (!strcmp(sub, "activate") || !strcmp(sub, "deactivate")) {
        rc = sealdb_client_set_active_user(c, user, !strcmp(sub, "activate"));
        done = !strcmp(sub, "activate") ? "activated" : "deactivated";
    } else {
        return usage_err("unknown user subcommand");
    }
    if (rc != SEALDB_OK) return fail(c, rc, "user");
    print_pair("user", user, "result", done);
    return 0;
}

static int cmd_backup(sealdb_client *c, int restore) {
    return restore ? seal_restore(c, &A) : seal_backup(c, &A);
}

static int cmd_cdc_history(sealdb_client *c, int unused) {
    if (A.npos != 3) return usage_err("usage: cdc-history <schema.table> <key JSON>");
    return seal_cdc_history(c, &O, A.prefix ? A.prefix : "cdc", A.pos[1], A.pos[2]);
}

static int cmd_cdc_verify(sealdb_client *c, int unused) {
    if (A.npos != 1) return usage_err("usage: cdc-verify (--slot S --limit N --prefix P)");
    return seal_cdc_verify(c, &O, A.prefix ? A.prefix : "cdc", A.slot ? A.slot : "sealdb_cdc", A.limit);
}

static int cmd_use_arg(sealdb_client *c, int unused) {
    return A.npos == 2 ? cmd_use(c, A.pos[1]) : usage_err("usage: use <db>");
}

/* Every subcommand: its name, handler, the handler's argument (verified / info variant) and
 * whether it needs a logged-in session. */
typedef struct seal_cmd {
    const char *name;
    int (*run)(sealdb_client *c, int arg);
    int arg, auth;
} seal_cmd;

static const seal_cmd commands[] = {
    { "set", cmd_set, 0, 1 },               { "safeset", cmd_set, 1, 1 },       { "verified-set", cmd_set, 1, 1 },
    { "get", cmd_get, 0, 1 },               { "safeget", cmd_get, 1, 1 },       { "verified-get", cmd_get, 1, 1 },
    { "getall", cmd_getall, 0, 1 },         { "delete", cmd_delete, 0, 1 },     { "history", cmd_history, 0, 1 },
    { "scan", cmd_scan, 0, 1 },             { "count", cmd_count, 0, 1 },
    { "ref", cmd_ref, 0, 1 },               { "safe-ref", cmd_ref, 1, 1 },      { "verified-ref", cmd_ref, 1, 1 },
    { "zadd", cmd_zadd, 0, 1 },             { "safe-zadd", cmd_zadd, 1, 1 },    { "verified-zadd", cmd_zadd, 1, 1 },
    { "zscan", cmd_zscan, 0, 1 },
    { "tx", cmd_tx, 0, 1 },                 { "safe-tx", cmd_tx, 1, 1 },        { "verified-tx", cmd_tx, 1, 1 },
    { "txscan", cmd_txscan, 0, 1 },         { "state", cmd_state, 0, 1 },       { "check-consistency", cmd_check, 0, 1 },
    { "current", cmd_state, 0, 1 },         { "database", cmd_db, 0, 1 },
    { "audit", cmd_audit, 0, 1 },
    { "cdc-history", cmd_cdc_history, 0, 1 }, { "cdc-verify", cmd_cdc_verify, 0, 1 },
    { "health", cmd_health, 0, 0 },         { "status", cmd_health, 0, 0 },     { "info", cmd_health, 1, 0 },
    { "scrub-status", cmd_scrub_status, 0, 0 },
    { "backup", cmd_backup, 0, 1 },         { "restore", cmd_backup, 1, 1 },
    { "login", cmd_login, 0, 0 },           { "logout", cmd_logout, 0, 1 },     { "use", cmd_use_arg, 0, 1 },
    { "db", cmd_db, 0, 1 },                 { "user", cmd_user, 0, 1 },
};

static void default_paths(void) {
    const char *home = getenv("HOME");
    if (!home || !*home) home = ".";
    if (A.tokenfile) snprintf(g_tokenfile, sizeof g_tokenfile, "%s", A.tokenfile);
    else snprintf(g_tokenfile, sizeof g_tokenfile, "%s/.seal/token", home);
    if (A.state_dir) snprintf(g_state_dir, sizeof g_state_dir, "%s", A.state_dir);
    else {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/.seal", home);
        mkdir(dir, 0700);
        snprintf(g_state_dir, sizeof g_state_dir, "%s", dir);
    }
}

int main(int argc, char **argv) {
    char err[256];
    seal_args_defaults(&A);
    if (seal_args_env(&A, err, sizeof err)) return usage_err(err);
    if (seal_args_parse(argc - 1, argv + 1, &A, err, sizeof err)) return usage_err(err);
    if (A.version || (A.npos == 1 && !strcmp(A.pos[0], "version"))) { printf("seal %s\n", SEALDB_CLIENT_VERSION); return 0; }
    if (A.help || A.npos == 0) { fputs(usage_text, A.help ? stdout : stderr); return A.help ? 0 : 1; }
    out_init(&O, A.json);
    default_paths();
    /* gRPC's own log lines (e.g. TLS handshake errors) would duplicate seal's message on stderr. */
    setenv("GRPC_VERBOSITY", "NONE", 0);
    const char *cmd = A.pos[0];
    const seal_cmd *sc = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !sc; i++)
        if (!strcmp(cmd, commands[i].name)) sc = &commands[i];
    if (!sc) { snprintf(err, sizeof err, "unknown command '%s'", cmd); return usage_err(err); }

    sealdb_client *c = NULL;
    if (connect_client(&c)) return 1;
    int rc = sc->auth ? authenticate(c) : 0;
    if (!rc) rc = sc->run(c, sc->arg);
    sealdb_client_close(c);
    fflush(stdout);
    return rc;
}
