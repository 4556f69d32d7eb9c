// The admins' read-only pages after some activity: a demo school of 石家庄市
// (school132) declares by major through the API (session cookie + CSRF);
// the city admin approves it through the API; the province admin sees the
// review chain (市级审核 done, 省级审核 current) and approves it in the
// browser; then 试点院校 lists the school, 操作日志 shows 提交申报 and
// 审核通过 for that declaration; the city admin sees the plan list (no
// 新增/新建 button, no 发布/编辑), its statistics, its city's pilot schools
// and its city's log.
import { test, assert, eq } from '../lib/harness.mjs';
import { session, apiAs, waitText } from './ctx.mjs';

// Sets up one declaration pending at the province level; returns {id, schoolName, plan}.
async function declarationAtProvince() {
  const school = await apiAs('school132');
  const schoolName = (await school.get('/api/me')).data.school_name;
  assert(schoolName, 'the demo school has a name');
  const plans = (await school.get('/api/plans')).data;
  const plan = plans.find((p) => p.can_declare && p.mode === 'by_major');
  assert(plan, `an open by-major plan for 河北: ${JSON.stringify(plans)}`);
  const certs = (await school.get('/api/certificates?q=')).data;
  // a certificate with a major of the school's own level (高职专科)
  let cert = null, major = null;
  for (const c of certs) {
    const m = (await school.get(`/api/majors?certificate=${c.id}`)).data.find((x) => x.allowed);
    if (m) { cert = c; major = m.code; break; }
  }
  assert(cert, 'a certificate with a major the school may declare');
  const r = await school.post('/api/declarations', {
    plan_id: plan.id, certificate_id: cert.id, submit: true,
    majors: [{ major, students: 60, teachers: 6, trainees: 30 }],
    faculty: '<p>专任教师12人。</p>', venue: '<p>实训室2间。</p>',
  });
  eq(r.status, 201, `declared: ${JSON.stringify(r.data)}`);
  const id = r.data.id;
  eq((await school.get(`/api/declarations/${id}`)).data.review_level, 'city', '河北 reviews by the city first');
  const city = await apiAs('city1301');
  const a = await city.post(`/api/admin/declarations/${id}/review`, { decision: 'approve', comment: '' });
  eq(a.status, 200, `city approved: ${JSON.stringify(a.data)}`);
  eq((await school.get(`/api/declarations/${id}`)).data.review_level, 'province', 'now at the province');
  return { id, schoolName, plan };
}

test('admin pages: review chain, 试点院校, 操作日志, the city admin\'s plans', async () => {
  const { id, schoolName, plan } = await declarationAtProvince();

  // Province admin: the chain with the current level, then 审核通过 in the page.
  const s = await session('admin-pages/province13');
  const { page } = s;
  await s.login('province13');
  await s.goto(`/admin/review/${id}`);
  await page.waitForSelector('.review-chain .chain-step');
  await waitText(page, '.review-chain', '市级审核');
  await waitText(page, '.review-chain', '省级审核');
  eq(await page.getAttribute('.chain-city', 'data-status'), 'success', '市级审核 is done');
  eq(await page.getAttribute('.chain-province', 'data-status'), 'process', '省级审核 is the current level');
  assert(await page.isVisible('.chain-province.is-current'), 'the current level is highlighted');
  await s.shot('review-chain');
  await page.click('.f-decision label:has-text("审核通过")');
  await page.click('.btn-do-review');
  await s.confirm();
  await page.waitForSelector('.review-form', { state: 'detached' });
  await page.waitForSelector('.chain-province[data-status="success"]');
  await s.shot('review-chain-approved');

  // 试点院校: the school is listed for the plan's year.
  await s.goto('/admin/pilot-schools');
  await page.waitForSelector('.pilot-table .el-table__row');
  await waitText(page, '.pilot-table', schoolName);
  await waitText(page, '.pilot-summary', `${plan.year}年度`);
  await s.shot('pilot-schools');
  // Another year has none.
  await s.goto('/admin/pilot-schools?year=2019');
  await page.waitForSelector('.pilot-table .el-empty');
  await waitText(page, '.pilot-summary', '2019年度');
  assert(!(await page.textContent('.pilot-table')).includes(schoolName), 'not a pilot school in 2019');

  // 操作日志: the whole log (paged), then this declaration's rows.
  await s.goto('/admin/audit');
  await page.waitForSelector('.audit-table .el-table__row');
  await waitText(page, '.audit-pager', '共');
  await s.shot('audit');
  await s.goto(`/admin/audit?entity=declaration&entity_id=${id}`);
  await waitText(page, '.audit-table', '提交申报');
  await waitText(page, '.audit-table', '审核通过');
  const actions = await page.locator('.audit-table .audit-action').allTextContents();
  // 2026-12-02: each step in the levels of its chain (the city's approval was 审核通过, 待审核 → 待审核)
  eq(actions.map((x) => x.trim()), ['省级审核通过', '市级审核通过', '提交申报', '新建申报'], 'this declaration\'s log, newest first');
  await waitText(page, '.audit-table', '待市级审核 → 待省级审核');
  await waitText(page, '.audit-table', '待省级审核 → 审核通过');
  // issue 14: full-width punctuation in the pages' words (was 审核级别:市级)
  await waitText(page, '.audit-table', '审核级别：市级');
  await s.shot('audit-declaration');
  s.assertClean();
  await s.close();

  // City admin: plans read-only, their statistics, pilot schools and log of the city.
  const c = await session('admin-pages/city1301');
  await c.login('city1301');
  for (const t of ['申报计划', '试点院校', '操作日志']) await waitText(c.page, '.side-menu', t);
  await c.goto('/admin/plans');
  await c.page.waitForSelector('.admin-plans-table .el-table__row');
  await waitText(c.page, '.admin-plans-table', plan.title);
  const buttons = (await c.page.locator('.page button').allTextContents()).map((x) => x.trim());
  for (const no of ['新建计划', '新增申报计划', '发布', '编辑', '延期', '关闭', '删除']) {
    assert(!buttons.some((b) => b.includes(no)), `the city admin has no ${no} button: ${buttons.join(',')}`);
  }
  assert(buttons.includes('统计') && buttons.includes('审核'), `统计 and 审核 are offered: ${buttons.join(',')}`);
  eq(await c.page.locator('.btn-add-plan').count(), 0, 'no button to create a plan');
  await c.shot('plans-read-only');
  await c.page.locator('.admin-plans-table .el-table__row', { hasText: plan.title }).locator('.btn-plan-stats').first().click();
  await c.page.waitForSelector('.stat-cards');
  await c.page.waitForFunction(() => Number(document.querySelector('.stat-pilots')?.textContent) >= 1);
  await c.shot('plan-stats');
  await c.goto('/admin/pilot-schools');
  await waitText(c.page, '.pilot-table', schoolName);
  await waitText(c.page, '.pilot-summary', '石家庄市');
  await c.shot('pilot-schools');
  await c.goto('/admin/audit?action=declaration.approve');
  await waitText(c.page, '.audit-table', '审核通过');
  await c.page.click(`.audit-table .audit-entity-link:has-text("#${id}")`);
  await c.page.waitForSelector('.review-chain');
  await waitText(c.page, '.review-chain', '审核通过');
  await c.shot('audit-to-detail');
  c.assertClean();
  await c.close();
});
