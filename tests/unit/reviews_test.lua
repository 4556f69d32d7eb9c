-- reviews: the queue and decisions along a review chain, on a real
-- database, no server. Declarations are inserted as submitted.
package.path = "tests/unit/?.lua;scripts/?.lua;" .. package.path
local fx = require "svc_fixture"
local reviews = require "reviews"

local T = {}

local function who(role, province, city)
  return { account = fx.admin(role, province, city), now = fx.NOW, remote = "unit" }
end

-- A declaration as submitted: pending at the chain's first level.
local function submitted(school, plan, cert, o)
  o = o or {}
  local chain = o.chain or { "city", "province" }
  local json = require "json"
  return fx.one([[INSERT INTO declarations(school_id, plan_id, certificate_id, status, review_level,
                    review_chain, mode, trainees_total, submitted_at, created_at, updated_at)
                  VALUES (:school, :plan, :cert, :status, :level, :chain, 'by_major', 10, :at, 1, 1)
                  RETURNING id]],
    { school = school.id, plan = plan.id, cert = cert, status = o.status or "pending",
      level = (o.status or "pending") == "pending" and chain[1] or nil, chain = json.encode(chain),
      at = o.at or fx.NOW }).id
end

local function world()
  fx.fresh()
  local w = { plan = fx.plan({ province = "13" }), cert = fx.certificate() }
  w.a = fx.school({ province = "13", city = "1301" })
  w.b = fx.school({ province = "13", city = "1302" })
  fx.one("UPDATE accounts SET phone = '13800138000' WHERE school_id = ? RETURNING id", w.a.id)
  return w
end

function T.decisions_follow_the_chain()
  local w = world()
  local id = submitted(w.a, w.plan, w.cert)
  local prov, city = who("province", "13"), who("city", "13", "1301")
  local e = fx.err("not_your_level", reviews.decide(prov, id, "approve"))
  assert(e.message == "该申报尚待市级审核")
  assert(reviews.decide(city, id, "approve") == "pending")
  local d = fx.one("SELECT status, review_level, decided_at FROM declarations WHERE id = ?", id)
  assert(d.status == "pending" and d.review_level == "province" and d.decided_at == nil)
  fx.err("not_your_level", reviews.decide(city, id, "approve"))
  assert(reviews.decide(prov, id, "approve") == "approved")
  fx.err("wrong_status", reviews.decide(prov, id, "reject", "晚了"))
  assert(fx.count("reviews", "declaration_id = :id", { id = id }) == 2)
  local sms = fx.query("SELECT params FROM sms_outbox WHERE template = 'review' ORDER BY id")
  assert(#sms == 2 and sms[1].params:find("市级审核通过，待省级审核", 1, true))
  assert(sms[2].params:find('"审核通过"', 1, true))
  assert(fx.count("audit_log", "action = 'declaration.approve'") == 2)
end

function T.ops_act_at_the_level_it_waits_at_and_scope_is_404()
  local w = world()
  local id = submitted(w.a, w.plan, w.cert)
  fx.err("not_found", reviews.decide(who("city", "13", "1302"), id, "approve"))
  fx.err("not_found", reviews.decide(who("province", "44"), id, "approve"))
  assert(reviews.decide(who("ops"), id, "return", "请补充") == "returned")
  local draft = submitted(w.b, w.plan, w.cert, { status = "draft" })
  fx.err("not_found", reviews.visible(who("ops"), draft))
end

function T.a_decision_is_read_in_the_pages_words()
  fx.err("validation_failed", reviews.read_decision({ decision = "maybe" }))
  local e = fx.err("validation_failed", reviews.read_decision({ decision = "reject", comment = "  " }))
  assert(e.message == "不通过或退回修改时须填写审核意见" and e.fields[1].message == "请填写审核意见")
  e = fx.err("validation_failed", reviews.read_decision({ decision = "approve", comment = string.rep("意", 501) }))
  assert(e.fields[1].code == "too_long" and e.message == "审核意见不能超过 500 字")
  fx.err("validation_failed", reviews.read_decision({ decision = "approve", comment = 5 }))
  local d = assert(reviews.read_decision({ decision = "approve", comment = " 好 " }))
  assert(d.decision == "approve" and d.comment == "好")
  assert(reviews.read_decision({ decision = "approve" }).comment == nil)
end

function T.batch_reports_each_id()
  local w = world()
  local a = submitted(w.a, w.plan, w.cert)
  local b = submitted(w.b, w.plan, w.cert)
  local r = assert(reviews.batch(who("city", "13", "1301"), { ids = { a, b, "x", 99999 }, decision = "approve" }))
  assert(#r.done == 1 and r.done[1].id == a and r.done[1].status == "pending")
  assert(#r.failed == 3 and r.failed[1].code == "not_found" and r.failed[2].code == "invalid")
  local many = {}
  for i = 1, reviews.MAX_BATCH + 1 do many[i] = i end
  fx.err("validation_failed", reviews.batch(who("ops"), { ids = many, decision = "approve" }))
  fx.err("validation_failed", reviews.batch(who("ops"), { ids = {}, decision = "approve" }))
end

function T.the_queue_filters_scopes_and_pages()
  local w = world()
  local ids = {}
  for i = 1, 5 do
    ids[i] = submitted(i <= 3 and w.a or w.b, fx.plan({ province = "13" }), w.cert, { at = fx.NOW + i })
  end
  submitted(w.a, w.plan, w.cert, { status = "draft" })
  local ops, city = who("ops"), who("city", "13", "1301")
  local all = reviews.list(ops, {}, { page = 1, size = 2, offset = 0 })
  assert(all.total == 5 and #all.items == 2 and all.items[1].id == ids[5] and all.items[2].id == ids[4])
  local p3 = reviews.list(ops, {}, { page = 3, size = 2, offset = 4 })
  assert(#p3.items == 1 and p3.items[1].id == ids[1], "the newest submission first, page by page")
  assert(reviews.list(city, {}, { page = 1, size = 10, offset = 0 }).total == 3)
  assert(reviews.list(city, { city = "1302" }, { page = 1, size = 10, offset = 0 }).total == 0, "no widening")
  assert(reviews.list(ops, { status = "draft" }, { page = 1, size = 10, offset = 0 }).total == 0)
  assert(reviews.list(ops, { school = w.b.code }, { page = 1, size = 10, offset = 0 }).total == 2)
  local pg = { page = 1, size = 10, offset = 0 }
  assert(reviews.list(ops, { level = "city", mine = true, status = "" }, pg).total == 5)
  assert(reviews.list(who("province", "13"), { mine = true }, { page = 1, size = 10, offset = 0 }).total == 0)
  local todo = reviews.todo(city)
  assert(todo.pending_for_me == 3 and todo.level == "city" and #todo.by_plan == 3)
  assert(reviews.todo(ops).level == "all" and reviews.todo(ops).pending_for_me == 5)
  assert(#reviews.export(city, {}) == 3)
end

function T.an_admins_view_of_a_declaration()
  local w = world()
  local id = submitted(w.a, w.plan, w.cert)
  local city = who("city", "13", "1301")
  reviews.decide(city, id, "approve")
  local v = assert(reviews.view(city, id))
  assert(v.contact.name == "张老师" and #v.review_chain == 2)
  assert(v.reviews[1].reviewer ~= nil and v.reviews[1].reviewer:find("教育局", 1, true), v.reviews[1].reviewer)
  fx.err("not_found", reviews.view(who("city", "13", "1302"), id))
end

return T
