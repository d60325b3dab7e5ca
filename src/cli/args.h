/* args.h - the seal CLI's command-line model: one flag table shared by every subcommand (immuclient's
 * flag names where they exist), positional arguments, and the parsed options. Pure: no I/O. */
#ifndef SDB_CLI_ARGS_H
#define SDB_CLI_ARGS_H

#include <stdint.h>
#include <stddef.h>

#define SEAL_MAX_POS 64

typedef struct seal_args {
    /* connection (immuclient names) */
    const char *address;          /* -a, --immudb-address */
    int port;                     /* -p, --immudb-port */
    const char *database;         /* --database */
    const char *username;         /* --username */
    const char *tokenfile;        /* --tokenfile */
    const char *state_dir;        /* --roots-filepath (alias --state-dir) */
    const char *pub_key;          /* --server-signing-pub-key */
    int mtls;                     /* -m, --mtls */
    int tls;                      /* --tls */
    const char *certificate;      /* --certificate (client cert for mTLS) */
    const char *pkey;             /* --pkey (client key for mTLS) */
    const char *clientcas;        /* --clientcas (CA of the server cert) */
    const char *servername;       /* --servername */
    uint64_t max_recv;            /* --max-recv-msg-size */
    int timeout_s;                /* --timeout (seconds) */
    const char *password_file;    /* --password-file */
    int metrics_port;             /* --metrics-port: the server's /metrics (scrub-status) */
    /* output */
    int json, value_only, quiet, progress;
    const char *revision_sep;     /* --revision-separator, default "@" */
    /* command options */
    uint64_t at_tx, since_tx, limit, offset, interval_s, rounds;
    int has_revision; int64_t revision;
    int desc, inclusive_seek, inclusive_end, verify_values, values, if_not_exists;
    int append;                   /* --append: backup/restore continue an existing file/database */
    const char *prefix, *seek, *end, *file, *output;
    const char *slot;             /* --slot: sealdb-cdc's replication slot (cdc-verify) */
    int has_min, has_max; double min_score, max_score;
    int has_expires; int64_t expires_at;
    int non_indexable;
    const char *must_exist, *must_not_exist;
    const char *not_modified_key; uint64_t not_modified_tx;
    uint32_t max_key_len, max_value_len, max_tx_entries;
    int has_autoload, autoload, has_excl_time, excl_time;
    int has_retention; int64_t retention_ms;   /* --retention-period (Go duration) */
    int has_trunc_freq; int64_t trunc_freq_ms; /* --truncation-frequency (db update) */
    int yes_i_know;               /* --yes-i-know-what-i-am-doing (db truncate) */
    int help, version;
    /* positionals: pos[0] is the command */
    const char *pos[SEAL_MAX_POS];
    int npos;
} seal_args;

/* Parses argv (without argv[0]). Returns 0 on success, else -1 with a message in err. */
/* Applies IMMUCLIENT_<FLAG> environment variables (before seal_args_parse, so flags win). */
int seal_args_env(seal_args *a, char *err, size_t cap);
int seal_args_parse(int argc, char **argv, seal_args *a, char *err, size_t err_cap);
void seal_args_defaults(seal_args *a);
/* A Go duration ("24h", "1h30m", "0") in milliseconds; -1 when malformed. */
int seal_parse_duration_ms(const char *s, int64_t *out);

#endif
