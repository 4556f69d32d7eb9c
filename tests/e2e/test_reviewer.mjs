// Issue 14 in the browser: a city reviewer starts at 待我审核, opens the
// plan's queue, decides one declaration and goes on with 下一条, comes back
// with 返回列表 to the same filters and returns the rest in one batch (a
// comment required); ops finds 建筑工程技术 in the certificate dialog among
// all 1,349 majors; the statistics page draws its charts; the side menu
// works by keyboard; and axe-core finds no critical or serious violation on
// any admin or ops page (and their dialogs), for each admin role.
import { test, assert, eq } from '../lib/harness.mjs';
import { session, apiAs as login, srv, waitText } from './ctx.mjs';
import { Client } from '../lib/server.mjs';
import { axeViolations as axe } from './axe.mjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from '../api/ctx.mjs';
import { readSheet } from '../api/xlsx_read.mjs';

// API clients, one login per user for the whole file.
const clients = new Map();
async function apiAs(user) {
  if (!clients.has(user)) clients.set(user, await login(user));
  return clients.get(user);
}

const iso = (s) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
let seq = 0;

// A new 河北 plan (by major, open) and n new schools of 石家庄 with logged-in
// accounts and complete profiles, each with a declaration pending at the city.
async function cityQueue(title, n) {
  const prov = await apiAs('province13');
  const p = await prov.post('/api/admin/plans', { year: 2031, batch: 3, title, mode: 'by_major', starts_at: iso(-3600), ends_at: iso(20 * 86400) });
  eq(p.status, 201, `plan ${JSON.stringify(p.data)}`);
  eq((await prov.post(`/api/admin/plans/${p.data.id}/publish`, {})).status, 200, 'published');
  const ops = await apiAs('ops');
  const certs = (await ops.get('/api/certificates')).data.filter((c) => c.majors.length > 0);
  const ids = [];
  for (let i = 0; i < n; i++) {
    seq++;
    const code = `4914${String(process.pid % 100).padStart(2, '0')}${String(seq).padStart(4, '0')}`;
    const s = await ops.post('/api/admin/schools', { code, name: `审核浏览器测试学院${code}`, province: '13', city: '1301', type: '高职' });
    eq(s.status, 201, 'school');
    srv.host(['user', 'add', '--role', 'school', '--username', `e${code}`, '--password', 'Pass12345', '--school', String(s.data.id), '--phone', `1590000${String(seq).padStart(4, '0')}`]);
    const c = new Client(srv.base);
    await c.login(`e${code}`, 'Pass12345');
    eq((await c.put('/api/school/profile', { address: '测试路 1 号', postcode: '050000', contact_name: '周老师', contact_phone: '13911112222' })).status, 200, 'profile');
    const cert = certs[i];
    // a major of the school's own level (高职专科 for a 高职 school)
    const own = (await c.get(`/api/majors?certificate=${cert.id}`)).data.find((m) => m.allowed !== false);
    assert(own, 'a major the school may declare');
    const d = await c.post('/api/declarations', { plan_id: p.data.id, certificate_id: cert.id, submit: true,
      majors: [{ major: own.code, students: 50, teachers: 4, trainees: 20 }], faculty: '<p>教师5人。</p>', venue: '<p>实训室1间。</p>' });
    eq([d.status, d.data.review_level], [201, 'city'], 'pending at the city');
    ids.push(d.data.id);
  }
  return { plan: p.data.id, ids };
}

test('city reviewer: 待我审核 → the plan\'s queue → decide, 下一条 → 返回列表 keeps the filters → batch 退回修改 with a comment', async () => {
  const title = '浏览器测试 待我审核计划';
  const { plan, ids } = await cityQueue(title, 3);
  const s = await session('reviewer/city1301');
  const { page } = s;
  await s.login('city1301');
  await page.waitForSelector('.todo-table');
  assert(page.url().includes('#/admin/todo'), `the admin starts at 待我审核: ${page.url()}`);
  const row = page.locator('.todo-table .el-table__row', { hasText: title });
  await row.waitFor();
  eq((await row.locator('.todo-count').textContent()).trim(), '3', 'three wait for the city in that plan');
  await s.shot('todo');
  await row.locator('.btn-todo-review').click();
  await page.waitForSelector('.review-table .el-table__row');
  assert(/mine=1/.test(page.url()) && page.url().includes(`plan=${plan}`), `the queue filtered to the plan, at the city's level: ${page.url()}`);
  await page.waitForFunction((n) => document.querySelectorAll('.review-table .el-table__body-wrapper .el-table__row').length === n, 3);
  await s.shot('queue');

  // open the first, approve it, 下一条 opens another of the same queue
  await page.locator('.review-table .el-table__body-wrapper .el-table__row').first().locator('.btn-review').click();
  await page.waitForSelector('.review-form');
  const first = Number(/#\/admin\/review\/(\d+)/.exec(page.url())[1]);
  assert(ids.includes(first), 'one of ours');
  assert((await page.textContent('.school-contact')).includes('周老师') && (await page.textContent('.school-contact')).includes('13911112222'),
    'the school\'s contact person and phone');
  await page.click('.btn-do-review');
  await s.confirm();
  await page.waitForSelector('.btn-next');
  await s.shot('decided');
  await page.click('.btn-next');
  await page.waitForFunction((id) => /#\/admin\/review\/(\d+)/.test(location.hash) && !location.hash.startsWith(`#/admin/review/${id}?`) && !location.hash.endsWith(`/${id}`), first);
  await page.waitForSelector('.review-form');
  const second = Number(/#\/admin\/review\/(\d+)/.exec(page.url())[1]);
  assert(second !== first && ids.includes(second), `下一条 opened another of the queue: ${second}`);
  await s.shot('next');

  // 返回列表: the same filters, in the address and on the page
  await page.click('.btn-back');
  await page.waitForSelector('.review-table');
  assert(page.url().includes(`plan=${plan}`) && /mine=1/.test(page.url()), `filters kept: ${page.url()}`);
  await waitText(page, '.flt-plan', title);
  await page.waitForFunction((n) => document.querySelectorAll('.review-table .el-table__body-wrapper .el-table__row').length === n, 2);

  // batch 退回修改: the comment is required
  await page.click('.review-table .el-table__header .el-checkbox');
  await page.click('.btn-batch-return');
  await page.waitForSelector('.batch-dialog .batch-comment textarea');
  await page.click('.btn-batch-do');
  await waitText(page, '.batch-dialog', '请填写审核意见');
  await s.shot('batch-comment-required');
  eq(await axe(page), [], 'axe: the batch dialog with its error');
  const api = await apiAs('city1301');
  const still = await Promise.all(ids.filter((x) => x !== first).map(async (x) => (await api.get(`/api/admin/declarations/${x}`)).data.status));
  eq(still, ['pending', 'pending'], 'nothing returned without a comment');
  await page.fill('.batch-dialog .batch-comment textarea', '请补充场地照片');
  await page.click('.btn-batch-do');
  await waitText(page, '.el-message--success', '已退回修改 2 条');
  await page.waitForFunction(() => document.querySelectorAll('.review-table .el-table__body-wrapper .el-table__row').length === 0);
  await s.shot('batch-returned');
  const after = await Promise.all(ids.map(async (x) => (await api.get(`/api/admin/declarations/${x}`)).data));
  eq(after.map((d) => d.status), ids.map((x) => (x === first ? 'pending' : 'returned')), 'first on to the province, the rest returned');
  assert(after.filter((d) => d.status === 'returned').every((d) => d.reviews.at(-1).comment === '请补充场地照片'), 'with the comment');
  s.assertClean();
  await s.close();
});

test('ops: the certificate dialog shows its majors by name and finds 建筑工程技术 on the server', async () => {
  const s = await session('reviewer/ops-certificate');
  const { page } = s;
  await s.login('ops');
  await s.goto('/ops/certificates');
  await page.waitForSelector('.catalog-table .el-table__row');
  const ops = await apiAs('ops');
  const jz = (await ops.get(`/api/ops/majors?q=${encodeURIComponent('建筑工程技术')}&size=100`)).data.items
    .filter((m) => m.name === '建筑工程技术').map((m) => m.code);
  assert(jz.length > 0, '建筑工程技术 is in the catalogue');
  // a certificate that does not list it yet, so that the dialog must find it on the server
  const cert = (await ops.get('/api/ops/certificates')).data.find((c) => c.majors.length >= 2 && !c.majors.some((m) => jz.includes(m)));
  await page.fill('.toolbar input', cert.code);
  await page.keyboard.press('Enter');
  await waitText(page, '.catalog-table', cert.name);
  await page.locator('.catalog-table .el-table__row', { hasText: cert.code }).locator('button:has-text("编辑")').first().click();
  await page.waitForSelector('.f-cert-majors .el-select__tags, .f-cert-majors .el-tag');
  const tags = await page.locator('.f-cert-majors .el-tag').allTextContents();
  assert(tags.length > 0 && tags.every((t) => /[\u4e00-\u9fff]/.test(t)), `its majors show with names, not bare codes: ${tags}`);
  await page.click('.f-cert-majors .el-select__wrapper');
  await page.keyboard.type('建筑工程技术');
  const option = page.locator('.el-select-dropdown__item:visible:not(.is-selected)', { hasText: /^建筑工程技术（/ }).first();
  await option.waitFor();
  // 2026-12-02: the exact name first (the certificate's chosen majors came before it)
  await page.waitForFunction(() => {
    const first = [...document.querySelectorAll('.el-select-dropdown__item')].find((el) => el.offsetParent !== null);
    return first && first.textContent.trim().startsWith('建筑工程技术（');
  });
  const shown = (await page.locator('.el-select-dropdown__item:visible').allTextContents()).map((t) => t.trim());
  const kind = (t) => (t.startsWith('建筑工程技术（') ? 0 : t.startsWith('建筑工程技术') ? 1 : t.includes('建筑工程技术') ? 2 : 3);
  const kinds = shown.map(kind);
  eq(kinds, [...kinds].sort((a, b) => a - b), `exact, then prefix, then contains, then the chosen ones: ${shown.slice(0, 6)}`);
  await s.shot('major-found');
  const label = await option.textContent();
  const code = /（(\d{6}K?)，/.exec(label)[1];
  assert(jz.includes(code), `the option is 建筑工程技术 itself: ${label}`);
  await option.click();
  await page.keyboard.press('Escape');
  await page.click('.el-dialog__footer .el-button--primary');
  await waitText(page, '.el-message--success', '保存成功');
  const saved = (await ops.get(`/api/ops/certificates?q=${encodeURIComponent(cert.code)}`)).data.find((c) => c.id === cert.id);
  assert(saved.majors.includes(code), `建筑工程技术 (${code}) saved with the certificate`);
  for (const m of cert.majors) assert(saved.majors.includes(m), `the earlier major ${m} kept`);
  s.assertClean();
  await s.close();
});

test('statistics: the charts are drawn (ECharts SVG) with full certificate names, drafts apart, years side by side', async () => {
  const s = await session('reviewer/stats');
  const { page } = s;
  await s.login('province13');
  await s.goto('/admin/stats');
  await page.waitForSelector('.chart-status svg');
  for (const c of ['.chart-status', '.chart-city', '.chart-certificate', '.chart-years']) {
    await page.waitForFunction((sel) => document.querySelectorAll(`${sel} svg path`).length > 0, c);
  }
  const cityText = await page.textContent('.chart-city svg');
  assert(cityText.includes('石家庄市'), `the city chart names 石家庄市: ${cityText.slice(0, 200)}`);
  const certText = await page.textContent('.chart-certificate svg');
  assert(/（(初级|中级|高级)）/.test(certText), `certificate labels carry the level: ${certText.slice(0, 200)}`);
  assert((await page.textContent('.stat-card-draft')).includes('不计入申报总数'), 'drafts labelled apart');
  const label = await page.getAttribute('.chart-city .echart-canvas', 'aria-label');
  assert(label.startsWith('各地市申报数：') && label.includes('石家庄市'), `a text alternative: ${label}`);
  await s.shot('stats');
  s.assertClean();
  await s.close();
});

test('keyboard: the side menu is reached with Tab and opens a page with Enter', async () => {
  const s = await session('reviewer/keyboard-menu');
  const { page } = s;
  await s.login('city1301');
  await page.waitForSelector('.todo-table');
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.textContent.trim() === '院校总库管理'
      && !!document.activeElement.closest('nav[aria-label="主菜单"]'));
  }
  assert(reached, 'Tab reaches 院校总库管理 in the menu');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.schools-table');
  assert(page.url().includes('#/admin/schools'), 'Enter opens it');
  s.assertClean();
  await s.close();
});

test('ops: creates a city admin account and changes a school\'s bound phone from the pages', async () => {
  const s = await session('reviewer/ops-accounts');
  const { page } = s;
  await s.login('ops');
  await s.goto('/ops/accounts');
  await page.waitForSelector('.accounts-table .el-table__row');
  await page.click('.btn-add-admin');
  await page.waitForSelector('.admin-dialog .f-admin-name');
  await s.choose('.f-admin-province', 'pop-admin-province', '河北省', '河北');
  await s.choose('.f-admin-city', 'pop-admin-city', '石家庄市', '石家庄');
  const username = `sjz${process.pid % 10000}e`;
  const phone = '15922223333';
  await page.fill('.f-admin-username input', username);
  await page.fill('.f-admin-name input', '郑审核');
  await page.fill('.f-admin-phone input', phone);
  await s.shot('new-admin');
  await page.click('.btn-create-admin');
  await waitText(page, '.el-message-box', '初始密码已通过短信发送至 159****3333');
  await s.confirm();
  const ops = await apiAs('ops');
  const sms = (await ops.get(`/api/ops/sms?phone=${phone}`)).data.items;
  eq(sms.map((m) => m.template_name), ['管理员账号开通'], 'the password went by SMS');
  const acc = (await ops.get(`/api/ops/accounts?q=${username}`)).data.items[0];
  eq([acc.role, acc.name, acc.unit], ['city', '郑审核', '石家庄市教育局'], 'a city admin of 石家庄 by name');

  // a school's bound phone
  await page.fill('.flt-q input', 'school133');
  await page.keyboard.press('Enter');
  const row = page.locator('.accounts-table .el-table__row', { hasText: 'school133' });
  await row.waitFor();
  await row.locator('.btn-phone').click();
  await page.waitForSelector('.phone-dialog .f-new-phone');
  await page.fill('.phone-dialog .f-new-phone input', '12');
  await page.click('.btn-save-phone');
  await waitText(page, '.phone-dialog', '请填写正确的手机号码');
  await page.fill('.phone-dialog .f-new-phone input', '15944445555');
  await page.click('.btn-save-phone');
  await waitText(page, '.el-message--success', '绑定手机已更换');
  eq((await ops.get('/api/ops/sms?phone=15944445555')).data.items.map((m) => m.template), ['phone_changed'], 'the new number told');
  await waitText(page, '.accounts-table', '159****5555');
  s.assertClean();
  await s.close();
});

// 2026-12-02: the template's example row used to import as a real school
// (示例职业技术学院) when the template was uploaded as it is or filled in
// below it. Now it is marked 示例 and never imported: the template as it is
// is refused with a word on what to do, and a filled one imports the rows
// below the example, the example reported as skipped.
test('import: the .xlsx template\'s example row is never imported; a filled template imports with a per-row report', async () => {
  const s = await session('reviewer/import-xlsx');
  const { page } = s;
  await s.login('city1301');
  await s.goto('/admin/schools');
  await page.waitForSelector('.schools-table .el-table__row');
  await page.click('.btn-import');
  await page.waitForSelector('.import-dialog .link-template');
  await waitText(page, '.import-dialog .hint', '示例行');
  const href = await page.getAttribute('.import-dialog .link-template', 'href');
  const tpl = await (await apiAs('city1301')).get(href);
  eq(tpl.status, 200, 'the template downloads');
  const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
  await page.setInputFiles('.import-dialog .csv-file', { name: '院校导入模板.xlsx', mimeType: XLSX, buffer: tpl.data });
  await waitText(page, '.import-dialog .import-file', '院校导入模板.xlsx');
  await page.click('.btn-do-import');
  await waitText(page, '.el-message--error', '只有模板的示例行');
  await s.shot('template-as-is-refused');
  const none = (await (await apiAs('city1301')).get(`/api/admin/schools?q=${encodeURIComponent('示例职业技术学院')}`)).data;
  eq(none.total, 0, 'the example is not a school');

  // the template filled in below its example row
  const [header, sample] = readSheet(tpl.data);
  const code = `4998${String(process.pid % 1000000).padStart(6, '0')}`;
  const path = join(srv.dir, 'filled.xlsx');
  fixture('xlsx_file', { path, header, rows: [sample, [code, '模板导入职业学院', '石家庄市', '高职', '', '', '']] }, srv);
  await page.setInputFiles('.import-dialog .csv-file', { name: '院校导入模板（已填写）.xlsx', mimeType: XLSX, buffer: readFileSync(path) });
  await waitText(page, '.import-dialog .import-file', '已填写');
  await page.click('.btn-do-import');
  await waitText(page, '.import-summary', '已导入 1 所院校');
  await waitText(page, '.import-report', '模板导入职业学院');
  await waitText(page, '.import-report', '已跳过');
  await s.shot('imported');
  const found = (await (await apiAs('city1301')).get(`/api/admin/schools?q=${encodeURIComponent('模板导入职业学院')}`)).data.items;
  eq(found.map((x) => [x.code, x.city, x.type]), [[code, '1301', '高职']], 'stored in 石家庄 from the city\'s name');
  eq((await (await apiAs('city1301')).get(`/api/admin/schools?q=${encodeURIComponent('示例')}`)).data.total, 0, 'still no 示例 school');
  s.assertClean();
  await s.close();
});

// ---- axe-core on every admin and ops page ---------------------------------------

const ADMIN_PAGES = ['/admin/todo', '/admin/schools', '/admin/plans', '/admin/review', '/admin/review?mine=0&status=', '/admin/stats',
  '/admin/pilot-schools', '/admin/audit'];
const OPS_PAGES = ['/admin/rules', '/ops/certificates', '/ops/organizations', '/ops/majors', '/ops/sms', '/ops/accounts'];

async function check(s, label, found) {
  await s.page.waitForTimeout(400);   // let tables and charts render
  const v = await axe(s.page);
  for (const x of v) found.push(`${label}: ${x.impact} ${x.id} (${x.help}) at ${x.nodes.slice(0, 3).join(', ')}`);
}

for (const user of ['city1301', 'province13', 'ops']) {
  test(`axe: no critical or serious violation on the admin${user === 'ops' ? ' and ops' : ''} pages (${user}), dialogs included`, async () => {
    const s = await session(`reviewer/axe-${user}`);
    const { page } = s;
    await s.login(user);
    const found = [];
    // 申报规则 is every admin's (a city reads its province's rules, issue 10)
    const pages = user === 'ops' ? [...ADMIN_PAGES, ...OPS_PAGES] : [...ADMIN_PAGES, '/admin/rules'];
    for (const p of pages) {
      await s.goto(p);
      await page.waitForSelector('.layout-main h1');
      await page.waitForFunction(() => !document.querySelector('.el-loading-mask'));
      eq(await page.locator('h1').count(), 1, `one h1 on ${p}`);
      assert(await page.locator('main').count() === 1 && await page.locator('nav[aria-label="主菜单"]').count() === 1, `landmarks on ${p}`);
      await check(s, p, found);
    }
    // a declaration's page, and the dialogs
    const list = (await (await apiAs(user)).get('/api/admin/declarations?size=1')).data.items;
    if (list.length) {
      await s.goto(`/admin/review/${list[0].id}`);
      await page.waitForSelector('.decl-detail');
      await check(s, 'review detail', found);
    }
    await s.goto('/admin/schools');
    await page.waitForSelector('.schools-table .el-table__row');
    await page.click('.btn-import');
    await page.waitForSelector('.import-dialog .csv-text');
    await check(s, 'import dialog', found);
    await page.keyboard.press('Escape');
    if (user === 'ops') {
      await s.goto('/ops/accounts');
      await page.waitForSelector('.accounts-table .el-table__row');
      await page.click('.btn-add-admin');
      await page.waitForSelector('.admin-dialog .f-admin-name');
      await check(s, 'new admin dialog', found);
      await page.keyboard.press('Escape');
      await s.goto('/ops/certificates');
      await page.waitForSelector('.catalog-table .el-table__row');
      await page.locator('.catalog-table button:has-text("编辑")').first().click();
      await page.waitForSelector('.f-cert-majors');
      await check(s, 'certificate dialog', found);
    }
    assert(found.length === 0, `axe found:\n${found.join('\n')}`);
    s.assertClean();
    await s.close();
  });
}
