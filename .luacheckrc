std = "lua54"
max_line_length = 110
-- hone runs task code in a sandbox whose globals are the artifact's functions.
files["tasks"] = { globals = {} }
