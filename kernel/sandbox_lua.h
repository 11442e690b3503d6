/*
** sandbox_lua.h - hone.sandbox.lua: run untrusted Lua in a fresh, capped lua_State.
**
** Lua side:
**   sb = hone.sandbox.lua.new{memory = bytes, instructions = n, time = seconds}
**       A new sandbox. Caps default to 64 MiB for the whole state, 10^8 instructions and
**       10 s per load or call. Closed by sb:close(), by __close and by __gc.
**   ok, err = sb:load(code [, chunkname])
**       Compiles code (text only) and runs it under the caps; true, or false, err.
**   ok, r1, ... = sb:call(fname, ...)
**       Calls the global function fname. Arguments and results are deep copies: nil,
**       booleans, numbers (integer or float), strings and tables of them, shared
**       subtables kept shared. An argument that cannot be copied (a function, userdata,
**       cycle, ...) raises here, in the caller; a result that cannot is the candidate's
**       fault and fails the call with kind "runtime". Returns true, r1, ... or false, err.
**   ok, err = hone.sandbox.lua.check(code [, chunkname])
**       Compiles only; true, or false, err with kind "syntax".
**   sb:output([clear]) -> text
**       What the candidate print()ed, at most 64 KiB, ending "...[truncated]" past that.
**   sb:stats() -> {instructions = n, memory = bytes, memory_peak = bytes, calls = n, cpu_s = s}
**       instructions counts whole steps of 1000 (the hook's period), so a tiny call adds 0.
**       cpu_s is the monotonic time spent inside loads and calls: the candidate runs on
**       hone's thread, so that is its CPU time unless the machine preempted hone (the
**       thread's CPU clock is a system call, dearer than a small call).
**
** err is {kind = "syntax"|"runtime"|"timeout"|"memory", message = one line, line = n|nil}.
** A load or call that hits a cap fails with that cap's kind even if the candidate caught
** the error. Time and instructions are checked every 1000 instructions; once over, every
** instruction raises again, so no pcall can hold on. chunkname defaults to "candidate";
** messages read "candidate:LINE: ...".
**
** The candidate sees the base library without dofile, loadfile and warn (load takes text
** only; setmetatable refuses __gc, because finalizers run with hooks off; collectgarbage
** answers "count" and ignores the rest), string without dump, table, math, utf8,
** coroutine, and os.clock, os.time, os.difftime, os.date; print writes to the output.
** A single library call that loops inside C is not interrupted by the hooks: calls known
** to loop without allocating (string.rep of "", table.move over huge ranges, table.insert
** and table.remove with a huge __len) are refused, but Lua patterns with heavy
** backtracking are not bounded.
*/
#ifndef HONE_SANDBOX_LUA_H
#define HONE_SANDBOX_LUA_H

#include <lua.h>

int hone_open_sandbox_lua(lua_State *L);

/*
** C side, for modules that call a candidate thousands of times a second (hone.atari's
** episode loop), where sb:call's deep copies would dominate:
**
**   HoneSandbox *hone_sandbox_lua_check(lua_State *L, int idx)
**       The open sandbox at idx of L; raises in L otherwise.
**   int hone_sandbox_lua_invoke(L, sb, fname, args, results, ud)
**       One call of the global fname, counted and capped exactly like sb:call (its own
**       instruction and time budget, the memory cap on the whole state). args(S, ud)
**       pushes the arguments onto the sandbox's own state S and returns how many;
**       results(S, n, ud) reads the n results at S's indices 1..n before they are dropped.
**       Both run under the sandbox's protection, so an error they raise (an allocation
**       refused by the memory cap) fails the call, never the host; they must not run
**       candidate code (use raw table access; do not convert non-strings to strings).
**       Returns 1, or 0 with an error table {kind, message, line} pushed onto L.
*/
typedef struct Sandbox HoneSandbox;
typedef int (*HoneSandboxArgs)(lua_State *S, void *ud);
typedef void (*HoneSandboxResults)(lua_State *S, int n, void *ud);

HoneSandbox *hone_sandbox_lua_check(lua_State *L, int idx);
int hone_sandbox_lua_invoke(lua_State *L, HoneSandbox *sb, const char *fname, HoneSandboxArgs args,
                            HoneSandboxResults results, void *ud);

#endif
