/*
** fuzz/proposal.c - libFuzzer target: the proposal parser, require("hone.optimizer").parse, on
** arbitrary LLM replies (tolerant JSON extraction, unfencing, per-block checks through
** hone.sandbox.lua.check), against a fixed artifact with a Lua function, a Python function,
** a prompt that must keep "{question}" and a fixed block.
**
** One hone host state (kernel/host.h) serves every input; hone's root is $HONE_HOME, else
** the source tree this target was built from. parse must never raise; it returns either
** changes (editable block -> new code that passes the artifact's check and differs from the
** old) and a reasoning string, or nil and one line (no control characters, at most 1000
** bytes) fit to be fed back to the LLM. The Lua heap after a full collection must not grow
** from input to input.
**
** libFuzzer sees the coverage of hone's C code; the Lua code's is given to it through a line
** hook that counts (chunk, line) pairs in extra counters.
*/
#include "host.h"

#include <lauxlib.h>
#include <lua.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef HONE_FUZZ_ROOT
#error "HONE_FUZZ_ROOT (hone's source root) must be defined; the Makefile does"
#endif

#define LINE_COUNTERS 8192
#define HEAP_SLACK_KB 4096.0   /* growth past the first inputs' heap that counts as a leak */

__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_lines[LINE_COUNTERS];

static lua_State *L;
static int checker_ref;
static double heap_base_kb;
static unsigned long inputs;

/* The checker: parse one reply and hold the result to parse's contract. Raises "finding: ..." */
static const char checker[] =
    "local optimizer = require('hone.optimizer')\n"
    "local artifact = require('hone.artifact').new{ blocks = {\n"
    "  { name = 'helper', code = 'local K = 3', editable = false },\n"
    "  { name = 'step', code = 'function step(state, k)\\n  return state + k\\nend', doc = 'one step' },\n"
    "  { name = 'score', language = 'python', code = 'def score(a, b):\\n    return a - b' },\n"
    "  { name = 'prompt', language = 'text', code = 'Answer: {question}', must_contain = { '{question}' } },\n"
    "} }\n"
    "local function finding(text, what) error('finding: ' .. what .. '\\ninput: ' .. string.format('%q', text), 0) end\n"
    "return function(text)\n"
    "  local ok, changes, reasoning = pcall(optimizer.parse, text, artifact)\n"
    "  if not ok then finding(text, 'parse raised: ' .. tostring(changes)) end\n"
    "  if changes == nil then\n"
    "    if type(reasoning) ~= 'string' or reasoning == '' then finding(text, 'no reason') end\n"
    "    if reasoning:find('[%c]') then finding(text, 'reason is not one line: ' .. string.format('%q', reasoning)) end\n"
    "    if #reasoning > 1000 then finding(text, 'reason longer than 1000 bytes') end\n"
    "    return\n"
    "  end\n"
    "  if type(changes) ~= 'table' or next(changes) == nil then finding(text, 'changes are not a non-empty table') end\n"
    "  if type(reasoning) ~= 'string' then finding(text, 'reasoning is not a string') end\n"
    "  for name, code in pairs(changes) do\n"
    "    local b = type(name) == 'string' and artifact:block(name)\n"
    "    if not b or not b.editable then finding(text, 'change to a block that is not editable') end\n"
    "    if type(code) ~= 'string' or code == b.code then finding(text, 'change is not new code') end\n"
    "    if not artifact:check(name, code) then finding(text, 'change fails the artifact check') end\n"
    "  end\n"
    "end\n";

static void on_line(lua_State *S, lua_Debug *ar) {
    if (!lua_getinfo(S, "S", ar)) return;
    uintptr_t h = (uintptr_t)ar->source * 2654435761u + (uintptr_t)ar->currentline * 40503u;
    lua_lines[(h >> 4) % LINE_COUNTERS]++;
}

static void die(const char *what) {
    fprintf(stderr, "proposal: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char err[256];
    setenv("HONE_HOME", HONE_FUZZ_ROOT, 0);
    if (!(L = hone_host_new(err, sizeof err))) die(err);
    if (luaL_loadbuffer(L, checker, sizeof checker - 1, "=proposal_checker") != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK)
        die(lua_tostring(L, -1));
    checker_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_sethook(L, on_line, LUA_MASKLINE, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, checker_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) die(lua_tostring(L, -1));
    /* Leaks in Lua: what a full collection leaves must not keep growing. */
    if (++inputs % 64 == 0) {
        lua_gc(L, LUA_GCCOLLECT);
        double kb = lua_gc(L, LUA_GCCOUNT) + lua_gc(L, LUA_GCCOUNTB) / 1024.0;
        if (inputs == 64) heap_base_kb = kb;
        else if (kb > heap_base_kb + HEAP_SLACK_KB) die("the Lua heap keeps growing (a leak in Lua)");
    }
    return 0;
}
