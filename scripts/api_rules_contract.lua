-- api_rules_contract: GET /api/admin/rules/contract, the rule contract
-- (scripts/rules_contract.lua) machine-readable, for the rule editor's
-- completion: the entries a set may return, the ctx each receives, and
-- the helpers of `lib`. Province, city and ops admins; schools 403.
local json = require "json"
local contract = require "rules_contract"

local M = {}

local ADMINS = require("scope").ADMINS

local function list(t)
  local out = json.array()
  for i, v in ipairs(t or {}) do out[i] = v end
  return out
end

local function present()
  local entries = json.array()
  for _, e in ipairs(contract.entries) do
    entries[#entries + 1] = { name = e.name, kind = e.kind, doc = e.doc, ctx = list(e.ctx) }
  end
  local ctx = {}
  for part, fields in pairs(contract.ctx) do
    local out = json.array()
    for _, f in ipairs(fields) do
      out[#out + 1] = { name = f.name, type = f.type, doc = f.doc, part = f.part, items = f.items }
    end
    ctx[part] = out
  end
  local lib = json.array()
  for _, h in ipairs(contract.lib) do
    lib[#lib + 1] = { name = h.name, signature = h.signature, doc = h.doc }
  end
  return { entries = entries, ctx = ctx, lib = lib }
end

local cached -- the contract is fixed for the life of the process

local function get_contract()
  cached = cached or present()
  return 200, cached
end

function M.register(route)
  route("GET", "/api/admin/rules/contract", get_contract, ADMINS)
end

return M
