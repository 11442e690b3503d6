/*
** store.h - hone.store: the trace store, one SQLite file in WAL mode.
**
** Lua side:  db = hone.store.open(path) -> store userdata (schema migrated to the newest)
**            db:exec(sql, ...)   -> changes, last_insert_rowid
**            db:query(sql, ...)  -> array of rows, each a table keyed by column name
**            db:begin() / db:commit() / db:rollback()
**            db:close()
**            hone.store.schema_version
** Parameters bind positionally (?); nil binds NULL, booleans bind 0/1.
** Errors raise "store: <sqlite message> (<path>)".
*/
#ifndef HONE_STORE_H
#define HONE_STORE_H

#include <lua.h>

int hone_open_store(lua_State *L);

#endif
