-- BBEH (tasks/bbeh/): scoring and extraction on crafted answers, the splits of all 9 tasks,
-- evaluation (errors per example, the model down), a split's questions in flight at once,
-- what the optimizer sees of a minibatch, B = 1 and B = 5 over the same 15 updates, and the
-- data: HONE_DATA, the error naming the download, `hone data bbeh` with a stand-in curl.
-- The data is the shared copy beside the repository (../shared/data, also in CI).
local hone = require("hone")
local json = hone.json
local artifact = require("hone.artifact")
local data = require("hone.data")

local DATA = "../shared/data"

local function load_bbeh(t)
  t.ok(io.open(DATA .. "/bbeh/linguini.json", "rb"), "the shared BBEH data at " .. DATA)
  local bbeh = dofile(hone.root .. "/tasks/bbeh/task.lua")
  bbeh.getenv = function(k)
    if k == "HONE_DATA" then return DATA end
    return os.getenv(k)
  end
  return bbeh
end


local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

-- A stand-in for ctx.llm: answer(content, i) gives each question's reply.
local function fake_llm(answer)
  local seen = {}
  return {
    seen = seen,
    batch = function(_, list, purpose)
      assert(purpose == "task", "purpose")
      local out = {}
      for i, messages in ipairs(list) do
        seen[#seen + 1] = messages[1].content
        out[i] = answer(messages[1].content, i)
      end
      return out
    end,
  }
end

local function ok(content) return { ok = true, content = content } end

local function examples(targets)
  local list = {}
  for i, target in ipairs(targets) do list[i] = { id = i, input = "Q" .. i .. " 100%?", expected = target } end
  return list
end

-- `hone run bbeh/NAME` against the scripted server as optimizer and task model.
local function run_args(server, name, db, extra)
  return string.format("run bbeh/%s --llm-url %s --model opt --task-llm vllm:task --task-llm-url %s --db %s " ..
    "--set llm_retries=0 %s", name, server.url, server.url, db, extra or "")
end

local function propose(prompt)
  return json.encode({ reasoning = "r", answer = "", suggestion = { prompt = prompt } })
end

return {
  ["scoring: multiple choice takes the last (X), other answers match exactly after normalization"] = function(t)
    local scoring = dofile(hone.root .. "/tasks/bbeh/scoring.lua")
    for _, c in ipairs({
      { "(C)", "(C)", 1 }, { "(B) or maybe (C)", "(C)", 1 }, { "(C), no: (B)", "(C)", 0 },
      { "C", "(C)", 1 }, { " c. ", "(C)", 1 }, { "(c)", "(C)", 1 }, { "the third", "(C)", 0 },
      { "CD", "(C)", 0 },
      { "7", "7", 1 }, { "7.0", "7", 1 }, { "**7**", "7", 1 }, { "No.", "No", 1 }, { "no", "7", 0 },
      { "  The Stranger's   DOG. ", "the stranger's dog", 1 }, { "He really cried", "He really cried.", 1 },
      { '"BC"', "BC", 1 }, { "bc", "BC", 1 }, { "B C", "BC", 0 }, { "[ətkəbox]", "[ətkəbox]", 1 },
      { "els llaços", "els llacos", 0 }, { "proved", "disproved", 0 }, { "a , b", "a, b", 1 },
      { "", "Yes", 0 },
    }) do
      local score, feedback = scoring.score(c[1], c[2])
      t.eq(score, c[3], string.format("score of %q against %q", c[1], c[2]))
      if c[3] == 1 then
        t.match(feedback, "^correct", "feedback on a right answer")
      else
        t.match(feedback, "^wrong: .*the expected answer is \"?" .. c[2]:gsub("%p", "%%%0") .. "\"?$",
          "a wrong answer's feedback reveals the expected one: " .. feedback)
      end
    end
    t.match(select(2, scoring.score("the third", "(C)")), 'no choice "%(X%)" in the extracted answer "the third"',
      "no choice at all is said so")
    t.match(select(2, scoring.score("(A) then (B)", "(C)")), 'the extracted answer is "%(B%)"', "the last one counts")
    local long = select(2, scoring.score(string.rep("é", 300), "x"))
    t.ok(utf8.len(long), "a long answer is cut between characters")
    t.match(long, "%.%.%.%[200 more characters%]", "and says how much was cut")
    local clipped = scoring.clip("début " .. string.rep("ç", 2000) .. " fin?", 101)
    t.ok(utf8.len(clipped) and #clipped < 160, "clip keeps whole characters and about max bytes")
    t.match(clipped, "^début [^\n]+\n%[%.%.%. %d+ characters cut %.%.%.%]\n[^\n]+ fin%?$", "head, note, tail")
    t.eq(scoring.clip("short", 101), "short", "short text untouched")
  end,

  ["evaluation: the starting extraction on crafted replies, errors per example, the model down"] = function(t)
    local bbeh = load_bbeh(t)
    local task = bbeh.variant("boolean_expressions")
    local start = artifact.new(task.starting_artifacts.default)
    local replies = {
      "Step 1 ... The answer is: (C).",            -- right
      "**The answer is: 7**",                       -- right, after normalization
      "Thinking.\nSo the answer is (A)\nbut the answer is: (B)",   -- the last "answer is" counts: wrong
      "I would say\n\nNo\n",                        -- no "answer is": the last line that is not blank
      "Final: 7",                                   -- wrong: "final: 7"
    }
    local llm = fake_llm(function(_, i) return ok(replies[i]) end)
    local ex = examples({ "(C)", "7", "(A)", "No", "7" })
    local r = task.evaluate(start, ex, { llm = llm, params = {} })
    t.eq(r.error, nil, "no evaluation error")
    local scores, answers = {}, {}
    for i, res in ipairs(r.results) do scores[i], answers[i] = res.score, res.answer end
    t.eq(scores, { 1, 1, 0, 1, 0 }, "scores")
    t.eq(answers, { "(C).", "7**", "(B)", "No", "Final: 7" }, "what extract_answer took")
    t.eq(r.score, 3 / 5, "mean")
    t.eq(llm.seen[1], bbeh.PROMPT:gsub("{question}", "Q1 100%%?"), "the question in place of {question}")
    t.match(r.results[3].feedback, 'expected answer is %(A%)$', "a wrong answer's feedback")
    t.eq(r.results[1].output, replies[1], "the reply is the output")

    -- a failing call or extraction is that example's, not the evaluation's
    local picky = start:with({ extract_answer = "function extract_answer(response)\n" ..
      "  if response:find('boom') then error('cannot read this') end\n" ..
      "  if response:find('table') then return {} end\n  return response\nend" })
    llm = fake_llm(function(_, i)
      return ({ ok("(C)"), ok("boom"), { ok = false, error = "HTTP 500", kind = "http" }, ok("table") })[i]
    end)
    r = task.evaluate(picky, examples({ "(C)", "(C)", "(C)", "(C)" }), { llm = llm, params = {} })
    t.eq(r.error, nil, "still an evaluation")
    t.eq(r.score, 0.25, "one right of four")
    t.match(r.results[2].error, "^extract_answer: runtime at line 2: .*cannot read this", "extraction error, line")
    t.eq({ r.results[3].error, r.results[3].error_kind }, { "the model's call failed: HTTP 500", "llm" }, "call")
    t.match(r.results[4].error, "returned a table, not a string", "wrong type")

    -- every call failed: the model is down, and the loop must be able to tell
    llm = fake_llm(function() return { ok = false, error = "connection refused", kind = "transport" } end)
    r = task.evaluate(start, examples({ "(C)", "(D)" }), { llm = llm, params = {} })
    t.eq({ r.score, r.error_kind }, { nil, "llm" }, "the whole evaluation fails")
    t.match(r.error, "the task model failed on every question: connection refused", "and says why")

    -- a candidate that cannot work fails as a whole, before any question is sent
    llm = fake_llm(function() error("no call expected") end)
    for _, c in ipairs({
      { { prompt = "Just answer." }, "prompt", "the prompt has no {question}" },
      { { extract_answer = "function extract_answer(response)\n  return response +\nend" }, "syntax",
        "^extract_answer: syntax" },
    }) do
      r = task.evaluate(start:with(c[1]), examples({ "(C)" }), { llm = llm, params = {} })
      t.eq(r.error_kind, c[2], "kind")
      t.match(r.error, c[3], "message")
    end
    llm = fake_llm(function() return ok("x") end)
    r = task.evaluate(start:with({ extract_answer = "function extract_answer(response)\n  while true do end\nend" }),
      examples({ "(C)", "(C)" }), { llm = llm, params = {} })
    t.eq(r.error_kind, "timeout", "an extraction that loops fails the candidate")
    t.match(r.error, "^extract_answer on example 1: timeout", "named")
    t.raises(function() task.evaluate(start, examples({ "(C)" }), { params = {} }) end,
      "answers its questions with a model: pass %-%-task%-llm")
  end,

  ["splits: 15 train, 10 validation, the rest test, in dataset order, for all 9 tasks"] = function(t)
    local bbeh = load_bbeh(t)
    t.eq(#bbeh.variants, 9, "nine tasks")
    for _, name in ipairs(bbeh.variants) do
      local file = json.decode(t.read(DATA .. "/bbeh/" .. name .. ".json")).examples
      local s = bbeh.variant(name).splits(1, { test_limit = 0 })
      local rest = name == "disambiguation_qa" and 95 or 175
      t.eq({ #s.train, #s.validation, #s.test }, { 15, 10, rest }, name .. " sizes")
      t.eq({ s.train[1].input, s.train[15].expected, s.validation[1].input, s.test[1].input, s.test[rest].input },
        { file[1].input, file[15].target, file[16].input, file[26].input, file[#file].input }, name .. " order")
      t.eq(bbeh.variant(name).splits(2, { test_limit = 0 }).train[1].id, 1, name .. ": the seed does not move them")
    end
    t.eq(#bbeh.variant("linguini").splits(1, { test_limit = 4 }).test, 4, "test_limit keeps the first N")
    -- the loop's minibatches: with B = 5, 15 updates are 5 epochs, each a new order from the seed
    local train = bbeh.variant("hyperbaton").splits(1, { test_limit = 0 }).train
    local orders = {}
    for seed = 1, 2 do
      local stream, seen = data.stream(train, seed), {}
      orders[seed] = {}
      for _ = 1, 15 do
        for _, ex in ipairs(stream:next(5)) do
          seen[ex.id] = (seen[ex.id] or 0) + 1
          orders[seed][#orders[seed] + 1] = ex.id
        end
      end
      for id = 1, 15 do t.eq(seen[id], 5, "seed " .. seed .. ": example " .. id .. " once per epoch") end
      t.eq(stream.epoch, 5, "five epochs")
    end
    t.ok(table.concat(orders[1], ",") ~= table.concat(orders[2], ","), "seeds shuffle differently")
    t.raises(function() bbeh.variant("nosuch") end, "no BBEH task 'nosuch' %(tasks: boardgame_qa,")
  end,

  ["a split's questions are in flight at once, within --llm-concurrency; the test split is whole"] = function(t)
    local server = t.llm_server()
    server:script({ rules = { { match = "Answer the question below", content = "The answer is: (A)", delay = 0.1 } } })
    local db = t.tmpdir() .. "/c.db"
    local code, _, err = t.hone(run_args(server, "disambiguation_qa", db,
      "--set steps=0 --set test_limit=2 --llm-concurrency 3"), { HONE_DATA = DATA })
    t.eq(code, 0, "exit (" .. err .. ")")
    local most, n = 0, 0
    for _, r in ipairs(server:requests()) do
      most, n = math.max(most, r.in_flight), n + 1
      t.eq(r.body.model, "task", "the task's own model answers")
    end
    t.eq(n, 12, "10 validation and 2 test questions")
    t.ok(most >= 2 and most <= 3, "several in flight, never more than 3: " .. most)
    t.eq(t.sql(db, "SELECT split, examples, score FROM evaluations ORDER BY id"),
      "validation|10|0.2\ntest|2|0.5\n", "scored: validation has two (A), the first two test examples one")

    -- by default the whole rest is the test split
    server:script({ rules = { { match = "Answer the question below", content = "The answer is: (A)" } } })
    db = t.tmpdir() .. "/full.db"
    code, _, err = t.hone(run_args(server, "disambiguation_qa", db, "--set steps=0"), { HONE_DATA = DATA })
    t.eq(code, 0, "exit (" .. err .. ")")
    t.eq(t.sql(db, "SELECT split, examples FROM evaluations ORDER BY id"), "validation|10\ntest|95\n",
      "120 examples: 10 validation, 95 test")
    t.eq(t.sql(db, "SELECT purpose, count(*) FROM llm_calls GROUP BY purpose"), "task|105\n", "one call each")
  end,

  ["the optimizer sees a minibatch as ID [i]: Input / Output / Feedback, expected answers revealed"] = function(t)
    local bbeh = load_bbeh(t)
    local train = bbeh.variant("boolean_expressions").splits(1, { test_limit = 0 }).train
    local server = t.llm_server()
    server:script({ rules = {
      { match = "#Instruction", content = propose("Think, then answer.\n{question}") },
      { match = "Answer the question below", content = "Let me see.\nThe answer is: (C)." },
      { match = "Think, then answer.", content = "The answer is: (E)" },
    } })
    local db = t.tmpdir() .. "/b.db"
    local code, _, err = t.hone(run_args(server, "boolean_expressions", db,
      "--set steps=1 --set batch_size=3 --set test_limit=1"), { HONE_DATA = DATA })
    t.eq(code, 0, "exit (" .. err .. ")")
    local context
    for _, r in ipairs(server:requests()) do
      if r.body.model == "opt" then
        t.eq(context, nil, "one optimizer call")
        context = r.body.messages[2].content
      end
    end
    t.match(context, "\n%- 'prompt' must contain: {question}\n", "the placeholder is a constraint")
    t.match(context, "#Variables\n%(text%) prompt:\nAnswer the question below.-\n%(lua%) extract_answer:\n" ..
      "function extract_answer%(response%)", "both blocks are variables")
    local feedback = context:match("#Feedback\n(.*)$")
    t.eq(count(feedback, "\nID %[%d+%]:\n"), 2, "three traces (the first opens the section)")
    t.match(feedback, "^ID %[1%]:\nInput: ", "ID [1] first")
    t.no_match(feedback, "ID %[4%]", "no fourth")
    local right, wrong = 0, 0
    local starts = {}
    for i = 1, 3 do starts[i] = feedback:find("ID [" .. i .. "]:\n", 1, true) end
    starts[4] = feedback:find("\n\nOverall: ", 1, true) + 2
    for i = 1, 3 do
      local body = feedback:sub(starts[i], starts[i + 1] - 3)
      local input, output, fb = body:match("^ID %[%d%]:\nInput: (.*)\nOutput: (.-)\nFeedback: ([^\n]*)$")
      t.ok(input, "ID [" .. i .. "] has Input, Output and Feedback")
      t.eq(output, "Let me see.\nThe answer is: (C).", "the model's reply")
      local tail = input:sub(-300)
      local ex
      for _, e in ipairs(train) do
        if e.input:sub(-300) == tail then ex = e end
      end
      t.ok(ex, "ID [" .. i .. "] is a training question")
      t.ok(#input <= bbeh.MAX_SHOWN + 60, "a long question is clipped: " .. #input)
      if ex.expected == "(C)" then
        t.eq(fb, "correct: (C)", "a right answer")
        right = right + 1
      else
        t.eq(fb, 'wrong: the extracted answer is "(C)"; the expected answer is ' .. ex.expected, "reveals")
        wrong = wrong + 1
      end
    end
    t.eq(right + wrong, 3, "three judged")
    t.match(feedback, "\n\nOverall: [^\n]+$", "the staged feedback closes it")
  end,

  ["B = 1 and B = 5 make the same 15 updates: 1 and 5 epochs; the final and best prompts are tested"] = function(t)
    local server = t.llm_server()
    -- the optimizer goes round three prompts; the task model answers by prompt
    local styles = { "Style A: pick.\n{question}", "Style B: pick.\n{question}", "Style C: pick.\n{question}" }
    local rules = { { match = "(text) prompt:\nAnswer the question below", content = propose(styles[1]) } }
    for i = 1, 3 do
      rules[#rules + 1] = { match = "(text) prompt:\n" .. styles[i]:sub(1, 8),
                            content = propose(styles[i % 3 + 1]), prompt_tokens = 500, completion_tokens = 50 }
    end
    for i, letter in ipairs({ "A", "C", "E" }) do
      rules[#rules + 1] = { match = styles[i]:sub(1, 8), content = "So the answer is: (" .. letter .. ")." }
    end
    rules[#rules + 1] = { match = "Answer the question below", content = "I do not know." }
    for _, b in ipairs({ 1, 5 }) do
      server:script({ rules = rules })
      local db = t.tmpdir() .. "/b" .. b .. ".db"
      local accept = b == 5 and "--set accept=improves_batch" or ""
      local code, out, err = t.hone(run_args(server, "boolean_expressions", db, string.format(
        "--set batch_size=%d --set test_every_step=false --set test_limit=3 %s", b, accept)), { HONE_DATA = DATA })
      t.eq(code, 0, "B=" .. b .. " exit (" .. err .. ")")
      t.eq(t.sql(db, "SELECT count(*), min(batch_size), max(batch_size) FROM steps WHERE step > 0"),
        string.format("15|%d|%d\n", b, b), "B=" .. b .. ": 15 updates of B examples (the task's default steps)")
      local optimizer_calls = 0
      for _, r in ipairs(server:requests()) do
        if r.body.model == "opt" then
          optimizer_calls = optimizer_calls + 1
          local feedback = r.body.messages[2].content:match("#Feedback\n(.-)\n\n#Others") or
            r.body.messages[2].content:match("#Feedback\n(.*)$")
          t.eq(count(feedback, "ID %[%d+%]:\nInput: "), b, "B=" .. b .. ": traces per update")
        end
      end
      t.eq(optimizer_calls, 15, "B=" .. b .. ": one optimizer call per update")
      -- the minibatches, in order: every training example once per epoch
      local uses, epochs = {}, {}
      for row in t.sql(db, "SELECT e.results FROM evaluations e JOIN steps s ON s.run_id = e.run_id AND " ..
          "s.step = e.step WHERE e.split = 'train' AND e.candidate_id = (SELECT current_id FROM steps p " ..
          "WHERE p.step = s.step - 1) ORDER BY e.step"):gmatch("[^\n]+") do
        for _, r in ipairs(json.decode(row)) do uses[#uses + 1] = r.id end
      end
      t.eq(#uses, 15 * b, "B=" .. b .. ": examples used")
      for i, id in ipairs(uses) do
        local e = (i - 1) // 15 + 1
        epochs[e] = epochs[e] or {}
        t.eq(epochs[e][id], nil, "B=" .. b .. ": example " .. id .. " twice in epoch " .. e)
        epochs[e][id] = true
      end
      t.eq(#epochs, b, "B=" .. b .. ": epochs")
      if b == 5 then   -- accept only if the same minibatch improves
        for row in t.sql(db, "SELECT s.accepted, (SELECT e.score FROM evaluations e WHERE e.run_id = s.run_id AND " ..
            "e.step = s.step AND e.split = 'train' AND e.candidate_id = s.candidate_id) > (SELECT e.score FROM " ..
            "evaluations e WHERE e.run_id = s.run_id AND e.step = s.step AND e.split = 'train' AND " ..
            "e.candidate_id <> s.candidate_id) FROM steps s WHERE s.step > 0"):gmatch("[^\n]+") do
          local accepted, improved = row:match("^(%d)|(%d)$")
          t.eq(accepted, improved, "accepted exactly when the minibatch improved")
        end
      else
        -- accept=always: the prompts go round A, B, C; validation (C) 0.3 beats (E) 0.2 and (A) 0;
        -- B (answers "(C)") is best from step 2; C ("(E)") is the final one; the test's first 3: C, E, C
        t.match(out, "done: best validation 0%.300 %(candidate 3%), its test 0%.667; final candidate 16: " ..
          "validation 0%.200, test 0%.333;", "the final and the best prompt's test scores")
      end
      t.eq(t.sql(db, "SELECT count(*) FROM evaluations WHERE split = 'test' AND step = 15"),
        t.sql(db, "SELECT count(DISTINCT id) FROM (SELECT best_id AS id FROM steps WHERE step = 15 UNION " ..
        "SELECT current_id FROM steps WHERE step = 15) WHERE id <> (SELECT candidate_id FROM steps WHERE step = 0)"),
        "B=" .. b .. ": the final and best candidates (if not the start) tested after the last step")
      if b == 1 then t.eq(t.sql(db, "SELECT count(*) FROM evaluations WHERE split = 'test'"), "3\n", "start, 2") end
    end
  end,

  ["a task model that is down stops the run after three steps, like a dead optimizer"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = propose("Answer.\n{question}") } })
    local db = t.tmpdir() .. "/down.db"
    local code, _, err = t.hone(string.format("run bbeh/causal_understanding --llm-url %s --model opt " ..
      "--task-llm vllm:task --task-llm-url http://127.0.0.1:1/v1 --db %s --set llm_retries=0 --set test_limit=1",
      server.url, db), { HONE_DATA = DATA })
    t.eq(code, 1, "exit 1")
    t.match(err, "^hone: run 1 stopped %(failed%): the LLM endpoint failed 3 steps in a row; last: the task " ..
      "model failed on every question: .*refused", "why")
    t.eq(t.sql(db, "SELECT count(*), sum(error LIKE 'candidate failed on validation: the task model failed%') " ..
      "FROM steps WHERE step > 0"), "3|3\n", "three steps kept, each rolled back")
  end,

  ["missing data names the download; hone data bbeh fetches the 9 tasks"] = function(t)
    local dir = t.tmpdir()
    local args = "run bbeh/linguini --llm-url http://127.0.0.1:1/v1 --model m --db " .. dir .. "/m.db"
    local _
    local code, out, err = t.hone(args, { HONE_DATA = dir .. "/none" })
    t.eq({ code, out }, { 2, "" }, "exit 2, nothing run")
    t.eq(select(2, err:gsub("\n", "")), 1, "one line")
    t.match(err, "^hone: task error: no BBEH data for linguini: " .. dir:gsub("%p", "%%%0") ..
      "/none/bbeh/linguini%.json is missing %(HONE_DATA is ", "names the file")
    t.match(err, "run `hone data bbeh` to download the 9 tasks, or: curl %-fsSL %-%-create%-dirs %-o %S+ " ..
      "https://raw%.githubusercontent%.com/google%-deepmind/bbeh/80d12ca916b7158f22293fcf3144f4d3d854d4be/" ..
      "bbeh/benchmark_tasks/bbeh_linguini/task%.json\n$", "and the command that fetches it")
    code, _, err = t.hone(args, { XDG_CACHE_HOME = dir .. "/cache" })
    t.eq(code, 2, "no HONE_DATA: the cache")
    t.match(err, "/cache/hone/data/bbeh/linguini%.json is missing %(the default data folder is ", "cache path")

    -- a stand-in curl (no network here) serves the shared copy: what `hone data` asks of it
    local bin = dir .. "/bin"
    os.execute("mkdir -p " .. t.sh_quote(bin))
    t.write(bin .. "/curl", "#!/bin/sh\n# curl -fsSL --retry 2 --create-dirs -o OUT URL\n" ..
      "out=$6; url=$7; name=${url##*/bbeh_}; name=${name%/task.json}\n" ..
      "echo \"$url\" >> \"$(dirname \"$0\")/log\"\n" ..
      "[ -e \"$(dirname \"$0\")/fail\" ] && [ \"$name\" = hyperbaton ] && exit 22\n" ..
      "mkdir -p \"$(dirname \"$out\")\" && cp " .. t.sh_quote(DATA) .. "/bbeh/\"$name\".json \"$out\"\n")
    os.execute("chmod +x " .. t.sh_quote(bin .. "/curl"))
    local env = { HONE_DATA = dir .. "/data", PATH = bin .. ":" .. os.getenv("PATH") }
    code, out, err = t.hone("data bbeh", env)
    t.eq(code, 0, "data exit (" .. err .. ")")
    t.eq(count(out, "\n"), 9, "a line per task")
    t.match(out, "disambiguation_qa +120 examples %-> ", "counts what it fetched")
    t.eq(t.read(dir .. "/data/bbeh/hyperbaton.json"), t.read(DATA .. "/bbeh/hyperbaton.json"), "in place")
    t.match(t.read(bin .. "/log"), "/80d12ca916b7158f22293fcf3144f4d3d854d4be/bbeh/benchmark_tasks/" ..
      "bbeh_boardgame_qa/task%.json\n", "from the pinned commit")
    code, out = t.hone("data bbeh", env)
    t.eq(code, 0, "again")
    t.eq(count(out, "already in"), 9, "whole files are kept")
    t.eq(count(t.read(bin .. "/log"), "\n"), 9, "and not fetched again")
    code, _, err = t.hone("run bbeh/linguini --llm-url http://127.0.0.1:1/v1 --model m --set steps=0 " ..
      "--set test_limit=1 --set llm_retries=0 --db " .. dir .. "/d.db", { HONE_DATA = dir .. "/data" })
    t.eq(code, 0, "a run reads the fetched data (" .. err .. ")")
    -- a fetch that fails: the others are kept, nothing half-written is left
    t.write(bin .. "/fail", "")
    env.HONE_DATA = dir .. "/data2"
    code, out, err = t.hone("data bbeh", env)
    t.eq(code, 1, "a failed fetch exits 1")
    t.match(err, "^hone: could not fetch hyperbaton %(curl failed%) from https://", "names it")
    t.eq(count(out, "examples %->"), 8, "the others fetched")
    t.eq(io.open(dir .. "/data2/bbeh/hyperbaton.json.part"), nil, "no partial file left")
    code, _, err = t.hone("data toy")
    t.eq(code, 2, "a task without data")
    t.match(err, "^hone: task toy has no data to download\n$", "says so")
  end,
}
