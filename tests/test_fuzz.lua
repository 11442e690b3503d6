-- The libFuzzer targets (fuzz/*.c) run briefly on every `make test`: each replays its seed
-- corpus (fuzz/corpus/NAME) and every input that once found a bug (fuzz/regressions/NAME),
-- then tries a fixed number of mutations from a fixed seed. `make fuzz` runs them for long.
-- They are built with clang and libFuzzer (`make fuzz-build`, objects in build/fuzz), which
-- `make deps` installs; without them these cases fail rather than skip.
local RUNS = { llm_reply = 50000, json_bridge = 50000, proposal = 20000 }

local built, build_error

local function sh(t, cmd)
  local dir = t.tmpdir()
  local _, _, code = os.execute(cmd .. " >" .. dir .. "/out 2>&1")
  return code, t.read(dir .. "/out")
end

-- Builds the targets once per test run; fails with what to install when the tools are missing.
local function build(t)
  if built then return end
  if build_error then error(build_error, 0) end
  local code = sh(t, "command -v clang")
  if code ~= 0 then
    build_error = "clang is not installed: `make deps` installs it and libFuzzer (vendor/debian-packages.txt)"
    error(build_error, 0)
  end
  -- The targets' own make, whatever this test run was started with (make test SAN=1).
  local out
  code, out = sh(t, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s fuzz-build")
  if code ~= 0 then
    if out:find("libclang_rt") or out:find("fsanitize=fuzzer") then
      build_error = "libFuzzer or the sanitizer runtimes are not installed: `make deps` installs them " ..
        "(libclang-rt-14-dev)\n" .. out
    else
      build_error = "make fuzz-build failed:\n" .. out
    end
    error(build_error, 0)
  end
  built = true
end

local function count_files(t, dir)
  local _, out = sh(t, "ls -1 " .. dir)
  return select(2, out:gsub("\n", ""))
end

local function short_run(t, name)
  build(t)
  local work, crashes = t.tmpdir(), "build/fuzz/crashes/" .. name
  os.execute("mkdir -p " .. work .. "/corpus " .. crashes)
  local regressions = "fuzz/regressions/" .. name
  -- -detect_leaks=0 turns off libFuzzer's leak check after each input that allocates more
  -- than it frees (every few inputs, with a Lua heap collected later; it slows a short run
  -- tenfold); LeakSanitizer's check at exit still fails the run on anything leaked.
  local code, log = sh(t, string.format("build/fuzz/%s -detect_leaks=0 -runs=%d -seed=1 -max_total_time=120 " ..
    "-timeout=10 -max_len=16384 -dict=fuzz/%s.dict -artifact_prefix=%s/ %s/corpus fuzz/corpus/%s %s",
    name, RUNS[name], name, crashes, work, name, regressions))
  local finding = log:match("\n(" .. name .. ": [^\n]*)") or log:match("\n(==%d+==ERROR[^\n]*)") or
    log:match("\n(SUMMARY[^\n]*)") or ""
  t.eq(code, 0, string.format("%s exit code (%s; the input is in %s/, replay it with build/fuzz/%s FILE)\n%s",
    name, finding, crashes, name, log:sub(-3000)))
  local kept = count_files(t, regressions)
  t.ok(kept > 0, regressions .. " holds the inputs that found bugs")
  t.match(log, "INFO: +" .. kept .. " files found in " .. regressions:gsub("%p", "%%%0"), name .. " log")
  t.match(log, "Done %d+ runs", name .. " log")
end

local cases = {}

-- What the fuzzers found, said in words (their inputs are in fuzz/regressions); needs no clang.
cases["the bugs the fuzzers found stay fixed"] = function(t)
  local hone = require("hone")
  local json = hone.json
  local v, err = json.decode('[1, 1e400]')
  t.eq(v, nil, "1e400 (inf, which encode refuses) is not decoded")
  t.match(err, "^json: number out of range at line 1 column 5$", "its reason")
  v, err = json.decode('{"a\\u0000b": 1}')
  t.eq(v, nil, "a key holding NUL (which encode refuses) is not decoded")
  t.match(err, "^json: key holds a NUL byte at line 1 column 2$", "its reason")
  t.eq(json.decode('"a\\u0000b"'), "a\0b", "a string value may still hold NUL")
  local text = json.encode({ 1234567890123470, -999999999999999, 10 ^ 15 })
  t.eq(text, "[1234567890123470,-999999999999999,1e+15]", "integers are written as integers")
  t.eq(math.type(json.decode(text)[1]), "integer", "and decode back as integers")
  local deep = string.rep("[", 1000) .. string.rep("]", 1000)
  t.eq(json.encode(json.decode(deep)), deep, "what decodes (1000 levels deep) encodes")

  local optimizer = require("hone.optimizer")
  local a = require("hone.artifact").new{ blocks = { { name = "f", code = "function f(x)\n  return x\nend" } } }
  local changes, why = optimizer.parse('{"suggestion": {"f\\ng\\u0007": "x = 1"}}', a)
  t.eq(changes, nil, "an unknown block is refused")
  t.eq(why, "no block named 'f\\10g\\7'", "its reason is one line, the name's control characters escaped")
  changes, why = optimizer.parse('{"suggestion": {"f": "function f' .. string.rep("(", 3000) .. '"}}', a)
  t.eq(changes, nil, "code that does not compile is refused")
  t.ok(#why <= 1000 and not why:find("%c"), "its reason is one line of at most 1000 bytes: " .. why:sub(1, 80))
  -- A signature is read in one pass: a reply full of unclosed "function f(" (here in a comment)
  -- took time quadratic in its length, some seconds at 200 KB.
  local code = "--[[" .. string.rep("function f( ", 20000) .. "]]\nfunction f(x)\n  return x + 1\nend"
  changes = optimizer.parse(json.encode({ suggestion = { f = code } }), a)
  t.eq(changes and changes.f, code, "the first balanced function f(...) is the signature")
end
for name, runs in pairs(RUNS) do
  cases[string.format("fuzz %s: seeds, regressions and %d mutations", name, runs)] = function(t)
    short_run(t, name)
  end
end
return cases
