-- External Atari environments: a program that speaks the JSON-lines protocol of
-- tasks/atari/README.md ("External environments: the JSON-lines protocol") on its stdin and
-- stdout, e.g. a user's Python ALE + OCAtari (ocatari_bridge.py), run in the process sandbox
-- (hone.sandbox.exec.spawn). An env here has the methods the Atari task uses from hone.atari
-- envs, and M.episode plays a policy on it as hone.atari.episode does on hone's own engines.
--
--   env = external.open{command = {argv...}, name = "pong", files = ..., readable = ...,
--                       env = ..., time = s, memory = bytes, timeout = s}
--       Starts the program (files, readable, env, time, memory: as for hone.sandbox.exec;
--       time is its whole life, default a day; memory defaults to 8 GiB of address space,
--       since Python with numpy reserves a lot of it); timeout caps the wait for each reply
--       (60 s). Nothing is asked of the program before the first reset.
--   env:reset([seed]), env:step(action) -> reward, done, env:observation(), env:objects(),
--   env:score(), env:lives(), env:steps(), env:done(), env:actions(), env:name(),
--   env:max_steps() (nil when the program gives none), env:close() -> the sandbox's result
--       As hone.atari's: step refuses an action the env did not list, and a finished episode;
--       hone counts the steps and ends the episode at max_steps, whatever the program says.
--   result = external.episode(env, sb, entry, max_steps [, opts])
--       hone.atari.episode's loop in Lua, the same opts (seed, horizon, trace_objects, time)
--       and the same result; opts.record = list also appends every action played to it.
--
-- Whatever goes wrong with the program (it dies, hangs, says {"error": ...}, replies with
-- something that is not the protocol) raises an error object, one line,
-- "external env pong: step: reply.reward must be a number, not a string", and closes the
-- env; external.is_error tells it from other errors.
local hone = require("hone")
local json = hone.json

local M = {}

M.TIME = 86400                  -- s: the program's whole life (the training episode spans a run)
M.MEMORY = 8 * 1024 ^ 3         -- bytes of address space
M.TIMEOUT = 60                  -- s to wait for one reply
local EXCERPT = 80              -- bytes of a bad reply quoted in the error

-- Threads a numeric library would start per core count against the sandbox's process cap;
-- a bridge that forgets to flush still answers line by line.
local QUIET_ENV = { OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1",
                    PYTHONUNBUFFERED = "1" }

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.message end

function M.is_error(e) return getmetatable(e) == Error end

-- Raises message (one line) as an environment error.
function M.fail(message)
  error(setmetatable({ message = (tostring(message):gsub("%c", " ")) }, Error), 0)
end

local Env = {}
Env.__index = Env

function M.is_env(v) return getmetatable(v) == Env end

-- "python3 /x/bridge.py 'space invaders'" -> {"python3", "/x/bridge.py", "space invaders"}:
-- words split at blanks, quotes '...' and "..." keep blanks, backslash escapes outside '...'.
function M.words(text)
  local words, word, quote, i = {}, nil, nil, 1
  while i <= #text do
    local c = text:sub(i, i)
    if quote == "'" then
      if c == "'" then quote = nil else word = word .. c end
    elseif c == "\\" and i < #text then
      i = i + 1
      word = (word or "") .. text:sub(i, i)
    elseif quote == '"' then
      if c == '"' then quote = nil else word = word .. c end
    elseif c == "'" or c == '"' then
      quote, word = c, word or ""
    elseif c:match("%s") then
      if word then words[#words + 1], word = word, nil end
    else
      word = (word or "") .. c
    end
    i = i + 1
  end
  if quote then M.fail(string.format("external env: the command has an unbalanced %s: %s", quote, text)) end
  if word then words[#words + 1] = word end
  return words
end

-- Ends the conversation (the stream may be out of step) and raises the env's error.
local function broken(env, cmd, fmt, ...)
  local message = string.format("external env %s: %s: " .. fmt, env.label, cmd, ...)
  env:close(0)
  M.fail(message)
end

local function excerpt(line)
  local s = line:sub(1, EXCERPT):gsub("%c", "?")
  return "'" .. s .. (#line > EXCERPT and "...'" or "'")
end

local function what(v)
  if v == nil then return "missing" end
  if v == json.null then return "null" end
  if type(v) == "table" then return json.is_array(v) and "a list" or "an object" end
  return "a " .. type(v)
end

-- JSON numbers written as 3.0 (Python's floats) are 3 here, as hone's engines give them.
local function integral(v)
  return math.type(v) == "float" and math.tointeger(v) or v
end

-- v, a number; string.format(path, ...) names it in the error (built only then).
local function number(env, cmd, v, path, ...)
  if type(v) ~= "number" then broken(env, cmd, "%s must be a number, not %s", path:format(...), what(v)) end
  return integral(v)
end

local OBJECT_NUMBERS = { "x", "y", "w", "h", "dx", "dy" }

-- The reply's observation, checked field by field, as the env keeps it.
local function observation(env, cmd, obs)
  if type(obs) ~= "table" or json.is_array(obs) then
    broken(env, cmd, "reply.observation must be an object, not %s", what(obs))
  end
  local list = obs.objects
  if type(list) ~= "table" or (next(list) ~= nil and not json.is_array(list)) then
    broken(env, cmd, "observation.objects must be a list, not %s", what(list))
  end
  for i, o in ipairs(list) do
    if type(o) ~= "table" or json.is_array(o) then
      broken(env, cmd, "observation.objects[%d] must be an object, not %s", i, what(o))
    end
    if type(o.category) ~= "string" then
      broken(env, cmd, "observation.objects[%d].category must be a string, not %s", i, what(o.category))
    end
    for _, k in ipairs(OBJECT_NUMBERS) do o[k] = number(env, cmd, o[k], "observation.objects[%d].%s", i, k) end
  end
  return { objects = list, score = number(env, cmd, obs.score, "observation.score"),
           lives = number(env, cmd, obs.lives, "observation.lives") }
end

-- Sends one request and returns its reply, a JSON object that is not an error.
local function request(env, cmd, msg)
  if not env.proc then broken(env, cmd, "the environment is closed") end
  local ok, why = env.proc:send(json.encode(msg) .. "\n")
  if not ok then broken(env, cmd, "%s", why) end
  local line, err = env.proc:receive(env.timeout)
  if not line then
    if err:match("^no line within") then broken(env, cmd, "no reply within %g s", env.timeout) end
    broken(env, cmd, "%s", err)
  end
  local reply, jerr = json.decode(line)
  if reply == nil then broken(env, cmd, "the reply is not JSON (%s): %s", jerr, excerpt(line)) end
  if type(reply) ~= "table" or json.is_array(reply) then
    broken(env, cmd, "the reply is not a JSON object: %s", excerpt(line))
  end
  if reply.error ~= nil and reply.error ~= json.null then
    broken(env, cmd, "the environment reports an error: %s", tostring(reply.error))
  end
  return reply
end

function M.open(o)
  assert(type(o) == "table" and type(o.command) == "table" and #o.command > 0,
    "external.open: command must be a non-empty list of strings")
  local env = setmetatable({ label = o.name or o.command[1], game = o.name or "external",
                             timeout = o.timeout or M.TIMEOUT, steps_ = 0, done_ = false, seed = 0 }, Env)
  local vars = {}
  for k, v in pairs(QUIET_ENV) do vars[k] = v end
  for k, v in pairs(o.env or {}) do vars[k] = v end
  local ok, proc = pcall(hone.sandbox.exec.spawn, { argv = o.command, files = o.files, readable = o.readable,
    env = vars, time = o.time or M.TIME, memory = o.memory or M.MEMORY })
  if not ok then broken(env, "start", "%s", proc) end
  env.proc = proc
  return env
end

function Env:reset(seed)
  seed = seed or self.seed
  if math.type(seed) ~= "integer" then error("external env: reset takes an integer seed", 2) end
  local reply = request(self, "reset", { cmd = "reset", seed = seed })
  local obs = observation(self, "reset", reply.observation)
  local actions = reply.actions
  if type(actions) ~= "table" or #actions == 0 or not json.is_array(actions) then
    broken(self, "reset", "reply.actions must be a non-empty list of action names, not %s", what(actions))
  end
  local index = {}
  for i, a in ipairs(actions) do
    if type(a) ~= "string" then broken(self, "reset", "reply.actions[%d] must be a string, not %s", i, what(a)) end
    index[a] = i
  end
  local max = reply.max_steps
  if max ~= nil and not (math.tointeger(max) and max > 0) then
    broken(self, "reset", "reply.max_steps must be a positive integer, not %s", what(max))
  end
  self.seed, self.obs, self.actions_, self.index = seed, obs, actions, index
  self.max, self.steps_, self.done_ = max and math.tointeger(max), 0, false
end

function Env:step(action)
  if not self.index then error("external env: reset it before stepping", 2) end
  if not self.index[action] then
    error(string.format("external env: %s has no action '%s' (actions: %s)", self.game, tostring(action),
      table.concat(self.actions_, ", ")), 2)
  end
  if self.done_ then error("external env: the episode is over (reset the env)", 2) end
  local reply = request(self, "step", { cmd = "step", action = action })
  local obs = observation(self, "step", reply.observation)
  local reward = number(self, "step", reply.reward, "reply.reward")
  if type(reply.done) ~= "boolean" then
    broken(self, "step", "reply.done must be a boolean, not %s", what(reply.done))
  end
  self.obs, self.steps_ = obs, self.steps_ + 1
  self.done_ = reply.done or (self.max ~= nil and self.steps_ >= self.max)
  return reward, self.done_
end

local function copy_objects(list)
  local out = {}
  for i, o in ipairs(list) do
    out[i] = { category = o.category, x = o.x, y = o.y, w = o.w, h = o.h, dx = o.dx, dy = o.dy }
  end
  return out
end

local function current(env)
  if not env.obs then error("external env: reset it first", 3) end
  return env.obs
end

function Env:objects() return copy_objects(current(self).objects) end
function Env:score() return current(self).score end
function Env:lives() return current(self).lives end
function Env:steps() return self.steps_ end
function Env:done() return self.done_ end
function Env:name() return self.game end
function Env:max_steps() return self.max end
function Env:actions()
  current(self)
  return table.move(self.actions_, 1, #self.actions_, 1, {})
end

-- What a policy receives each step, as hone.atari's env:observation().
function Env:observation()
  local obs = current(self)
  return { objects = copy_objects(obs.objects), score = obs.score, lives = obs.lives, step = self.steps_,
           actions = self:actions() }
end

-- Asks the program to end, then closes its sandbox; the result, or nil if already closed.
function Env:close(grace)
  local proc = self.proc
  if not proc then return nil end
  self.proc = nil
  if grace ~= 0 then proc:send(json.encode({ cmd = "close" }) .. "\n") end
  return proc:close(grace or 2)
end

Env.__close = Env.close
Env.__tostring = function(e)
  return string.format("external env %s (step %d%s)", e.label, e.steps_, e.done_ and ", done" or "")
end

-- ---- the episode loop ------------------------------------------------------------------

local VALUE_CAP = 48    -- an invalid action as quoted in the result, as hone.atari.episode

-- How the result quotes what a policy returned instead of an action (as atari_lua.c).
local function describe(n, v)
  if n == 0 then return "nothing" end
  if type(v) == "string" then
    return string.format('"%s%s"', v:sub(1, VALUE_CAP), #v > VALUE_CAP and "..." or "")
  end
  if math.type(v) == "integer" then return "the number " .. v end
  if type(v) == "number" then return string.format("the number %.14g", v) end
  return "a " .. type(v) .. " value"
end

-- hone.atari.episode for an external env: each step the observation goes to the policy by
-- sb:call (a deep copy), and the action it returns to the program. An action the env did not
-- list plays the first one (NOOP in ALE's action sets) and is counted.
function M.episode(env, sb, entry, max_steps, opts)
  opts = opts or {}
  if opts.seed ~= nil then env:reset(opts.seed) end
  local horizon, with_objects = opts.horizon or 0, opts.trace_objects ~= false
  local deadline = opts.time and hone.now() + opts.time
  local actions = env.actions_
  local counts = {}
  for _, a in ipairs(actions) do counts[a] = 0 end
  local r = { steps = 0, reward_total = 0, invalid_actions = 0, action_counts = counts }
  local ring, count = {}, 0
  while not env.done_ and r.steps < max_steps do
    if deadline and hone.now() >= deadline then
      r.error = { kind = "timeout", message = string.format("episode time limit exceeded (%.14g s)", opts.time),
                  step = env.steps_ }
      break
    end
    local obs = env.obs
    local policy_obs = { objects = obs.objects, score = obs.score, lives = obs.lives, step = env.steps_,
                         actions = actions }
    local out = table.pack(sb:call(entry, policy_obs))
    if not out[1] then
      out[2].step = env.steps_
      r.error = out[2]
      break
    end
    local action, invalid = out[2], nil
    if not (type(action) == "string" and env.index[action]) then
      r.invalid_actions = r.invalid_actions + 1
      if r.invalid_actions == 1 then
        r.first_invalid = { step = env.steps_, value = describe(out.n - 1, action) }
      end
      action, invalid = actions[1], true
    end
    local step = env.steps_
    local reward = env:step(action)
    if opts.record then opts.record[#opts.record + 1] = action end
    counts[action] = counts[action] + 1
    r.reward_total = r.reward_total + reward
    r.steps = r.steps + 1
    if horizon > 0 then
      count = count + 1
      ring[(count - 1) % horizon + 1] = { step = step, action = action, reward = reward, score = env.obs.score,
        lives = env.obs.lives, invalid = invalid, objects = with_objects and obs.objects or nil }
    end
  end
  r.score, r.lives, r.done = env.obs.score, env.obs.lives, env.done_
  if horizon > 0 then
    local trace, n = {}, math.min(count, horizon)
    for i = 1, n do trace[i] = ring[(count - n + i - 1) % horizon + 1] end
    r.trace = trace
  end
  return r
end

return M
