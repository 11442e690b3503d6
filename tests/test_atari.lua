-- hone.atari: the object-level engines and their Lua binding. Generic checks loop over
-- every linked game (determinism, object bounds, dx/dy, the spec, reference beats random);
-- scripted checks pin down the rules of each game.
local hone = require("hone")
local atari = hone.atari

local SCREEN_W, SCREEN_H = 160, 210

-- A fixed pseudo-random action sequence, the same on every run and machine.
local function action_stream(actions, seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return actions[(s // 65536) % #actions + 1]
  end
end

local function objects_text(objects)
  local parts = {}
  for i, o in ipairs(objects) do
    parts[i] = string.format("%s:%d,%d,%d,%d,%d,%d", o.category, o.x, o.y, o.w, o.h, o.dx, o.dy)
  end
  return table.concat(parts, ";")
end

-- The trace of n steps under a fixed action stream: one line per step.
local function trace(name, seed, n, env)
  env = env or atari.new(name, seed)
  local next_action = action_stream(env:actions(), 7)
  local lines = {}
  for i = 1, n do
    if env:done() then break end
    local reward, done = env:step(next_action())
    lines[i] = string.format("%d %s %d %d %s", reward, tostring(done), env:score(), env:lives(),
      objects_text(env:objects()))
  end
  return lines
end

local function find(objects, category)
  for _, o in ipairs(objects) do
    if o.category == category then return o end
  end
end

local function count(objects, category)
  local n = 0
  for _, o in ipairs(objects) do
    if o.category == category then n = n + 1 end
  end
  return n
end

local function spec_of(name)
  return dofile("tasks/atari/games/" .. name .. ".lua")
end

local function sandbox(code)
  local sb = hone.sandbox.lua.new({ memory = 32 * 1024 * 1024, instructions = 10000000, time = 5 })
  local ok, err = sb:load(code)
  assert(ok, err and err.message)
  return sb
end

-- Mean score of a policy over seeds, each episode capped at max_steps.
local function mean_score(t, name, code, entry, seeds, max_steps)
  local total = 0
  for _, seed in ipairs(seeds) do
    local sb <close> = sandbox("math.randomseed(" .. seed .. ")\n" .. code)
    local r = atari.episode(atari.new(name, seed), sb, entry, max_steps)
    t.eq(r.error, nil, name .. " policy error")
    total = total + r.score
  end
  return total / #seeds
end

-- Plays actions from next_action until done or n steps; returns the env and the rewards' sum.
local function play(name, seed, n, next_action)
  local env = atari.new(name, seed)
  local sum = 0
  for _ = 1, n do
    if env:done() then break end
    sum = sum + env:step(next_action(env))
  end
  return env, sum
end

return {
  -- ---- the binding --------------------------------------------------------------------

  ["games are listed sorted and described by info"] = function(t)
    local games = atari.games()
    t.ok(#games >= 4, "at least four games")
    for i = 2, #games do t.ok(games[i - 1] < games[i], "sorted: " .. games[i - 1] .. " < " .. games[i]) end
    for _, name in ipairs({ "pong", "breakout", "space_invaders", "freeway" }) do
      local listed = false
      for _, g in ipairs(games) do listed = listed or g == name end
      t.ok(listed, name .. " is linked")
    end
    for _, name in ipairs(games) do
      local info = atari.info(name)
      t.eq(info.name, name, "info.name")
      t.eq(info.actions[1], "NOOP", name .. ": the first action is NOOP")
      t.ok(info.max_steps > 0 and info.max_steps <= 108000, name .. ": max_steps is a hard cap")
      local env = atari.new(name, 1)
      t.eq(env:name(), name, "env:name")
      t.eq(env:actions(), info.actions, "env:actions")
      t.eq(env:steps(), 0, "a fresh env has played no step")
      t.eq(env:done(), false, "a fresh env is not done")
      t.match(tostring(env), "atari env " .. name, "tostring")
    end
    t.raises(function() atari.new("tetris") end, "unknown game 'tetris' %(games: .*pong")
  end,

  ["bad actions raise one clear line; a finished episode cannot be stepped"] = function(t)
    local env = atari.new("pong", 1)
    local err = t.raises(function() env:step("JUMP") end, "pong has no action 'JUMP' %(actions: NOOP, FIRE")
    t.no_match(err, "\n", "one line")
    t.raises(function() env:step(2) end, "no action '2'")
    local free = atari.new("freeway", 1)
    for _ = 1, free:max_steps() do free:step("NOOP") end
    t.eq(free:done(), true, "done at max_steps")
    t.raises(function() free:step("UP") end, "episode is over")
    free:reset()
    t.eq({ free:done(), free:steps(), free:score() }, { false, 0, 0 }, "reset starts over")
  end,

  ["observation is the objects plus score, lives, step and actions"] = function(t)
    local env = atari.new("breakout", 3)
    env:step("FIRE")
    env:step("RIGHT")
    local obs = env:observation()
    t.eq(obs.objects, env:objects(), "objects")
    t.eq({ obs.score, obs.lives, obs.step }, { env:score(), env:lives(), 2 }, "counters")
    t.eq(obs.actions, { "NOOP", "FIRE", "RIGHT", "LEFT" }, "actions")
    for _, o in ipairs(obs.objects) do
      for _, k in ipairs({ "x", "y", "w", "h", "dx", "dy" }) do
        t.eq(math.type(o[k]), "integer", k .. " is an integer")
      end
    end
  end,

  ["episode runs a sandboxed policy and reports score, counts and a trace"] = function(t)
    local sb <close> = sandbox([[
      calls = 0
      function policy(obs)
        calls = calls + 1
        assert(obs.step == calls - 1 and #obs.actions == 3 and obs.objects[1].category == "Chicken")
        return "UP"
      end]])
    local env = atari.new("freeway", 2)
    local r = atari.episode(env, sb, "policy", 50, { horizon = 10 })
    t.eq(r.error, nil, "no error")
    t.eq({ r.steps, r.done, r.invalid_actions, r.action_counts.UP, r.action_counts.NOOP }, { 50, false, 0, 50, 0 },
      "counts")
    t.eq(r.score, env:score(), "score")
    t.eq(#r.trace, 10, "the trace keeps the last 10 steps")
    for i, e in ipairs(r.trace) do
      t.eq({ e.step, e.action }, { 39 + i, "UP" }, "trace entry " .. i)
      t.ok(e.objects and e.objects[1].category == "Chicken", "trace objects")
    end
    t.ok(sb:load("function get_calls() return calls end"), "load")
    t.eq(table.pack(sb:call("get_calls")), { true, 50, n = 2 }, "one call per step, in the same state")
    t.eq(env:steps(), 50, "the env advanced")
    local r2 = atari.episode(env, sb, "policy", 5, { horizon = 100, trace_objects = false })
    t.eq({ #r2.trace, r2.trace[1].step, r2.trace[1].objects }, { 5, 50, nil }, "short trace without objects")
    t.ok(sb:load("calls = 0"), "load")
    local r3 = atari.episode(env, sb, "policy", 3, { seed = 2 })
    t.eq({ r3.error, env:steps() }, { nil, 3 }, "opts.seed resets first")
    t.eq(r3.trace, nil, "no trace without a horizon")
  end,

  ["invalid actions play NOOP and are counted"] = function(t)
    local sb <close> = sandbox([[
      function policy(obs)
        if obs.step == 2 then return "UP" end
        if obs.step % 2 == 0 then return "JUMP" end
        return 42
      end]])
    local r = atari.episode(atari.new("freeway", 1), sb, "policy", 10, { horizon = 3 })
    t.eq(r.invalid_actions, 9, "nine invalid answers")
    t.eq(r.first_invalid, { step = 0, value = '"JUMP"' }, "the first is quoted")
    t.eq({ r.action_counts.NOOP, r.action_counts.UP }, { 9, 1 }, "they played NOOP")
    t.eq(r.trace[3], { step = 9, action = "NOOP", reward = 0, score = 0, lives = 1, invalid = true,
      objects = r.trace[3].objects }, "the trace marks them")
    local sb2 <close> = sandbox("function policy() end")
    t.eq(atari.episode(atari.new("pong", 1), sb2, "policy", 2).first_invalid.value, "nothing", "no result")
  end,

  ["a failing policy ends the episode with a structured error"] = function(t)
    local sb <close> = sandbox("function policy(obs)\n  if obs.step == 5 then\n    error('boom')\n  end\n" ..
      "  return 'NOOP'\nend")
    local env = atari.new("pong", 1)
    local r = atari.episode(env, sb, "policy", 100)
    t.eq({ r.steps, r.error.kind, r.error.line, r.error.step }, { 5, "runtime", 3, 5 }, "error at step 5")
    t.match(r.error.message, "boom", "message")
    local missing = atari.episode(env, sb, "nope", 10)
    t.eq({ missing.steps, missing.error.kind }, { 0, "runtime" }, "missing entry")
    t.match(missing.error.message, "'nope' is not defined", "names the function")
    local looping <close> = hone.sandbox.lua.new({ instructions = 100000, time = 2 })
    looping:load("function policy() while true do end end")
    local r2 = atari.episode(env, looping, "policy", 10)
    t.eq({ r2.steps, r2.error.kind }, { 0, "timeout" }, "a runaway call hits the sandbox's cap")
    local slow <close> = sandbox("function policy() local t = os.clock() while os.clock() - t < 0.002 do end " ..
      "return 'NOOP' end")
    local r3 = atari.episode(env, slow, "policy", 100000, { time = 0.05 })
    t.ok(r3.steps < 1000 and r3.error and r3.error.kind == "timeout", "opts.time bounds the episode")
    t.match(r3.error.message, "episode time limit", "message")
    t.raises(function() atari.episode(env, sb, "policy", 10, { horizon = -1 }) end, "horizon")
  end,

  -- ---- every game ---------------------------------------------------------------------

  ["same seed and actions give the same trace; seeds change it"] = function(t)
    for _, name in ipairs(atari.games()) do
      local a, b = trace(name, 5, 400), trace(name, 5, 400)
      t.eq(a, b, name .. ": deterministic")
      local differs = false
      for seed = 6, 9 do
        local c = trace(name, seed, 400)
        if table.concat(c, "\n") ~= table.concat(a, "\n") then differs = true end
      end
      t.ok(differs, name .. ": the seed changes the game")
      local env = atari.new(name, 9)
      for _ = 1, 20 do env:step(env:actions()[2]) end
      env:reset(5)
      t.eq(trace(name, 5, 400, env), a, name .. ": reset(seed) replays")
    end
  end,

  ["objects stay on screen, have a size and move by their dx, dy"] = function(t)
    for _, name in ipairs(atari.games()) do
      for seed = 1, 2 do
        local env = atari.new(name, seed)
        local next_action = action_stream(env:actions(), seed)
        local prev = env:objects()
        for step = 1, 1500 do
          if env:done() then break end
          env:step(next_action())
          local objects = env:objects()
          t.ok(#objects <= 128, name .. ": at most 128 objects")
          local at = {}
          for _, o in ipairs(prev) do at[o.category .. "@" .. o.x .. "," .. o.y] = true end
          for _, o in ipairs(objects) do
            local where = string.format("%s step %d: %s at %d,%d %dx%d", name, step, o.category, o.x, o.y, o.w, o.h)
            t.ok(type(o.category) == "string" and #o.category > 0, where .. ": a category")
            t.ok(o.w > 0 and o.h > 0, where .. ": a size")
            t.ok(o.x >= 0 and o.y >= 0 and o.x + o.w <= SCREEN_W and o.y + o.h <= SCREEN_H, where .. ": on screen")
            if o.dx ~= 0 or o.dy ~= 0 then
              t.ok(at[o.category .. "@" .. (o.x - o.dx) .. "," .. (o.y - o.dy)],
                where .. string.format(": moved by %d,%d from where no %s was", o.dx, o.dy, o.category))
            end
          end
          prev = objects
        end
      end
    end
  end,

  ["every game has a spec whose code compiles"] = function(t)
    for _, name in ipairs(atari.games()) do
      local spec = spec_of(name)
      t.eq(spec.name, name, name .. ": spec name")
      t.ok(spec.horizon > 0 and spec.steps > 0 and spec.evaluation.episodes > 0 and spec.evaluation.max_steps > 0,
        name .. ": protocol")
      t.ok(type(spec.target) == "number", name .. ": target")
      t.eq(#spec.bands, 3, name .. ": three bands")
      t.ok(spec.bands[1].below < spec.bands[2].below and spec.bands[3].below == nil, name .. ": bands in order")
      for _, band in ipairs(spec.bands) do t.ok(#band.text > 20, name .. ": band text") end
      t.ok(#spec.instruction > 200, name .. ": instruction")
      local blocks = spec.artifact.blocks
      t.eq(spec.artifact.language, "lua", name .. ": language")
      t.eq(blocks[#blocks].name, spec.entry, name .. ": the entry is the last block")
      local all = {}
      for _, b in ipairs(blocks) do
        t.ok(b.editable and #b.doc > 10, name .. "." .. b.name .. ": editable, documented")
        t.ok(b.code:find("function " .. b.name .. "%("), name .. "." .. b.name .. ": defines itself")
        t.eq(hone.sandbox.lua.check(b.code), true, name .. "." .. b.name .. ": compiles")
        all[#all + 1] = b.code
      end
      for _, code in ipairs({ table.concat(all, "\n"), spec.reference }) do
        local sb <close> = sandbox(code)
        for _, b in ipairs(blocks) do
          t.ok(sb:load("assert(type(" .. b.name .. ") == 'function')"), name .. ": defines " .. b.name)
        end
        local r = atari.episode(atari.new(name, 1), sb, spec.entry, 50)
        t.eq({ r.error, r.invalid_actions }, { nil, 0 }, name .. ": the code plays valid actions")
      end
    end
  end,

  ["the reference policy beats a random one"] = function(t)
    local random = "function %s(obs) return obs.actions[math.random(#obs.actions)] end"
    for _, name in ipairs(atari.games()) do
      local spec = spec_of(name)
      local steps = math.min(spec.evaluation.max_steps, 2500)
      local ref = mean_score(t, name, spec.reference, spec.entry, { 1, 2 }, steps)
      local rnd = mean_score(t, name, random:format(spec.entry), spec.entry, { 1, 2 }, steps)
      local margin = math.max(1, 0.25 * math.abs(rnd))
      t.ok(ref > rnd + margin, string.format("%s: reference %.1f vs random %.1f", name, ref, rnd))
    end
  end,

  -- ---- Pong ---------------------------------------------------------------------------

  ["pong: a still paddle loses the game to 21"] = function(t)
    local env, sum = play("pong", 1, 5000, function() return "NOOP" end)
    t.eq(env:done(), true, "the game ends")
    t.ok(env:score() <= -15, "the computer wins: " .. env:score())
    t.eq(sum, env:score(), "the score is the sum of rewards")
    t.ok(env:steps() < 2000, "a lost game is short: " .. env:steps())
  end,

  ["pong: RIGHT moves up, LEFT down, within the walls"] = function(t)
    local env = atari.new("pong", 1)
    local y0 = find(env:objects(), "Player").y
    env:step("RIGHT")
    t.eq(find(env:objects(), "Player").y, y0 - 8, "RIGHT: up 8 px")
    env:step("LEFTFIRE")
    env:step("LEFT")
    t.eq(find(env:objects(), "Player").dy, 8, "LEFT: down 8 px")
    for _ = 1, 40 do env:step("RIGHT") end
    t.eq(find(env:objects(), "Player").y, 34, "stops at the top wall")
    for _ = 1, 40 do env:step("LEFT") end
    t.eq(find(env:objects(), "Player").y, 178, "stops at the bottom wall")
    local enemy = find(env:objects(), "Enemy")
    t.eq({ enemy.x, enemy.w, enemy.h }, { 16, 4, 16 }, "the computer's paddle")
  end,

  ["pong: the ball stays between the walls and bounces off them"] = function(t)
    local env = atari.new("pong", 4)
    local bounced = false
    for _ = 1, 600 do
      if env:done() then break end
      env:step("NOOP")
      local ball = find(env:objects(), "Ball")
      if ball then
        t.ok(ball.y >= 34 and ball.y + ball.h <= 194, "inside the field: " .. ball.y)
        t.ok(math.abs(ball.dx) <= 12 and math.abs(ball.dy) <= 12, "speed")
        if ball.dy ~= 0 and (ball.y <= 42 or ball.y >= 178) then bounced = true end
      end
    end
    t.ok(bounced, "the ball reached a wall")
  end,

  -- ---- Breakout -----------------------------------------------------------------------

  ["breakout: no serve, no ball; the wall is six full rows"] = function(t)
    local env = atari.new("breakout", 1)
    local objects = env:objects()
    t.eq(count(objects, "BlockRow"), 6, "six rows")
    for _, o in ipairs(objects) do
      if o.category == "BlockRow" then t.eq({ o.x, o.w, o.h }, { 8, 144, 6 }, "a full row") end
    end
    for _ = 1, 200 do env:step("NOOP") end
    t.eq({ find(env:objects(), "Ball"), env:score(), env:lives() }, { nil, 0, 5 }, "nothing happens")
    env:step("FIRE")
    local ball = find(env:objects(), "Ball")
    t.ok(ball and ball.dy == 0, "FIRE serves a ball (dx, dy 0 when it appears)")
    env:step("NOOP")
    t.ok(find(env:objects(), "Ball").dy > 0, "it moves down")
  end,

  ["breakout: blocks score by row and split their row; missed balls cost lives"] = function(t)
    local row_points = { 7, 7, 4, 4, 1, 1 }
    local function wall_value(objects)
      local v = 0
      for _, o in ipairs(objects) do
        if o.category == "BlockRow" then v = v + o.w // 8 * row_points[(o.y - 57) // 6 + 1] end
      end
      return v
    end
    local spec = spec_of("breakout")
    local sb <close> = sandbox(spec.reference)
    local env = atari.new("breakout", 2)
    local hits = 0
    while not env:done() and env:steps() < 3000 and hits < 20 do
      local before = wall_value(env:objects())
      local r = atari.episode(env, sb, spec.entry, 1)
      if r.reward_total > 0 then
        hits = hits + 1
        t.eq(r.reward_total, before - wall_value(env:objects()), "points of the blocks broken")
      end
    end
    t.eq(hits, 20, "the reference breaks blocks")
    t.ok(count(env:objects(), "BlockRow") > 6, "broken rows split into runs")
    -- Serving and then running to the left wall loses every ball.
    local lost = play("breakout", 3, 5000, function(e)
      return find(e:objects(), "Ball") and "LEFT" or "FIRE"
    end)
    t.eq({ lost:done(), lost:lives() }, { true, 0 }, "five balls lost end the game")
  end,

  -- ---- Space Invaders -----------------------------------------------------------------

  ["space invaders: 36 aliens, 3 shields; shots score by row"] = function(t)
    local env = atari.new("space_invaders", 1)
    local objects = env:objects()
    t.eq({ count(objects, "Alien"), count(objects, "Shield"), env:lives() }, { 36, 3, 3 }, "the start")
    local player = find(objects, "Player")
    t.eq({ player.x, player.y, player.w, player.h }, { 34, 185, 7, 10 }, "the cannon")
    local kills, points = 0, 0
    for _ = 1, 400 do
      if env:done() then break end
      local reward = env:step("FIRE")
      if reward > 0 then
        t.ok(reward % 5 == 0 and (reward <= 30 or reward == 200), "row points: " .. reward)
        kills = kills + 1
        points = points + reward
      end
    end
    t.ok(kills >= 3, "firing in place kills aliens above: " .. kills)
    t.eq(env:score(), points, "score")
    t.ok(count(env:objects(), "Alien") <= 36 - kills, "killed aliens are gone")
  end,

  ["space invaders: the cannon moves 4 px per step; bombs or landing end the game"] = function(t)
    local env = atari.new("space_invaders", 2)
    env:step("RIGHT")
    t.eq(find(env:objects(), "Player").dx, 4, "RIGHT")
    env:step("LEFTFIRE")
    local player = find(env:objects(), "Player")
    t.eq(player.dx, -4, "LEFTFIRE moves too")
    local laser = find(env:objects(), "Bullet")
    t.ok(laser and laser.x >= player.x and laser.x < player.x + 8 and laser.y < 185, "and fires from the cannon")
    local still = play("space_invaders", 3, 27000, function() return "NOOP" end)
    t.eq({ still:done(), still:lives() }, { true, 0 }, "a cannon that never fires loses")
    t.ok(still:steps() < 3000, "soon: " .. still:steps())
  end,

  -- ---- Freeway ------------------------------------------------------------------------

  ["freeway: UP crosses and scores; the game lasts 2040 steps"] = function(t)
    local env, sum = play("freeway", 1, 5000, function() return "UP" end)
    t.eq({ env:done(), env:steps() }, { true, 2040 }, "time is up after 2040 steps")
    t.ok(env:score() >= 15 and env:score() <= 30, "always UP crosses often: " .. env:score())
    t.eq(sum, env:score(), "a point per crossing")
    local still = play("freeway", 1, 5000, function() return "NOOP" end)
    t.eq({ still:score(), find(still:objects(), "Chicken").y }, { 0, 187 }, "NOOP stays on the sidewalk")
  end,

  ["freeway: the chicken climbs 3 px per step and cars keep their lanes"] = function(t)
    local env = atari.new("freeway", 3)
    env:step("DOWN")
    t.eq(find(env:objects(), "Chicken").y, 187, "cannot go below the start")
    env:step("UP")
    local chicken = find(env:objects(), "Chicken")
    t.eq({ chicken.x, chicken.y, chicken.dy }, { 44, 184, -3 }, "UP: 3 px")
    local lanes = {}
    for _ = 1, 50 do
      env:step("NOOP")
      for _, o in ipairs(env:objects()) do
        if o.category == "Car" then
          t.eq((o.y - 27) % 16, 0, "a car on a lane")
          local lane = (o.y - 27) // 16
          if o.w == 7 and o.dx ~= 0 then
            t.ok((lane < 5 and o.dx < 0) or (lane >= 5 and o.dx > 0), "upper lanes drive left, lower right")
            lanes[lane] = true
          end
        end
      end
    end
    local n = 0
    for _ in pairs(lanes) do n = n + 1 end
    t.eq(n, 10, "ten lanes of traffic")
  end,
}
