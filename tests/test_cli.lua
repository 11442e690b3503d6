-- The command line: help, and one clear line with exit code 2 for every kind of bad input.
local function one_line(t, err)
  t.eq(select(2, err:gsub("\n", "")), 1, "stderr lines in " .. err)
end

local LLM = "--llm-url http://127.0.0.1:1/v1 --model m"

return {
  ["help and version"] = function(t)
    local code, out = t.hone("--help")
    t.eq(code, 0, "exit")
    t.match(out, "usage: hone <command>", "usage")
    code, out = t.hone("version")
    t.eq(code, 0, "exit")
    t.match(out, "^hone %d+%.%d+%.%d+\n$", "version")
    code = t.hone("")
    t.eq(code, 2, "no command")
  end,

  ["unknown command, flag, task and recipe"] = function(t)
    for _, c in ipairs({
      { "frob", "unknown command 'frob'" },
      { "run toy --bogus", "unknown flag %-%-bogus for 'run'" },
      { "run toy -x", "unknown flag %-x" },
      { "run toy --seed", "%-%-seed needs a value" },
      { "run toy --seed abc " .. LLM, "%-%-seed takes a whole number, not 'abc'" },
      { "run nosuch " .. LLM, "no task 'nosuch'" },
      { "run toy --recipe nosuch " .. LLM, "no recipe 'nosuch'" },
      { "run", "run takes one TASK" },
      { "run toy --set steps " .. LLM, "%-%-set takes KEY=VALUE" },
      { "run toy --set nosuch=1 " .. LLM,
        "recipe fixed and this task have no parameter 'nosuch' %(known: .*batch_size" },
      { "run toy --set batch_size=many " .. LLM, "parameter batch_size takes a number, not 'many'" },
      { "run toy --jobs 0 " .. LLM, "%-%-jobs takes a number in %[1, 256%]" },
      { "run toy --jobs two " .. LLM, "%-%-jobs takes a whole number, not 'two'" },
    }) do
      local code, _, err = t.hone(c[1])
      t.eq(code, 2, "exit code of: hone " .. c[1])
      t.match(err, "^hone: " .. c[2], "message of: hone " .. c[1])
      one_line(t, err)
    end
  end,

  ["without an LLM endpoint run says loudly it uses the baseline, and names the options"] = function(t)
    local dir = t.tmpdir()
    local code, out, err = t.hone("run toy --set steps=2 --db " .. dir .. "/b.db")
    t.eq(code, 0, "the baseline runs (" .. err .. ")")
    t.match(err, "^hone: NOTE: no LLM endpoint is set, so this run uses the BASELINE optimizer: .*NOT an LLM%. " ..
      "For an LLM, pass %-%-llm PROVIDER:MODEL", "said loudly, with the options")
    one_line(t, err)
    t.match(out, "seed 1, the baseline optimizer %(no LLM%)", "the run line says so too")
    local p = io.popen("sqlite3 " .. t.sh_quote(dir .. "/b.db") ..
      " \"SELECT json_extract(config, '$.jobs') FROM runs\"")
    t.eq(p:read("a"), "1\n", "--jobs defaults to 1, recorded in the run's config")
    p:close()
    code, out, err = t.hone("run toy --optimizer llm --db " .. dir .. "/b.db")
    t.eq({ code, out }, { 2, "" }, "asking for an LLM without one")
    t.match(err, "no LLM endpoint: pass %-%-llm PROVIDER:MODEL", "message")
    one_line(t, err)
    code, out, err = t.hone("run toy --optimizer genetic --db " .. dir .. "/b.db")
    t.eq({ code, out }, { 2, "" }, "unknown optimizer")
    t.match(err, "%-%-optimizer takes llm or baseline", "message")
    code, out, err = t.hone("run toy", { HONE_LLM_URL = "http://127.0.0.1:1/v1" })
    t.eq({ code, out }, { 2, "" }, "exit without a model")
    t.match(err, "no model for http://127%.0%.0%.1:1/v1", "message")
  end,

  ["Lua errors in a recipe or task give file:line and are recorded"] = function(t)
    local dir = t.tmpdir()
    t.write(dir .. "/broken.lua", "local M = {}\nM.params = {}\nfunction M.run(run)\n" ..
      "  local settings = nil\n  return settings.steps\nend\nreturn M\n")
    local code, _, err = t.hone(string.format("run toy --recipe %s/broken.lua --db %s/t.db %s", dir, dir, LLM))
    t.eq(code, 2, "exit")
    t.match(err, "^hone: run 1 failed: .*broken%.lua:5: attempt to index a nil value", "message")
    one_line(t, err)
    local p = io.popen(string.format("sqlite3 %s/t.db 'SELECT status, error FROM runs'", dir))
    local row = p:read("a")
    p:close()
    t.match(row, "^failed|.*broken%.lua:5:", "recorded in the store")

    t.write(dir .. "/syntax.lua", "local M = {}\nfunction M.run(run)\n  run:step(\nend\nreturn M\n")
    code, _, err = t.hone(string.format("run toy --recipe %s/syntax.lua --db %s/t.db %s", dir, dir, LLM))
    t.eq(code, 2, "exit")
    t.match(err, "^hone: recipe error: .*syntax%.lua:4: unexpected symbol", "syntax error with line")

    t.write(dir .. "/task.lua", "local M = {}\nM.instruction = 'x'\nerror('no data here')\nreturn M\n")
    code, _, err = t.hone(string.format("run %s --db %s/t.db %s", dir, dir, LLM))
    t.eq(code, 2, "exit")
    t.match(err, "^hone: task error: .*task%.lua:3: no data here", "task error with line")
  end,

  ["runs and show on a missing store or run"] = function(t)
    local dir = t.tmpdir()
    local code, _, err = t.hone("runs --db " .. dir .. "/none.db")
    t.eq(code, 2, "exit")
    t.match(err, "^hone: no store at .*none%.db", "message")
    code, _, err = t.hone("show abc --db " .. dir .. "/none.db")
    t.eq(code, 2, "exit")
    t.match(err, "show takes one RUN id", "message")
    local db = require("hone").store.open(dir .. "/empty.db")
    db:close()
    code, _, err = t.hone("show 99 --db " .. dir .. "/empty.db")
    t.eq(code, 2, "exit")
    t.match(err, "^hone: no run 99 in", "message")
  end,
}
