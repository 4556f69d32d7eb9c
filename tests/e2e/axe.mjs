// axe-core in the browser tests: injects node_modules/axe-core/axe.min.js
// into the page and returns the violations of impact critical or serious
// (each {id, impact, help, nodes: [css target, ...]}).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../lib/server.mjs';

const SOURCE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

export async function axe(page) {
  // evaluated through the driver, which the pages' CSP (no inline scripts) allows
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ') + (window.AXE_HTML ? ' ' + n.html.slice(0, 160) : '')) }));
  });
  return result.filter((v) => v.impact === 'critical' || v.impact === 'serious');
}
