-- Atari tasks in real runs: `hone run atari/GAME` with the scripted LLM at horizon 1 and at
-- horizon k, what the optimizer is shown, rollback on a failing policy, and the fixed
-- recipe's early stop and best-candidate restore.
local hone = require("hone")
local json = hone.json


local function propose(code)
  return { content = json.encode({ reasoning = "r", answer = "", suggestion = { select_action = code } }) }
end

local WAITS = "function select_action(obs)\n  local traffic = analyze_traffic(obs)\n  return 'NOOP'\nend"
local BREAKS = "function select_action(obs)\n  local traffic = analyze_traffic(obs)\n  return traffic.lane.x\nend"
local RUNS = "function select_action(obs)\n  local traffic = analyze_traffic(obs)\n" ..
  "  return obs.step % 7 == 0 and 'NOOP' or 'UP'\nend"

local SMALL = "--set eval_episodes=1 --set eval_steps=300 --set test_episodes=1 --set llm_retries=0"

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

return {
  ["an Atari run at horizon 1 and at horizon k shows the optimizer exactly H steps"] = function(t)
    local server = t.llm_server()
    for _, h in ipairs({ 1, 25 }) do
      server:script({ replies = { propose(WAITS), propose(BREAKS), propose(RUNS) } })
      local db = t.tmpdir() .. "/a.db"
      local code, out, err = t.hone(string.format("run atari/freeway --llm-url %s --model scripted --db %s " ..
        "--set steps=3 --set horizon=%d %s", server.url, db, h, SMALL))
      t.eq(code, 0, "exit at H=" .. h .. " (" .. err .. ")")
      t.match(out, "run 1: task atari/freeway", "run line")
      local reqs = server:requests()
      t.eq(#reqs, 3, "one optimizer call per step")
      for i, r in ipairs(reqs) do
        local text = r.body.messages[2].content
        t.match(text, "Rollout of " .. h .. " steps %(horizon " .. h .. "%), from episode step " .. (i - 1) * h,
          "the rollout goes on from step to step")
        t.eq(count(text, "\nt=%d+ score="), h, "H steps shown at H=" .. h)
        t.match(text, "Chicken%(%d+,%d+", "objects shown")
        t.match(text, "Evaluation score of this policy %(full episodes%): %-?%d", "evaluation score shown")
        t.match(text, "#Instruction\nYou write a Lua policy", "the game's instruction")
      end
      t.match(reqs[1].body.messages[2].content, "You cross no more often", "the staged band for a low score")
      t.eq(t.sql(db, "SELECT group_concat(coalesce(horizon, '-')) FROM steps"),
        string.format("-,%d,%d,%d\n", h, h, h), "horizon recorded per step")
      t.eq(t.sql(db, "SELECT validation_score FROM steps WHERE step = 1"), "0.0\n", "waiting forever scores 0")
      t.match(t.sql(db, "SELECT error FROM steps WHERE step = 2"),
        "^candidate failed on validation: episode seed 101, step 0: runtime in select_action, line 3: policy:7:",
        "rollback reason")
      t.eq(t.sql(db, "SELECT kind FROM events WHERE step = 2"), "rollback\n", "rolled back")
      t.eq(t.sql(db, "SELECT accepted FROM steps WHERE step = 3"), "1\n", "the third proposal runs")
      t.ok(tonumber(t.sql(db, "SELECT validation_score FROM steps WHERE step = 3")) > 0, "and crosses the road")
      t.eq(t.sql(db, "SELECT count(*) FROM evaluations WHERE split = 'test'"), "3\n",
        "test recorded per step, but for the candidate that failed on validation (rolled back)")
      t.eq(t.sql(db, "SELECT count(*) FROM evaluations WHERE cpu_s IS NULL OR max_rss_kb IS NULL"), "0\n",
        "every evaluation records what it cost")
      t.eq(t.sql(db, "SELECT max_rss_kb > 10 AND cpu_s > 0 FROM evaluations WHERE step = 0 AND split = 'validation'"),
        "1\n", "real figures from the sandbox")
      for _, r in ipairs(reqs) do
        t.no_match(r.body.messages[2].content, "seed 20%d", "held-out episodes never shown")
        t.no_match(r.body.messages[2].content, "seed 10%d", "nor validation episodes")
      end
    end
  end,

  ["the whole-episode horizon plays fresh episodes, thinned to fit"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { propose(RUNS) } })
    local db = t.tmpdir() .. "/e.db"
    local code, _, err = t.hone(string.format("run atari/freeway --llm-url %s --model scripted --db %s " ..
      "--set steps=1 --set horizon=episode %s", server.url, db, SMALL))
    t.eq(code, 0, "exit (" .. err .. ")")
    local text = server:requests()[1].body.messages[2].content
    t.match(text, "Rollout of 300 steps %(horizon episode%), from episode step 0:", "a whole (capped) episode")
    t.eq(t.sql(db, "SELECT horizon FROM steps WHERE step = 1"), "episode\n", "recorded as text")
  end,

  ["families name their variants; unknown games are refused"] = function(t)
    local code, _, err = t.hone("run atari --optimizer baseline")
    t.eq(code, 2, "a family alone")
    t.match(err, "task atari is a family: name one of asterix, breakout", "lists the games")
    code, _, err = t.hone("run atari/pacman")
    t.eq(code, 2, "unknown game")
    t.match(err, "no Atari game 'pacman'", "names it")
    code, _, err = t.hone("run atari/pong --optimizer baseline")
    t.eq(code, 2, "nothing for the baseline to change")
    t.match(err, "starting artifact 'default' of atari/pong has none", "says why")
  end,

  ["the baseline tunes the reference policy's constants"] = function(t)
    local db = t.tmpdir() .. "/b.db"
    local code, out, err = t.hone(string.format("run atari/pong --artifact reference --db %s --set steps=2 %s",
      db, SMALL))
    t.eq(code, 0, "exit (" .. err .. ")")
    t.match(err, "BASELINE optimizer", "said loudly")
    t.match(out, "the baseline optimizer %(no LLM%)", "run line")
    t.eq(t.sql(db, "SELECT count(*) FROM candidates"), "3\n", "two proposals made")
    t.match(t.sql(db, "SELECT reasoning FROM candidates WHERE step = 1"), "^baseline %(no LLM%): policy: ",
      "the change is described")
  end,

  ["the fixed recipe stops at the target and restores the best"] = function(t)
    local fixed = dofile(hone.root .. "/recipes/fixed.lua")
    local Run = require("hone.loop").Run
    local function fake(scores, target, restore_below, higher)
      local run = setmetatable({ params = { steps = #scores, batch_size = 1, horizon = 1,
                                            restore_below = restore_below, early_stop = true },
                    task = { target = target }, log = function() end, best = {}, current = {}, restored = 0,
                    steps = 0, higher = higher ~= false },
                    { __index = Run })
      function run:step()
        self.steps = self.steps + 1
        local v = scores[self.steps]
        self.current = { validation = v }
        if self:better(v, self.best.validation) then self.best = { validation = v } end
      end
      function run:restore_best() self.restored = self.restored + 1 self.current = self.best end
      fixed.run(run)
      return run
    end
    local r = fake({ 5, 9, 12, 3, 20 }, 10, 0)
    t.eq(r.steps, 3, "stops once best validation reaches the target")
    r = fake({ 5, 10, 7, 9, 2 }, 100, 0.8)
    t.eq({ r.steps, r.restored }, { 5, 2 }, "restores when validation falls below 0.8 x best (7 < 8, 2 < 8)")
    r = fake({ -5, -10 }, 100, 0.8)
    t.eq(r.restored, 0, "no restore on negative scores, where a fraction means nothing")
    -- an error (lower is better): the target is reached from above, "below 0.8 x best" is above best / 0.8
    r = fake({ 0.30, 0.20, 0.12, 0.5 }, 0.15, 0, false)
    t.eq({ r.steps, r.best.validation }, { 3, 0.12 }, "stops once the best error is at or below the target")
    r = fake({ 0.2, 0.1, 0.12, 0.13, 0.3 }, 0, 0.8, false)
    t.eq({ r.steps, r.restored }, { 5, 2 }, "restores when the error rises above best / 0.8 (0.13, 0.3 > 0.125)")
  end,

  ["the episodic template: compact objects, rewards, thinning"] = function(t)
    local templates = require("hone.templates")
    local objs = { { category = "Player", x = 140, y = 95, w = 4, h = 16, dx = 0, dy = -8 },
                   { category = "Ball", x = 80, y = 120, w = 2, h = 4, dx = 0, dy = 0 } }
    for i = 1, 8 do objs[#objs + 1] = { category = "Car", x = i * 10, y = 30 + i, w = 8, h = 8, dx = 1, dy = 0 } end
    t.eq(templates.objects(objs), "Player(140,95 v0,-8) Ball(80,120) Car x8 [x10..88 y31..46]", "one line")
    local trace = {}
    for i = 1, 3000 do
      trace[i] = { step = i - 1, action = i % 50 == 0 and "UP" or "NOOP", reward = i == 1500 and 1 or 0, score = 0,
                   lives = 3, objects = objs }
    end
    local text = templates.episodic(trace, { horizon = 3000, rollout_reward = 1, evaluation = "3.0", stage = "Band." })
    t.ok(#text < templates.MAX_EPISODIC + 2000, "thinned: " .. #text)
    t.match(text, "%(%d+ of the 3000 steps shown: those with a reward or a change of action", "says it thinned")
    t.match(text, "\nt=1499 [^\n]* reward=%+1", "the rewarded step is kept")
    t.match(text, "Reward over these steps: %+1%.\nEvaluation score of this policy %(full episodes%): 3%.0%.\nBand%.$",
      "the summary, the evaluation and the band close it")
  end,
}
