// Not by major (不按专业申报): 申请培训总人数 is typed and required, majors are
// optional; a server field error appears beside its field; then it submits.
// Uses the demo school of 广东省 (44), whose demo plan is not by major.
import { test, assert, eq } from '../lib/harness.mjs';
import { session, waitText } from './ctx.mjs';

test('not by major: typed total, field error in place, submit', async () => {
  const s = await session('not-by-major/school');
  const { page } = s;
  await s.login('school441');
  await s.goto('/school/plans');
  await page.waitForSelector('.plans-table .btn-declare');
  await waitText(page, '.plans-table', '不按专业申报');
  await s.shot('plans');
  await page.click('.plans-table .btn-declare');
  await page.waitForSelector('.decl-form');
  assert(!(await page.isDisabled('.f-trainees-total input')), 'the total is typed in this mode');
  await waitText(page, '.fi-majors', '不添加拟申报专业则默认该试点证书的全部对应专业');
  await s.shot('form-empty');

  await s.choose('.f-certificate', 'pop-certificate', 'Web前端开发', 'Web');
  await page.click('.fi-faculty [contenteditable]');
  await page.keyboard.type('专任教师8人。');
  await page.click('.fi-venue [contenteditable]');
  await page.keyboard.type('计算机实训室1间。');
  eq((await page.textContent('.fi-venue .rich-counter')).trim(), '9/1000', 'the counter counts visible characters');

  // Submitting without the total: the server's message sits under the field.
  await page.click('.btn-submit');
  await s.confirm();
  await page.waitForSelector('.fi-trainees-total .el-form-item__error');
  const msg = (await page.textContent('.fi-trainees-total .el-form-item__error')).trim();
  assert(msg.includes('申请培训总人数'), `field error under 申请培训总人数: ${msg}`);
  await s.shot('field-error');

  await page.fill('.f-trainees-total input', '40');
  await page.locator('.f-trainees-total input').blur();
  assert(!(await page.isVisible('.fi-trainees-total .el-form-item__error')), 'the error clears when the field changes');
  await page.click('.btn-submit');
  await s.confirm();
  await page.waitForSelector('.declarations-table .status-tag');
  await waitText(page, '.declarations-table', '待审核');
  await waitText(page, '.declarations-table', 'Web前端开发');
  await s.shot('list-pending');
  s.assertClean();
  await s.close();
});

test('phone width: the form and the list are usable at 390px', async () => {
  const s = await session('not-by-major/phone', { viewport: { width: 390, height: 844 } });
  const { page } = s;
  await s.login('school442');
  await s.shot('list');
  await page.click('.menu-toggle');
  await page.click('.el-drawer .el-menu-item:has-text("证书申报计划")');
  await page.waitForSelector('.plans-table .btn-declare');
  await page.click('.plans-table .btn-declare');
  await page.waitForSelector('.decl-form');
  await s.shot('form');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 1, `no horizontal page scroll (overflow ${overflow}px)`);
  s.assertClean();
  await s.close();
});
