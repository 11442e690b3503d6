-- The test runner: `hone lua tests/runner.lua [name-pattern...] [-name-pattern...]`.
-- Every tests/test_*.lua returns a table of test cases (name -> function(t)), where t is
-- tests/support.lua. Cases run in name order; the last line is "N passed, N failed".
-- A case runs when its name ("file: case") contains one of the patterns (or there are
-- none) and none of the patterns that start with "-" (make valgrind leaves out the cases
-- that time a runaway: memcheck is 20 times slower).
local support = dofile("tests/support.lua")

local patterns, excluded = {}, {}
for i = 1, #arg do
  if arg[i]:sub(1, 1) == "-" then excluded[#excluded + 1] = arg[i]:sub(2) else patterns[#patterns + 1] = arg[i] end
end

local function wanted(name)
  for _, p in ipairs(excluded) do
    if name:find(p, 1, true) then return false end
  end
  if #patterns == 0 then return true end
  for _, p in ipairs(patterns) do
    if name:find(p, 1, true) then return true end
  end
  return false
end

local files = {}
for path in io.popen("ls tests/test_*.lua 2>/dev/null"):lines() do files[#files + 1] = path end
table.sort(files)

local passed, failed, failures = 0, 0, {}
for _, path in ipairs(files) do
  local file = path:match("tests/(.-)%.lua$")
  local chunk, err = loadfile(path)
  local cases = chunk and chunk() or nil
  if not cases then
    failed = failed + 1
    failures[#failures + 1] = file .. ": cannot load: " .. tostring(err)
    print("FAIL " .. file .. " (cannot load): " .. tostring(err))
  else
    local names = {}
    for name in pairs(cases) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local full = file .. ": " .. name
      if wanted(full) then
        local ok, msg = xpcall(cases[name], debug.traceback, support)
        support.cleanup()
        if ok then
          passed = passed + 1
          print("ok   " .. full)
        else
          failed = failed + 1
          failures[#failures + 1] = full .. "\n    " .. tostring(msg):gsub("\n", "\n    ")
          print("FAIL " .. full)
        end
      end
    end
  end
end
support.shutdown()

if #failures > 0 then
  print("\nfailures:")
  for _, f in ipairs(failures) do print("  " .. f) end
end
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1, true)
