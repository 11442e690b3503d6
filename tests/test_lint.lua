-- All Lua in hone is lint-clean under luacheck (.luacheckrc): plain modules, no globals.
return {
  ["luacheck finds nothing"] = function(t)
    local p = io.popen("luacheck --no-color -q lua recipes tasks tests bench 2>&1; echo \"exit $?\"")
    local out = p:read("a")
    p:close()
    t.match(out, "exit 0\n$", "luacheck (install it with make deps):\n" .. out)
  end,
}
