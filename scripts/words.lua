-- words: the platform's words for the codes it stores (audit actions,
-- statuses, SMS templates), so that pages, Excel files and messages say
-- the same thing. Unknown codes are shown as they are.
local util = require "util"

local words = {}

words.STATUS = { draft = "草稿", pending = "待审核", approved = "审核通过", rejected = "审核不通过",
                 returned = "退回修改" }
words.LEVEL = util.LEVEL_NAMES
words.DECISION = { submit = "提交", approve = "审核通过", reject = "审核不通过", ["return"] = "退回修改" }
words.ROLE = { school = "院校", city = "地市级教育行政部门", province = "省级教育行政部门", ops = "平台运维" }

words.ACTION = {
  ["declaration.create"] = "新建申报", ["declaration.update"] = "修改申报",
  ["declaration.delete"] = "删除申报", ["declaration.submit"] = "提交申报",
  ["declaration.approve"] = "审核通过", ["declaration.return"] = "退回修改",
  ["declaration.reject"] = "审核不通过",
  ["plan.create"] = "新增计划", ["plan.update"] = "修改计划", ["plan.delete"] = "删除计划",
  ["plan.publish"] = "发布计划", ["plan.extend"] = "延期", ["plan.close"] = "提前结束",
  ["school.create"] = "新增院校", ["school.update"] = "修改院校", ["school.import"] = "导入院校",
  ["school.profile"] = "完善院校基础信息",
  ["account.register"] = "注册账号", ["account.login"] = "登录", ["account.login_failed"] = "登录失败",
  ["account.logout"] = "退出登录", ["account.password"] = "修改密码",
  ["account.reset_requested"] = "申请找回密码", ["account.password_reset"] = "找回密码",
  ["account.reset_password"] = "重置密码", ["account.unlock"] = "解锁账号",
  ["account.create"] = "新增管理员账号", ["account.phone"] = "更换绑定手机",
  ["certificate.create"] = "新增证书", ["certificate.update"] = "修改证书",
  ["organization.create"] = "新增培训评价组织", ["organization.update"] = "修改培训评价组织",
  ["major.create"] = "新增专业", ["major.update"] = "修改专业",
  ["rules.reload"] = "重新加载规则", ["rules.push"] = "新建规则版本", ["rules.publish"] = "发布规则版本",
  ["rules.rollback"] = "回滚规则版本", ["rules.cases"] = "保存规则测试用例",
  ["rules.shadow"] = "开始影子运行", ["rules.shadow_stop"] = "停止影子运行",
  ["notice.create"] = "发布通知公告", ["notice.update"] = "修改通知公告", ["notice.delete"] = "删除通知公告",
  ["attachment.upload"] = "上传证明材料", ["attachment.delete"] = "删除证明材料",
}

words.ENTITY = { declaration = "申报", plan = "申报计划", school = "院校", account = "账号",
                 certificate = "证书", organization = "培训评价组织", major = "专业", rules = "申报规则",
                 notice = "通知公告" }

local STATE = {
  declaration = words.STATUS,
  plan = { draft = "未发布", published = "已发布" },
  school = { active = "启用", inactive = "停用" },
  account = { active = "正常" },
  rules = { refused = "未生效", unchanged = "未变化", reloaded = "已重新加载",
            draft = "草稿", published = "已发布", retired = "已停用", shadow = "影子运行" },
}

-- words.state(entity, code) -> the status in words ("" for nil)
function words.state(entity, v)
  if v == nil then return "" end
  return (STATE[entity] and STATE[entity][v]) or tostring(v)
end

words.SMS_TEMPLATE = { register = "注册账号", reset_code = "找回密码验证码", password_reset = "重置密码",
                       review = "审核结果", admin_account = "管理员账号开通", phone_changed = "更换绑定手机" }

local DETAIL = {
  level = "审核级别", review_level = "审核级别", next_level = "下一审核级别", comment = "意见",
  code = "代码", name = "名称", city = "城市", from = "原值", to = "新值",
  rules_version = "规则版本", version = "规则版本", message = "说明", username = "账号",
  school_id = "院校编号", phone = "手机号", role = "角色",
  set = "规则集", version_id = "规则版本号", replaced = "被替换的版本", sha256 = "SHA-256",
  note = "备注", published = "已发布的规则文件", rules_version_id = "规则版本号",
  evaluated = "已评估", diverged = "结论不同",
}

-- words.detail(detail) -> "审核级别：市级；意见：…" for a log row's detail
function words.detail(d)
  if type(d) ~= "table" then return d and tostring(d) or "" end
  local keys = {}
  for k in pairs(d) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = d[k]
    if v == require("json").null then goto continue end
    if (k == "level" or k == "next_level" or k == "review_level") and words.LEVEL[v] then v = words.LEVEL[v] end
    if k == "role" and words.ROLE[v] then v = words.ROLE[v] end
    if type(v) == "table" then v = require("json").encode(v) end
    parts[#parts + 1] = (DETAIL[k] or k) .. "：" .. tostring(v)
    ::continue::
  end
  return table.concat(parts, "；")
end

return words
