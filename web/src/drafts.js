// Local drafts of the declaration form (issue 13): what a school typed is kept in
// localStorage, per account and per declaration (or per plan for a new one), as it
// types, so that nothing is lost when the session ends, the page is closed or a save
// fails; the form offers it back after the next login.
const PREFIX = 'pilot.draft.'

export function draftKey(username, { id, plan }) {
  return PREFIX + encodeURIComponent(username || '') + '.' + (id ? 'd' + id : 'p' + plan)
}

export function readDraft(key) {
  try {
    const v = JSON.parse(localStorage.getItem(key) || 'null')
    return v && typeof v === 'object' && v.form ? v : null
  } catch { return null }
}

export function writeDraft(key, form, extra = {}) {
  try { localStorage.setItem(key, JSON.stringify({ saved_at: new Date().toISOString(), form, ...extra })) } catch { /* full or private mode */ }
}

export function dropDraft(key) {
  try { localStorage.removeItem(key) } catch { /* private mode */ }
}
