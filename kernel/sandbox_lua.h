/*
** sandbox_lua.h - hone.sandbox.lua: run untrusted Lua in a fresh, capped lua_State.
**
** See sandbox_lua.c for the Lua-side contract.
*/
#ifndef HONE_SANDBOX_LUA_H
#define HONE_SANDBOX_LUA_H

#include <lua.h>

int hone_open_sandbox_lua(lua_State *L);

#endif
