// Issue 13 in the browser: nothing typed is lost (the session cleared while
// typing, then 保存, login, and the text back; the leave prompt; 立即申报
// with an incomplete profile), majors fit the school (the picker's grouping,
// a 中职 major refused for a 高职 school), attachments, the printed 申报表,
// 通知公告 seen by the province's schools only, the login page's weight, the
// list at phone width, and axe on the school's pages.
import { readFileSync } from 'node:fs';
import { test, assert, eq } from '../lib/harness.mjs';
import { Client } from '../lib/server.mjs';
import { session, apiAs, srv, waitText } from './ctx.mjs';
import { axeViolations } from './axe.mjs';

const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');
let seq = 0;
let opsClient = null;
const ops = async () => (opsClient ||= await apiAs('ops'));

// A new school of the master list with its own account (password Pass12345)
// and, unless profile is false, a complete profile. Returns {id, username, name, client}.
async function freshSchool(province, city, { type = '高职', profile = true } = {}) {
  seq++;
  const code = `48${String(process.pid % 1000).padStart(3, '0')}${String(seq).padStart(5, '0')}`;
  const r = await (await ops()).post('/api/admin/schools', { code, name: `浏览器测试学院${code}`, province, city, type });
  eq(r.status, 201, `school ${JSON.stringify(r.data)}`);
  const username = `e${code}`;
  srv.host(['user', 'add', '--role', 'school', '--username', username, '--password', 'Pass12345', '--school', String(r.data.id)]);
  const c = new Client(srv.base);
  await c.login(username, 'Pass12345');
  if (profile) {
    eq((await c.put('/api/school/profile', { address: '测试路 1 号', postcode: '510000', contact_name: '王老师', contact_phone: '13912345678', contact_email: 'wang@example.edu.cn' })).status,
      200, 'profile');
  }
  return { id: r.data.id, username, name: r.data.name, client: c };
}

async function openPlanOf(c) {
  const p = (await c.get('/api/plans')).data.find((x) => x.can_declare);
  assert(p, 'an open plan');
  return p;
}

// Types 物流 into 选择试点证书 after reaching it with Tab, then Enter.
async function pickByKeyboard(page, typed) {
  await page.click('.f-year input', { force: true }).catch(() => {});
  await page.focus('.fi-trainees-total input').catch(() => {});
  await page.keyboard.press('Tab');
  await page.waitForFunction(() => document.activeElement && document.activeElement.closest('.f-certificate'));
  await page.keyboard.type(typed);
  await page.keyboard.press('Enter');
}

test('issue 13: the session cleared while typing, then 保存, login, and the typed text is back with a note', async () => {
  const school = await freshSchool('44', '4401');
  const plan = await openPlanOf(school.client);
  const s = await session('issue13-draft');
  const { page } = s;
  await s.login(school.username, 'Pass12345');
  await s.goto(`/school/declare/${plan.id}`);
  await page.waitForSelector('.decl-form');
  // Tab into 选择试点证书, type 物流, Enter: the 物流 certificate, not the first of the list
  await pickByKeyboard(page, '物流');
  await waitText(page, '.f-certificate', '物流管理');
  assert(!(await page.textContent('.f-certificate')).includes('BIM'), 'not the BIM certificate');
  await page.fill('.f-trainees-total input', '45');
  await page.click('.fi-faculty [contenteditable]');
  await page.keyboard.type('专任教师8人，其中双师型5人。');
  await page.click('.fi-venue [contenteditable]');
  await page.keyboard.type('物流实训中心1200平方米。');
  await s.shot('typed');
  // the session ends (expired, or logged out elsewhere) while the school types
  await page.context().clearCookies();
  await page.click('.btn-save');
  await page.waitForSelector('input[name=username]');
  assert(page.url().includes('redirect='), 'the login page knows where to go back');
  await s.shot('login-after-expiry');
  await page.fill('input[name=username]', school.username);
  await page.fill('input[name=password]', 'Pass12345');
  await page.click('.auth-card button:has-text("登录")');
  await page.waitForSelector('.draft-restored');
  await waitText(page, '.fi-faculty', '专任教师8人，其中双师型5人。');
  await waitText(page, '.fi-venue', '物流实训中心1200平方米。');
  await waitText(page, '.f-certificate', '物流管理');
  eq(await page.inputValue('.f-trainees-total input'), '45', 'the typed total is back');
  assert((await page.textContent('.draft-restored')).includes('已恢复'), 'a note says so');
  await s.shot('restored');
  await page.click('.btn-save');
  await page.waitForURL(/#\/school\/declarations\/\d+\/edit/);
  const id = Number(/declarations\/(\d+)\/edit/.exec(page.url())[1]);
  const d = (await school.client.get(`/api/declarations/${id}`)).data;
  eq([d.trainees_total, d.faculty.includes('双师型'), d.certificate.includes('物流')], [45, true, true], 'saved as typed');
  await page.waitForSelector('.draft-restored', { state: 'detached' });
  s.assertClean();
  await s.close();
});

test('issue 13: leaving a changed form asks first (side menu, browser back); a CSRF failure retries with a fresh token', async () => {
  const school = await freshSchool('44', '4401');
  const plan = await openPlanOf(school.client);
  const s = await session('issue13-leave');
  const { page } = s;
  await s.login(school.username, 'Pass12345');
  await s.goto('/school/declarations');
  await s.goto(`/school/declare/${plan.id}`);
  await page.waitForSelector('.decl-form');
  await page.click('.fi-faculty [contenteditable]');
  await page.keyboard.type('尚未保存的师资情况。');
  // the browser's back
  await page.goBack();
  await page.waitForSelector('.el-message-box');
  assert((await page.textContent('.el-message-box')).includes('尚未保存'), 'the prompt says why');
  await s.shot('leave-prompt');
  await page.click('.el-message-box button:has-text("继续填写")');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  assert(page.url().includes(`/school/declare/${plan.id}`), 'still on the form');
  await waitText(page, '.fi-faculty', '尚未保存的师资情况。');
  // the side menu
  await page.click('.layout-aside >> text=证书试点申报');
  await page.waitForSelector('.el-message-box');
  await page.click('.el-message-box button:has-text("继续填写")');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  assert(page.url().includes(`/school/declare/${plan.id}`), 'still on the form');
  await waitText(page, '.fi-faculty', '尚未保存的师资情况。');
  // another tab logs in again: a new session, so this page's CSRF token is stale;
  // 保存 still saves (it reads the token again from /api/me and retries once)
  const other = await page.context().newPage();
  await other.goto(`${srv.base}/#/login`);
  await other.fill('input[name=username]', school.username);
  await other.fill('input[name=password]', 'Pass12345');
  await other.click('.auth-card button:has-text("登录")');
  await other.waitForSelector('.layout-main');
  await other.close();
  await s.choose('.f-certificate', 'pop-certificate', 'Web前端开发', 'Web');
  await page.fill('.f-trainees-total input', '20');
  const saves = [];
  page.on('response', (r) => { if (r.url().endsWith('/api/declarations') && r.request().method() === 'POST') saves.push(r.status()); });
  await page.click('.btn-save');
  await page.waitForURL(/#\/school\/declarations\/\d+\/edit/);
  eq(saves, [403, 201], 'refused for the stale token, then saved with the fresh one');
  await s.shot('saved-after-csrf-retry');
  // now unchanged: leaving asks nothing
  await page.click('.layout-aside >> text=证书试点申报');
  await page.waitForSelector('.declarations-table');
  eq(await page.locator('.el-message-box').count(), 0, 'no prompt for a saved form');
  s.assertClean();
  await s.close();
});

test('issue 13: 保存 stores a draft the rules would refuse, with their warnings beside the fields; 保存并提交 is refused', async () => {
  const school = await freshSchool('13', '1301');
  const plan = await openPlanOf(school.client);
  const s = await session('issue13-warnings');
  const { page } = s;
  await s.login(school.username, 'Pass12345');
  await s.goto(`/school/declare/${plan.id}`);
  await page.waitForSelector('.decl-form');
  await s.choose('.f-certificate', 'pop-certificate', '建筑信息模型', 'BIM');
  await page.click('.btn-pick-majors');
  await page.waitForSelector('.major-table .el-table__body .el-table__row');
  await page.click('.major-table .el-table__body tr:not(.major-not-allowed) .el-checkbox');
  await page.click('.major-dialog .el-dialog__footer .el-button--primary');
  const row = page.locator('.majors-table .el-table__body .el-table__row').nth(0);
  await row.locator('.f-students input').fill('10');
  await row.locator('.f-teachers input').fill('2');
  // 河北's rule: a major's trainees may not exceed its students
  await row.locator('.f-trainees input').fill('20');
  await row.locator('.f-trainees input').blur();
  await page.click('.btn-save');
  await page.waitForURL(/#\/school\/declarations\/\d+\/edit/);
  await page.waitForSelector('.draft-warnings');
  await waitText(page, '.majors-table .cell-trainees', '申请培训人数不能超过本专业在校学生数');
  await s.shot('draft-with-warnings');
  const id = Number(/declarations\/(\d+)\/edit/.exec(page.url())[1]);
  const d = (await school.client.get(`/api/declarations/${id}`)).data;
  eq([d.status, d.majors[0].trainees, d.majors[0].students], ['draft', 20, 10], 'the draft is stored as typed');
  await page.click('.btn-submit');
  await s.confirm();
  await waitText(page, '.majors-table .cell-trainees', '申请培训人数不能超过本专业在校学生数');
  eq((await school.client.get(`/api/declarations/${id}`)).data.status, 'draft', '保存并提交 refused: still a draft');
  s.assertClean();
  await s.close();
});

test('issue 13: 立即申报 leads a school with an incomplete profile to 完善院校基础信息 first, then back to the form', async () => {
  const school = await freshSchool('44', '4401', { profile: false });
  const s = await session('issue13-profile');
  const { page } = s;
  await s.login(school.username, 'Pass12345');
  await s.goto('/school/plans');
  await page.click('.plans-table .btn-declare');
  await page.waitForSelector('.profile-form');
  assert(page.url().includes('next='), 'the profile page knows where to go back');
  await page.fill('.pf-address input', '广州市天河区 1 号');
  await page.fill('.pf-contact_name input', '陈老师');
  await page.fill('.pf-contact_phone input', '13912345678');
  await page.fill('.pf-contact_email input', 'chen@example.edu.cn');
  await page.click('button:has-text("下一步")');
  await page.waitForSelector('.decl-form');
  await s.shot('form-after-profile');
  s.assertClean();
  await s.close();
});

// A certificate with majors of 中职, 高职专科 and 职业本科, and one of each.
async function mixedCertificate() {
  const anon = new Client(srv.base);
  const levels = new Map((await anon.get('/api/majors')).data.map((m) => [m.code, m.level]));
  for (const c of (await anon.get('/api/certificates')).data) {
    const pick = {};
    for (const code of c.majors) pick[levels.get(code)] ||= code;
    if (pick['中职'] && pick['高职专科'] && pick['职业本科']) return { cert: c, pick };
  }
  throw new Error('no certificate with every level');
}

test('issue 13: the major picker groups by level with the school\'s own first; a 中职 major is refused for a 高职 school', async () => {
  const { cert, pick } = await mixedCertificate();
  // a 中职 school saves a draft with a 中职 major; the master list then corrects it to 高职
  const school = await freshSchool('44', '4401', { type: '中职' });
  const plan = await openPlanOf(school.client);
  const r = await school.client.post('/api/declarations', { plan_id: plan.id, certificate_id: cert.id, trainees_total: 10,
    majors: [{ major: pick['中职'], students: 40, teachers: 3, trainees: 10 }], faculty: '<p>师资</p>', venue: '<p>场地</p>', submit: false });
  eq(r.status, 201, `draft of the 中职 school ${JSON.stringify(r.data)}`);
  eq((await (await ops()).put(`/api/admin/schools/${school.id}`, { type: '高职' })).status, 200, 'now a 高职 school');
  const s = await session('issue13-majors');
  const { page } = s;
  await s.login(school.username, 'Pass12345');
  await s.goto(`/school/declarations/${r.data.id}/edit`);
  await page.waitForSelector('.decl-form');
  await page.click('.btn-save');
  await waitText(page, '.majors-table .row-error', '只能申报');
  assert((await page.textContent('.majors-table .row-error')).includes('中职'), 'the row names the level');
  await s.shot('major-level-refused');
  // the picker: 高职专科 (the school's own) first, the other levels after, not selectable
  await page.click('.btn-remove-major');
  await s.confirm();
  await page.click('.btn-pick-majors');
  await page.waitForSelector('.major-table .el-table__body .el-table__row');
  const groups = await page.$$eval('.major-table .el-table__body td.major-level-cell', (cells) =>
    cells.map((c) => c.querySelector('.major-level').textContent.trim() + '|' + c.textContent.includes('本校可申报')));
  eq(groups[0], '高职专科|true', 'the school\'s own level first');
  assert(groups.length >= 3 && groups.slice(1).every((g) => g.endsWith('|false')), `the others after: ${groups}`);
  eq(new Set(groups.map((g) => g.split('|')[0])).size, groups.length, 'one group per level');
  const disabled = await page.$$eval('.major-table .el-table__body tr.major-not-allowed .el-checkbox.is-disabled', (x) => x.length);
  const other = await page.$$eval('.major-table .el-table__body tr.major-not-allowed', (x) => x.length);
  assert(other > 0 && disabled === other, `other levels cannot be picked (${disabled}/${other})`);
  await s.shot('picker-grouped');
  await page.click('.major-table .el-table__body tr:not(.major-not-allowed) .el-checkbox');
  await page.click('.major-dialog .el-dialog__footer .el-button--primary');
  await waitText(page, '.majors-table', '高职专科');
  const rows = page.locator('.majors-table .el-table__body .el-table__row');
  await rows.nth(0).locator('.f-students input').fill('40');
  await rows.nth(0).locator('.f-teachers input').fill('3');
  await rows.nth(0).locator('.f-trainees input').fill('10');
  await rows.nth(0).locator('.f-trainees input').blur();
  await page.click('.btn-save');
  await waitText(page, '.el-message--success', '保存成功');
  eq(await page.locator('.majors-table .row-error').count(), 0, 'no row error now');
  const d = (await school.client.get(`/api/declarations/${r.data.id}`)).data;
  eq(d.majors.map((m) => m.level), ['高职专科'], 'saved with the 高职专科 major');
  s.assertClean();
  await s.close();
});

test('issue 13: an attachment uploaded, listed, downloaded and refused when disguised; the printed 申报表 has no menus', async () => {
  const school = await freshSchool('44', '4401');
  const plan = await openPlanOf(school.client);
  const cert = (await school.client.get('/api/certificates?q=BIM')).data[0];
  const r = await school.client.post('/api/declarations', { plan_id: plan.id, certificate_id: cert.id, trainees_total: 30,
    faculty: '<p>专任教师10人。</p>', venue: '<p>实训室2间。</p>', submit: false });
  eq(r.status, 201, 'a draft');
  const s = await session('issue13-attachments');
  const { page } = s;
  await s.login(school.username, 'Pass12345');
  await s.goto(`/school/declarations/${r.data.id}`);
  await page.waitForSelector('.decl-detail .btn-upload');
  await page.setInputFiles('.attach-input', { name: '办学许可证.pdf', mimeType: 'application/pdf', buffer: PDF });
  await page.waitForSelector('.attach-list .attach-link');
  await waitText(page, '.attach-list', '办学许可证.pdf');
  await s.shot('uploaded');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('.attach-link')]);
  eq(download.suggestedFilename(), '办学许可证.pdf', 'downloaded under its name');
  assert(readFileSync(await download.path()).equals(PDF), 'the same bytes');
  // a text file named .pdf is refused by its content
  await page.setInputFiles('.attach-input', { name: '证明.pdf', mimeType: 'application/pdf', buffer: Buffer.from('只是一段文字') });
  await waitText(page, '.el-message--error', '不是 PDF');
  eq(await page.locator('.attach-list .attach-item').count(), 1, 'still one attachment');
  await s.shot('disguised-refused');
  // 打印: the 申报表 alone
  await page.emulateMedia({ media: 'print' });
  for (const sel of ['.layout-header', '.layout-aside', '.btn-print', '.attach-toolbar']) {
    eq(await page.isVisible(sel), false, `${sel} hidden in print`);
  }
  assert(await page.isVisible('.print-title'), 'the title of the 申报表');
  await waitText(page, '.print-title', '申报表');
  assert(await page.isVisible('.print-majors'), 'the plain majors table');
  for (const text of ['院校名称', school.name, '证书名称', '师资情况', '场地情况', '审核记录', '状态', '证明材料']) {
    assert((await page.textContent('.decl-view')).includes(text), `printed: ${text}`);
  }
  await s.shot('print-media');
  const pdf = await page.pdf({ format: 'A4', printBackground: false });
  assert(pdf.subarray(0, 5).toString() === '%PDF-' && pdf.length > 1000, 'prints to an A4 PDF');
  await page.emulateMedia({ media: 'screen' });
  // the province's reviewer downloads it once submitted
  eq((await school.client.post(`/api/declarations/${r.data.id}/submit`)).status, 200, 'submitted');
  const admin = await session('issue13-attachments-admin');
  await admin.login('province44');
  await admin.goto(`/admin/review/${r.data.id}`);
  await admin.page.waitForSelector('.attach-list .attach-link');
  eq(await admin.page.locator('.btn-upload').count(), 0, 'no upload for the reviewer');
  const [d2] = await Promise.all([admin.page.waitForEvent('download'), admin.page.click('.attach-link')]);
  assert(readFileSync(await d2.path()).equals(PDF), 'the reviewer downloads the same bytes');
  admin.assertClean();
  await admin.close();
  s.assertClean();
  await s.close();
});

test('issue 13: a notice published by 广东 is seen by 广东\'s schools only, pinned first', async () => {
  const title = `关于做好证书试点申报工作的通知${Date.now()}`;
  const a = await session('issue13-notices-admin');
  await a.login('province44');
  await a.goto('/admin/notices');
  await a.page.click('.btn-new-notice');
  await a.page.fill('.f-notice-title input', title);
  await a.page.click('.f-notice-pinned');
  await a.page.waitForSelector('.notice-edit-dialog [contenteditable]');
  await a.page.click('.notice-edit-dialog [contenteditable]');
  await a.page.keyboard.type('请各院校于月底前完成申报。');
  await a.page.click('.btn-save-notice');
  await waitText(a.page, '.notices-table', title);
  await a.shot('published');
  a.assertClean();
  await a.close();
  const gd = await session('issue13-notices-gd');
  await gd.login('school442');
  await gd.page.waitForSelector('.notice-board');
  const first = await gd.page.textContent('.notice-board .notice-item:first-child');
  assert(first.includes(title) && first.includes('置顶'), `pinned first: ${first}`);
  await gd.page.click(`.notice-title:has-text("${title}")`);
  await waitText(gd.page, '.notice-dialog', '请各院校于月底前完成申报。');
  await gd.shot('seen');
  gd.assertClean();
  await gd.close();
  const hb = await session('issue13-notices-hb');
  await hb.login('school133');
  await hb.page.waitForSelector('.declarations-table');
  eq((await hb.page.textContent('.page')).includes(title), false, '河北 does not see 广东\'s notice');
  hb.assertClean();
  await hb.close();
});

test('issue 13: the login page transfers at most 450 KB, compressed; the list at 390 px shows certificate and status', async () => {
  const s = await session('issue13-weight');
  const { page } = s;
  const sizes = [];
  page.on('requestfinished', async (req) => {
    const sz = await req.sizes().catch(() => null);
    const resp = await req.response();
    if (sz) sizes.push({ url: req.url(), bytes: sz.responseBodySize + sz.responseHeadersSize, enc: resp && (await resp.allHeaders())['content-encoding'] });
  });
  await page.goto(`${srv.base}/#/login`);
  await page.waitForSelector('input[name=username]');
  await page.waitForLoadState('networkidle');
  const total = sizes.reduce((n, x) => n + x.bytes, 0);
  console.log(`# login page: ${sizes.length} requests, ${total} bytes transferred`);
  assert(total <= 450 * 1024, `at most 450 KB: ${total}`);
  const scripts = sizes.filter((x) => /\.js$/.test(x.url));
  assert(scripts.length > 0 && scripts.every((x) => x.enc === 'br' || x.enc === 'gzip' || x.bytes < 2048), `scripts compressed: ${JSON.stringify(scripts)}`);
  await s.close();
  const school = await freshSchool('44', '4401');
  const plan = await openPlanOf(school.client);
  const cert = (await school.client.get('/api/certificates?q=BIM')).data[0];
  eq((await school.client.post('/api/declarations', { plan_id: plan.id, certificate_id: cert.id, trainees_total: 5, submit: false })).status, 201, 'a draft');
  const phone = await session('issue13-phone', { viewport: { width: 390, height: 844 } });
  await phone.login(school.username, 'Pass12345');
  await phone.page.waitForSelector('.decl-card');
  assert(await phone.page.isVisible('.decl-card .decl-card-cert'), 'the certificate is visible');
  await waitText(phone.page, '.decl-card .decl-card-cert', cert.name);
  assert(await phone.page.isVisible('.decl-card .status-tag'), 'the status is visible');
  await waitText(phone.page, '.decl-card', '草稿');
  const box = await phone.page.locator('.decl-card').boundingBox();
  assert(box.x >= 0 && box.x + box.width <= 390, `the card fits the screen: ${JSON.stringify(box)}`);
  await phone.shot('phone-list');
  phone.assertClean();
  await phone.close();
});

test('issue 13: axe finds no critical or serious violation on the school\'s pages', async () => {
  const school = await freshSchool('44', '4401');
  const plan = await openPlanOf(school.client);
  const cert = (await school.client.get('/api/certificates?q=BIM')).data[0];
  const d = await school.client.post('/api/declarations', { plan_id: plan.id, certificate_id: cert.id, trainees_total: 5,
    faculty: '<p>师资</p>', venue: '<p>场地</p>', submit: false });
  const s = await session('issue13-axe');
  const { page } = s;
  const found = [];
  const check = async (label) => {
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(300);
    for (const v of await axeViolations(page)) found.push(`${label}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
  };
  await s.goto('/login');
  await page.waitForSelector('input[name=username]');
  await check('登录');
  await s.login(school.username, 'Pass12345');
  await page.waitForSelector('.declarations-table');
  await check('证书试点申报');
  await s.goto('/school/plans');
  await page.waitForSelector('.plans-table .btn-declare');
  await check('证书申报计划');
  await s.goto('/school/profile');
  await page.waitForSelector('.profile-form');
  await check('完善院校基础信息');
  await s.goto(`/school/declare/${plan.id}`);
  await page.waitForSelector('.decl-form .fi-faculty [contenteditable]');
  await check('申报证书试点');
  await s.goto(`/school/declarations/${d.data.id}`);
  await page.waitForSelector('.decl-detail');
  await check('查看申报');
  assert(found.length === 0, `axe violations:\n${found.join('\n')}`);
  await s.close();
});
