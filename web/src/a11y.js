// Accessible names that Element Plus and wangEditor leave out and offer no
// prop for: the page-size select of every pagination (每页条数), the icon
// buttons of the editor toolbars (named from their tooltips) and the
// editors' editing areas. A MutationObserver names them as they are
// rendered (setting an attribute only when it changes, so that it does not
// wake itself).
// A toolbar button's name: its tooltip's first line (粗体, not its shortcut), with the
// visible text after it where there is one (标题：正文), so that name and label agree.
function toolName(el) {
  const tip = (el.getAttribute('data-tooltip') || '').split('\n')[0].trim()
  const text = el.textContent.trim()
  if (tip && text && text !== tip) return tip + '：' + text
  return tip || text || '编辑器按钮'
}

const NAMES = [
  ['.el-pagination__sizes input:not([aria-label])', () => '每页条数'],
  ['.w-e-bar-item button:not(.select-button):not([aria-label])', toolName],
  // a select button shows the current choice (正文, H1 …): renamed as it changes
  ['.w-e-bar-item .select-button', toolName],
]

// wangEditor gives its editing area role="textarea", which is no ARIA role: a textbox,
// named by the field it belongs to (the wrapper's data-name, e.g. 师资情况).
function fixEditors(root) {
  for (const el of root.querySelectorAll('[id^="w-e-textarea-"]')) {
    if (el.getAttribute('role') === 'textbox') continue
    el.setAttribute('role', 'textbox')
    el.setAttribute('aria-multiline', 'true')
    const wrap = el.closest('[data-name]')
    if (wrap && wrap.dataset.name) el.setAttribute('aria-label', wrap.dataset.name)
  }
}

function nameAll(root) {
  for (const [sel, name] of NAMES) {
    for (const el of root.querySelectorAll(sel)) {
      const n = name(el)
      if (el.getAttribute('aria-label') !== n) el.setAttribute('aria-label', n)
    }
  }
  fixEditors(root)
}

export function startA11y() {
  let pending = false
  const obs = new MutationObserver(() => {
    if (pending) return
    pending = true
    requestAnimationFrame(() => { pending = false; nameAll(document) })
  })
  obs.observe(document.body, { childList: true, subtree: true, characterData: true })
  nameAll(document)
}
