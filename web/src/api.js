// The platform's HTTP API, called with fetch on same-origin paths (/api/...).
// Sends the session cookie, and the X-CSRF-Token header on POST/PUT/DELETE.
// Every failure is thrown as an ApiError carrying status, code, message and fields.

let csrfToken = ''
let unauthorizedHandler = null

export function setCsrfToken(token) { csrfToken = token || '' }

// Called on any 401 (session gone); the router sends the user to the login page.
export function onUnauthorized(fn) { unauthorizedHandler = fn }

const STATUS_MESSAGES = {
  0: '网络连接失败,请检查网络后重试',
  400: '请求格式有误',
  401: '请先登录',
  403: '没有权限执行此操作',
  404: '数据不存在或无权查看',
  409: '当前状态不允许此操作',
  413: '提交的内容过大',
  422: '填写的信息有误,请检查',
  429: '操作过于频繁,请稍后再试',
  500: '服务器错误,请稍后再试'
}

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && typeof body === 'object' && body.error) || {}
    super(e.message || STATUS_MESSAGES[status] || (status >= 500 ? STATUS_MESSAGES[500] : '请求失败(' + status + ')'))
    this.name = 'ApiError'
    this.fromServer = !!e.message
    this.status = status
    this.code = e.code || String(status)
    this.fields = Array.isArray(e.fields) ? e.fields : []
    this.body = body && typeof body === 'object' ? body : null
  }
}

// Builds "?a=1&b=2" from an object, leaving out empty values.
export function qs(params) {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue
    u.append(k, String(v))
  }
  const s = u.toString()
  return s ? '?' + s : ''
}

async function request(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken
  let res
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch {
    throw new ApiError(0, null)
  }
  const text = await res.text()
  let data = null
  if (text) {
    try { data = JSON.parse(text) } catch { data = null }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data)
    if (res.status === 401 && !opts.quiet401 && unauthorizedHandler) unauthorizedHandler(err)
    throw err
  }
  return data
}

export const api = {
  get: (path, params, opts) => request('GET', path + qs(params), undefined, opts),
  post: (path, body, opts) => request('POST', path, body === undefined ? {} : body, opts),
  put: (path, body, opts) => request('PUT', path, body, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts)
}

// Lists may come as a bare array or as {total, page, size, items}; always give the latter.
export function asPage(data) {
  if (Array.isArray(data)) return { total: data.length, page: 1, size: data.length, items: data }
  if (data && Array.isArray(data.items)) return { total: data.total ?? data.items.length, page: data.page ?? 1, size: data.size ?? data.items.length, items: data.items }
  return { total: 0, page: 1, size: 0, items: [] }
}

export function asList(data) { return asPage(data).items }
