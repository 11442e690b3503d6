-- The Lua specs of Asterix, Enduro, Q*bert and Seaquest (tasks/atari/games/*.lua): their shape, and that the
-- starting artifacts and the reference policies compile and answer with an action name in a sandbox-like
-- environment. Playing the games needs the engine binding; tests/atari_engines_b.c plays the C mirror of
-- each reference policy against random play.
local GAMES = {
  asterix = { "NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT" },
  enduro = { "NOOP", "FIRE", "RIGHT", "LEFT", "DOWN", "DOWNRIGHT", "DOWNLEFT", "RIGHTFIRE", "LEFTFIRE" },
  qbert = { "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN" },
  seaquest = { "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE" },
}

-- One plausible observation per game: the player and a few objects around it.
local function object(category, x, y, w, h, dx)
  return { category = category, x = x, y = y, w = w, h = h, dx = dx or 0, dy = 0 }
end
local SCENES = {
  asterix = { object("Player", 76, 91, 8, 11), object("Enemy", 60, 91, 8, 11, 4),
    object("Reward", 120, 75, 8, 11, -4) },
  enduro = { object("Player", 72, 144, 16, 11), object("Car", 77, 100, 6, 4), object("Car", 110, 140, 16, 11) },
  qbert = { object("Player", 76, 20, 8, 12), object("Cube", 70, 32, 20, 8), object("Cube", 60, 56, 20, 8),
    object("ColoredCube", 80, 56, 20, 8), object("RedBall", 66, 48, 8, 8), object("Disk", 34, 80, 12, 4) },
  seaquest = { object("Player", 76, 93, 16, 11), object("Shark", 20, 95, 8, 7, 4),
    object("Diver", 130, 117, 8, 11, -2), object("EnemyMissile", 140, 146, 8, 2, -12),
    object("OxygenBar", 49, 170, 40, 5), object("CollectedDiver", 58, 178, 8, 9) },
}

-- What the artifact sandbox offers: the base library's pure functions, string, table, math, utf8.
local function sandbox_env()
  local env = { ipairs = ipairs, pairs = pairs, next = next, select = select, type = type, tostring = tostring,
    tonumber = tonumber, error = error, assert = assert, pcall = pcall, rawequal = rawequal, rawget = rawget,
    rawlen = rawlen, rawset = rawset, setmetatable = setmetatable, getmetatable = getmetatable,
    string = string, table = table, math = math, utf8 = utf8 }
  env._G = env
  return env
end

-- Runs source in a fresh environment and returns the environment (its globals).
local function run(t, source, what)
  local env = sandbox_env()
  local chunk, err = load(source, "=" .. what, "t", env)
  t.ok(chunk, what .. " compiles: " .. tostring(err))
  chunk()
  return env
end

local function answers(t, env, game, what)
  local actions = GAMES[game]
  local obs = { objects = SCENES[game], score = 0, lives = 3, step = 0, actions = actions }
  local a = env.select_action(obs)
  local known = false
  for _, name in ipairs(actions) do known = known or name == a end
  t.ok(known, string.format("%s %s returns an action name (got %s)", game, what, tostring(a)))
  -- and on an empty screen (the player may be off screen for a moment)
  a = env.select_action({ objects = {}, score = 0, lives = 1, step = 1, actions = actions })
  known = false
  for _, name in ipairs(actions) do known = known or name == a end
  t.ok(known, string.format("%s %s copes with no objects (got %s)", game, what, tostring(a)))
end

local cases = {}
for game in pairs(GAMES) do
  cases[game .. ": spec has the paper's shape"] = function(t)
    local s = dofile("tasks/atari/games/" .. game .. ".lua")
    t.eq(s.name, game, "name")
    t.ok(math.type(s.horizon) == "integer" and s.horizon > 0, "horizon")
    t.ok(math.type(s.steps) == "integer" and s.steps > 0, "steps")
    t.ok(s.evaluation.episodes >= 1 and s.evaluation.max_steps >= 1000, "evaluation")
    t.ok(type(s.target) == "number", "target")
    t.eq(#s.bands, 3, "three bands")
    t.ok(s.bands[1].below < s.bands[2].below and s.bands[3].below == nil, "bands rise, the last is open")
    for _, b in ipairs(s.bands) do t.ok(type(b.text) == "string" and #b.text > 40, "band text") end
    t.ok(type(s.instruction) == "string" and #s.instruction > 500, "instruction")
    for _, name in ipairs(GAMES[game]) do t.ok(s.instruction:find('"' .. name .. '"', 1, true), "action " .. name) end
    t.eq(s.entry, "select_action", "entry")
    t.eq(s.artifact.language, "lua", "artifact language")
    t.eq(#s.artifact.blocks, 2, "two blocks")
    t.eq(s.artifact.blocks[1].name, "analyze_situation", "first block")
    t.eq(s.artifact.blocks[2].name, "select_action", "last block is the entry")
    for _, b in ipairs(s.artifact.blocks) do
      t.ok(b.editable == true and #b.doc > 20, b.name .. " is editable and documented")
      t.ok(b.code:find("^function " .. b.name .. "%(obs%)"), b.name .. " keeps its signature")
    end
  end
  cases[game .. ": starting artifact runs"] = function(t)
    local s = dofile("tasks/atari/games/" .. game .. ".lua")
    local parts = {}
    for _, b in ipairs(s.artifact.blocks) do parts[#parts + 1] = b.code end
    answers(t, run(t, table.concat(parts, "\n\n"), game .. " artifact"), game, "starting artifact")
  end
  cases[game .. ": reference runs"] = function(t)
    local s = dofile("tasks/atari/games/" .. game .. ".lua")
    local env = run(t, s.reference, game .. " reference")
    t.ok(type(env.analyze_situation) == "function", "reference defines analyze_situation")
    answers(t, env, game, "reference")
  end
end

return cases
