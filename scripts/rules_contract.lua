-- rules_contract: the one rule contract, as data. What a rule set may
-- return (entries), the shape of the ctx every entry receives (parts and
-- their fields) and the helpers of `lib`. Read by the platform (the
-- contract route, the lab) and compiled into the sandbox (host/sandbox.c
-- embeds this file's text and runs it at load): pure data, no globals, no
-- require.
local C = {}

-- ctx parts: each a list of fields {name, type, doc}; a field whose value
-- is a part names it in `part`, a list of parts in `items`. Reading a
-- field that is not listed raises; a listed field that is absent is nil.
C.ctx = {
  ctx = {
    { name = "now", type = "integer", doc = "当前时间（Unix 秒，北京时间由 lib.today/lib.year 换算）" },
    { name = "action", type = "string", doc = "deadline：create | edit | submit | delete" },
    { name = "submit", type = "boolean", doc = "check_declaration：平台总按“保存并提交”检查（保存草稿时，检查结果作为提示随草稿返回）；为兼容旧规则保留" },
    { name = "mode", type = "string", doc = "申报方式 by_major | not_by_major（check_declaration、check_plan 别名）" },
    { name = "plan", type = "plan", part = "plan", doc = "申报计划" },
    { name = "school", type = "school", part = "school", doc = "申报院校" },
    { name = "certificate", type = "certificate", part = "certificate", doc = "所申报的证书" },
    { name = "declaration", type = "declaration", part = "declaration", doc = "申报书" },
    { name = "profile", type = "profile", part = "profile", doc = "院校基础信息" },
    { name = "others_in_plan", type = "integer", doc = "本校在同一计划内的其他申报数（不含已驳回）" },
    { name = "declarations_this_year", type = "integer", doc = "本校本计划年度的申报数（不含已驳回，不含本申报）" },
    { name = "approved_last_year", type = "integer", doc = "本校上一年度已通过的申报数" },
    -- aliases kept for the files written before the contract
    { name = "id", type = "integer", doc = "别名：check_plan、declaration_mode 的 plan.id" },
    { name = "year", type = "integer", doc = "别名：check_plan、declaration_mode 的 plan.year" },
    { name = "batch", type = "integer", doc = "别名：check_plan 的 plan.batch" },
    { name = "title", type = "string", doc = "别名：check_plan 的 plan.title" },
    { name = "starts_at", type = "integer", doc = "别名：check_plan 的 plan.starts_at" },
    { name = "ends_at", type = "integer", doc = "别名：check_plan 的 plan.ends_at" },
    { name = "address", type = "string", doc = "别名：check_profile 的 profile.address" },
    { name = "postcode", type = "string", doc = "别名：check_profile 的 profile.postcode" },
    { name = "contact_name", type = "string", doc = "别名：check_profile 的 profile.contact_name" },
    { name = "contact_phone", type = "string", doc = "别名：check_profile 的 profile.contact_phone" },
    { name = "contact_email", type = "string", doc = "别名：check_profile 的 profile.contact_email" },
    { name = "website", type = "string", doc = "别名：check_profile 的 profile.website" },
    { name = "intro", type = "string", doc = "别名：check_profile 的 profile.intro" },
  },
  plan = {
    { name = "id", type = "integer", doc = "计划编号" },
    { name = "year", type = "integer", doc = "年度" },
    { name = "batch", type = "integer", doc = "批次" },
    { name = "title", type = "string", doc = "名称" },
    { name = "mode", type = "string", doc = "by_major | not_by_major" },
    { name = "starts_at", type = "integer", doc = "开始时间（Unix 秒）" },
    { name = "ends_at", type = "integer", doc = "截止时间（Unix 秒）" },
  },
  school = {
    { name = "id", type = "integer", doc = "院校编号" },
    { name = "code", type = "string", doc = "院校代码" },
    { name = "type", type = "string", doc = "本科 | 高职 | 中职 | 技工" },
    { name = "province", type = "string", doc = "省份代码（GB/T 2260 两位）" },
    { name = "city", type = "string", doc = "地市代码" },
  },
  certificate = {
    { name = "id", type = "integer", doc = "证书编号" },
    { name = "code", type = "string", doc = "证书代码" },
    { name = "name", type = "string", doc = "证书名称" },
    { name = "level", type = "string", doc = "等级（初级/中级/高级）" },
    { name = "organization", type = "string", doc = "培训评价组织" },
    { name = "majors", type = "list", items = "certificate_major", doc = "证书对应的专业" },
  },
  certificate_major = {
    { name = "code", type = "string", doc = "专业代码" },
    { name = "name", type = "string", doc = "专业名称" },
    { name = "level", type = "string", doc = "中职 | 高职专科 | 职业本科" },
  },
  declaration = {
    { name = "id", type = "integer", doc = "申报编号（新申报为 nil）" },
    { name = "status", type = "string", doc = "draft | pending | returned | approved | rejected（deadline）" },
    { name = "certificate_id", type = "integer", doc = "所选证书" },
    { name = "majors", type = "list", items = "declaration_major", doc = "拟申报专业" },
    { name = "trainees_total", type = "integer", doc = "申请培训总人数" },
    { name = "faculty_chars", type = "integer", doc = "师资情况的字数" },
    { name = "venue_chars", type = "integer", doc = "场地情况的字数" },
  },
  declaration_major = {
    { name = "major", type = "string", doc = "专业代码" },
    { name = "name", type = "string", doc = "专业名称" },
    { name = "level", type = "string", doc = "专业层次" },
    { name = "students", type = "integer", doc = "本专业在校学生数" },
    { name = "teachers", type = "integer", doc = "本专业专任教师数" },
    { name = "trainees", type = "integer", doc = "申请培训人数" },
  },
  profile = {
    { name = "address", type = "string", doc = "学校地址" },
    { name = "postcode", type = "string", doc = "邮政编码" },
    { name = "contact_name", type = "string", doc = "联系人" },
    { name = "contact_phone", type = "string", doc = "联系电话" },
    { name = "contact_email", type = "string", doc = "联系邮箱" },
    { name = "website", type = "string", doc = "学校网址" },
    { name = "intro", type = "string", doc = "学校简介" },
  },
}

-- What a part is called in an error message.
C.labels = {
  ctx = "ctx", plan = "ctx.plan", school = "ctx.school", certificate = "ctx.certificate",
  certificate_major = "ctx.certificate.majors[i]", declaration = "ctx.declaration",
  declaration_major = "ctx.declaration.majors[i]", profile = "ctx.profile",
}

-- The entries a rule set may return. kind "function": called with one
-- ctx (ctx lists the fields the platform fills for it); "value": read.
C.entries = {
  { name = "name", kind = "value", doc = "规则集名称，显示给管理员" },
  { name = "check_plan", kind = "function", doc = "发布计划前检查计划；返回 {field, code, message} 列表",
    ctx = { "plan", "school", "now", "id", "year", "batch", "title", "mode", "starts_at", "ends_at" } },
  { name = "plan_modes", kind = "value", doc = "计划可用的申报方式（默认 check_plan 读取）" },
  { name = "profile_required", kind = "value", doc = "院校基础信息的必填字段" },
  { name = "profile_labels", kind = "value", doc = "院校基础信息字段的中文名（默认 check_profile 读取）" },
  { name = "check_profile", kind = "function", doc = "检查院校基础信息；返回 {field, code, message} 列表",
    ctx = { "profile", "school", "now", "address", "postcode", "contact_name", "contact_phone",
            "contact_email", "website", "intro" } },
  { name = "declaration_mode", kind = "function", doc = "本计划申报书采用的方式：\"by_major\" 或 \"not_by_major\"",
    ctx = { "plan", "school", "now", "id", "mode", "year" } },
  { name = "deadline", kind = "function", doc = "截止时间政策；返回 {open = bool, code, message}",
    ctx = { "now", "action", "plan", "school", "declaration" } },
  { name = "check_declaration", kind = "function", doc = "检查申报书；返回 {field, code, message} 列表",
    ctx = { "now", "submit", "mode", "plan", "school", "certificate", "declaration", "others_in_plan",
            "declarations_this_year", "approved_last_year" } },
  { name = "review_chain", kind = "function", doc = "审核流程，依次为 \"city\"、\"province\"",
    ctx = { "now", "plan", "school", "declaration" } },
  { name = "school_major_levels", kind = "value", doc = "院校类型 → 可申报的专业层次（默认 major_levels 读取）" },
  { name = "major_levels", kind = "function", doc = "院校可申报的专业层次，本层次在前",
    ctx = { "now", "school" } },
  { name = "params", kind = "value",
    doc = "按年度生效的参数：{ max_trainees = { [2022] = 50, [2024] = 80 } }，用 lib.param(ctx, name) 读取" },
  { name = "err", kind = "value", doc = "兼容：同 lib.err" },
  { name = "blank", kind = "value", doc = "兼容：同 lib.blank" },
  -- the constants of the shipped example provinces (rules/32.lua, rules/44.lua);
  -- a new limit belongs in params
  { name = "min_teachers_per_major", kind = "value", doc = "兼容（江苏示例）：每个专业的最少专任教师数" },
  { name = "grace_days_for_returned", kind = "value", doc = "兼容（江苏示例）：退回的申报在截止后可再提交的天数" },
  { name = "max_certificates_per_plan", kind = "value", doc = "兼容（广东示例）：同一计划内每校最多申报的证书数" },
}

C.lib = {
  { name = "err", signature = "lib.err(list, field, code, message)",
    doc = "向 list 追加一条 {field, code, message}，并记下规则所在行（rule = {file, line}）" },
  { name = "blank", signature = "lib.blank(v) -> boolean", doc = "v 为 nil 或只含空白的字符串" },
  { name = "path", signature = "lib.path(\"majors\", i, \"trainees\") -> \"majors[i-1].trainees\"",
    doc = "字段路径；整数为 Lua 的 1 起下标，写成 0 起的 [i-1]" },
  { name = "param", signature = "lib.param(ctx, name) -> value",
    doc = "params[name] 中不晚于计划年度（ctx.plan.year）的最近年度的值；没有覆盖该年度的值或参数不存在时报错" },
  { name = "today", signature = "lib.today(ctx) -> \"YYYY-MM-DD\"", doc = "ctx.now 的北京日期" },
  { name = "year", signature = "lib.year(ctx) -> integer", doc = "ctx.now 的北京年份" },
}

-- C.entry(name) -> the entry, or nil
function C.entry(name)
  for _, e in ipairs(C.entries) do
    if e.name == name then return e end
  end
  return nil
end

return C
