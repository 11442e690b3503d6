/*
** store.h - hone.store: the trace store, one SQLite file in WAL mode.
**
** Lua side:
**   db = hone.store.open(path [, {readonly = true}])   schema migrated to the newest
**       Read-write: a store that cannot be written (a read-only file or disk, a folder
**       that does not exist) is refused at once, "store: cannot write: Read-only file
**       system (PATH)", rather than at the first commit. Read-only: the schema must be the
**       newest; a WAL store whose -shm file neither exists nor can be made (its folder is
**       read-only, so nobody can be writing it) is read as immutable.
**   db:exec(sql, ...)   -> changes, last_insert_rowid   (one statement)
**   db:query(sql, ...)  -> array of rows, each keyed by column name (NULL columns absent)
**   db:begin()          BEGIN IMMEDIATE: the write lock is taken up front
**   db:commit() / db:rollback() / db:close() / db:path()
**   hone.store.schema_version
** Parameters bind positionally (?): nil binds NULL, booleans 0/1, tables are refused.
** Every error raises one line: "store: <reason> (<path>)"; the reason carries the system's
** where SQLite's alone would not say it ("disk I/O error: No space left on device").
** A second connection (another hone, the sqlite3 shell) holding the write lock is waited
** for up to 10 s. A full disk fails the statement or commit that needs the room, and
** the transaction rolls back whole.
** The schema (tables runs, steps, candidates, evaluations, llm_calls, events) is in
** store.c; each version is one migration, applied in its own transaction.
*/
#ifndef HONE_STORE_H
#define HONE_STORE_H

#include <lua.h>

int hone_open_store(lua_State *L);

#endif
