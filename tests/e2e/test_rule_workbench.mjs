// Issue 10: the rule workbench (申报规则). A province rule author (广东, province44)
// opens the page, starts a new version from the one in force, breaks a line and sees
// 校验 name it (the gutter marker at the line, and the list), fixes it (a new limit of
// 50 trainees), runs the tests with coverage, tries it on a plan (试算), compares it with
// the version in force, shadow-runs it while a school submits, publishes and rolls back;
// axe on each state, the page at 390 px, a city admin reads only, ops picks any set.

import { test, assert, eq } from '../lib/harness.mjs';
import { session, waitText, apiAs } from './ctx.mjs';
import { axeViolations } from './axe.mjs';
import { FILE44, limit50 } from '../api/rules_ctx.mjs';

const FACULTY = '<p>专任教师 12 人，其中高级职称 4 人。</p>';
const VENUE = '<p>实训室 3 间，工位 120 个。</p>';

async function noAxe(s, label) {
  await s.page.waitForTimeout(300);
  const v = await axeViolations(s.page);
  assert(v.length === 0, `axe on ${label}:\n${v.map((x) => `${x.impact} ${x.id} (${x.help}) at ${x.nodes.join(', ')}`).join('\n')}`);
}

// The editor's text (its lines are all drawn: the sources are short), and replacing it
// as a user would (select all, type).
const linesOf = (sel) => [...document.querySelectorAll(`${sel} .cm-content .cm-line`)].map((l) => l.textContent).join('\n');
const editorText = (page) => page.evaluate(`(${linesOf})('.rule-editor')`);
async function setEditor(page, text, host = '.rule-editor') {
  await page.click(`${host} .cm-content`);
  await page.keyboard.press('Control+a');
  await page.keyboard.insertText(text);
  await page.keyboard.press('Escape');   // close a completion popup if any
}

// The line numbers at which the gutter of class gutterClass shows a marker matching sel.
async function gutterLines(page, gutterClass, sel) {
  return page.evaluate(([g, m]) => {
    // a gutter's spacer (hidden, no height) is no line
    const shown = (el) => getComputedStyle(el).visibility !== 'hidden' && el.getBoundingClientRect().height > 0;
    const nums = [...document.querySelectorAll('.rule-editor .cm-lineNumbers .cm-gutterElement')].filter(shown);
    const out = [];
    for (const el of document.querySelectorAll(`.rule-editor .${g} .cm-gutterElement`)) {
      if (!el.querySelector(m) || !shown(el)) continue;
      const top = el.getBoundingClientRect().top;
      const n = nums.find((x) => Math.abs(x.getBoundingClientRect().top - top) < 2);
      if (n) out.push(Number(n.textContent));
    }
    return out;
  }, [gutterClass, sel]);
}

async function submit(c, plan, cert, trainees) {
  const r = await c.post('/api/declarations', { plan_id: plan, certificate_id: cert, faculty: FACULTY, venue: VENUE, trainees_total: trainees, submit: true });
  eq(r.status, 201, `submitted: ${JSON.stringify(r.data).slice(0, 300)}`);
  return r.data.id;
}

test('rule workbench: a province rule author checks, tests, tries, compares, shadow-runs, publishes and rolls back', async () => {
  // a plan of 广东 of its own, with two submitted declarations: 60 and 30 trainees
  const gd = await apiAs('province44');
  const school = await apiAs('school443');
  const created = await gd.post('/api/admin/plans', { year: 2030, batch: 2, title: '规则试算计划', mode: 'not_by_major',
    starts_at: new Date(Date.now() - 86400e3).toISOString(), ends_at: new Date(Date.now() + 30 * 86400e3).toISOString(), notes: '' });
  eq(created.status, 201, JSON.stringify(created.data));
  const plan = created.data.id;
  eq((await gd.post(`/api/admin/plans/${plan}/publish`, {})).status, 200, 'plan published');
  const certs = (await school.get('/api/certificates')).data;
  const over = await submit(school, plan, certs[0].id, 60);
  await submit(school, plan, certs[1].id, 30);
  const v1 = (await gd.get('/api/admin/rules/44/versions')).data.items.find((v) => v.in_force);

  const s = await session('rules/province44');
  const { page } = s;
  await s.login('province44');
  await s.goto('/admin/rules');
  await page.waitForSelector(`.versions-table .version-${v1.id} .version-in-force`);
  await page.waitForSelector('.rule-editor .cm-content');
  await waitText(page, '.source-what', `版本 #${v1.id}`);
  eq(await page.getAttribute('.rule-editor .cm-content', 'aria-readonly'), 'true', 'the published version is read-only');
  await waitText(page, '.sets-table', '广东');
  await s.shot('open');
  await noAxe(s, 'the page');

  // 新建版本: the version in force, editable
  await page.click('.btn-new-version');
  await waitText(page, '.source-what', '新版本');
  eq(await page.getAttribute('.rule-editor .cm-content', 'aria-readonly'), 'false', 'a new version is editable');
  const good = await editorText(page);
  assert(good.includes('广东省示例规则'), 'started from the version in force');
  await page.fill('.f-rule-note input', '申请培训总人数不超过50人');

  // break a line, 校验 names it in the gutter and in the list
  const lines = good.split('\n');
  const broken = lines.findIndex((l) => l.startsWith('function R.check_declaration')) + 1;
  assert(broken > 0, 'the line to break');
  lines[broken - 1] = lines[broken - 1].replace('function', 'functio');
  await setEditor(page, lines.join('\n'));
  await page.click('.btn-check');
  await page.waitForSelector('.check-list .check-error');
  await waitText(page, '.check-list', `第 ${broken} 行`);
  await page.waitForSelector('.rule-editor .cm-lint-marker-error');
  eq(await gutterLines(page, 'cm-gutter-lint', '.cm-lint-marker-error'), [broken], 'the gutter marks the broken line');
  await s.shot('check-refused');
  await noAxe(s, 'a refused check');
  await page.click('.check-list .btn-goto-line');   // the list takes the cursor to the line

  // fix it, with a new limit: 校验 saves a draft
  eq(good, FILE44, 'the version in force is rules/44.lua');
  const fixed = limit50();
  // first with a variable left unused: it loads (a draft), with luacheck's warning at its line
  const warned = fixed.replace('local check = R.check_declaration', 'local unused_limit = 60\nlocal check = R.check_declaration');
  const warnLine = warned.split('\n').findIndex((l) => l.startsWith('local unused_limit')) + 1;
  await setEditor(page, warned);
  await page.click('.btn-check');
  await waitText(page, '.check-summary', '校验通过');
  await waitText(page, '.check-summary', '1 条警告');
  await waitText(page, '.check-list .check-warning', `第 ${warnLine} 行`);
  await waitText(page, '.check-list .check-warning', 'unused_limit');
  await page.waitForSelector('.rule-editor .cm-lint-marker-warning');
  eq(await gutterLines(page, 'cm-gutter-lint', '.cm-lint-marker-warning'), [warnLine], 'the warning at its line');
  await s.shot('check-warning');
  // then clean: a second draft, no warning
  await setEditor(page, fixed);
  await page.click('.btn-check');
  await page.waitForFunction(() => /校验通过/.test(document.querySelector('.check-summary').textContent) && !/警告/.test(document.querySelector('.check-summary').textContent));
  const draft = (await gd.get('/api/admin/rules/44/versions')).data.items[0];
  eq([draft.status, draft.note], ['draft', '申请培训总人数不超过50人'], 'pushed as a draft with its note');
  await page.waitForSelector(`.versions-table .version-${draft.id}`);
  eq(await page.locator('.rule-editor .cm-lint-marker-error, .rule-editor .cm-lint-marker-warning').count(), 0, 'nothing left in the gutter');
  await waitText(page, '.source-what', `版本 #${draft.id}`);
  await s.shot('check-passed');

  // completion of entries, ctx fields and lib helpers from the contract
  {
    await page.click('.rule-editor .cm-content');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\nctx.decl');
    await page.waitForSelector('.cm-tooltip-autocomplete');
    await waitText(page, '.cm-tooltip-autocomplete', 'declaration');
    await page.waitForTimeout(200);   // CodeMirror ignores Enter just after the list opens
    await page.keyboard.press('Enter');
    await page.keyboard.type('.trainees_t');
    await waitText(page, '.cm-tooltip-autocomplete', 'trainees_total');
    await page.waitForSelector('.cm-tooltip.cm-completionInfo');
    await waitText(page, '.cm-completionInfo', '申请培训总人数');
    await s.shot('completion');
    await noAxe(s, 'the completion');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !document.querySelector('.cm-tooltip-autocomplete'));
    await page.keyboard.type('\nlib.pa');
    await waitText(page, '.cm-tooltip-autocomplete', 'param');
    await page.keyboard.press('Escape');
    await page.keyboard.type('\nR.check_d');
    await waitText(page, '.cm-tooltip-autocomplete', 'check_declaration');
    await page.keyboard.press('Escape');
    assert((await editorText(page)).includes('ctx.declaration.trainees_total'), 'completions applied');
    await setEditor(page, fixed);
    await waitText(page, '.source-what', `版本 #${draft.id}（草稿）`);   // back to the saved text
  }

  // 运行测试: each case's result, the coverage, the lines no case ran in the gutter
  await page.click('.btn-test');
  await page.waitForSelector('.test-result .coverage-summary');
  await page.waitForSelector('.cases-editor .cm-content');
  const run = (await gd.post(`/api/admin/rules/44/versions/${draft.id}/test`, {})).data;
  assert(run.coverage && run.coverage.lines > 0, `coverage figures: ${JSON.stringify(run.coverage)}`);
  await waitText(page, '.coverage-summary', `${run.coverage.hit} / ${run.coverage.lines} 行`);
  assert(run.results.length > 0 && run.failed === 0, 'the stored cases ran and pass');
  eq(await page.locator('.test-results-table .el-table__row').count(), run.results.length, 'a row per case');
  await waitText(page, '.test-summary', `通过 ${run.passed} 个，未通过 0 个`);
  // no stored case has more than 50 trainees: the new refusal's line never ran
  const refusal = fixed.split('\n').findIndex((l) => l.includes('"over_limit"')) + 1;
  assert(run.coverage.missed.includes(refusal), `line ${refusal} missed: ${JSON.stringify(run.coverage.missed)}`);
  await waitText(page, '.coverage-summary', String(refusal));
  let marked = [];
  for (let i = 0; i < 20 && !marked.includes(refusal); i++) {
    marked = await gutterLines(page, 'cm-coverage-gutter', '.cm-missed-marker');
    if (!marked.includes(refusal)) await page.waitForTimeout(100);
  }
  eq(marked.sort((x, y) => x - y), [...run.coverage.missed].sort((x, y) => x - y), 'the missed lines marked in the gutter');
  await s.shot('tests');
  await noAxe(s, 'the test results');

  // 试算 on the plan: the 60-trainee declaration changes
  await page.click('.btn-replay-tab');
  await s.choose('.f-replay-plan', 'replay-plan-popper', '规则试算计划');
  await page.click('.btn-replay');
  await waitText(page, '.replay-summary', '共 2 条已提交的申报，1 条结果将变化');
  await waitText(page, '.replay-table', String(over));
  await waitText(page, '.replay-table', 'over_limit');
  await s.shot('replay');
  await noAxe(s, 'the replay');

  // 对比 with the version in force
  await page.click('.btn-compare');
  await page.waitForSelector('.compare-dialog .cm-mergeView');
  await waitText(page, '.f-compare-a', `#${v1.id}`);
  await waitText(page, '.f-compare-b', `#${draft.id}`);
  assert(await page.locator('.compare-dialog .cm-changedLine').count() > 0, 'the changed lines marked');
  await waitText(page, '.compare-dialog .cm-merge-b', 'over_limit');
  await s.shot('compare');
  await noAxe(s, 'the comparison');
  await page.keyboard.press('Escape');
  await page.waitForSelector('.compare-dialog', { state: 'hidden' });

  // 影子运行 while a school submits
  await page.click('.btn-shadow-tab');
  {
    await page.click('.btn-shadow-start');
    await waitText(page, '.shadow-summary', '影子运行中');
    const third = await submit(await apiAs('school441'), plan, certs[2].id, 70);
    // the shadow is evaluated off the request's path, about once a second
    for (let i = 0; i < 20 && !(await page.textContent('.shadow-table')).includes(String(third)); i++) {
      await page.waitForTimeout(500);
      await page.click('.btn-shadow-refresh');
    }
    await waitText(page, '.shadow-table', String(third));
    await waitText(page, '.shadow-table', 'over_limit');
    assert(Number(await page.textContent('.shadow-diverged')) >= 1, 'a divergence counted');
    assert(Number(await page.textContent('.shadow-evaluated')) >= 1, 'evaluations counted');
    await s.shot('shadow');
    await noAxe(s, 'the shadow run');
    await page.click('.btn-shadow-stop');
    await s.confirm();
    await waitText(page, '.shadow-summary', '影子运行已停止');
    await waitText(page, '.shadow-table', String(third));   // ending keeps the record
  }

  // 发布: with confirmation; a failing case refuses it and shows the case
  const cases = (await gd.get('/api/admin/rules/44/cases')).data.source;
  {
    // a case the new limit fails, added in the cases editor and saved (保存用例)
    const failing = cases.replace(/\}\s*$/, `  { name = "总人数 40 被拒绝（故意失败）", province = "44", fn = "check_declaration",
    input = { submit = true, declaration = { certificate_id = 1, trainees_total = 40, faculty_chars = 10, venue_chars = 10, majors = {} } },
    expect = { codes = { "over_limit" } } },
}
`);
    await page.click('.rule-tabs .el-tabs__item:has-text("测试用例")');
    await setEditor(page, failing, '.cases-editor');
    await waitText(page, '.test-panel', '用例已修改，尚未保存');
    await page.click('.btn-save-cases');
    await waitText(page, '.el-message--success', '测试用例已保存');
    eq((await gd.get('/api/admin/rules/44/cases')).data.source, failing, 'the cases stored as edited');
    await page.click('.btn-publish-version');
    await s.confirm();
    await page.waitForSelector('.cases-failed-dialog .cases-failed-table');
    await waitText(page, '.cases-failed-table .el-table__row', '故意失败');   // the failing case first
    await s.shot('publish-refused');
    await noAxe(s, 'the refused publish');
    await page.click('.cases-failed-dialog .el-dialog__footer .el-button--primary');
    eq((await gd.get('/api/admin/rules/44/versions')).data.items.find((v) => v.in_force).id, v1.id, 'nothing published');
    await setEditor(page, cases, '.cases-editor');
    await page.click('.btn-save-cases');
    await page.waitForFunction(() => !document.querySelector('.test-panel').textContent.includes('用例已修改'));
    eq((await gd.get('/api/admin/rules/44/cases')).data.source, cases, 'the cases restored');
  }
  await page.click('.btn-publish-version');
  await page.waitForSelector('.el-message-box');
  await waitText(page, '.el-message-box', `版本 #${draft.id}`);
  await s.shot('publish-confirm');
  await noAxe(s, 'the publish confirmation');
  await s.confirm();
  await page.waitForSelector(`.versions-table .version-${draft.id} .version-in-force`);
  await waitText(page, `.versions-table .version-${v1.id}`, '已停用');
  const refused = await school.post('/api/declarations', { plan_id: plan, certificate_id: certs[3].id, faculty: FACULTY, venue: VENUE, trainees_total: 51, submit: true });
  eq(refused.status, 422, 'the new limit holds once published');
  await s.shot('published');

  // 回滚 to the earlier version, with confirmation
  await page.click('.btn-rollback');
  await page.waitForSelector('.rollback-dialog .f-rollback-to');
  await waitText(page, '.rollback-dialog .f-rollback-to', `#${v1.id}`);
  await s.shot('rollback-dialog');
  await noAxe(s, 'the rollback dialog');
  await page.click('.btn-do-rollback');
  await s.confirm();
  await page.waitForSelector(`.versions-table .version-${v1.id} .version-in-force`);
  await waitText(page, '.source-what', `版本 #${v1.id}`);
  eq((await gd.get('/api/admin/rules')).data.sets.find((x) => x.province === '44').version_id, v1.id, 'in force again');
  await s.shot('rolled-back');
  s.assertClean();
  await s.close();
});

test('rule workbench: 390 px, keyboard, a city admin reads only, ops picks any set', async () => {
  const s = await session('rules/phone', { viewport: { width: 390, height: 844 } });
  const { page } = s;
  await s.login('province13');
  await s.goto('/admin/rules');
  await page.waitForSelector('.versions-table .version-in-force');
  await page.waitForSelector('.rule-editor .cm-content');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(wide <= 1, `no sideways scrolling at 390 px (${wide} px)`);
  await s.shot('phone');
  await noAxe(s, 'the page at 390 px');
  // Tab leaves the editor (it does not trap the key)
  await page.click('.rule-editor .cm-content');
  await page.keyboard.press('Tab');
  assert(await page.evaluate(() => !document.activeElement.closest('.rule-editor')), 'Tab moves on from the editor');
  await page.click('.btn-compare');
  await page.waitForSelector('.compare-dialog .cm-editor');
  await s.shot('phone-compare');
  await noAxe(s, 'the comparison at 390 px');
  s.assertClean();
  await s.close();

  const c = await session('rules/city');
  await c.login('city1301');
  await c.goto('/admin/rules');
  await c.page.waitForSelector('.versions-table .version-in-force');
  await c.page.waitForSelector('.rule-editor .cm-content');
  eq(await c.page.getAttribute('.rule-editor .cm-content', 'aria-readonly'), 'true', 'read-only for a city');
  // a city reads: it runs neither the cases nor a replay (the API answers it 403)
  for (const b of ['.btn-new-version', '.btn-check', '.btn-publish-version', '.btn-rollback', '.btn-save-cases',
    '.btn-test', '.btn-run-tests', '.btn-replay', '.btn-replay-tab']) {
    eq(await c.page.locator(b).count(), 0, `no ${b} for a city`);
  }
  await waitText(c.page, '.page-title', '只读');
  await c.shot('city');
  await noAxe(c, 'the page for a city admin');
  c.assertClean();
  await c.close();

  const o = await session('rules/ops');
  await o.login('ops');
  await o.goto('/admin/rules');
  await o.page.waitForSelector('.versions-table .version-in-force');
  await waitText(o.page, '.source-what', '版本 #');
  assert((await editorText(o.page)).includes('全国默认规则'), 'ops starts on 全国默认规则');
  await o.choose('.f-rules-province', 'rules-province-popper', '河北省', '河北');
  await o.page.waitForFunction(() => document.querySelector('.rule-editor .cm-content').textContent.includes('河北省示例规则'));
  await o.page.waitForSelector('.btn-reload');
  await o.shot('ops');
  await noAxe(o, 'the page for ops');
  o.assertClean();
  await o.close();
});
