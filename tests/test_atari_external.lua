-- External Atari environments (tasks/atari/external.lua): hone's own engines served over the
-- JSON-lines protocol by tests/atari_env_server.lua, in the process sandbox, must look
-- exactly like the engines themselves, step for step and in whole runs; a program that
-- breaks the protocol is a one-line environment error naming the request.
local hone = require("hone")
local json = hone.json
local external = dofile(hone.root .. "/tasks/atari/external.lua")

local ROOT = hone.root

-- The hone binary under test, by absolute path (the sandbox has no idea of our folder).
local function binary(t)
  local p = io.popen("realpath " .. t.sh_quote(t.bin))
  local path = p:read("l")
  p:close()
  return path
end

-- The sanitizer build reserves terabytes of address space, and its leak checker needs
-- ptrace, which the sandbox refuses: it runs as a server with both out of the way.
local function sanitized(t)
  return binary(t):match("%-san$") ~= nil
end

-- The argv serving game, carrying mark in its environment.
local function server_argv(t, game, mark)
  local argv = { "env", "HONE_MARK=" .. (mark or t.marker()) }
  if sanitized(t) then argv[#argv + 1] = "ASAN_OPTIONS=detect_leaks=0" end
  for _, w in ipairs({ binary(t), "lua", ROOT .. "/tests/atari_env_server.lua", game }) do argv[#argv + 1] = w end
  return argv
end

local function serve(t, game, mark)
  return external.open({ command = server_argv(t, game, mark), name = game, readable = { ROOT },
                         memory = sanitized(t) and 2 ^ 50 or nil, timeout = 20 })
end

-- A reproducible stream of actions, some of them repeated for a while.
local function actions_for(list)
  local state = 12345
  return function()
    state = (state * 1103515245 + 12345) % 2147483648
    return list[(state >> 16) % #list + 1]
  end
end

-- An external env over a small program: sh with a script, or python3 with code.
local function bad(script, opts)
  opts = opts or {}
  return external.open({ command = opts.python and { "python3", "-c", script } or { "sh", "-c", script },
                         name = "bad", timeout = opts.timeout or 20 })
end

local OBS = '{"objects": [{"category": "Ball", "x": 1, "y": 2, "w": 2, "h": 4, "dx": 0, "dy": 0}], ' ..
  '"score": 0, "lives": 1}'
local RESET = '{"observation": ' .. OBS .. ', "actions": ["NOOP", "UP"]}'

-- The environment error that fn raises.
local function env_error(t, fn)
  local ok, err = pcall(fn)
  t.eq(ok, false, "must raise")
  t.ok(external.is_error(err), "an environment error, not " .. tostring(err))
  t.no_match(err.message, "\n", "one line")
  return err.message
end

local POLICY = [[
local n = 0
function policy(obs)
  n = n + 1
  local me, ball
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then me = o elseif o.category == "Ball" then ball = o end
  end
  if n % 97 == 0 then return "JUMP" end
  if n % 89 == 0 then return 7 end
  if n % 83 == 0 then return nil end
  if n % 79 == 0 then return end
  if FAIL_AT and n == FAIL_AT then return obs.nothing.here end
  if not me or not ball then return obs.actions[n % #obs.actions + 1] end
  if ball.y < me.y + 4 then return "RIGHT" elseif ball.y > me.y + 10 then return "LEFT" end
  return "NOOP"
end]]


local function propose(code)
  return { content = json.encode({ reasoning = "r", answer = "", suggestion = { select_action = code } }) }
end

local TRACKS = [[
function select_action(obs)
  local me, ball
  for _, o in ipairs(obs.objects) do
    if o.category == "Player" then me = o elseif o.category == "Ball" then ball = o end
  end
  if not me or not ball then return "NOOP" end
  if ball.y + 2 < me.y + 8 then return "RIGHT" elseif ball.y + 2 > me.y + 8 then return "LEFT" end
  return "NOOP"
end]]
local SLOPPY = TRACKS:gsub("local me, ball\n", "local me, ball\n  if obs.step %% 4 == 0 then return 'JUMP' end\n")

return {
  ["the protocol client sees exactly what each engine gives, step for step"] = function(t)
    for _, game in ipairs(hone.atari.games()) do
      local mark = t.marker()
      local env = serve(t, game, mark)
      local ref = hone.atari.new(game, 3)
      env:reset(3)
      t.eq({ env:name(), env:actions(), env:max_steps() }, { game, ref:actions(), ref:max_steps() }, game .. " info")
      t.eq(env:observation(), ref:observation(), game .. " first observation")
      local next_action = actions_for(ref:actions())
      local seed = 3
      for i = 1, 300 do
        local a = next_action()
        local r1, d1 = env:step(a)
        local r2, d2 = ref:step(a)
        t.eq({ r1, d1 }, { r2, d2 }, game .. " reward and done at step " .. i)
        t.eq(env:observation(), ref:observation(), game .. " observation at step " .. i)
        t.eq({ env:steps(), env:done(), env:score(), env:lives() },
          { ref:steps(), ref:done(), ref:score(), ref:lives() }, game .. " counters")
        if d1 then
          seed = seed + 1
          env:reset(seed)
          ref:reset(seed)
        end
      end
      local r = env:close()
      t.ok(r.ok, game .. ": the server ended by itself on close (" .. tostring(r.message) .. ")")
      t.eq(env:close(), nil, "a second close does nothing")
      t.eq(#t.carrying(mark), 0, "no server left")
    end
  end,

  ["the Lua episode loop plays a policy exactly as hone.atari.episode"] = function(t)
    local env = serve(t, "pong")
    for _, fail_at in ipairs({ false, 250 }) do
      local results = {}
      for k, e in ipairs({ env, hone.atari.new("pong") }) do
        local sb <close> = hone.sandbox.lua.new({})
        t.ok(sb:load((fail_at and ("FAIL_AT = " .. fail_at .. "\n") or "") .. POLICY, "policy"), "loads")
        local played = {}
        local play = k == 1 and external.episode or hone.atari.episode
        results[k] = play(e, sb, "policy", 400, { seed = 11, horizon = 60, record = played })
        if k == 1 then
          t.eq(#played, results[k].steps, "every action recorded")
          t.eq(played[#played], results[k].trace[#results[k].trace].action, "the last one")
        end
      end
      local x, b = results[1], results[2]
      t.eq(x, b, "the same result" .. (fail_at and " when the policy fails" or ""))
      t.ok(b.invalid_actions >= 4 and b.first_invalid.value == "nothing", "invalid actions were played")
      if fail_at then
        t.eq({ b.steps, b.error.kind, b.error.step }, { fail_at - 1, "runtime", fail_at - 1 }, "failed where planned")
      else
        t.eq(#b.trace, 60, "the last H steps traced")
      end
    end
    env:close()
  end,

  ["malformed replies and failing programs are one-line errors naming the request"] = function(t)
    local cases = {
      { "read l; echo 'hello there'",
        "^external env bad: reset: the reply is not JSON %(json: unexpected character 'h' at line 1 column 1%): " ..
        "'hello there'$" },
      { "read l; echo '[1, 2]'", "reset: the reply is not a JSON object: '%[1, 2%]'$" },
      { "read l; echo '{\"error\": \"no ROM named pong\"}'",
        "^external env bad: reset: the environment reports an error: no ROM named pong$" },
      { "read l; echo 'Traceback (most recent call last):' >&2; " ..
        "echo 'ModuleNotFoundError: No module named ocatari' >&2; exit 1",
        "^external env bad: reset: the process ended: exit code 1: ModuleNotFoundError: No module named ocatari$" },
      { "read l; echo '{\"observation\": " .. OBS .. "}'",
        "reset: reply%.actions must be a non%-empty list of action names, not missing$" },
      { "read l; echo '{\"observation\": {\"objects\": [{\"category\": \"Ball\", \"x\": \"3\"}], \"score\": 0, " ..
        "\"lives\": 1}, \"actions\": [\"NOOP\"]}'",
        "reset: observation%.objects%[1%]%.x must be a number, not a string$" },
      { "read l; echo '{\"observation\": {\"objects\": {}, \"score\": 0}, \"actions\": [\"NOOP\"]}'",
        "reset: observation%.lives must be a number, not missing$" },
      { "read l; echo '" .. RESET .. "'; read l; echo '{\"observation\": " .. OBS .. ", \"reward\": 1, " ..
        "\"done\": \"no\"}'", "^external env bad: step: reply%.done must be a boolean, not a string$" },
      { "read l; echo '" .. RESET .. "'; read l; echo '{\"observation\": " .. OBS .. ", \"done\": false}'",
        "step: reply%.reward must be a number, not missing$" },
      { "read l; echo '" .. RESET .. "'; read l; exit 3", "^external env bad: step: the process ended: exit code 3$" },
      { "import sys\nsys.stdin.readline()\nraise RuntimeError('ALE: ROM not found')",
        "reset: the process ended: exit code 1: RuntimeError: ALE: ROM not found$", { python = true } },
      { "read l; sleep 100", "^external env bad: reset: no reply within 0%.5 s$", { timeout = 0.5 } },
    }
    for _, c in ipairs(cases) do
      local env = bad(c[1], c[3])
      local msg = env_error(t, function()
        env:reset(1)
        env:step("UP")
      end)
      t.match(msg, c[2], "case " .. c[1])
      t.match(env_error(t, function() env:reset(1) end), "the environment is closed$", "closed after an error")
    end
    local env = external.open({ command = { "no-such-env-program" }, name = "bad" })
    t.match(env_error(t, function() env:reset(1) end),
      "^external env bad: reset: the process ended: setup: cannot run no%-such%-env%-program", "cannot start")
    -- misuse is the caller's error, as with hone.atari's envs
    env = bad("read l; echo '" .. RESET .. "'; cat >/dev/null")
    env:reset(1)
    t.raises(function() env:step("FIRE") end, "bad has no action 'FIRE' %(actions: NOOP, UP%)")
    env:close(0)
    t.eq(external.words([[python3 /a/b.py 'space invaders' "x y" a\ b]]),
      { "python3", "/a/b.py", "space invaders", "x y", "a b" }, "command words")
    t.match(env_error(t, function() external.words("python3 'x") end), "unbalanced '", "a quote left open")
  end,

  ["an Atari run through the protocol records the built-in engine's scores"] = function(t)
    local server = t.llm_server()
    local rows, mark = {}, t.marker()
    local command = table.concat(server_argv(t, "pong", mark), " ")
    local through = string.format("--set %s --set env_readable=%s%s", t.sh_quote("env_command=" .. command),
      t.sh_quote(ROOT), sanitized(t) and " --set env_memory=1000000000" or "")
    for k, env_args in ipairs({ "", through }) do
      server:script({ replies = { propose(TRACKS), propose(SLOPPY) } })
      local db = t.tmpdir() .. "/x.db"
      local code, _, err = t.hone(string.format("run atari/pong --llm-url %s --model scripted --db %s --set steps=2 " ..
        "--set horizon=150 --set eval_episodes=1 --set eval_steps=300 --set test_episodes=1 --set llm_retries=0 %s",
        server.url, db, env_args))
      t.eq(code, 0, "run " .. k .. " (" .. err .. ")")
      rows[k] = t.sql(db, "SELECT step, train_score, validation_score, test_score, accepted, error FROM steps")
      if k == 2 then t.match(t.sql(db, "SELECT config FROM runs"), "atari_env_server%.lua pong", "recorded") end
    end
    t.eq(rows[2], rows[1], "the same scores step for step")
    t.match(rows[1], "\n2|%-?%d", "two steps with scores")
    t.eq(#t.carrying(mark), 0, "no environment left behind")
  end,

  ["experience and again() on an external environment: the training episode, replayed for a candidate"] =
  function(t)
    local atari = dofile(ROOT .. "/tasks/atari/task.lua")
    local artifact = require("hone.artifact")
    local task = atari.variant("pong")
    local start = artifact.new(task.starting_artifacts.default)
    local cand = start:with({ select_action = TRACKS })
    local function params(command)
      return { eval_steps = 300, env_command = command, env_readable = ROOT, env_timeout = 20,
               env_memory = sanitized(t) and 2 ^ 30 or 8192 }
    end
    local runs = {}
    for k, command in ipairs({ "", table.concat(server_argv(t, "pong"), " ") }) do
      local state, recs = nil, {}
      for update = 1, 3 do
        local rec = task.experience(update == 2 and cand or start,
          { horizon = 120, seed = 1, params = params(command), state = state })
        state = rec.state
        recs[update] = { score = rec.score, evidence = rec.evidence, again = rec.again(cand).score,
                         from = rec.from }
      end
      t.eq(tostring(state.env):match("^external env") ~= nil, k == 2, "the training episode's env")
      if k == 2 then t.eq(#state.actions, 360, "every action of the episode kept for replays") end
      runs[k] = recs
    end
    t.eq(runs[2], runs[1], "the same experience and the same replays")
    t.ok(runs[1][3].again ~= 0, "the replay scored points: " .. runs[1][3].again)
    -- an environment that ignores the seed cannot be replayed, and says so (Freeway: its cars
    -- start where the seed puts them)
    task = atari.variant("freeway")
    start = artifact.new(task.starting_artifacts.default)
    local unseeded = params(table.concat(server_argv(t, "freeway"), " ") .. " unseeded")
    local state = task.experience(start, { horizon = 5, seed = 1, params = unseeded }).state
    local rec = task.experience(start, { horizon = 5, seed = 1, params = unseeded, state = state })
    local ok, err = pcall(rec.again, start)
    t.eq(ok, false, "replay refused")
    t.match(tostring(err), "^external env freeway: replay: reset%(1000001%) and the same 5 actions led elsewhere",
      "names the cause")
  end,

  ["the OCAtari bridge compiles, and speaks the protocol to a stand-in for OCAtari"] = function(t)
    local bridge = ROOT .. "/tasks/atari/ocatari_bridge.py"
    local dir = t.tmpdir()
    local ok = os.execute(string.format("/usr/bin/python3 -c %s %s %s", t.sh_quote(
      "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)"),
      t.sh_quote(bridge), t.sh_quote(dir .. "/bridge.pyc")))
    t.ok(ok, "py_compile")
    -- not ALE: a few lines with OCAtari's surface, enough to run the bridge's own code
    local stand_in = [[
class Obj:
    def __init__(self, category, x, y):
        self.category, self.x, self.y, self.w, self.h, self.dx, self.dy = category, x, y, 7, 10, 0, 0
class Ale:
    def lives(self): return 3
class Unwrapped:
    ale = Ale()
    def get_action_meanings(self): return ["NOOP", "FIRE", "RIGHT", "LEFT"]
class OCAtari:
    def __init__(self, env_name, **kwargs):
        assert env_name == "ALE/SpaceInvaders-v5" and kwargs["repeat_action_probability"] == 0.0, env_name
        self.unwrapped = Unwrapped()
    def reset(self, seed=None):
        if seed == 13: raise RuntimeError("unlucky seed")
        self.t, self.x = 0, 40 + seed
        self.objects = [Obj("Player", self.x, 185), Obj("NoObject", 0, 0)]
        return None, {}
    def step(self, action):
        self.t += 1
        self.x += {2: 1, 3: -1}.get(action, 0)
        self.objects = [Obj("Player", self.x, 185), Obj("NoObject", 0, 0)]
        return None, 5.0 if action == 1 else 0.0, False, self.t >= 3, {}
]]
    local function open()
      return external.open({ command = { "python3", "ocatari_bridge.py", "space_invaders" }, name = "space_invaders",
        files = { ["ocatari_bridge.py"] = bridge, ["ocatari/__init__.py"] = { text = "" },
                  ["ocatari/core.py"] = { text = stand_in } }, env = { PYTHONPATH = "." }, timeout = 20 })
    end
    local env = open()
    env:reset(2)
    t.eq({ env:actions(), env:max_steps(), env:lives() }, { { "NOOP", "FIRE", "RIGHT", "LEFT" }, 27000, 3 }, "reset")
    t.eq(env:objects(), { { category = "Player", x = 42, y = 185, w = 7, h = 10, dx = 0, dy = 0 } },
      "NoObject left out")
    t.eq({ env:step("FIRE") }, { 5, false }, "a float reward read as an integer")
    t.eq({ env:step("RIGHT") }, { 0, false }, "moves")
    t.eq({ env:objects()[1].x, env:score() }, { 43, 5 }, "the score adds up")
    t.eq({ env:step("NOOP") }, { 0, true }, "truncated is done")
    local r = env:close()
    t.ok(r.ok, "ended on close: " .. tostring(r.message))
    env = open()
    t.match(env_error(t, function() env:reset(13) end),
      "^external env space_invaders: reset: the environment reports an error: RuntimeError: unlucky seed$", "error")
  end,

  ["an environment that fails ends the run with its reason"] = function(t)
    local db = t.tmpdir() .. "/f.db"
    local code, out, err = t.hone(string.format("run atari/pong --artifact reference --db %s --set steps=1 " ..
      "--set eval_episodes=1 --set eval_steps=50 --set test_episodes=1 --set %s", db,
      t.sh_quote([[env_command=sh -c "read l; echo '{\"error\": \"no ROM named pong\"}'"]])))
    t.eq(code, 1, "exit code (" .. out .. err .. ")")
    t.match(err .. out, "external env pong: reset: the environment reports an error: no ROM named pong", "says why")
    t.eq(t.sql(db, "SELECT status FROM runs"), "failed\n", "recorded as failed")
  end,
}
