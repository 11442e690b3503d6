-- Recipes that set B and H by themselves: the adaptive rules on their own, then real runs on
-- a task whose scores the scripted optimizer dictates, so the signals are known exactly and
-- the recorded decisions can be checked; early stopping against meta-overfitting.
local hone = require("hone")
local json = hone.json

local adaptive = dofile(hone.root .. "/recipes/adaptive.lua")
local early = dofile(hone.root .. "/recipes/early_stop.lua")


-- A task whose artifact states its own scores: train (minibatch or rollout) and validation.
-- episodic = true gives it experience(), so the recipe adapts H instead of B.
local function dictated_task(episodic)
  return string.format([[
local hone = require("hone")
local lua_eval = require("hone.lua_eval")
local M = { instruction = "Raise the scores.", default_artifact = "default", episodic = %s }
M.starting_artifacts = { default = { language = "lua", blocks = {
  { name = "scores", code = "function scores()\n  return { train = 0.1, validation = 0.1 }\nend" } } } }
function M.splits()
  local function ex(i) return { id = i, input = i } end
  local train = {}
  for i = 1, 20 do train[i] = ex(i) end
  return { train = train, validation = { ex(21) }, test = { ex(22) } }
end
local function score_of(artifact, field)
  local sb <close> = hone.sandbox.lua.new({})
  assert(sb:load(artifact:assemble()))
  local _, s = sb:call("scores")
  return s[field]
end
function M.evaluate(artifact, examples, ctx)
  local s = score_of(artifact, ctx.split == "train" and "train" or "validation")
  local results = {}
  for i, e in ipairs(examples) do results[i] = { id = e.id, input = e.input, output = s, score = s } end
  return { score = s, results = results }
end
if M.episodic then
  function M.experience(artifact, opts)
    local function play(a)
      local s = score_of(a, "train")
      return { score = s, results = { { id = 1, input = "rollout", output = s, score = s } } }
    end
    local r = play(artifact)
    r.evidence = "Rollout of " .. tostring(opts.horizon) .. " steps: reward " .. r.score
    r.again = play
    return r
  end
end
return M
]], tostring(episodic))
end

local function dictate(train, validation)
  return { content = json.encode({ reasoning = "r", suggestion = {
    scores = string.format("function scores()\n  return { train = %s, validation = %s }\nend", train, validation) } }) }
end

local function sig(o)
  local s = { improved_batch = false, improved_validation = false, failed = false, parse_failures = 0 }
  for k, v in pairs(o) do s[k] = v end
  return s
end

local function state(o)
  local s = { batch_size = 3, horizon = 25, episodic = false, patience = 2, batch_ladder = { 1, 3, 5, 8 },
              horizon_ladder = { 1, 5, 25, 100, 400 } }
  for k, v in pairs(o or {}) do s[k] = v end
  return s
end

return {
  ["adaptive rules: grow B on minibatch-only gains, shrink on parse failures or fast progress"] = function(t)
    local fits = sig({ improved_batch = true })
    local b, h, why = adaptive.decide(state(), { fits })
    t.eq({ b, h, why }, { 3, 25, nil }, "one step is not enough (patience 2)")
    b, h, why = adaptive.decide(state(), { fits, fits })
    t.eq({ b, h }, { 5, 25 }, "grow")
    t.match(why, "improved their minibatch but not validation: grow B 3 %-> 5", "reason")
    b = adaptive.decide(state({ batch_size = 8 }), { fits, fits })
    t.eq(b, 8, "the top rung stays")
    b, h, why = adaptive.decide(state(), { sig({ parse_failures = 1 }), sig({ parse_failures = 2 }) })
    t.eq({ b, h }, { 1, 25 }, "shrink on parse failures")
    t.match(why, "failed to parse", "reason")
    local good = sig({ improved_batch = true, improved_validation = true })
    b, h, why = adaptive.decide(state({ batch_size = 5 }), { good, good })
    t.eq({ b, h }, { 3, 25 }, "shrink on fast progress")
    t.match(why, "each improved validation", "reason")
    b, h, why = adaptive.decide(state(), { fits, good })
    t.eq({ b, h, why }, { 3, 25, nil }, "mixed signals: keep")
    b = adaptive.decide(state({ batch_size = 4 }), { fits, fits })
    t.eq(b, 5, "an off-ladder value moves from its nearest rung")
  end,

  ["adaptive rules: lengthen H when reward and episode score disagree, shorten it when nothing improves"] = function(t)
    local disagree = sig({ improved_batch = true })
    local _, h, why = adaptive.decide(state({ episodic = true }), { disagree, disagree })
    t.eq(h, 100, "lengthen")
    t.match(why, "improved their reward but not the episode score: lengthen H 25 %-> 100", "reason")
    local flat = sig({})
    _, h, why = adaptive.decide(state({ episodic = true }), { flat, flat })
    t.eq(h, 5, "shorten")
    t.match(why, "improved neither rollout nor validation: shorten H 25 %-> 5", "reason")
    local b
    b, h = adaptive.decide(state({ episodic = true }), { sig({ improved_batch = true, improved_validation = true }),
      sig({ improved_validation = true }) })
    t.eq({ b, h }, { 3, 25 }, "progress: keep; B untouched on episodic tasks")
    _, h = adaptive.decide(state({ episodic = true, horizon = "episode" }), { flat, flat })
    t.eq(h, "episode", "a whole-episode horizon is left alone")
  end,

  ["an adaptive run changes B when the signals call for it, and records why"] = function(t)
    local server = t.llm_server()
    server:script({ replies = {
      dictate(0.5, 0.1), dictate(0.6, 0.1),      -- minibatch up, validation flat: grow B 3 -> 5
      dictate(0.7, 0.3), dictate(0.8, 0.5),      -- validation up twice: shrink B 5 -> 3
      dictate(0.9, 0.6),
    } })
    local dir = t.tmpdir()
    t.write(dir .. "/task.lua", dictated_task(false))
    local db = dir .. "/a.db"
    local code, out, err = t.hone(string.format("run %s/task.lua --recipe adaptive --llm-url %s --model m --db %s " ..
      "--set steps=5 --set batch_size=3 --set llm_retries=0", dir, server.url, db))
    t.eq(code, 0, "exit (" .. err .. ")")
    t.match(out, "adaptive: the last 2 updates improved their minibatch but not validation: grow B 3 %-> 5", "logged")
    t.eq(t.sql(db, "SELECT group_concat(batch_size) FROM steps WHERE step > 0"), "3,3,5,5,3\n", "B over time")
    local decisions = {}
    for line in t.sql(db, "SELECT decision FROM steps WHERE step > 0 ORDER BY step"):gmatch("[^\n]+") do
      decisions[#decisions + 1] = json.decode(line)
    end
    t.eq(decisions[1].reason, "the starting setting", "first decision")
    t.eq({ decisions[3].batch_size, decisions[3].changed }, { 5, true }, "the change is recorded on the step using it")
    t.match(decisions[3].reason, "grow B 3 %-> 5", "with its reason")
    t.match(decisions[5].reason, "each improved validation: shrink B 5 %-> 3", "second change")
    t.eq(decisions[4].changed, false, "steps without a change say so")
    local s2 = json.decode(t.sql(db, "SELECT signals FROM steps WHERE step = 2"))
    t.eq({ s2.improved_batch, s2.improved_validation, s2.validation, s2.train_after }, { true, false, 0.1, 0.6 },
      "signals recorded")
    t.ok(math.abs(s2.gap - 0.5) < 1e-9, "generalization gap: " .. tostring(s2.gap))
    t.eq(s2.test, nil, "no held-out score among the signals")
  end,

  ["an adaptive run changes H on an episodic task"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { dictate(0.5, 0.1), dictate(0.6, 0.1), dictate(0.6, 0.1), dictate(0.6, 0.1),
                                dictate(0.6, 0.1) } })
    local dir = t.tmpdir()
    t.write(dir .. "/task.lua", dictated_task(true))
    local db = dir .. "/h.db"
    local code, _, err = t.hone(string.format("run %s/task.lua --recipe adaptive --llm-url %s --model m --db %s " ..
      "--set steps=5 --set horizon=25 --set llm_retries=0 --set retries=0", dir, server.url, db))
    t.eq(code, 0, "exit (" .. err .. ")")
    -- 1, 2: reward up, validation flat -> H 25 -> 100; 3, 4: nothing improves -> H 100 -> 25
    t.eq(t.sql(db, "SELECT group_concat(horizon) FROM steps WHERE step > 0"), "25,25,100,100,25\n", "H over time")
    t.match(t.sql(db, "SELECT decision FROM steps WHERE step = 3"), "lengthen H 25 %-> 100", "why it grew")
    t.match(t.sql(db, "SELECT decision FROM steps WHERE step = 5"), "shorten H 100 %-> 25", "why it shrank")
  end,

  ["early stopping: a stalled validation or a widening gap ends the run"] = function(t)
    local p = { patience = 3, gap_patience = 2 }
    local stalled, widening, why = early.watch(0, 0, nil, sig({ new_best = true, gap = 0.1 }), p)
    t.eq({ stalled, widening, why }, { 0, 0, nil }, "a new best resets")
    stalled, widening, why = early.watch(stalled, widening, 0.1, sig({ gap = 0.2 }), p)
    t.eq({ stalled, widening, why }, { 1, 1, nil }, "one widening step")
    why = select(3, early.watch(stalled, widening, 0.2, sig({ gap = 0.3 }), p))
    t.match(why, "gap widened 2 steps in a row without a new best: meta%-overfitting", "gap rule")
    local s = 0
    for _ = 1, 3 do s, _, why = early.watch(s, 0, nil, sig({}), p) end
    t.match(why, "no new best on validation for 3 steps", "stall rule")

    local server = t.llm_server()
    server:script({ replies = { dictate(0.5, 0.4), dictate(0.6, 0.3), dictate(0.7, 0.3), dictate(0.8, 0.2),
                                dictate(0.9, 0.2), dictate(0.9, 0.2) } })
    local dir = t.tmpdir()
    t.write(dir .. "/task.lua", dictated_task(false))
    local db = dir .. "/e.db"
    local code, out, err = t.hone(string.format("run %s/task.lua --recipe early_stop --llm-url %s --model m " ..
      "--db %s --set steps=6 --set gap_patience=3 --set llm_retries=0", dir, server.url, db))
    t.eq(code, 0, "exit (" .. err .. ")")
    t.match(out, "early stop: the train%-validation gap widened 3 steps in a row", "stopped")
    t.eq(t.sql(db, "SELECT max(step) FROM steps"), "4\n", "after step 4, not 6")
    t.match(t.sql(db, "SELECT message FROM events WHERE kind = 'early_stop'"), "meta%-overfitting", "recorded")
  end,
}
