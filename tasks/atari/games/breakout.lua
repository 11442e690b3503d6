-- Breakout: the game spec for hone's optimizer (tasks/atari/README.md, "Breakout").
local M = {}

M.name = "breakout"

-- The paper's protocol: multi-step horizon, optimization steps, evaluation.
M.horizon = 300
M.steps = 30
M.evaluation = { episodes = 1, max_steps = 4000 }
M.target = 864

M.bands = {
  { below = 1, text = "You score nothing. Serve with FIRE whenever there is no ball, then keep the paddle " ..
    "under the ball." },
  { below = 300, text = "You score, but lose balls. Do not chase where the ball is: move to where it will " ..
    "come down to the paddle's row (y = 189), following its path and its bounces off the side walls at " ..
    "x = 8 and x = 152. Later the ball is faster and the paddle half as wide, so aim the paddle's center." },
  { text = "You clear most of the wall. Keep every ball in play; steer returns toward the remaining blocks." },
}

M.instruction = [[
You write a Lua policy that plays Atari Breakout (ALE's Breakout, seen as a list of objects like OCAtari's).
Bounce the ball off your paddle at the bottom into a wall of blocks under the ceiling; each block hit breaks
and scores: 7 points in the two top rows, 4 in the two middle rows, 1 in the two bottom rows. FIRE serves a
new ball; a ball that falls past the paddle costs a life (5 lives). Clearing the wall brings a second one;
clearing both (864 points) or losing all lives ends the game.

Every step your function receives obs = {objects = {...}, score = n, lives = n, step = n, actions = {...}}.
Each object is {category = "Player" | "Ball" | "BlockRow", x, y, w, h, dx, dy}: the top-left corner and size
in pixels of the 160 x 210 screen (x to the right, y down) and the motion since the previous step (dx, dy).
One step is 4 frames. "Player" is your paddle (y = 189, 16 x 4 px, 8 px wide once the ball has reached the
ceiling), "Ball" the 2 x 4 px ball (absent until served), and each "BlockRow" a run of adjacent standing
blocks in one row (rows are 6 px high from y = 57; blocks 8 px wide from x = 8). The side walls are at x = 8
and x = 152, the ceiling at y = 32.

Return one action name: "NOOP", "FIRE" (serve), "RIGHT" (paddle right, 12 px per step), "LEFT".
Any other value counts as NOOP.

Where the ball meets the paddle sets its angle: the outer quarters send it out flat and fast, the inner
quarters steep. The ball speeds up after 4 and 12 hits and on reaching the top rows.
Goal: the highest score over an episode.]]

M.entry = "select_paddle_action"

M.artifact = {
  language = "lua",
  blocks = {
    { name = "predict_ball_trajectory", editable = true,
      doc = "predict_ball_trajectory(obs) -> x or nil. The x (center) where the ball will reach the paddle's " ..
        "row, or nil when there is no ball or it moves up.",
      code = [[
function predict_ball_trajectory(obs)
  return nil
end]] },
    { name = "generate_paddle_target", editable = true,
      doc = "generate_paddle_target(obs, predicted_x) -> x. Where the paddle's center should go.",
      code = [[
function generate_paddle_target(obs, predicted_x)
  return predicted_x or 80
end]] },
    { name = "select_paddle_action", editable = true,
      doc = "select_paddle_action(obs) -> action name. Called every step; returns one of obs.actions.",
      code = [[
function select_paddle_action(obs)
  for _, o in ipairs(obs.objects) do
    if o.category == "Ball" then return "NOOP" end
  end
  return "FIRE"
end]] },
  },
}

M.reference = [==[
local LEFT_WALL, RIGHT_WALL, PADDLE_Y = 8, 152, 189

local function find(obs, category)
  for _, o in ipairs(obs.objects) do
    if o.category == category then return o end
  end
end

-- Unfolds the ball's straight path down to the paddle's row, folding it back at the side walls.
function predict_ball_trajectory(obs)
  local ball = find(obs, "Ball")
  if not ball or ball.dy <= 0 then return nil end
  local steps = (PADDLE_Y - (ball.y + ball.h)) / ball.dy
  local lo, hi = LEFT_WALL, RIGHT_WALL - ball.w
  local span = hi - lo
  local x = (ball.x + ball.dx * steps - lo) % (2 * span)
  if x > span then x = 2 * span - x end
  return lo + x + ball.w / 2
end

function generate_paddle_target(obs, predicted_x)
  if predicted_x then return predicted_x end
  local ball = find(obs, "Ball")
  if ball then return ball.x + ball.w / 2 end
  return (LEFT_WALL + RIGHT_WALL) / 2
end

function select_paddle_action(obs)
  local paddle = find(obs, "Player")
  if not find(obs, "Ball") then return "FIRE" end
  local target = generate_paddle_target(obs, predict_ball_trajectory(obs))
  local center = paddle.x + paddle.w / 2
  if target < center - 4 then return "LEFT" end
  if target > center + 4 then return "RIGHT" end
  return "NOOP"
end
]==]

return M
