-- Reports: one self-contained HTML file per run or sweep, for people who would rather look
-- at a learning curve than read a table. Everything is inline (CSS, SVG charts); there is
-- no script and no reference to anything outside the file, so a report opens anywhere,
-- offline, and shows the same thing in ten years.
--
-- Everything that comes from the store (candidate code, the optimizer's reasoning, LLM
-- errors, task names) is untrusted text and goes through M.escape: a candidate may well
-- contain "</pre><script>".
local hone = require("hone")
local sweep_mod = require("hone.sweep")
local json = hone.json

local M = {}

-- HTML -----------------------------------------------------------------------------------

local ENTITIES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

-- Text safe in element content and in quoted attributes. Control characters other than
-- tab and newline are not allowed in HTML: they become U+FFFD.
function M.escape(s)
  s = tostring(s == nil and "" or s)
  return (s:gsub("[&<>\"']", ENTITIES):gsub("[%z\1-\8\11\12\14-\31\127]", "\u{FFFD}"))
end
local esc = M.escape

local function fmt(x, digits)
  if type(x) ~= "number" then return "–" end
  return string.format("%." .. (digits or 3) .. "f", x)
end

-- 1234567 -> "1,234,567"
local function thousands(n)
  local s = tostring(math.tointeger(n) or math.floor(n + 0.5))
  local sign, digits = s:match("^(-?)(%d+)$")
  return sign .. digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
end

-- "2025-01-02T03:04:05.678Z" -> "2025-01-02 03:04:05 UTC"
local function when(ts)
  if type(ts) ~= "string" then return "–" end
  local day, time = ts:match("^(%d+%-%d+%-%d+)T(%d+:%d+:%d+)")
  return day and (day .. " " .. time .. " UTC") or ts
end

-- Seconds between two store timestamps (both UTC, so the local offset cancels out).
local function seconds_between(a, b)
  local function t(ts)
    local y, mo, d, h, mi, sec = tostring(ts):match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):([%d%.]+)")
    if not y then return nil end
    local whole = math.floor(tonumber(sec))
    return os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = whole }) + tonumber(sec) - whole
  end
  local ta, tb = t(a), t(b)
  return ta and tb and (tb - ta) or nil
end

local function duration(s)
  if not s then return "" end
  if s < 120 then return string.format(" (%.1f s)", s) end
  if s < 7200 then return string.format(" (%.1f min)", s / 60) end
  return string.format(" (%.1f h)", s / 3600)
end

local function clip(s, n)
  s = tostring(s or "")
  if #s <= n then return s end
  return s:sub(1, n) .. "…"
end

local CSS = [[
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--card:#f6f8fa;--accent:#0969da;
--ok:#1a7f37;--okbg:#dafbe1;--bad:#cf222e;--badbg:#ffebe9;--warn:#9a6700;--warnbg:#fff8c5}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1140px;margin:0 auto;padding:28px 32px 64px}
h1{font-size:26px;margin:0 0 2px;font-weight:650}
h2{font-size:18px;margin:36px 0 6px;padding-bottom:4px;border-bottom:1px solid var(--line);font-weight:600}
h3{font-size:14px;margin:0 0 2px;font-weight:600}
.sub{color:var(--muted);margin:0 0 16px}
.lead{color:var(--muted);margin:0 0 14px;max-width:820px}
.meta{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px 24px;margin:14px 0;padding:14px 18px;
background:var(--card);border:1px solid var(--line);border-radius:8px}
.meta dt{color:var(--muted);font-size:12px}
.meta dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.chips code{display:inline-block;background:var(--card);border:1px solid var(--line);border-radius:4px;
padding:0 6px;margin:2px 4px 2px 0;font-size:12px}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px 28px}
figure{margin:0 0 8px}
figcaption{color:var(--muted);font-size:12.5px;margin-top:2px}
svg.chart{display:block;width:100%;height:auto}
svg.chart text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:11px;fill:#57606a}
svg.chart .axis-label{font-size:11.5px;fill:#424a53}
svg.chart .marker-label{fill:#424a53;font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}
#failure-table td:nth-child(-n+2){white-space:nowrap}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:6px 0 14px}
caption{text-align:left;color:var(--muted);font-size:12.5px;padding-bottom:4px}
p.caption{color:var(--muted);font-size:12.5px;margin:0}
#tables h3{margin-top:18px}
th,td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;background:var(--card)}
td.num,th.num{text-align:right}
td.best{background:var(--okbg);font-weight:700}
.empty{color:var(--muted);font-style:italic}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;
background:var(--card);color:var(--muted);border:1px solid var(--line)}
.pill.ok{background:var(--okbg);color:var(--ok);border-color:#aceebb}
.pill.bad{background:var(--badbg);color:var(--bad);border-color:#ffcecb}
.pill.warn{background:var(--warnbg);color:var(--warn);border-color:#eed888}
.pill.best{background:#ddf4ff;color:var(--accent);border-color:#b6e3ff}
details.step{border:1px solid var(--line);border-radius:6px;margin:5px 0;background:#fff}
details.step[open]{box-shadow:0 1px 3px rgba(31,35,40,.08)}
details.step summary{cursor:pointer;list-style:none;display:grid;align-items:center;
grid-template-columns:14px 64px 190px 54px 84px minmax(0,1fr) 110px;gap:10px;padding:6px 12px;
font-variant-numeric:tabular-nums}
details.step summary::-webkit-details-marker{display:none}
details.step summary::before{content:"▸";color:var(--muted)}
details.step[open] summary::before{content:"▾"}
details.step summary .n{font-weight:650}
details.step summary .m{color:var(--muted)}
details.step .body{padding:2px 16px 12px 36px;border-top:1px solid var(--line)}
.body h4{margin:12px 0 4px;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
pre{margin:0;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px;
white-space:pre-wrap;overflow-wrap:anywhere;font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre.diff span{display:block;margin:0 -12px;padding:0 12px}
pre.diff .add{background:#e6ffec;color:#116329}
pre.diff .del{background:#ffebe9;color:#82071e}
pre.diff .hunk{color:#8250df;font-weight:600}
.error{color:var(--bad)}
footer{margin-top:40px;color:var(--muted);font-size:12px}
@media (max-width:800px){.grid2{grid-template-columns:1fr}.meta{grid-template-columns:1fr 1fr}}
]]

local function page(title, body)
  return table.concat({
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    "<title>", esc(title), "</title>\n<style>\n", CSS, "</style>\n</head>\n<body>\n<main>\n", body,
    "<footer>Made by hone ", esc(hone.version), " from its trace store. Self-contained: no scripts, ",
    "nothing loaded from anywhere else.</footer>\n</main>\n</body>\n</html>\n",
  })
end

-- <dl> of label/value pairs; values are HTML already (escaped by the caller).
local function meta(pairs_list)
  local out = { "<dl class=\"meta\">" }
  for _, p in ipairs(pairs_list) do
    out[#out + 1] = string.format("<div><dt>%s</dt><dd>%s</dd></div>", esc(p[1]), p[2])
  end
  out[#out + 1] = "</dl>\n"
  return table.concat(out)
end

-- A table: head is a list of {text, class}; rows are lists of {html, class}.
local function html_table(o)
  local out = { string.format("<table%s%s>", o.id and (" id=\"" .. esc(o.id) .. "\"") or "",
    o.class and (" class=\"" .. o.class .. "\"") or "") }
  if o.caption then out[#out + 1] = "<caption>" .. o.caption .. "</caption>" end
  out[#out + 1] = "<thead><tr>"
  for _, h in ipairs(o.head) do
    out[#out + 1] = string.format("<th%s>%s</th>", h[2] and (" class=\"" .. h[2] .. "\"") or "", esc(h[1]))
  end
  out[#out + 1] = "</tr></thead><tbody>"
  for _, row in ipairs(o.rows) do
    out[#out + 1] = row.attrs and ("<tr " .. row.attrs .. ">") or "<tr>"
    for _, c in ipairs(row) do
      out[#out + 1] = string.format("<td%s>%s</td>", c[2] and (" class=\"" .. c[2] .. "\"") or "", c[1])
    end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</tbody></table>\n"
  return table.concat(out)
end

-- Charts ---------------------------------------------------------------------------------

-- Okabe-Ito: told apart by people with any common colour blindness.
M.PALETTE = { "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999" }
local SPLIT_COLORS = { train = "#E69F00", validation = "#0072B2", test = "#009E73" }

-- Round tick positions covering [lo, hi], about `count` of them: the list, its step.
function M.ticks(lo, hi, count, integer)
  if hi <= lo then lo, hi = lo - 0.5, hi + 0.5 end
  local raw = (hi - lo) / (count or 5)
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local norm = raw / mag
  local step = (norm <= 1 and 1 or norm <= 2 and 2 or norm <= 5 and 5 or 10) * mag
  if integer then step = math.max(1, math.ceil(step)) end
  local first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
  local out = {}
  for i = first, last do out[#out + 1] = i * step end
  return out, step
end

local function tick_text(v, step)
  if math.abs(v) >= 10000 and step >= 1000 then return string.format("%gk", v / 1000) end
  local digits = step >= 1 and 0 or math.min(6, math.ceil(-math.log(step, 10) - 1e-9))
  return string.format("%." .. digits .. "f", v)
end

local function num(x) return string.format("%.1f", x) end

-- A styled SVG line; the stroke is given inline too, so the chart reads without the CSS.
local function svg_line(class, stroke, x1, x2, y1, y2, dashed)
  return string.format("<line class=\"%s\" stroke=\"%s\"%s x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\"/>", class, stroke,
    dashed and " stroke-dasharray=\"4 3\"" or "", num(x1), num(x2), num(y1), num(y2))
end

-- An SVG chart of numbered steps (or any numeric x). opts:
--   id, width (620), height (260), x_label, y_label
--   series = {{name, color, kind = "line" | "step" | "bar", points = {{x, y, hollow, big, title}},
--              band = {{x, lo, hi}} (a translucent polygon, e.g. mean +- se), dashed}}
--     bar series at the same x are stacked in their order.
--   y_min, y_max (default: from the data, with 0 included for bars), integer_y (whole ticks),
--   y_ticks = {{value, text}}
--     (replaces the automatic ticks: e.g. a horizon that may be the text "episode"),
--   markers = {{x, label}}: dashed vertical lines, e.g. the best step.
-- Every point is a <circle class="pt" data-series="NAME"> (bars a <rect class="bar">) with a
-- <title> tooltip, so a reader can hover and a test can count.
function M.chart(opts)
  local W, H = opts.width or 620, opts.height or 260
  local left, right, bottom = 54, 16, 42
  -- the legend goes in rows above the plot, as many as the names need
  local legend, row, lx = {}, 0, left
  for _, s in ipairs(opts.series) do
    local w = 19 + 7 * (utf8.len(s.name) or #s.name) + 18
    if lx + w > W - right and lx > left then row, lx = row + 1, left end
    legend[#legend + 1] = { series = s, x = lx, y = 13 + row * 16 }
    lx = lx + w
  end
  local top = 30 + row * 16
  local xs, ys, has_bars = {}, {}, false
  for _, s in ipairs(opts.series) do
    has_bars = has_bars or s.kind == "bar"
    for _, p in ipairs(s.points) do xs[#xs + 1], ys[#ys + 1] = p[1], p[2] end
    for _, b in ipairs(s.band or {}) do ys[#ys + 1], ys[#ys + 2] = b[2], b[3] end
  end
  if has_bars then   -- stacked: the axis must reach the tallest stack
    local stack = {}
    for _, s in ipairs(opts.series) do
      if s.kind == "bar" then
        for _, p in ipairs(s.points) do stack[p[1]] = (stack[p[1]] or 0) + p[2] ys[#ys + 1] = stack[p[1]] end
      end
    end
    ys[#ys + 1] = 0
  end
  local xmin, xmax = math.huge, -math.huge
  for _, x in ipairs(xs) do xmin, xmax = math.min(xmin, x), math.max(xmax, x) end
  if #xs == 0 then xmin, xmax = 0, 1 end
  local ymin, ymax = opts.y_min, opts.y_max
  if not ymin or not ymax then
    local lo, hi = math.huge, -math.huge
    for _, y in ipairs(ys) do lo, hi = math.min(lo, y), math.max(hi, y) end
    if #ys == 0 then lo, hi = 0, 1 end
    ymin, ymax = ymin or lo, ymax or hi
  end
  local yticks = opts.y_ticks
  if not yticks then
    local list, step = M.ticks(ymin, ymax, 5, opts.integer_y)
    yticks = {}
    for i, v in ipairs(list) do yticks[i] = { v, tick_text(v, step) } end
    ymin, ymax = math.min(ymin, list[1]), math.max(ymax, list[#list])
  end
  if ymax <= ymin then ymax = ymin + 1 end
  -- bars sit in bands around their x; lines keep a little air at both ends
  local xpad = has_bars and 0.5 or 0
  local x0, x1 = xmin - xpad, xmax + xpad
  if x1 <= x0 then x0, x1 = x0 - 1, x1 + 1 end
  local inner = has_bars and 0 or 10
  local pw, ph = W - left - right - 2 * inner, H - top - bottom
  local function X(x) return left + inner + (x - x0) / (x1 - x0) * pw end
  local function Y(y) return top + (1 - (y - ymin) / (ymax - ymin)) * ph end

  local out = { string.format("<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" " ..
    "role=\"img\" aria-label=\"%s\" font-size=\"11\" font-family=\"sans-serif\">", esc(opts.id), W, H, W, H,
    esc(opts.title or opts.id)) }
  for _, t in ipairs(yticks) do
    local y = Y(t[1])
    out[#out + 1] = svg_line("grid", "#eaeef2", left, W - right, y, y)
    out[#out + 1] = string.format("<text x=\"%d\" y=\"%s\" text-anchor=\"end\">%s</text>", left - 6,
      num(y + 3.5), esc(t[2]))
  end
  local xlist, xstep = M.ticks(xmin, xmax, math.max(2, math.floor(pw / 60)), true)
  for _, v in ipairs(xlist) do
    if v >= x0 and v <= x1 then
      out[#out + 1] = string.format("<text x=\"%s\" y=\"%d\" text-anchor=\"middle\">%s</text>", num(X(v)),
        H - bottom + 15, tick_text(v, xstep))
    end
  end
  out[#out + 1] = svg_line("axis", "#8c959f", left, W - right, H - bottom, H - bottom)
  out[#out + 1] = svg_line("axis", "#8c959f", left, left, top, H - bottom)
  if opts.x_label then
    out[#out + 1] = string.format("<text class=\"axis-label\" x=\"%s\" y=\"%d\" text-anchor=\"middle\">%s</text>",
      num(left + (W - left - right) / 2), H - 8, esc(opts.x_label))
  end
  if opts.y_label then
    out[#out + 1] = string.format("<text class=\"axis-label\" transform=\"translate(13 %s) rotate(-90)\" " ..
      "text-anchor=\"middle\">%s</text>", num(top + ph / 2), esc(opts.y_label))
  end

  -- bands under lines, lines under points
  for _, s in ipairs(opts.series) do
    if s.band and #s.band > 1 then
      local pts = {}
      for _, b in ipairs(s.band) do pts[#pts + 1] = num(X(b[1])) .. "," .. num(Y(b[3])) end
      for i = #s.band, 1, -1 do pts[#pts + 1] = num(X(s.band[i][1])) .. "," .. num(Y(s.band[i][2])) end
      out[#out + 1] = string.format("<polygon class=\"band\" data-series=\"%s\" fill=\"%s\" fill-opacity=\"0.16\" " ..
        "stroke=\"none\" points=\"%s\"/>", esc(s.name), s.color, table.concat(pts, " "))
    end
  end
  local stack = {}
  local bar_w = math.max(2, math.min(26, pw / math.max(1, x1 - x0) * 0.7))
  for _, s in ipairs(opts.series) do
    if s.kind == "bar" then
      for _, p in ipairs(s.points) do
        local base = stack[p[1]] or 0
        stack[p[1]] = base + p[2]
        out[#out + 1] = string.format("<rect class=\"bar\" data-series=\"%s\" x=\"%s\" y=\"%s\" width=\"%s\" " ..
          "height=\"%s\" fill=\"%s\"><title>%s</title></rect>", esc(s.name), num(X(p[1]) - bar_w / 2),
          num(Y(base + p[2])), num(bar_w), num(math.max(0, Y(base) - Y(base + p[2]))), s.color, esc(p.title or ""))
      end
    elseif #s.points > 1 then
      local pts = {}
      for i, p in ipairs(s.points) do
        if s.kind == "step" and i > 1 then pts[#pts + 1] = num(X(p[1])) .. "," .. num(Y(s.points[i - 1][2])) end
        pts[#pts + 1] = num(X(p[1])) .. "," .. num(Y(p[2]))
      end
      out[#out + 1] = string.format("<polyline class=\"line\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" " ..
        "stroke-linejoin=\"round\"%s points=\"%s\"/>", s.color, s.dashed and " stroke-dasharray=\"5 4\"" or "",
        table.concat(pts, " "))
    end
  end
  for _, m in ipairs(opts.markers or {}) do
    local x = X(m[1])
    out[#out + 1] = svg_line("marker", "#6e7781", x, x, top, H - bottom, true)
    -- labelled low in the plot: learning curves rise, so the bottom is usually free
    local anchor = x > W * 0.7 and "end" or "start"
    out[#out + 1] = string.format("<text class=\"marker-label\" x=\"%s\" y=\"%d\" text-anchor=\"%s\">%s</text>",
      num(x + (anchor == "end" and -5 or 5)), H - bottom - 7, anchor, esc(m[2]))
  end
  for _, s in ipairs(opts.series) do
    if s.kind ~= "bar" then
      for _, p in ipairs(s.points) do
        out[#out + 1] = string.format("<circle class=\"pt\" data-series=\"%s\" cx=\"%s\" cy=\"%s\" r=\"%s\" " ..
          "fill=\"%s\" stroke=\"%s\" stroke-width=\"1.5\"><title>%s</title></circle>", esc(s.name), num(X(p[1])),
          num(Y(p[2])), p.big and "5" or "3.2", p.hollow and "#fff" or s.color, s.color, esc(p.title or ""))
      end
    end
  end
  for _, item in ipairs(legend) do
    local s, x, y = item.series, item.x, item.y
    local swatch = s.kind == "bar"
      and string.format("<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\"/>", x, y - 5, s.color)
      or string.format("<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2.5\"%s/>",
        x, x + 14, y, y, s.color, s.dashed and " stroke-dasharray=\"4 3\"" or "")
    out[#out + 1] = string.format("<g class=\"legend\">%s<text x=\"%d\" y=\"%d\">%s</text></g>", swatch, x + 19,
      y + 4, esc(s.name))
  end
  out[#out + 1] = "</svg>"
  return table.concat(out)
end

local function figure(title, svg, caption)
  return string.format("<figure><h3>%s</h3>%s%s</figure>\n", esc(title), svg,
    caption and ("<figcaption>" .. caption .. "</figcaption>") or "")
end

-- Run report -----------------------------------------------------------------------------

local function decode(text)
  if type(text) ~= "string" then return nil end
  local ok, v = pcall(json.decode, text)
  return ok and v or nil
end

-- What a step's recipe decision says, in words: its `reason`, else the JSON as stored.
local function decision_text(s)
  local d = decode(s.decision)
  if type(d) == "table" and type(d.reason) == "string" then return d.reason, d end
  return s.decision, d
end

-- What became of a step's candidate, and the pill's colour. "new best": it became the best
-- on validation when it was made (steps.best_id is recorded after each step).
local function step_state(s)
  if s.step == 0 then return "start", "" end
  if not s.candidate_id then return "no candidate", "warn" end
  if s.error then return "failed", "bad" end
  local best = s.best_id == s.candidate_id and ", new best" or ""
  if s.accepted == 1 then return "accepted" .. best, "ok" end
  return "not accepted" .. best, ""
end

local function diff_html(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local c = line:sub(1, 1)
    local class = line:match("^@@") and "hunk" or c == "+" and "add" or c == "-" and "del" or "ctx"
    out[#out + 1] = string.format("<span class=\"%s\">%s</span>", class, line == "" and " " or esc(line))
  end
  return "<pre class=\"diff\">" .. table.concat(out) .. "</pre>"
end

local function run_data(tr, id)
  local r = tr:run(id)
  if not r then return nil end
  local d = { run = r, config = decode(r.config) or {}, steps = tr:steps(id), candidates = {},
              calls = tr:llm_calls(id) }
  for _, c in ipairs(tr.db:query("SELECT id, step, parent_id, diff, reasoning FROM candidates WHERE run_id = ?", id)) do
    d.candidates[c.id] = c
  end
  d.eval_errors = tr.db:query("SELECT step, split, error, error_kind FROM evaluations WHERE run_id = ? AND " ..
    "(error IS NOT NULL OR error_kind IS NOT NULL) ORDER BY id", id)
  d.events = tr.db:query("SELECT step, kind, message FROM events WHERE run_id = ? ORDER BY id", id)
  d.totals = tr:llm_totals(id)
  local last = d.steps[#d.steps]
  d.best_id, d.final_id = last and last.best_id, last and last.current_id
  -- a candidate's latest test score (a run may test the final and best ones after its last step)
  d.test_of = function(cid)
    local e = cid and tr.db:query("SELECT score FROM evaluations WHERE candidate_id = ? AND split = 'test' " ..
      "ORDER BY id DESC LIMIT 1", cid)[1]
    return e and e.score
  end
  d.validation_of = function(cid)
    local e = cid and tr.db:query("SELECT score FROM evaluations WHERE candidate_id = ? AND split = 'validation' " ..
      "ORDER BY id DESC LIMIT 1", cid)[1]
    return e and e.score
  end
  return d
end

local function run_header(d)
  local r, c = d.run, d.config
  local steps = math.max(0, #d.steps - 1)
  local optimizer = type(c.llm) == "table" and esc(string.format("%s (%s)", c.llm.model or "?",
    c.llm.provider or c.llm.format or "LLM")) or esc(c.optimizer == "baseline" and "baseline (no LLM)" or "–")
  local status_class = r.status == "done" and "ok" or r.status == "running" and "" or "bad"
  local best = d.best_id and d.candidates[d.best_id]
  local final = d.final_id and d.candidates[d.final_id]
  local items = {
    { "task", esc(r.task) }, { "recipe", esc(r.recipe) }, { "seed", esc(r.seed) },
    { "status", string.format("<span class=\"pill %s\">%s</span>", status_class, esc(r.status)) },
    { "optimizer model", optimizer }, { "starting artifact", esc(c.artifact or "–") },
    { "started", esc(when(r.started_at)) },
    { "finished", esc(when(r.finished_at) .. duration(seconds_between(r.started_at, r.finished_at))) },
    { "steps", esc(steps) }, { "LLM calls", esc(d.totals.calls) .. (d.totals.cache_hits > 0 and
      esc(string.format(" (%d cached)", d.totals.cache_hits)) or "") },
    { "tokens", esc(string.format("%s prompt + %s completion", thousands(d.totals.prompt_tokens),
      thousands(d.totals.completion_tokens))) },
    { "waiting on the LLM", esc(string.format("%.1f s", d.totals.latency_ms / 1000)) },
    { "best on validation", best and esc(string.format("%s (step %d)", fmt(d.validation_of(best.id)), best.step))
      or "–" },
    { "its held-out test", esc(fmt(best and d.test_of(best.id))) },
    { "final candidate", final and esc(string.format("validation %s (step %d)", fmt(d.validation_of(final.id)),
      final.step)) or "–" },
    { "its held-out test", esc(fmt(final and d.test_of(final.id))) },
  }
  if type(c.llm) ~= "table" and r.replay_of then items[#items + 1] = { "replay of run", esc(r.replay_of) } end
  local chips = {}
  local keys = {}
  for k in pairs(c.params or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do chips[#chips + 1] = "<code>" .. esc(k .. "=" .. tostring(c.params[k])) .. "</code>" end
  if type(c.budget) == "table" then
    for k, v in pairs(c.budget) do chips[#chips + 1] = "<code>budget " .. esc(k .. "=" .. tostring(v)) .. "</code>" end
  end
  local out = {
    string.format("<header id=\"summary\"><h1>Run %d · %s</h1>\n<p class=\"sub\">recipe %s, seed %s%s</p>\n",
      r.id, esc(r.task), esc(r.recipe), esc(r.seed), r.replay_of and esc(", a replay of run " .. r.replay_of) or ""),
    meta(items),
  }
  if r.error then out[#out + 1] = "<p class=\"error\">" .. esc(r.error) .. "</p>\n" end
  out[#out + 1] = "<p class=\"chips\">" .. table.concat(chips, " ") .. "</p>\n</header>\n"
  return table.concat(out)
end

local function best_step(d)
  local best = d.best_id and d.candidates[d.best_id]
  return best and best.step
end

local function scores_section(d)
  local bs = best_step(d)
  local series = {}
  for _, split in ipairs({ "train", "validation", "test" }) do
    local pts = {}
    for _, s in ipairs(d.steps) do
      local v = s[split .. "_score"]
      if type(v) == "number" then
        pts[#pts + 1] = { s.step, v, hollow = split == "validation" and s.step > 0 and s.accepted ~= 1,
                          big = split == "validation" and s.step == bs,
                          title = string.format("step %d · %s %s", s.step, split, fmt(v)) }
      end
    end
    series[#series + 1] = { name = split, color = SPLIT_COLORS[split], points = pts, dashed = split == "test" }
  end
  local ys = {}
  for _, s in ipairs(series) do for _, p in ipairs(s.points) do ys[#ys + 1] = p[2] end end
  local lo, hi = math.huge, -math.huge
  for _, y in ipairs(ys) do lo, hi = math.min(lo, y), math.max(hi, y) end
  local unit = #ys == 0 or (lo >= 0 and hi <= 1)
  local svg = M.chart({ id = "chart-scores", title = "scores per split over steps", width = 1076, height = 320,
    x_label = "step", y_label = "score", series = series, y_min = unit and 0 or nil, y_max = unit and 1 or nil,
    markers = bs and { { bs, "best on validation (step " .. bs .. ")" } } or nil })
  return "<section id=\"scores\"><h2>Scores over steps</h2>\n<p class=\"lead\">Train is the step's candidate on " ..
    "the minibatch or rollout it learned from (step 0 has none); validation selects candidates; test is held " ..
    "out, never shown to the optimizer or the recipe. Train rising while validation stalls is overfitting to " ..
    "the minibatch; validation rising while test stalls is meta-overfitting to the validation set. Hollow " ..
    "points: candidates that were not kept.</p>\n" .. figure("Train, validation and held-out test", svg) ..
    "</section>\n"
end

-- B and H over the steps that have them, with the recipe's reasons, repeated ones folded.
local function batching_section(d)
  local b_pts, h_pts, numeric_h, episode = {}, {}, {}, false
  for _, s in ipairs(d.steps) do
    if s.step > 0 then
      local reason, dec = decision_text(s)
      local changed = type(dec) == "table" and dec.changed == true
      local tip = reason and (" · " .. clip(reason, 160)) or ""
      if s.batch_size then
        b_pts[#b_pts + 1] = { s.step, s.batch_size, big = changed, title = string.format("step %d · B %d%s", s.step,
          s.batch_size, tip) }
      end
      if s.horizon == "episode" then episode = true end
      if s.horizon ~= nil then
        h_pts[#h_pts + 1] = { s.step, s.horizon, big = changed, title = string.format("step %d · H %s%s", s.step,
          tostring(s.horizon), tip) }
        if type(s.horizon) == "number" then numeric_h[#numeric_h + 1] = s.horizon end
      end
    end
  end
  local out = { "<section id=\"batching\"><h2>Batch size B and horizon H</h2>\n<p class=\"lead\">How much " ..
    "experience fed each update: B training examples, or H steps of an episode. Large points mark steps where " ..
    "the recipe changed the setting; hover a point for its reason.</p>\n<div class=\"grid2\">" }
  if #b_pts > 0 then
    out[#out + 1] = figure("B (batch size)", M.chart({ id = "chart-batch", title = "batch size per step",
      x_label = "step", y_label = "B", integer_y = true, y_min = 0,
      series = { { name = "B", color = "#0072B2", kind = "step", points = b_pts } } }))
  else
    out[#out + 1] = "<p class=\"empty\">No updates yet.</p>"
  end
  if #h_pts > 0 then
    -- "episode" is not a number: it gets its own row above the largest numeric horizon
    local hi = 1
    for _, h in ipairs(numeric_h) do hi = math.max(hi, h) end
    local list, step = M.ticks(0, hi, 4, true)
    local yticks = {}
    for i, v in ipairs(list) do yticks[i] = { v, tick_text(v, step) } end
    local top = list[#list]
    if episode then
      top = top + step
      yticks[#yticks + 1] = { top, "episode" }
      for _, p in ipairs(h_pts) do if p[2] == "episode" then p[2] = top end end
    end
    out[#out + 1] = figure("H (horizon)", M.chart({ id = "chart-horizon", title = "horizon per step",
      x_label = "step", y_label = "H", y_min = 0, y_max = top, y_ticks = yticks,
      series = { { name = "H", color = "#D55E00", kind = "step", points = h_pts } } }),
      "The credit horizon: steps of an episode per update.")
  else
    out[#out + 1] = "<p class=\"empty\">No horizon: this task learns from minibatches, not episodes.</p>"
  end
  out[#out + 1] = "</div>\n"
  local rows, last = {}, nil
  for _, s in ipairs(d.steps) do
    if s.step > 0 and s.decision then
      local reason = decision_text(s)
      if last and last.reason == reason and last.b == s.batch_size and last.h == s.horizon then
        last.to = s.step
      else
        last = { from = s.step, to = s.step, b = s.batch_size, h = s.horizon, reason = reason }
        rows[#rows + 1] = last
      end
    end
  end
  if #rows == 0 then
    out[#out + 1] = "<p class=\"empty\">The recipe recorded no decisions (a fixed recipe: the same B and H " ..
      "every step).</p>"
  else
    local trs = {}
    for i, r in ipairs(rows) do
      trs[i] = { { esc(r.from == r.to and r.from or (r.from .. "–" .. r.to)), "num" }, { esc(r.b or "–"), "num" },
                 { esc(r.h or "–"), "num" }, { esc(r.reason) } }
    end
    out[#out + 1] = html_table({ id = "decisions", caption = "The recipe's decisions (consecutive steps with the " ..
      "same decision folded)", head = { { "steps", "num" }, { "B", "num" }, { "H", "num" }, { "reason" } },
      rows = trs })
  end
  out[#out + 1] = "</section>\n"
  return table.concat(out)
end

local function cost_section(d)
  local prompt, completion, latency, any = {}, {}, {}, false
  for _, s in ipairs(d.steps) do
    prompt[#prompt + 1] = { s.step, s.prompt_tokens, title = string.format("step %d · %s prompt tokens", s.step,
      thousands(s.prompt_tokens)) }
    completion[#completion + 1] = { s.step, s.completion_tokens, title = string.format("step %d · %s completion " ..
      "tokens", s.step, thousands(s.completion_tokens)) }
    latency[#latency + 1] = { s.step, (s.llm_latency_ms or 0) / 1000, title = string.format("step %d · %.2f s " ..
      "waiting on the LLM (%d calls)", s.step, (s.llm_latency_ms or 0) / 1000, s.llm_calls) }
    any = any or s.llm_calls > 0
  end
  local out = { "<section id=\"cost\"><h2>Tokens and LLM time per step</h2>\n" }
  if not any then
    out[#out + 1] = "<p class=\"empty\">No LLM calls in this run (the baseline optimizer needs none).</p>"
  else
    out[#out + 1] = "<div class=\"grid2\">"
    out[#out + 1] = figure("Tokens", M.chart({ id = "chart-tokens", title = "tokens per step", x_label = "step",
      y_label = "tokens", series = {
        { name = "prompt", color = "#56B4E9", kind = "bar", points = prompt },
        { name = "completion", color = "#0072B2", kind = "bar", points = completion } } }),
      "Every call of the step: the optimizer's and, for tasks with a model of their own, the task's.")
    out[#out + 1] = figure("Seconds waiting on the LLM", M.chart({ id = "chart-latency", title = "LLM seconds per " ..
      "step", x_label = "step", y_label = "seconds", y_min = 0,
      series = { { name = "latency", color = "#CC79A7", points = latency } } }),
      "Summed over the step's calls; calls in flight at once each count in full.")
    out[#out + 1] = "</div>"
  end
  out[#out + 1] = "</section>\n"
  return table.concat(out)
end

-- Failures by kind: failed evaluations, LLM calls that did not succeed, unusable replies,
-- steps that ended without a candidate.
local function failures_section(d)
  local groups, order = {}, {}
  local function add(what, kind, step, message)
    local key = what .. "\0" .. kind
    local g = groups[key]
    if not g then
      g = { what = what, kind = kind, count = 0, steps = {}, seen = {}, example = message }
      groups[key], order[#order + 1] = g, key
    end
    g.count = g.count + 1
    if step and not g.seen[step] then g.seen[step], g.steps[#g.steps + 1] = true, step end
  end
  for _, e in ipairs(d.eval_errors) do add("evaluation on " .. e.split, e.error_kind or "error", e.step, e.error) end
  for _, c in ipairs(d.calls) do
    if c.status ~= "ok" then add(c.purpose .. " LLM call", c.status, c.step, c.error) end
    if c.proposal_error then add("optimizer reply", "unusable", c.step, c.proposal_error) end
  end
  for _, s in ipairs(d.steps) do
    if s.step > 0 and not s.candidate_id then add("step", "no candidate", s.step, s.error) end
  end
  local out = { "<section id=\"failures\"><h2>Failures by kind</h2>\n" }
  if #order == 0 then
    out[#out + 1] = "<p class=\"empty\">No failures: every evaluation ran and every LLM reply was usable.</p>"
  else
    local rows = {}
    for i, key in ipairs(order) do
      local g = groups[key]
      local steps = {}
      for j, s in ipairs(g.steps) do
        if j > 12 then steps[#steps + 1] = "…" break end
        steps[#steps + 1] = string.format("<a href=\"#step-%d\">%d</a>", s, s)
      end
      rows[i] = { { esc(g.what) }, { esc(g.kind) }, { esc(g.count), "num" }, { table.concat(steps, ", ") },
                  { esc(clip(g.example or "", 200)) } }
    end
    out[#out + 1] = html_table({ id = "failure-table", head = { { "what" }, { "kind" }, { "count", "num" },
      { "steps" }, { "first message" } }, rows = rows })
  end
  out[#out + 1] = "</section>\n"
  return table.concat(out)
end

local function step_details(d, s)
  local state, class = step_state(s)
  local cand = s.candidate_id and d.candidates[s.candidate_id]
  local scores = string.format("train %s · val %s · test %s", fmt(s.train_score), fmt(s.validation_score),
    fmt(s.test_score))
  local out = { string.format("<details class=\"step\" id=\"step-%d\"><summary><span class=\"n\">step %d</span>" ..
    "<span><span class=\"pill %s\">%s</span></span><span class=\"m\">B %s</span><span class=\"m\">H %s</span>" ..
    "<span>%s</span><span class=\"m\">%s tokens</span></summary>\n<div class=\"body\">",
    s.step, s.step, class, esc(state), esc(s.batch_size or "–"), esc(s.horizon or "–"), esc(scores),
    thousands(s.prompt_tokens + s.completion_tokens)) }
  if s.decision then
    out[#out + 1] = "<h4>Recipe decision</h4><p>" .. esc((decision_text(s))) .. "</p>"
  end
  if s.error then out[#out + 1] = "<h4>Error</h4><p class=\"error\">" .. esc(s.error) .. "</p>" end
  local notes = {}
  for _, c in ipairs(d.calls) do
    if c.step == s.step and (c.status ~= "ok" or c.proposal_error) then
      notes[#notes + 1] = string.format("<li>%s call %d: %s%s</li>", esc(c.purpose), c.id, esc(c.status),
        esc((c.proposal_error or c.error) and (": " .. clip(c.proposal_error or c.error, 400)) or ""))
    end
  end
  for _, e in ipairs(d.events) do
    if e.step == s.step then notes[#notes + 1] = "<li>" .. esc(e.kind .. ": " .. e.message) .. "</li>" end
  end
  if #notes > 0 then out[#out + 1] = "<h4>Events</h4><ul>" .. table.concat(notes) .. "</ul>" end
  if cand then
    if cand.reasoning and cand.reasoning ~= "" then
      out[#out + 1] = "<h4>The optimizer's reasoning</h4><pre class=\"reasoning\">" .. esc(cand.reasoning) .. "</pre>"
    end
    out[#out + 1] = string.format("<h4>%s</h4>", s.step == 0 and "The starting artifact" or
      string.format("Diff to its parent (candidate %s)", cand.parent_id or "–"))
    out[#out + 1] = (cand.diff and cand.diff ~= "") and diff_html(cand.diff) or
      "<p class=\"empty\">No change to the parent.</p>"
  end
  out[#out + 1] = "</div></details>\n"
  return table.concat(out)
end

-- The HTML of a run's report; nil if there is no such run.
function M.run_html(tr, id)
  local d = run_data(tr, id)
  if not d then return nil end
  local steps = {}
  for i, s in ipairs(d.steps) do steps[i] = step_details(d, s) end
  local body = table.concat({
    run_header(d), scores_section(d), batching_section(d), cost_section(d), failures_section(d),
    "<section id=\"steps\"><h2>Step by step</h2>\n<p class=\"lead\">Each update's candidate: the recipe's " ..
    "decision, the optimizer's reasoning and the change it made (green added, red removed). Click a step to " ..
    "open it.</p>\n", table.concat(steps), "</section>\n",
  })
  return page(string.format("hone run %d · %s · %s", d.run.id, d.run.task, d.run.recipe), body)
end

-- Sweep report ---------------------------------------------------------------------------

local METRIC_TEXT = {
  test = { "Held-out test of the best candidate on validation", "the paper's protocol: validation picks the " ..
    "candidate, test scores it" },
  validation = { "Best validation", "what the loop selected on: optimistic, since it was chosen on it" },
  final_test = { "Held-out test of the final candidate", "where the run ended, rather than its best" },
}

local function sweep_table(tr, sweep, metric)
  local s = sweep_mod.summary(tr, sweep, metric)
  local head = { { "cell" } }
  for _, task in ipairs(s.cols) do head[#head + 1] = { task, "num" } end
  local rows = {}
  for i, rk in ipairs(s.rows) do
    local row = { { esc(rk) }, attrs = "data-cell=\"" .. esc(rk) .. "\"" }
    for _, task in ipairs(s.cols) do
      local mean, se, n = sweep_mod.stats(s.scores[rk][task] or {})
      if mean then
        local best = mean == s.best[task]
        row[#row + 1] = { string.format("%s ± %s <span class=\"m\">(%d)</span>%s", fmt(mean),
          se and fmt(se) or "n/a", n, best and " ★" or ""), best and "num best" or "num" }
      else
        row[#row + 1] = { "–", "num" }
      end
    end
    rows[i] = row
  end
  local text = METRIC_TEXT[metric]
  return string.format("<h3>%s</h3><p class=\"caption\">%s (metric <code>%s</code>); mean ± standard error over " ..
    "seeds (number of runs); ★ best in its column</p>\n", esc(text[1]), esc(text[2]), esc(metric)) ..
    html_table({ id = "table-" .. metric, class = "sweep-table", head = head, rows = rows }), s
end

-- Per row and task: validation per step, averaged over the row's runs, with its standard error.
local function curves(tr, s, task, colors)
  local series = {}
  for i, rk in ipairs(s.rows) do
    local by_step, order = {}, {}
    for _, run_id in ipairs(s.runs[rk][task] or {}) do
      for _, st in ipairs(tr.db:query("SELECT step, validation_score FROM steps WHERE run_id = ? AND " ..
          "validation_score IS NOT NULL ORDER BY step", run_id)) do
        if not by_step[st.step] then by_step[st.step], order[#order + 1] = {}, st.step end
        table.insert(by_step[st.step], st.validation_score)
      end
    end
    table.sort(order)
    local pts, band = {}, {}
    for _, step in ipairs(order) do
      local mean, se, n = sweep_mod.stats(by_step[step])
      pts[#pts + 1] = { step, mean, title = string.format("%s · step %d · validation %s ± %s (%d runs)", rk, step,
        fmt(mean), se and fmt(se) or "n/a", n) }
      band[#band + 1] = { step, mean - (se or 0), mean + (se or 0) }
    end
    -- past the palette's last colour, lines repeat colours but dashed
    series[#series + 1] = { name = rk, color = colors[i], points = pts, band = band, dashed = i > #M.PALETTE }
  end
  return series
end

-- The HTML of a sweep's report (sweep: its row in the store).
function M.sweep_html(tr, sweep)
  local spec = decode(sweep.spec) or {}
  local counts = {}
  for _, c in ipairs(tr.db:query("SELECT status, count(*) AS n FROM sweep_cells WHERE sweep_id = ? GROUP BY status " ..
      "ORDER BY status", sweep.id)) do
    counts[#counts + 1] = c.n .. " " .. c.status
  end
  local grid = {}
  for _, axis in ipairs(spec.grid or {}) do
    local vs = {}
    for i, v in ipairs(axis[2]) do vs[i] = tostring(v) end
    grid[#grid + 1] = "<code>" .. esc(axis[1] .. "=" .. table.concat(vs, ",")) .. "</code>"
  end
  local seeds = {}
  for i, v in ipairs(spec.seeds or {}) do seeds[i] = tostring(v) end
  local artifacts = {}
  for i, a in ipairs(spec.artifacts or {}) do artifacts[i] = a or "(default)" end
  local out = {
    string.format("<header id=\"summary\"><h1>Sweep %s</h1>\n<p class=\"sub\">%d runs: every cell of the grid " ..
      "once per seed</p>\n", esc(sweep.name), #sweep_mod.cells(spec)),
    meta({ { "status", esc(sweep.status) }, { "runs", esc(table.concat(counts, ", ")) },
      { "created", esc(when(sweep.created_at)) },
      { "finished", esc(when(sweep.finished_at) .. duration(seconds_between(sweep.created_at, sweep.finished_at))) },
      { "tasks", esc(table.concat(spec.tasks or {}, ", ")) },
      { "recipes", esc(table.concat(spec.recipes or {}, ", ")) },
      { "starting artifacts", esc(table.concat(artifacts, ", ")) }, { "seeds", esc(table.concat(seeds, ", ")) } }),
    "<p class=\"chips\">" .. table.concat(grid, " ") .. "</p>\n</header>\n",
  }
  -- the curves first: they are what a reader looks at; the tables give the exact numbers
  local tables, summary = {}, nil
  for _, metric in ipairs({ "test", "validation", "final_test" }) do
    local html, s = sweep_table(tr, sweep, metric)
    tables[#tables + 1] = html
    summary = summary or s
  end
  out[#out + 1] = "<section id=\"curves\"><h2>Validation over steps</h2>\n<p class=\"lead\">Each " ..
    "line is a cell: the validation score of each step's candidate, averaged over its seeds; the band is ± one " ..
    "standard error (none where only one run has that step). Step 0 is the starting artifact.</p>\n"
  local colors = {}
  for i = 1, #summary.rows do colors[i] = M.PALETTE[(i - 1) % #M.PALETTE + 1] end
  for i, task in ipairs(summary.cols) do
    local series = curves(tr, summary, task, colors)
    local ys = {}
    for _, s in ipairs(series) do for _, b in ipairs(s.band) do ys[#ys + 1], ys[#ys + 2] = b[2], b[3] end end
    local unit = true
    for _, y in ipairs(ys) do unit = unit and y >= 0 and y <= 1 end
    out[#out + 1] = figure(task, M.chart({ id = "chart-curve-" .. i, title = "validation over steps: " .. task,
      width = 1076, height = 320, x_label = "step", y_label = "validation", series = series,
      y_min = unit and 0 or nil, y_max = unit and 1 or nil }))
  end
  out[#out + 1] = "</section>\n<section id=\"tables\"><h2>Tables</h2>\n<p class=\"lead\">One row per cell " ..
    "(what varies across the grid), one column per task; the best mean of each column is highlighted.</p>\n" ..
    table.concat(tables) .. "</section>\n"
  local rows = {}
  for _, c in ipairs(tr.db:query("SELECT c.cell, c.seed, c.run_id, c.status, c.error, " ..
      "(SELECT e.score FROM evaluations e WHERE e.split = 'validation' AND e.candidate_id = (SELECT s.best_id " ..
      "FROM steps s WHERE s.run_id = c.run_id ORDER BY s.step DESC LIMIT 1) ORDER BY e.id LIMIT 1) AS best " ..
      "FROM sweep_cells c WHERE c.sweep_id = ? ORDER BY c.id", sweep.id)) do
    local cell = decode(c.cell) or {}
    local params = {}
    local keys = {}
    for k in pairs(cell.params or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do params[#params + 1] = k .. "=" .. tostring(cell.params[k]) end
    rows[#rows + 1] = { { esc(cell.task) }, { esc(cell.recipe) }, { esc(table.concat(params, " ")) },
      { esc(c.seed), "num" }, { esc(c.run_id or "–"), "num" }, { esc(c.status) }, { esc(fmt(c.best)), "num" },
      { esc(clip(c.error or "", 160)) } }
  end
  out[#out + 1] = "<section id=\"runs\"><h2>Runs</h2>\n<p class=\"lead\">Every run of the grid; " ..
    "<code>hone report RUN -o run.html</code> shows one in detail.</p>\n" ..
    html_table({ id = "run-table", head = { { "task" }, { "recipe" }, { "parameters" }, { "seed", "num" },
      { "run", "num" }, { "status" }, { "best validation", "num" }, { "error" } }, rows = rows }) .. "</section>\n"
  return page("hone sweep " .. sweep.name, table.concat(out))
end

-- Writing --------------------------------------------------------------------------------

-- Writes text to path through path.tmp and a rename, so a reader never sees half a report.
-- Returns true, or nil and the reason.
function M.write(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if not ok or not closed then
    os.remove(tmp)
    return nil, tostring(werr or cerr)
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return nil, rerr
  end
  return true
end

return M
