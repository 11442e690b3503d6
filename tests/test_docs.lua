-- Every command in docs/ runs: the ```sh blocks of each page, in order, as one bash
-- script in an empty folder (the tutorial's own promise), offline.
local hone = require("hone")

local function blocks(text)
  local out = {}
  for body in text:gmatch("```sh\n(.-)```") do out[#out + 1] = body end
  return out
end

return {
  ["every command of docs/tutorial.md runs, in order, in an empty folder"] = function(t)
    local page = t.read(hone.root .. "/docs/tutorial.md")
    local sh = blocks(page)
    t.ok(#sh >= 7, "the tutorial has its command blocks: " .. #sh)
    local dir = t.tmpdir()
    t.write(dir .. "/tutorial.sh", "set -euo pipefail\n" .. table.concat(sh, "\n"))
    local bin_dir = hone.executable:match("^(.*)/[^/]+$")
    local cmd = string.format("cd %s && env -u OPENAI_API_KEY -u HONE_LLM -u HONE_LLM_URL -u OPENAI_BASE_URL " ..
      "-u HONE_DB HONE_REPO=%s bash tutorial.sh > out 2> err", t.sh_quote(dir), t.sh_quote(bin_dir))
    local ok = os.execute(cmd)
    local err = t.read(dir .. "/err")
    t.ok(ok, "the tutorial's commands all succeed; stderr:\n" .. err:sub(-2000))
    local out = t.read(dir .. "/out")
    t.match(out, "\n1 +toy +fixed", "hone runs lists the first run")
    t.match(out, "== candidate %d+ %(parent %d+%)", "show --step shows a candidate")
    t.match(out, "sweep batching: test per run", "the sweep's table")
    for _, f in ipairs({ "hone.db", "tasks/linear/task.lua", "grow.lua", "linear.html", "batching.html" }) do
      t.ok(io.open(dir .. "/" .. f), f .. " was made")
    end
    local recipe_rows = out:match("\n1|1|[^\n]*start small")
    t.ok(recipe_rows, "the recipe recorded its first decision")
    t.match(out, "\n%d|[248]|[^\n]*double B", "and a doubling")
    t.match(err, "BASELINE optimizer", "offline runs say they use the baseline")
  end,

  ["docs name only commands and flags that exist"] = function(t)
    local usage = select(2, t.hone("--help"))
    local checked = 0
    for _, name in ipairs({ "tutorial.md", "concepts.md" }) do
      local code = "\n" .. table.concat(blocks(t.read(hone.root .. "/docs/" .. name)), "\n")
      for command in code:gmatch("\nhone (%l+)") do
        t.match(usage, "\n  " .. command .. " ", "hone " .. command .. " (" .. name .. ") is a command")
        checked = checked + 1
      end
      for flag in code:gmatch(" %-%-([%l%-]+)") do
        t.match(usage, "%-%-" .. flag:gsub("%-", "%%-"), "--" .. flag .. " (" .. name .. ") is a flag")
      end
    end
    t.ok(checked > 10, "commands checked: " .. checked)
  end,
}
