// 待我审核's count, shared by the side menu's badge and the pages that change it:
// a review or a batch review calls refreshTodo(), so the badge is never stale
// after a decision (2026-12-02: it changed only on the next page change).
import { reactive } from 'vue'
import { api } from './api.js'
import { session } from './session.js'

export const todo = reactive({ count: 0 })

let seq = 0
export async function refreshTodo() {
  const me = session.me
  if (!me || !['city', 'province', 'ops'].includes(me.role)) { todo.count = 0; return }
  const my = ++seq
  try {
    const r = await api.get('/api/admin/todo')
    if (my === seq) todo.count = (r && r.pending_for_me) || 0
  } catch { /* the menu keeps the last count */ }
}

// The count as a page already read it (GET /api/admin/todo), without asking again.
export function setTodoCount(n) {
  seq++
  todo.count = Number(n) || 0
}
