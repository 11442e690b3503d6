/*
** llm.h - hone.llm: chat completions over HTTP (libcurl).
**
** Lua side:  hone.llm.chat(request) -> result   (never raises for network or reply faults)
** See llm.c for the request and result fields.
*/
#ifndef HONE_LLM_H
#define HONE_LLM_H

#include <lua.h>

int hone_open_llm(lua_State *L);

#endif
