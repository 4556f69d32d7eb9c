// Accessible names that Element Plus and wangEditor leave out and offer no
// prop for: the page-size select of every pagination (每页条数) and the
// icon buttons of the editor toolbars (named from their tooltips). A
// MutationObserver names them as they are rendered.
const NAMES = [
  ['.el-pagination__sizes input:not([aria-label])', () => '每页条数'],
  ['.w-e-bar-item button:not([aria-label])', (el) => el.getAttribute('data-tooltip') || el.textContent.trim() || '编辑器按钮'],
  ['.w-e-bar-item-group button:not([aria-label])', (el) => el.getAttribute('data-tooltip') || el.textContent.trim() || '更多'],
]

function nameAll(root) {
  for (const [sel, name] of NAMES) {
    for (const el of root.querySelectorAll(sel)) el.setAttribute('aria-label', name(el))
  }
}

export function startA11y() {
  let pending = false
  const obs = new MutationObserver(() => {
    if (pending) return
    pending = true
    requestAnimationFrame(() => { pending = false; nameAll(document) })
  })
  obs.observe(document.body, { childList: true, subtree: true })
  nameAll(document)
}
