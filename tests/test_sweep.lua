-- hone sweep: a 2 x 2 x 2-seed grid run in parallel into one store, killed halfway with
-- SIGKILL, resumed, and tabulated; and the sweep's errors.
local hone = require("hone")
local json = hone.json


local RULE = "function price(age)\n  if age < 12 then return 5 elseif age >= 65 then return 7 end\n  return 12\nend"

local function sweep_args(server, db, extra)
  return string.format("sweep --name grid --task toy --recipe fixed --recipe ensure_improvement " ..
    "--grid batch_size=1,3 --seeds 1,2 --set steps=2 --set llm_retries=0 --llm-url %s --model scripted " ..
    "--llm-cache off --db %s %s", server.url, db, extra or "")
end

return {
  ["a sweep killed halfway resumes without losing or repeating a run, then tabulates"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = json.encode({ reasoning = "r", suggestion = { price = RULE } }),
                                delay = 0.25 } })
    local dir = t.tmpdir()
    local db = dir .. "/sweep.db"
    -- in a session of its own, so that the kill takes the sweep and the runs it started
    os.execute(string.format("setsid sh -c 'echo $$ > %s/pgid; exec env -u OPENAI_API_KEY %s %s' > %s/out 2>&1 &",
      dir, t.bin, sweep_args(server, db, "--jobs 2"), dir))
    local done = 0
    for _ = 1, 600 do   -- until three runs have finished (at most a minute)
      os.execute("sleep 0.1")
      local f = io.open(db, "rb")
      if f then
        f:close()
        done = tonumber(t.sql(db, "SELECT count(*) FROM sweep_cells WHERE status = 'done'")) or 0
        if done >= 3 then break end
      end
    end
    t.ok(done >= 3 and done < 8, "killed halfway: " .. done .. " of 8 done")
    os.execute(string.format("/bin/kill -KILL -- -$(cat %s/pgid)", dir))
    os.execute("sleep 0.3")
    t.eq(t.sql(db, "SELECT status FROM sweeps"), "running\n", "the killed sweep never finished")

    local code, out, err = t.hone(string.format("sweep --resume grid --jobs 2 --db %s", db))
    t.eq(code, 0, "resume (" .. err .. out .. ")")
    t.match(out, "sweep grid: 8 runs, %d finished before, %d to run, 2 at once", "resume plan")
    t.eq(t.sql(db, "SELECT count(*), sum(status = 'done') FROM sweep_cells"), "8|8\n", "every cell done, once")
    t.eq(t.sql(db, "SELECT count(*) FROM runs WHERE status = 'done'"), "8\n", "exactly one finished run per cell")
    t.eq(t.sql(db, "SELECT count(*) FROM runs WHERE status NOT IN ('done', 'interrupted')"), "0\n",
      "runs cut by the kill are marked interrupted")
    t.eq(t.sql(db, "SELECT count(*) FROM sweep_cells c JOIN runs r ON r.id = c.run_id WHERE r.status = 'done'"),
      "8\n", "each cell points at its finished run")
    t.eq(t.sql(db, "SELECT status FROM sweeps"), "done\n", "sweep done")
    t.eq(t.sql(db, "PRAGMA integrity_check"), "ok\n", "store intact")

    local c2, table_out = t.hone("table grid --db " .. db)
    t.eq(c2, 0, "table")
    t.match(table_out, "\ncell +toy", "a column per task")
    t.match(table_out, "\nevery cell: steps=2 llm_retries=0\n", "what every cell shares, once")
    for _, row in ipairs({ "fixed batch_size=1", "fixed batch_size=3", "ensure_improvement batch_size=1",
        "ensure_improvement batch_size=3" }) do
      t.match(table_out, "\n" .. row:gsub("%-", "%%-") .. " +%d%.%d%d%d %+%- %d%.%d%d%d %(2%)", "row " .. row)
    end
    t.match(table_out, "%*", "the best of the column is marked")
    local c3, val_out = t.hone("table grid --metric validation --db " .. db)
    t.eq(c3, 0, "validation table")
    t.match(val_out, "1%.000 %+%- 0%.000 %(2%) %*", "the scripted rule reaches validation 1 everywhere")
  end,

  ["sweep refuses what it cannot do, in one line"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/s.db"
    for _, c in ipairs({
      { "sweep --task toy --db " .. db, "sweep needs %-%-name" },
      { "sweep --name x --db " .. db, "sweep needs at least one %-%-task" },
      { "sweep --name x --task toy --grid batch_size --db " .. db, "%-%-grid takes KEY=V1,V2" },
      { "sweep --resume nope --db " .. db, "no sweep 'nope'" },
      { "table nope --db " .. db, "no sweep 'nope'" },
    }) do
      local code, _, err = t.hone(c[1])
      t.eq(code, 2, "exit of " .. c[1])
      t.match(err, "^hone: " .. c[2], "message of " .. c[1])
    end
    local code = t.hone("sweep --name same --task toy --set steps=1 --optimizer baseline --db " .. db)
    t.eq(code, 0, "a first sweep")
    local _, _, err = t.hone("sweep --name same --task toy --set steps=2 --optimizer baseline --db " .. db)
    t.match(err, "sweep 'same' exists with another grid", "a name is one grid")
    -- a relative store (the default hone.db): every run finds it from its own folder
    local p = io.popen(string.format("cd %s && %s sweep --name rel --task toy --set steps=1 --optimizer baseline " ..
      "2>/dev/null", t.sh_quote(dir), t.sh_quote(hone.executable)))
    local out5 = p:read("a")
    t.ok(p:close(), "a sweep into ./hone.db")
    t.match(out5, "sweep rel: 1 runs finished now, 0 before, 0 failed", "its run finished")
    local c4, _, err4 = t.hone("table same --metric speed --db " .. db)
    t.eq(c4, 2, "bad metric")
    t.match(err4, "unknown metric 'speed'", "message")
  end,
}
