// Formatting and form helpers shared by the pages.
import { ElMessage } from 'element-plus'

export const STATUS = {
  draft: { text: '草稿', type: 'info' },
  pending: { text: '待审核', type: 'warning' },
  approved: { text: '审核通过', type: 'success' },
  rejected: { text: '审核不通过', type: 'danger' },
  returned: { text: '退回修改', type: 'danger' }
}

export const LEVELS = { city: '市级', province: '省级' }

export const DECISIONS = { approve: '审核通过', reject: '审核不通过', return: '退回修改', submit: '提交', resubmit: '重新提交' }

// Whether me may review declaration d now: pending at me's level (ops: any level).
export function canReviewAt(d, me) {
  if (!d || d.status !== 'pending' || !me) return false
  if (d.can_review !== undefined) return !!d.can_review
  return me.role === 'ops' || d.review_level === me.role
}

export const MODES = { by_major: '按专业申报', not_by_major: '不按专业申报' }

export const PLAN_STATES = {
  upcoming: { text: '未开始', type: 'info' },
  open: { text: '进行中', type: 'success' },
  closed: { text: '已结束', type: 'info' }
}

export const SCHOOL_TYPES = ['本科', '高职', '中职', '技工']

const DIGITS = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九', '十']

// 1 → 第一次, 12 → 第十二次 (the manual's way to name a batch).
export function batchName(b) {
  if (b === undefined || b === null || b === '') return ''
  if (typeof b === 'string' && !/^\d+$/.test(b)) return b
  const n = Number(b)
  let s
  if (n <= 10) s = DIGITS[n]
  else if (n < 20) s = '十' + DIGITS[n % 10]
  else if (n < 100) s = DIGITS[Math.floor(n / 10)] + '十' + (n % 10 ? DIGITS[n % 10] : '')
  else s = String(n)
  return '第' + s + '次'
}

export function statusText(d) {
  const st = STATUS[d && d.status]
  if (!st) return (d && d.status) || ''
  if (d.status === 'pending' && LEVELS[d.review_level]) return st.text + '（' + LEVELS[d.review_level] + '）'
  return st.text
}

export function statusType(s) { return (STATUS[s] && STATUS[s].type) || 'info' }

// Beijing wall time: plan windows are set and read in UTC+8 whatever the browser's zone.
const BJ = 8 * 3600 * 1000
function pad(n) { return String(n).padStart(2, '0') }

// ISO time → "YYYY-MM-DD HH:mm:ss" in Beijing time.
export function toBeijingWall(iso) {
  if (!iso) return ''
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return String(iso)
  const d = new Date(t + BJ)
  return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
    pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds())
}

// "YYYY-MM-DD HH:mm:ss" read as Beijing time → "YYYY-MM-DDTHH:mm:ss+08:00".
export function fromBeijingWall(wall) {
  if (!wall) return ''
  return String(wall).trim().replace(' ', 'T') + '+08:00'
}

export function fmtTime(iso) { return toBeijingWall(iso).slice(0, 16) }

export function fmtDate(iso) { return toBeijingWall(iso).slice(0, 10) }

// Server errors → {field path: message}; several messages for one field are joined.
export function fieldErrors(err) {
  const out = {}
  for (const f of (err && err.fields) || []) {
    if (!f || !f.field) continue
    out[f.field] = out[f.field] ? out[f.field] + '；' + f.message : (f.message || f.code)
  }
  return out
}

export function showError(err, fallback) {
  const msg = (err && err.fromServer && err.message) || fallback || (err && err.message) || '操作失败'
  ElMessage({ type: 'error', message: msg, grouping: true, showClose: true })
}

// An error whose fields have no form to sit in: the message and each field's message.
export function showErrorWithFields(err) {
  const extra = ((err && err.fields) || []).map(f => f.message).filter(Boolean)
  ElMessage({ type: 'error', message: (err && err.message) + (extra.length ? '：' + extra.join('；') : ''), grouping: true, showClose: true })
}

export function showOk(msg) { ElMessage({ type: 'success', message: msg, grouping: true }) }

// Copies an errors object's entries into a reactive one (replacing what was there).
export function setErrors(target, src) {
  for (const k of Object.keys(target)) delete target[k]
  Object.assign(target, src || {})
}

// Visible characters of rich text: its text without tags or line breaks, counted in
// Unicode code points (the server's limit of 1000 counts the same way).
export function visibleLength(text) {
  return Array.from(String(text || '').replace(/[\r\n]/g, '')).length
}

export function htmlVisibleLength(html) {
  if (!html) return 0
  const doc = new DOMParser().parseFromString(String(html), 'text/html')
  return visibleLength(doc.body.textContent || '')
}

// Allowlist sanitizer for showing stored rich text (the server sanitizes too).
const ALLOWED = new Set(['P', 'BR', 'B', 'STRONG', 'I', 'EM', 'U', 'S', 'DEL', 'SPAN', 'UL', 'OL', 'LI',
  'H1', 'H2', 'H3', 'H4', 'H5', 'BLOCKQUOTE', 'PRE', 'CODE', 'SUB', 'SUP', 'TABLE', 'THEAD', 'TBODY',
  'TR', 'TD', 'TH', 'A', 'HR', 'DIV', 'FONT'])
const ATTRS = new Set(['style', 'href', 'colspan', 'rowspan', 'color'])
export function sanitizeHtml(html) {
  if (!html) return ''
  const doc = new DOMParser().parseFromString(String(html), 'text/html')
  const walk = (node) => {
    for (const child of Array.from(node.children)) {
      if (!ALLOWED.has(child.tagName)) {
        if (['SCRIPT', 'STYLE', 'IFRAME', 'OBJECT', 'EMBED'].includes(child.tagName)) { child.remove(); continue }
        walk(child)
        child.replaceWith(...Array.from(child.childNodes))
        continue
      }
      for (const a of Array.from(child.attributes)) {
        const name = a.name.toLowerCase()
        if (!ATTRS.has(name)) child.removeAttribute(a.name)
        else if (name === 'href' && !/^(https?:|mailto:)/i.test(a.value.trim())) child.removeAttribute(a.name)
        else if (name === 'style' && /url\s*\(|expression/i.test(a.value)) child.removeAttribute(a.name)
      }
      if (child.tagName === 'A') { child.setAttribute('rel', 'noopener noreferrer'); child.setAttribute('target', '_blank') }
      walk(child)
    }
  }
  walk(doc.body)
  return doc.body.innerHTML
}

// First non-empty of several possible field names (tolerates small shape differences).
export function pick(obj, ...keys) {
  if (!obj) return undefined
  for (const k of keys) {
    const v = k.split('.').reduce((o, p) => (o == null ? undefined : o[p]), obj)
    if (v !== undefined && v !== null && v !== '') return v
  }
  return undefined
}

function nameOf(v) { return v && typeof v === 'object' ? v.name : v }
// The certificate's name with its level, e.g. "…职业技能等级证书(初级)".
export function certName(d) {
  const name = nameOf(pick(d, 'certificate_name', 'certificate'))
  const level = pick(d, 'certificate_level', 'certificate.level')
  return name && level && typeof level === 'string' && !String(name).includes(level) ? name + '（' + level + '）' : name
}
export function orgName(d) { return nameOf(pick(d, 'organization_name', 'organization', 'certificate.organization_name', 'certificate.organization')) }
export function schoolName(d) { return nameOf(pick(d, 'school_name', 'school')) }
export function cityName(d) { return pick(d, 'city_name', 'school.city_name') || nameOf(pick(d, 'city')) }

// 操作日志: the actions the server records, in the platform's words (unknown ones are shown raw).
export const AUDIT_ACTIONS = {
  'declaration.create': '新建申报',
  'declaration.update': '修改申报',
  'declaration.delete': '删除申报',
  'declaration.submit': '提交申报',
  'declaration.approve': '审核通过',
  'declaration.return': '退回修改',
  'declaration.reject': '审核不通过',
  'plan.create': '新增计划',
  'plan.update': '修改计划',
  'plan.delete': '删除计划',
  'plan.publish': '发布计划',
  'plan.extend': '延期',
  'plan.close': '提前结束',
  'school.create': '新增院校',
  'school.update': '修改院校',
  'school.import': '导入院校',
  'school.profile': '完善院校基础信息',
  'account.register': '注册账号',
  'account.login': '登录',
  'account.login_failed': '登录失败',
  'account.logout': '退出登录',
  'account.reset_requested': '申请找回密码',
  'account.create': '新增管理员账号',
  'account.phone': '更换绑定手机',
  'account.password': '修改密码',
  'account.password_reset': '找回密码',
  'account.reset_password': '重置密码',
  'account.unlock': '解锁账号',
  'certificate.create': '新增证书',
  'certificate.update': '修改证书',
  'organization.create': '新增培训评价组织',
  'organization.update': '修改培训评价组织',
  'major.create': '新增专业',
  'major.update': '修改专业',
  'rules.reload': '重新加载规则',
  'notice.create': '发布通知公告',
  'notice.update': '修改通知公告',
  'notice.delete': '删除通知公告',
  'attachment.upload': '上传证明材料',
  'attachment.delete': '删除证明材料'
}

export const AUDIT_ENTITIES = {
  declaration: '申报',
  plan: '申报计划',
  school: '院校',
  account: '账号',
  certificate: '证书',
  organization: '培训评价组织',
  major: '专业',
  rules: '申报规则',
  notice: '通知公告'
}

// before/after status values of the log, by entity; unknown ones raw.
const AUDIT_STATES = {
  declaration: { draft: '草稿', pending: '待审核', approved: '审核通过', rejected: '审核不通过', returned: '退回修改' },
  plan: { draft: '未发布', published: '已发布' },
  school: { active: '启用', inactive: '停用' },
  account: { active: '正常' },
  rules: { refused: '未生效', unchanged: '未变化', reloaded: '已重新加载' }
}
export function auditState(entity, v) {
  if (v === undefined || v === null || v === '') return ''
  return (AUDIT_STATES[entity] && AUDIT_STATES[entity][v]) || String(v)
}

const DETAIL_KEYS = {
  level: '级别', review_level: '审核级别', next_level: '下一审核级别', comment: '意见', code: '代码', name: '名称',
  city: '城市', from: '原截止时间', to: '新截止时间', rules_version: '规则版本', version: '规则版本', message: '说明',
  username: '账号', school_id: '院校编号', phone: '手机号', pinned: '置顶', title: '标题'
}
// A log row's detail object as "键:值" parts in Chinese where known.
export function auditDetail(detail, entity) {
  if (detail === undefined || detail === null || detail === '') return []
  if (typeof detail !== 'object') return [String(detail)]
  return Object.entries(detail).filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => {
    let val = v
    if ((k === 'level' || k === 'review_level' || k === 'next_level') && LEVELS[v]) val = LEVELS[v]
    else if ((k === 'from' || k === 'to') && typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) val = fmtTime(v)
    else if (typeof v === 'object') val = JSON.stringify(v)
    // from/to are a plan's deadlines, but an account's phone numbers
    const key = k === 'level' && entity === 'declaration' ? '审核级别'
      : (k === 'from' || k === 'to') && entity === 'account' ? (k === 'from' ? '原手机号' : '新手机号')
        : k === 'role' ? '角色' : (DETAIL_KEYS[k] || k)
    if (k === 'role') val = { city: '地市级教育行政部门', province: '省级教育行政部门', school: '院校', ops: '平台运维' }[v] || val
    if (k === 'pinned') val = v ? '是' : '否'
    return key + '：' + val
  })
}

// An attachment's limit: 10 MiB, called "10 MB" on every page, in the server's
// refusal (scripts/attachments.lua, host/http.c) and in the sizes listed (1 MB = 1,048,576 bytes).
export const ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
export const ATTACHMENT_LIMIT_TEXT = '10 MB（10,485,760 字节）'
