/*
** sandbox_lua.c - hone.sandbox.lua. See sandbox_lua.h.
**
** Each sandbox is a lua_State of its own, made by lua_newstate with an allocator that
** counts bytes against the memory cap, and a count hook that checks the instruction and
** time caps. The host never runs candidate code and never lets a candidate value out:
** arguments and results are copied between the states. Every host operation on the
** sandboxed state that could raise runs under lua_pcall in that state, so a candidate
** error can only ever unwind the candidate.
*/
#include "sandbox_lua.h"

#include <lauxlib.h>
#include <lualib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SANDBOX_MT      "hone.sandbox.lua"
#define DEFAULT_MEMORY  ((lua_Integer)64 << 20)
#define DEFAULT_STEPS   ((lua_Integer)100000000)
#define DEFAULT_TIME    10.0
#define HOOK_STEP       1000            /* instructions between checks of the caps */
#define OUTPUT_CAP      (64 * 1024)
#define MESSAGE_CAP     1024            /* error messages go into prompts: keep them short */
#define COPY_DEPTH      1000
#define CHECK_MEMORY    ((size_t)32 << 20)
#define NAME_CAP        128

typedef enum { FAULT_NONE, FAULT_TIMEOUT, FAULT_MEMORY } Fault;

typedef struct Sandbox {
    lua_State *S;               /* the candidate's state; NULL once closed */
    size_t memory_cap;
    lua_Integer instruction_cap;
    double time_cap;
    int step;                   /* hook interval: HOOK_STEP, or less for a tiny cap */

    size_t memory, memory_peak;
    int refusal_pending;        /* a refused allocation Lua may still retry: see alloc() */
    const void *refused_ptr;
    size_t refused_osize, refused_nsize;

    /* the load or call under way */
    Fault fault;
    const char *fault_cap;      /* "instruction" or "time", for a timeout */
    int fault_line;
    lua_Integer call_instructions;
    double started, deadline;

    lua_Integer instructions, calls;
    double run_time;            /* seconds inside loads and calls */

    char *out;                  /* print() output, OUTPUT_CAP bytes once first used */
    size_t out_len;
    int out_truncated;
} Sandbox;

static void note_fault(Sandbox *sb, Fault f) {
    if (sb->fault == FAULT_NONE) sb->fault = f;
}

/* When an allocation fails, Lua runs an emergency collection and asks once more for the
** same block (unless the state is still being built or a collection step is running);
** only frees happen in between. So a refusal is final when the retry is refused too, or
** when the next request is a different one: then Lua raised without retrying. */
static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    Sandbox *sb = ud;
    if (!ptr) osize = 0;            /* osize then only names the kind of object */
    if (nsize == 0) {
        free(ptr);
        sb->memory -= osize;
        return NULL;
    }
    if (nsize > osize) {
        int retry = sb->refusal_pending && ptr == sb->refused_ptr && osize == sb->refused_osize &&
                    nsize == sb->refused_nsize;
        if (sb->refusal_pending && !retry) note_fault(sb, FAULT_MEMORY);
        sb->refusal_pending = 0;
        if (nsize - osize > sb->memory_cap - sb->memory) {
            if (retry) {
                note_fault(sb, FAULT_MEMORY);
            } else {
                sb->refusal_pending = 1;
                sb->refused_ptr = ptr;
                sb->refused_osize = osize;
                sb->refused_nsize = nsize;
            }
            return NULL;
        }
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        if (nsize <= osize) return ptr;     /* Lua counts on shrinking never failing */
        note_fault(sb, FAULT_MEMORY);
        return NULL;
    }
    sb->memory = sb->memory - osize + nsize;
    if (sb->memory > sb->memory_peak) sb->memory_peak = sb->memory;
    return p;
}

static Sandbox *sandbox_of(lua_State *S) {
    void *ud;
    lua_getallocf(S, &ud);
    return ud;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs in whichever thread (coroutines included: they inherit the hook) reached its count. */
static void on_count(lua_State *S, lua_Debug *ar) {
    Sandbox *sb = sandbox_of(S);
    int n = lua_gethookcount(S);
    sb->instructions += n;
    sb->call_instructions += n;
    if (sb->fault == FAULT_NONE) {
        if (sb->call_instructions >= sb->instruction_cap) {
            sb->fault_cap = "instruction";
        } else if (now() >= sb->deadline) {
            sb->fault_cap = "time";
        } else {
            if (n != sb->step) lua_sethook(S, on_count, LUA_MASKCOUNT, sb->step);
            return;
        }
        sb->fault = FAULT_TIMEOUT;
        if (lua_getinfo(S, "l", ar)) sb->fault_line = ar->currentline;
    }
    /* From now on every instruction raises: code that catches the error cannot run even
    ** one more, so each raise unwinds at least one frame until the call is over. */
    if (n != 1) lua_sethook(S, on_count, LUA_MASKCOUNT, 1);
    lua_pushliteral(S, "sandbox: cap exceeded");
    lua_error(S);
}

/* ---- the candidate's library ------------------------------------------------------- */

static void out_add(Sandbox *sb, const char *s, size_t len) {
    if (sb->out_truncated) return;
    if (!sb->out && !(sb->out = malloc(OUTPUT_CAP))) {
        sb->out_truncated = 1;
        return;
    }
    size_t room = OUTPUT_CAP - sb->out_len;
    if (len > room) {
        len = room;
        sb->out_truncated = 1;
    }
    memcpy(sb->out + sb->out_len, s, len);
    sb->out_len += len;
}

static int sb_print(lua_State *S) {
    Sandbox *sb = sandbox_of(S);
    int n = lua_gettop(S);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(S, i, &len);
        if (i > 1) out_add(sb, "\t", 1);
        out_add(sb, s, len);
        lua_pop(S, 1);
    }
    out_add(sb, "\n", 1);
    return 0;
}

static int sb_collectgarbage(lua_State *S) {
    if (strcmp(luaL_optstring(S, 1, "collect"), "count") == 0) {
        lua_pushnumber(S, (lua_Number)lua_gc(S, LUA_GCCOUNT, 0) + lua_gc(S, LUA_GCCOUNTB, 0) / 1024.0);
        return 1;
    }
    lua_pushinteger(S, 0);
    return 1;
}

/* Calls upvalue 1, the library function being guarded, with the arguments as given. */
static int delegate(lua_State *S) {
    lua_pushvalue(S, lua_upvalueindex(1));
    lua_insert(S, 1);
    lua_call(S, lua_gettop(S) - 1, LUA_MULTRET);
    return lua_gettop(S);
}

static int sb_load(lua_State *S) {
    if (lua_gettop(S) < 3) lua_settop(S, 3);    /* a 4th argument (env) is kept if given */
    lua_pushliteral(S, "t");
    lua_replace(S, 3);
    return delegate(S);
}

static int sb_setmetatable(lua_State *S) {
    if (lua_type(S, 2) == LUA_TTABLE) {
        lua_pushliteral(S, "__gc");
        if (lua_rawget(S, 2) != LUA_TNIL)
            return luaL_error(S, "setmetatable: __gc metamethods are not allowed in the sandbox");
        lua_pop(S, 1);
    }
    return delegate(S);
}

static int sb_string_rep(lua_State *S) {
    size_t len, seplen;
    luaL_checklstring(S, 1, &len);
    lua_Integer n = luaL_checkinteger(S, 2);
    luaL_optlstring(S, 3, "", &seplen);
    if (n > 0 && len + seplen == 0) {   /* string.rep would spin n times copying nothing */
        lua_pushliteral(S, "");
        return 1;
    }
    /* Lua refuses results over 2 GiB as "too large", a runtime error; a string bomb is a
    ** memory fault whatever its size. */
    Sandbox *sb = sandbox_of(S);
    if (n > 0 && (double)len * (double)n + (double)seplen * (double)(n - 1) > (double)sb->memory_cap) {
        note_fault(sb, FAULT_MEMORY);
        return luaL_error(S, "not enough memory");
    }
    return delegate(S);
}

/* More elements than the memory cap could hold: a loop this long walks over nothing. */
static lua_Unsigned element_cap(lua_State *S) {
    return (lua_Unsigned)(sandbox_of(S)->memory_cap / 16);
}

static int sb_table_move(lua_State *S) {
    lua_Integer f = luaL_checkinteger(S, 2), e = luaL_checkinteger(S, 3);
    luaL_checkinteger(S, 4);
    if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= element_cap(S))
        return luaL_error(S, "table.move: too many elements to move in the sandbox");
    return delegate(S);
}

/* table.insert and table.remove shift every element up to #t, which __len can inflate. */
static int sb_table_shift(lua_State *S) {
    if (luaL_getmetafield(S, 1, "__len") != LUA_TNIL) {
        lua_pop(S, 1);
        lua_Integer n = luaL_len(S, 1);
        if (n > 0 && (lua_Unsigned)n >= element_cap(S))
            return luaL_error(S, "table length %I is too large for the sandbox", (LUAI_UACINT)n);
    }
    return delegate(S);
}

/* Replaces t[name] (t on top of the stack) by guard, with the original as its upvalue. */
static void guard(lua_State *S, const char *name, lua_CFunction fn) {
    lua_getfield(S, -1, name);
    lua_pushcclosure(S, fn, 1);
    lua_setfield(S, -2, name);
}

static void drop(lua_State *S, const char *name) {
    lua_pushnil(S);
    lua_setfield(S, -2, name);
}

static int setup(lua_State *S) {
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},
        {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
        {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(S, lib->name, lib->func, 1);
        lua_pop(S, 1);
    }
    lua_pushglobaltable(S);
    drop(S, "dofile");
    drop(S, "loadfile");
    drop(S, "warn");
    lua_pushcfunction(S, sb_print);
    lua_setfield(S, -2, "print");
    lua_pushcfunction(S, sb_collectgarbage);
    lua_setfield(S, -2, "collectgarbage");
    guard(S, "load", sb_load);
    guard(S, "setmetatable", sb_setmetatable);

    /* os: only these four, from a private copy of the library */
    static const char *const os_keep[] = {"clock", "time", "difftime", "date"};
    lua_pushcfunction(S, luaopen_os);
    lua_call(S, 0, 1);
    lua_createtable(S, 0, 4);
    for (size_t i = 0; i < sizeof os_keep / sizeof *os_keep; i++) {
        lua_getfield(S, -2, os_keep[i]);
        lua_setfield(S, -2, os_keep[i]);
    }
    lua_setfield(S, -3, "os");
    lua_pop(S, 1);

    lua_getfield(S, -1, "string");
    drop(S, "dump");
    guard(S, "rep", sb_string_rep);
    lua_pop(S, 1);
    lua_getfield(S, -1, "table");
    guard(S, "move", sb_table_move);
    guard(S, "insert", sb_table_shift);
    guard(S, "remove", sb_table_shift);
    lua_pop(S, 2);
    return 0;
}

/* ---- errors ------------------------------------------------------------------------ */

/* The line of a leading "chunkname:LINE:" in msg, or 0. */
static int line_of(const char *msg, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (msg[i] != ':') continue;
        size_t j = i + 1;
        int line = 0;
        while (j < len && msg[j] >= '0' && msg[j] <= '9' && line < 100000000) line = line * 10 + (msg[j++] - '0');
        if (j > i + 1 && j < len && msg[j] == ':') return line;
    }
    return 0;
}

/* The first line of the error object on top of S, without running candidate code. */
static int error_text(lua_State *S, char *buf, size_t size) {
    switch (lua_type(S, -1)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(S, -1, &len);
        const char *nl = memchr(s, '\n', len);
        if (nl) len = (size_t)(nl - s);
        int line = line_of(s, len);
        if (len >= size) snprintf(buf, size, "%.*s...", (int)(size - 4), s);
        else snprintf(buf, size, "%.*s", (int)len, s);
        return line;
    }
    case LUA_TNUMBER:   /* lua_tolstring would convert in place, allocating in S */
        if (lua_isinteger(S, -1)) snprintf(buf, size, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(S, -1));
        else snprintf(buf, size, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(S, -1));
        return 0;
    default:
        snprintf(buf, size, "(error object is a %s value)", luaL_typename(S, -1));
        return 0;
    }
}

static int push_error(lua_State *L, const char *kind, const char *message, int line) {
    lua_pushboolean(L, 0);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    if (line > 0) {
        lua_pushinteger(L, line);
        lua_setfield(L, -2, "line");
    }
    return 2;
}

/* Pushes false, err for a load or call that ended with status or hit a cap, and returns 2;
** returns 0 if it did neither. kind names what a plain error is ("syntax" or "runtime"). */
static int failure(lua_State *L, Sandbox *sb, int status, const char *kind) {
    char msg[MESSAGE_CAP + 64];
    if (sb->refusal_pending) {      /* the call ended before Lua asked again: it raised */
        sb->refusal_pending = 0;
        note_fault(sb, FAULT_MEMORY);
    }
    if (sb->fault == FAULT_TIMEOUT) {
        if (sb->fault_cap[0] == 't')
            snprintf(msg, sizeof msg, "time limit exceeded (%g s per call)", sb->time_cap);
        else
            snprintf(msg, sizeof msg, "instruction limit exceeded (%lld per call)",
                     (long long)sb->instruction_cap);
        return push_error(L, "timeout", msg, sb->fault_line);
    }
    if (sb->fault == FAULT_MEMORY || status == LUA_ERRMEM) {
        snprintf(msg, sizeof msg, "memory limit exceeded (%zu bytes)", sb->memory_cap);
        return push_error(L, "memory", msg, 0);
    }
    if (status == LUA_OK) return 0;
    int line = error_text(sb->S, msg, sizeof msg < MESSAGE_CAP ? sizeof msg : MESSAGE_CAP);
    return push_error(L, kind, msg, line);
}

/* ---- copying values between states ------------------------------------------------- */

typedef struct Copier {
    lua_State *from, *to;
    int map;                /* index in `to`: source table -> its copy, or true while copying */
    int depth;
    const char *fault;      /* what could not be copied */
} Copier;

static int copy_value(Copier *c, int idx);

static int copy_table(Copier *c, int idx) {
    lua_State *F = c->from, *T = c->to;
    const void *p = lua_topointer(F, idx);
    switch (lua_rawgetp(T, c->map, p)) {
    case LUA_TTABLE:
        return 1;           /* shared: reuse the copy */
    case LUA_TBOOLEAN:
        c->fault = "a cycle (a table inside itself)";
        return 0;
    default:
        lua_pop(T, 1);
    }
    if (c->depth >= COPY_DEPTH) {
        c->fault = "tables nested too deeply";
        return 0;
    }
    if (!lua_checkstack(F, 3)) {
        c->fault = "tables nested too deeply";
        return 0;
    }
    luaL_checkstack(T, 4, "tables nested too deeply");
    c->depth++;
    lua_pushboolean(T, 1);
    lua_rawsetp(T, c->map, p);
    lua_Unsigned n = lua_rawlen(F, idx);
    lua_createtable(T, n < 1u << 24 ? (int)n : 0, 0);
    lua_pushnil(F);
    while (lua_next(F, idx)) {
        if (!copy_value(c, -2) || !copy_value(c, -1)) return 0;
        lua_rawset(T, -3);
        lua_pop(F, 1);
    }
    lua_pushvalue(T, -1);
    lua_rawsetp(T, c->map, p);
    c->depth--;
    return 1;
}

/* Pushes onto c->to a copy of the value at idx in c->from. On failure returns 0 with
** c->fault set, leaving both stacks for the caller to reset. Reading never raises; writing
** raises only in c->to. */
static int copy_value(Copier *c, int idx) {
    lua_State *F = c->from, *T = c->to;
    idx = lua_absindex(F, idx);
    switch (lua_type(F, idx)) {
    case LUA_TNIL:
        lua_pushnil(T);
        return 1;
    case LUA_TBOOLEAN:
        lua_pushboolean(T, lua_toboolean(F, idx));
        return 1;
    case LUA_TNUMBER:
        if (lua_isinteger(F, idx)) lua_pushinteger(T, lua_tointeger(F, idx));
        else lua_pushnumber(T, lua_tonumber(F, idx));
        return 1;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(F, idx, &len);
        lua_pushlstring(T, s, len);
        return 1;
    }
    case LUA_TTABLE:
        return copy_table(c, idx);
    case LUA_TFUNCTION:
        c->fault = "a function value";
        return 0;
    case LUA_TTHREAD:
        c->fault = "a thread value";
        return 0;
    default:
        c->fault = "a userdata value";
        return 0;
    }
}

/* Copies n values from `from`, starting at first, onto `to`; returns the index in n of
** the value that failed, 0-based, or -1 when all were copied. */
static int copy_values(Copier *c, int first, int n) {
    int top = lua_gettop(c->to);
    luaL_checkstack(c->to, n + 2, "too many values");
    c->map = 0;
    for (int i = 0; i < n; i++)
        if (lua_istable(c->from, first + i)) {
            lua_newtable(c->to);
            c->map = lua_gettop(c->to);
            break;
        }
    c->depth = 0;
    c->fault = NULL;
    for (int i = 0; i < n; i++)
        if (!copy_value(c, first + i)) {
            lua_settop(c->to, top);
            return i;
        }
    if (c->map) lua_remove(c->to, c->map);
    return -1;
}

/* ---- the sandbox object ------------------------------------------------------------ */

static void shut(Sandbox *sb) {
    if (sb->S) {
        lua_sethook(sb->S, NULL, 0, 0);
        lua_close(sb->S);
        sb->S = NULL;
    }
    free(sb->out);
    sb->out = NULL;
    sb->out_len = 0;
}

static Sandbox *check_open(lua_State *L) {
    Sandbox *sb = luaL_checkudata(L, 1, SANDBOX_MT);
    if (!sb->S) luaL_error(L, "sandbox: the sandbox is closed");
    return sb;
}

/* Resets the state of the load or call about to run, its clock included. */
static void begin(Sandbox *sb) {
    lua_settop(sb->S, 0);
    sb->fault = FAULT_NONE;
    sb->fault_cap = NULL;
    sb->fault_line = 0;
    sb->refusal_pending = 0;
    sb->call_instructions = 0;
    lua_sethook(sb->S, on_count, LUA_MASKCOUNT, sb->step);
    sb->started = now();
    sb->deadline = sb->started + sb->time_cap;
}

/* The candidate runs on hone's thread, so the time inside a load or call is its CPU time
** unless the machine preempted hone; the thread's CPU clock would be exact, but reading it
** is a system call that costs more than a whole small call. */
static void stop_clock(Sandbox *sb) {
    sb->run_time += now() - sb->started;
}

static double opt_number(lua_State *L, const char *name, double def) {
    int t = lua_getfield(L, 1, name);
    double v = def;
    if (t != LUA_TNIL) {
        if (t != LUA_TNUMBER) luaL_error(L, "sandbox.new: option '%s' must be a number", name);
        v = (double)lua_tonumber(L, -1);
        if (!(v > 0)) luaL_error(L, "sandbox.new: option '%s' must be positive", name);
    }
    lua_pop(L, 1);
    return v;
}

static int l_new(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (strcmp(k, "memory") && strcmp(k, "instructions") && strcmp(k, "time"))
                return luaL_error(L, "sandbox.new: unknown option '%s'", k);
            lua_pop(L, 1);
        }
    } else {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    double memory = opt_number(L, "memory", (double)DEFAULT_MEMORY);
    double steps = opt_number(L, "instructions", (double)DEFAULT_STEPS);
    double time_cap = opt_number(L, "time", DEFAULT_TIME);
    if (memory > 1e15) return luaL_error(L, "sandbox.new: option 'memory' is too large");

    Sandbox *sb = lua_newuserdatauv(L, sizeof *sb, 0);
    memset(sb, 0, sizeof *sb);
    luaL_setmetatable(L, SANDBOX_MT);
    sb->memory_cap = (size_t)memory;
    sb->instruction_cap = steps >= 9e18 ? LUA_MAXINTEGER : (lua_Integer)steps;
    sb->time_cap = time_cap;
    sb->step = sb->instruction_cap < HOOK_STEP ? (int)sb->instruction_cap : HOOK_STEP;
    if (sb->step < 1) sb->step = 1;
    sb->S = lua_newstate(alloc, sb);
    if (!sb->S) return luaL_error(L, "sandbox.new: the memory cap is too small for a Lua state");
    lua_pushcfunction(sb->S, setup);
    if (lua_pcall(sb->S, 0, 0, 0) != LUA_OK) {
        shut(sb);
        return luaL_error(L, "sandbox.new: the memory cap is too small for the sandbox's library");
    }
    lua_sethook(sb->S, on_count, LUA_MASKCOUNT, sb->step);
    return 1;
}

static void chunk_name(lua_State *L, int idx, char *buf) {
    snprintf(buf, NAME_CAP, "=%s", luaL_optstring(L, idx, "candidate"));
}

static int l_load(lua_State *L) {
    Sandbox *sb = check_open(L);
    size_t len;
    const char *code = luaL_checklstring(L, 2, &len);
    char name[NAME_CAP];
    chunk_name(L, 3, name);
    begin(sb);
    int status = luaL_loadbufferx(sb->S, code, len, name, "t");
    const char *kind = status == LUA_OK ? "runtime" : "syntax";
    if (status == LUA_OK) status = lua_pcall(sb->S, 0, 0, 0);
    stop_clock(sb);
    int n = failure(L, sb, status, kind);
    lua_settop(sb->S, 0);
    if (n) return n;
    lua_pushboolean(L, 1);
    return 1;
}

/* What l_call hands to enter(), which runs inside the sandbox's protection. */
typedef struct Call {
    lua_State *L;
    const char *fname;
    int first, nargs;       /* the arguments, in L */
    int missing;            /* the type fname has, if it is not a function */
    int bad;                /* 1-based index of an argument that cannot be copied, or 0 */
    Copier copier;
} Call;

static int enter(lua_State *S) {
    Call *call = lua_touserdata(S, 1);
    lua_settop(S, 0);
    int t = lua_getglobal(S, call->fname);
    if (t != LUA_TFUNCTION) {
        call->missing = t;
        return 0;
    }
    call->copier.from = call->L;
    call->copier.to = S;
    int failed = copy_values(&call->copier, call->first, call->nargs);
    if (failed >= 0) {
        call->bad = failed + 1;
        return 0;
    }
    lua_call(S, call->nargs, LUA_MULTRET);
    return lua_gettop(S);
}

static int l_call(lua_State *L) {
    Sandbox *sb = check_open(L);
    Call call = {L, luaL_checkstring(L, 2), 3, lua_gettop(L) - 2, LUA_TFUNCTION, 0, {0}};
    int top = lua_gettop(L);
    lua_State *S = sb->S;
    begin(sb);
    sb->calls++;
    lua_pushcfunction(S, enter);
    lua_pushlightuserdata(S, &call);
    int status = lua_pcall(S, 1, LUA_MULTRET, 0);
    stop_clock(sb);
    lua_settop(L, top);     /* an error in S may have cut a copy short, with keys left on L */
    if (call.bad) {
        lua_settop(S, 0);
        return luaL_error(L, "sandbox: cannot pass argument %d to '%s': it holds %s", call.bad,
                          call.fname, call.copier.fault);
    }
    int n = failure(L, sb, status, "runtime");
    if (n) {
        lua_settop(S, 0);
        return n;
    }
    if (call.missing != LUA_TFUNCTION) {
        char msg[NAME_CAP + 64];
        if (call.missing == LUA_TNIL)
            snprintf(msg, sizeof msg, "function '%.*s' is not defined", NAME_CAP, call.fname);
        else
            snprintf(msg, sizeof msg, "'%.*s' is a %s value, not a function", NAME_CAP, call.fname,
                     lua_typename(L, call.missing));
        return push_error(L, "runtime", msg, 0);
    }
    int nres = lua_gettop(S);
    luaL_checkstack(L, nres + 3, "too many results");
    lua_pushboolean(L, 1);
    Copier out = {S, L, 0, 0, NULL};
    int failed = copy_values(&out, 1, nres);
    lua_settop(S, 0);
    if (failed >= 0) {
        char msg[128];
        lua_settop(L, top);
        snprintf(msg, sizeof msg, "result %d of '%.40s' cannot leave the sandbox: it holds %s", failed + 1,
                 call.fname, out.fault);
        return push_error(L, "runtime", msg, 0);
    }
    return nres + 1;
}

/* ---- the C entry point: see sandbox_lua.h ------------------------------------------ */

typedef struct Invoke {
    const char *fname;
    HoneSandboxArgs args;
    HoneSandboxResults results;
    void *ud;
    int missing;            /* the type fname has, if it is not a function */
} Invoke;

static int enter_invoke(lua_State *S) {
    Invoke *iv = lua_touserdata(S, 1);
    lua_settop(S, 0);
    int t = lua_getglobal(S, iv->fname);
    if (t != LUA_TFUNCTION) {
        iv->missing = t;
        return 0;
    }
    int nargs = iv->args(S, iv->ud);
    lua_call(S, nargs, LUA_MULTRET);
    iv->results(S, lua_gettop(S), iv->ud);
    return 0;
}

HoneSandbox *hone_sandbox_lua_check(lua_State *L, int idx) {
    Sandbox *sb = luaL_checkudata(L, idx, SANDBOX_MT);
    if (!sb->S) luaL_error(L, "sandbox: the sandbox is closed");
    return sb;
}

int hone_sandbox_lua_invoke(lua_State *L, HoneSandbox *sb, const char *fname, HoneSandboxArgs args,
                            HoneSandboxResults results, void *ud) {
    Invoke iv = {fname, args, results, ud, LUA_TFUNCTION};
    lua_State *S = sb->S;
    begin(sb);
    sb->calls++;
    lua_pushcfunction(S, enter_invoke);
    lua_pushlightuserdata(S, &iv);
    int status = lua_pcall(S, 1, 0, 0);
    int n = failure(L, sb, status, "runtime");
    lua_settop(S, 0);
    if (n) {
        lua_remove(L, -2);      /* failure() pushed false, err: keep err */
        return 0;
    }
    if (iv.missing != LUA_TFUNCTION) {
        char msg[NAME_CAP + 64];
        if (iv.missing == LUA_TNIL)
            snprintf(msg, sizeof msg, "function '%.*s' is not defined", NAME_CAP, fname);
        else
            snprintf(msg, sizeof msg, "'%.*s' is a %s value, not a function", NAME_CAP, fname,
                     lua_typename(L, iv.missing));
        push_error(L, "runtime", msg, 0);
        lua_remove(L, -2);
        return 0;
    }
    return 1;
}

static int l_output(lua_State *L) {
    Sandbox *sb = luaL_checkudata(L, 1, SANDBOX_MT);
    lua_pushlstring(L, sb->out ? sb->out : "", sb->out_len);
    if (sb->out_truncated) {
        lua_pushliteral(L, "...[truncated]");
        lua_concat(L, 2);
    }
    if (lua_toboolean(L, 2)) {
        sb->out_len = 0;
        sb->out_truncated = 0;
    }
    return 1;
}

static int l_stats(lua_State *L) {
    Sandbox *sb = luaL_checkudata(L, 1, SANDBOX_MT);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, sb->instructions);
    lua_setfield(L, -2, "instructions");
    lua_pushinteger(L, (lua_Integer)sb->memory);
    lua_setfield(L, -2, "memory");
    lua_pushinteger(L, (lua_Integer)sb->memory_peak);
    lua_setfield(L, -2, "memory_peak");
    lua_pushinteger(L, sb->calls);
    lua_setfield(L, -2, "calls");
    lua_pushnumber(L, sb->run_time);
    lua_setfield(L, -2, "cpu_s");
    return 1;
}

static int l_close(lua_State *L) {
    shut(luaL_checkudata(L, 1, SANDBOX_MT));
    return 0;
}

static int l_check(lua_State *L) {
    size_t len;
    const char *code = luaL_checklstring(L, 1, &len);
    char name[NAME_CAP];
    chunk_name(L, 2, name);
    Sandbox scratch;
    memset(&scratch, 0, sizeof scratch);
    scratch.memory_cap = CHECK_MEMORY;
    lua_State *S = lua_newstate(alloc, &scratch);
    if (!S) return luaL_error(L, "sandbox.check: out of memory");
    int status = luaL_loadbufferx(S, code, len, name, "t");
    char msg[MESSAGE_CAP];
    int line = status == LUA_OK ? 0 : error_text(S, msg, sizeof msg);
    lua_close(S);   /* before anything that could raise in L */
    if (status == LUA_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (status == LUA_ERRMEM) {
        snprintf(msg, sizeof msg, "memory limit exceeded (%zu bytes)", CHECK_MEMORY);
        return push_error(L, "memory", msg, 0);
    }
    return push_error(L, "syntax", msg, line);
}

int hone_open_sandbox_lua(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"load", l_load},
        {"call", l_call},
        {"output", l_output},
        {"stats", l_stats},
        {"close", l_close},
        {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"new", l_new},
        {"check", l_check},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, SANDBOX_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
