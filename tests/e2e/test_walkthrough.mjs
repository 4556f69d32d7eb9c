// The new-user walkthrough of 2026-12-02, after issues 13 and 14 were built:
// what it found, each seen in the browser. Ops' 申报统计 opens on a plan with
// declarations and says 暂无数据 rather than draw an empty chart; the 待我审核
// badge follows each review and batch review; the school's list says why a
// declaration came back (退回原因); the school's view and print and the login
// rows of the audit log name people and units, never login names; a city
// approval is logged 待市级审核 → 待省级审核; on a phone the majors of the form
// are cards; the attachment limit says 10 MB in the same words as the server.
import { test, assert, eq } from '../lib/harness.mjs';
import { session, apiAs as login, srv, waitText } from './ctx.mjs';
import { Client } from '../lib/server.mjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const clients = new Map();
async function apiAs(user) {
  if (!clients.has(user)) clients.set(user, await login(user));
  return clients.get(user);
}

const iso = (s) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
const LOGIN_NAME = /^(school|city|province)\d+$|^ops$|^w\d{10}$/;
let seq = 0;

// A new 河北 plan (by major, open) and n new 石家庄 schools, each with a
// declaration pending at the city. Returns the plan, the ids and the schools.
async function cityQueue(title, n) {
  const prov = await apiAs('province13');
  const p = await prov.post('/api/admin/plans', { year: 2032, batch: 1, title, mode: 'by_major', starts_at: iso(-3600), ends_at: iso(20 * 86400) });
  eq(p.status, 201, `plan ${JSON.stringify(p.data)}`);
  eq((await prov.post(`/api/admin/plans/${p.data.id}/publish`, {})).status, 200, 'published');
  const ops = await apiAs('ops');
  const certs = (await ops.get('/api/certificates')).data.filter((c) => c.majors.length > 0);
  const ids = [];
  const schools = [];
  for (let i = 0; i < n; i++) {
    seq++;
    const code = `4915${String(process.pid % 100).padStart(2, '0')}${String(seq).padStart(4, '0')}`;
    const s = await ops.post('/api/admin/schools', { code, name: `走查测试学院${code}`, province: '13', city: '1301', type: '高职' });
    eq(s.status, 201, 'school');
    const username = `w${code}`;
    srv.host(['user', 'add', '--role', 'school', '--username', username, '--password', 'Pass12345', '--school', String(s.data.id), '--phone', `1590001${String(seq).padStart(4, '0')}`]);
    const c = new Client(srv.base);
    await c.login(username, 'Pass12345');
    eq((await c.put('/api/school/profile', { address: '测试路 2 号', postcode: '050031', contact_name: '孙老师', contact_phone: '13911113333' })).status, 200, 'profile');
    const cert = certs[10 + i];
    const own = (await c.get(`/api/majors?certificate=${cert.id}`)).data.find((m) => m.allowed !== false);
    assert(own, 'a major the school may declare');
    const d = await c.post('/api/declarations', { plan_id: p.data.id, certificate_id: cert.id, submit: true,
      majors: [{ major: own.code, students: 50, teachers: 4, trainees: 20 }], faculty: '<p>教师5人。</p>', venue: '<p>实训室1间。</p>' });
    eq([d.status, d.data.review_level], [201, 'city'], 'pending at the city');
    ids.push(d.data.id);
    schools.push({ username, name: s.data.name, client: c });
  }
  return { plan: p.data.id, ids, schools };
}

const badge = (page) => page.evaluate(() => {
  const b = document.querySelector('.side-menu .menu-badge');
  return b ? Number(b.textContent.trim()) : 0;
});

test('walkthrough: the 待我审核 badge follows each review and batch review; the school sees 退回原因, names not login names; the log shows the real step', async () => {
  const { plan, ids, schools } = await cityQueue('走查测试 角标计划', 3);
  const s = await session('walkthrough/badge');
  const { page } = s;
  await s.login('city1301');
  await page.waitForSelector('.todo-table');
  const before = (await (await apiAs('city1301')).get('/api/admin/todo')).data.pending_for_me;
  await page.waitForFunction((n) => Number((document.querySelector('.side-menu .menu-badge') || {}).textContent) === n, before);

  // one decision on the review page: the badge drops at once, on the same page
  await s.goto(`/admin/review/${ids[0]}?mine=1&plan=${plan}`);
  await page.waitForSelector('.review-form');
  await page.click('.f-decision label:has-text("审核通过")');
  await page.click('.btn-do-review');
  await s.confirm();
  await waitText(page, '.el-message--success', '审核完成');
  await page.waitForFunction((n) => Number((document.querySelector('.side-menu .menu-badge') || {}).textContent || 0) === n, before - 1);
  assert(page.url().includes(`/admin/review/${ids[0]}`), 'still on the declaration');
  await s.shot('badge-after-review');

  // a batch return of the other two, with a comment: the badge drops by two
  await s.goto(`/admin/review?mine=1&plan=${plan}`);
  await page.waitForFunction(() => document.querySelectorAll('.review-table .el-table__body-wrapper .el-table__row').length === 2);
  await page.click('.review-table .el-table__header .el-checkbox');
  await page.click('.btn-batch-return');
  await page.fill('.batch-comment textarea', '请补充场地照片');
  await page.click('.btn-batch-do');
  await waitText(page, '.el-message--success', '2 条');
  await page.waitForFunction((n) => Number((document.querySelector('.side-menu .menu-badge') || {}).textContent || 0) === n, before - 3);
  eq(await badge(page), before - 3, 'the badge after the batch');
  await s.shot('badge-after-batch');

  // the log of the city's approval: its real step, not 待审核 → 待审核
  await s.goto(`/admin/audit?entity=declaration&entity_id=${ids[0]}`);
  const approval = page.locator('.audit-table .el-table__row', { hasText: '市级审核通过' });
  await approval.waitFor();
  await waitText(page, '.audit-table', '待市级审核 → 待省级审核');
  assert(!(await page.textContent('.audit-table')).includes('待审核 → 待审核'), 'no 待审核 → 待审核');
  await s.shot('audit-city-approval');
  s.assertClean();
  await s.close();

  // the school: 退回原因 in its list; its view and print name no login name
  const sch = await session('walkthrough/school-returned');
  await sch.login(schools[1].username, 'Pass12345');
  await sch.page.waitForSelector('.declarations-table .el-table__row');
  await waitText(sch.page, '.declarations-table', '退回原因：请补充场地照片');
  await sch.shot('list-return-reason');
  await sch.close();

  const v = await session('walkthrough/school-view');
  await v.login(schools[0].username, 'Pass12345');
  await v.goto(`/school/declarations/${ids[0]}`);
  await v.page.waitForSelector('.review-history');
  await waitText(v.page, '.review-history', '石家庄市教育局');
  await waitText(v.page, '.review-history', schools[0].name);
  for (const media of ['screen', 'print']) {
    await v.page.emulateMedia({ media });
    const text = await v.page.textContent('.layout-main');
    assert(!text.includes(schools[0].username) && !text.includes('city1301'), `no login name on the ${media} view`);
  }
  await v.shot('view-print-names');
  v.assertClean();
  await v.close();

  // the log's login rows: the person (or school) and the role, never the login name
  const o = await session('walkthrough/audit-logins');
  await o.login('ops');
  await o.goto('/admin/audit?entity=account&action=account.login');
  await o.page.waitForSelector('.audit-table .el-table__row .audit-by');
  const bys = await o.page.locator('.audit-table .audit-by').allTextContents();
  assert(bys.length > 0 && bys.every((b) => !LOGIN_NAME.test(b.trim())), `logins by name: ${bys.slice(0, 6)}`);
  assert(bys.some((b) => b.includes('王市审（石家庄市教育局）')), `the city reviewer by name and unit: ${bys.slice(0, 6)}`);
  await waitText(o.page, '.audit-table', '地市级教育行政部门');
  await o.shot('audit-logins');
  o.assertClean();
  await o.close();
});

test('walkthrough: ops\' 申报统计 opens on the newest plan with declarations and says 暂无数据 where there is nothing to draw', async () => {
  const ops = await apiAs('ops');
  await cityQueue('走查测试 统计计划', 1);
  // a newer published plan with nothing in it (北京, not by major): not the one shown first
  const bj = await apiAs('province11');
  const empty = await bj.post('/api/admin/plans', { year: 2032, batch: 9, title: '走查测试 空计划', mode: 'not_by_major', starts_at: iso(-3600), ends_at: iso(20 * 86400) });
  eq(empty.status, 201, 'an empty plan');
  eq((await bj.post(`/api/admin/plans/${empty.data.id}/publish`, {})).status, 200, 'published');
  const plans = (await ops.get('/api/admin/plans')).data.filter((p) => p.published !== false);
  eq(plans[0].id, empty.data.id, 'the newest plan of all is the empty one');
  const expected = plans.find((p) => p.submitted > 0);
  assert(expected, 'a plan with submitted declarations');

  const s = await session('walkthrough/ops-stats');
  const { page } = s;
  await s.login('ops');
  await s.goto('/admin/stats');
  await page.waitForSelector('.chart-status svg');
  await waitText(page, '.flt-plan', expected.title);
  assert(page.url().includes(`plan=${expected.id}`), `the newest plan with declarations: ${page.url()} (${expected.title})`);
  for (const c of ['.chart-status', '.chart-city', '.chart-certificate']) {
    await page.waitForFunction((sel) => document.querySelectorAll(`${sel} svg path`).length > 0, c);
  }
  await s.shot('default-plan');

  await s.goto(`/admin/stats?plan=${empty.data.id}`);
  await waitText(page, '.flt-plan', '走查测试 空计划');
  for (const c of ['.chart-status', '.chart-city', '.chart-certificate']) {
    await waitText(page, `${c} .echart-empty`, '暂无数据');
    eq(await page.locator(`${c} .echart-canvas`).count(), 0, `${c}: no chart drawn (no empty axes or ring)`);
  }
  await s.shot('empty-plan');
  s.assertClean();
  await s.close();
});

test('walkthrough: on a phone (390 px) the majors of the form are cards with full-width fields; the draft saved with what submitting needs', async () => {
  const s = await session('walkthrough/phone-majors', { viewport: { width: 390, height: 844 } });
  const { page } = s;
  const school = await apiAs('school132');
  const plan = (await school.get('/api/plans')).data.find((p) => p.mode === 'by_major' && p.can_declare);
  assert(plan, 'an open plan by major');
  // a certificate it has not declared in the plan, whose first two majors it may declare
  const taken = (await school.get('/api/declarations?size=100')).data.items.filter((d) => d.plan_id === plan.id).map((d) => d.certificate_id);
  let cert = null;
  for (const c of (await school.get('/api/certificates')).data) {
    if (taken.includes(c.id) || c.majors.length < 2) continue;
    const ms = (await school.get(`/api/majors?certificate=${c.id}`)).data;
    if (ms.length >= 2 && ms[0].allowed !== false && ms[1].allowed !== false) { cert = c; break; }
  }
  assert(cert, 'a certificate to declare');
  await s.login('school132');
  await s.goto(`/school/declare/${plan.id}`);
  await page.waitForSelector('.decl-form');
  await s.choose('.f-certificate', 'pop-certificate', `${cert.name}（${cert.level}）`, cert.name.slice(0, 4));
  await page.click('.btn-pick-majors');
  await page.waitForSelector('.major-table .el-table__body .el-table__row');
  await page.click('.major-table .el-table__body .el-table__row:nth-child(1) .el-checkbox');
  await page.click('.major-table .el-table__body .el-table__row:nth-child(2) .el-checkbox');
  await page.click('.major-dialog .el-dialog__footer .el-button--primary');
  const cards = page.locator('.majors-cards .major-card');
  await cards.nth(1).waitFor();
  eq(await cards.count(), 2, 'two majors, one card each');
  eq(await page.locator('.majors-table').count(), 0, 'no cramped table');
  for (const f of ['.f-students', '.f-teachers', '.f-trainees']) {
    const box = await cards.nth(0).locator(`${f} input`).boundingBox();
    assert(box.width >= 250 && box.x >= 0 && box.x + box.width <= 390, `${f} is a full-width field: ${JSON.stringify(box)}`);
  }
  await cards.nth(0).locator('.f-students input').fill('60');
  await cards.nth(0).locator('.f-teachers input').fill('5');
  await cards.nth(0).locator('.f-trainees input').fill('30');
  await cards.nth(0).locator('.f-trainees input').blur();
  eq(await page.inputValue('.f-trainees-total input'), '30', 'the total follows the cards');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 1, `no horizontal page scroll (overflow ${overflow}px)`);
  await cards.nth(0).scrollIntoViewIfNeeded();
  await s.shot('majors-cards');

  // 保存: the draft is saved, and what 保存并提交 would refuse is marked beside the fields
  await page.click('.btn-save');
  await page.waitForURL(/#\/school\/declarations\/\d+\/edit/);
  await page.waitForSelector('.draft-warnings');
  await waitText(page, '.fi-faculty', '请填写师资情况');
  await waitText(page, '.majors-cards .major-card:nth-child(2)', '请填写');
  await s.shot('draft-warnings');
  const id = Number(/declarations\/(\d+)\/edit/.exec(page.url())[1]);
  eq((await school.get(`/api/declarations/${id}`)).data.status, 'draft', 'saved as a draft');

  // the attachment limit in the server's words, checked before the upload
  await page.waitForSelector('.attach-hint');
  await waitText(page, '.attach-hint', '10 MB（10,485,760 字节）');
  const over = Buffer.alloc(10 * 1024 * 1024 + 1, 7);
  Buffer.from('%PDF-1.4\n').copy(over);
  // from a file on disk: a 10 MiB buffer sent through the protocol is slow on a busy machine
  const bigPath = join(srv.dir, '超大.pdf');
  writeFileSync(bigPath, over);
  await page.setInputFiles('.attach-input', bigPath, { timeout: 60000 });
  await waitText(page, '.el-message--error', '附件不能超过 10 MB（10,485,760 字节）');
  eq((await school.get(`/api/declarations/${id}`)).data.attachments.length, 0, 'nothing uploaded');
  eq((await school.del(`/api/declarations/${id}`)).status, 200, 'cleaned up');
  s.assertClean();
  await s.close();
});
