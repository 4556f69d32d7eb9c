-- web: request and response helpers for handlers: the JSON error shape of
-- docs/api.md, query strings, cookies, paging, a service's answer and
-- Excel downloads. Field errors are errors.fields (scripts/errors.lua).
local json = require "json"

local web = {}

local http_error_mt = { __tostring = function(e)
  return string.format("http %d %s: %s", e.status, e.code, e.message)
end }

-- Raises an HTTP error that app.handle turns into the JSON error shape.
function web.fail(status, code, message, fields)
  error(setmetatable({ status = status, code = code, message = message,
                       fields = fields }, http_error_mt), 0)
end

function web.is_http_error(e)
  return getmetatable(e) == http_error_mt
end

function web.error_body(e)
  local err = { code = e.code, message = e.message }
  if e.fields then err.fields = json.array(e.fields) end
  return json.encode({ error = err })
end

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function web.parse_query(q)
  local out = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if k and k ~= "" then out[unescape(k)] = unescape(v) end
  end
  return out
end

function web.cookies(header)
  local out = {}
  for k, v in (header or ""):gmatch("([^=;%s]+)=([^;]*)") do out[k] = v end
  return out
end

-- web.page(query) -> {page, size, offset}: ?page= (from 1) and ?size=
-- (1..100, default 10) as the one table services' lists take (sql.page);
-- 400 for others.
function web.page(q)
  local page = math.tointeger(tonumber(q.page or "1")) or 0
  local size = math.tointeger(tonumber(q.size or "10")) or 0
  if page < 1 then web.fail(400, "bad_request", "页码无效") end
  if size < 1 or size > 100 then web.fail(400, "bad_request", "每页条数应在 1 到 100 之间") end
  return { page = page, size = size, offset = (page - 1) * size }
end

-- web.answer(result, err[, status]) -> what a handler returns for a
-- service's (result) or (nil, err): status (200 by default) and the
-- result, or the error value, which app answers by app.STATUS.
--   return web.answer(plans.update(ctx, params.id, b))
function web.answer(result, err, status)
  if not result then return err end
  return status or 200, result
end

-- web.int_param(q, name) -> integer | nil; 400 when present but not one
function web.int_param(q, name)
  local v = q[name]
  if v == nil or v == "" then return nil end
  local n = math.tointeger(tonumber(v))
  if not n then web.fail(400, "bad_request", "参数 " .. name .. " 应为整数") end
  return n
end

local XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

-- web.xlsx(ctx, base, title, header, rows, widths) -> 200, a workbook of
-- one sheet, and the options that answer it as a download named
-- base-<Beijing time>.xlsx: a handler returns the three.
function web.xlsx(ctx, base, title, header, rows, widths)
  local bytes = require("xlsx").sheet(title, header, rows, widths)
  local name = base .. "-" .. os.date("!%Y%m%d%H%M", ctx.now + 8 * 3600) .. ".xlsx"
  return 200, bytes, {
    raw = true, content_type = XLSX,
    headers = { { "Content-Disposition", 'attachment; filename="' .. name .. '"' } } }
end

return web
