// A small hash router: "#/path?query". Routes are matched in order; ":name" segments
// become params. Pages load lazily. The guard asks /api/me once, sends visitors to the
// login page, forces the password change, and keeps each role to its own pages.
import { reactive, shallowRef } from 'vue'
import { session, loadMe, homeOf } from './session.js'

const ADMIN = ['city', 'province', 'ops']

const routes = [
  { path: '/login', page: () => import('./pages/Login.vue'), meta: { public: true, bare: true, title: '登录' } },
  { path: '/register', page: () => import('./pages/Register.vue'), meta: { public: true, bare: true, title: '注册账号' } },
  { path: '/forgot', page: () => import('./pages/ForgotPassword.vue'), meta: { public: true, bare: true, title: '忘记密码' } },
  { path: '/password', page: () => import('./pages/ChangePassword.vue'), meta: { title: '修改密码' } },

  { path: '/school/profile', page: () => import('./pages/SchoolProfile.vue'), meta: { roles: ['school'], title: '完善院校基础信息' } },
  { path: '/school/plans', page: () => import('./pages/Plans.vue'), meta: { roles: ['school'], title: '证书申报计划' } },
  { path: '/school/declare/:plan', page: () => import('./pages/DeclarationForm.vue'), meta: { roles: ['school'], title: '申报证书试点' } },
  { path: '/school/declarations', page: () => import('./pages/Declarations.vue'), meta: { roles: ['school'], title: '证书管理-证书试点申报' } },
  { path: '/school/declarations/:id', page: () => import('./pages/DeclarationView.vue'), meta: { roles: ['school'], title: '查看申报' } },
  { path: '/school/declarations/:id/edit', page: () => import('./pages/DeclarationForm.vue'), meta: { roles: ['school'], title: '编辑申报' } },

  { path: '/admin/todo', page: () => import('./pages/AdminTodo.vue'), meta: { roles: ADMIN, title: '待我审核' } },
  { path: '/admin/schools', page: () => import('./pages/AdminSchools.vue'), meta: { roles: ADMIN, title: '院校总库管理' } },
  { path: '/admin/plans', page: () => import('./pages/AdminPlans.vue'), meta: { roles: ADMIN, title: '申报计划' } },
  { path: '/admin/review', page: () => import('./pages/AdminReview.vue'), meta: { roles: ADMIN, title: '申报审核' } },
  { path: '/admin/review/:id', page: () => import('./pages/AdminReviewDetail.vue'), meta: { roles: ADMIN, title: '申报详情' } },
  { path: '/admin/stats', page: () => import('./pages/AdminStats.vue'), meta: { roles: ADMIN, title: '申报统计' } },
  { path: '/admin/pilot-schools', page: () => import('./pages/AdminPilotSchools.vue'), meta: { roles: ADMIN, title: '试点院校' } },
  { path: '/admin/audit', page: () => import('./pages/AdminAudit.vue'), meta: { roles: ADMIN, title: '操作日志' } },
  { path: '/admin/rules', page: () => import('./pages/AdminRules.vue'), meta: { roles: ADMIN, title: '申报规则' } },
  { path: '/admin/notices', page: () => import('./pages/AdminNotices.vue'), meta: { roles: ADMIN, title: '通知公告' } },

  { path: '/ops/certificates', page: () => import('./pages/OpsCatalog.vue'), meta: { roles: ['ops'], title: '证书目录', catalog: 'certificates' } },
  { path: '/ops/organizations', page: () => import('./pages/OpsCatalog.vue'), meta: { roles: ['ops'], title: '培训评价组织', catalog: 'organizations' } },
  { path: '/ops/majors', page: () => import('./pages/OpsCatalog.vue'), meta: { roles: ['ops'], title: '专业目录', catalog: 'majors' } },
  { path: '/ops/sms', page: () => import('./pages/OpsSms.vue'), meta: { roles: ['ops'], title: '短信发件箱' } },
  { path: '/ops/accounts', page: () => import('./pages/OpsAccounts.vue'), meta: { roles: ['ops'], title: '账号管理' } }
].map(r => ({ ...r, re: compile(r.path) }))

function compile(path) {
  const keys = []
  const src = path.replace(/:([a-z_]+)/gi, (_, k) => { keys.push(k); return '([^/]+)' })
  return { regex: new RegExp('^' + src + '/?$'), keys }
}

// The route being shown; pages read params and query from here.
export const route = reactive({ path: '', fullPath: '', params: {}, query: {}, meta: {} })
// The page component being shown, and a key that changes with every navigation.
export const view = shallowRef(null)
export const viewKey = shallowRef('')
export const navigating = shallowRef(false)

function parse(hash) {
  const raw = (hash || '').replace(/^#/, '') || '/'
  const [p, q = ''] = raw.split('?')
  const query = {}
  for (const [k, v] of new URLSearchParams(q)) query[k] = v
  let path = p
  try { path = decodeURI(p) } catch { /* keep raw */ }
  return { path: path.startsWith('/') ? path : '/' + path, query, fullPath: raw }
}

function match(path) {
  for (const r of routes) {
    const m = r.re.regex.exec(path)
    if (m) {
      const params = {}
      r.re.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]) })
      return { r, params }
    }
  }
  return null
}

export function push(to) {
  if (('#' + to) === location.hash) resolve()
  else location.hash = '#' + to
}

// replace() is also how the session's end sends the user to the login page: no
// leave prompt then (the form keeps a local draft).
export function replace(to) {
  const url = location.href.replace(/#.*$/, '') + '#' + to
  history.replaceState(history.state, '', url)
  resolve({ force: true })
}

// A page with unsaved changes registers a guard: an async function that answers
// whether leaving it is fine (e.g. after asking). Cleared when the page goes.
let leaveGuard = null
export function setLeaveGuard(fn) { leaveGuard = fn }

// Decides where a navigation really goes; returns a path to redirect to, or null.
async function guard(m, target) {
  // Public pages need not know who is there; the others ask /api/me once.
  if (!session.loaded && !(m && m.r.meta.public)) {
    try { await loadMe() } catch { /* server unreachable: treat as logged out */ }
  }
  const me = session.me
  if (!m) return homeOf(me)
  const meta = m.r.meta
  if (meta.public) {
    return null
  }
  if (!me) return '/login?redirect=' + encodeURIComponent(target.fullPath)
  if (me.must_change_password && target.path !== '/password') return '/password'
  if (meta.roles && !meta.roles.includes(me.role)) return homeOf(me)
  return null
}

let seq = 0
async function resolve(opts = {}) {
  const target = parse(location.hash)
  // the address put back after a refused leave, or an entry of the same page
  if (opts.fromHash && target.fullPath === route.fullPath) return
  if (leaveGuard && !opts.force && route.fullPath && target.fullPath !== route.fullPath) {
    const from = route.fullPath
    const ok = await leaveGuard()
    if (!ok) {
      // stay: put the address back (the side menu, a link or the browser's back)
      history.replaceState(history.state, '', location.href.replace(/#.*$/, '') + '#' + from)
      return
    }
    leaveGuard = null
  }
  const my = ++seq
  const m = match(target.path)
  navigating.value = true
  try {
    const redirect = await guard(m, target)
    if (my !== seq) return
    if (redirect && redirect !== target.fullPath) { replace(redirect); return }
    const mod = await m.r.page()
    if (my !== seq) return
    route.path = target.path
    route.fullPath = target.fullPath
    route.query = target.query
    route.params = m.params
    route.meta = m.r.meta
    view.value = mod.default
    viewKey.value = target.fullPath + '#' + my
    document.title = (m.r.meta.title ? m.r.meta.title + ' - ' : '') + '职业技能等级证书信息管理服务平台'
    window.scrollTo(0, 0)
  } catch (e) {
    // A chunk that failed to load (e.g. after a redeploy): reload once.
    console.warn('navigation failed', e)
  } finally {
    if (my === seq) navigating.value = false
  }
}

export function startRouter() {
  window.addEventListener('hashchange', () => resolve({ fromHash: true }))
  return resolve()
}

// Changes the address without reloading the page (e.g. a new draft got its id).
export function setUrl(to) {
  const url = location.href.replace(/#.*$/, '') + '#' + to
  history.replaceState(history.state, '', url)
  const t = parse('#' + to)
  const m = match(t.path)
  route.path = t.path
  route.fullPath = t.fullPath
  route.query = t.query
  if (m) route.params = m.params
}
