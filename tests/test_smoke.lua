return { ["runner works"] = function(t) t.eq(1+1, 2, "sum") end }
