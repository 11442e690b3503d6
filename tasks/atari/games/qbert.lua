-- Q*bert (engine: tasks/atari/qbert.c; rules: tasks/atari/README.md, ## Q*bert).
-- The paper's protocol: multi-step horizon 100, 30 optimization steps, evaluation 1 x 4000.
local M = {}

M.name = "qbert"
M.horizon = 100
M.steps = 30
M.evaluation = { episodes = 1, max_steps = 4000 }
M.target = 10000   -- several rounds won within 4000 steps

M.bands = {
  { below = 500, text = "Q*bert jumps off the pyramid or is caught almost at once. Only hop to a neighbouring " ..
    "cube that exists (the hop offsets are in the instruction), and never onto a cube where a RedBall, " ..
    "PurpleBall or Coily is or is about to land." },
  { below = 4000, text = "Q*bert colours cubes but loses lives or leaves rounds unfinished. Prefer hops onto a " ..
    "\"Cube\" (not yet coloured), head for the nearest remaining one when none is adjacent, stay out of " ..
    "Coily's reach (any neighbouring cube of his), and hop onto a Disk when Coily is close to lure him off." },
  { text = "Strong play: rounds get completed. Finish rounds faster (each gives a bonus of 1000 or more), avoid " ..
    "corners when Coily chases, and catch green balls (100) and Sam (300) when it is safe." },
}

M.instruction = [[
You write the policy of an agent playing Atari Q*bert, given the game's objects (OCAtari style) at every step.

The game: a pyramid of 28 cubes in 7 rows (1 cube on top, 7 at the bottom). Q*bert hops diagonally from cube to
cube. Landing on a cube changes its top toward the target colour (25 points when it reaches it); a round is won
when all 28 cubes show the target colour (bonus 1000 + 250 per round won before, at most 5000, plus 50 per
unused disk), and the next round starts. From round 5 on a cube needs two hops (15 points for the first); from
round 9 on, hopping a finished cube undoes it.
Hopping off the pyramid is a fall and costs a life, except onto one of the two spinning disks beside it: a disk
carries Q*bert back to the top, and Coily, if he is on the pyramid, leaps after him and falls (500 points).
Enemies drop onto the second row: red balls bounce down and kill on contact; the purple ball bounces down and
hatches into Coily at the bottom, who then chases Q*bert; a green ball freezes the enemies for a while when
caught (100); Sam reverts cubes he lands on and is caught for 300. There are 4 lives; the episode ends when
none is left.

Observation `obs`: obs.objects is a list of objects {category=, x=, y=, w=, h=, dx=, dy=} in the 160x210 Atari
frame (x to the right, y down, x/y the top-left corner, pixels); dx/dy is the movement since the previous step
(0/0 for an object that just appeared). Categories: "Player" (8x12), "Cube" (the top face of a cube not yet at
the target colour, 20x8), "ColoredCube" (a cube at the target colour, 20x8), "Disk" (12x4), "RedBall" (8x8),
"PurpleBall" (8x8), "Coily" (8x16), "GreenBall" (8x8), "Sam" (8x12). obs.score, obs.lives, obs.step and
obs.actions (the action names) are given too.
Geometry: the cube in row r (0..6) and column c (0..r) is at x = 70 - 10 * r + 20 * c, y = 32 + 24 * r. A
character standing on cube C has x = C.x + 6 and y + h = C.y (so the cube under a standing character is at
(x - 6, y + h)); while hopping it is in between. A disk D waits where a missing cube would be, at (D.x - 4, D.y).
Hops, relative to the cube Q*bert stands on: "UP" = up-right (x + 10, y - 24), "RIGHT" = down-right (x + 10,
y + 24), "LEFT" = up-left (x - 10, y - 24), "DOWN" = down-left (x - 10, y + 24). A hop takes 4 steps; actions
are ignored while Q*bert is in the air. Enemies hop down one row about every 10 steps (faster in later rounds).

Actions (return one name): "NOOP", "FIRE" (does nothing), "UP", "RIGHT", "LEFT", "DOWN".
Goal: the highest score: colour all cubes of each round quickly without being caught or falling off.
]]

M.entry = "select_action"

M.artifact = { language = "lua", blocks = {
  { name = "analyze_situation", editable = true,
    doc = "analyze_situation(obs) -> table. Reads obs.objects (see the instruction) and returns whatever " ..
      "select_action needs, e.g. the cube Q*bert stands on, which neighbouring cubes exist, are uncoloured " ..
      "or threatened by enemies, and where the disks are.",
    code = [[
function analyze_situation(obs)
  local s = { player = nil, cubes = {}, enemies = {}, disks = {} }
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then
      s.player = o
    elseif o.category == "Cube" or o.category == "ColoredCube" then
      s.cubes[#s.cubes + 1] = o
    elseif o.category == "Disk" then
      s.disks[#s.disks + 1] = o
    else
      s.enemies[#s.enemies + 1] = o
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
  -- always hop down-left, whatever is there
  return "DOWN"
end]] },
} }

-- A hand-written policy, mirrored by qbert_reference in tests/atari_engines_b.c: when standing on a cube,
-- score the four hops (falling off: very bad; a cube an enemy can reach: bad; an uncoloured cube: good;
-- otherwise closer to the nearest uncoloured cube is better; a disk when Coily is close: best).
M.reference = [[
local MOVES = { { "UP", 10, -24 }, { "RIGHT", 10, 24 }, { "LEFT", -10, -24 }, { "DOWN", -10, 24 } }

local function cube_at(s, x, y)
  for _, o in ipairs(s.cubes) do
    if o.x == x and o.y == y then return o end
  end
  return nil
end

-- is the cube at (x, y) where a ball or Coily is or may be next? balls only fall
local function danger(s, x, y)
  for _, o in ipairs(s.enemies) do
    local ex, ey = o.x - 6, o.y + o.h -- the cube under the enemy's feet
    local ball = o.category == "RedBall" or o.category == "PurpleBall"
    if ball and math.abs(x - ex) <= 12 and y - ey >= -4 and y - ey <= 28 then return true end
    if o.category == "Coily" and math.abs(x - ex) <= 12 and math.abs(y - ey) <= 28 then return true end
  end
  return false
end

function analyze_situation(obs)
  local s = { player = nil, cubes = {}, enemies = {}, disks = {}, coily = nil, here = nil }
  for _, o in ipairs(obs.objects) do
    local c = o.category
    if c == "Player" then
      s.player = s.player or o
    elseif c == "Cube" or c == "ColoredCube" then
      s.cubes[#s.cubes + 1] = o
    elseif c == "Disk" then
      s.disks[#s.disks + 1] = o
    else
      s.enemies[#s.enemies + 1] = o
      if c == "Coily" then s.coily = s.coily or o end
    end
  end
  if s.player then s.here = cube_at(s, s.player.x - 6, s.player.y + s.player.h) end
  return s
end

function select_action(obs)
  local s = analyze_situation(obs)
  local p, here = s.player, s.here
  if not p or not here then return "NOOP" end -- in the air: nothing to decide
  local best = danger(s, here.x, here.y) and -400 or -100
  local choice = "NOOP"
  for _, m in ipairs(MOVES) do
    local tx, ty = here.x + m[2], here.y + m[3]
    local t = cube_at(s, tx, ty)
    local value = -1000
    if not t then
      for _, d in ipairs(s.disks) do
        if d.x - 4 == tx and d.y == ty then
          local near = s.coily and math.abs(s.coily.x - p.x) <= 30 and math.abs(s.coily.y - p.y) <= 60
          value = near and 100 or -200
        end
      end
    elseif danger(s, tx, ty) then
      value = -500
    else
      value = t.category == "Cube" and 30 or 0
      local d = 100 -- hops to the nearest unfinished cube
      for _, o in ipairs(s.cubes) do
        if o.category == "Cube" and o ~= t then
          d = math.min(d, math.max(math.abs(o.x - tx) // 10, math.abs(o.y - ty) // 24))
        end
      end
      value = value - d
      for _, o in ipairs(s.enemies) do
        local prize = o.category == "GreenBall" or o.category == "Sam"
        if prize and math.abs(o.x - 6 - tx) <= 4 and math.abs(o.y + o.h - ty) <= 4 then value = value + 40 end
      end
    end
    if value > best then best, choice = value, m[1] end
  end
  return choice
end
]]

return M
