// Small composables shared by pages.
import { ref, reactive, onMounted, onBeforeUnmount } from 'vue'
import { api, asPage } from './api.js'
import { showError } from './utils.js'

// True on phone-width screens (forms put labels on top there).
export function useNarrow(limit = 768) {
  const narrow = ref(typeof window !== 'undefined' && window.innerWidth < limit)
  const f = () => { narrow.value = window.innerWidth < limit }
  onMounted(() => window.addEventListener('resize', f))
  onBeforeUnmount(() => window.removeEventListener('resize', f))
  return narrow
}

// A paged list: GET path with filters plus page/size; answers {total, page, size, items}.
export function usePagedList(path, filters, size = 10) {
  const state = reactive({ items: [], total: 0, page: 1, size, loading: false, loaded: false, error: '' })
  let seq = 0
  async function load(page) {
    if (page) state.page = page
    const my = ++seq
    state.loading = true
    try {
      const p = typeof path === 'function' ? path() : path
      const raw = await api.get(p, { ...(typeof filters === 'function' ? filters() : filters), page: state.page, size: state.size })
      if (my !== seq) return
      if (Array.isArray(raw)) {
        // An endpoint that answers the whole list: page it here.
        state.total = raw.length
        state.items = raw.slice((state.page - 1) * state.size, state.page * state.size)
      } else {
        const data = asPage(raw)
        state.items = data.items
        state.total = data.total
      }
      state.error = ''
    } catch (e) {
      if (my !== seq) return
      state.error = e.message
      if (e.status !== 401) showError(e)
    } finally {
      if (my === seq) { state.loading = false; state.loaded = true }
    }
  }
  return { state, load }
}
