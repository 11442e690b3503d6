local M = {}
function M.main(argv)
  if argv[1] == "lua" then
    local chunk, err = loadfile(argv[2])
    if not chunk then io.stderr:write("hone: ", err, "\n") return 2 end
    local args = {}
    for i = 3, #argv do args[#args + 1] = argv[i] end
    _G.arg = args
    chunk(table.unpack(args))
    return 0
  end
  return 2
end
return M
