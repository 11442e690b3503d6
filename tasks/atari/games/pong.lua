-- Pong: the game spec for hone's optimizer (tasks/atari/README.md, "Pong").
local M = {}

M.name = "pong"

-- The paper's protocol: multi-step horizon, optimization steps, evaluation.
M.horizon = 400
M.steps = 20
M.evaluation = { episodes = 10, max_steps = 4000 }
M.target = 21

M.bands = {
  { below = 1, text = "You lose more points than you win: the ball gets past your paddle. Make sure the paddle " ..
    "is where the ball will cross x = 140: follow its path ahead of time, including bounces off the walls at " ..
    "y = 34 and y = 194, and move early, since the paddle moves only 8 px per step." },
  { below = 19, text = "You win points, but not all of them. Returns off the paddle's center fly flat and slow " ..
    "and the computer reaches them; returns off the paddle's ends fly steep and fast and often beat it. Aim " ..
    "with the ends of the paddle, and send the ball away from where the computer's paddle is." },
  { text = "You beat the computer nearly every point. Keep what works; remove misses that remain." },
}

M.instruction = [[
You write a Lua policy that plays Atari Pong (ALE's Pong, seen as a list of objects like OCAtari's).
Your paddle is on the right, the computer's on the left; the ball bounces off the top and bottom walls.
A point is won when the ball gets past the computer's paddle (+1) and lost when it gets past yours (-1).
The game ends when either side reaches 21 points; the score is your points minus the computer's (-21..21).

Every step your function receives obs = {objects = {...}, score = n, lives = n, step = n, actions = {...}}.
Each object is {category = "Player" | "Enemy" | "Ball", x, y, w, h, dx, dy}: the top-left corner and size in
pixels of the 160 x 210 screen (x to the right, y down) and the motion since the previous step (dx, dy). One
step is 4 frames. "Player" is your paddle (x = 140, 4 x 16 px), "Enemy" the computer's (x = 16), "Ball"
the 2 x 4 px ball, absent between points. The field spans y = 34 (top wall) to y = 194 (bottom wall).
lives is always 1 in Pong.

Return one action name: "NOOP", "FIRE", "RIGHT" (paddle up, 8 px per step), "LEFT" (paddle down),
"RIGHTFIRE" (= RIGHT), "LEFTFIRE" (= LEFT). FIRE does nothing in this game. Any other value counts as NOOP.

Where the ball meets your paddle sets the return: the farther from the paddle's center, the steeper, and
hits near the ends are also faster. The computer's paddle chases the ball at a limited speed and a little late.
Goal: the highest score over an episode.]]

M.entry = "select_action"

M.artifact = {
  language = "lua",
  blocks = {
    { name = "predict_ball_trajectory", editable = true,
      doc = "predict_ball_trajectory(obs) -> y or nil. The y (center) where the ball will be when it reaches " ..
        "your paddle (x = 140), or nil when there is no ball or it moves away from you.",
      code = [[
function predict_ball_trajectory(obs)
  return nil
end]] },
    { name = "select_action", editable = true,
      doc = "select_action(obs) -> action name. Called every step; returns one of obs.actions.",
      code = [[
function select_action(obs)
  local target = predict_ball_trajectory(obs)
  if target == nil then return "NOOP" end
  return "NOOP"
end]] },
  },
}

M.reference = [==[
local TOP, BOTTOM = 34, 194

local function find(obs, category)
  for _, o in ipairs(obs.objects) do
    if o.category == category then return o end
  end
end

-- Unfolds the ball's straight path to x = 140, folding it back at the walls.
function predict_ball_trajectory(obs)
  local ball, player = find(obs, "Ball"), find(obs, "Player")
  if not ball or not player or ball.dx <= 0 then return nil end
  local steps = (player.x - (ball.x + ball.w)) / ball.dx
  local lo, hi = TOP, BOTTOM - ball.h
  local span = hi - lo
  local y = (ball.y + ball.dy * steps - lo) % (2 * span)
  if y > span then y = 2 * span - y end
  return lo + y + ball.h / 2
end

function select_action(obs)
  local player, enemy = find(obs, "Player"), find(obs, "Enemy")
  local center = player.y + player.h / 2
  local target = predict_ball_trajectory(obs)
  if not target then
    target = (TOP + BOTTOM) / 2
  else
    -- Meet the ball off-center so it leaves steep, toward the side the computer is not on.
    local send_down = enemy.y + enemy.h / 2 < (TOP + BOTTOM) / 2
    target = send_down and target - 3 or target + 3
  end
  if target < center - 4 then return "RIGHT" end
  if target > center + 4 then return "LEFT" end
  return "NOOP"
end
]==]

return M
