/* settings.c - database settings: immudb's defaults, merging the Nullable* overrides of a
 * Create/UpdateDatabase request over the current settings (presence decides, not the value), and
 * the effective values the KV layer uses. Works by protobuf-c reflection over the settings tree. */
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
    s->embeddedvalues->value = 1;
    Immudb__Schema__IndexNullableSettings *ix = s->indexsettings;
    ix->flushthreshold->value = 100000;
    ix->syncthreshold->value = 1000000;
    ix->cachesize->value = 100000;
    ix->maxnodesize->value = 4096;
    ix->maxactivesnapshots->value = 100;
    ix->renewsnaprootafter->value = 1000;
    ix->compactionthld->value = 2;
    ix->delayduringcompaction->value = 10;
    ix->nodeslogmaxopenedfiles->value = 10;
    ix->historylogmaxopenedfiles->value = 1;
    ix->commitlogmaxopenedfiles->value = 1;
    ix->flushbuffersize->value = 4096;
    ix->maxbulksize->value = 50000;
    ix->bulkpreparationtimeout->value = 100;
    s->ahtsettings->syncthreshold->value = 1000000;
    s->ahtsettings->writebuffersize->value = 4194304;
    s->truncationsettings->truncationfrequency->value = 86400000;
    s->replicationsettings->prefetchtxbuffersize->value = 100;
    s->replicationsettings->replicationcommitconcurrency->value = 10;
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
    immudb__schema__database_nullable_settings__free_unpacked(s, NULL);
    return SEALDB_OK;
}
