/*
** json.h - hone.json: JSON <-> Lua values through cJSON.
**
** Lua side:  hone.json.encode(value [, {indent = true}]) -> string   (raises on bad input)
**            hone.json.decode(text) -> value | nil, "json: <reason> at line L column C"
**            hone.json.null          sentinel for JSON null
**            hone.json.array(t)      marks t so that it encodes as an array even when empty
** Objects encode with sorted keys, so equal values give equal text (the LLM cache hashes it).
** Arrays decode with the array mark, so [] round-trips.
*/
#ifndef HONE_JSON_H
#define HONE_JSON_H

#include <lua.h>
#include <cjson/cJSON.h>

int hone_open_json(lua_State *L);

/* The value at idx as a new cJSON tree owned by the caller, or NULL with a reason. */
cJSON *hone_json_from_lua(lua_State *L, int idx, char *err, size_t errlen);

/* Pushes j as a Lua value. */
void hone_json_push(lua_State *L, const cJSON *j);

#endif
