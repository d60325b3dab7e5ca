/* admin.c - libsealdb-client's server, database and user calls (immuadmin's surface):
 * ServerInfo, DatabaseHealth, CreateDatabaseV2/DatabaseListV2/Load/Unload/Delete/UpdateDatabaseV2/
 * GetDatabaseSettingsV2, CreateUser/ListUsers/ChangePassword/ChangePermission/SetActiveUser. */
#include <stdio.h>
#include "client/client_int.h"

#define BIN(p, n) ((ProtobufCBinaryData){ (size_t)(n), (uint8_t *)(uintptr_t)(p) })

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

SEALDB_API int sealdb_client_server_info(sealdb_client *c, sealdb_server_info *out) {
    if (!c || !out) return SEALDB_INVALID;
    memset(out, 0, sizeof *out);
    int ok = 0;
    int rc = sealdb_client_health(c, &ok, out->version, sizeof out->version);
    if (rc != SEALDB_OK) return rc;
    out->health_ok = ok;
    Immudb__Schema__ServerInfoRequest req = IMMUDB__SCHEMA__SERVER_INFO_REQUEST__INIT;
    Immudb__Schema__ServerInfoResponse *r = NULL;
    rc = sdb_cl_call(c, "ServerInfo", &req.base, &immudb__schema__server_info_response__descriptor, (ProtobufCMessage **)&r);
    if (rc == SEALDB_UNSUPPORTED) return SEALDB_OK;   /* older servers: health only */
    if (rc != SEALDB_OK) return rc;
    if (r->version && *r->version) copy_str(out->version, sizeof out->version, r->version);
    out->started_at = r->startedat;
    out->num_transactions = r->numtransactions;
    out->num_databases = r->numdatabases;
    out->disk_size = r->databasesdisksize;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_database_health(sealdb_client *c, uint32_t *pending, int64_t *last_completed_ms) {
    if (!c) return SEALDB_INVALID;
    Immudb__Schema__DatabaseHealthResponse *r = NULL;
    int rc = sdb_cl_call_empty(c, "DatabaseHealth", &immudb__schema__database_health_response__descriptor, (ProtobufCMessage **)&r);
    if (rc != SEALDB_OK) return rc;
    if (pending) *pending = r->pendingrequests;
    if (last_completed_ms) *last_completed_ms = r->lastrequestcompletedat;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return SEALDB_OK;
}

/* ---- databases ---- */
typedef struct settings_pb {
    Immudb__Schema__DatabaseNullableSettings s;
    Immudb__Schema__NullableUint32 max_key, max_val, max_entries, file_size;
    Immudb__Schema__NullableBool excl, autoload;
} settings_pb;

static Immudb__Schema__DatabaseNullableSettings *settings_fill(settings_pb *o, const sealdb_db_settings *in) {
    Immudb__Schema__DatabaseNullableSettings s = IMMUDB__SCHEMA__DATABASE_NULLABLE_SETTINGS__INIT;
    Immudb__Schema__NullableUint32 u = IMMUDB__SCHEMA__NULLABLE_UINT32__INIT;
    Immudb__Schema__NullableBool b = IMMUDB__SCHEMA__NULLABLE_BOOL__INIT;
    o->s = s;
    o->max_key = o->max_val = o->max_entries = o->file_size = u;
    o->excl = o->autoload = b;
    if (!in) return &o->s;
    if (in->max_key_len) { o->max_key.value = in->max_key_len; o->s.maxkeylen = &o->max_key; }
    if (in->max_value_len) { o->max_val.value = in->max_value_len; o->s.maxvaluelen = &o->max_val; }
    if (in->max_tx_entries) { o->max_entries.value = in->max_tx_entries; o->s.maxtxentries = &o->max_entries; }
    if (in->file_size) { o->file_size.value = in->file_size; o->s.filesize = &o->file_size; }
    if (in->has_exclude_commit_time) { o->excl.value = in->exclude_commit_time; o->s.excludecommittime = &o->excl; }
    if (in->has_autoload) { o->autoload.value = in->autoload; o->s.autoload = &o->autoload; }
    return &o->s;
}

static void settings_from_pb(const Immudb__Schema__DatabaseNullableSettings *s, sealdb_db_settings *out) {
    memset(out, 0, sizeof *out);
    if (!s) return;
    if (s->maxkeylen) out->max_key_len = s->maxkeylen->value;
    if (s->maxvaluelen) out->max_value_len = s->maxvaluelen->value;
    if (s->maxtxentries) out->max_tx_entries = s->maxtxentries->value;
    if (s->filesize) out->file_size = s->filesize->value;
    if (s->excludecommittime) { out->has_exclude_commit_time = 1; out->exclude_commit_time = s->excludecommittime->value; }
    if (s->autoload) { out->has_autoload = 1; out->autoload = s->autoload->value; }
}

SEALDB_API int sealdb_client_create_database(sealdb_client *c, const char *name,
                                             const sealdb_db_settings *s, int if_not_exists, int *already) {
    if (!c || !name || !*name) return sdb_cl_fail(c, SEALDB_INVALID, "empty database name");
    settings_pb sp;
    Immudb__Schema__CreateDatabaseRequest req = IMMUDB__SCHEMA__CREATE_DATABASE_REQUEST__INIT;
    req.name = (char *)name;
    req.settings = settings_fill(&sp, s);
    req.ifnotexists = if_not_exists;
    Immudb__Schema__CreateDatabaseResponse *r = NULL;
    int rc = sdb_cl_call(c, "CreateDatabaseV2", &req.base, &immudb__schema__create_database_response__descriptor,
                         (ProtobufCMessage **)&r);
    if (rc != SEALDB_OK) return rc;
    if (already) *already = r->alreadyexisted;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return SEALDB_OK;
}

SEALDB_API void sealdb_db_list_free(sealdb_db_list *l) {
    if (!l) return;
    sdb_free(l->items);
    sdb_free(l);
}

SEALDB_API int sealdb_client_list_databases(sealdb_client *c, sealdb_db_list **out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__DatabaseListRequestV2 req = IMMUDB__SCHEMA__DATABASE_LIST_REQUEST_V2__INIT;
    Immudb__Schema__DatabaseListResponseV2 *r = NULL;
    int rc = sdb_cl_call(c, "DatabaseListV2", &req.base, &immudb__schema__database_list_response_v2__descriptor,
                         (ProtobufCMessage **)&r);
    if (rc != SEALDB_OK) return rc;
    sealdb_db_list *l = sdb_calloc(1, sizeof *l);
    if (l && r->n_databases) l->items = sdb_calloc(r->n_databases, sizeof *l->items);
    if (!l || (r->n_databases && !l->items)) {
        sealdb_db_list_free(l);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_databases; i++) {
        const Immudb__Schema__DatabaseInfo *d = r->databases[i];
        sealdb_db_info *o = &l->items[i];
        copy_str(o->name, sizeof o->name, d->name);
        o->loaded = d->loaded;
        o->disk_size = d->disksize;
        o->num_transactions = d->numtransactions;
        o->created_at = d->created_at;
        copy_str(o->created_by, sizeof o->created_by, d->created_by);
    }
    l->n = r->n_databases;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    *out = l;
    return SEALDB_OK;
}

/* Load, Unload and DeleteDatabase requests are the same message, `string database = 1`, under three
 * names: one message type encodes all three. */
static int db_name_call(sealdb_client *c, const char *method, const char *name) {
    if (!c || !name || !*name) return sdb_cl_fail(c, SEALDB_INVALID, "empty database name");
    Immudb__Schema__LoadDatabaseRequest req = IMMUDB__SCHEMA__LOAD_DATABASE_REQUEST__INIT;
    req.database = (char *)name;
    return sdb_cl_call(c, method, &req.base, NULL, NULL);
}

SEALDB_API int sealdb_client_load_database(sealdb_client *c, const char *name) {
    return db_name_call(c, "LoadDatabase", name);
}

SEALDB_API int sealdb_client_unload_database(sealdb_client *c, const char *name) {
    return db_name_call(c, "UnloadDatabase", name);
}

SEALDB_API int sealdb_client_delete_database(sealdb_client *c, const char *name) {
    return db_name_call(c, "DeleteDatabase", name);
}

SEALDB_API int sealdb_client_truncate_database(sealdb_client *c, const char *name, int64_t retention_ms) {
    if (!c || !name || !*name) return sdb_cl_fail(c, SEALDB_INVALID, "empty database name");
    Immudb__Schema__TruncateDatabaseRequest req = IMMUDB__SCHEMA__TRUNCATE_DATABASE_REQUEST__INIT;
    req.database = (char *)name;
    req.retentionperiod = retention_ms;
    return sdb_cl_call(c, "TruncateDatabase", &req.base, NULL, NULL);
}

SEALDB_API int sealdb_client_update_truncation(sealdb_client *c, const char *name, int64_t retention_ms,
                                               int64_t frequency_ms) {
    if (!c || !name || !*name) return sdb_cl_fail(c, SEALDB_INVALID, "empty database name");
    settings_pb sp;
    Immudb__Schema__TruncationNullableSettings ts = IMMUDB__SCHEMA__TRUNCATION_NULLABLE_SETTINGS__INIT;
    Immudb__Schema__NullableMilliseconds rp = IMMUDB__SCHEMA__NULLABLE_MILLISECONDS__INIT, tf = rp;
    if (retention_ms >= 0) { rp.value = retention_ms; ts.retentionperiod = &rp; }
    if (frequency_ms >= 0) { tf.value = frequency_ms; ts.truncationfrequency = &tf; }
    Immudb__Schema__UpdateDatabaseRequest req = IMMUDB__SCHEMA__UPDATE_DATABASE_REQUEST__INIT;
    req.database = (char *)name;
    req.settings = settings_fill(&sp, NULL);
    req.settings->truncationsettings = &ts;
    return sdb_cl_call(c, "UpdateDatabaseV2", &req.base, NULL, NULL);
}

SEALDB_API int sealdb_client_update_database(sealdb_client *c, const char *name, const sealdb_db_settings *s) {
    if (!c || !name || !*name) return sdb_cl_fail(c, SEALDB_INVALID, "empty database name");
    settings_pb sp;
    Immudb__Schema__UpdateDatabaseRequest req = IMMUDB__SCHEMA__UPDATE_DATABASE_REQUEST__INIT;
    req.database = (char *)name;
    req.settings = settings_fill(&sp, s);
    return sdb_cl_call(c, "UpdateDatabaseV2", &req.base, NULL, NULL);
}

SEALDB_API int sealdb_client_database_settings(sealdb_client *c, char *name, size_t name_cap, sealdb_db_settings *out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__DatabaseSettingsRequest req = IMMUDB__SCHEMA__DATABASE_SETTINGS_REQUEST__INIT;
    Immudb__Schema__DatabaseSettingsResponse *r = NULL;
    int rc = sdb_cl_call(c, "GetDatabaseSettingsV2", &req.base, &immudb__schema__database_settings_response__descriptor,
                         (ProtobufCMessage **)&r);
    if (rc != SEALDB_OK) return rc;
    if (name && name_cap) copy_str(name, name_cap, r->database);
    settings_from_pb(r->settings, out);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_flush_index(sealdb_client *c, float cleanup_percentage, int synced) {
    if (!c) return SEALDB_INVALID;
    Immudb__Schema__FlushIndexRequest req = IMMUDB__SCHEMA__FLUSH_INDEX_REQUEST__INIT;
    req.cleanuppercentage = cleanup_percentage;
    req.synced = synced;
    return sdb_cl_call(c, "FlushIndex", &req.base, NULL, NULL);
}

SEALDB_API int sealdb_client_compact_index(sealdb_client *c) {
    if (!c) return SEALDB_INVALID;
    return sdb_cl_call_empty(c, "CompactIndex", NULL, NULL);
}

/* ---- users ---- */
SEALDB_API int sealdb_client_create_user(sealdb_client *c, const char *user, const char *password,
                                         uint32_t permission, const char *database) {
    if (!c || !user || !password) return SEALDB_INVALID;
    Immudb__Schema__CreateUserRequest req = IMMUDB__SCHEMA__CREATE_USER_REQUEST__INIT;
    req.user = BIN(user, strlen(user));
    req.password = BIN(password, strlen(password));
    req.permission = permission;
    req.database = (char *)(database ? database : "");
    return sdb_cl_call(c, "CreateUser", &req.base, NULL, NULL);
}

SEALDB_API void sealdb_user_list_free(sealdb_user_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) sdb_free(l->items[i].perms);
    sdb_free(l->items);
    sdb_free(l);
}

SEALDB_API int sealdb_client_list_users(sealdb_client *c, sealdb_user_list **out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__UserList *r = NULL;
    int rc = sdb_cl_call_empty(c, "ListUsers", &immudb__schema__user_list__descriptor, (ProtobufCMessage **)&r);
    if (rc != SEALDB_OK) return rc;
    rc = SEALDB_NOMEM;
    sealdb_user_list *l = sdb_calloc(1, sizeof *l);
    if (!l) goto done;
    if (r->n_users && !(l->items = sdb_calloc(r->n_users, sizeof *l->items))) goto done;
    for (size_t i = 0; i < r->n_users; i++) {
        const Immudb__Schema__User *u = r->users[i];
        sealdb_user *o = &l->items[i];
        l->n = i + 1;
        size_t n = u->user.len < sizeof o->name - 1 ? u->user.len : sizeof o->name - 1;
        if (n) memcpy(o->name, u->user.data, n);
        o->name[n] = 0;
        copy_str(o->created_by, sizeof o->created_by, u->createdby);
        copy_str(o->created_at, sizeof o->created_at, u->createdat);
        o->active = u->active;
        if (u->n_permissions) {
            if (!(o->perms = sdb_calloc(u->n_permissions, sizeof *o->perms))) goto done;
            for (size_t j = 0; j < u->n_permissions; j++) {
                copy_str(o->perms[j].database, sizeof o->perms[j].database, u->permissions[j]->database);
                o->perms[j].permission = u->permissions[j]->permission;
            }
            o->nperms = u->n_permissions;
        }
    }
    rc = SEALDB_OK;
done:
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (rc != SEALDB_OK) { sealdb_user_list_free(l); return sdb_cl_fail(c, rc, "out of memory"); }
    *out = l;
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_change_password(sealdb_client *c, const char *user, const char *old_password,
                                             const char *new_password) {
    if (!c || !user || !new_password) return SEALDB_INVALID;
    if (!old_password) old_password = "";
    Immudb__Schema__ChangePasswordRequest req = IMMUDB__SCHEMA__CHANGE_PASSWORD_REQUEST__INIT;
    req.user = BIN(user, strlen(user));
    req.oldpassword = BIN(old_password, strlen(old_password));
    req.newpassword = BIN(new_password, strlen(new_password));
    return sdb_cl_call(c, "ChangePassword", &req.base, NULL, NULL);
}

SEALDB_API int sealdb_client_change_permission(sealdb_client *c, const char *user, const char *database,
                                               uint32_t permission, int grant) {
    if (!c || !user || !database) return SEALDB_INVALID;
    Immudb__Schema__ChangePermissionRequest req = IMMUDB__SCHEMA__CHANGE_PERMISSION_REQUEST__INIT;
    req.action = grant ? IMMUDB__SCHEMA__PERMISSION_ACTION__GRANT : IMMUDB__SCHEMA__PERMISSION_ACTION__REVOKE;
    req.username = (char *)user;
    req.database = (char *)database;
    req.permission = permission;
    return sdb_cl_call(c, "ChangePermission", &req.base, NULL, NULL);
}

SEALDB_API int sealdb_client_set_active_user(sealdb_client *c, const char *user, int active) {
    if (!c || !user) return SEALDB_INVALID;
    Immudb__Schema__SetActiveUserRequest req = IMMUDB__SCHEMA__SET_ACTIVE_USER_REQUEST__INIT;
    req.active = active;
    req.username = (char *)user;
    return sdb_cl_call(c, "SetActiveUser", &req.base, NULL, NULL);
}
