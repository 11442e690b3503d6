-- The trace store (kernel/store.c): schema, binding, transactions, bad files.
local hone = require("hone")

local function fresh(t)
  return t.tmpdir() .. "/trace.db"
end

return {
  ["open creates the whole schema in WAL mode"] = function(t)
    local path = fresh(t)
    local db = hone.store.open(path)
    local names = {}
    for _, r in ipairs(db:query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) do
      names[#names + 1] = r.name
    end
    t.eq(table.concat(names, ","),
      "candidates,evaluations,events,llm_cache,llm_calls,runs,steps,sweep_cells,sweeps", "tables")
    t.eq(db:query("PRAGMA user_version")[1].user_version, hone.store.schema_version, "version")
    t.eq(db:query("PRAGMA journal_mode")[1].journal_mode, "wal", "journal mode")
    db:close()
  end,

  ["values round-trip with their types"] = function(t)
    local db = hone.store.open(fresh(t))
    local changes, id = db:exec("INSERT INTO events (run_id, step, kind, message, data) VALUES (?, ?, ?, ?, ?)",
      nil, 7, "note", "héllo\0world", true)
    t.eq(changes, 1, "changes")
    t.eq(id, 1, "rowid")
    local row = db:query("SELECT * FROM events WHERE id = ?", id)[1]
    t.eq(row.run_id, nil, "NULL is absent")
    t.eq(math.type(row.step), "integer", "integer column")
    t.eq(row.message, "héllo\0world", "text with NUL")
    t.eq(row.data, "1", "boolean binds 1 (column is TEXT)")
    local f = db:query("SELECT ? AS x, ? AS y", 0.25, 2 ^ 62)[1]
    t.eq(f.x, 0.25, "float")
    t.eq(f.y, 2 ^ 62, "large float")
    db:close()
  end,

  ["bad statements and bindings raise one-line errors"] = function(t)
    local path = fresh(t)
    local db = hone.store.open(path)
    t.raises(function() db:query("SELECT * FROM nosuch") end, "store: no such table: nosuch")
    t.raises(function() db:exec("SELECT 1; SELECT 2") end, "one statement at a time")
    t.raises(function() db:query("SELECT ?", 1, 2) end, "takes 1 parameters, got 2")
    t.raises(function() db:query("SELECT ?", {}) end, "cannot bind a table")
    t.raises(function() db:exec("INSERT INTO events (kind) VALUES (?)", "x") end, "NOT NULL")
    -- the statement cache is still usable after the errors
    t.eq(db:query("SELECT ? AS v", 3)[1].v, 3, "after errors")
    db:close()
    t.raises(function() db:query("SELECT 1") end, "used after close")
  end,

  ["a rolled back transaction leaves nothing"] = function(t)
    local db = hone.store.open(fresh(t))
    db:begin()
    db:exec("INSERT INTO events (kind, message) VALUES ('a', 'b')")
    db:rollback()
    t.eq(db:query("SELECT count(*) AS n FROM events")[1].n, 0, "rows after rollback")
    db:begin()
    db:exec("INSERT INTO events (kind, message) VALUES ('a', 'b')")
    db:commit()
    t.eq(db:query("SELECT count(*) AS n FROM events")[1].n, 1, "rows after commit")
    db:close()
  end,

  ["more distinct statements than the cache holds"] = function(t)
    local db = hone.store.open(fresh(t))
    local sum = 0
    for round = 1, 2 do
      for i = 1, 100 do sum = sum + db:query("SELECT " .. i .. " + ? AS v", round)[1].v end
    end
    t.eq(sum, 2 * 5050 + 100 + 200, "sum")
    db:close()
  end,

  ["reopening keeps data; a newer schema and a non-store are refused"] = function(t)
    local path = fresh(t)
    local db = hone.store.open(path)
    db:exec("INSERT INTO events (kind, message) VALUES ('k', 'kept')")
    db:close()
    db = hone.store.open(path)
    t.eq(db:query("SELECT message FROM events")[1].message, "kept", "after reopen")
    db:exec("PRAGMA user_version = 999")
    db:close()
    t.raises(function() hone.store.open(path) end, "schema 999 is newer")
    local junk = t.tmpdir() .. "/junk.db"
    t.write(junk, string.rep("not a database\n", 200))
    t.raises(function() hone.store.open(junk) end, "^store: .*junk%.db")
    t.raises(function() hone.store.open(t.tmpdir() .. "/none.db", { readonly = true }) end, "cannot open")
  end,

  ["the sqlite3 command line reads the store"] = function(t)
    local path = fresh(t)
    local db = hone.store.open(path)
    db:exec("INSERT INTO runs (task, recipe, seed, config, hone_version) VALUES ('toy', 'fixed', 1, '{}', 'x')")
    db:close()
    local p = io.popen("sqlite3 " .. t.sh_quote(path) .. " 'SELECT task, recipe, status FROM runs'")
    local out = p:read("a")
    p:close()
    t.eq(out, "toy|fixed|running\n", "sqlite3 output")
  end,
  ["a version 1 store is migrated in place, its rows kept"] = function(t)
    local path = fresh(t)
    local db = hone.store.open(path)
    db:exec("INSERT INTO runs (task, recipe, seed, config, hone_version) VALUES ('toy', 'fixed', 7, '{}', 'x')")
    -- take versions 5 to 2 back off, as a store written by the first schema would be
    for _, sql in ipairs({ "DROP TABLE sweep_cells", "DROP TABLE sweeps", "ALTER TABLE steps DROP COLUMN signals",
        "ALTER TABLE evaluations DROP COLUMN cpu_s",
        "ALTER TABLE evaluations DROP COLUMN max_rss_kb", "DROP TABLE llm_cache",
        "ALTER TABLE runs DROP COLUMN replay_of",
        "ALTER TABLE steps DROP COLUMN llm_latency_ms", "ALTER TABLE llm_calls DROP COLUMN attempt_log",
        "ALTER TABLE llm_calls DROP COLUMN cache_hit", "ALTER TABLE llm_calls DROP COLUMN cache_key",
        "ALTER TABLE llm_calls DROP COLUMN format", "PRAGMA user_version = 1" }) do
      db:exec(sql)
    end
    db:close()
    db = hone.store.open(path)
    t.eq(db:query("PRAGMA user_version")[1].user_version, hone.store.schema_version, "migrated")
    t.eq(db:query("SELECT seed, replay_of FROM runs"), { { seed = 7 } }, "row kept, new column empty")
    t.eq(#db:query("SELECT * FROM llm_cache"), 0, "new table")
    db:close()
  end,
}
