/*
** json.h - hone.json: JSON <-> Lua values through cJSON.
**
** Lua side:
**   hone.json.encode(value [, {indent = true}]) -> string
**       Raises "json: <reason> at <path>" (path like $.a.b[3], Lua indices) for functions,
**       userdata, threads, NaN/inf, cycles, nesting deeper than 1000, keys that are neither
**       strings nor integers, keys holding a NUL byte, and tables of integer keys other than
**       1..n (sparse arrays). A table is an array when it has the array mark or is non-empty
**       with keys exactly 1..n; any other table is an object (integer keys written as decimal
**       text). Objects encode with keys sorted bytewise, so equal values give equal text (the
**       LLM cache hashes it). Integers are written exactly; floats with the fewest digits
**       that read back to the same double, always with a '.' or exponent so they decode as
**       floats.
**   hone.json.decode(text) -> value | nil, "json: <reason> at line L column C"
**       Arrays come back with the array mark, so [] round-trips. Numbers written as
**       integers that fit a Lua integer decode as integers, all others as floats. What
**       encode would refuse is refused here too: a number beyond the range of a double
**       (1e400, "number out of range") and an object key holding a NUL byte ("\u0000"). So
**       whatever decodes encodes, and decodes back equal (fuzz/json_bridge.c checks it).
**   hone.json.null          JSON null: a light userdata, equal only to itself
**   hone.json.array([t]) -> t    gives t (or a new table) the array mark; t must not
**                                already have another metatable
**   hone.json.is_array(v) -> boolean    true if v is a table that encodes as an array
** Strings are bytes, passed through (NUL bytes included).
*/
#ifndef HONE_JSON_H
#define HONE_JSON_H

#include <lua.h>
#include <cjson/cJSON.h>

int hone_open_json(lua_State *L);

/* The value at idx as a new cJSON tree owned by the caller, or NULL with the reason encode
** would raise in err. Never raises. Floats, integers from 10^15 on (cJSON's doubles, and
** its %.15g, would write 1.23456789012347e+15) and strings holding NUL bytes become cJSON_Raw
** nodes with their exact JSON text: print the tree rather than reading valuedouble or
** valuestring. */
cJSON *hone_json_from_lua(lua_State *L, int idx, char *err, size_t errlen);

/* Pushes j as a Lua value, by the rules of decode. Raw nodes holding a number push that
** number; other Raw nodes push their text as a string. j stays the caller's; raises only
** on memory errors or nesting deeper than CJSON_NESTING_LIMIT. */
void hone_json_push(lua_State *L, const cJSON *j);

/* Why cJSON stopped parsing text (len bytes) at pos, in a few words, into buf: "nesting
** deeper than 1000", "unexpected character 'x'", "unexpected byte 0xff", "unterminated
** string", "invalid escape in string", "unexpected end of input". Returns buf. */
const char *hone_json_fault(const char *text, size_t len, size_t pos, char *buf, size_t size);

#endif
