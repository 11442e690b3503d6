std = "lua54"
max_line_length = 120
max_string_line_length = false   -- prompts are prose; their lines are as long as they need
