local base = ...
local R = {}
-- bugs an author makes: a verdict with a number for "open", a list holding a function
function R.deadline(ctx) return { open = 0, code = "closed", message = "已截止" } end
function R.check_declaration(ctx) return { base.err } end
return R
