-- Crash safety: `hone resume` after SIGKILL at 50 random moments gives the very run an
-- uninterrupted one gives; resuming a store cut after any step replays the recipe's
-- decisions, the training stream or episode and the optimizer's own state; SIGINT and
-- SIGTERM stop a run cleanly (status interrupted), cutting short an LLM wait or a sandboxed
-- program; the scripted server's pick-by-hash mode the harness relies on.
local hone = require("hone")
local data = require("hone.data")
local json = hone.json

local ENV = "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u HONE_LLM_URL -u HONE_LLM -u HONE_LLM_MODEL " ..
  "-u HONE_TASK_LLM -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL "

local function propose(code)
  return { content = json.encode({ reasoning = "try this", answer = "", suggestion = { price = code } }), delay = 0.03 }
end

local function price(body) return "function price(age)\n" .. body .. "\nend" end

-- What the scripted optimizer may say; which one a step gets depends on its request only.
local REPLIES = {
  propose(price("  return 12")),
  propose(price("  if age < 12 then return 5 end\n  return 12")),
  propose(price("  if age < 12 then return 5 elseif age >= 65 then return 7 end\n  return 12")),
  propose(price("  if age >= 65 then return 7 end\n  return 12")),
  propose(price("  if age < 10 then return 5 elseif age >= 60 then return 7 end\n  return 12")),
  propose(price("  if age < 18 then return 5 end\n  return 10")),
  propose(price("  error('no price for ' .. age)")),   -- fails validation: rolled back
  { content = "I would rather not answer in JSON.", delay = 0.03 },   -- unusable: no proposal
  propose(price("  return 10")),   -- from the start, a change that changes nothing
}

local STEPS = 15

local function sleep(s)
  if s > 0 then os.execute(string.format("sleep %.3f", s)) end
end

-- True while pid runs (a zombie has ended).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %(.*%) (%a)") ~= "Z"
end

-- A file's text, or "" while it does not exist yet.
local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return text
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Starts hone in the background, output to out; returns its pid.
local function spawn(t, args, out)
  os.execute(string.format("%s%s %s >%s 2>&1 & echo $! >%s.pid", ENV, t.bin, args, out, out))
  return math.tointeger(tonumber(t.read(out .. ".pid")))
end

-- Waits (at most `limit` seconds) until pred() holds; returns whether it did.
local function wait_for(pred, limit)
  local deadline = hone.now() + (limit or 10)
  while hone.now() < deadline do
    if pred() then return true end
    sleep(0.005)
  end
  return pred()
end

local function with_store(path, fn)
  local db = hone.store.open(path)
  local r = table.pack(pcall(fn, db))
  db:close()
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

local function status(path)
  if not exists(path) then return nil, 0 end
  return with_store(path, function(db)
    local r = db:query("SELECT status FROM runs WHERE id = 1")[1]
    return r and r.status, db:query("SELECT count(*) AS n FROM steps WHERE run_id = 1")[1].n
  end)
end

-- Everything about run 1 that an uninterrupted run and a resumed one must share.
local function snapshot(path)
  return with_store(path, function(db)
    return {
      steps = db:query("SELECT s.step, s.batch_size, s.horizon, s.decision, s.accepted, s.train_score, " ..
        "s.validation_score, s.test_score, s.error, s.llm_calls, s.prompt_tokens, s.completion_tokens, s.signals, " ..
        "c.code AS code, cur.code AS current_code, best.code AS best_code FROM steps s " ..
        "LEFT JOIN candidates c ON c.id = s.candidate_id LEFT JOIN candidates cur ON cur.id = s.current_id " ..
        "LEFT JOIN candidates best ON best.id = s.best_id WHERE s.run_id = 1 ORDER BY s.step"),
      events = db:query("SELECT step, kind, message FROM events WHERE run_id = 1 ORDER BY step, kind, message"),
      evaluations = db:query("SELECT step, split, score, examples FROM evaluations WHERE run_id = 1 " ..
        "ORDER BY step, id"),
      cache = db:query("SELECT key FROM llm_cache ORDER BY key"),
      status = db:query("SELECT status FROM runs WHERE id = 1")[1].status,
    }
  end)
end

-- a and b (snapshots) are the same run: step by step, field by field.
local function same_run(t, a, b, what)
  t.eq(#b.steps, #a.steps, what .. ": steps")
  for i, sa in ipairs(a.steps) do
    local sb = b.steps[i]
    for k, v in pairs(sa) do t.eq(sb[k], v, string.format("%s: step %d, %s", what, sa.step, k)) end
    for k in pairs(sb) do
      t.ok(sa[k] ~= nil, string.format("%s: step %d has %s only once resumed", what, sa.step, k))
    end
  end
  t.eq(b.events, a.events, what .. ": events, none repeated, none lost")
  t.eq(b.evaluations, a.evaluations, what .. ": evaluations")
  t.eq(b.status, a.status, what .. ": status")
end

-- Rows of run 1 that belong to no committed step: what a killed transaction would leave.
local function orphans(db)
  local n = 0
  for _, table_name in ipairs({ "evaluations", "candidates", "llm_calls" }) do
    n = n + db:query("SELECT count(*) AS n FROM " .. table_name .. " x WHERE x.run_id = 1 AND NOT EXISTS " ..
      "(SELECT 1 FROM steps s WHERE s.run_id = x.run_id AND s.step = x.step)")[1].n
  end
  return n
end

-- A copy of a finished store cut right after step k, as a kill there would leave it: later
-- rows gone (and, with drop_events, the events the recipe wrote after step k's commit).
local function cut(t, from, k, drop_events)
  local to = t.tmpdir() .. "/cut.db"
  with_store(from, function(db) db:exec("VACUUM INTO ?", to) end)
  with_store(to, function(db)
    db:begin()
    for _, q in ipairs({ "DELETE FROM llm_calls WHERE step > ?", "DELETE FROM evaluations WHERE step > ?",
        "DELETE FROM steps WHERE step > ?", "DELETE FROM candidates WHERE step > ?",
        "DELETE FROM events WHERE step > ?" }) do
      db:exec(q, k)
    end
    if drop_events then db:exec("DELETE FROM events WHERE step = ? AND kind NOT IN ('rollback', 'final_test')", k) end
    db:exec("UPDATE runs SET status = 'running', finished_at = NULL")
    db:commit()
  end)
  return to
end

local function toy_args(server, db)
  return string.format("run toy --llm-url %s --model scripted --db %s --seed 3 --set steps=%d " ..
    "--set restore_below=0.9 --set llm_retries=0 --set llm_backoff=0.01", server.url, db, STEPS)
end

-- Has the hone whose output is text begun new work (a step not in the store)?
local function live(text)
  return text:find("run 1: task", 1, true) ~= nil or text:find("continuing at step", 1, true) ~= nil
end

return {
  ["the scripted server's pick=hash answers each request by its content, in any order"] = function(t)
    local server = t.llm_server()
    local replies = {}
    for i = 1, 5 do replies[i] = { content = "reply " .. i } end
    server:script({ pick = "hash", replies = replies })
    local function ask(text)
      local r = hone.llm.chat({ url = server.url, model = "m", messages = { { role = "user", content = text } },
                                retries = 0 })
      t.ok(r.ok, "answered: " .. tostring(r.error))
      return r.content
    end
    local texts = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta" }
    local first, seen, distinct = {}, {}, 0
    for _, text in ipairs(texts) do
      first[text] = ask(text)
      if not seen[first[text]] then seen[first[text]], distinct = true, distinct + 1 end
    end
    t.ok(distinct >= 2, "different requests get different replies: " .. distinct)
    server:script({ pick = "hash", replies = replies })   -- a fresh script: nothing consumed, no state
    for i = #texts, 1, -1 do t.eq(ask(texts[i]), first[texts[i]], "same request, same reply: " .. texts[i]) end
    t.eq(ask("alpha"), first.alpha, "and again")
    t.eq(#server:requests(), #texts + 1, "every request logged")
    t.raises(function() server:script({ pick = "hash" }) end, "needs replies")
    t.raises(function() server:script({ pick = "random", replies = replies }) end, "pick must be")
  end,

  ["SIGKILL at 50 random moments, hone resume after each: the same run as without a kill"] = function(t)
    local server = t.llm_server()
    server:script({ pick = "hash", replies = REPLIES })
    local dir = t.tmpdir()
    local db_a, db_b = dir .. "/a.db", dir .. "/b.db"
    local t0 = hone.now()
    local code, _, err = t.hone(toy_args(server, db_a))
    local per_step = (hone.now() - t0) / (STEPS + 1)
    t.eq(code, 0, "the uninterrupted run (" .. err .. ")")
    local a = snapshot(db_a)
    t.eq(#a.steps, STEPS + 1, "run A: every step")

    -- Run B: killed 50 times. Most kills come at a random moment after the loop began new
    -- work, the delay scaled so that the kills spread over what is left of the run (a kill
    -- during a redone step, whose replies come from the cache, is part of it); one in five
    -- comes at a random moment after the start (start-up, replaying the store, a step). The
    -- last resume finishes what is left.
    local rng = data.rng(20240611)
    local KILLS = 50
    local delivered, mid_step, started, t1 = 0, 0, 0, hone.now()
    for k = 1, KILLS do
      local st, committed = status(db_b)
      if st == "done" then break end
      local out = string.format("%s/out%d", dir, k)
      local pid = spawn(t, st and ("resume 1 --db " .. db_b) or toy_args(server, db_b), out)
      started = started + 1
      if rng:random() < 0.2 then
        sleep(rng:random() * 0.05)
      else
        wait_for(function() return live(read(out)) or not alive(pid) end)
        local left = math.max(STEPS + 1 - committed, 0.5)
        sleep(rng:random() * per_step * left / (KILLS - k + 1))
      end
      local was_alive = alive(pid)
      local killed = os.execute("/bin/kill -KILL " .. pid .. " 2>/dev/null")
      t.ok(wait_for(function() return not alive(pid) end), "the killed hone is gone")
      local text = read(out)
      if was_alive and killed then
        delivered = delivered + 1
        if live(text) and status(db_b) ~= "done" then mid_step = mid_step + 1 end
        if delivered == 1 and status(db_b) == "running" then
          local _, listing = t.hone("runs --db " .. db_b)
          t.match(listing, "\n1 +toy +fixed +%d+ +killed ", "hone runs tells a killed run from a running one")
        end
      else   -- it ended by itself: it must have finished the run, not failed
        t.eq(status(db_b), "done", "a hone that ended before its kill finished the run: " .. text)
      end
    end
    local st = status(db_b)
    if st ~= "done" then
      code, _, err = t.hone(st and ("resume 1 --db " .. db_b) or toy_args(server, db_b))
      t.eq(code, 0, "the last resume finishes the run (" .. err .. ")")
    end
    io.stdout:write(string.format("     (%d hones started, %d kills delivered, %d while a step was in flight, " ..
      "%.1f s; run A %.2f s)\n", started, delivered, mid_step, hone.now() - t1, per_step * (STEPS + 1)))
    t.ok(mid_step > 25, "kills that landed while a step was in flight: " .. mid_step .. " of " .. delivered)

    local b = snapshot(db_b)
    same_run(t, a, b, "killed and resumed")
    t.eq(b.cache, a.cache, "the same requests were made: the reply cache holds the same keys")
    with_store(db_b, function(db)
      local counts = db:query("SELECT step, count(*) AS n FROM steps WHERE run_id = 1 GROUP BY step ORDER BY step")
      t.eq(#counts, STEPS + 1, "steps 0.." .. STEPS)
      for i, c in ipairs(counts) do t.eq({ c.step, c.n }, { i - 1, 1 }, "step " .. (i - 1) .. " exactly once") end
      t.eq(orphans(db), 0, "no evaluation, candidate or LLM call outside a committed step")
      local calls = db:query("SELECT s.step, s.llm_calls, (SELECT count(*) FROM llm_calls c WHERE c.run_id = 1 " ..
        "AND c.step = s.step) AS rows FROM steps s WHERE s.run_id = 1")
      for _, c in ipairs(calls) do t.eq(c.rows, c.llm_calls, "step " .. c.step .. ": its LLM calls, each once") end
      t.eq(db:query("PRAGMA integrity_check")[1].integrity_check, "ok", "integrity_check")
      t.eq(db:query("SELECT status, pid FROM runs WHERE id = 1"), { { status = "done" } }, "done, no owner left")
    end)
  end,

  ["a store cut after any step resumes to the same run: recipes, stream, episodes, baseline"] = function(t)
    local dir = t.tmpdir()
    local cases = {
      { what = "toy, adaptive recipe, baseline optimizer", args = "run toy --recipe adaptive --optimizer baseline " ..
        "--set steps=8 --set patience=1 --set accept=always --set restore_below=0.9 --seed 5", cuts = { 0, 3, 7 },
        steps = 8 },
      { what = "pong, episodic experience", args = "run atari/pong --artifact reference --optimizer baseline " ..
        "--set steps=5 --set horizon=40 --set accept=always --set eval_episodes=1 --set eval_steps=200 " ..
        "--set test_episodes=1 --set test_every_step=false", cuts = { 1, 4, 5 }, steps = 5 },
    }
    for i, c in ipairs(cases) do
      local db = string.format("%s/full%d.db", dir, i)
      local code, _, err = t.hone(c.args .. " --db " .. db)
      t.eq(code, 0, c.what .. ": the whole run (" .. err .. ")")
      local whole = snapshot(db)
      for j, k in ipairs(c.cuts) do
        local part = cut(t, db, k, j % 2 == 1)
        local out
        code, out, err = t.hone("resume 1 --db " .. part)
        t.eq(code, 0, string.format("%s: resumed after step %d (%s)", c.what, k, err))
        if k < c.steps then
          t.match(out, string.format("continuing at step %d %%(steps 0%%.%%.%d replayed", k + 1, k), "where it goes on")
        end
        same_run(t, whole, snapshot(part), string.format("%s, cut after step %d", c.what, k))
      end
    end
    -- the whole recipe ran again, with nothing left to do: conclude's tests are not repeated
    local part = cut(t, dir .. "/full2.db", 99, false)
    t.eq((t.hone("resume 1 --db " .. part)), 0, "a run killed after its last commit, before it was marked done")
    same_run(t, snapshot(dir .. "/full2.db"), snapshot(part), "nothing left to do")
  end,

  ["resume refuses a finished run, a replay, a missing one, and a recipe that decides otherwise"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/r.db"
    t.eq((t.hone("run toy --optimizer baseline --set steps=3 --db " .. db)), 0, "a run")
    local code, _, err = t.hone("resume 1 --db " .. db)
    t.eq(code, 2, "done")
    t.match(err, "^hone: run 1 is done: nothing to resume", "message")
    code, _, err = t.hone("resume 7 --db " .. db)
    t.eq(code, 2, "missing")
    t.match(err, "^hone: no run 7 in ", "message")
    _, _, err = t.hone("resume --db " .. db)
    t.match(err, "^hone: resume takes one RUN id", "no id")
    _, _, err = t.hone("resume 1 --db " .. dir .. "/none.db")
    t.match(err, "^hone: no store at ", "no store")
    -- a recipe that no longer asks what it asked: batch_size changed under the run
    local part = cut(t, db, 1, false)
    with_store(part, function(s)
      s:exec("UPDATE runs SET config = json_set(config, '$.params.batch_size', 5)")
      s:exec("INSERT INTO runs (task, recipe, seed, config, hone_version, replay_of) SELECT task, recipe, seed, " ..
        "config, hone_version, 1 FROM runs WHERE id = 1")
    end)
    code, _, err = t.hone("resume 1 --db " .. part)
    t.eq(code, 1, "refused (" .. err .. ")")
    t.match(err, "cannot resume run 1: step 1 was made with B=3 H=nil decision nil, and the recipe now asks for B=5",
      "why")
    t.eq(status(part), "failed", "recorded")
    code, _, err = t.hone("resume 2 --db " .. part)
    t.eq(code, 2, "a replay")
    t.match(err, "^hone: run 2 is a replay of run 1", "message")
  end,

  ["a run stopped by its budget resumes only with a larger one, the calls spent counted"] = function(t)
    local server = t.llm_server()
    server:script({ pick = "hash", replies = REPLIES })
    local db = t.tmpdir() .. "/b.db"
    local base = string.format("--llm-url %s --model scripted --db %s", server.url, db)
    local code, out = t.hone(string.format("run toy %s --set steps=6 --budget calls=3", base))
    t.eq(code, 1, "stopped by the budget")
    t.match(out, "LLM budget spent: calls 3 of 3", "message")
    local _, steps = status(db)
    local sent = #server:requests()
    code, out = t.hone("resume 1 --db " .. db)
    t.eq(code, 1, "the same budget: still spent")
    t.match(out, "run 1 stopped %(budget%): LLM budget spent: calls 3 of 3", "the calls before count")
    t.eq({ status(db) }, { "budget", steps }, "no step added")
    t.eq(#server:requests(), sent, "nothing asked")
    code, out = t.hone("resume 1 --budget calls=40 --db " .. db)
    t.eq(code, 0, "a larger budget (" .. out .. ")")
    t.eq({ status(db) }, { "done", 7 }, "finished: steps 0..6")
  end,

  ["SIGTERM and SIGINT stop a run between steps, status interrupted; resume finishes it"] = function(t)
    local server = t.llm_server()
    local fast = { content = json.encode({ reasoning = "r", suggestion = { price = price("  return 12") } }) }
    local slow = { match = "Attempt at step 1", delay = 8,   -- step 2's request: its memory holds step 1
                   content = json.encode({ reasoning = "r", suggestion = { price = price("  return 11") } }) }
    for _, sig in ipairs({ { "TERM", 143 }, { "INT", 130 } }) do
      server:script({ rules = { slow }, default = fast })
      local dir = t.tmpdir()
      local db = dir .. "/s.db"
      -- the exit code through a subshell; SIGINT at its default (a background job ignores it)
      os.execute(string.format("( %s --default-signal=INT %s run toy --llm-url %s --model scripted --db %s " ..
        "--set steps=3 --set llm_retries=0 >%s/out 2>&1 & echo $! >%s/pid; wait $!; echo $? >%s/code ) &",
        ENV, t.bin, server.url, db, dir, dir, dir))
      t.ok(wait_for(function() return exists(dir .. "/pid") end), "started")
      local pid = math.tointeger(tonumber(t.read(dir .. "/pid")))
      t.ok(wait_for(function() return #server:requests() >= 2 end, 20), "waiting on step 2's slow reply")
      local _, steps = status(db)
      t.eq(steps, 2, "steps 0 and 1 committed")
      if sig[1] == "TERM" then   -- while it runs, it is its own: nobody else may resume it
        local code, _, err = t.hone("resume 1 --db " .. db)
        t.eq(code, 2, "a live run is not resumed")
        t.match(err, "^hone: run 1 is being run by process " .. pid, "message")
      end
      local t0 = hone.now()
      os.execute(string.format("/bin/kill -%s %d", sig[1], pid))
      t.ok(wait_for(function() return exists(dir .. "/code") end, 20), "it ends")
      t.ok(hone.now() - t0 < 6, "before the slow reply (8 s) came: the wait was cut short")
      t.eq(math.tointeger(tonumber(t.read(dir .. "/code"))), sig[2], "exit code of SIG" .. sig[1])
      t.match(t.read(dir .. "/out"), "run 1 stopped %(interrupted%): interrupted by SIG" .. sig[1] ..
        " after step 1; `hone resume 1` continues it", "message")
      with_store(db, function(s)
        t.eq(s:query("SELECT status, error, pid FROM runs"), { { status = "interrupted",
          error = "interrupted by SIG" .. sig[1] .. " after step 1; `hone resume 1` continues it" } }, "status")
        t.eq(s:query("SELECT group_concat(step) AS s FROM steps")[1].s, "0,1", "the steps before are kept, whole")
        t.eq(s:query("SELECT count(*) AS n FROM llm_calls WHERE step > 1")[1].n, 0, "the cut step left nothing")
      end)
      slow.delay = 0
      server:script({ rules = { slow }, default = fast })
      local code, out, err = t.hone("resume 1 --db " .. db)
      t.eq(code, 0, "resume (" .. err .. ")")
      t.match(out, "continuing at step 2 %(steps 0%.%.1 replayed from the store%)", "from where it stopped")
      t.eq(status(db), "done", "finished")
      with_store(db, function(s)
        t.eq(s:query("SELECT group_concat(step) AS s FROM steps")[1].s, "0,1,2,3", "every step once")
        t.eq(s:query("SELECT code FROM candidates WHERE step = 2")[1].code, price("  return 11") .. "\n",
          "step 2 made with the reply it had been waiting for")
      end)
      slow.delay = 8
    end
  end,

  ["an interrupt ends an LLM wait and a sandboxed program at once, and what follows"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = "late", delay = 8 } })
    local dir = t.tmpdir()
    t.write(dir .. "/llm.lua", string.format([[
local hone = require("hone")
hone.catch_interrupts()
io.open(%q, "w"):close()
local function ask()
  local t0 = hone.now()
  local r = hone.llm.chat({ url = %q, model = "m", messages = { { role = "user", content = "q" } }, retries = 3 })
  print(r.kind, r.attempts, #r.attempt_log, hone.now() - t0 < 6, r.error)
end
ask()
ask()
print(hone.interrupted())
]], dir .. "/ready1", server.url))
    t.write(dir .. "/exec.lua", string.format([[
local hone = require("hone")
hone.catch_interrupts()
io.open(%q, "w"):close()
local t0 = hone.now()
local r = hone.sandbox.exec.run({ argv = { "sleep", "30" }, time = 60 })
print(r.kind, r.message, hone.now() - t0 < 6)
local rs = hone.sandbox.exec.run_many({ { argv = { "true" } }, { argv = { "true" } } }, { jobs = 2 })
print(rs[1].kind, rs[2].kind)
local p = hone.sandbox.exec.spawn({ argv = { "cat" } })
print(p:receive(10))
print(p:close().kind)
]], dir .. "/ready2"))
    for i, script in ipairs({ "llm", "exec" }) do
      local out = dir .. "/" .. script .. ".out"
      local pid = spawn(t, string.format("lua %s/%s.lua", dir, script), out)
      t.ok(wait_for(function() return exists(dir .. "/ready" .. i) end), script .. " ready")
      sleep(0.3)
      os.execute("/bin/kill -TERM " .. pid)
      t.ok(wait_for(function() return not alive(pid) end, 20), script .. " ended")
      local lines = {}
      for line in t.read(out):gmatch("[^\n]+") do lines[#lines + 1] = line end
      if script == "llm" then
        t.eq(lines[1], "interrupted\t1\t1\ttrue\tinterrupted by SIGTERM before the reply arrived",
          "the request in flight is cut short: one attempt, no retry")
        t.eq(lines[2], "interrupted\t0\t0\ttrue\tinterrupted by SIGTERM before the reply arrived",
          "a later request sends nothing")
        t.eq(lines[3], "SIGTERM", "hone.interrupted()")
      else
        t.eq(lines[1], "interrupted\tstopped: hone was interrupted (SIGTERM)\ttrue", "the program in flight stopped")
        t.eq(lines[2], "interrupted\tinterrupted", "later programs do not start")
        t.match(lines[3], "^nil\tthe process ended: stopped: hone was interrupted %(SIGTERM%)",
          "a spawned program is stopped at its next receive")
        t.eq(lines[4], "interrupted", "and its result says why")
      end
    end
  end,
}
