-- End to end, the LLM layer in a real run: budgets that stop a run cleanly, the reply cache,
-- offline replay with the server gone, the Anthropic provider, a task with its own model
-- answering a split concurrently, and the accounting `hone show` prints.
local hone = require("hone")
local json = hone.json

local function reply(code, extra)
  local r = { content = json.encode({ reasoning = "try", answer = "", suggestion = { price = code } }),
              prompt_tokens = 400, completion_tokens = 60 }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local CHILD = "function price(age)\n  if age < 12 then return 5 end\n  return 12\nend"
local RULE = "function price(age)\n  if age < 12 then return 5 elseif age >= 65 then return 7 end\n  return 12\nend"
local HANGS = "function price(age)\n  while true do end\nend"


local function toy(url, db, extra)
  return string.format("run toy --llm-url %s --model scripted --db %s --set llm_retries=1 --set llm_backoff=0.01 %s",
    url, db, extra or "")
end

return {
  ["a spent budget stops the run cleanly with status budget"] = function(t)
    local server = t.llm_server()
    server:script({ default = reply(CHILD) })
    local db = t.tmpdir() .. "/b.db"
    local code, out, err = t.hone(toy(server.url, db, "--set steps=6 --budget calls=2"))
    t.eq(code, 1, "exit code (" .. err .. ")")
    t.match(out, "run 1 stopped %(budget%): LLM budget spent: calls 2 of 2; everything so far is kept", "message")
    t.eq(t.sql(db, "SELECT status, error FROM runs"), "budget|LLM budget spent: calls 2 of 2\n", "status")
    t.eq(t.sql(db, "SELECT group_concat(step) FROM steps"), "0,1,2\n", "the steps done are kept, whole")
    t.eq(t.sql(db, "SELECT status, count(*) FROM llm_calls GROUP BY status"), "budget|1\nok|2\n",
      "two calls sent; the third (step 2 retries a reply that changed nothing) refused and recorded")
    t.eq(#server:requests(), 2, "no request past the budget")
    t.eq(t.sql(db, "PRAGMA integrity_check"), "ok\n", "store intact")

    db = t.tmpdir() .. "/tok.db"
    code = t.hone(toy(server.url, db, "--set steps=6 --llm-cache off --budget tokens=1000"))
    t.eq(code, 1, "token budget exit")
    t.eq(t.sql(db, "SELECT status, error FROM runs"), "budget|LLM budget spent: tokens 1380 of 1000\n",
      "tokens: the third call's reply is what crosses the limit")
    code, out, err = t.hone(toy(server.url, db, "--budget calls=x"))
    t.eq({ code, out }, { 2, "" }, "bad budget: exit 2, nothing run")
    t.match(err, "^hone: %-%-budget takes NAME=N", "bad budget message")
  end,

  ["equal requests are answered from the cache, not the network"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { reply(CHILD), reply(RULE) } })
    local db = t.tmpdir() .. "/c.db"
    t.eq((t.hone(toy(server.url, db, "--set steps=2"))), 0, "first run")
    t.eq(#server:requests(), 2, "first run asks the server")
    server:script({ default = { status = 500 } })
    local code, _, err = t.hone(toy(server.url, db, "--set steps=2"))
    t.eq(code, 0, "second run (" .. err .. ")")
    t.eq(#server:requests(), 0, "the same seed asks nothing: every reply is cached")
    t.eq(t.sql(db, "SELECT run_id, count(*), sum(cache_hit) FROM llm_calls GROUP BY run_id"), "1|2|0\n2|2|2\n",
      "hits recorded per call")
    t.eq(t.sql(db, "SELECT count(*) FROM llm_cache"), "2\n", "one cache row per distinct request")
    t.eq(t.sql(db, "SELECT group_concat(validation_score) FROM steps WHERE run_id = 1"),
      t.sql(db, "SELECT group_concat(validation_score) FROM steps WHERE run_id = 2"), "same scores")
    code = t.hone(toy(server.url, db, "--set steps=2 --seed 2 --llm-cache only"))
    t.eq(code, 1, "a new seed is a new request: not in the cache")
    t.match(t.sql(db, "SELECT status || ' ' || error FROM runs WHERE id = 3"), "^failed reply not in the cache",
      "only never uses the network")
    t.eq(#server:requests(), 0, "still nothing sent")
    code, _, err = t.hone(toy(server.url, db, "--llm-cache maybe"))
    t.eq(code, 2, "bad mode")
    t.match(err, "%-%-llm%-cache takes on, off or only", "bad mode message")
  end,

  ["a finished run replays bit for bit with its server gone"] = function(t)
    local server = dofile("tests/llm_server.lua").start(t)
    server:script({ replies = {
      reply(CHILD), { content = "no JSON here" }, reply(RULE), reply(HANGS), { status = 500 }, reply(CHILD),
    } })
    local db = t.tmpdir() .. "/r.db"
    local code, _, err = t.hone(toy(server.url, db, "--set steps=4 --budget calls=20"))
    server:stop()
    t.eq(code, 0, "original run (" .. err .. ")")
    local out
    code, out, err = t.hone("replay 1 --quiet --db " .. db)
    t.eq(code, 0, "replay exit (" .. err .. out .. ")")
    t.match(out, "replay of run 1 as run 2: 5 steps, every candidate and score matches", "verdict")
    t.eq(t.sql(db, "SELECT replay_of, status FROM runs WHERE id = 2"), "1|done\n", "replay recorded")
    t.eq(t.sql(db, "SELECT count(*), sum(cache_hit) FROM llm_calls WHERE run_id = 2"), "5|5\n",
      "every reply came from the cache")

    -- a changed cache is caught, not papered over
    t.sql(db, "UPDATE llm_cache SET content = replace(content, '>= 65', '>= 60')")
    code, out, err = t.hone("replay 1 --quiet --db " .. db)
    t.eq(code, 1, "a mismatch fails (" .. err .. ")")
    t.match(out, "^replay of run 1 as run 3 differs:\n", "verdict")
    t.match(out, "\n  step 2: the candidate's text differs\n", "the first divergence named")
    t.match(err, "run 3 stopped %(failed%): reply not in the cache", "why the replay ended early")
  end,

  ["the anthropic provider runs a loop"] = function(t)
    local server = t.llm_server()
    server:script({ default = reply(RULE, { anthropic = true }) })
    local db = t.tmpdir() .. "/a.db"
    local code, _, err = t.hone(string.format("run toy --llm anthropic:claude-test --llm-url %s --db %s " ..
      "--set steps=1 --llm-cache off", server.url, db), { ANTHROPIC_API_KEY = "sk-ant-e2e-777" })
    t.eq(code, 0, "exit (" .. err .. ")")
    local seen = server:requests()
    t.eq(seen[1].path, "/v1/messages", "Messages API")
    t.eq(seen[1].auth_scheme, "x-api-key", "key header")
    t.match(seen[1].body.system, "^You.re tasked to solve", "the optimizer's system prompt goes in system")
    t.eq(t.sql(db, "SELECT format, model, status FROM llm_calls"), "anthropic|claude-test|ok\n", "recorded")
    t.eq(t.sql(db, "SELECT validation_score FROM steps WHERE step = 1"), "1.0\n", "the proposal worked")
    t.no_match(t.read(db), "sk%-ant%-e2e", "no key in the store")
    code, _, err = t.hone(string.format("run toy --llm anthropic:claude-test --db %s", db))
    t.eq(code, 2, "no key, no default endpoint")
    t.match(err, "no key for anthropic at https://api%.anthropic%.com/v1: set %$ANTHROPIC_API_KEY", "message")
    code, _, err = t.hone(string.format("run toy --llm gemini:x --db %s", db))
    t.eq(code, 2, "unknown provider")
    t.match(err, "unknown LLM provider 'gemini' %(known: anthropic, llamacpp, ollama, openai, vllm%)", "message")
  end,

  ["a task's own model answers a split concurrently; show accounts for every call"] = function(t)
    local server = t.llm_server()
    local dir = t.tmpdir()
    -- a task that asks its own model each example's question, all at once
    t.write(dir .. "/task.lua", [[
local M = {}
M.instruction = "Improve the prompt."
M.default_artifact = "default"
M.starting_artifacts = { default = { language = "text", blocks = {
  { name = "prompt", editable = true, doc = "the prompt", code = "Answer:" } } } }
function M.splits()
  local function ex(i) return { id = i, input = "q" .. i, expected = "a" .. i } end
  return { train = { ex(1), ex(2), ex(3) }, validation = { ex(4), ex(5), ex(6), ex(7), ex(8), ex(9) }, test = { ex(10) } }
end
function M.evaluate(artifact, examples, ctx)
  local list = {}
  for i, e in ipairs(examples) do
    list[i] = { { role = "user", content = artifact:block("prompt").code .. " " .. e.input } }
  end
  local rs = ctx.llm:batch(list, "task")
  local results, total = {}, 0
  for i, e in ipairs(examples) do
    local out = rs[i].ok and rs[i].content or nil
    local score = out == e.expected and 1 or 0
    total = total + score
    results[i] = { id = e.id, input = e.input, output = out, expected = e.expected, score = score,
                   feedback = score == 1 and "right" or ("expected " .. e.expected) }
  end
  return { score = total / #examples, results = results }
end
return M
]])
    local rules = { { match = "#Instruction", content = json.encode({ reasoning = "r",
      suggestion = { prompt = "Better:" } }), prompt_tokens = 300, completion_tokens = 20 } }
    for i = 10, 1, -1 do   -- rules match substrings: q10 before q1
      rules[#rules + 1] = { match = "Better: q" .. i, content = "a" .. i, delay = 0.15 }
      rules[#rules + 1] = { match = "Answer: q" .. i, content = "wrong", delay = 0.15, prompt_tokens = 7,
                            completion_tokens = 1 }
    end
    server:script({ rules = rules, default = { content = "a0" } })
    local db = dir .. "/t.db"
    local code, out, err = t.hone(string.format("run %s/task.lua --llm-url %s --model optimizer-m " ..
      "--task-llm vllm:task-m --task-llm-url %s --llm-concurrency 4 --db %s --set steps=1 --set batch_size=3",
      dir, server.url, server.url, db))
    t.eq(code, 0, "exit (" .. err .. out .. ")")
    local most = 0
    for _, s in ipairs(server:requests()) do most = math.max(most, s.in_flight) end
    t.ok(most >= 2 and most <= 4, "several task requests in flight, within the limit: " .. most)
    t.eq(t.sql(db, "SELECT purpose, model, count(*) FROM llm_calls GROUP BY purpose, model ORDER BY purpose"),
      "optimizer|optimizer-m|1\ntask|task-m|20\n", "calls by purpose and model")
    t.eq(t.sql(db, "SELECT step, llm_calls FROM steps ORDER BY step"), "0|7\n1|14\n",
      "step 0: validation + test; step 1: batch before, optimizer, batch after, validation, test")
    t.eq(t.sql(db, "SELECT validation_score FROM steps WHERE step = 1"), "1.0\n", "the new prompt works")
    local config = json.decode(t.sql(db, "SELECT config FROM runs"))
    t.eq(config.task_llm.model, "task-m", "task model recorded")
    t.eq(config.llm_concurrency, 4, "concurrency recorded")
    local c2, shown = t.hone("show 1 --calls --db " .. db)
    t.eq(c2, 0, "show")
    t.match(shown, "\ncall +step +purpose +status +cached +tries +prompt", "per-call table")
    t.match(shown, "\n%d+ +1 +optimizer +ok +no +1 +300 +20 ", "the optimizer's call")
    t.match(shown, "llm +21 calls %(0 from the cache, 21 HTTP attempts%), %d+ prompt %+ %d+ completion tokens",
      "run totals")
    t.match(shown, "\n1 +3 +%d+ +yes .- +14 +%d+ +%d+%.%d%d ", "step line with calls, tokens and LLM seconds")
  end,
}
