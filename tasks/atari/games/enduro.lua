-- Enduro (engine: tasks/atari/enduro.c; rules: tasks/atari/README.md, ## Enduro).
-- The paper's protocol: multi-step horizon 100, 30 optimization steps, evaluation 1 x 5000.
local M = {}

M.name = "enduro"
M.horizon = 100
M.steps = 30
M.evaluation = { episodes = 1, max_steps = 5000 }
M.target = 400     -- day 1 done (200) and day 2 well under way within 5000 steps

M.bands = {
  { below = 1, text = "No car has been passed: the car barely moves. FIRE is the accelerator; hold it (FIRE, " ..
    "RIGHTFIRE or LEFTFIRE) nearly all the time, and use DOWN (the brake) almost never." },
  { below = 200, text = "The car passes cars but not the 200 needed on day 1; the race ends when a day ends with " ..
    "its quota unmet (after 3400 steps). Crashes stop the car dead: keep accelerating and steer early " ..
    "(RIGHTFIRE/LEFTFIRE) into a lane with no car close ahead, judging a car's lane by its x centre " ..
    "relative to the road centre x = 80." },
  { text = "Day 1's quota is met. Keep the speed up and avoid every crash: later days need 300 cars and the " ..
    "traffic gets denser; choose the lane whose nearest car ahead is farthest away." },
}

M.instruction = [[
You write the policy of an agent driving in Atari Enduro, given the game's objects (OCAtari style) at every step.

The game: an endurance race on a straight three-lane road seen in perspective. The player's car sits near the
bottom of the screen; other cars all drive at the same speed, half the player's top speed. Faster than them, the
player overtakes them: they appear small near the horizon (y about 60), grow as they come closer and vanish
below the player. Slower than them, they come from behind (below the player) and drive away. Each car overtaken
scores +1, each car that overtakes the player -1 (the score never drops below the start of the day). Every day
has a quota of cars to pass, 200 on day 1 and 300 on later days (a day lasts 3400 steps); a day that ends with
its quota unmet ends the race. Touching a car (a crash) stops the player's car; it must accelerate again.

Observation `obs`: obs.objects is a list of objects {category=, x=, y=, w=, h=, dx=, dy=} in the 160x210 Atari
frame (x to the right, y down, x/y the top-left corner, pixels); dx/dy is the movement since the previous step
(0/0 for an object that just appeared). Categories: "Player" (16x11, y = 144, x in 16..128) and "Car" (16x11
when level with the player, smaller the farther ahead). obs.score, obs.lives (1 while racing), obs.step and
obs.actions (the action names) are given too.
Geometry: the road centre is x = 80. A car's lane follows from its centre cx = x + w / 2: left of 78 is the left
lane, right of 82 the right lane, else the middle; at the player's depth the lanes are centred on x = 39, 80 and
121. Cars ahead have y + h < 155 (the player's bottom); the larger y + h, the closer. The player steers 4 px per
step; from standstill it takes about 32 steps of FIRE to reach top speed.

Actions (return one name): "NOOP", "FIRE" (accelerate), "RIGHT", "LEFT", "DOWN" (brake), "DOWNRIGHT", "DOWNLEFT",
"RIGHTFIRE", "LEFTFIRE". Without FIRE the car slowly coasts down.
Goal: the highest score: pass as many cars as possible, never crash, and meet every day's quota.
]]

M.entry = "select_action"

M.artifact = { language = "lua", blocks = {
  { name = "analyze_situation", editable = true,
    doc = "analyze_situation(obs) -> table. Reads obs.objects (see the instruction) and returns whatever " ..
      "select_action needs, e.g. the player's car, the cars ahead per lane and how close they are.",
    code = [[
function analyze_situation(obs)
  local s = { player = nil, cars = {} }
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then
      s.player = o
    elseif o.category == "Car" then
      s.cars[#s.cars + 1] = o
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
  -- accelerate only while no other car is in sight
  if #s.cars == 0 then return "FIRE" end
  return "NOOP"
end]] },
} }

-- A hand-written policy, mirrored by enduro_reference in tests/atari_engines_b.c: full throttle, steering
-- toward the lane whose nearest car ahead is farthest away (a small cost for every lane to cross).
M.reference = [[
local CENTER = { 39, 80, 121 }   -- lane centres at the player's depth

function analyze_situation(obs)
  local s = { player = nil, cars = {}, near = { 0, 0, 0 }, lane = 2 }
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then
      s.player = s.player or o
    elseif o.category == "Car" then
      s.cars[#s.cars + 1] = o
    end
  end
  local p = s.player
  if not p then return s end
  -- near[l]: bottom y of the closest car ahead in lane l (0 = none)
  for _, o in ipairs(s.cars) do
    if o.y + o.h <= p.y + p.h then
      local c = o.x + o.w // 2
      local l = c < 78 and 1 or (c > 82 and 3 or 2)
      s.near[l] = math.max(s.near[l], o.y + o.h)
    end
  end
  s.lane = 1
  for l = 2, 3 do
    if math.abs(p.x + 8 - CENTER[l]) < math.abs(p.x + 8 - CENTER[s.lane]) then s.lane = l end
  end
  return s
end

function select_action(obs)
  local s = analyze_situation(obs)
  local p = s.player
  if not p then return "FIRE" end
  local cur, goal = s.lane, s.lane
  for l = 1, 3 do
    if s.near[l] + 8 * math.abs(l - cur) < s.near[goal] + 8 * math.abs(goal - cur) then goal = l end
  end
  local tx = CENTER[goal] - 8
  if p.x < tx - 1 then return "RIGHTFIRE" end
  if p.x > tx + 1 then return "LEFTFIRE" end
  return "FIRE"
end
]]

return M
