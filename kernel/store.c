/*
** store.c - the trace store. See store.h.
*/
#include "store.h"

#include <lauxlib.h>
#include <sqlite3.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STORE_MT "hone.store"
#define STMT_CACHE 32           /* a loop step uses about a dozen distinct statements */
#define BUSY_TIMEOUT_MS 10000   /* a second hone on the same file waits, it does not fail */

/*
** Migrations: MIGRATIONS[i] takes the schema from version i to i + 1.
** Never edit a released entry; append a new one.
*/
static const char *const MIGRATIONS[] = {
    /* 1: the first schema */
    "CREATE TABLE runs ("
    "  id            INTEGER PRIMARY KEY,"
    "  task          TEXT NOT NULL,"
    "  recipe        TEXT NOT NULL,"
    "  seed          INTEGER NOT NULL,"
    "  config        TEXT NOT NULL,"        /* JSON: parameters and LLM settings, never keys */
    "  status        TEXT NOT NULL DEFAULT 'running',"  /* running|done|failed|interrupted|budget */
    "  error         TEXT,"
    "  hone_version  TEXT NOT NULL,"
    "  started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    "  finished_at   TEXT"
    ");"
    "CREATE TABLE candidates ("
    "  id            INTEGER PRIMARY KEY,"
    "  run_id        INTEGER NOT NULL REFERENCES runs(id),"
    "  step          INTEGER NOT NULL,"
    "  parent_id     INTEGER REFERENCES candidates(id),"
    "  artifact      TEXT NOT NULL,"        /* JSON: every block, editable or fixed */
    "  code          TEXT NOT NULL,"        /* the assembled, runnable text */
    "  diff          TEXT,"                 /* against the parent */
    "  reasoning     TEXT"                  /* the optimizer's own words */
    ");"
    "CREATE TABLE steps ("
    "  id                INTEGER PRIMARY KEY,"
    "  run_id            INTEGER NOT NULL REFERENCES runs(id),"
    "  step              INTEGER NOT NULL,"   /* 0 is the starting artifact */
    "  batch_size        INTEGER,"
    "  horizon           INTEGER,"
    "  decision          TEXT,"               /* JSON: what the recipe decided, and why */
    "  candidate_id      INTEGER REFERENCES candidates(id),"
    "  accepted          INTEGER NOT NULL DEFAULT 0,"
    "  current_id        INTEGER REFERENCES candidates(id),"
    "  best_id           INTEGER REFERENCES candidates(id),"
    "  train_score       REAL,"
    "  validation_score  REAL,"
    "  test_score        REAL,"
    "  error             TEXT,"               /* why this step has no usable candidate */
    "  llm_calls         INTEGER NOT NULL DEFAULT 0,"
    "  prompt_tokens     INTEGER NOT NULL DEFAULT 0,"
    "  completion_tokens INTEGER NOT NULL DEFAULT 0,"
    "  duration_ms       REAL,"
    "  finished_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    "  UNIQUE (run_id, step)"
    ");"
    "CREATE TABLE evaluations ("
    "  id            INTEGER PRIMARY KEY,"
    "  run_id        INTEGER NOT NULL REFERENCES runs(id),"
    "  step          INTEGER NOT NULL,"
    "  candidate_id  INTEGER NOT NULL REFERENCES candidates(id),"
    "  split         TEXT NOT NULL,"        /* train | validation | test */
    "  score         REAL,"
    "  examples      INTEGER NOT NULL,"
    "  results       TEXT,"                 /* JSON: one entry per example */
    "  error         TEXT,"                 /* the whole evaluation failed: why */
    "  error_kind    TEXT,"                 /* syntax | runtime | timeout | memory | ... */
    "  duration_ms   REAL"
    ");"
    "CREATE TABLE llm_calls ("
    "  id                INTEGER PRIMARY KEY,"
    "  run_id            INTEGER REFERENCES runs(id),"
    "  step              INTEGER,"
    "  purpose           TEXT NOT NULL,"     /* optimizer | task */
    "  model             TEXT,"
    "  url               TEXT,"
    "  request           TEXT NOT NULL,"     /* the exact JSON body sent */
    "  response          TEXT,"              /* the raw body received */
    "  status            TEXT NOT NULL,"     /* ok | http | transport | timeout | parse | refusal */
    "  error             TEXT,"
    "  proposal_error    TEXT,"              /* the reply arrived but could not be used: why */
    "  http_status       INTEGER,"
    "  attempts          INTEGER,"
    "  prompt_tokens     INTEGER NOT NULL DEFAULT 0,"
    "  completion_tokens INTEGER NOT NULL DEFAULT 0,"
    "  latency_ms        REAL,"
    "  created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    ");"
    "CREATE TABLE events ("
    "  id            INTEGER PRIMARY KEY,"
    "  run_id        INTEGER REFERENCES runs(id),"
    "  step          INTEGER,"
    "  kind          TEXT NOT NULL,"
    "  message       TEXT NOT NULL,"
    "  data          TEXT,"
    "  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    ");"
    "CREATE INDEX candidates_run ON candidates(run_id, step);"
    "CREATE INDEX evaluations_run ON evaluations(run_id, step);"
    "CREATE INDEX llm_calls_run ON llm_calls(run_id, step);"
    "CREATE INDEX events_run ON events(run_id, step);",

    /* 2: providers, the reply cache, LLM accounting per step, replays */
    "ALTER TABLE llm_calls ADD COLUMN format TEXT;"          /* openai | anthropic */
    "ALTER TABLE llm_calls ADD COLUMN cache_key TEXT;"
    "ALTER TABLE llm_calls ADD COLUMN cache_hit INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE llm_calls ADD COLUMN attempt_log TEXT;"     /* JSON: one entry per attempt */
    "ALTER TABLE steps ADD COLUMN llm_latency_ms REAL;"
    "ALTER TABLE runs ADD COLUMN replay_of INTEGER REFERENCES runs(id);"
    "CREATE TABLE llm_cache ("                               /* one row per distinct request */
    "  key               TEXT PRIMARY KEY,"                  /* sha256 of format, body, seed */
    "  format            TEXT NOT NULL,"
    "  model             TEXT NOT NULL,"
    "  request           TEXT NOT NULL,"
    "  response          TEXT NOT NULL,"
    "  content           TEXT NOT NULL,"
    "  finish_reason     TEXT,"
    "  prompt_tokens     INTEGER NOT NULL DEFAULT 0,"
    "  completion_tokens INTEGER NOT NULL DEFAULT 0,"
    "  created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    ");",

    /* 3: what an evaluation cost the machine (sandbox_lua.h stats, sandbox_exec.h rusage) */
    "ALTER TABLE evaluations ADD COLUMN cpu_s REAL;"
    "ALTER TABLE evaluations ADD COLUMN max_rss_kb INTEGER;",

    /* 4: what each step told the recipe (JSON; loop.lua's M.signals) */
    "ALTER TABLE steps ADD COLUMN signals TEXT;",

    /* 5: sweeps: a grid of runs in one store, resumable cell by cell */
    "CREATE TABLE sweeps ("
    "  id            INTEGER PRIMARY KEY,"
    "  name          TEXT NOT NULL UNIQUE,"
    "  spec          TEXT NOT NULL,"        /* JSON: tasks, recipes, artifacts, grid, seeds, flags */
    "  status        TEXT NOT NULL DEFAULT 'running',"   /* running|done|failed */
    "  pid           INTEGER,"              /* of the hone running it, to refuse a second one */
    "  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    "  finished_at   TEXT"
    ");"
    "CREATE TABLE sweep_cells ("           /* one run of the grid: a cell and a seed */
    "  id            INTEGER PRIMARY KEY,"
    "  sweep_id      INTEGER NOT NULL REFERENCES sweeps(id),"
    "  cell          TEXT NOT NULL,"        /* JSON: task, recipe, artifact, params */
    "  seed          INTEGER NOT NULL,"
    "  run_id        INTEGER REFERENCES runs(id),"   /* the latest attempt */
    "  status        TEXT NOT NULL DEFAULT 'pending',"   /* pending|running|done|budget|failed */
    "  error         TEXT,"
    "  UNIQUE (sweep_id, cell, seed)"
    ");",

    /* 6: the process running a run, so that `hone resume` refuses a run still alive */
    "ALTER TABLE runs ADD COLUMN pid INTEGER;"              /* NULL once the run ended */
    "ALTER TABLE runs ADD COLUMN pid_start INTEGER;",       /* its start time (/proc/PID/stat
                                                               field 22): a reused pid is not it */
};

#define SCHEMA_VERSION ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

typedef struct {
    char *sql;
    sqlite3_stmt *stmt;
} CachedStmt;

typedef struct {
    sqlite3 *db;               /* NULL once closed */
    char *path;                /* owned; for error messages */
    CachedStmt cache[STMT_CACHE];
    int next_evict;            /* round robin: statements are few, LRU buys nothing */
} Store;

static void store_release(Store *s) {
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(s->cache[i].stmt);
        free(s->cache[i].sql);
        s->cache[i].stmt = NULL;
        s->cache[i].sql = NULL;
    }
    if (s->db) sqlite3_close_v2(s->db);
    s->db = NULL;
    free(s->path);
    s->path = NULL;
}

static Store *check_store(lua_State *L) {
    Store *s = luaL_checkudata(L, 1, STORE_MT);
    if (!s->db) luaL_error(L, "store: used after close");
    return s;
}

/* SQLite's message for db's last error, with the system's reason when SQLite's alone would
** not say it ("unable to open database file: Read-only file system", "disk I/O error: No
** space left on device"). */
static const char *reason(sqlite3 *db, char *buf, size_t len) {
    int code = sqlite3_errcode(db) & 0xFF, sys = sqlite3_system_errno(db);
    if (sys && (code == SQLITE_IOERR || code == SQLITE_CANTOPEN || code == SQLITE_READONLY))
        snprintf(buf, len, "%s: %s", sqlite3_errmsg(db), strerror(sys));
    else
        snprintf(buf, len, "%s", sqlite3_errmsg(db));
    return buf;
}

static int fail(lua_State *L, Store *s, const char *what) {
    char why[256];
    return luaL_error(L, "store: %s%s%s (%s)", what ? what : "", what ? ": " : "",
                      reason(s->db, why, sizeof why), s->path);
}

/* Runs a script of statements without parameters; 0 on success, else -1 with the error
** left on db for reason(). */
static int run_script(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int user_version(sqlite3 *db) {
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Brings the schema to SCHEMA_VERSION, one transaction per migration. */
static const char *migrate(sqlite3 *db, char *buf, size_t len) {
    char why[256];
    for (;;) {
        if (run_script(db, "BEGIN IMMEDIATE") != 0) {
            snprintf(buf, len, "cannot lock for migration: %s", reason(db, why, sizeof why));
            return buf;
        }
        int v = user_version(db);   /* read under the lock: another hone may have migrated */
        if (v < 0 || v > SCHEMA_VERSION) {
            if (v < 0) snprintf(buf, len, "not a hone store (%s)", reason(db, why, sizeof why));
            else snprintf(buf, len, "schema %d is newer than this hone's %d", v, SCHEMA_VERSION);
            run_script(db, "ROLLBACK");
            return buf;
        }
        if (v == SCHEMA_VERSION) {
            run_script(db, "COMMIT");
            return NULL;
        }
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (run_script(db, MIGRATIONS[v]) != 0 || run_script(db, pragma) != 0 ||
            run_script(db, "COMMIT") != 0) {
            snprintf(buf, len, "migration to schema %d failed: %s", v + 1, reason(db, why, sizeof why));
            run_script(db, "ROLLBACK");
            return buf;
        }
    }
}

/* "file:PATH?immutable=1", PATH percent-encoded: for a store nothing can change. */
static char *immutable_uri(const char *path) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    char *uri = malloc(n * 3 + 32), *p = uri;
    if (!uri) return NULL;
    p += sprintf(p, "file:");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("/._-~", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    strcpy(p, "?immutable=1");
    return uri;
}

/* Checks a store opened read-only; NULL, or the reason in buf. */
static const char *check_readable(Store *s, const char *path, char *buf, size_t len) {
    char why[256];
    int v = user_version(s->db);
    if (v < 0 && (sqlite3_errcode(s->db) & 0xFF) == SQLITE_CANTOPEN) {
        /* A WAL store whose -shm does not exist and cannot be made: its folder is read-only
           (a read-only mount), so nobody can be writing it either. Read it as immutable. */
        char *uri = immutable_uri(path);
        sqlite3_close_v2(s->db);
        s->db = NULL;
        if (!uri) return "out of memory";
        int rc = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
        free(uri);
        if (rc != SQLITE_OK) {
            snprintf(buf, len, "cannot open: %s", s->db ? reason(s->db, why, sizeof why) : "out of memory");
            return buf;
        }
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        sqlite3_extended_result_codes(s->db, 1);
        v = user_version(s->db);
    }
    if (v < 0) {
        snprintf(buf, len, "not a hone store (%s)", reason(s->db, why, sizeof why));
        return buf;
    }
    if (v != SCHEMA_VERSION) {
        snprintf(buf, len, "schema %d, this hone reads %d (open it read-write once)", v, SCHEMA_VERSION);
        return buf;
    }
    return NULL;
}

/* The system's reason why path cannot be written: the file's or, when there is no file yet,
** its folder's ("Read-only file system", "Permission denied"); NULL when it looks writable. */
static const char *unwritable(const char *path) {
    if (access(path, W_OK) == 0) return NULL;
    if (errno != ENOENT) return strerror(errno);
    char *copy = strdup(path);
    if (!copy) return NULL;
    int bad = access(dirname(copy), W_OK) != 0;
    int e = errno;
    free(copy);
    return bad ? strerror(e) : NULL;
}

/* Makes a store opened read-write ready: WAL, then the schema. NULL, or the reason in buf. */
static const char *check_writable(Store *s, const char *path, char *buf, size_t len) {
    char why[256];
    /* SQLite quietly reads what it may not write (a read-only file or mount): a run must
       hear it now, not at its first commit. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        const char *sys = unwritable(path);
        snprintf(buf, len, "cannot write: %s", sys ? sys : "read-only");
        return buf;
    }
    /* Switching a new file to WAL takes an exclusive lock that SQLite does not wait for
       (the busy handler is not called there): two hones opening one new store at once would
       see "database is locked". Wait here instead, as long as the busy timeout. */
    int rc;
    for (int waited = 0;; waited += 10) {
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= BUSY_TIMEOUT_MS) break;
        sqlite3_sleep(10);
    }
    if (rc != SQLITE_OK) {
        snprintf(buf, len, "cannot use WAL: %s", reason(s->db, why, sizeof why));
        return buf;
    }
    /* NORMAL is durable against a killed process in WAL mode; FULL only adds power loss. */
    run_script(s->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
    return migrate(s->db, buf, len);
}

static int l_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int readonly = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "readonly");
        readonly = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    Store *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, STORE_MT);   /* from here __gc owns whatever s holds */
    s->path = strdup(path);
    if (!s->path) return luaL_error(L, "store: out of memory");

    char buf[512], why[256];
    const char *err;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        const char *sys = readonly ? NULL : unwritable(path);
        if (sys) snprintf(buf, sizeof buf, "cannot write: %s", sys);
        else snprintf(buf, sizeof buf, "cannot open: %s", s->db ? reason(s->db, why, sizeof why) : "out of memory");
        err = buf;
    } else {
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        sqlite3_extended_result_codes(s->db, 1);
        err = readonly ? check_readable(s, path, buf, sizeof buf) : check_writable(s, path, buf, sizeof buf);
    }
    if (err) {
        lua_pushfstring(L, "store: %s (%s)", err, path);
        store_release(s);
        return lua_error(L);
    }
    return 1;
}

/* A prepared statement for sql, from the cache or freshly prepared into it. */
static sqlite3_stmt *prepare(lua_State *L, Store *s, const char *sql) {
    for (int i = 0; i < STMT_CACHE; i++)
        if (s->cache[i].sql && strcmp(s->cache[i].sql, sql) == 0) return s->cache[i].stmt;

    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail) != SQLITE_OK)
        fail(L, s, NULL);
    if (!st) luaL_error(L, "store: empty statement (%s)", s->path);
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';')) tail++;
    if (tail && *tail) {
        sqlite3_finalize(st);
        luaL_error(L, "store: one statement at a time (%s)", s->path);
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        luaL_error(L, "store: out of memory");
    }
    CachedStmt *slot = &s->cache[s->next_evict];
    s->next_evict = (s->next_evict + 1) % STMT_CACHE;
    sqlite3_finalize(slot->stmt);
    free(slot->sql);
    slot->sql = copy;
    slot->stmt = st;
    return st;
}

/* Binds arguments first..top; on a bad argument the statement is left reset. */
static void bind_args(lua_State *L, Store *s, sqlite3_stmt *st, int first) {
    int top = lua_gettop(L);
    int n = sqlite3_bind_parameter_count(st);
    if (top - first + 1 != n) {
        sqlite3_clear_bindings(st);
        luaL_error(L, "store: statement takes %d parameters, got %d (%s)", n, top - first + 1,
                   s->path);
    }
    for (int i = first; i <= top; i++) {
        int pos = i - first + 1, rc;
        switch (lua_type(L, i)) {
        case LUA_TNIL: rc = sqlite3_bind_null(st, pos); break;
        case LUA_TBOOLEAN: rc = sqlite3_bind_int(st, pos, lua_toboolean(L, i)); break;
        case LUA_TNUMBER:
            rc = lua_isinteger(L, i) ? sqlite3_bind_int64(st, pos, lua_tointeger(L, i))
                                     : sqlite3_bind_double(st, pos, lua_tonumber(L, i));
            break;
        case LUA_TSTRING: {
            size_t len;
            const char *text = lua_tolstring(L, i, &len);
            rc = sqlite3_bind_text64(st, pos, text, len, SQLITE_TRANSIENT, SQLITE_UTF8);
            break;
        }
        default:
            sqlite3_clear_bindings(st);
            luaL_error(L, "store: cannot bind a %s to parameter %d (%s)", luaL_typename(L, i),
                       pos, s->path);
            return;
        }
        if (rc != SQLITE_OK) {
            sqlite3_clear_bindings(st);
            fail(L, s, "bind");
        }
    }
}

static void push_column(lua_State *L, sqlite3_stmt *st, int c) {
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(st, c)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, c)); break;
    case SQLITE_NULL: lua_pushnil(L); break;
    default: {
        const void *p = sqlite3_column_blob(st, c);
        lua_pushlstring(L, p ? p : "", (size_t)sqlite3_column_bytes(st, c));
    }
    }
}

/* Steps st to the end; with rows != 0 pushes the array of rows. Resets st on every path. */
static void step_all(lua_State *L, Store *s, sqlite3_stmt *st, int rows) {
    if (rows) lua_newtable(L);
    int ncol = sqlite3_column_count(st);
    lua_Integer n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!rows) continue;
        lua_createtable(L, 0, ncol);
        for (int c = 0; c < ncol; c++) {
            push_column(L, st, c);
            lua_setfield(L, -2, sqlite3_column_name(st, c));
        }
        lua_rawseti(L, -2, ++n);
    }
    if (rc != SQLITE_DONE) {
        /* copy the message before reset, which may replace it */
        char why[256];
        lua_pushfstring(L, "store: %s (%s)", reason(s->db, why, sizeof why), s->path);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        lua_error(L);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int l_exec(lua_State *L) {
    Store *s = check_store(L);
    sqlite3_stmt *st = prepare(L, s, luaL_checkstring(L, 2));
    bind_args(L, s, st, 3);
    step_all(L, s, st, 0);
    lua_pushinteger(L, sqlite3_changes64(s->db));
    lua_pushinteger(L, sqlite3_last_insert_rowid(s->db));
    return 2;
}

static int l_query(lua_State *L) {
    Store *s = check_store(L);
    sqlite3_stmt *st = prepare(L, s, luaL_checkstring(L, 2));
    bind_args(L, s, st, 3);
    step_all(L, s, st, 1);
    return 1;
}

static int simple(lua_State *L, const char *sql) {
    Store *s = check_store(L);
    char why[256];
    if (run_script(s->db, sql) != 0) {
        lua_pushfstring(L, "store: %s: %s (%s)", sql, reason(s->db, why, sizeof why), s->path);
        return lua_error(L);
    }
    return 0;
}

static int l_begin(lua_State *L) { return simple(L, "BEGIN IMMEDIATE"); }
static int l_commit(lua_State *L) { return simple(L, "COMMIT"); }

static int l_rollback(lua_State *L) {
    Store *s = check_store(L);
    if (!sqlite3_get_autocommit(s->db)) return simple(L, "ROLLBACK");
    return 0;   /* nothing open: a rollback after a failed commit is not an error */
}

static int l_path(lua_State *L) {
    lua_pushstring(L, check_store(L)->path);
    return 1;
}

static int l_close(lua_State *L) {
    Store *s = luaL_checkudata(L, 1, STORE_MT);
    store_release(s);
    return 0;
}

static int l_tostring(lua_State *L) {
    Store *s = luaL_checkudata(L, 1, STORE_MT);
    lua_pushfstring(L, "hone.store (%s)", s->db ? s->path : "closed");
    return 1;
}

int hone_open_store(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"exec", l_exec}, {"query", l_query}, {"begin", l_begin}, {"commit", l_commit},
        {"rollback", l_rollback}, {"close", l_close}, {"path", l_path}, {NULL, NULL},
    };
    if (luaL_newmetatable(L, STORE_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_open);
    lua_setfield(L, -2, "open");
    lua_pushinteger(L, SCHEMA_VERSION);
    lua_setfield(L, -2, "schema_version");
    return 1;
}
