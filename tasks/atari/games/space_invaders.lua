-- Space Invaders: the game spec for hone's optimizer (tasks/atari/README.md, "Space Invaders").
local M = {}

M.name = "space_invaders"

-- The paper's protocol: multi-step horizon, optimization steps, evaluation.
M.horizon = 25
M.steps = 20
M.evaluation = { episodes = 1, max_steps = 4000 }
M.target = 3000

M.bands = {
  { below = 300, text = "You score about as much as random play. Fire only when an alien is above the " ..
    "cannon (lead it: aliens march sideways), and step aside from bombs falling toward the cannon." },
  { below = 1000, text = "You hit aliens but lose the cannon or let the aliens land. Dodge bombs before they " ..
    "reach y = 185, keep thinning the lowest rows so the formation cannot land, shoot the satellite (200) " ..
    "when it crosses." },
  { text = "You clear waves. Keep dodging; fire as often as the single laser allows." },
}

M.instruction = [[
You write a Lua policy that plays Atari Space Invaders (ALE's SpaceInvaders, seen as a list of objects like
OCAtari's). Six rows of six aliens march sideways, drop 6 px whenever the formation touches a side, and move
faster as fewer remain. Your cannon at the bottom fires one laser at a time, straight up; aliens drop bombs.
An alien is worth 5 (bottom row) to 30 (top row) points, the satellite that sometimes crosses the top 200.
A bomb on the cannon costs a life (3 lives); aliens reaching the cannon's row end the game. Clearing all 36
brings a new wave. Three shields crumble where shots hit them.

Every step your function receives obs = {objects = {...}, score = n, lives = n, step = n, actions = {...}}.
Each object is {category = "Player" | "Alien" | "Shield" | "Bullet" | "Satellite", x, y, w, h, dx, dy}: the
top-left corner and size in pixels of the 160 x 210 screen (x to the right, y down) and the motion since the
previous step (dx, dy; 0 for an object that just appeared). One step is 4 frames. "Player" is your cannon
(y = 185, 7 x 10 px, x from 34 to 117; absent for a while after it is hit), "Alien" 8 x 10 px, "Shield"
8 x 18 px at y = 157, "Bullet" 1 x 10 px: your laser moves up 16 px per step (dy < 0), bombs move down
8 px per step (dy > 0). "Satellite" is 7 x 8 px at y = 12.

Return one action name: "NOOP", "FIRE", "RIGHT" (4 px per step), "LEFT", "RIGHTFIRE", "LEFTFIRE".
Any other value counts as NOOP. FIRE does nothing while your laser is still on screen.
Goal: the highest score over an episode.]]

M.entry = "combine_actions"

M.artifact = {
  language = "lua",
  blocks = {
    { name = "decide_shoot", editable = true,
      doc = "decide_shoot(obs) -> boolean. Whether to fire this step.",
      code = [[
function decide_shoot(obs)
  return true
end]] },
    { name = "decide_movement", editable = true,
      doc = "decide_movement(obs) -> \"LEFT\", \"RIGHT\" or \"NOOP\". Where to move the cannon this step.",
      code = [[
function decide_movement(obs)
  return "NOOP"
end]] },
    { name = "combine_actions", editable = true,
      doc = "combine_actions(obs) -> action name. Called every step; returns one of obs.actions, e.g. " ..
        "\"RIGHTFIRE\" to move right and fire.",
      code = [[
function combine_actions(obs)
  if decide_shoot(obs) then return "FIRE" end
  return decide_movement(obs)
end]] },
  },
}

M.reference = [==[
local PLAYER_Y, MIN_X, MAX_X = 185, 34, 117

local function center(o) return o.x + o.w / 2 end

local function find(obs, category)
  for _, o in ipairs(obs.objects) do
    if o.category == category then return o end
  end
end

-- Where a laser fired now meets the alien: the laser climbs 16 px per step while the alien marches.
local function aim_x(alien, player)
  local steps = (player.y - (alien.y + alien.h)) / 16
  return center(alien) + alien.dx * steps
end

function decide_shoot(obs)
  local player = find(obs, "Player")
  if not player then return false end
  for _, o in ipairs(obs.objects) do
    if o.category == "Alien" and math.abs(aim_x(o, player) - center(player)) <= 3 then return true end
    if o.category == "Satellite" and math.abs(center(o) + o.dx * 10 - center(player)) <= 3 then return true end
  end
  return false
end

-- True if a bomb may hit a cannon whose left edge is x within the next steps.
local function danger(obs, x)
  for _, o in ipairs(obs.objects) do
    if o.category == "Bullet" and o.dy >= 0 and o.y > 100 then
      local steps = (PLAYER_Y - (o.y + o.h)) / math.max(o.dy, 8)
      if steps <= 3 and o.x >= x - 2 and o.x <= x + 9 then return true end
    end
  end
  return false
end

function decide_movement(obs)
  local player = find(obs, "Player")
  if not player then return "NOOP" end
  local px = center(player)
  -- The target: an alien close to the cannon's column, lower ones first.
  local best, best_cost
  for _, o in ipairs(obs.objects) do
    if o.category == "Alien" then
      local cost = math.abs(aim_x(o, player) - px) - o.y * 0.25
      if not best or cost < best_cost then best, best_cost = o, cost end
    end
  end
  local want = "NOOP"
  if best then
    local target = aim_x(best, player)
    if target < px - 2 then want = "LEFT" elseif target > px + 2 then want = "RIGHT" end
  end
  local shift = { NOOP = 0, LEFT = -4, RIGHT = 4 }
  for _, move in ipairs({ want, "NOOP", "LEFT", "RIGHT" }) do
    local x = math.max(MIN_X, math.min(MAX_X, player.x + shift[move]))
    if not danger(obs, x) then return move end
  end
  return want
end

function combine_actions(obs)
  local shoot, move = decide_shoot(obs), decide_movement(obs)
  if shoot then
    if move == "LEFT" then return "LEFTFIRE" end
    if move == "RIGHT" then return "RIGHTFIRE" end
    return "FIRE"
  end
  return move
end
]==]

return M
