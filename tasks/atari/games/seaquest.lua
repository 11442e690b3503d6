-- Seaquest (engine: tasks/atari/seaquest.c; rules: tasks/atari/README.md, ## Seaquest).
-- The paper's protocol: multi-step horizon 100, 30 optimization steps, evaluation 1 x 4000.
local M = {}

M.name = "seaquest"
M.horizon = 100
M.steps = 30
M.evaluation = { episodes = 1, max_steps = 4000 }
M.target = 20000   -- about the human score in ALE (20182)

M.bands = {
  { below = 200, text = "The score is about what random play gets. Dive into the lanes and shoot: a torpedo " ..
    "leaves in the direction the sub last moved, so combine FIRE with LEFT or RIGHT toward the Shark or " ..
    "Submarine in the sub's lane, and move up or down out of the way of enemies and EnemyMissiles." },
  { below = 2000, text = "The sub kills enemies but its lives run out. Watch the OxygenBar (its w is the oxygen " ..
    "left, 64 when full): touch Divers to pick them up and go up to the surface (y = 46) before the oxygen " ..
    "runs out; surfacing with no diver aboard costs a life, surfacing with some costs one of them." },
  { text = "Strong play. The big points come from surfacing with six divers (a bonus for the divers and the " ..
    "oxygen left, and the next wave is worth more); from the third wave a SurfaceSubmarine patrols the " ..
    "surface, so come up away from it." },
}

M.instruction = [[
You write the policy of an agent playing Atari Seaquest, given the game's objects (OCAtari style) at every step.

The game: the player's submarine moves in all directions below the surface and fires torpedoes. Four lanes
carry groups of one to three sharks or enemy submarines swimming across the screen; enemy submarines fire
missiles along their lane. Touching a shark, a submarine or a missile costs a life. A torpedo kills the first
enemy it hits: 20 points, 10 more for every completed wave (up to 90). Divers swim in the lanes too: touching one
picks it up (at most six aboard). Oxygen runs down while submerged (64 units, one every 8 steps); running out
costs a life. Coming up to the surface refills the oxygen, but costs one diver (a life when none is aboard);
surfacing with all six divers instead pays a bonus (each diver 50 times the wave number, up to 1000, plus 20 per
unit of oxygen left) and starts the next, harder wave (faster and larger groups, busier submarines; from the
third wave on a submarine patrols the surface and must be avoided). 4 lives, a bonus life every 10,000 points;
the episode ends when no life is left.

Observation `obs`: obs.objects is a list of objects {category=, x=, y=, w=, h=, dx=, dy=} in the 160x210 Atari
frame (x to the right, y down, x/y the top-left corner, pixels); dx/dy is the movement since the previous step
(0/0 for an object that just appeared). Categories: "Player" (16x11), "Shark" (8x7), "Submarine" (8x11),
"Diver" (8x11), "PlayerMissile" (8x2), "EnemyMissile" (8x2), "SurfaceSubmarine" (16x11, on the surface),
"OxygenBar" (its w is the oxygen left, 0..64; absent at 0) and one "CollectedDiver" per diver aboard.
Objects entering or leaving at the screen edge are cut to the visible part. obs.score, obs.lives, obs.step and
obs.actions (the action names) are given too.
Geometry: lane k (k = 0..3) has y = 69 + 24 * k (sharks swim 2 px lower); an object's lane is
(y - 57) // 24. The player's x stays in 21..134 and its y in 46 (the surface) .. 141, moving 4 px per step in each
direction. A torpedo leaves at the player's y + 5 toward the side the sub last moved to (start: right) and flies
24 px per step; it can hit an enemy whose lane y satisfies lane_y - 6 <= player.y <= lane_y + 5. One torpedo at a
time.

Actions (return one name): "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT",
"DOWNLEFT", "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
"DOWNLEFTFIRE".
Goal: the highest score: shoot enemies, rescue divers, manage the oxygen, surface with six divers when possible.
]]

M.entry = "select_action"

M.artifact = { language = "lua", blocks = {
  { name = "analyze_situation", editable = true,
    doc = "analyze_situation(obs) -> table. Reads obs.objects (see the instruction) and returns whatever " ..
      "select_action needs, e.g. the player, oxygen left, divers aboard, threats per lane, divers to pick up.",
    code = [[
function analyze_situation(obs)
  local s = { player = nil, enemies = {}, divers = {}, oxygen = 0 }
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then
      s.player = o
    elseif o.category == "Shark" or o.category == "Submarine" then
      s.enemies[#s.enemies + 1] = o
    elseif o.category == "Diver" then
      s.divers[#s.divers + 1] = o
    elseif o.category == "OxygenBar" then
      s.oxygen = o.w
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
  -- dive to the middle of the sea and keep firing to the right
  if s.player.y < 100 then return "DOWNFIRE" end
  return "FIRE"
end]] },
} }

-- A hand-written policy, mirrored by seaquest_reference in tests/atari_engines_b.c: go for the nearest diver
-- (else the nearest enemy's lane), surface with six divers or when the air runs low with a diver aboard, fire
-- at an enemy in the torpedo's lane, and never move where a threat will be within the next three steps.
M.reference = [[
local THREAT = { Shark = true, Submarine = true, EnemyMissile = true, SurfaceSubmarine = true }

local function clamp(v, lo, hi) return math.max(lo, math.min(hi, v)) end
local function lane_y(lane) return 69 + 24 * lane end
local function lane_of(y) return clamp((y - 69 + 12) // 24, 0, 3) end

-- gap between the intervals [a0, a1) and [b0, b1); 0 when they overlap
local function gap(a0, a1, b0, b1)
  if a1 <= b0 then return b0 - a1 end
  if b1 <= a0 then return a0 - b1 end
  return 0
end

-- can the sub be at (x, y) without a threat sweeping over it in the next three steps?
local function safe(s, x, y)
  for _, o in ipairs(s.threats) do
    local to = o.x + 3 * o.dx
    local x0, x1 = math.min(o.x, to), math.max(o.x, to) + o.w
    if o.dx == 0 then x0, x1 = x0 - 8, x1 + 8 end
    if gap(x - 2, x + 18, x0, x1) == 0 and gap(y - 2, y + 13, o.y, o.y + o.h) == 0 then return false end
  end
  return true
end

local function joystick(jx, jy, fire)
  local name = (jy < 0 and "UP" or (jy > 0 and "DOWN" or "")) ..
    (jx > 0 and "RIGHT" or (jx < 0 and "LEFT" or "")) .. (fire and "FIRE" or "")
  return name ~= "" and name or "NOOP"
end

function analyze_situation(obs)
  local s = { player = nil, oxygen = 0, aboard = 0, threats = {}, enemies = {}, swimmers = {} }
  for _, o in ipairs(obs.objects) do
    local c = o.category
    if c == "Player" then
      s.player = s.player or o
    elseif c == "OxygenBar" then
      s.oxygen = o.w
    elseif c == "CollectedDiver" then
      s.aboard = s.aboard + 1
    end
    if THREAT[c] then s.threats[#s.threats + 1] = o end
    if c == "Shark" or c == "Submarine" then s.enemies[#s.enemies + 1] = o end
    if c == "Shark" or c == "Submarine" or c == "Diver" then s.swimmers[#s.swimmers + 1] = o end
  end
  return s
end

function select_action(obs)
  local s = analyze_situation(obs)
  local p = s.player
  if not p then return "NOOP" end
  local ty, tx, fire_dir, best_d = 81, 76, 0, 100000
  if s.aboard == 6 or (s.aboard > 0 and s.oxygen < 16) then
    ty = 46
  else
    for _, o in ipairs(s.swimmers) do -- the nearest diver, else the nearest enemy
      local diver = o.category == "Diver"
      local ly = lane_y(lane_of(o.y))
      local d = math.abs(ly - p.y) + math.abs(o.x - p.x) // 4 + (diver and 0 or 1000)
      if d < best_d then
        best_d, ty = d, ly
        tx = diver and clamp(o.x - 4, 21, 134) or 76
      end
    end
  end
  for _, o in ipairs(s.enemies) do -- an enemy in the torpedo's path
    local ly = lane_y(lane_of(o.y))
    if p.y + 5 >= ly - 1 and p.y + 5 <= ly + 10 then fire_dir = o.x > p.x and 1 or -1 end
  end
  local best, choice = -100000, "NOOP"
  for jy = -1, 1 do
    for jx = -1, 1 do
      local nx, ny = clamp(p.x + 4 * jx, 21, 134), clamp(p.y + 4 * jy, 46, 141)
      local value = -math.abs(ny - ty) * 4 - math.abs(nx - tx)
      if not safe(s, nx, ny) then value = value - 10000 end
      if fire_dir ~= 0 and jx == fire_dir then value = value + 12 end
      if value > best then
        best = value
        choice = joystick(jx, jy, fire_dir ~= 0 and jx == fire_dir)
      end
    end
  end
  return choice
end
]]

return M
