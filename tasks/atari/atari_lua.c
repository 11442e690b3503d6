/*
** atari_lua.c - hone.atari. See atari_lua.h.
**
** An env is one userdata: the binding's bookkeeping followed by the engine's state, so
** there is no allocation per step. The episode loop stays in C and builds each
** observation directly in the sandbox's state (hone_sandbox_lua_invoke), which is what
** makes a Lua policy cost little more than the policy itself.
*/
#include "atari_lua.h"
#include "sandbox_lua.h"

#include <lauxlib.h>

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENV_MT          "hone.atari.env"
#define TRACE_CAP       100000      /* horizon without objects */
#define TRACE_OBJ_CAP   5000        /* horizon with objects: 5000 x 128 objects is ~20 MB */
#define VALUE_CAP       48          /* an invalid action as quoted in the result */

typedef struct Env {
    const AtariGame *game;
    lua_Integer seed;
    int steps;
    int done;
} Env;

#define STATE_OFFSET ((sizeof(Env) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

static void *state_of(Env *e) {
    return (char *)e + STATE_OFFSET;
}

static const void *cstate_of(const Env *e) {
    return (const char *)e + STATE_OFFSET;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- games ------------------------------------------------------------------------- */

static const AtariGame *find_game(const char *name) {
    for (const AtariGame *const *g = atari_games; *g; g++)
        if (strcmp((*g)->name, name) == 0) return *g;
    return NULL;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const AtariGame *const *)a)->name, (*(const AtariGame *const *)b)->name);
}

/* The linked games sorted by name, into out (room for all of them); returns how many. */
static int sorted_games(const AtariGame **out) {
    int n = 0;
    for (const AtariGame *const *g = atari_games; *g; g++) out[n++] = *g;
    qsort(out, (size_t)n, sizeof *out, by_name);
    return n;
}

static int count_games(void) {
    int n = 0;
    while (atari_games[n]) n++;
    return n;
}

static const AtariGame *check_game(lua_State *L, int idx) {
    const char *name = luaL_checkstring(L, idx);
    const AtariGame *g = find_game(name);
    if (g) return g;
    const AtariGame *list[64];
    int n = count_games() < 64 ? sorted_games(list) : 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < n; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, list[i]->name);
    }
    luaL_pushresult(&b);
    return luaL_error(L, "atari: unknown game '%s' (games: %s)", name, lua_tostring(L, -1)), NULL;
}

/* The action number of name, or -1. */
static int find_action(const AtariGame *g, const char *name) {
    for (int i = 0; i < g->n_actions; i++)
        if (strcmp(g->actions[i], name) == 0) return i;
    return -1;
}

/* ---- building tables (in the host or in a sandbox: nothing here runs Lua code) ------ */

static void set_int(lua_State *S, const char *k, lua_Integer v) {
    lua_pushinteger(S, v);
    lua_setfield(S, -2, k);
}

static void push_actions(lua_State *S, const AtariGame *g) {
    lua_createtable(S, g->n_actions, 0);
    for (int i = 0; i < g->n_actions; i++) {
        lua_pushstring(S, g->actions[i]);
        lua_rawseti(S, -2, i + 1);
    }
}

/* The keys and category names are pushed once and reused by lua_pushvalue: interning a
** C string costs a hash and a strcmp, and an observation can hold over a hundred objects. */
#define CATEGORY_CACHE 16

static void push_objects(lua_State *S, const AtariObject *o, int n) {
    static const char *const keys[] = {"category", "x", "y", "w", "h", "dx", "dy"};
    luaL_checkstack(S, 7 + CATEGORY_CACHE + 4, "atari: observation");
    int base = lua_gettop(S);
    for (int k = 0; k < 7; k++) lua_pushstring(S, keys[k]);
    lua_createtable(S, n, 0);
    int list = base + 8;
    const char *cats[CATEGORY_CACHE];
    int ncats = 0;
    for (int i = 0; i < n; i++) {
        int cat = 0;
        for (int c = 0; c < ncats; c++)
            if (cats[c] == o[i].category) cat = list + 1 + c;
        if (!cat && ncats < CATEGORY_CACHE) {
            lua_pushstring(S, o[i].category);
            cats[ncats++] = o[i].category;
            cat = lua_gettop(S);
        }
        lua_createtable(S, 0, 7);
        lua_pushvalue(S, base + 1);
        if (cat) lua_pushvalue(S, cat);
        else lua_pushstring(S, o[i].category);
        lua_rawset(S, -3);
        const int v[6] = {o[i].x, o[i].y, o[i].w, o[i].h, o[i].dx, o[i].dy};
        for (int k = 0; k < 6; k++) {
            lua_pushvalue(S, base + 2 + k);
            lua_pushinteger(S, v[k]);
            lua_rawset(S, -3);
        }
        lua_rawseti(S, list, i + 1);
    }
    lua_copy(S, list, base + 1);
    lua_settop(S, base + 1);
}

static void push_observation(lua_State *S, const Env *e, const AtariObject *o, int n) {
    const AtariGame *g = e->game;
    lua_createtable(S, 0, 5);
    push_objects(S, o, n);
    lua_setfield(S, -2, "objects");
    set_int(S, "score", g->score(cstate_of(e)));
    set_int(S, "lives", g->lives(cstate_of(e)));
    set_int(S, "step", e->steps);
    push_actions(S, g);
    lua_setfield(S, -2, "actions");
}

static int env_objects(const Env *e, AtariObject *out) {
    int n = e->game->objects(cstate_of(e), out, ATARI_MAX_OBJECTS);
    return n < 0 ? 0 : n > ATARI_MAX_OBJECTS ? ATARI_MAX_OBJECTS : n;
}

/* ---- the env ----------------------------------------------------------------------- */

static Env *check_env(lua_State *L, int idx) {
    return luaL_checkudata(L, idx, ENV_MT);
}

static void env_reset(Env *e, lua_Integer seed) {
    e->seed = seed;
    e->steps = 0;
    e->done = 0;
    memset(state_of(e), 0, e->game->state_size);
    e->game->reset(state_of(e), (uint64_t)seed);
}

/* One step; the binding's step count caps the episode whatever the engine says. */
static AtariStep env_step(Env *e, int action) {
    AtariStep r = e->game->step(state_of(e), action);
    e->steps++;
    if (r.done || e->steps >= e->game->max_steps) e->done = 1;
    r.done = e->done;
    return r;
}

static int l_new(lua_State *L) {
    const AtariGame *g = check_game(L, 1);
    lua_Integer seed = luaL_optinteger(L, 2, 0);
    Env *e = lua_newuserdatauv(L, STATE_OFFSET + g->state_size, 0);
    memset(e, 0, sizeof *e);
    e->game = g;
    luaL_setmetatable(L, ENV_MT);
    env_reset(e, seed);
    return 1;
}

/* env:clone(): engines keep everything in their state bytes (game.h), so a copy is an
** exact fork of the episode: the same actions from here give the same trace. */
static int l_clone(lua_State *L) {
    Env *e = check_env(L, 1);
    size_t size = STATE_OFFSET + e->game->state_size;
    Env *c = lua_newuserdatauv(L, size, 0);
    memcpy(c, e, size);
    luaL_setmetatable(L, ENV_MT);
    return 1;
}

static int l_reset(lua_State *L) {
    Env *e = check_env(L, 1);
    env_reset(e, luaL_optinteger(L, 2, e->seed));
    return 0;
}

static int l_step(lua_State *L) {
    Env *e = check_env(L, 1);
    const char *name = luaL_checkstring(L, 2);
    int a = find_action(e->game, name);
    if (a < 0) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 0; i < e->game->n_actions; i++) {
            if (i) luaL_addstring(&b, ", ");
            luaL_addstring(&b, e->game->actions[i]);
        }
        luaL_pushresult(&b);
        return luaL_error(L, "atari: %s has no action '%s' (actions: %s)", e->game->name, name,
                          lua_tostring(L, -1));
    }
    if (e->done) return luaL_error(L, "atari: the episode is over (reset the env)");
    AtariStep r = env_step(e, a);
    lua_pushinteger(L, r.reward);
    lua_pushboolean(L, r.done);
    return 2;
}

static int l_objects(lua_State *L) {
    Env *e = check_env(L, 1);
    AtariObject o[ATARI_MAX_OBJECTS];
    push_objects(L, o, env_objects(e, o));
    return 1;
}

static int l_observation(lua_State *L) {
    Env *e = check_env(L, 1);
    AtariObject o[ATARI_MAX_OBJECTS];
    push_observation(L, e, o, env_objects(e, o));
    return 1;
}

static int l_score(lua_State *L) {
    Env *e = check_env(L, 1);
    lua_pushinteger(L, e->game->score(state_of(e)));
    return 1;
}

static int l_lives(lua_State *L) {
    Env *e = check_env(L, 1);
    lua_pushinteger(L, e->game->lives(state_of(e)));
    return 1;
}

static int l_steps(lua_State *L) {
    lua_pushinteger(L, check_env(L, 1)->steps);
    return 1;
}

static int l_done(lua_State *L) {
    lua_pushboolean(L, check_env(L, 1)->done);
    return 1;
}

static int l_actions(lua_State *L) {
    push_actions(L, check_env(L, 1)->game);
    return 1;
}

static int l_name(lua_State *L) {
    lua_pushstring(L, check_env(L, 1)->game->name);
    return 1;
}

static int l_max_steps(lua_State *L) {
    lua_pushinteger(L, check_env(L, 1)->game->max_steps);
    return 1;
}

static int l_tostring(lua_State *L) {
    Env *e = check_env(L, 1);
    lua_pushfstring(L, "atari env %s (step %d%s)", e->game->name, e->steps, e->done ? ", done" : "");
    return 1;
}

/* ---- the episode loop -------------------------------------------------------------- */

typedef struct TraceEntry {
    int step, action, reward, score, lives, invalid, n;
    AtariObject *objects;       /* TRACE_OBJ_CAP rows of ATARI_MAX_OBJECTS, or NULL */
} TraceEntry;

typedef struct Episode {
    Env *env;
    AtariObject objects[ATARI_MAX_OBJECTS];
    int n;
    int action;                 /* the policy's answer: an action number, or -1 */
    char bad[VALUE_CAP + 16];   /* what it returned instead, quoted */
} Episode;

static int push_episode_obs(lua_State *S, void *ud) {
    Episode *ep = ud;
    push_observation(S, ep->env, ep->objects, ep->n);
    return 1;
}

/* Reads the policy's first result without running candidate code (no __tostring). */
static void take_action(lua_State *S, int n, void *ud) {
    Episode *ep = ud;
    int t = n >= 1 ? lua_type(S, 1) : LUA_TNONE;
    ep->action = -1;
    if (t == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(S, 1, &len);
        if (strlen(s) == len) ep->action = find_action(ep->env->game, s);
        if (ep->action < 0)
            snprintf(ep->bad, sizeof ep->bad, "\"%.*s%s\"", VALUE_CAP, s, len > VALUE_CAP ? "..." : "");
    } else if (t == LUA_TNUMBER) {
        if (lua_isinteger(S, 1))
            snprintf(ep->bad, sizeof ep->bad, "the number " LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(S, 1));
        else
            snprintf(ep->bad, sizeof ep->bad, "the number " LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(S, 1));
    } else if (t == LUA_TNONE) {
        snprintf(ep->bad, sizeof ep->bad, "nothing");
    } else {
        snprintf(ep->bad, sizeof ep->bad, "a %s value", lua_typename(S, t));
    }
}

static lua_Integer opt_field_int(lua_State *L, int opts, const char *k, lua_Integer def) {
    lua_getfield(L, opts, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return def;
    }
    if (!lua_isinteger(L, -1)) luaL_error(L, "atari.episode: opts.%s must be an integer", k);
    lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return v;
}

static void push_trace(lua_State *L, const Env *e, TraceEntry *ring, int cap, int count, int next) {
    int n = count < cap ? count : cap;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const TraceEntry *t = &ring[(next - n + i + cap) % cap];
        lua_createtable(L, 0, 7);
        set_int(L, "step", t->step);
        lua_pushstring(L, e->game->actions[t->action]);
        lua_setfield(L, -2, "action");
        set_int(L, "reward", t->reward);
        set_int(L, "score", t->score);
        set_int(L, "lives", t->lives);
        if (t->invalid) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "invalid");
        }
        if (t->objects) {
            push_objects(L, t->objects, t->n);
            lua_setfield(L, -2, "objects");
        }
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_episode(lua_State *L) {
    Env *e = check_env(L, 1);
    HoneSandbox *sb = hone_sandbox_lua_check(L, 2);
    const char *entry = luaL_checkstring(L, 3);
    lua_Integer max_steps = luaL_checkinteger(L, 4);
    int opts = 5;
    if (lua_isnoneornil(L, opts)) {
        lua_settop(L, 4);
        lua_newtable(L);
    }
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_getfield(L, opts, "seed");
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1)) return luaL_error(L, "atari.episode: opts.seed must be an integer");
        env_reset(e, lua_tointeger(L, -1));
    }
    lua_pop(L, 1);
    lua_Integer horizon = opt_field_int(L, opts, "horizon", 0);
    lua_getfield(L, opts, "trace_objects");
    int with_objects = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, opts, "time");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "atari.episode: opts.time must be a number of seconds");
    double budget = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (horizon < 0 || horizon > (with_objects ? TRACE_OBJ_CAP : TRACE_CAP))
        return luaL_error(L, "atari.episode: opts.horizon must be 0..%d%s", with_objects ? TRACE_OBJ_CAP : TRACE_CAP,
                          with_objects ? " (with trace_objects)" : "");

    /* Everything allocated up front, as userdata owned by L: an error anywhere frees it. */
    int cap = (int)horizon;
    TraceEntry *ring = NULL;
    if (cap > 0) {
        size_t bytes = (size_t)cap * sizeof *ring;
        if (with_objects) bytes += (size_t)cap * ATARI_MAX_OBJECTS * sizeof(AtariObject);
        ring = lua_newuserdatauv(L, bytes, 0);
        AtariObject *rows = (AtariObject *)(ring + cap);
        for (int i = 0; i < cap; i++) ring[i].objects = with_objects ? rows + (size_t)i * ATARI_MAX_OBJECTS : NULL;
    }
    Episode *ep = lua_newuserdatauv(L, sizeof *ep, 0);
    ep->env = e;

    const AtariGame *g = e->game;
    int counts[64] = {0};
    int played = 0, invalid = 0, first_invalid_step = -1, count = 0, next = 0, failed = 0;
    lua_Integer reward_total = 0;
    char first_invalid[sizeof ep->bad] = "";
    double deadline = budget > 0 ? now() + budget : 0;
    int timed_out = 0;

    while (!e->done && played < max_steps) {
        if (deadline > 0 && now() >= deadline) {
            timed_out = 1;
            break;
        }
        ep->n = env_objects(e, ep->objects);
        if (!hone_sandbox_lua_invoke(L, sb, entry, push_episode_obs, take_action, ep)) {
            lua_pushinteger(L, e->steps);
            lua_setfield(L, -2, "step");
            failed = 1;
            break;
        }
        int a = ep->action, bad = a < 0;
        if (bad) {
            a = 0;
            if (invalid++ == 0) {
                first_invalid_step = e->steps;
                memcpy(first_invalid, ep->bad, sizeof first_invalid);
            }
        }
        TraceEntry *t = cap > 0 ? &ring[next] : NULL;
        if (t) {
            t->step = e->steps;
            t->n = ep->n;
            if (t->objects) memcpy(t->objects, ep->objects, (size_t)ep->n * sizeof *ep->objects);
        }
        AtariStep r = env_step(e, a);
        if (a < 64) counts[a]++;
        reward_total += r.reward;
        played++;
        if (t) {
            t->action = a;
            t->reward = r.reward;
            t->score = g->score(state_of(e));
            t->lives = g->lives(state_of(e));
            t->invalid = bad;
            next = (next + 1) % cap;
            count++;
        }
    }

    int err = failed ? lua_gettop(L) : 0;
    lua_createtable(L, 0, 12);
    set_int(L, "score", g->score(state_of(e)));
    set_int(L, "lives", g->lives(state_of(e)));
    set_int(L, "steps", played);
    lua_pushboolean(L, e->done);
    lua_setfield(L, -2, "done");
    set_int(L, "reward_total", reward_total);
    set_int(L, "invalid_actions", invalid);
    if (invalid) {
        lua_createtable(L, 0, 2);
        set_int(L, "step", first_invalid_step);
        lua_pushstring(L, first_invalid);
        lua_setfield(L, -2, "value");
        lua_setfield(L, -2, "first_invalid");
    }
    lua_createtable(L, 0, g->n_actions);
    for (int i = 0; i < g->n_actions && i < 64; i++) set_int(L, g->actions[i], counts[i]);
    lua_setfield(L, -2, "action_counts");
    if (err) {
        lua_pushvalue(L, err);
        lua_setfield(L, -2, "error");
    } else if (timed_out) {
        lua_createtable(L, 0, 3);
        lua_pushliteral(L, "timeout");
        lua_setfield(L, -2, "kind");
        lua_pushfstring(L, "episode time limit exceeded (%f s)", budget);
        lua_setfield(L, -2, "message");
        set_int(L, "step", e->steps);
        lua_setfield(L, -2, "error");
    }
    if (cap > 0) {
        push_trace(L, e, ring, cap, count, next);
        lua_setfield(L, -2, "trace");
    }
    return 1;
}

/* ---- benchmark --------------------------------------------------------------------- */

static int l_benchmark(lua_State *L) {
    const AtariGame *g = check_game(L, 1);
    lua_Integer steps = luaL_checkinteger(L, 2);
    lua_Integer seed = luaL_optinteger(L, 3, 1);
    void *state = lua_newuserdatauv(L, g->state_size, 0);
    AtariObject o[ATARI_MAX_OBJECTS];
    memset(state, 0, g->state_size);
    g->reset(state, (uint64_t)seed);
    lua_Integer objects = 0, episodes = 0;
    int len = 0;
    double t0 = now();
    for (lua_Integer i = 0; i < steps; i++) {
        AtariStep r = g->step(state, (int)((i >> 3) % g->n_actions));
        objects += g->objects(state, o, ATARI_MAX_OBJECTS);
        if (r.done || ++len >= g->max_steps) {
            g->reset(state, (uint64_t)(seed + ++episodes));
            len = 0;
        }
    }
    lua_pushnumber(L, now() - t0);
    lua_pushinteger(L, objects);     /* also keeps the compiler from skipping objects() */
    return 2;
}

/* ---- module ------------------------------------------------------------------------ */

static int l_games(lua_State *L) {
    int n = count_games();
    const AtariGame **list = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *list, 0);
    n = sorted_games(list);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, list[i]->name);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_info(lua_State *L) {
    const AtariGame *g = check_game(L, 1);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, g->name);
    lua_setfield(L, -2, "name");
    push_actions(L, g);
    lua_setfield(L, -2, "actions");
    set_int(L, "max_steps", g->max_steps);
    return 1;
}

int hone_open_atari(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"reset", l_reset},
        {"clone", l_clone},
        {"step", l_step},
        {"objects", l_objects},
        {"observation", l_observation},
        {"score", l_score},
        {"lives", l_lives},
        {"steps", l_steps},
        {"done", l_done},
        {"actions", l_actions},
        {"name", l_name},
        {"max_steps", l_max_steps},
        {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"games", l_games},
        {"info", l_info},
        {"new", l_new},
        {"episode", l_episode},
        {"benchmark", l_benchmark},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, ENV_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
