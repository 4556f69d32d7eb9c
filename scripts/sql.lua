-- sql: the queries of lists and filters, for services. A list answers
-- docs/api.md's {total, page, size, items}; sql.page runs its count and
-- its page of rows over one table of named parameters. sql.query and
-- sql.one call the db binding with named parameters also for a statement
-- that has none (a filter left out, ops' scope), which the binding takes
-- without a table.
-- Uses: db.
local db = require "db"

local sql = {}

-- SQLite's planner hints, which PostgreSQL (which plans from statistics)
-- neither needs nor parses: sql.CROSS_JOIN fixes SQLite's join order
-- (" CROSS JOIN " there, " JOIN " on PostgreSQL), and sql.no_index(col)
-- keeps SQLite's planner from an index on col ("+col").
local pg = db.driver == "postgresql"
sql.CROSS_JOIN = pg and " JOIN " or " CROSS JOIN "
function sql.no_index(col) return pg and col or "+" .. col end

local function call(f, text, params)
  if params == nil or (next(params) == nil and not text:find(":[%a_]")) then
    return f(text)
  end
  return f(text, params)
end

-- sql.query(text, params) -> rows; sql.one(text, params) -> row or nil.
function sql.query(text, params) return call(db.query, text, params) end
function sql.one(text, params) return call(db.one, text, params) end

-- An empty string is no filter (?status= as absent): nil, else s.
function sql.opt(s)
  if s == "" then return nil end
  return s
end

-- sql.page(pg, q, params[, present]) -> {total, page, size, items}
-- pg: {page, size, offset} (web.page); q.count: a statement answering n,
-- the rows' count; q.items: the rows' statement with its ORDER BY, to
-- which LIMIT :page_limit OFFSET :page_offset are added unless it places
-- them itself (in a subquery that picks the page's ids first); params:
-- the named parameters of both; present(row) is called on each row.
function sql.page(pg, q, params, present)
  local total = sql.one(q.count, params).n
  local p = {}
  for k, v in pairs(params or {}) do p[k] = v end
  p.page_limit, p.page_offset = pg.size, pg.offset
  local text = q.items
  if not text:find(":page_limit", 1, true) then text = text .. " LIMIT :page_limit OFFSET :page_offset" end
  local items = db.query(text, p)
  if present then
    for _, r in ipairs(items) do present(r) end
  end
  return { total = total, page = pg.page, size = pg.size, items = items }
end

return sql
