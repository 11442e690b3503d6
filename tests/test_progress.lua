-- What a run shows while it goes on (a live line on a terminal, plain lines elsewhere,
-- nothing with --quiet) and `hone show RUN --step N`.
local hone = require("hone")
local json = hone.json

local PARTIAL = "function price(age)\n  if age < 12 then return 5 end\n  return 12\nend"

return {
  ["a terminal gets one live line, a log gets a line per step, --quiet gets nothing"] = function(t)
    local dir = t.tmpdir()
    local run = string.format("%s run toy --optimizer baseline --set steps=3 --db %s/p.db", t.bin, dir)
    -- script(1) gives the run a pseudo-terminal for its stdout
    os.execute(string.format("script -q -e -c %s %s/tty.out > /dev/null 2>&1", t.sh_quote(run), dir))
    local tty = t.read(dir .. "/tty.out")
    t.match(tty, "\r\27%[Kstep 1/3  best val %d%.%d+  B=3  tokens 0  elapsed %d+s  ETA %d+s", "a live line with ETA")
    t.match(tty, "\r\27%[Kstep 3/3  best val", "the last step")
    t.no_match(tty, "step 1  B=3  train", "no scrolling step lines on a terminal")
    t.match(tty, "run 1 done: best validation", "the summary stays")
    local code, out = t.hone(string.format("run toy --optimizer baseline --set steps=3 --db %s/p.db", dir))
    t.eq(code, 0, "plain run")
    t.match(out, "\nstep 1  B=3  train [%d.]+ %-> ", "a line per step when not a terminal")
    t.no_match(out, "\r", "no carriage returns in a log")
    code, out = t.hone(string.format("run toy --optimizer baseline --set steps=3 --quiet --db %s/p.db", dir))
    t.eq({ code, out }, { 0, "" }, "quiet")
  end,

  ["show --step gives a step whole: candidate, diff, evaluations, feedback, context"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { { content = json.encode({ reasoning = "children pay less",
      suggestion = { price = PARTIAL } }) } } })
    local dir = t.tmpdir()
    local db = dir .. "/s.db"
    local code, _, err = t.hone(string.format("run toy --llm-url %s --model m --db %s --set steps=1 " ..
      "--set llm_retries=0", server.url, db))
    t.eq(code, 0, "run (" .. err .. ")")
    local out
    code, out = t.hone("show 1 --step 1 --db " .. db)
    t.eq(code, 0, "show --step")
    t.match(out, "^run 1 step 1  B=3  accepted yes", "heading")
    t.match(out, "\n== candidate 2 %(parent 1%)\nfunction price%(age%)\n  if age < 12", "the candidate's code")
    t.match(out, "\n== diff to the parent\n@@ price @@\n", "the diff")
    t.match(out, "\n%+  if age < 12 then return 5 end\n", "an added line")
    t.match(out, "\n== the optimizer's reasoning\nchildren pay less\n", "reasoning")
    t.match(out, "\nvalidation %d%.%d%d%d over 30\n", "evaluations")
    t.match(out, "\n== feedback\nID %[1%]:\nInput: %d+\nOutput: 10\nFeedback: wrong: expected", "feedback")
    t.match(out, "\n== the learning context sent %(llm call 1%)\n#Instruction\n", "context")
    t.match(out, "\n#Feedback\nID %[1%]", "the context holds the feedback")
    code, _, err = t.hone("show 1 --step 9 --db " .. db)
    t.eq(code, 2, "no such step")
    t.match(err, "^hone: run 1 has no step 9", "message")
    code, out = t.hone("show 1 --step 0 --db " .. db)
    t.eq(code, 0, "step 0")
    t.match(out, "candidate 1 %(parent none: the starting artifact%)", "the start")
  end,
}
