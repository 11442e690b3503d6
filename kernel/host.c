/*
** host.c - the Lua host. See host.h.
*/
#include "host.h"
#include "atari_lua.h"
#include "json.h"
#include "llm.h"
#include "sandbox_exec.h"
#include "sandbox_lua.h"
#include "store.h"

#include <lauxlib.h>
#include <lualib.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* True if dir/lua/hone is a directory: the mark of hone's root. */
static int is_root(const char *dir) {
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/lua/hone", dir) >= (int)sizeof path) return 0;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* $HONE_HOME, else the folder of /proc/self/exe. */
static int find_root(char *root, size_t len) {
    const char *home = getenv("HONE_HOME");
    if (home && *home) {
        if (!realpath(home, root) || !is_root(root)) return -1;
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = '\0';
    if (strlen(exe) + 1 > len) return -1;
    memcpy(root, exe, strlen(exe) + 1);
    return is_root(root) ? 0 : -1;
}

static void set_path(lua_State *L, const char *root) {
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua", root, root);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");   /* hone loads no C modules from disk */
    lua_pop(L, 1);
}

/* hone.now(): monotonic seconds; os.clock() is CPU time and os.time() whole seconds. */
static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* hone.isatty(fd): progress is a live line on a terminal and plain lines elsewhere. */
static int l_isatty(lua_State *L) {
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int open_hone(lua_State *L) {
    const char *root = lua_tostring(L, lua_upvalueindex(1));
    lua_newtable(L);
    hone_open_json(L);   lua_setfield(L, -2, "json");
    hone_open_store(L);  lua_setfield(L, -2, "store");
    hone_open_llm(L);    lua_setfield(L, -2, "llm");
    lua_newtable(L);
    hone_open_sandbox_lua(L); lua_setfield(L, -2, "lua");
    hone_open_sandbox_exec(L); lua_setfield(L, -2, "exec");
    lua_setfield(L, -2, "sandbox");
    hone_open_atari(L);  lua_setfield(L, -2, "atari");
    lua_pushcfunction(L, l_now);      lua_setfield(L, -2, "now");
    lua_pushcfunction(L, l_isatty);   lua_setfield(L, -2, "isatty");
    lua_pushliteral(L, HONE_VERSION); lua_setfield(L, -2, "version");
    lua_pushstring(L, root);          lua_setfield(L, -2, "root");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {   /* a sweep starts more of itself: the same binary, sanitized or not */
        lua_pushlstring(L, exe, (size_t)n);
        lua_setfield(L, -2, "executable");
    }
    return 1;
}

lua_State *hone_host_new(char *err, size_t errlen) {
    char root[PATH_MAX];
    if (find_root(root, sizeof root) != 0) {
        snprintf(err, errlen, "cannot find hone's lua/ folder (set HONE_HOME to hone's root)");
        return NULL;
    }
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "out of memory creating the Lua state");
        return NULL;
    }
    luaL_openlibs(L);
    set_path(L, root);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushstring(L, root);
    lua_pushcclosure(L, open_hone, 1);
    lua_setfield(L, -2, "hone");
    lua_pop(L, 1);
    return L;
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int cli_main(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "hone.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_call(L, 1, 1);
    return 1;
}

int hone_host_main(lua_State *L, int argc, char **argv) {
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, cli_main);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    if (lua_pcall(L, 2, 1, -4) != LUA_OK) {
        /* hone.cli reports expected errors itself; this is a bug in hone, so show where. */
        fprintf(stderr, "hone: internal error: %s\n", lua_tostring(L, -1));
        lua_pop(L, 2);
        return 70;
    }
    int code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    lua_pop(L, 2);
    return code;
}

void hone_host_close(lua_State *L) {
    if (L) lua_close(L);
}
