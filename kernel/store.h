/*
** store.h - hone.store: the trace store, one SQLite file in WAL mode.
**
** Lua side:
**   db = hone.store.open(path [, {readonly = true}])   schema migrated to the newest
**   db:exec(sql, ...)   -> changes, last_insert_rowid   (one statement)
**   db:query(sql, ...)  -> array of rows, each keyed by column name (NULL columns absent)
**   db:begin()          BEGIN IMMEDIATE: the write lock is taken up front
**   db:commit() / db:rollback() / db:close() / db:path()
**   hone.store.schema_version
** Parameters bind positionally (?): nil binds NULL, booleans 0/1, tables are refused.
** Every error raises one line: "store: <reason> (<path>)".
** The schema (tables runs, steps, candidates, evaluations, llm_calls, events) is in
** store.c; each version is one migration, applied in its own transaction.
*/
#ifndef HONE_STORE_H
#define HONE_STORE_H

#include <lua.h>

int hone_open_store(lua_State *L);

#endif
