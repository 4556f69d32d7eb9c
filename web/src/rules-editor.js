// CodeMirror 6 for the rule workbench (申报规则): a Lua editor with line numbers, lint
// diagnostics in the gutter, the lines no test case ran marked in a gutter of their own,
// completion from the rule contract, and a side-by-side comparison (MergeView).
// Loaded with a dynamic import by AdminRules.vue only, so no other page carries it.
import { EditorView, basicSetup } from 'codemirror'
import { EditorState, Compartment, StateEffect, StateField, RangeSet } from '@codemirror/state'
import { GutterMarker, gutter, Decoration } from '@codemirror/view'
import { StreamLanguage } from '@codemirror/language'
import { lua } from '@codemirror/legacy-modes/mode/lua'
import { setDiagnostics, lintGutter } from '@codemirror/lint'
import { MergeView, unifiedMergeView } from '@codemirror/merge'

const luaLanguage = StreamLanguage.define(lua)

// Colours chosen for WCAG AA contrast (CodeMirror's grey line numbers on grey fall short).
const theme = EditorView.theme({
  '&': { fontSize: '13px', border: '1px solid #dcdfe6', borderRadius: '4px', backgroundColor: '#fff' },
  '&.cm-focused': { outline: '2px solid #1f5ea8', outlineOffset: '1px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', lineHeight: '1.55' },
  '.cm-gutters': { backgroundColor: '#f5f7fa', color: '#4a4d52', borderRight: '1px solid #dcdfe6' },
  '.cm-activeLineGutter': { backgroundColor: '#dde8f5', color: '#1f2d3d' },
  '.cm-coverage-gutter .cm-gutterElement': { width: '12px', textAlign: 'center', color: '#8a4b00', fontWeight: '700' },
  '.cm-line-missed': { backgroundColor: '#fdf3e3' },
  '.cm-line-error': { backgroundColor: '#fdecec' },
  '.cm-tooltip-autocomplete ul li[aria-selected]': { backgroundColor: '#1f5ea8', color: '#fff' },
  '.cm-completionDetail': { color: '#4a4d52', opacity: '1' },
  '.cm-tooltip-autocomplete ul li[aria-selected] .cm-completionDetail': { color: '#fff' },
  '.cm-completionMatchedText': { textDecoration: 'underline' },
  '.cm-placeholder': { color: '#646669' }
})

// ---- the lines no case ran ---------------------------------------------------------

const setMissedEffect = StateEffect.define()

class MissedMarker extends GutterMarker {
  toDOM() {
    const s = document.createElement('span')
    s.textContent = '○'
    s.title = '未被任何测试用例执行'
    s.className = 'cm-missed-marker'
    return s
  }
}
const missedMarker = new MissedMarker()
const missedLine = Decoration.line({ class: 'cm-line-missed' })

// The missed lines as a set of line starts; cleared by any edit (the numbers no longer hold).
const missedField = StateField.define({
  create: () => ({ lines: [], markers: RangeSet.empty, decos: Decoration.none }),
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setMissedEffect)) return build(tr.state, e.value)
    if (tr.docChanged && value.lines.length) return build(tr.state, [])
    return value
  },
  provide: f => EditorView.decorations.from(f, v => v.decos)
})

function build(state, lines) {
  const ok = [...new Set(lines)].filter(n => Number.isInteger(n) && n >= 1 && n <= state.doc.lines).sort((a, b) => a - b)
  const starts = ok.map(n => state.doc.line(n).from)
  return {
    lines: ok,
    markers: RangeSet.of(starts.map(p => missedMarker.range(p))),
    decos: Decoration.set(starts.map(p => missedLine.range(p)))
  }
}

const coverageGutter = gutter({
  class: 'cm-coverage-gutter',
  markers: view => view.state.field(missedField).markers,
  initialSpacer: () => missedMarker
})

// ---- completion from the contract ----------------------------------------------------

// contract() gives {entries, ctx, lib} (GET /api/admin/rules/contract) or null. Its ctx
// maps part names to fields {name, type, doc, part?, items?}; the part "ctx" is the
// top level, a field with `part` leads to that part, a list's `items` to its elements'.
function fieldsAt(c, path) {
  const parts = c.ctx || {}
  let fields = parts.ctx || Object.keys(parts).map(p => ({ name: p, type: p, part: p }))
  for (const seg of path) {
    const indexed = /\[[^\]]*\]$/.test(seg)
    const f = (fields || []).find(x => x.name === seg.replace(/\[[^\]]*\]$/, ''))
    if (!f) return null
    const next = indexed ? f.items : (f.part || (f.type !== 'list' && parts[f.type] ? f.type : null))
    if (!next || !parts[next]) return null
    fields = parts[next]
  }
  return fields
}

function completer(contract) {
  return (context) => {
    const c = contract()
    if (!c) return null
    const m = context.matchBefore(/[A-Za-z_]\w*(?:\[[^\]\n]*\])?(?:\.\w*(?:\[[^\]\n]*\])?)*$/)
    if (!m || (m.from === m.to && !context.explicit)) return null
    const segs = m.text.split('.')
    const word = segs.pop()
    if (/\[/.test(word)) return null
    const from = m.to - word.length
    const head = segs[0]
    const entries = (c.entries || []).map(e => ({ label: e.name, type: e.kind === 'value' ? 'property' : 'function', detail: e.kind === 'function' ? '规则入口' : '规则参数', info: e.doc || undefined }))
    let options = []
    if (!segs.length) {
      // a bare word: the roots on Ctrl-Space only (never in the way of typing Lua)
      if (!context.explicit) return null
      options = [{ label: 'ctx', type: 'variable', info: '规则入口的参数' }, { label: 'lib', type: 'namespace', info: '规则可用的辅助函数' }, { label: 'base', type: 'variable', info: '全国默认规则（合并后）' }]
    } else if ((head === 'R' || head === 'base') && segs.length === 1) {
      options = entries
    } else if (head === 'lib' && segs.length === 1) {
      options = (c.lib || []).map(h => ({ label: String(h.name || '').replace(/^lib\./, ''), type: 'function', detail: h.signature || '', info: h.doc || undefined }))
    } else if (head === 'ctx') {
      const fields = fieldsAt(c, segs.slice(1))
      if (fields) options = fields.map(f => ({ label: f.name, type: f.part || f.items ? 'namespace' : 'property', detail: f.type || '', info: f.doc || undefined }))
    }
    if (!options.length) return null
    return { from, options, validFor: /^\w*$/ }
  }
}

// ---- the editor ----------------------------------------------------------------------

// Makes an editor in parent. opts: {doc, readOnly, label, contract: () => contract|null,
// onChange(text)}. Returns a small controller; the caller destroys it.
export function createEditor(parent, opts = {}) {
  const ro = new Compartment()
  const roExt = on => [EditorState.readOnly.of(!!on), EditorView.contentAttributes.of({ 'aria-readonly': on ? 'true' : 'false' })]
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: opts.doc || '',
      extensions: [
        basicSetup,
        luaLanguage,
        luaLanguage.data.of({ autocomplete: completer(opts.contract || (() => null)) }),
        lintGutter(),
        missedField,
        coverageGutter,
        theme,
        EditorView.lineWrapping,
        // tabindex: axe asks a scrolling region for focusable content, and reads a
        // contenteditable without one as not focusable
        EditorView.contentAttributes.of({ 'aria-label': opts.label || '规则源码', tabindex: '0' }),
        ro.of(roExt(opts.readOnly)),
        EditorView.updateListener.of(u => { if (u.docChanged && opts.onChange) opts.onChange(u.state.doc.toString()) })
      ]
    })
  })
  // Line numbers are shown, not read: keep them out of the accessibility tree.
  for (const g of view.dom.querySelectorAll('.cm-gutters')) g.setAttribute('aria-hidden', 'true')
  return {
    view,
    getDoc: () => view.state.doc.toString(),
    setDoc(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text || '' } })
      view.dispatch(setDiagnostics(view.state, []))
    },
    setReadOnly(on) { view.dispatch({ effects: ro.reconfigure(roExt(on)) }) },
    // items: [{line, message, severity: 'error'|'warning'}]; a line outside the text goes to line 1.
    setDiagnostics(items) {
      const doc = view.state.doc
      const diags = (items || []).map(d => {
        const n = Math.min(Math.max(Number(d.line) || 1, 1), doc.lines)
        const l = doc.line(n)
        return { from: l.from, to: l.to, severity: d.severity || 'error', message: d.message || '', source: d.source || undefined }
      })
      view.dispatch(setDiagnostics(view.state, diags))
    },
    setMissed(lines) { view.dispatch({ effects: setMissedEffect.of(lines || []) }) },
    missed: () => view.state.field(missedField).lines,
    gotoLine(n) {
      const doc = view.state.doc
      const l = doc.line(Math.min(Math.max(Number(n) || 1, 1), doc.lines))
      view.dispatch({ selection: { anchor: l.from, head: l.to }, effects: EditorView.scrollIntoView(l.from, { y: 'center' }) })
      view.focus()
    },
    destroy() { view.destroy() }
  }
}

// Two texts compared in parent: side by side (MergeView), or one unified text with the
// changes marked (narrow screens). Both read-only. Returns {destroy}.
export function createMerge(parent, { a, b, labelA, labelB, unified }) {
  const common = label => [
    basicSetup, luaLanguage, theme, EditorView.lineWrapping, EditorState.readOnly.of(true),
    EditorView.contentAttributes.of({ 'aria-label': label, 'aria-readonly': 'true', tabindex: '0' })
  ]
  let view
  if (unified) {
    view = new EditorView({
      parent,
      state: EditorState.create({ doc: b, extensions: [...common(labelB + '（与' + labelA + '对比）'), unifiedMergeView({ original: a, mergeControls: false, syntaxHighlightDeletions: true })] })
    })
  } else {
    view = new MergeView({ a: { doc: a, extensions: common(labelA) }, b: { doc: b, extensions: common(labelB) }, parent, highlightChanges: true, gutter: true })
  }
  for (const g of parent.querySelectorAll('.cm-gutters')) g.setAttribute('aria-hidden', 'true')
  return { view, destroy: () => view.destroy() }
}
