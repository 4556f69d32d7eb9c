-- shadow: a candidate version evaluated beside the one in force on live
-- traffic, deciding nothing (issue 10). A live check of a province with a
-- shadow running (save, submit, plan publish) queues its argument and its
-- outcome inside the request's own write transaction (Sh.enqueue); the
-- serving process's main thread evaluates the queue under the shadow
-- version each tick, four a second (Sh.process, from rules_sync.tick), so a request
-- never waits for a shadow and never fails because of one. A shadow that
-- fails (an error, its budget, the deadline) is a divergence.
-- Sh.start and Sh.stop raise their error value (conflict, rules_invalid),
-- which app.lua answers; errors.protect makes them return it.
local db = require "db"
local json = require "json"
local rules = require "rules"
local clock = require "clock"
local log = require "log"
local errors = require "errors"

local Sh = {}

Sh.MAX_QUEUE = 10000    -- queued checks of one shadow; beyond, new ones are dropped
Sh.BATCH = 50           -- checks one tick takes
Sh.TICK_MS = 2000       -- and the time it may spend
Sh.ITEMS = 100          -- divergences an answer lists, newest first

local quiet = 0    -- inside Sh.quietly: checks that are no live traffic (replay)
local unbound = {} -- this request's queued checks of a declaration not yet stored

-- The shadows a check of province is seen by: its own and a default one.
local function running_for(province)
  return db.query([[SELECT id, province, version_id FROM rule_shadows
                    WHERE ended_at IS NULL AND province IN (:province, 'default')]], { province = province })
end

function Sh.running(province)
  return db.one([[SELECT id, province, version_id, since, evaluated, diverged FROM rule_shadows
                  WHERE province = ? AND ended_at IS NULL]], province)
end

local function codes_of(list)
  local out, seen = {}, {}
  for _, f in ipairs(list or {}) do
    local c = type(f) == "table" and tostring(f.code) or "?"
    if not seen[c] then seen[c] = true out[#out + 1] = c end
  end
  table.sort(out)
  return out
end

-- The outcome of a check as recorded: {codes} of findings, {chain} of a
-- review chain, or a failure.
function Sh.outcome(entry, result, err)
  if result == nil and err then
    return { codes = json.array({ "rule_failed" }), error = require("province_rules").one_line(err):sub(1, 300) }
  end
  if entry == "review_chain" then
    local chain = {}
    for _, l in ipairs(type(result) == "table" and result or {}) do chain[#chain + 1] = tostring(l) end
    return { chain = json.array(chain) }
  end
  return { codes = json.array(codes_of(result)) }
end

local function same(a, b)
  return table.concat(a.codes or {}, ",") == table.concat(b.codes or {}, ",")
     and table.concat(a.chain or {}, ",") == table.concat(b.chain or {}, ",")
     and (a.error == nil) == (b.error == nil)
end

-- Sh.enqueue(province, entry, arg, outcome, o): inside the caller's write
-- transaction; o = {declaration_id, plan_id, at}. Cheap when no shadow runs.
function Sh.enqueue(province, entry, arg, outcome, o)
  local shadows = running_for(province)
  if #shadows == 0 then return end
  for _, s in ipairs(shadows) do
    -- per shadow: one province's traffic never crowds out another's
    local queued = db.one("SELECT count(*) AS n FROM rule_shadow_jobs WHERE shadow_id = ?", s.id).n
    if queued >= Sh.MAX_QUEUE then
      log.warn("shadow: queue of shadow " .. s.id .. " full, a check of " .. province .. " is not shadowed")
      return
    end
    local _, job = db.exec([[INSERT INTO rule_shadow_jobs(shadow_id, province, at, declaration_id, plan_id,
                                                          entry, arg, before)
                             VALUES (:shadow, :province, :at, :declaration, :plan, :entry, :arg, :before)
                             RETURNING id]],
                           { shadow = s.id, province = province, at = o.at, declaration = o.declaration_id,
                             plan = o.plan_id, entry = entry, arg = json.encode(arg),
                             before = json.encode(outcome) })
    if not o.declaration_id and entry ~= "check_plan" then unbound[#unbound + 1] = job end
  end
end

-- Queues a live check for the shadows of province, if any run: in the
-- caller's transaction, or a small one of its own.

-- Called at the start of every request (app.handle).
function Sh.reset()
  if #unbound > 0 then unbound = {} end
end

-- Sh.bind(id): the declaration this request just stored is the one its
-- queued checks without an id were about (inside the write transaction).
-- The list stays until the next request (Sh.reset): on PostgreSQL a
-- transaction that met a serialization failure runs again, binding again.
function Sh.bind(id)
  for _, job in ipairs(unbound) do
    db.exec("UPDATE rule_shadow_jobs SET declaration_id = :id WHERE id = :job AND declaration_id IS NULL",
            { id = id, job = job })
  end
end

function Sh.quietly(fn, ...)
  quiet = quiet + 1
  local r = table.pack(pcall(fn, ...))
  quiet = quiet - 1
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

function Sh.observe(province, entry, arg, outcome, o)
  if quiet > 0 then return end
  if not db.one([[SELECT 1 AS x FROM rule_shadows WHERE ended_at IS NULL
                  AND province IN (?, 'default') LIMIT 1]], province) then
    return
  end
  o = o or {}
  o.at = o.at or clock.now()
  local ok, err = pcall(function()
    if db.in_transaction() then Sh.enqueue(province, entry, arg, outcome, o)
    else db.transaction(Sh.enqueue, province, entry, arg, outcome, o) end
  end)
  if not ok then log.error("shadow: a check was not queued: " .. tostring(err)) end
end

-- Sh.check(province, entry, arg, o, call) -> what call() returns, raising
-- as it raises: the live check, its outcome queued for a running shadow.
function Sh.check(province, entry, arg, o, call)
  local ok, result = pcall(call)
  local outcome
  if ok then
    outcome = Sh.outcome(entry, result)
  else
    outcome = Sh.outcome(entry, nil, tostring(type(result) == "table" and result.message or result))
  end
  Sh.observe(province, entry, arg, outcome, o)
  if not ok then error(result, 0) end
  return result
end

-- Candidate sets of running shadows, by version and stored generation
-- (the set in force around the shadow changes with a publish).
local sets, sets_gen = {}, nil

local function set_for(shadow_province, version_id, call_province)
  local store = require "rules_versions"
  local gen = store.generation()
  if gen ~= sets_gen then sets, sets_gen = {}, gen end
  local key = version_id .. "/" .. call_province
  if sets[key] == nil then
    local v = db.one("SELECT source FROM rule_versions WHERE id = ?", version_id)
    local files = store.candidate(shadow_province, v.source, version_id, false)
    local set, broken = rules.load(files)
    if set then
      for _, b in ipairs(broken) do
        if b.province == call_province or b.province == shadow_province then set, broken = nil, b.error end
      end
    end
    sets[key] = set and { set = set } or { error = broken }
  end
  return sets[key].set, sets[key].error
end

-- A check queued before its declaration existed is bound to it by the
-- request's write transaction a moment later (Sh.bind); another instance's
-- tick, or this one's, may see the job first. Such a job waits BIND_MS from
-- when this process first saw it unbound (never bound: its request
-- failed; it is evaluated then, without a declaration).
Sh.BIND_MS = 2000
local unbound_seen = {} -- job id -> clock.now_ms() when first seen unbound

-- Evaluates queued checks under their shadows. Returns how many.
function Sh.process()
  if not db.one("SELECT 1 AS x FROM rule_shadow_jobs LIMIT 1") then return 0 end
  local P = require "province_rules"
  local t0, n = clock.now_ms(), 0
  local jobs = db.query([[SELECT j.id, j.shadow_id, j.province, j.at, j.declaration_id, j.plan_id, j.entry,
                                 j.arg, j.before, s.province AS shadow_province, s.version_id, s.ended_at
                          FROM rule_shadow_jobs j JOIN rule_shadows s ON s.id = j.shadow_id
                          ORDER BY j.id LIMIT ?]], Sh.BATCH)
  for _, j in ipairs(jobs) do
    if clock.now_ms() - t0 > Sh.TICK_MS then break end
    local wait = false
    if j.declaration_id == nil and j.entry ~= "check_plan" then
      local seen = unbound_seen[j.id]
      if not seen then
        unbound_seen[j.id] = clock.now_ms()
        wait = true
      else
        wait = clock.now_ms() - seen < Sh.BIND_MS
      end
    end
    if not wait then
      unbound_seen[j.id] = nil
      local after
      if not j.ended_at then
        local set, err = set_for(j.shadow_province, j.version_id, j.province)
        if not set then
          after = Sh.outcome(j.entry, nil, err)
        else
          local arg = json.decode(j.arg)
          local result, rerr = rules.using(set, P.try, j.province, j.entry, arg)
          if j.entry ~= "review_chain" and not (result == nil and rerr) then
            result, rerr = P.findings(result)
          end
          after = Sh.outcome(j.entry, result, rerr)
        end
      end
      db.transaction(function()
        -- the declaration as bound now, not as read above
        local cur = db.one("SELECT declaration_id FROM rule_shadow_jobs WHERE id = ?", j.id)
        local claimed = cur and db.exec("DELETE FROM rule_shadow_jobs WHERE id = ?", j.id) or 0
        if claimed == 0 or not after then return end -- another instance took it, or the shadow ended
        j.declaration_id = cur.declaration_id
        local before = json.decode(j.before)
        local differ = not same(before, after)
        db.exec("UPDATE rule_shadows SET evaluated = evaluated + 1, diverged = diverged + :d WHERE id = :id",
                { d = differ and 1 or 0, id = j.shadow_id })
        if differ then
          db.exec([[INSERT INTO rule_divergences(shadow_id, at, declaration_id, plan_id, entry, before, after)
                    VALUES (:shadow, :at, :declaration, :plan, :entry, :before, :after)]],
                  { shadow = j.shadow_id, at = j.at, declaration = j.declaration_id, plan = j.plan_id,
                    entry = j.entry, before = json.encode(before), after = json.encode(after) })
        end
      end)
      n = n + 1
    end
  end
  return n
end

-- ---- the service of the endpoints ----------------------------------------

-- Sh.start(province, v, account_id, now) -> the version id it replaced:
-- puts version v of province in the shadow (ending the one running).
function Sh.start(province, v, account_id, now)
  if v.status == "published" then errors.raise("conflict", "生效中的版本无需影子运行") end
  local set, broken = rules.load(require("rules_versions").candidate(province, v.source, v.id))
  if not set then errors.raise("rules_invalid", "规则无法加载：" .. broken) end
  return db.transaction(function()
    local cur = Sh.running(province)
    db.exec("UPDATE rule_shadows SET ended_at = :now WHERE province = :province AND ended_at IS NULL",
            { now = now, province = province })
    db.exec([[INSERT INTO rule_shadows(province, version_id, since, started_by)
              VALUES (:province, :version, :now, :by)]],
            { province = province, version = v.id, now = now, by = account_id })
    return cur and cur.version_id
  end)
end

-- Sh.stop(province, now) -> the shadow that ran.
function Sh.stop(province, now)
  local cur = Sh.running(province)
  if not cur then errors.raise("conflict", "当前没有影子运行") end
  db.transaction(function()
    db.exec("UPDATE rule_shadows SET ended_at = :now WHERE id = :id", { now = now, id = cur.id })
    db.exec("DELETE FROM rule_shadow_jobs WHERE shadow_id = ?", cur.id)
  end)
  return cur
end

-- The running shadow of province, or its last one: counts and the newest
-- divergences. nil when the province never had one.
function Sh.report(province)
  local util = require "util"
  local s = db.one([[SELECT id, version_id, since, ended_at, evaluated, diverged FROM rule_shadows
                     WHERE province = ? ORDER BY (ended_at IS NULL) DESC, id DESC LIMIT 1]], province)
  if not s then return nil end
  local items = json.array()
  for _, r in ipairs(db.query([[SELECT at, declaration_id, plan_id, entry, before, after FROM rule_divergences
                                WHERE shadow_id = :shadow ORDER BY id DESC LIMIT :n]],
                              { shadow = s.id, n = Sh.ITEMS })) do
    local function outcome(text) -- lists stay lists, empty ones too
      local o = json.decode(text) or {}
      if o.codes then o.codes = json.array(o.codes) end
      if o.chain then o.chain = json.array(o.chain) end
      return o
    end
    items[#items + 1] = { at = util.iso(r.at), declaration_id = r.declaration_id or json.null,
                          plan_id = r.plan_id or json.null, entry = r.entry,
                          before = outcome(r.before), after = outcome(r.after) }
  end
  return { version_id = s.version_id, since = util.iso(s.since), running = s.ended_at == nil,
           ended_at = s.ended_at and util.iso(s.ended_at) or json.null,
           evaluated = s.evaluated, diverged = s.diverged,
           pending = db.one("SELECT count(*) AS n FROM rule_shadow_jobs WHERE shadow_id = ?", s.id).n,
           items = items }
end

return Sh
