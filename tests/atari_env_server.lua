-- One of hone's own engines served over the JSON-lines protocol of external environments
-- (tasks/atari/README.md): `hone lua tests/atari_env_server.lua GAME [unseeded]`. The tests
-- run it in the process sandbox and check that tasks/atari/external.lua, talking to it, sees
-- exactly what hone.atari gives directly. "unseeded" ignores the seeds asked for, as an
-- environment that cannot be replayed would.
local hone = require("hone")
local json = hone.json

local game = arg[1] or error("usage: hone lua tests/atari_env_server.lua GAME [unseeded]")
local unseeded = arg[2] == "unseeded"
local env

-- The observation as JSON text, written by hand: json.encode would cost more than the engine.
local names = setmetatable({}, { __index = function(t, k) t[k] = json.encode(k) return t[k] end })

local function observation()
  local parts = {}
  for i, o in ipairs(env:objects()) do
    parts[i] = string.format('{"category":%s,"x":%d,"y":%d,"w":%d,"h":%d,"dx":%d,"dy":%d}', names[o.category],
      o.x, o.y, o.w, o.h, o.dx, o.dy)
  end
  return string.format('{"objects":[%s],"score":%d,"lives":%d}', table.concat(parts, ","), env:score(), env:lives())
end

local handlers = {
  reset = function(req)
    env = hone.atari.new(game, unseeded and math.floor(hone.now() * 1e6) or req.seed)
    return string.format('{"observation":%s,"actions":%s,"max_steps":%d}', observation(), json.encode(env:actions()),
      env:max_steps())
  end,
  step = function(req)
    if not env then error("reset first", 0) end
    local reward, done = env:step(req.action)
    return string.format('{"observation":%s,"reward":%d,"done":%s}', observation(), reward, tostring(done))
  end,
}

io.stdout:setvbuf("full")
for line in io.lines() do
  local req = json.decode(line)
  if type(req) == "table" and req.cmd == "close" then break end
  local handler = type(req) == "table" and handlers[req.cmd]
  local ok, reply = false, "unknown request: " .. line:sub(1, 80)
  if handler then ok, reply = pcall(handler, req) end
  io.stdout:write(ok and reply or json.encode({ error = tostring(reply) }), "\n")
  io.stdout:flush()
end
