/*
** fuzz/json_bridge.c - libFuzzer target: hone.json (kernel/json.c) on arbitrary bytes.
**
** decode must return a value, or nil and one line "json: <reason> at line L column C". A
** value that decodes must encode (hone never holds a decoded value it cannot write back),
** and decoding that text again must give an equal value: same types (integer or float, the
** array mark), same bytes, same numbers; encoding the second value must give the very same
** text (encode is canonical).
*/
#include "json.h"

#include <lauxlib.h>
#include <lualib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static lua_State *L;
static int checker_ref;

static const char checker[] =
    "local json = ...\n"
    "local function equal(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then return math.type(a) == math.type(b) and a == b end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  if json.is_array(a) ~= json.is_array(b) then return false end\n"
    "  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local function finding(data, what) error('finding: ' .. what .. '\\ninput: ' .. string.format('%q', data), 0) end\n"
    "return function(data)\n"
    "  local v, err = json.decode(data)\n"
    "  if v == nil then\n"
    "    if type(err) ~= 'string' or not err:find('^json: [^\\n]+ at line %d+ column %d+$') then\n"
    "      finding(data, 'decode failed without a proper reason: ' .. tostring(err))\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  local ok, text = pcall(json.encode, v)\n"
    "  if not ok then finding(data, 'a decoded value does not encode: ' .. tostring(text)) end\n"
    "  local w, err2 = json.decode(text)\n"
    "  if w == nil then finding(data, 'encoded text does not decode: ' .. tostring(err2) .. '\\ntext: ' .. text) end\n"
    "  if not equal(v, w) then finding(data, 'the round trip changed the value; text: ' .. text) end\n"
    "  local again = json.encode(w)\n"
    "  if again ~= text then finding(data, 'encode is not canonical: ' .. text .. ' then ' .. again) end\n"
    "end\n";

static void die(const char *what) {
    fprintf(stderr, "json_bridge: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (!(L = luaL_newstate())) die("out of memory");
    luaL_openlibs(L);
    if (luaL_loadbuffer(L, checker, sizeof checker - 1, "=json_checker") != LUA_OK) die(lua_tostring(L, -1));
    hone_open_json(L);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
    checker_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, checker_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) die(lua_tostring(L, -1));
    if (lua_gettop(L) != 0) die("the stack grew");
    return 0;
}
