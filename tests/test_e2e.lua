-- End to end: `hone run toy` against the scripted LLM server over loopback, with a real
-- store and real sandboxes. The script proposes real improvements and real faults.
local hone = require("hone")
local json = hone.json

local function reply(code, reasoning)
  return { content = json.encode({ reasoning = reasoning or "try this", answer = "",
                                   suggestion = { price = code } }) }
end

local PARTIAL = "function price(age)\n  if age < 12 then return 5 end\n  return 12\nend"
local RULE = "function price(age)\n  if age < 12 then return 5 elseif age >= 65 then return 7 end\n  return 12\nend"
local HANGS = "function price(age)\n  while true do end\nend"
local WORSE = "function price(age)\n  return 0\nend"


local function run_args(server, db, extra)
  return string.format("run toy --llm-url %s --model scripted --db %s --set llm_retries=1 " ..
    "--set llm_backoff=0.01 %s", server.url, db, extra or "")
end

return {
  ["a toy run improves validation and stores every step, candidate and call"] = function(t)
    local server = t.llm_server()
    server:script({ replies = {
      reply(PARTIAL, "children pay less"),                         -- step 1
      { content = "I think the price depends on age." },          -- step 2: not JSON
      reply("function price(age)\n  return age <\nend"),          --   retry: does not compile
      reply(RULE, "seniors pay 7"),                                --   retry: the rule
      { status = 500 }, { status = 500 },                          -- step 3: endpoint fails
      reply(HANGS),                                                -- step 4: hangs
      reply(WORSE),                                                -- step 5: worse
    } })
    local dir = t.tmpdir()
    local db = dir .. "/run.db"
    local code, out, err = t.hone(run_args(server, db, "--set steps=5 --set batch_size=3"),
      { OPENAI_API_KEY = "sk-e2e-secret-4242" })
    t.eq(code, 0, "exit code (stderr: " .. err .. ")")
    t.match(out, "run 1 done: best validation 1%.000", "summary line")

    -- validation improved from the starting artifact to the best candidate
    local steps = t.sql(db, "SELECT step, coalesce(validation_score, ''), accepted, coalesce(error, '') " ..
      "FROM steps ORDER BY step")
    local rows = {}
    for line in steps:gmatch("[^\n]+") do rows[#rows + 1] = line end
    t.eq(#rows, 6, "step rows 0..5")
    t.match(rows[1], "^0|0%.0|1|$", "start scores 0 on validation")
    local v1 = tonumber(rows[2]:match("^1|([%d.]+)|1|$"))
    t.ok(v1 and v1 > 0 and v1 < 1, "step 1 improves partly: " .. rows[2])
    t.match(rows[3], "^2|1%.0|1|$", "step 2 reaches 1.0 after two unusable replies")
    t.match(rows[4], "^3||0|LLM call failed: HTTP 500", "step 3 records the endpoint failure")
    t.match(rows[5], "^4||0|candidate failed on validation: example %d+: timeout", "step 4 rolls back")
    t.match(rows[6], "^5|0%.0|1|$", "step 5 accepted a worse candidate")
    t.eq(t.sql(db, "SELECT best_id = (SELECT id FROM candidates WHERE step = 2) FROM steps WHERE step = 5"),
      "1\n", "best stays the step-2 candidate")
    t.match(t.sql(db, "SELECT score FROM evaluations e JOIN steps s ON s.best_id = e.candidate_id " ..
      "AND s.step = 5 AND e.split = 'test'"), "^1%.0\n$", "best candidate's test score")

    -- candidates, evaluations, calls, events
    t.eq(t.sql(db, "SELECT group_concat(step) FROM candidates"), "0,1,2,4,5\n", "candidates")
    t.eq(t.sql(db, "SELECT count(*) FROM candidates WHERE parent_id IS NULL"), "1\n", "one root")
    t.eq(t.sql(db, "SELECT count(*) FROM llm_calls"), "7\n", "llm calls (3 in step 2)")
    t.eq(#server:requests(), 8, "HTTP requests (a retried 500 is one call, two attempts)")
    t.match(t.sql(db, "SELECT group_concat(proposal_error, ' / ') FROM llm_calls WHERE step = 2"),
      "not a JSON object.* / 'price' does not compile", "unusable replies recorded with reasons")
    t.eq(t.sql(db, "SELECT status, http_status, attempts FROM llm_calls WHERE step = 3"), "http|500|2\n",
      "failed call")
    t.eq(t.sql(db, "SELECT kind FROM events WHERE step = 4"), "rollback\n", "rollback event")
    t.eq(t.sql(db, "SELECT DISTINCT error_kind FROM evaluations WHERE step = 4 AND split <> 'train' " ..
      "OR (step = 4 AND candidate_id = (SELECT id FROM candidates WHERE step = 4))"), "timeout\n",
      "the hanging candidate timed out")
    t.eq(t.sql(db, "SELECT status FROM runs"), "done\n", "run status")
    t.match(t.sql(db, "SELECT reasoning FROM candidates WHERE step = 2"), "seniors pay 7", "reasoning kept")
    t.match(t.sql(db, "SELECT diff FROM candidates WHERE step = 2"), "%+  if age < 12 then return 5 elseif",
      "diff kept")
    t.match(t.sql(db, "SELECT sum(prompt_tokens) > 0 AND sum(completion_tokens) > 0 FROM steps"), "^1",
      "tokens counted")

    -- what the LLM saw: the key only in the header, never a validation or test example
    local reqs = server:requests()
    t.eq(reqs[1].auth_scheme, "Bearer", "key sent as a bearer token")
    t.eq(reqs[1].body.model, "scripted", "model")
    t.eq(reqs[1].body.seed, 1, "seed")
    local splits = dofile(hone.root .. "/tasks/toy/task.lua").splits()
    local train = {}
    for _, ex in ipairs(splits.train) do train[ex.input] = true end
    local shown = 0
    for _, r in ipairs(reqs) do
      for _, m in ipairs(r.body.messages) do
        for age in m.content:gmatch("Input: (%d+)\n") do
          t.ok(train[tonumber(age)], "only training ages are shown, saw " .. age)
          shown = shown + 1
        end
      end
    end
    t.ok(shown >= 15, "training examples were shown")
    -- the hanging candidate's error opens the next update's feedback (its training batch timed
    -- out); memory names it
    local last = reqs[#reqs].body.messages[2].content
    t.match(last, "\n#Feedback\nYour last change %(step 4%) failed and was rolled back; the code above is the last " ..
      "one that ran%. The error:\nexample %d+: timeout", "the failure fed back")
    t.match(last, "\nAttempt at step 4 %(failed: example %d+: timeout", "and remembered")
    local f = assert(io.open(db, "rb"))
    local bytes = f:read("a")
    f:close()
    t.no_match(bytes, "sk%-e2e%-secret%-4242", "the key is not in the store")

    -- the store reads back through the CLI
    local c2, listing = t.hone("runs --db " .. db)
    t.eq(c2, 0, "runs exit")
    t.match(listing, "\n1 +toy +fixed +1 +done +5 +1%.000", "runs line")
    local c3, shown_run = t.hone("show 1 --db " .. db)
    t.eq(c3, 0, "show exit")
    t.match(shown_run, "\n2 +3 +%d+ +yes +%S+ +1%.000 +1%.000 +3 ", "show step 2")
    t.match(shown_run, "best +candidate %d+ %(step 2%): validation 1%.000, test 1%.000", "show best")
  end,

  ["the end of a run reports the test score of the final and of the best candidate"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { reply(PARTIAL), reply(WORSE) } })
    local db = t.tmpdir() .. "/final.db"
    -- test_every_step=false: only the start is tested during the run; the two that matter, at the end
    local code, out, err = t.hone(run_args(server, db, "--set steps=2 --set test_every_step=false"))
    t.eq(code, 0, "exit code (" .. err .. ")")
    local partial = tonumber(t.sql(db, "SELECT validation_score FROM steps WHERE step = 1"))
    t.ok(partial > 0 and partial < 1, "step 1 is the best so far")
    t.eq(t.sql(db, "SELECT count(test_score) FROM steps"), "1\n", "no step tested but the start")
    t.eq(t.sql(db, "SELECT c.step, e.step, e.examples FROM evaluations e JOIN candidates c " ..
      "ON c.id = e.candidate_id WHERE e.split = 'test' ORDER BY c.step"), "0|0|30\n1|2|30\n2|2|30\n",
      "the best (step 1) and the final (step 2) candidates tested after the last step")
    t.eq(t.sql(db, "SELECT step, kind FROM events"), "2|final_test\n", "recorded as such")
    local best_test = t.sql(db, "SELECT printf('%.3f', e.score) FROM evaluations e JOIN candidates c " ..
      "ON c.id = e.candidate_id WHERE e.split = 'test' AND c.step = 1"):gsub("\n", "")
    t.match(out, string.format("run 1 done: best validation %.3f %%(candidate 2%%), its test %s; final " ..
      "candidate 3: validation 0%%.000, test 0%%.000;", partial, best_test:gsub("%.", "%%.")), "summary line")
    local _, shown = t.hone("show 1 --db " .. db)
    t.match(shown, "\nbest +candidate 2 %(step 1%): validation [%d.]+, test " .. best_test:gsub("%.", "%%."),
      "show: best")
    t.match(shown, "\nfinal +candidate 3 %(step 2%): validation 0%.000, test 0%.000\n", "show: final")
  end,

  ["a dead endpoint stops the run after three failed steps, with everything kept"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/down.db"
    local code, _, err = t.hone(string.format("run toy --llm-url http://127.0.0.1:1/v1 --model m --db %s " ..
      "--set llm_retries=0 --set steps=10", db))
    t.eq(code, 1, "exit code")
    t.match(err, "^hone: run 1 stopped %(failed%): the LLM endpoint failed 3 steps in a row; last: LLM call " ..
      "failed: .*refused", "message")
    t.eq(t.sql(db, "SELECT count(*) FROM steps"), "4\n", "steps 0..3 kept")
    t.eq(t.sql(db, "SELECT status FROM runs"), "failed\n", "status")
    t.eq(t.sql(db, "SELECT count(*) FROM llm_calls WHERE status = 'transport'"), "3\n", "calls kept")
  end,
}
