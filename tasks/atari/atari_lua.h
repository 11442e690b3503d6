/*
** atari_lua.h - hone.atari: the object-level Atari engines (game.h) seen from Lua.
**
** Lua side:
**   hone.atari.games() -> {"breakout", "freeway", ...}
**       The names of the linked games, sorted.
**   hone.atari.info(name) -> {name = s, actions = {"NOOP", ...}, max_steps = n}
**   env = hone.atari.new(name [, seed])
**       A new environment, reset with seed (an integer, default 0). An unknown name
**       raises "atari: unknown game 'x' (games: a, b, ...)".
**   env:reset([seed])           starts a new episode (default: the seed of the last reset)
**   env:clone() -> env          an independent copy of the episode as it stands: the same
**                               actions from here give the same trace in both
**   env:step(action) -> reward, done
**       action is a name from env:actions(); anything else raises "atari: pong has no action
**       'X' (actions: NOOP, FIRE, ...)". Stepping a finished episode raises.
**   env:objects() -> { {category = s, x = n, y = n, w = n, h = n, dx = n, dy = n}, ... }
**   env:observation() -> {objects = ..., score = n, lives = n, step = n, actions = {...}}
**       Exactly what a policy receives each step (see episode below).
**   env:score(), env:lives(), env:steps(), env:done(), env:actions(), env:name(),
**   env:max_steps()
**
**   result = hone.atari.episode(env, sb, entry, max_steps [, opts])
**       Plays env from its current state with the policy in sandbox sb (hone.sandbox.lua):
**       each step calls the global `entry` as entry(obs), obs built directly in the
**       sandbox's state (fresh tables every step, so a policy may keep old ones), under the
**       sandbox's caps for every call. The policy returns an action name; anything else
**       (an unknown name, a non-string, nothing) plays NOOP and is counted. Runs until
**       the episode is done, max_steps steps were played by this call, the policy fails, or
**       opts.time seconds (wall clock, checked before each step) have passed.
**       opts: seed = n (reset with it first), horizon = H (keep a trace of the last H steps),
**             trace_objects = false (leave objects out of the trace), time = seconds.
**       result: {score, lives, steps (played by this call), done, reward_total,
**                invalid_actions = n, first_invalid = {step, value} | nil,
**                action_counts = {NAME = n, ...},
**                error = nil | {kind, message, line, step}   -- kind as in sandbox_lua.h,
**                                                               or "timeout" for opts.time
**                trace = nil | { {step, action, reward, score, lives, invalid, objects}, ... }}
**       trace entries are oldest first; objects is what the policy saw when choosing the
**       action; step is the env's step count before the action (0-based).
**   seconds = hone.atari.benchmark(name, steps [, seed])
**       Runs the engine alone (step + objects, a fixed cycling action pattern, reset on
**       done) for steps steps and returns the wall time, for `make bench`.
**
** The binding counts steps and ends the episode at the game's max_steps, whatever the
** engine says, so no episode runs forever.
*/
#ifndef HONE_ATARI_LUA_H
#define HONE_ATARI_LUA_H

#include "game.h"

#include <lua.h>

/* The linked games, NULL-terminated (tasks/atari/games.c). */
extern const AtariGame *const atari_games[];

int hone_open_atari(lua_State *L);

#endif
