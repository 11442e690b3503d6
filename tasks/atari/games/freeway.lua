-- Freeway: the game spec for hone's optimizer (tasks/atari/README.md, "Freeway").
local M = {}

M.name = "freeway"

-- The paper's protocol: multi-step horizon, optimization steps, evaluation.
M.horizon = 100
M.steps = 30
M.evaluation = { episodes = 3, max_steps = 2500 }
M.target = 32

M.bands = {
  { below = 22, text = "You cross no more often than a chicken that always runs UP. Cars knock the chicken " ..
    "back: before stepping into a lane, check that its car will not reach x = 44..50 while you are in it." },
  { below = 28, text = "You cross often but still get hit. Look a few steps ahead in the lanes you are about " ..
    "to enter and the one you are in; wait (NOOP) or step back (DOWN) only when a car is about to pass." },
  { text = "You cross nearly as fast as the road allows. Trim the remaining waits and hits." },
}

M.instruction = [[
You write a Lua policy that plays Atari Freeway (ALE's Freeway, seen as a list of objects like OCAtari's).
Your chicken crosses a ten-lane road from the bottom sidewalk to the top one; each crossing scores 1 point
and puts it back at the bottom. Each lane has one car driving at its own constant speed: the five upper lanes
to the left, the five lower lanes to the right, the middle lanes fastest; cars wrap around the screen. A car
that hits the chicken pushes it back down about a lane, and it cannot be steered meanwhile. The game lasts
2040 steps (2 min 16 s); there are no lives (lives is always 1).

Every step your function receives obs = {objects = {...}, score = n, lives = n, step = n, actions = {...}}.
Each object is {category = "Chicken" | "Car", x, y, w, h, dx, dy}: the top-left corner and size in pixels of
the 160 x 210 screen (x to the right, y down) and the motion since the previous step (dx, dy). One step is
4 frames. The "Chicken" is 6 x 8 px at x = 44, starting at y = 187; it scores on reaching y = 14. Each "Car"
is 7 x 10 px; lane i (0 = top) has its car at y = 27 + 16 i. A car partly off screen is clipped to it (x = 0
or w < 7), so its dx can be off near the edges.

Return one action name: "NOOP", "UP" (3 px per step), "DOWN". Any other value counts as NOOP.
Goal: the most crossings in the game.]]

M.entry = "select_action"

M.artifact = {
  language = "lua",
  blocks = {
    { name = "analyze_traffic", editable = true,
      doc = "analyze_traffic(obs) -> table. Whatever select_action needs to know about the cars (e.g. which " ..
        "lanes are safe to enter now).",
      code = [[
function analyze_traffic(obs)
  return {}
end]] },
    { name = "select_action", editable = true,
      doc = "select_action(obs) -> action name. Called every step; returns one of obs.actions.",
      code = [[
function select_action(obs)
  local traffic = analyze_traffic(obs)
  return "UP"
end]] },
  },
}

M.reference = [==[
local CHICKEN_X, CHICKEN_W, CHICKEN_H = 44, 6, 8
local LOOKAHEAD = 3

-- The cars with their true left edge (a car entering on the left is clipped to x = 0).
function analyze_traffic(obs)
  local cars = {}
  for _, o in ipairs(obs.objects) do
    if o.category == "Car" then
      local x = o.x
      if o.w < 7 and o.x == 0 then x = o.w - 7 end
      cars[#cars + 1] = { x = x, y = o.y, w = 7, h = o.h, dx = o.dx }
    end
  end
  return cars
end

-- True if a chicken with top y, t steps from now, may touch a car. Cars wrap around a 167 px road;
-- a car's reach is widened by one step of its motion since it also moves between observations.
local function hit(cars, y, t)
  for _, c in ipairs(cars) do
    if y < c.y + c.h and y + CHICKEN_H > c.y then
      local speed = c.dx ~= 0 and c.dx or 4
      local x = (c.x + speed * t + 7) % 167 - 7
      local reach = math.abs(speed)
      if x - reach < CHICKEN_X + CHICKEN_W and x + c.w + reach > CHICKEN_X then return true end
    end
  end
  return false
end

local function safe(cars, y, dy, steps)
  for t = 1, steps do
    if hit(cars, y + dy * t, t) then return false end
  end
  return true
end

function select_action(obs)
  local chicken
  for _, o in ipairs(obs.objects) do
    if o.category == "Chicken" then chicken = o end
  end
  local cars = analyze_traffic(obs)
  if safe(cars, chicken.y, -3, LOOKAHEAD) then return "UP" end
  if safe(cars, chicken.y, 0, 2) then return "NOOP" end
  if safe(cars, chicken.y, 3, 2) then return "DOWN" end
  return "UP"
end
]==]

return M
