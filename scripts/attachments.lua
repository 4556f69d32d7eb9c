-- attachments: a declaration's 证明材料 (issue 13). PDF, JPEG or PNG by
-- their content (never their name), at most 10 MiB and 10 a declaration,
-- stored in the database beside the declaration (so in its backups too).
-- The school uploads and deletes while its declaration is editable; the
-- school and the admins in scope (who never see drafts) download.
local db = require "db"
local json = require "json"
local auth = require "auth"
local text = require "text"
local util = require "util"
local web = require "web"
local audit = require "audit"
local decl = require "decl"
local scope = require "scope"

local M = {}

-- 10 MiB, which the pages and host/http.c (the same cap, on the upload as
-- it streams in) call "10 MB"
M.MAX_BYTES = 10 * 1024 * 1024
M.TOO_LARGE = "附件不能超过 10 MB（10,485,760 字节）"
M.MAX_COUNT = 10
M.MAX_NAME_CHARS = 100

-- The type of a file by its first bytes, or nil.
function M.sniff(data)
  if data:sub(1, 5) == "%PDF-" then return "application/pdf", ".pdf" end
  if data:sub(1, 3) == "\255\216\255" then return "image/jpeg", ".jpg" end
  if data:sub(1, 8) == "\137PNG\r\n\26\n" then return "image/png", ".png" end
  return nil
end

-- A file name fit to store and show: no directories, no control
-- characters, valid UTF-8, at most MAX_NAME_CHARS characters, and the
-- extension of the type its content is (2026-12-01: a PDF named .bat or
-- .html was saved by reviewers as such).
function M.clean_name(name, ext)
  name = (name or ""):gsub("^.*[/\\]", ""):gsub("[%c]", ""):gsub("^%s+", ""):gsub("%s+$", "")
  if not text.ulen(name) then name = "" end
  if utf8.len(name) > M.MAX_NAME_CHARS then
    name = name:sub(1, utf8.offset(name, M.MAX_NAME_CHARS + 1) - 1)
  end
  if name == "" or name:match("^%.+$") then name = "附件" .. ext end
  local stem = name:match("^(.+)%.[^.]*$") or name
  if ext == ".jpg" and name:lower():match("%.jpe?g$") then return name end
  if name:lower():sub(-#ext) == ext then return name end
  return stem .. ext
end

local function load(id)
  return db.one([[SELECT d.id, d.school_id, d.status, d.plan_id, s.province_code, s.city_code
                  FROM declarations d JOIN schools s ON s.id = d.school_id WHERE d.id = ?]], id)
end

-- Whether the caller may see the declaration's files: its school, or an
-- admin whose scope holds it once submitted (drafts are the school's own).
local function may_read(ctx, d)
  return ctx.account ~= nil and scope.declaration_visible(ctx, d)
end

-- The school's own declaration, editable now; 404 or 409 otherwise.
local function editable(ctx, id)
  local d = load(id)
  if not scope.school_owns(ctx, d) then
    web.fail(404, "not_found", "申报不存在")
  end
  local can_edit = decl.actions({ status = d.status, plan_id = d.plan_id, province = d.province_code }, ctx.now)
  if not can_edit then
    web.fail(409, "wrong_status", "当前状态不能修改附件")
  end
  return d
end

-- The attachments of a declaration, for its view: [{id, name, size, type,
-- sha256, created_at}].
function M.list(declaration_id)
  local rows = db.query([[SELECT id, name, size, type, sha256, created_at FROM attachments
                          WHERE declaration_id = ? ORDER BY id]], declaration_id)
  for _, r in ipairs(rows) do r.created_at = util.iso(r.created_at) end
  return json.array(rows)
end

-- POST /api/declarations/{id}/attachments (multipart/form-data, field file)
local function upload(ctx, params)
  local d = editable(ctx, params.id)
  local req = ctx.req
  if req.upload_name == nil then
    web.fail(400, "bad_request", "请以 multipart/form-data 格式上传文件（字段名 file）")
  end
  local data = req.body
  if req.upload_name == "" or #data == 0 then
    web.fail(422, "validation_failed", "请选择要上传的文件",
             { { field = "file", code = "required", message = "请选择要上传的文件" } })
  end
  if #data > M.MAX_BYTES then
    web.fail(413, "too_large", M.TOO_LARGE)
  end
  local mime, ext = M.sniff(data)
  if not mime then
    web.fail(422, "validation_failed", "只能上传 PDF、JPEG 或 PNG 文件",
             { { field = "file", code = "file_type",
                 message = "文件内容不是 PDF、JPEG 或 PNG（按文件内容判断，与文件名无关）" } })
  end
  local name = M.clean_name(req.upload_name, ext)
  local sha = auth.sha256(data)
  local id = db.transaction(function()
    local n = db.one("SELECT count(*) AS n FROM attachments WHERE declaration_id = ?", d.id).n
    if n >= M.MAX_COUNT then
      web.fail(409, "too_many", "每份申报最多上传 " .. M.MAX_COUNT .. " 个附件")
    end
    local _, new_id = db.exec([[INSERT INTO attachments(declaration_id, name, type, size, sha256, data,
                                  created_by, created_at)
                                VALUES (:declaration, :name, :type, :size, :sha256, CAST(:data AS BLOB),
                                        :by, :now) RETURNING id]],
      { declaration = d.id, name = name, type = mime, size = #data, sha256 = sha, data = data,
        by = ctx.account.id, now = ctx.now })
    audit.log(ctx, "attachment.upload", "declaration", d.id, {
      province = d.province_code, city = d.city_code,
      detail = { attachment_id = new_id, name = name, size = #data, sha256 = sha } })
    return new_id
  end)
  return 201, { id = id, name = name, size = #data, type = mime, sha256 = sha }
end

-- RFC 6266: an ASCII fallback and the UTF-8 name.
local function disposition(name)
  local ascii = name:gsub("[^%w%.%-_ ]", "_")
  local encoded = name:gsub("[^%w%.%-_]", function(c) return string.format("%%%02X", c:byte()) end)
  return 'attachment; filename="' .. ascii .. "\"; filename*=UTF-8''" .. encoded
end

-- GET /api/declarations/{id}/attachments/{aid}
local function download(ctx, params)
  local d = load(params.id)
  if not may_read(ctx, d) then web.fail(404, "not_found", "附件不存在") end
  local f = db.one([[SELECT name, type, data FROM attachments WHERE id = :id AND declaration_id = :declaration]],
                   { id = params.aid, declaration = params.id })
  if not f then web.fail(404, "not_found", "附件不存在") end
  return 200, f.data, { raw = true, content_type = f.type,
                        headers = { { "Content-Disposition", disposition(f.name) } } }
end

-- DELETE /api/declarations/{id}/attachments/{aid}
local function remove(ctx, params)
  local d = editable(ctx, params.id)
  db.transaction(function()
    local f = db.one("SELECT name, sha256 FROM attachments WHERE id = :id AND declaration_id = :declaration",
                     { id = params.aid, declaration = d.id })
    if not f then web.fail(404, "not_found", "附件不存在") end
    db.exec("DELETE FROM attachments WHERE id = ?", params.aid)
    audit.log(ctx, "attachment.delete", "declaration", d.id, {
      province = d.province_code, city = d.city_code,
      detail = { attachment_id = params.aid, name = f.name, sha256 = f.sha256 } })
  end)
  return 200, { ok = true }
end

function M.register(route)
  route("POST", "/api/declarations/{id}/attachments", upload, scope.SCHOOL)
  route("GET", "/api/declarations/{id}/attachments/{aid}", download, scope.ANYONE)
  route("DELETE", "/api/declarations/{id}/attachments/{aid}", remove, scope.SCHOOL)
end

return M
