-- The Lua framework: data, artifact, templates, optimizer parsing and context, selection.
local hone = require("hone")
local artifact = require("hone.artifact")
local data = require("hone.data")
local optimizer = require("hone.optimizer")
local selection = require("hone.selection")
local templates = require("hone.templates")

local function two_blocks()
  return artifact.new({ language = "lua", blocks = {
    { name = "helper", editable = false, code = "function helper(x)\n  return x * 2\nend" },
    { name = "main", doc = "main(a, b) -> number", code = "function main(a, b)\n  return helper(a) + b\nend" },
  } })
end

return {
  ["rng is deterministic and seeds differ"] = function(t)
    local a, b, c = data.rng(7), data.rng(7), data.rng(8)
    local sa, sb, sc = {}, {}, {}
    for i = 1, 20 do sa[i], sb[i], sc[i] = a:int(1, 1000), b:int(1, 1000), c:int(1, 1000) end
    t.eq(sa, sb, "same seed")
    t.ok(table.concat(sa, ",") ~= table.concat(sc, ","), "different seeds give different draws")
    for _ = 1, 1000 do
      local x = a:random()
      t.ok(x >= 0 and x < 1, "random in [0, 1)")
    end
  end,

  ["shuffle permutes and cut gives exact sizes"] = function(t)
    local list = {}
    for i = 1, 50 do list[i] = i end
    local s = data.shuffle(list, data.rng(1))
    t.eq(#s, 50, "length")
    local seen = {}
    for _, v in ipairs(s) do seen[v] = true end
    for i = 1, 50 do t.ok(seen[i], "element " .. i .. " kept") end
    t.ok(table.concat(s, ",") ~= table.concat(list, ","), "order changed")
    local parts = data.cut(s, { "train", "validation" }, { train = 15, validation = 10 }, "test")
    t.eq({ #parts.train, #parts.validation, #parts.test }, { 15, 10, 25 }, "sizes")
    t.eq(parts.validation[1], s[16], "consecutive")
  end,

  ["the minibatch stream covers an epoch before repeating"] = function(t)
    local ex = {}
    for i = 1, 6 do ex[i] = { id = i } end
    local st = data.stream(ex, 3)
    local seen = {}
    for _, e in ipairs(st:next(4)) do seen[e.id] = (seen[e.id] or 0) + 1 end
    for _, e in ipairs(st:next(2)) do seen[e.id] = (seen[e.id] or 0) + 1 end
    for i = 1, 6 do t.eq(seen[i], 1, "example " .. i .. " once per epoch") end
    t.eq(#st:next(5), 5, "crosses into the next epoch")
    t.eq(st.epoch, 2, "epoch")
  end,

  ["artifact assembles, replaces editable blocks, refuses fixed ones"] = function(t)
    local a = two_blocks()
    t.eq(a:editable_names(), { "main" }, "editable")
    t.eq(a:block("main").signature, "main(a,b)", "signature derived")
    t.match(a:assemble(), "function helper.*function main", "order kept")
    local b = a:with({ main = "function main(a, b)\n  return a - b\nend" })
    t.match(b:assemble(), "return a %- b", "replaced")
    t.match(a:assemble(), "helper%(a%) %+ b", "original untouched")
    t.raises(function() a:with({ helper = "function helper(x) return x end" }) end, "fixed")
    local back = artifact.decode(b:encode())
    t.eq(back:assemble(), b:assemble(), "encode/decode")
    t.eq(back:block("helper").editable, false, "editable flag kept")
  end,

  ["artifact check: syntax, signature, fixed and unknown blocks"] = function(t)
    local a = two_blocks()
    t.ok(a:check("main", "function main(a, b) return a end"), "good code")
    local _, why = a:check("main", "function main(a, b) return a +* b end")
    t.match(why, "does not compile", "syntax")
    _, why = a:check("main", "function main(a) return a end")
    t.match(why, "keep its signature main%(a,b%)", "signature")
    _, why = a:check("helper", "function helper(x) return x end")
    t.match(why, "fixed", "fixed")
    _, why = a:check("nosuch", "x")
    t.match(why, "no block named 'nosuch'", "unknown")
    _, why = a:check("main", "   ")
    t.match(why, "empty", "empty")
  end,

  ["a text block's must_contain is checked, kept and shown as a constraint"] = function(t)
    local a = artifact.new({ blocks = {
      { name = "prompt", language = "text", must_contain = { "{question}" }, code = "Answer:\n{question}" },
      { name = "f", code = "function f(x)\n  return x\nend" },
    } })
    t.ok(a:check("prompt", "Think first.\n{question}"), "a prompt that keeps the placeholder")
    local _, why = a:check("prompt", "Think first.\n{q}")
    t.eq(why, "'prompt' must contain {question}", "a prompt that lost it")
    local changes, reason = optimizer.parse('{"suggestion": {"prompt": "No placeholder."}}', a)
    t.eq(changes, nil, "the optimizer's parse refuses it")
    t.match(reason, "must contain {question}", "and says why")
    t.eq(artifact.decode(a:with({ f = "function f(x)\n  return 2\nend" }):encode()):block("prompt").must_contain,
      { "{question}" }, "kept through with, encode and decode")
    local ctx = optimizer.context({ artifact = a })
    t.match(ctx, "\n%- 'prompt' must contain: {question}\n", "shown in #Constraints")
    t.match(ctx, "^#Code\n.*#Variables\n.*#Constraints\n", "no instruction nor docs: the other sections stay")
  end,

  ["artifact diff shows changed lines of changed blocks"] = function(t)
    local a = two_blocks()
    local b = a:with({ main = "function main(a, b)\n  return a - b\nend" })
    local d = b:diff(a)
    t.match(d, "@@ main @@", "section")
    t.match(d, "\n%-  return helper%(a%) %+ b", "removed line")
    t.match(d, "\n%+  return a %- b", "added line")
    t.no_match(d, "@@ helper @@", "unchanged block")
    t.eq(a:diff(a), "", "no change")
  end,

  ["optimizer parses fenced, wrapped and plain JSON replies"] = function(t)
    local a = two_blocks()
    local code = "function main(a, b)\n  return a * b\nend"
    local plain = hone.json.encode({ reasoning = "multiply", suggestion = { main = code } })
    for _, reply in ipairs({
      plain,
      "Here you go:\n```json\n" .. plain .. "\n```\nGood luck.",
      "Sure! " .. plain .. " That is all.",
    }) do
      local changes, reasoning = optimizer.parse(reply, a)
      t.ok(changes, "parsed: " .. reply:sub(1, 30))
      t.eq(changes.main, code, "code")
      t.eq(reasoning, "multiply", "reasoning")
    end
    local fenced = '{"suggestion": {"main": "```lua\\nfunction main(a, b) return 1 end\\n```"}}'
    t.eq(optimizer.parse(fenced, a).main, "function main(a, b) return 1 end", "code fence unwrapped")
  end,

  ["optimizer rejects unusable replies with a reason"] = function(t)
    local a = two_blocks()
    local cases = {
      { "", "empty" },
      { "I would multiply the numbers.", "not a JSON object" },
      { '{"reasoning": "x"}', "no non%-empty \"suggestion\"" },
      { '{"suggestion": {}}', "no non%-empty" },
      { '{"suggestion": {"main": 3}}', "must be a string" },
      { '{"suggestion": {"other": "function other() end"}}', "no block named 'other'" },
      { '{"suggestion": {"main": "function main(a, b) return end end"}}', "does not compile" },
      { '{"suggestion": {"main": "function main(x) return x end"}}', "signature" },
      { '{"suggestion": {"helper": "function helper(x) return x end"}}', "fixed" },
      { '{"suggestion": {"main": "function main(a, b)\\n  return helper(a) + b\\nend"}}', "changes nothing" },
      { '[1, 2]', "not a JSON object" },
    }
    for _, c in ipairs(cases) do
      local changes, why = optimizer.parse(c[1], a)
      t.eq(changes, nil, "rejected: " .. c[1])
      t.match(why, c[2], "reason for " .. c[1])
    end
  end,

  ["the learning context has the OptoPrime sections and the memory"] = function(t)
    local a = two_blocks()
    local ctx = optimizer.context({
      artifact = a, instruction = "Make main add.", evidence = "ID [1]:\nInput: 1\nOutput: 2",
      memory = { { step = 2, score = 0.5, changes = { main = "function main(a, b) return 0 end" } } },
    })
    for _, section in ipairs({ "#Instruction", "#Code", "#Documentation", "#Variables",
                               "#Constraints", "#Feedback", "#Others" }) do
      t.match(ctx, "\n?" .. section .. "\n", section)
    end
    t.match(ctx, "Keep these signatures exactly: main%(a,b%)", "signature constraint")
    t.match(ctx, "fixed and cannot change: helper", "fixed constraint")
    t.match(ctx, "Attempt at step 2 %(score 0.5%)", "memory")
    t.no_match(ctx:match("#Variables\n(.-)#Constraints"), "helper%(x%)", "fixed block is not a variable")
  end,

  ["the batch template numbers traces and shows errors"] = function(t)
    local text = templates.batch({
      { input = 3, output = 5, feedback = "wrong: expected 6" },
      { input = { a = 1 }, error = "runtime at line 2: boom", feedback = "the call failed" },
    }, "Close.")
    t.match(text, "^ID %[1%]:\nInput: 3\nOutput: 5\nFeedback: wrong: expected 6", "first")
    t.match(text, "ID %[2%]:\nInput: {\"a\":1}\nOutput: %(error%) runtime at line 2: boom", "second")
    t.match(text, "Overall: Close%.$", "stage")
    t.match(templates.show(string.rep("x", 5000)), "%.%.%.%[3000 more bytes%]$", "long values cut")
    t.eq(utf8.len(templates.show(string.rep("é", 10), 5)), 21, "cut between UTF-8 characters")
  end,

  ["acceptance rules"] = function(t)
    t.ok(selection.accept("always", { before = 1, after = 0 }), "always")
    t.ok(not selection.accept("always", { failed = true }), "never a failed one")
    t.ok(selection.accept("improves_batch", { before = 0.2, after = 0.5 }), "improves")
    t.ok(not selection.accept("improves_batch", { before = 0.5, after = 0.5 }), "equal is not better")
    t.raises(function() selection.accept("bogus", {}) end, "unknown acceptance rule 'bogus'")
    t.ok(selection.better(0.1, nil) and not selection.better(nil, 0.1) and not selection.better(0.1, 0.1),
      "better")
  end,
  ["the baseline finds constants outside strings and comments, and nudges them"] = function(t)
    local baseline = require("hone.baseline")
    local code = "function f(x2)\n  -- 99 in a comment\n  local s = 'a 7 b' .. [[8]]\n" ..
      "  return x2 * 1.5 + 12 - 0x1F + 3e2 --[[ 5 ]]\nend"
    local texts = {}
    for _, c in ipairs(baseline.constants(code, "lua")) do texts[#texts + 1] = c.text end
    t.eq(texts, { "1.5", "12", "3e2" }, "lua literals")
    texts = {}
    for _, c in ipairs(baseline.constants('def f(x):\n    """doc 4"""\n    return x + 2  # 3\n', "python")) do
      texts[#texts + 1] = c.text
    end
    t.eq(texts, { "2" }, "python literals")
    local a = artifact.new({ blocks = { { name = "f", code = "function f(x)\n  return x * 1.5 + 12\nend" } } })
    local b1, b2 = baseline.new({ seed = 3 }), baseline.new({ seed = 3 })
    local seen = {}
    for _ = 1, 20 do
      local p1, p2 = b1:propose({ artifact = a }), b2:propose({ artifact = a })
      t.eq(p1.changes, p2.changes, "same seed, same proposals")
      t.ok(p1.changes.f and p1.changes.f ~= a:block("f").code, "a change")
      t.ok(a:check("f", p1.changes.f), "still compiles: " .. p1.changes.f)
      t.match(p1.reasoning, "^baseline %(no LLM%): f: ", "says what it changed")
      seen[p1.changes.f] = true
    end
    local distinct = 0
    for _ in pairs(seen) do distinct = distinct + 1 end
    t.ok(distinct > 3, "proposals vary: " .. distinct)
    local none = baseline.new({}):propose({ artifact = artifact.new({ blocks = {
      { name = "g", code = "function g(x) return x end" } } }) })
    t.eq(none.changes, nil, "nothing to change")
    t.match(none.error, "no numeric constant", "says why")
  end,

  ["improves_validation keeps only candidates better on validation"] = function(t)
    t.eq(selection.accept("improves_validation", { validation = 0.5, current_validation = 0.4 }), true, "better")
    t.eq(selection.accept("improves_validation", { validation = 0.4, current_validation = 0.4 }), false, "equal")
    t.eq(selection.accept("improves_validation", { validation = 0.9, failed = true }), false, "failed")
  end,

  ["python blocks: compiled in the process sandbox before anything runs; helpers may precede the entry"] = function(t)
    local a = artifact.new({ language = "python", blocks = {
      { name = "imports", editable = false, code = "import math" },
      { name = "fit", code = "def fit(x, y):\n    return x" },
    } })
    t.eq(a:block("fit").signature, "fit(x,y)", "signature from the def")
    t.ok(a:check("fit", "import os\n\n\ndef helper(v):\n    return v\n\n\ndef fit(x, y):\n    return helper(x)\n"),
      "helpers and imports before the entry")
    local _, why = a:check("fit", "def fit(x, y):\n    return [x\n")
    t.match(why, "^'fit' does not compile: line 2: SyntaxError: '%[' was never closed: return %[x$", "syntax")
    _, why = a:check("fit", "def fit(x, y):\nreturn x\n")
    t.match(why, "^'fit' does not compile: line 2: IndentationError: ", "indentation")
    _, why = a:check("fit", "return 1\n")
    t.match(why, "'return' outside function", "compiled, not only parsed")
    _, why = a:check("fit", "def fit(x):\n    return x\n")
    t.match(why, "must keep its signature fit%(x,y%) %(got fit%(x%)%)", "signature")
    _, why = a:check("fit", "def helper(x, y):\n    return x\n")
    t.match(why, "must keep its signature fit%(x,y%) %(got helper%(x,y%)%)", "the entry must be there")
    t.ok(a:check("fit", "def fit(x, y):\n    while True:\n        pass\n"), "compiling runs nothing")
  end,

  ["selection in the task's direction: an error (higher_is_better = false) is better when lower"] = function(t)
    t.ok(selection.better(0.1, 0.2, false) and not selection.better(0.2, 0.1, false), "lower wins")
    t.ok(selection.better(0.1, nil, false) and not selection.better(nil, 0.1, false), "nil never wins")
    t.ok(not selection.better(0.1, 0.1, false), "a tie keeps the earlier")
    t.eq(selection.accept("improves_validation", { validation = 0.12, current_validation = 0.15, higher = false }),
      true, "a lower error improves")
    t.eq(selection.accept("improves_batch", { before = 0.12, after = 0.15, higher = false }), false,
      "a higher error does not")
    t.ok(selection.reached(0.1, 0.12, false) and not selection.reached(0.13, 0.12, false), "target from above")
    t.ok(selection.fallen(0.2, 0.15, 0.8, false) and not selection.fallen(0.18, 0.15, 0.8, false),
      "fallen: above best / fraction")
    t.ok(selection.fallen(7, 10, 0.8) and not selection.fallen(9, 10, 0.8), "and below fraction x best when higher")
  end,
}
