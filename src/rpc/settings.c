/* settings.c - database settings: immudb's defaults, merging the Nullable* overrides of a
 * Create/UpdateDatabase request over the current settings (presence decides, not the value), and
 * the effective values the KV layer uses. Works by protobuf-c reflection over the settings tree. */
#include <stdio.h>
#include <stdlib.h>
#include "rpc/server.h"

void sdb_settings_default(sdb_db_settings *st) {
    memset(st, 0, sizeof *st);
    st->max_key_len = 1024;
    st->max_value_len = 33554432;
    st->max_tx_entries = 1024;
    st->file_size = 1u << 29;
    st->autoload = 1;
    st->synced = 1;
    st->truncation_freq_ms = 86400000;
}

#define FD(f) ((const ProtobufCMessageDescriptor *)(f)->descriptor)

static int is_nullable(const ProtobufCMessageDescriptor *d) {
    return strncmp(d->short_name, "Nullable", 8) == 0;
}

static ProtobufCMessage *new_msg(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a) {
    ProtobufCMessage *m = a->alloc(a->allocator_data, d->sizeof_message);
    if (m) d->message_init(m);
    return m;
}

/* Every absent sub-message becomes present (zero value): responses carry full settings. */
static int fill_all(ProtobufCMessage *m, ProtobufCAllocator *a) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED) continue;
        ProtobufCMessage **sub = (ProtobufCMessage **)((char *)m + f->offset);
        if (!*sub && !(*sub = new_msg(FD(f), a))) return SEALDB_NOMEM;
        if (!is_nullable(FD(f)) && fill_all(*sub, a)) return SEALDB_NOMEM;
    }
    return SEALDB_OK;
}

/* Present fields of src replace (Nullable) or merge into (nested settings) dst. */
static int merge(ProtobufCMessage *dst, const ProtobufCMessage *src, ProtobufCAllocator *a) {
    const ProtobufCMessageDescriptor *d = dst->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED) continue;
        ProtobufCMessage **dp = (ProtobufCMessage **)((char *)dst + f->offset);
        ProtobufCMessage *const *sp = (ProtobufCMessage *const *)((const char *)src + f->offset);
        if (!*sp) continue;
        if (!*dp && !(*dp = new_msg(FD(f), a))) return SEALDB_NOMEM;
        if (is_nullable(FD(f))) {
            memcpy((char *)*dp + sizeof(ProtobufCMessage), (const char *)*sp + sizeof(ProtobufCMessage),
                   FD(f)->sizeof_message - sizeof(ProtobufCMessage));
        } else if (merge(*dp, *sp, a)) {
            return SEALDB_NOMEM;
        }
    }
    return SEALDB_OK;
}

static void *sys_alloc(void *ad, size_t n) { return sdb_arena_alloc(ad, n ? n : 1); }
static void sys_free(void *ad, void *p) { (void)ad; (void)p; }

#define U32(field, v) do { s->field->value = (v); } while (0)

/* immudb 1.9.5's values for a new database (a primary, embedded values off), as its
 * GetDatabaseSettingsV2 reports them; the replication fields of a primary stay zero. */
static void put_defaults(Immudb__Schema__DatabaseNullableSettings *s, const sdb_db_settings *st) {
    U32(filesize, st->file_size);
    U32(maxkeylen, st->max_key_len);
    U32(maxvaluelen, st->max_value_len);
    U32(maxtxentries, st->max_tx_entries);
    s->excludecommittime->value = st->exclude_commit_time != 0;
    U32(maxconcurrency, 30);
    U32(maxioconcurrency, 1);
    U32(txlogcachesize, 1000);
    U32(vlogmaxopenedfiles, 10);
    U32(txlogmaxopenedfiles, 10);
    U32(commitlogmaxopenedfiles, 10);
    U32(writetxheaderversion, 1);
    s->autoload->value = st->autoload != 0;
    U32(readtxpoolsize, 128);
    s->syncfrequency->value = 20;
    U32(writebuffersize, 4194304);
    U32(maxactivetransactions, 1000);
    U32(mvccreadsetlimit, 100000);
    Immudb__Schema__IndexNullableSettings *ix = s->indexsettings;
    ix->flushthreshold->value = 100000;
    ix->syncthreshold->value = 1000000;
    ix->cachesize->value = 134217728;
    ix->maxnodesize->value = 4096;
    ix->maxactivesnapshots->value = 100;
    ix->renewsnaprootafter->value = 1000;
    ix->compactionthld->value = 2;
    ix->delayduringcompaction->value = 10;
    ix->nodeslogmaxopenedfiles->value = 10;
    ix->historylogmaxopenedfiles->value = 1;
    ix->commitlogmaxopenedfiles->value = 1;
    ix->flushbuffersize->value = 4096;
    ix->maxbulksize->value = 1;
    ix->bulkpreparationtimeout->value = 20;
    s->ahtsettings->syncthreshold->value = 100000;
    s->ahtsettings->writebuffersize->value = 16777216;
    s->truncationsettings->truncationfrequency->value = 86400000;
}

/* immudb's replication merge rules (docs/replication.md 8.1), applied after the plain merge: with
 * R the resulting `replica`, fields absent from the request are cleared on a primary (coordinates,
 * syncAcks of a replica, buffer sizes) and the buffer sizes of a replica default to 100 / 10.
 * fill_all made every field present. */
static void repl_merge_rules(Immudb__Schema__DatabaseNullableSettings *s,
                             const Immudb__Schema__ReplicationNullableSettings *ov) {
    Immudb__Schema__ReplicationNullableSettings *r = s->replicationsettings;
    if (!r || !r->replica) return;
    int R = r->replica->value != 0;
    if (!(ov && ov->syncacks) && R) r->syncacks->value = 0;
    if (!R) {
        static char empty[] = "";
        if (!(ov && ov->primarydatabase)) r->primarydatabase->value = empty;
        if (!(ov && ov->primaryhost)) r->primaryhost->value = empty;
        if (!(ov && ov->primaryport)) r->primaryport->value = 0;
        if (!(ov && ov->primaryusername)) r->primaryusername->value = empty;
        if (!(ov && ov->primarypassword)) r->primarypassword->value = empty;
    }
    if (!(ov && ov->prefetchtxbuffersize)) {
        if (R && r->prefetchtxbuffersize->value == 0) r->prefetchtxbuffersize->value = 100;
        else if (!R) r->prefetchtxbuffersize->value = 0;
    }
    if (!(ov && ov->replicationcommitconcurrency)) {
        if (R && r->replicationcommitconcurrency->value == 0) r->replicationcommitconcurrency->value = 10;
        else if (!R) r->replicationcommitconcurrency->value = 0;
    }
}

int sdb_settings_pack(const sdb_db_settings *st, const uint8_t *prev_pb, size_t prev_len,
                      const ProtobufCMessage *overrides, uint8_t **out, size_t *out_len) {
    sdb_arena ar;
    sdb_arena_init(&ar, 4096);
    ProtobufCAllocator a = { sys_alloc, sys_free, &ar };
    int rc = SEALDB_NOMEM;
    Immudb__Schema__DatabaseNullableSettings *s = NULL;
    if (prev_pb) {
        s = immudb__schema__database_nullable_settings__unpack(&a, prev_len, prev_pb);
        if (!s) { rc = SEALDB_CORRUPT; goto done; }
    } else {
        s = (Immudb__Schema__DatabaseNullableSettings *)new_msg(&immudb__schema__database_nullable_settings__descriptor, &a);
        if (!s) goto done;
    }
    if (fill_all(&s->base, &a)) goto done;
    if (!prev_pb) put_defaults(s, st);
    if (overrides && merge(&s->base, overrides, &a)) goto done;
    repl_merge_rules(s, overrides ? ((const Immudb__Schema__DatabaseNullableSettings *)overrides)->replicationsettings : NULL);
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *b = sdb_malloc(n ? n : 1);
    if (!b) goto done;
    protobuf_c_message_pack(&s->base, b);
    *out = b;
    *out_len = n;
    rc = SEALDB_OK;
done:
    sdb_arena_deinit(&ar);
    return rc;
}

int sdb_settings_effective(const uint8_t *pb, size_t len, sdb_db_settings *st) {
    Immudb__Schema__DatabaseNullableSettings *s = immudb__schema__database_nullable_settings__unpack(NULL, len, pb);
    if (!s) return SEALDB_CORRUPT;
    int synced = st->synced;
    sdb_settings_default(st);
    st->synced = synced;
    if (s->maxkeylen) st->max_key_len = s->maxkeylen->value;
    if (s->maxvaluelen) st->max_value_len = s->maxvaluelen->value;
    if (s->maxtxentries) st->max_tx_entries = s->maxtxentries->value;
    if (s->filesize) st->file_size = s->filesize->value;
    if (s->excludecommittime) st->exclude_commit_time = s->excludecommittime->value;
    if (s->autoload) st->autoload = s->autoload->value;
    if (s->truncationsettings && s->truncationsettings->retentionperiod)
        st->retention_ms = s->truncationsettings->retentionperiod->value;
    if (s->truncationsettings && s->truncationsettings->truncationfrequency)
        st->truncation_freq_ms = s->truncationsettings->truncationfrequency->value;
    const Immudb__Schema__ReplicationNullableSettings *r = s->replicationsettings;
    st->replica = r && r->replica && r->replica->value;
    st->repl_follow = st->replica && r->primaryhost && r->primaryhost->value && r->primaryhost->value[0] &&
                      r->primarydatabase && r->primarydatabase->value && r->primarydatabase->value[0] &&
                      r->primaryport && r->primaryport->value > 0;
    st->sync_repl = r && r->syncreplication && r->syncreplication->value;
    st->sync_acks = r && r->syncacks ? r->syncacks->value : 0;
    st->sync_freq_ms = s->syncfrequency ? s->syncfrequency->value : 20;
    immudb__schema__database_nullable_settings__free_unpacked(s, NULL);
    return SEALDB_OK;
}

/* ---- validation ---- */

/* immudb wraps its store's option errors twice: the server's InvalidArgument status around the
 * store's "illegal arguments: invalid options: ..." text. The prefix is the status's own Error(). */
#define BAD_PREFIX "rpc error: code = InvalidArgument desc = illegal arguments: "
#define BAD_OPTION(what) do { snprintf(msg, msglen, BAD_PREFIX "illegal arguments: invalid options: %s", what); \
                              return SEALDB_INVALID; } while (0)
#define BAD_DB(...) do { int k_ = snprintf(msg, msglen, BAD_PREFIX BAD_PREFIX); \
                         if (k_ > 0 && (size_t)k_ < msglen) snprintf(msg + k_, msglen - (size_t)k_, __VA_ARGS__); \
                         return SEALDB_INVALID; } while (0)

#define MS_PER_HOUR 3600000LL

static int nonempty(const Immudb__Schema__NullableString *ns) { return ns && ns->value && ns->value[0]; }

/* The database-level checks, then the store's, in immudb's order: the first failing one is named. */
static int check(const Immudb__Schema__DatabaseNullableSettings *s, const char *db, char *msg, size_t msglen) {
#define V(f) ((s)->f ? (s)->f->value : 0)
    const Immudb__Schema__ReplicationNullableSettings *r = s->replicationsettings;
    if (r && r->replica && r->replica->value) {
        if (!r->prefetchtxbuffersize || r->prefetchtxbuffersize->value == 0)
            BAD_DB("invalid value for replication option PrefetchTxBufferSize on replica database '%s'", db);
        if (!r->replicationcommitconcurrency || r->replicationcommitconcurrency->value == 0)
            BAD_DB("invalid value for replication option ReplicationCommitConcurrency on replica database '%s'", db);
        if (r->syncacks && r->syncacks->value > 0)
            BAD_DB("invalid value for replication option SyncAcks ReplicationCommitConcurrency on database '%s'", db);
    }
    if (r && !(r->replica && r->replica->value)) {
        if (nonempty(r->primarydatabase))
            BAD_DB("invalid value for replication option PrimaryDatabase on primary database '%s'", db);
        if (nonempty(r->primaryhost))
            BAD_DB("invalid value for replication option PrimaryHost on primary database '%s'", db);
        if (r->primaryport && r->primaryport->value > 0)
            BAD_DB("invalid value for replication option PrimaryPort on primary database '%s'", db);
        if (nonempty(r->primaryusername))
            BAD_DB("invalid value for replication option PrimaryUsername on primary database '%s'", db);
        if (nonempty(r->primarypassword))
            BAD_DB("invalid value for replication option PrimaryPassword on primary database '%s'", db);
        if (r->prefetchtxbuffersize && r->prefetchtxbuffersize->value > 0)
            BAD_DB("invalid value for replication option PrefetchTxBufferSize on primary database '%s'", db);
        if (r->replicationcommitconcurrency && r->replicationcommitconcurrency->value > 0)
            BAD_DB("invalid value for replication option ReplicationCommitConcurrency on primary database '%s'", db);
        if (r->allowtxdiscarding && r->allowtxdiscarding->value)
            BAD_DB("invalid value for replication option AllowTxDiscarding on primary database '%s'", db);
        if (r->skipintegritycheck && r->skipintegritycheck->value)
            BAD_DB("invalid value for replication option SkipIntegrityCheck on primary database '%s'", db);
        if (r->waitforindexing && r->waitforindexing->value)
            BAD_DB("invalid value for replication option WaitForIndexing on primary database '%s'", db);
        int sync = r->syncreplication && r->syncreplication->value;
        uint32_t acks = r->syncacks ? r->syncacks->value : 0;
        if (sync && acks == 0)
            BAD_DB("invalid replication options for primary database '%s'. It is necessary to have at least one sync replica", db);
        if (!sync && acks > 0)
            BAD_DB("invalid replication options for primary database '%s'. SyncAcks should be set to 0", db);
    }
    if (V(readtxpoolsize) == 0) BAD_DB("invalid read tx pool size (0) for database '%s'", db);
    const Immudb__Schema__TruncationNullableSettings *t = s->truncationsettings;
    int64_t retention = t && t->retentionperiod ? t->retentionperiod->value : 0;
    int64_t freq = t && t->truncationfrequency ? t->truncationfrequency->value : 0;
    if (retention < 0 || (retention > 0 && retention < 24 * MS_PER_HOUR))
        BAD_DB("invalid retention period for database '%s'. RetentionPeriod should at least '24' hours", db);
    if (freq < 0 || (freq > 0 && freq < MS_PER_HOUR))
        BAD_DB("invalid truncation frequency for database '%s'. TruncationFrequency should at least '1' hour", db);

    if (V(writebuffersize) == 0) BAD_OPTION("invalid WriteBufferSize");
    if (s->syncfrequency && s->syncfrequency->value < 0) BAD_OPTION("invalid SyncFrequency");
    if (V(maxactivetransactions) == 0) BAD_OPTION("invalid MaxActiveTransactions");
    if (V(mvccreadsetlimit) == 0) BAD_OPTION("invalid MVCCReadSetLimit");
    if (V(maxconcurrency) == 0) BAD_OPTION("invalid MaxConcurrency");
    uint32_t io = V(maxioconcurrency);
    if (io == 0 || io > 127 || (io > 1 && V(embeddedvalues))) BAD_OPTION("invalid MaxIOConcurrency");
    if (V(vlogmaxopenedfiles) == 0) BAD_OPTION("invalid VLogMaxOpenedFiles");
    if (V(txlogmaxopenedfiles) == 0) BAD_OPTION("invalid TxLogMaxOpenedFiles");
    if (V(commitlogmaxopenedfiles) == 0) BAD_OPTION("invalid CommitLogMaxOpenedFiles");
    if (V(txlogcachesize) == 0) BAD_OPTION("invalid TxLogCacheSize");
    if (V(writetxheaderversion) > 1) BAD_OPTION("invalid WriteTxHeaderVersion");
    if (V(maxtxentries) == 0) BAD_OPTION("invalid MaxTxEntries");
    if (V(maxkeylen) == 0 || V(maxkeylen) > 1024) BAD_OPTION("invalid MaxKeyLen");
    if (V(maxvaluelen) == 0) BAD_OPTION("invalid MaxValueLen");
    if (V(filesize) == 0 || V(filesize) >= 0x7fffffffu) BAD_OPTION("invalid FileSize");
    const Immudb__Schema__IndexNullableSettings *ix = s->indexsettings;
    if (ix) {
#define IX(f) (ix->f ? ix->f->value : 0)
        if (IX(cachesize) == 0) BAD_OPTION("invalid index option CacheSize");
        if (IX(flushthreshold) == 0) BAD_OPTION("invalid index option FlushThld");
        if (IX(syncthreshold) == 0) BAD_OPTION("invalid index option SyncThld");
        if (IX(flushbuffersize) == 0) BAD_OPTION("invalid index option FlushBufferSize");
        if (IX(cleanuppercentage) < 0 || IX(cleanuppercentage) > 100) BAD_OPTION("invalid index option CleanupPercentage");
        if (IX(maxactivesnapshots) == 0) BAD_OPTION("invalid index option MaxActiveSnapshots");
        if (IX(maxnodesize) == 0) BAD_OPTION("invalid index option MaxNodeSize");
        if (IX(compactionthld) == 0) BAD_OPTION("invalid index option CompactionThld");
        if (IX(maxbulksize) == 0) BAD_OPTION("invalid MaxBulkSize");
        if (IX(bulkpreparationtimeout) < 0) BAD_OPTION("invalid BulkPreparationTimeout");
        if (IX(nodeslogmaxopenedfiles) == 0) BAD_OPTION("invalid index option NodesLogMaxOpenedFiles");
        if (IX(historylogmaxopenedfiles) == 0) BAD_OPTION("invalid index option HistoryLogMaxOpenedFiles");
        if (IX(commitlogmaxopenedfiles) == 0) BAD_OPTION("invalid index option CommitLogMaxOpenedFiles");
#undef IX
    }
    const Immudb__Schema__AHTNullableSettings *aht = s->ahtsettings;
    if (aht && (!aht->writebuffersize || aht->writebuffersize->value == 0)) BAD_OPTION("invalid AHT option WriteBufferSize");
    if (aht && (!aht->syncthreshold || aht->syncthreshold->value == 0)) BAD_OPTION("invalid AHT option SyncThld");
#undef V
    return SEALDB_OK;
}

int sdb_settings_validate(const uint8_t *pb, size_t len, const char *db, char *msg, size_t msglen) {
    Immudb__Schema__DatabaseNullableSettings *s = immudb__schema__database_nullable_settings__unpack(NULL, len, pb);
    if (!s) { snprintf(msg, msglen, "stored settings do not decode"); return SEALDB_CORRUPT; }
    int rc = check(s, db, msg, msglen);
    immudb__schema__database_nullable_settings__free_unpacked(s, NULL);
    return rc;
}
