// The by-major journey of issue 5: a new school registers, reads its password
// from the SMS outbox, changes it, completes its profile, declares by major
// (two majors, live total), saves a draft and submits; the reviewers return
// it with a comment; the school edits and resubmits; it is approved along
// the review chain; the school sees 审核通过 and that it is a pilot school.
import { test, assert, eq } from '../lib/harness.mjs';
import { srv, session, apiAs, waitText } from './ctx.mjs';

const REVIEWER = { city: 'city1301', province: 'province13' };
const NEW_PASSWORD = 'Pilot2024ok';

// Reviews declaration id as the admin of its current level, in the browser.
async function reviewAtCurrentLevel(school, id, decision, comment, shotPrefix) {
  const d = (await school.get(`/api/declarations/${id}`)).data;
  eq(d.status, 'pending', 'declaration waits for review');
  const who = REVIEWER[d.review_level];
  assert(who, `no reviewer for level ${d.review_level}`);
  const s = await session(`by-major/${shotPrefix}-${who}`);
  await s.login(who);
  await s.goto('/admin/review');
  await s.page.fill('.flt-school input', d.school_code || d.school);
  await s.page.keyboard.press('Enter');
  await s.page.waitForSelector('.review-table .el-table__row');
  await s.shot('review-queue');
  await s.page.click('.review-table .el-table__row:first-child .btn-review');
  await s.page.waitForSelector('.review-form');
  await s.shot('review-detail');
  const label = { approve: '审核通过', return: '退回修改', reject: '审核不通过' }[decision];
  await s.page.click(`.f-decision label:has-text("${label}")`);
  if (comment) await s.page.fill('.f-comment textarea', comment);
  await s.page.click('.btn-do-review');
  await s.confirm();
  await s.page.waitForSelector('.review-form', { state: 'detached' });
  await s.shot('reviewed');
  s.assertClean();
  await s.close();
  return d.review_level;
}

test('by major: register, declare, return, resubmit, approve, pilot school', async () => {
  const phone = '137' + String(Date.now()).slice(-8);
  const s = await session('by-major/school');
  const { page } = s;

  // 登录 → 立即申报 → 注册账号
  await s.goto('/login');
  await page.waitForSelector('.auth-card');
  await s.shot('login');
  await page.click('text=立即申报');
  await s.choose('.sel-province', 'pop-province', '河北省', '河北');
  await s.choose('.sel-city', 'pop-city', '石家庄市');
  await page.click('.sel-school');
  await page.waitForSelector('.pop-school .el-select-dropdown__item');
  await s.shot('register-schools');
  const schoolName = (await page.textContent('.pop-school .el-select-dropdown__item:not(.is-disabled) span')).trim();
  await page.click('.pop-school .el-select-dropdown__item:not(.is-disabled)');
  await page.fill('input[name=phone]', phone);
  await page.click('.auth-card button:has-text("注册")');
  await page.waitForSelector('.register-done');
  await s.shot('registered');
  const username = (await page.textContent('.new-username')).trim();

  // The initial password from the SMS outbox; the first login forces a change.
  const sms = srv.sms(phone);
  assert(sms.length >= 1, 'a registration SMS was sent');
  const initial = sms[sms.length - 1].params.password;
  assert(initial, 'the SMS carries the password');
  await page.click('text=去登录');
  eq(await page.inputValue('input[name=username]'), username, 'login prefilled with the new account');
  await page.fill('input[name=password]', initial);
  await page.click('.auth-card button:has-text("登录")');
  await page.waitForSelector('input[name=old-password]');
  await s.shot('forced-password-change');
  await page.fill('input[name=old-password]', initial);
  await page.fill('input[name=new-password]', NEW_PASSWORD);
  await page.fill('input[name=confirm-password]', NEW_PASSWORD);
  await page.click('button:has-text("确定")');

  // 完善院校基础信息 → 下一步
  await page.waitForSelector('.profile-form');
  await page.waitForFunction((name) => [...document.querySelectorAll('.profile-form input')].some((i) => i.value === name), schoolName);
  await s.shot('profile');
  await page.fill('.pf-address input', '石家庄市长安区中山东路 1 号');
  await page.fill('.pf-contact_name input', '李老师');
  await page.fill('.pf-contact_phone input', '13912345678');
  await page.click('button:has-text("下一步")');

  // Plans → 立即申报
  await page.waitForSelector('.plans-table .btn-declare');
  await s.shot('plans');
  await page.click('.plans-table .btn-declare');
  await page.waitForSelector('.decl-form');

  // The form: certificate, two majors, live total, rich text
  await s.choose('.f-certificate', 'pop-certificate', '建筑信息模型', 'BIM');
  await page.click('.btn-pick-majors');
  await page.waitForSelector('.major-table .el-table__body .el-table__row');
  await s.shot('major-dialog');
  await page.click('.major-table .el-table__body .el-table__row:nth-child(1) .el-checkbox');
  await page.click('.major-table .el-table__body .el-table__row:nth-child(2) .el-checkbox');
  await page.click('.major-dialog .el-dialog__footer .el-button--primary');
  const rows = page.locator('.majors-table .el-table__body .el-table__row');
  eq(await rows.count(), 2, 'two majors added');
  const fill = async (i, students, teachers, trainees) => {
    await rows.nth(i).locator('.f-students input').fill(String(students));
    await rows.nth(i).locator('.f-teachers input').fill(String(teachers));
    await rows.nth(i).locator('.f-trainees input').fill(String(trainees));
    await rows.nth(i).locator('.f-trainees input').blur();
  };
  await fill(0, 120, 10, 40);
  eq(await page.inputValue('.f-trainees-total input'), '40', 'total follows the first row');
  await fill(1, 80, 6, 25);
  eq(await page.inputValue('.f-trainees-total input'), '65', 'total is the live sum of the rows');
  await page.click('.fi-faculty [contenteditable]');
  await page.keyboard.type('专任教师16人，其中高级职称6人。');
  await page.click('.fi-venue [contenteditable]');
  await page.keyboard.type('建筑信息模型实训室2间，计算机120台。');
  await waitText(page, '.fi-faculty .rich-counter', '/1000');
  assert(!(await page.textContent('.fi-faculty .rich-count')).startsWith('0'), 'the counter counts');
  await s.shot('form-filled');

  // 保存 (draft), then 保存并提交 with its confirmation
  await page.click('.btn-save');
  await page.waitForURL(/#\/school\/declarations\/\d+\/edit/);
  const id = Number(/declarations\/(\d+)\/edit/.exec(page.url())[1]);
  const school = await apiAs(username, NEW_PASSWORD);
  eq((await school.get(`/api/declarations/${id}`)).data.status, 'draft', 'saved as a draft');
  await s.shot('draft-saved');
  await page.click('.btn-submit');
  await page.waitForSelector('.el-message-box');
  await s.shot('submit-confirmation');
  await s.confirm();
  await page.waitForSelector('.declarations-table .status-tag');
  await waitText(page, '.declarations-table', '待审核');
  await s.shot('list-pending');

  // The first reviewer approves when the chain has two levels; then a return.
  let level = (await school.get(`/api/declarations/${id}`)).data.review_level;
  if (level === 'city') await reviewAtCurrentLevel(school, id, 'approve', '', '1');
  await reviewAtCurrentLevel(school, id, 'return', '请补充实训场地面积', '2');
  eq((await school.get(`/api/declarations/${id}`)).data.status, 'returned', 'returned to the school');

  // The school sees 退回修改 with the comment, edits and resubmits.
  await s.goto('/school/declarations');
  await waitText(page, '.declarations-table', '退回修改');
  await s.shot('list-returned');
  await page.click('.declarations-table .btn-edit');
  await page.waitForSelector('.return-comment');
  await waitText(page, '.return-comment', '请补充实训场地面积');
  await waitText(page, '.f-certificate', '建筑信息模型');
  await page.click('.fi-venue [contenteditable]');
  await page.keyboard.press('End');
  await page.keyboard.type('实训场地面积共300平方米。');
  await s.shot('edit-returned');
  await page.click('.btn-submit');
  await s.confirm();
  await page.waitForSelector('.declarations-table .status-tag');
  await waitText(page, '.declarations-table', '待审核');

  // Approved along the whole chain.
  for (let i = 0; i < 3; i++) {
    const d = (await school.get(`/api/declarations/${id}`)).data;
    if (d.status !== 'pending') break;
    level = await reviewAtCurrentLevel(school, id, 'approve', '同意', `3-${i}`);
  }
  eq((await school.get(`/api/declarations/${id}`)).data.status, 'approved', 'approved at the end of the chain');

  // 审核通过 in the list, the history in 查看, and the pilot status.
  await s.goto('/school/declarations');
  await waitText(page, '.declarations-table', '审核通过');
  await waitText(page, '.pilot-text', '试点院校');
  eq(await page.getAttribute('.pilot-text', 'data-pilot'), 'yes', 'the school is this year\'s pilot school');
  await s.shot('list-approved');
  await page.click('.declarations-table .btn-view');
  await page.waitForSelector('.review-history');
  await waitText(page, '.review-history', '退回修改');
  await waitText(page, '.review-history', '审核通过');
  await s.shot('view-history');
  s.assertClean();
  await s.close();
});
