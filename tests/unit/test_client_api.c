/* test_client_api.c - libsealdb-client's public surface without a server: option checks, error
 * reporting on an unreachable server, NULL-safe frees, gRPC status mapping. */
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include "testlib.h"
#include "sealdb_client.h"
#include "client/client_int.h"

static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);   /* nothing listens there any more */
    return ntohs(a.sin_port);
}

TEST(client_connect_rejects_bad_options) {
    sealdb_client_opts o;
    sealdb_client *c = NULL;
    sealdb_client_opts_init(&o);
    CHECK_EQ_U64(o.port, 3322);
    o.port = 0;
    CHECK_RC(sealdb_client_connect(&o, &c), SEALDB_INVALID);
    sealdb_client_opts_init(&o);
    o.cert_file = "/nonexistent.pem";   /* certificate without key */
    CHECK_RC(sealdb_client_connect(&o, &c), SEALDB_INVALID);
    sealdb_client_opts_init(&o);
    o.server_pub_key_file = "/nonexistent-key.pem";
    CHECK(sealdb_client_connect(&o, &c) != SEALDB_OK);
    CHECK(c == NULL);
}

TEST(client_unreachable_server_is_network_error) {
    sealdb_client_opts o;
    sealdb_client *c = NULL;
    sealdb_client_opts_init(&o);
    o.port = closed_port();
    o.timeout_ms = 5000;
    o.state_dir = sdb_test_tmpdir();
    CHECK_OK(sealdb_client_connect(&o, &c));
    int ok = 0;
    CHECK_RC(sealdb_client_health(c, &ok, NULL, 0), SEALDB_NETWORK);
    CHECK(strlen(sealdb_client_errmsg(c)) > 0);
    CHECK_EQ_U64(sealdb_client_grpc_code(c), 14);
    sealdb_entry *e = NULL;
    CHECK_RC(sealdb_client_verified_get(c, "k", 1, NULL, &e), SEALDB_NETWORK);
    CHECK(e == NULL);
    CHECK_RC(sealdb_client_verified_get(c, "", 0, NULL, &e), SEALDB_INVALID);
    /* pipelined ExecAll: two calls in flight, each answered at its wait with the transport error */
    sealdb_op op = { .kind = SEALDB_OP_KV, .kv = { "k", 1, "v", 1, NULL } };
    sealdb_pending *p1 = NULL, *p2 = NULL;
    CHECK_RC(sealdb_client_exec_all_start(c, NULL, 1, NULL, 0, &p1), SEALDB_INVALID);
    CHECK(p1 == NULL);
    CHECK_RC(sealdb_client_exec_all_start(c, &op, 1, NULL, 0, NULL), SEALDB_INVALID);
    CHECK_OK(sealdb_client_exec_all_start(c, &op, 1, NULL, 0, &p1));
    CHECK_OK(sealdb_client_exec_all_start(c, &op, 1, NULL, 0, &p2));
    CHECK(p1 && p2);
    for (int i = 0; i < 5000 && !sealdb_client_exec_all_ready(p2); i++) usleep(1000);
    CHECK(sealdb_client_exec_all_ready(p2));
    sealdb_tx_header h;
    CHECK_RC(sealdb_client_exec_all_wait(c, p2, &h), SEALDB_NETWORK);
    CHECK_RC(sealdb_client_exec_all_wait(c, p1, &h), SEALDB_NETWORK);
    CHECK_EQ_U64(sealdb_client_exec_all_ready(NULL), 1);
    CHECK_EQ_STR(sealdb_client_server_uuid(c), "");
    CHECK_EQ_STR(sealdb_client_database(c), "defaultdb");
    CHECK_RC(sealdb_client_set_token(c, "bad token", NULL), SEALDB_INVALID);
    CHECK_OK(sealdb_client_set_token(c, "tok", "db1"));
    CHECK_EQ_STR(sealdb_client_token(c), "tok");
    CHECK_EQ_STR(sealdb_client_database(c), "db1");
    sealdb_client_close(c);
}

TEST(client_free_functions_accept_null) {
    sealdb_client_close(NULL);
    sealdb_entry_free(NULL);
    sealdb_entries_free(NULL);
    sealdb_zentries_free(NULL);
    sealdb_tx_free(NULL);
    sealdb_txs_free(NULL);
    sealdb_db_list_free(NULL);
    sealdb_user_list_free(NULL);
    CHECK_EQ_STR(sealdb_client_errmsg(NULL), "");
}

TEST(client_status_mapping) {
    CHECK_RC(sdb_cl_map_status(2, "tbtree: key not found"), SEALDB_NOTFOUND);
    CHECK_RC(sdb_cl_map_status(2, "tx not found"), SEALDB_NOTFOUND);
    CHECK_RC(sdb_cl_map_status(9, "precondition failed: KeyMustExist"), SEALDB_PRECONDITION);
    CHECK_RC(sdb_cl_map_status(2, "not logged in"), SEALDB_AUTH);
    CHECK_RC(sdb_cl_map_status(2, "invalid user name or password"), SEALDB_AUTH);
    CHECK_RC(sdb_cl_map_status(7, "token has expired"), SEALDB_AUTH);
    CHECK_RC(sdb_cl_map_status(13, "permission denied"), SEALDB_PERMISSION);
    CHECK_RC(sdb_cl_map_status(12, "unimplemented"), SEALDB_UNSUPPORTED);
    CHECK_RC(sdb_cl_map_status(14, "unavailable"), SEALDB_NETWORK);
    CHECK_RC(sdb_cl_map_status(4, "deadline"), SEALDB_TIMEOUT);
    CHECK_RC(sdb_cl_map_status(2, "database already exists"), SEALDB_EXISTS);
    CHECK_RC(sdb_cl_map_status(2, "max key length exceeded"), SEALDB_TOOLARGE);
    CHECK_RC(sdb_cl_map_status(3, "illegal arguments"), SEALDB_INVALID);
    CHECK_RC(sdb_cl_map_status(2, "stored data fails its checksum or format checks"), SEALDB_TAMPERED);
    CHECK_RC(sdb_cl_map_status(0, ""), SEALDB_OK);
}
