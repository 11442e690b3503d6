-- hone report: the HTML report of a real run (scripted optimizer: a good candidate, an
-- unusable reply, a candidate that hangs, one whose code carries "</pre><script>", the rule)
-- and of a small sweep, checked structurally; then the run report opened in headless
-- Chromium, which must render it without a page error and take a screenshot.
local hone = require("hone")
local json = hone.json

local CHROMIUM = "/usr/bin/chromium"


local function reply(code, reasoning)
  return { content = json.encode({ reasoning = reasoning or "try", suggestion = { price = code } }),
           prompt_tokens = 400, completion_tokens = 60 }
end

local CHILD = "function price(age)\n  if age < 12 then return 5 end\n  return 12\nend"
local HANGS = "function price(age)\n  while true do end\nend"
local XSS = "function price(age)\n  -- </pre><script>alert(1)</script>\n" ..
  "  if age < 12 then return 5 end\n  return 12\nend"
local RULE = "function price(age)\n  if age < 12 then return 5 elseif age >= 65 then return 7 end\n  return 12\nend"

-- A five-step adaptive run on toy; returns the store's path.
local function make_run(t, dir)
  local server = t.llm_server()
  server:script({ replies = {
    reply(CHILD, "Children seem to pay less."),
    { content = "no JSON here", prompt_tokens = 380, completion_tokens = 5 },
    reply(HANGS),
    reply(XSS, "Keep it <b>simple</b> & <script>alert('reasoning')</script>"),
    reply(RULE, "Seniors pay 7."),
  } })
  local db = dir .. "/run.db"
  local code, _, err = t.hone(string.format("run toy --recipe adaptive --set steps=5 --set retries=0 " ..
    "--set llm_retries=0 --llm-url %s --model scripted --llm-cache off --quiet --db %s", server.url, db))
  t.eq(code, 0, "the run (" .. err .. ")")
  return db
end

local VOID = { meta = true, br = true, hr = true, img = true, input = true, link = true, wbr = true }

-- Every element opened is closed, in order; returns the count of each element.
local function balanced(t, html)
  local stack, counts = {}, {}
  for slash, name, rest in html:gmatch("<(/?)(%a[%w%-]*)([^>]*)>") do
    name = name:lower()
    if slash == "" then
      counts[name] = (counts[name] or 0) + 1
      if not VOID[name] and not rest:match("/%s*$") then stack[#stack + 1] = name end
    else
      local open = table.remove(stack)
      if open ~= name then error(string.format("</%s> closes <%s>", name, tostring(open)), 2) end
    end
  end
  t.eq(stack, {}, "elements left open")
  return counts
end

local function count(text, plain)
  local n, at = 0, 1
  while true do
    local s, e = text:find(plain, at, true)
    if not s then return n end
    n, at = n + 1, e + 1
  end
end

local function svg(t, html, id)
  local s = html:match("<svg class=\"chart\" id=\"" .. id:gsub("%-", "%%-") .. "\".-</svg>")
  return t.ok(s, "chart " .. id)
end

-- Nothing the page would fetch: no scripts, no external sources, no remote styles.
local function self_contained(t, html)
  t.eq(count(html, "<script"), 0, "no <script> element")
  t.no_match(html, "https?://", "no http(s) reference")
  t.no_match(html, "%ssrc%s*=", "no src attribute")
  t.no_match(html, "@import", "no CSS import")
  t.no_match(html, "url%(", "no CSS url()")
  for href in html:gmatch("href=\"([^\"]*)\"") do t.match(href, "^#", "links stay in the page") end
end

-- Opens a page in headless Chromium: the screenshot taken, the DOM after load, and the
-- console messages the page itself produced (Chromium's own noise about dbus or the GPU
-- has no CONSOLE tag).
local function browse(t, page, png, size)
  local f = io.open(CHROMIUM, "rb")
  if not f then
    error("headless Chromium is needed for the report's browser test and is missing at " .. CHROMIUM ..
      ": `make deps` installs it (package chromium in vendor/debian-packages.txt)", 2)
  end
  f:close()
  local dir = t.tmpdir()
  os.execute(string.format("timeout 60 %s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run " ..
    "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=%s " ..
    "--enable-logging=stderr --v=0 --dump-dom --screenshot=%s --window-size=%s %s >%s 2>%s", CHROMIUM,
    t.sh_quote(dir .. "/profile"), t.sh_quote(png), size or "1280,2000", t.sh_quote("file://" .. page),
    t.sh_quote(dir .. "/dom"), t.sh_quote(dir .. "/log")))
  local console = {}
  for line in t.read(dir .. "/log"):gmatch("[^\n]+") do
    if line:find(":CONSOLE", 1, true) or line:find("Uncaught", 1, true) then console[#console + 1] = line end
  end
  return t.read(dir .. "/dom"), console
end

return {
  ["a run report: sections, one chart point per score, every step, store text escaped"] = function(t)
    local dir = t.tmpdir()
    local db = make_run(t, dir)
    local out_path = dir .. "/run.html"
    local code, out, err = t.hone(string.format("report 1 -o %s --db %s", out_path, db))
    t.eq(code, 0, "report (" .. err .. ")")
    t.match(out, "^report of run 1: .-run%.html %(%d+ bytes%)\n$", "one line")
    local html = t.read(out_path)
    t.eq(io.open(out_path .. ".tmp", "rb"), nil, "no temporary file left")
    local counts = balanced(t, html)
    self_contained(t, html)
    for _, id in ipairs({ "summary", "scores", "batching", "cost", "failures", "steps" }) do
      t.match(html, "id=\"" .. id .. "\"", "section " .. id)
    end
    local steps = tonumber(t.sql(db, "SELECT count(*) FROM steps"))
    t.eq(steps, 6, "the run's steps")
    t.eq(count(html, "<details class=\"step\""), steps, "one <details> per step")
    t.eq(counts.details, steps, "and no other")
    for i = 0, steps - 1 do t.match(html, "id=\"step%-" .. i .. "\"", "step " .. i) end

    -- the score chart: one point per recorded score and split; the best step marked
    local chart = svg(t, html, "chart-scores")
    for _, split in ipairs({ "train", "validation", "test" }) do
      local want = tonumber(t.sql(db, "SELECT count(" .. split .. "_score) FROM steps"))
      t.eq(count(chart, "<circle class=\"pt\" data-series=\"" .. split .. "\""), want, split .. " points")
    end
    t.ok(tonumber(t.sql(db, "SELECT count(*) - count(validation_score) FROM steps")) > 0,
      "a step without a validation score (the point counts are not just the step count)")
    local best = t.sql(db, "SELECT c.step FROM candidates c WHERE c.id = (SELECT best_id FROM steps " ..
      "ORDER BY step DESC LIMIT 1)"):match("%d+")
    t.eq(best, "5", "the rule is the best on validation")
    t.match(chart, "best on validation %(step 5%)", "the best step marked")
    t.eq(count(svg(t, html, "chart-batch"), "data-series=\"B\""), 5, "B at every update")
    svg(t, html, "chart-tokens")
    svg(t, html, "chart-latency")
    t.match(html, "no rule fired: keep the setting", "the recipe's reasons")
    t.match(html, "<td>the starting setting</td>", "reasons table")

    -- failures by kind
    local failures = t.ok(html:match("<table id=\"failure%-table\".-</table>"), "failure table")
    t.match(failures, "<td>evaluation on validation</td><td>timeout</td><td class=\"num\">1</td>",
      "the hanging candidate")
    t.match(failures, "<td>optimizer reply</td><td>unusable</td><td class=\"num\">1</td>", "the malformed reply")
    t.match(failures, "<td>step</td><td>no candidate</td><td class=\"num\">1</td>", "the step it cost")

    -- a step's diff and reasoning; the candidate's and the reasoning's <script> only escaped
    local step1 = html:match("<details class=\"step\" id=\"step%-1\".-</details>")
    t.match(step1, "Children seem to pay less%.", "reasoning")
    t.match(step1, "<span class=\"del\">%-  return 10</span>", "removed line")
    t.match(step1, "<span class=\"add\">%+  if age &lt; 12 then return 5 end</span>", "added line, escaped")
    t.match(html:match("<details class=\"step\" id=\"step%-3\".-</details>"), "class=\"error\">candidate failed",
      "the failed step's error")
    t.match(html, "&lt;/pre&gt;&lt;script&gt;alert%(1%)&lt;/script&gt;", "candidate code escaped")
    t.match(html, "Keep it &lt;b&gt;simple&lt;/b&gt; &amp; &lt;script&gt;alert%(&#39;reasoning&#39;%)", "reasoning")
    t.eq(count(html, "alert(1)"), count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"),
      "the candidate's script appears only escaped (in its diff and its child's)")
  end,

  ["a run report opens in headless Chromium without page errors"] = function(t)
    local dir = t.tmpdir()
    local db = make_run(t, dir)
    local page, png = dir .. "/run.html", dir .. "/run.png"
    t.eq((t.hone(string.format("report 1 -o %s --db %s", page, db))), 0, "report")
    -- the detector first: a page with an error must be caught, or a clean result means nothing
    local canary = dir .. "/canary.html"
    t.write(canary, "<!DOCTYPE html><html><body><p id=\"canary\">x</p><script>undefinedFunction();</script>" ..
      "</body></html>")
    local dom, console = browse(t, canary, dir .. "/canary.png", "400,300")
    t.match(dom, "id=\"canary\"", "the canary rendered")
    t.ok(#console > 0 and console[1]:find("Uncaught ReferenceError", 1, true), "the canary's error is seen: " ..
      table.concat(console, "\n"))

    dom, console = browse(t, page, png)
    t.eq(console, {}, "console messages from the report")
    t.match(dom, "<h1>Run 1 · toy</h1>", "the body rendered")
    t.eq(count(dom, "<details class=\"step\""), 6, "every step in the DOM")
    t.eq(count(dom, "<svg class=\"chart\""), 4, "every chart in the DOM: scores, B, tokens, latency (toy has no H)")
    t.eq(count(dom, "<script"), 0, "no script element: the candidate's stayed text")
    local f = io.open(png, "rb")
    local shot = t.ok(f, "screenshot written"):read("a")
    f:close()
    t.eq(shot:sub(1, 8), "\137PNG\r\n\26\n", "PNG signature")
    t.ok(#shot > 20000, "a screenshot with content: " .. #shot .. " bytes")
  end,

  ["a sweep report: the three tables with the best marked, a curve per cell with its band"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/sweep.db"
    -- the baseline needs no LLM; its acceptance rule makes the two cells differ
    local code, out, err = t.hone("sweep --name grid --task toy --grid accept=improves_validation,always " ..
      "--seeds 1,2 --set steps=3 --optimizer baseline --jobs 2 --db " .. db)
    t.eq(code, 0, "the sweep (" .. err .. out .. ")")
    for _, target in ipairs({ "grid", "sweep:grid", "sweep:1" }) do
      local path = dir .. "/" .. target:gsub(":", "_") .. ".html"
      code, out, err = t.hone(string.format("report %s -o %s --db %s", target, path, db))
      t.eq(code, 0, "report " .. target .. " (" .. err .. ")")
      t.match(out, "^report of sweep grid: ", "what was reported")
    end
    local html = t.read(dir .. "/grid.html")
    balanced(t, html)
    self_contained(t, html)
    for _, id in ipairs({ "summary", "tables", "curves", "runs" }) do
      t.match(html, "id=\"" .. id .. "\"", "section " .. id)
    end
    for _, metric in ipairs({ "test", "validation", "final_test" }) do
      local tbl = t.ok(html:match("<table id=\"table%-" .. metric .. "\" class=\"sweep%-table\">.-</table>"), metric)
      t.match(tbl, "<th class=\"num\">toy</th>", "a column per task")
      local rows = {}
      for cell in tbl:gmatch("<tr data%-cell=\"([^\"]+)\">") do rows[#rows + 1] = cell end
      t.eq(rows, { "fixed accept=improves_validation", "fixed accept=always" }, metric .. " rows")
      t.eq(count(tbl, "class=\"num best\""), 1, metric .. ": one best in the column")
      t.match(tbl, "<td class=\"num best\">%d%.%d%d%d ± [%d%.na/]+ <span class=\"m\">%(2%)</span> ★</td>",
        metric .. ": the best, marked, over 2 seeds")
    end
    -- the table's numbers are hone table's
    local _, text = t.hone("table grid --metric validation --db " .. db)
    for _, cell in ipairs({ "improves_validation", "always" }) do
      local mean = t.ok(text:match("fixed accept=" .. cell .. " +(%d%.%d%d%d) %+%-"), "hone table's " .. cell)
      t.match(html:match("<table id=\"table%-validation\".-</table>"), "fixed accept=" .. cell ..
        "</td><td class=\"num[^\"]*\">" .. mean:gsub("%.", "%%."), "the same mean as hone table")
    end

    local chart = svg(t, html, "chart-curve-1")
    for _, cell in ipairs({ "fixed accept=improves_validation", "fixed accept=always" }) do
      t.eq(count(chart, "<circle class=\"pt\" data-series=\"" .. cell .. "\""), 4, cell .. ": steps 0..3")
      t.eq(count(chart, "<polygon class=\"band\" data-series=\"" .. cell .. "\""), 1, cell .. ": an error band")
    end
    t.eq(count(html, "<td>done</td>"), 4, "every run listed")
  end,

  ["an episodic run shows the horizon 'episode' as a label"] = function(t)
    local dir = t.tmpdir()
    -- an episodic task whose one constant the baseline optimizer can move: no LLM needed
    t.write(dir .. "/task.lua", [[
local M = { instruction = "Raise the score.", default_artifact = "default" }
M.starting_artifacts = { default = { language = "lua", blocks = {
  { name = "gain", editable = true, code = "function gain()\n  return 0.2\nend" } } } }
function M.splits()
  return { train = { { id = 1 } }, validation = { { id = 2 } }, test = { { id = 3 } } }
end
function M.evaluate(artifact)
  local s = tonumber(artifact:assemble():match("return ([%d%.%-]+)")) or 0
  return { score = s, results = { { id = 1, score = s } } }
end
function M.experience(artifact)
  local r = M.evaluate(artifact)
  r.evidence, r.again = "a rollout", M.evaluate
  return r
end
return M
]])
    local db = dir .. "/e.db"
    local code, _, err = t.hone(string.format("run %s/task.lua --optimizer baseline --set horizon=episode " ..
      "--set steps=2 --quiet --db %s", dir, db))
    t.eq(code, 0, "the run (" .. err .. ")")
    code, _, err = t.hone(string.format("report 1 -o %s/e.html --db %s", dir, db))
    t.eq(code, 0, "report (" .. err .. ")")
    local html = t.read(dir .. "/e.html")
    local chart = svg(t, html, "chart-horizon")
    t.match(chart, ">episode</text>", "the label on the H axis")
    t.eq(count(chart, "<circle class=\"pt\" data-series=\"H\""), 2, "H at both updates")
    t.match(html, "No LLM calls in this run", "a run without an LLM says so")
    t.match(html, "recorded no decisions", "a fixed recipe has no reasons to show")
  end,

  ["report refuses what it cannot do, in one line, and leaves no half-written file"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/r.db"
    t.eq((t.hone("run toy --optimizer baseline --set steps=1 --quiet --db " .. db)), 0, "a run")
    for _, c in ipairs({
      { "report 7 -o " .. dir .. "/x.html --db " .. db, "no run 7 in " },
      { "report nosweep -o " .. dir .. "/x.html --db " .. db, "no sweep 'nosweep' in " },
      { "report sweep:3 -o " .. dir .. "/x.html --db " .. db, "no sweep '3' in " },
      { "report 1 --db " .. db, "report needs %-o FILE" },
      { "report -o " .. dir .. "/x.html --db " .. db, "report takes one RUN" },
      { "report 1 -o " .. dir .. "/missing/x.html --db " .. db, "cannot write the report to .-/missing/x%.html" },
      { "report 1 -o " .. dir .. "/x.html --db " .. dir .. "/none.db", "no store at " },
      { "report 1 -o " .. dir .. "/x.html --colour --db " .. db, "unknown flag %-%-colour" },
    }) do
      local code, out, err = t.hone(c[1])
      t.eq({ code, out }, { 2, "" }, "exit of " .. c[1])
      t.match(err, "^hone: " .. c[2] .. "[^\n]*\n$", "one line for " .. c[1])
    end
    t.eq(io.open(dir .. "/x.html", "rb"), nil, "nothing written")
    -- an output that cannot be replaced (a folder) leaves no temporary file behind
    os.execute("mkdir " .. t.sh_quote(dir .. "/folder.html"))
    local code = t.hone(string.format("report 1 --output %s/folder.html --db %s", dir, db))
    t.eq(code, 2, "a folder is not a file")
    t.eq(io.open(dir .. "/folder.html.tmp", "rb"), nil, "the temporary file removed")
  end,
}
