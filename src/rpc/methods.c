/* methods.c - the list of RPC modules the server serves. A module later in the list overrides an
 * earlier module's method with the same path (the KV module may replace the baseline CurrentState,
 * FlushIndex and CompactIndex of the server module). Add new modules here. */
#include "rpc/server.h"
#include "rpc/handlers_kv.h"
#include "rpc/repl.h"

const sdb_rpc_module *const sdb_rpc_modules[] = {
    &sdb_server_module,
    &sdb_kv_module,
    &sdb_truncate_module,
    &sdb_repl_module,
};
const size_t sdb_rpc_n_modules = sizeof sdb_rpc_modules / sizeof sdb_rpc_modules[0];
