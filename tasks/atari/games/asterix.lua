-- Asterix (engine: tasks/atari/asterix.c; rules: tasks/atari/README.md, ## Asterix).
-- The paper's protocol: multi-step horizon 100, 30 optimization steps, evaluation 3 x 20000.
local M = {}

M.name = "asterix"
M.horizon = 100
M.steps = 30
M.evaluation = { episodes = 3, max_steps = 20000 }
M.target = 10000   -- about the human score in ALE (8503)

M.bands = {
  { below = 500, text = "The score is about what random play gets: Asterix dies to the lyres within a few hundred " ..
    "steps. Make select_action leave the lane (UP/DOWN) or walk away when an Enemy in the player's lane is " ..
    "coming toward the player (look at its dx), and only then walk toward rewards." },
  { below = 5000, text = "Asterix survives for a while and collects rewards, but lyres still cost lives. Predict " ..
    "where each Enemy will be over the next steps (x + dx * t, for the lane it is in) and never stay in or " ..
    "step into a lane where one will overlap the player; between threats go for the nearest Reward." },
  { text = "Strong play. Objects drift faster after every 50 collected rewards: look further ahead when enemies " ..
    "are fast, and prefer rewards whose lane is free of lyres." },
}

M.instruction = [[
You write the policy of an agent playing Atari Asterix, given the game's objects (OCAtari style) at every step.

The game: eight horizontal lanes cross the screen. In each lane at most one object drifts left or right across
the whole screen: either a collectible ("Reward": cauldrons, later helmets, shields, lamps, apples, fish, ...)
or a deadly lyre ("Enemy"). Asterix walks left and right and steps one lane up or down. Touching a Reward scores
it (50 points at first; the kind and its value change after every 50 collected, up to 500, and objects get
faster). Touching a lyre costs a life; there are 3 lives (bonus lives at 10,000, 30,000, 50,000, 80,000,
110,000 points and every 40,000 after). The episode ends when no life is left.

Observation `obs`: obs.objects is a list of objects {category=, x=, y=, w=, h=, dx=, dy=} in the 160x210 Atari
frame (x to the right, y down, x/y the top-left corner, pixels); dx/dy is the movement since the previous step
(0/0 for an object that just appeared). Categories: "Player" (8x11), "Enemy" (a lyre, 8x11), "Reward" (8x11).
Objects entering or leaving at the screen edge are cut to the visible part. obs.score, obs.lives, obs.step, and
obs.actions (the action names) are given too.
Geometry: lane k (k = 0..7, top to bottom) has y = 27 + 16 * k; an object's lane is (y - 19) // 16. The player's
x stays in 8..144. One step is 4 frames: the player walks 8 px per step (2 px per frame), and a lane change
takes one step. Objects move 4 px per step at first, up to 20 px per step later.

Actions (return one name): "NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT".
Goal: the highest score: collect as many rewards as possible and never touch a lyre.
]]

M.entry = "select_action"

M.artifact = { language = "lua", blocks = {
  { name = "analyze_situation", editable = true,
    doc = "analyze_situation(obs) -> table. Reads obs.objects (see the instruction) and returns whatever " ..
      "select_action needs, e.g. the player, lanes in danger, the best reward to go for.",
    code = [[
function analyze_situation(obs)
  local s = { player = nil, enemies = {}, rewards = {} }
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then
      s.player = o
    elseif o.category == "Enemy" then
      s.enemies[#s.enemies + 1] = o
    elseif o.category == "Reward" then
      s.rewards[#s.rewards + 1] = o
    end
  end
  return s
end]] },
  { name = "select_action", editable = true,
    doc = "select_action(obs) -> string. Called every step with the observation; returns one action name " ..
      "from obs.actions. May call analyze_situation(obs).",
    code = [[
function select_action(obs)
  local s = analyze_situation(obs)
  if not s.player then return "NOOP" end
  -- walk toward the first reward on screen, whatever its lane; lyres are ignored
  local r = s.rewards[1]
  if r and r.x > s.player.x then return "RIGHT" end
  if r and r.x < s.player.x then return "LEFT" end
  return "NOOP"
end]] },
} }

-- A hand-written policy, mirrored by asterix_reference in tests/atari_engines_b.c: try every action,
-- reject those that bring a lyre within 6 px over the next two steps, and among the safe ones go for the
-- reward nearest in lanes and pixels.
M.reference = [[
local function lane_of(y) return (y - 27 + 8) // 16 end

local function clamp(v, lo, hi) return math.max(lo, math.min(hi, v)) end

-- gap between the intervals [a0, a1) and [b0, b1); 0 when they overlap
local function gap(a0, a1, b0, b1)
  if a1 <= b0 then return b0 - a1 end
  if b1 <= a0 then return a0 - b1 end
  return 0
end

-- how close the lyres of a lane come to a player at x over the next steps (big = safe)
local function clearance(s, lane, x, steps)
  local best = 1000
  for _, o in ipairs(s.enemies) do
    if lane_of(o.y) == lane then
      local to = o.x + o.dx * steps
      local x0, x1 = math.min(o.x, to), math.max(o.x, to) + o.w
      if o.dx == 0 then x0, x1 = x0 - 16, x1 + 16 end -- just appeared: direction unknown
      best = math.min(best, gap(x, x + 8, x0, x1))
    end
  end
  return best
end

function analyze_situation(obs)
  local s = { player = nil, enemies = {}, rewards = {} }
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then
      s.player = s.player or o
    elseif o.category == "Enemy" then
      s.enemies[#s.enemies + 1] = o
    elseif o.category == "Reward" then
      s.rewards[#s.rewards + 1] = o
    end
  end
  return s
end

function select_action(obs)
  local s = analyze_situation(obs)
  local p = s.player
  if not p then return "NOOP" end
  local lane = lane_of(p.y)
  local best, choice = -100000, "NOOP"
  for _, name in ipairs(obs.actions) do
    local jy = name:find("UP", 1, true) and -1 or (name:find("DOWN", 1, true) and 1 or 0)
    local jx = name:find("RIGHT", 1, true) and 1 or (name:find("LEFT", 1, true) and -1 or 0)
    local nl, nx = clamp(lane + jy, 0, 7), clamp(p.x + 8 * jx, 8, 144)
    -- two steps in the new lane; leaving a lane takes part of a step
    local safe = clearance(s, nl, nx, 2)
    if nl ~= lane then safe = math.min(safe, clearance(s, lane, p.x, 1)) end
    local value
    if safe < 6 then
      value = -10000 + safe
    else
      local d = 16 * math.abs(nl - 4) + math.abs(nx - 76) // 4 + 400 -- nothing to get: idle mid-screen
      for _, r in ipairs(s.rewards) do
        d = math.min(d, 16 * math.abs(lane_of(r.y) - nl) + math.abs(r.x + 2 * r.dx - nx))
      end
      value = -d
    end
    if value > best then best, choice = value, name end
  end
  return choice
end
]]

return M
