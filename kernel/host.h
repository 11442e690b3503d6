/*
** host.h - the Lua host: one lua_State with the `hone` module and hone's Lua path.
**
** The host owns the state. It finds hone's root (the folder holding lua/, recipes/ and
** tasks/) from $HONE_HOME or from the executable's own folder, puts root/lua on
** package.path, and preloads `hone`, a table of the kernel's capabilities:
** hone.json, hone.store, hone.llm, hone.sandbox.lua, hone.sandbox.exec, hone.atari (the
** Atari engines, tasks/atari/atari_lua.h), hone.now() (monotonic seconds), hone.isatty(fd),
** hone.version, hone.root and hone.executable (this binary's path).
*/
#ifndef HONE_HOST_H
#define HONE_HOST_H

#include <lua.h>

#define HONE_VERSION "0.1.0"

/* A new state, or NULL with a one-line reason in err. */
lua_State *hone_host_new(char *err, size_t errlen);

/* Runs require("hone.cli").main(argv) and returns the process exit code. */
int hone_host_main(lua_State *L, int argc, char **argv);

void hone_host_close(lua_State *L);

#endif
