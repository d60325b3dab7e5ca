/* fuzz_rpc.c - libFuzzer target over the server's request decoding and dispatch: arbitrary bytes
 * as the request of any registered method (or an unknown path), with no, garbage, valid-token or
 * session credentials, through a fake transport. Must never crash, hang or leak a call. */
#include <stdio.h>
#include <stdlib.h>
#include <ftw.h>
#include <unistd.h>
#include "rpc/server.h"

static sdb_server *srv;
static char token[512];
static char session_id[48] = "fuzz-session-0000000000000000000000000000000";
static _Atomic int finished;

typedef struct fz { const uint8_t *p; size_t n, off; } fz;

static void f_finish(sdb_call *c, int code, const char *msg, const uint8_t *resp, size_t len) {
    (void)code; (void)msg; (void)resp; (void)len;
    atomic_fetch_add(&finished, 1);
    sdb_call_unref(c);
}
static int f_send(sdb_call *c, const uint8_t *p, size_t n) { (void)c; (void)p; (void)n; return SEALDB_OK; }
/* client-stream input: the rest of the fuzz input as Chunk messages of up to 97 content bytes */
static int f_recv(sdb_call *c, sdb_slice *out, int *eof) {
    fz *z = c->tctx;
    if (z->off >= z->n) { *eof = 1; return SEALDB_OK; }
    size_t take = z->n - z->off < 97 ? z->n - z->off : 97;
    uint8_t *b = sdb_call_alloc(c, take + 2);
    if (!b) return SEALDB_NOMEM;
    b[0] = 0x0a;
    b[1] = (uint8_t)take;
    memcpy(b + 2, z->p + z->off, take);
    z->off += take;
    *out = sdb_slice_of(b, take + 2);
    *eof = 0;
    return SEALDB_OK;
}
static const sdb_call_ops fops = { f_finish, f_send, f_recv };

static char dirbuf[64];
static int rm_one(const char *p, const struct stat *sb, int t, struct FTW *f) {
    (void)sb; (void)t; (void)f;
    return remove(p);
}
static void cleanup(void) { nftw(dirbuf, rm_one, 8, FTW_DEPTH | FTW_PHYS); }

static void setup(void) {
    setenv("SEALDB_BCRYPT_COST", "4", 1);
    char tmpl[] = "/tmp/sealdb-fuzz-rpc-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) abort();
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    atexit(cleanup);
    sdb_server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dirbuf;
    cfg.address = "127.0.0.1";
    cfg.auth = 1;
    cfg.admin_password = "immudb";
    cfg.max_recv_msg_size = 1 << 20;
    cfg.max_sessions = 100;
    cfg.session_timeout_ms = 3600 * 1000;
    cfg.token_expiry_s = 3600;
    if (sdb_server_open(&cfg, &srv)) abort();
    pthread_mutex_lock(&srv->mu);
    sdb_user *u = sdb_user_find(srv, SDB_SYSADMIN);
    if (!u || sdb_token_issue(srv, u, SDB_DEFAULTDB, token, sizeof token)) abort();
    sdb_session *ss = sdb_calloc(1, sizeof *ss);
    strcpy(ss->id, session_id);
    strcpy(ss->user, SDB_SYSADMIN);
    strcpy(ss->db, SDB_DEFAULTDB);
    ss->last_ms = ss->created_ms = sdb_now_ms();
    srv->sessions = ss;
    srv->n_sessions = 1;
    pthread_mutex_unlock(&srv->mu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv) setup();
    if (size < 2) return 0;
    size_t mi = data[0];
    const char *path = mi < srv->n_methods ? srv->methods[mi]->path : "/immudb.schema.ImmuService/NoSuchMethod";
    fz z = { data + 2, size - 2, 0 };
    sdb_call *c = sdb_call_new(srv, path, strlen(path), &fops, &z);
    if (!c) return 0;
    switch (data[1] & 3) {
    case 1: sdb_call_add_metadata(c, "authorization", 13, token, strlen(token)); break;
    case 2: sdb_call_add_metadata(c, "sessionid", 9, session_id, strlen(session_id)); break;
    case 3: sdb_call_add_metadata(c, "authorization", 13, (const char *)data + 2, size - 2 < 80 ? size - 2 : 80); break;
    default: break;
    }
    int before = atomic_load(&finished);
    sdb_dispatch(c, sdb_slice_of(data + 2, size - 2));
    /* asynchronous completions (commit callbacks) must arrive; a call never answered is a bug */
    for (int i = 0; atomic_load(&finished) == before; i++) {
        if (i > 20000) __builtin_trap();
        usleep(100);
    }
    return 0;
}
