-- sql: the queries of lists and filters, for services. A list answers
-- docs/api.md's {total, page, size, items}; sql.page runs its count and
-- its page of rows over one table of named parameters. sql.query and
-- sql.one call the db binding with named parameters also for a statement
-- that has none (a filter left out, ops' scope), which the binding takes
-- without a table.
-- Uses: db.
local db = require "db"

local sql = {}

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
--
-- q.items_params (optional): more named parameters of q.items alone (a
-- keyset's bound, which the count has not).
--
-- q.backward (optional): q.items with the subquery's order reversed (the
-- outer order kept). A page past the middle is then read from the list's
-- end: its offset from there is total - offset - size, so the last page of
-- a million rows skips no more entries than the first. Only where the
-- count is exact at the same moment as the page (counts kept with the
-- rows, or counted by the same conditions).
function sql.page(pg, q, params, present)
  local total = sql.one(q.count, params).n
  local p = {}
  for k, v in pairs(params or {}) do p[k] = v end
  for k, v in pairs(q.items_params or {}) do p[k] = v end
  local text = q.items
  p.page_limit, p.page_offset = pg.size, pg.offset
  if q.backward and pg.offset > total // 2 then
    text = q.backward
    p.page_offset = total - pg.offset - pg.size
    if p.page_offset < 0 then p.page_limit, p.page_offset = pg.size + p.page_offset, 0 end
    if p.page_limit < 0 then p.page_limit = 0 end
  end
  if not text:find(":page_limit", 1, true) then text = text .. " LIMIT :page_limit OFFSET :page_offset" end
  local items = db.query(text, p)
  if present then
    for _, r in ipairs(items) do present(r) end
  end
  return { total = total, page = pg.page, size = pg.size, items = items }
end

-- Keyset paging (a cursor instead of an offset): sql.cursor(s) -> at, id
-- from a cursor "AT.ID" (the order key of the last row a client has: its
-- time and id, both integers), or nil for anything else; sql.cursor_of(at,
-- id) -> that text. The list reads its rows after (at, id) in its order,
-- from its index, however far the client has gone.
function sql.cursor(s)
  if type(s) ~= "string" then return nil end
  local at, id = s:match("^(%d+)%.(%d+)$")
  at, id = math.tointeger(tonumber(at)), math.tointeger(tonumber(id))
  if not (at and id) then return nil end
  return at, id
end

function sql.cursor_of(at, id)
  return string.format("%d.%d", at, id)
end

return sql
