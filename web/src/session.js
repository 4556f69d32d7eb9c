// The logged-in user (GET /api/me), shared by every page.
import { reactive } from 'vue'
import { api, setCsrfToken } from './api.js'

export const session = reactive({
  me: null,        // {username, role, csrf_token, must_change_password, province, city, school_id, ...}
  loaded: false    // /api/me has been asked at least once
})

// A hint (not a secret) that this browser has a session, so that visitors who never
// logged in are not greeted by a 401 from /api/me.
const HINT = 'pilot.session'
export function hasSessionHint() {
  try { return localStorage.getItem(HINT) === '1' } catch { return true }
}
function setHint(on) {
  try { if (on) localStorage.setItem(HINT, '1'); else localStorage.removeItem(HINT) } catch { /* private mode */ }
}

export async function loadMe() {
  if (!hasSessionHint()) { setMe(null); session.loaded = true; return null }
  try {
    const me = await api.get('/api/me', undefined, { quiet401: true })
    setMe(me)
  } catch (e) {
    if (e.status !== 401 && e.status !== 403) { session.loaded = true; throw e }
    setMe(null)
  }
  session.loaded = true
  return session.me
}

export function setMe(me) {
  session.me = me || null
  setHint(!!me)
  setCsrfToken(me && me.csrf_token)
}

export async function login(username, password) {
  const r = await api.post('/api/login', { username, password }, { quiet401: true })
  setCsrfToken(r && r.csrf_token)
  // /api/me carries the rest (province, school, names); fall back to the login answer.
  try {
    const me = await api.get('/api/me', undefined, { quiet401: true })
    setMe({ ...r, ...me, csrf_token: (me && me.csrf_token) || r.csrf_token })
  } catch {
    setMe({ ...r, username })
  }
  session.loaded = true
  return session.me
}

export async function logout() {
  try { await api.post('/api/logout', {}, { quiet401: true }) } catch { /* already gone */ }
  setMe(null)
}

export const ROLE_NAMES = { school: '院校', city: '地市级教育行政部门', province: '省级教育行政部门', ops: '平台运维' }

export function isAdmin(me) { return !!me && ['city', 'province', 'ops'].includes(me.role) }

// Where each role lands after logging in.
export function homeOf(me) {
  if (!me) return '/login'
  if (me.must_change_password) return '/password'
  if (me.role === 'school') return '/school/declarations'
  // admins start at 待我审核 (issue 14)
  return '/admin/todo'
}
