-- National defaults for certificate pilot declarations (R6-R12).
-- A province file (rules/<code>.lua) receives a fresh copy of this table as
-- its argument and returns the entries it overrides; see rules/README.md.
-- Every check returns a list of {field, code, message} (empty when fine).

local R = {}

R.name = "全国默认规则"

-- The helpers are the contract's `lib` (see README.md); R.err and R.blank
-- stay for the files written before it. lib.err also records where the
-- finding was made (rule = {file, line}).
local err = lib.err
R.err = err

local blank = lib.blank
R.blank = blank

-- 申报计划: which modes a plan may use. Checked before publishing.
R.plan_modes = { "by_major", "not_by_major" }

local MODE_NAMES = { by_major = "按专业申报", not_by_major = "不按专业申报" }

function R.check_plan(plan)
  local errors = {}
  local allowed, names = false, {}
  for _, m in ipairs(R.plan_modes) do
    if plan.mode == m then allowed = true end
    names[#names + 1] = MODE_NAMES[m] or m
  end
  if not allowed then
    err(errors, "mode", "mode_not_allowed",
        "本省申报计划须采用以下申报方式：" .. table.concat(names, "、"))
  end
  return errors
end

-- 完善院校基础信息: fields a school must fill before it may declare.
R.profile_required = { "address", "contact_name", "contact_phone" }

R.profile_labels = {
  address = "学校地址", postcode = "邮政编码", contact_name = "联系人",
  contact_phone = "联系电话", contact_email = "联系邮箱", website = "学校网址",
  intro = "学校简介",
}

function R.check_profile(profile)
  local errors = {}
  -- R is the merged set: a province's profile_required is seen here.
  for _, f in ipairs(R.profile_required) do
    if blank(profile[f]) then
      err(errors, f, "required", "请填写" .. (R.profile_labels[f] or f))
    end
  end
  return errors
end

-- The mode a declaration of this plan uses: the plan's own.
function R.declaration_mode(plan)
  return plan.mode
end

-- Deadline policy. ctx: {now, action = "create"|"edit"|"submit"|"delete",
-- plan = {starts_at, ends_at}, declaration = {status} or nil}.
-- Returns {open = bool, code, message}.
function R.deadline(ctx)
  local p = ctx.plan
  if ctx.now < p.starts_at then
    return { open = false, code = "not_started", message = "申报尚未开始" }
  end
  if ctx.now >= p.ends_at then
    return { open = false, code = "closed", message = "已超过申报时间，无法申报" }
  end
  return { open = true }
end

-- The declaration itself. ctx: {submit = bool, mode, plan, school,
-- declaration = {certificate_id, majors = {{major, students, teachers,
-- trainees}}, trainees_total, faculty_chars, venue_chars},
-- others_in_plan = N (this school's other declarations in the plan)}.
-- Types, ranges and lengths are the host's; here is what may differ.
function R.check_declaration(ctx)
  local errors = {}
  local d = ctx.declaration
  if ctx.submit then
    if d.certificate_id == nil then
      err(errors, "certificate_id", "required", "请选择试点证书")
    end
    if (d.faculty_chars or 0) == 0 then
      err(errors, "faculty", "required", "请填写师资情况")
    end
    if (d.venue_chars or 0) == 0 then
      err(errors, "venue", "required", "请填写场地情况")
    end
    if ctx.mode == "by_major" then
      if #d.majors == 0 then
        err(errors, "majors", "required", "按专业申报时至少选择一个专业")
      end
      for i, m in ipairs(d.majors) do
        local at = "majors[" .. (i - 1) .. "]."
        if m.students == nil then err(errors, at .. "students", "required", "请填写本专业在校学生数") end
        if m.teachers == nil then err(errors, at .. "teachers", "required", "请填写本专业专任教师数") end
        if m.trainees == nil then err(errors, at .. "trainees", "required", "请填写申请培训人数") end
      end
      if #d.majors > 0 and (d.trainees_total or 0) < 1 then
        err(errors, "trainees_total", "min", "申请培训总人数至少为 1")
      end
    else
      if d.trainees_total == nil then
        err(errors, "trainees_total", "required", "请填写申请培训总人数")
      elseif d.trainees_total < 1 then
        err(errors, "trainees_total", "min", "申请培训总人数至少为 1")
      end
    end
  end
  return errors
end

-- The major levels a school may declare, its own first. ctx: {school =
-- {type = "本科"|"高职"|"中职"|"技工", province, city}}. Returns a list of
-- "中职" | "高职专科" | "职业本科".
R.school_major_levels = {
  ["中职"] = { "中职" },
  ["技工"] = { "中职" },
  ["高职"] = { "高职专科" },
  ["本科"] = { "职业本科", "高职专科" },
}

function R.major_levels(ctx)
  return R.school_major_levels[ctx.school.type] or {}
end

-- Who reviews, in order: the province only.
function R.review_chain(ctx)
  return { "province" }
end

return R
