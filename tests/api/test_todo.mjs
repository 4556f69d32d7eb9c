// Issue 14: reviewers and operators. The to-do (GET /api/admin/todo) and
// mine=1 per level of 河北's two-level chain, batch return and reject with
// and without a comment, the review page's contact and earlier declarations,
// statistics that agree (drafts apart) and the year-over-year view, the
// .xlsx exports of 试点院校, 院校总库 and the audit log read back, the
// school import from .xlsx (city by name) with its template and per-row
// report, ops creating admin accounts and changing a bound phone, and the
// words (no raw codes) of the audit log and the SMS outbox.
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { Client } from '../lib/server.mjs';
import { S, as, anon, fails, certificates, body, plan, setPlan, sql, fixture, freshSchool, newSchoolCode, newPhone, register } from './ctx.mjs';
import { readSheet } from './xlsx_read.mjs';

// Invented 学校标识码 of this file: 4914xxxxxx.
const newCode = () => newSchoolCode('14');
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const tmp = mkdtempSync(join(tmpdir(), 'todo-test-'));

async function declare(school, pid, cert, mode, extra) {
  const r = await school.client.post('/api/declarations', body(pid, cert, mode, extra));
  eq(r.status, 201, `declared ${JSON.stringify(r.data)}`);
  return r.data;
}

const review = (c, id, decision, comment) =>
  c.post(`/api/admin/declarations/${id}/review`, comment === undefined ? { decision } : { decision, comment });

// A raw upload (an .xlsx or CSV file as the body) with the client's session.
async function upload(c, path, bytes, type) {
  const r = await fetch(c.base + path, {
    method: 'POST', body: bytes,
    headers: { cookie: c.cookie, 'x-csrf-token': c.csrf, 'content-type': type },
  });
  const ct = r.headers.get('content-type') || '';
  return { status: r.status, data: ct.includes('json') ? await r.json() : Buffer.from(await r.arrayBuffer()), headers: r.headers };
}

function xlsxFile(header, rows) {
  const path = join(tmp, `upload-${Math.random().toString(36).slice(2)}.xlsx`);
  fixture('xlsx_file', { path, header, rows });
  return readFileSync(path);
}

// 河北 (13): three schools of 石家庄 declare in a new plan; one is approved
// by the city (now at the province), one stays at the city, one is a draft.
async function hebeiQueue(title) {
  const pid = plan('13', 'by_major', { title });
  const certs = await certificates();
  const [A, B, C] = [await freshSchool('13', '1301', '14'), await freshSchool('13', '1301', '14'),
    await freshSchool('13', '1301', '14')];
  const a = await declare(A, pid, certs[0], 'by_major');
  const b = await declare(B, pid, certs[1], 'by_major');
  const c = await declare(C, pid, certs[2], 'by_major', { submit: false });
  eq([a.status, a.review_level, b.review_level, c.status], ['pending', 'city', 'city', 'draft'], 'set up');
  eq((await review(await as('city1301'), a.id, 'approve')).data.review_level, 'province', 'a: at the province now');
  return { pid, certs, A, B, C, a, b, c };
}

// ---- the to-do and mine=1 ----------------------------------------------------

test('todo: counts per plan at the caller\'s level (city, province, ops), and mine=1 lists exactly those', async () => {
  const { pid, a, b } = await hebeiQueue('待办测试 两级链');
  const forPlan = (t) => t.by_plan.find((x) => x.plan_id === pid);

  const city = await as('city1301');
  const ct = (await city.get('/api/admin/todo')).data;
  eq([ct.level, ct.level_name, forPlan(ct).pending, forPlan(ct).title], ['city', '市级', 1, '待办测试 两级链'], 'the city: b waits for it');
  const cityMine = (await city.get(`/api/admin/declarations?mine=1&plan=${pid}`)).data;
  eq([cityMine.total, cityMine.items.map((x) => x.id)], [1, [b.id]], 'city mine=1: b only (a went on, c is a draft)');
  const cityAll = (await city.get('/api/admin/declarations?mine=1&size=100')).data;
  eq(ct.pending_for_me, cityAll.total, 'pending_for_me is mine=1\'s total');
  eq(ct.pending_for_me, ct.by_plan.reduce((n, x) => n + x.pending, 0), 'and the sum over plans');
  assert(cityAll.items.every((x) => x.status === 'pending' && x.review_level === 'city' && x.city === '1301'),
    'every item pending at the city, in 石家庄');

  const prov = await as('province13');
  const pt = (await prov.get('/api/admin/todo')).data;
  eq([pt.level, pt.level_name, forPlan(pt).pending], ['province', '省级', 1], 'the province: a waits for it');
  eq((await prov.get(`/api/admin/declarations?mine=1&plan=${pid}`)).data.items.map((x) => x.id), [a.id],
    'province mine=1: not b, which the city has not decided');
  eq((await prov.get(`/api/admin/declarations?plan=${pid}`)).data.total, 2, 'without mine: both (no draft)');
  const provAll = (await prov.get('/api/admin/declarations?mine=1&size=100')).data;
  eq(pt.pending_for_me, provAll.total, 'province pending_for_me is mine=1\'s total');
  assert(provAll.items.every((x) => x.review_level === 'province' && x.province === '13'), 'all at the province, in 河北');

  const ops = await as('ops');
  const ot = (await ops.get('/api/admin/todo')).data;
  eq([ot.level, forPlan(ot).pending], ['all', 2], 'ops: every level');
  eq((await ops.get(`/api/admin/declarations?mine=1&plan=${pid}`)).data.total, 2, 'ops mine=1: both');

  // another city and another province see none of it
  assert(!forPlan((await (await as('province44')).get('/api/admin/todo')).data), '广东 sees nothing of 河北\'s plan');
  const gz = (await (await as('city4401')).get(`/api/admin/declarations?mine=1&plan=${pid}`)).data;
  eq(gz.total, 0, '广州 sees none');

  // the nearest deadlines: the province's published plans still to end, nearest first
  const nearest = sql(`SELECT id FROM plans WHERE province_code = '13' AND status = 'published'
    AND ends_at > ? ORDER BY ends_at, id LIMIT 5`, Math.floor(Date.now() / 1000)).map((x) => x.id);
  eq(pt.deadlines.map((x) => x.plan_id), nearest, 'the five nearest deadlines of 河北');
  assert(pt.deadlines.every((x) => x.state !== 'closed'), 'no closed plan');
  setPlan(pid, { ends: 300 });             // this plan now ends among the first
  const dl = (await prov.get('/api/admin/todo')).data.deadlines.find((x) => x.plan_id === pid);
  assert(dl, 'ending in five minutes: among the nearest');
  eq([dl.days_left, dl.pending, dl.batch_name, dl.state], [0, 1, '第二次', 'open'], 'with its count');
  setPlan(pid, { ends: 30 * 86400 });

  // after the city's decision, the count moves on to the province
  eq((await review(city, b.id, 'approve')).status, 200, 'b approved by the city');
  eq(forPlan((await city.get('/api/admin/todo')).data), undefined, 'nothing left for the city in that plan');
  eq(forPlan((await prov.get('/api/admin/todo')).data).pending, 2, 'two for the province');
  fails(await (await as('school131')).get('/api/admin/todo'), 403, 'forbidden');
});

// ---- batch decisions ---------------------------------------------------------

test('batch review: return and reject need a comment (422, nothing changes); with one, each id is decided and told', async () => {
  const pid = plan('13', 'by_major', { title: '待办测试 批量退回' });
  const certs = await certificates();
  const schools = [];
  for (let i = 0; i < 4; i++) schools.push(await freshSchool('13', '1301', '14'));
  const ds = [];
  for (let i = 0; i < 4; i++) ds.push(await declare(schools[i], pid, certs[i], 'by_major'));
  const city = await as('city1301');
  const ids = ds.map((d) => d.id);

  for (const decision of ['return', 'reject']) {
    for (const comment of [undefined, '', '   ']) {
      const bodyNoComment = comment === undefined ? { ids, decision } : { ids, decision, comment };
      fails(await city.post('/api/admin/declarations/batch-review', bodyNoComment), 422, 'validation_failed', 'comment', 'required');
    }
  }
  fails(await city.post('/api/admin/declarations/batch-review', { ids, decision: 'maybe', comment: 'x' }), 422, 'validation_failed', 'decision');
  fails(await city.post('/api/admin/declarations/batch-review', { ids: [], decision: 'return', comment: 'x' }), 422, 'validation_failed', 'ids');
  eq(sql(`SELECT status FROM declarations WHERE id IN (${ids.join(',')})`).map((x) => x.status), ['pending', 'pending', 'pending', 'pending'],
    'nothing changed');
  eq(sql(`SELECT count(*) AS n FROM reviews WHERE decision <> 'submit' AND declaration_id IN (${ids.join(',')})`)[0].n, 0, 'no review stored');

  const ret = await city.post('/api/admin/declarations/batch-review', { ids: [ids[0], ids[1]], decision: 'return', comment: '请补充师资证明' });
  eq([ret.status, ret.data.done.map((x) => [x.id, x.status]), ret.data.failed], [200, [[ids[0], 'returned'], [ids[1], 'returned']], []], 'two returned');
  const rej = await city.post('/api/admin/declarations/batch-review', { ids: [ids[2], ids[0], 999999], decision: 'reject', comment: '场地不符合要求' });
  eq(rej.data.done.map((x) => [x.id, x.status]), [[ids[2], 'rejected']], 'one rejected');
  eq(rej.data.failed.map((x) => [x.id, x.code]), [[ids[0], 'wrong_status'], [999999, 'not_found']], 'the returned one and an unknown id fail apart');
  assert(rej.data.failed.every((x) => /[\u4e00-\u9fff]/.test(x.message)), 'failures say why in Chinese');

  const mine = (await schools[0].client.get(`/api/declarations/${ids[0]}`)).data;
  eq([mine.status, mine.reviews.at(-1).decision, mine.reviews.at(-1).comment], ['returned', 'return', '请补充师资证明'], 'the school sees the comment');
  const sms0 = S.main.sms(schools[0].phone).filter((m) => m.template === 'review');
  eq(sms0.map((m) => m.params.result), ['退回修改'], 'school 0 told once');
  assert(sms0[0].text.includes('意见：请补充师资证明'), 'with the comment');
  eq(S.main.sms(schools[2].phone).filter((m) => m.template === 'review').map((m) => m.params.result), ['审核不通过'], 'school 2 told');
  eq(sql("SELECT action, after_status FROM audit_log WHERE entity = 'declaration' AND entity_id = ? AND action LIKE 'declaration.re%'", ids[2])
    .map((x) => [x.action, x.after_status]), [['declaration.reject', 'rejected']], 'audited');
  // approve needs no comment, and the province cannot act at the city's level
  const prov = await as('province13');
  const pa = await prov.post('/api/admin/declarations/batch-review', { ids: [ids[3]], decision: 'approve' });
  eq(pa.data.failed.map((x) => x.code), ['not_your_level'], 'the province: not its level');
  eq((await city.post('/api/admin/declarations/batch-review', { ids: [ids[3]], decision: 'approve' })).data.done[0].status, 'pending', 'on to the province');
});

// ---- the review page ---------------------------------------------------------

test('review page: the school\'s contact, its earlier declarations with outcomes, reviewers by name and unit', async () => {
  const { a, A, pid, certs } = await hebeiQueue('待办测试 审核页');
  // an earlier declaration of A, returned with a comment
  const old = plan('13', 'by_major', { title: '待办测试 往年', year: 2024, batch: 1 });
  const e = await declare(A, old, certs[3], 'by_major');
  eq((await review(await as('city1301'), e.id, 'return', '材料不全')).status, 200, 'returned');
  const v = (await (await as('province13')).get(`/api/admin/declarations/${a.id}`)).data;
  eq([v.contact.name, v.contact.phone, v.contact.email], ['李老师', '13912345678', 'li@example.edu.cn'], 'contact from the profile');
  eq(v.earlier.map((x) => [x.id, x.year, x.batch_name, x.status, x.status_name, x.last_comment]),
    [[e.id, 2024, '第一次', 'returned', '退回修改', '材料不全']], 'the earlier declaration and its outcome');
  eq(v.reviews.map((x) => x.reviewer), [A.name, '王市审（石家庄市教育局）'], 'the school by its name, the city reviewer by name and unit');
  assert(!v.earlier.some((x) => x.plan_id === pid), 'not itself');
  // the school still sees levels, not reviewers' names
  const mine = (await A.client.get(`/api/declarations/${a.id}`)).data;
  assert(mine.reviews.every((x) => x.reviewer === undefined), 'no reviewer names for the school');
});

// ---- statistics --------------------------------------------------------------

test('stats: 申报总数 counts submitted declarations as the city chart does, drafts apart; the years side by side', async () => {
  const { pid } = await hebeiQueue('待办测试 统计');
  const prov = await as('province13');
  const st = (await prov.get(`/api/admin/plans/${pid}/stats`)).data;
  eq([st.declared, st.drafts, st.by_status.pending, st.by_status.draft], [2, 1, 2, 1], 'two declared, one draft');
  eq(st.by_city.reduce((n, x) => n + x.count, 0), st.declared, 'the cities add up to 申报总数');
  // the plan list says which plans have something to draw (申报统计 opens on the newest of them)
  const listed = (await (await as('ops')).get('/api/admin/plans')).data.find((p) => p.id === pid);
  eq([listed.declarations, listed.submitted], [3, st.declared], 'the plan carries its submitted count beside all declarations');
  eq(st.by_certificate.reduce((n, x) => n + x.count, 0), st.declared, 'the certificates too');
  assert(st.by_certificate.every((x) => /（(初级|中级|高级)）$/.test(x.name)), `certificate names carry the level: ${st.by_certificate.map((x) => x.name)}`);
  const years = (await prov.get('/api/admin/stats/years')).data.items;
  const y = years.find((x) => x.year === new Date(Date.now() + 8 * 3600e3).getUTCFullYear());
  const db = sql(`SELECT count(*) AS n FROM declarations d JOIN plans p ON p.id = d.plan_id JOIN schools s ON s.id = d.school_id
    WHERE s.province_code = '13' AND p.year = ? AND d.status <> 'draft'`, y.year)[0].n;
  eq(y.declared, db, 'the year\'s declared count matches the database');
  eq(y.pending + y.approved + y.rejected + y.returned, y.declared, 'the statuses add up');
  eq(years.map((x) => x.year), [...years.map((x) => x.year)].sort(), 'oldest first');
  const city = (await (await as('city4401')).get('/api/admin/stats/years')).data.items;
  eq(sql(`SELECT count(*) AS n FROM declarations d JOIN plans p ON p.id = d.plan_id JOIN schools s ON s.id = d.school_id
    WHERE s.city_code = '4401' AND s.province_code = '44' AND d.status <> 'draft'`)[0].n, city.reduce((n, x) => n + x.declared, 0), 'a city: its own only');
});

// ---- exports -----------------------------------------------------------------

test('exports: 试点院校, 院校总库 and the audit log as real .xlsx, scoped and filtered, in words', async () => {
  const { a, A, certs } = await hebeiQueue('待办测试 导出');
  const prov = await as('province13');
  eq((await review(prov, a.id, 'approve')).data.status, 'approved', 'A is a pilot school');
  const year = new Date(Date.now() + 8 * 3600e3).getUTCFullYear();

  const ps = await prov.get(`/api/admin/pilot-schools.xlsx?year=${year}`);
  eq([ps.status, ps.headers.get('content-type')], [200, XLSX], 'pilot schools exported');
  assert(/filename="pilot-schools-\d{4}-\d{12}\.xlsx"/.test(ps.headers.get('content-disposition')), 'a download');
  const prow = readSheet(ps.data);
  // 2026-12-02: with the 省份 column (ops' export spans provinces)
  eq(prow[0], ['序号', '年度', '学校标识码', '学校名称', '省份', '所在城市', '审核通过申报数', '审核通过的试点证书'], 'header');
  const mine = prow.find((x) => x[2] === A.code);
  eq([mine[3], mine[4], mine[5], mine[6]], [A.name, '河北省', '石家庄市', '1'], 'A\'s row');
  assert(mine[7].includes(`${certs[0].name}（${certs[0].level}）`), `its certificate with the level: ${mine[7]}`);
  const national = readSheet((await (await as('ops')).get(`/api/admin/pilot-schools.xlsx?year=${year}`)).data);
  eq(national.find((x) => x[2] === A.code)[4], '河北省', 'ops\' national export names each school\'s province');
  assert(national.slice(1).every((x) => /省|市|自治区/.test(x[4])), 'every row has its province');
  const api = (await prov.get(`/api/admin/pilot-schools?year=${year}`)).data;
  eq(prow.length - 1, api.total, 'as many rows as the list');
  const gd = readSheet((await (await as('province44')).get(`/api/admin/pilot-schools.xlsx?year=${year}`)).data);
  assert(!gd.some((x) => x[2] === A.code), '广东: not A');

  const sc = await (await as('city1301')).get(`/api/admin/schools.xlsx?q=${encodeURIComponent(A.name)}`);
  eq(sc.status, 200, 'schools exported');
  const srow = readSheet(sc.data);
  eq(srow[0], ['学校标识码', '学校名称', '省份', '所在城市', '办学类型', '主管部门', '办学性质', '状态', '账号'], 'header');
  eq(srow.slice(1).map((x) => [x[0], x[1], x[2], x[3], x[4], x[7], x[8]]),
    [[A.code, A.name, '河北省', '石家庄市', '高职', '启用', '已注册']], 'filtered to A, in words');
  const all = readSheet((await (await as('city1301')).get('/api/admin/schools.xlsx')).data);
  eq(all.length - 1, (await (await as('city1301')).get('/api/admin/schools?size=1')).data.total, 'every school of the city, past one page');
  assert(all.slice(1).every((x) => x[3] === '石家庄市'), 'the city\'s only');

  const au = await prov.get(`/api/admin/audit.xlsx?entity=declaration&entity_id=${a.id}`);
  eq(au.status, 200, 'audit exported');
  const arow = readSheet(au.data);
  eq(arow[0], ['操作时间', '操作人', '角色', '操作', '操作对象', '对象编号', '状态变化', '详情', 'IP地址'], 'header');
  const acts = arow.slice(1).map((x) => x[3]);
  assert(acts.includes('提交申报') && acts.includes('市级审核通过') && acts.includes('省级审核通过'), `actions in words: ${acts}`);
  const approveRow = arow.find((x) => x[3] === '省级审核通过');
  eq([approveRow[1], approveRow[2], approveRow[4], approveRow[6]], ['刘省审（河北省教育厅）', '省级教育行政部门', '申报', '待省级审核 → 审核通过'],
    'who by name and unit, the change in words');
  // 2026-12-02: the city's approval was 待审核 → 待审核
  const cityRow = arow.find((x) => x[3] === '市级审核通过');
  eq([cityRow[1], cityRow[6]], ['王市审（石家庄市教育局）', '待市级审核 → 待省级审核'], 'the city\'s step as it was');
  assert(approveRow[7].includes('审核级别：省级'), `detail in words: ${approveRow[7]}`);
  assert(!arow.flat().some((c) => /^(declaration|account)\.[a-z_]+$/.test(c)), 'no raw action codes');
  fails(await (await as('school131')).get('/api/admin/audit.xlsx'), 403, 'forbidden');
});

// Regression, issue 14 (2026-12-01): the Excel said 第2批 and 地市级 where the
// pages say 第二次 and 市级, and 通过 where they say 审核通过.
test('exports: the declarations workbook uses the pages\' words: 第二次, 市级审核通过, 待审核（省级）, reviewers by name', async () => {
  const { pid, a, b, A } = await hebeiQueue('待办测试 用词');
  const rows = readSheet((await (await as('province13')).get(`/api/admin/declarations.xlsx?plan=${pid}`)).data);
  const h = rows[0];
  const ra = rows.find((x) => Number(x[h.indexOf('申报编号')]) === a.id);
  const rb = rows.find((x) => Number(x[h.indexOf('申报编号')]) === b.id);
  eq([ra[h.indexOf('申报批次')], ra[h.indexOf('状态')], rb[h.indexOf('状态')]], ['第二次', '待审核（省级）', '待审核（市级）'], 'batch and status in words');
  const log = ra[h.indexOf('审核记录')];
  assert(log.includes('市级审核通过（王市审（石家庄市教育局））') && !log.includes('地市级'), `the city's approval: ${log}`);
  assert(log.includes('院校提交'), `the submission: ${log}`);
  eq(S.main.sms(A.phone).filter((m) => m.template === 'review').map((m) => m.params.result), ['市级审核通过，待省级审核'],
    'the SMS says 市级 too');
});

// ---- import --------------------------------------------------------------------

test('import: an .xlsx with Chinese headers, the city by name or code, a per-row report; all or nothing; the template', async () => {
  const city = await as('city1301');
  const tpl = await city.get('/api/admin/schools/import-template.xlsx');
  eq([tpl.status, tpl.headers.get('content-type')], [200, XLSX], 'a template to download');
  const header = readSheet(tpl.data)[0];
  eq(header, ['学校标识码', '学校名称', '所在城市', '办学类型', '省份', '主管部门', '办学性质'], 'its columns');
  eq(readSheet(tpl.data)[1][2], '石家庄市', 'an example row of the city');

  const [a, b, c] = [newCode(), newCode(), newCode()];
  // 学校标识码 typed as a number, as Excel does
  const bad = xlsxFile(header, [
    [Number(a), '导入甲职业学院', '石家庄市', '高职', '', '河北省教育厅', '公办'],
    ['12345', '导入乙学院', '石家庄', '高职', '', '', ''],
    [b, '导入丙学院', '唐山市', '中职', '', '', ''],
    ['', '', '', '', '', '', ''],
    [c, '导入丁学院', '1301', '大学', '', '', ''],
  ]);
  const r = await upload(city, '/api/admin/schools/import', bad, XLSX);
  fails(r, 422, 'import_refused');
  eq(r.data.rows.map((x) => [x.row, x.ok]), [[2, true], [3, false], [4, false], [6, false]], 'every row reported, the blank one skipped');
  assert(r.data.rows[1].reason.includes('10 位'), `row 3: ${r.data.rows[1].reason}`);
  assert(/[\u4e00-\u9fff]/.test(r.data.rows[2].reason), `row 4 (another city): ${r.data.rows[2].reason}`);
  assert(r.data.rows[3].reason.includes('办学类型'), `row 6: ${r.data.rows[3].reason}`);
  eq(r.data.rows[0].code, a, 'the numeric code read as text');
  eq(sql('SELECT count(*) AS n FROM schools WHERE code IN (?, ?, ?)', a, b, c)[0].n, 0, 'nothing imported');

  const good = xlsxFile(header, [
    [Number(a), '导入甲职业学院', '石家庄市', '高职', '', '河北省教育厅', '公办'],
    [b, '导入丙学院', '石家庄', '中职', '河北省', '', ''],
    [c, '导入丁学院', '1301', '技工', '', '', ''],
  ]);
  const ok = await upload(city, '/api/admin/schools/import', good, XLSX);
  eq([ok.status, ok.data.imported, ok.data.rows.map((x) => [x.row, x.result])], [200, 3, [[2, '已导入'], [3, '已导入'], [4, '已导入']]], 'imported');
  eq(sql('SELECT code, city_code, type, authority FROM schools WHERE code IN (?, ?, ?) ORDER BY code', a, b, c).map((x) => [x.city_code, x.type]),
    [['1301', '高职'], ['1301', '中职'], ['1301', '技工']], 'stored in 石家庄');

  // ops: the province follows from the city's name within a named province
  const d = newCode();
  const csv = `学校标识码,学校名称,所在城市,办学类型,省份\n${d},导入戊学院,广州市,高职,广东省\n`;
  const oc = await upload(await as('ops'), '/api/admin/schools/import', Buffer.from(csv), 'text/csv; charset=utf-8');
  eq([oc.status, oc.data.imported], [200, 1], 'ops imports a CSV file');
  const where = sql('SELECT province_code, city_code FROM schools WHERE code = ?', d)[0];
  eq([where.province_code, where.city_code], ['44', '4401'], 'in 广州');
  // a file that is not a workbook, and a sheet without the columns
  fails(await upload(city, '/api/admin/schools/import', Buffer.from('PK\x03\x04garbage'), XLSX), 422, 'validation_failed', 'file', 'unreadable');
  fails(await upload(city, '/api/admin/schools/import', xlsxFile(['名称'], [['x']]), XLSX), 422, 'validation_failed', 'csv', 'missing_column');
});

// 2026-12-02: the template's example row was imported as a real school when the
// template was filled in below it (or uploaded as it is).
test('import: the template\'s example row is never imported: alone it is refused, beside real rows it is skipped and reported', async () => {
  const city = await as('city1301');
  const tpl = await city.get('/api/admin/schools/import-template.xlsx');
  const [header, sample] = readSheet(tpl.data);
  assert(sample[0].startsWith('示例') && sample[1].startsWith('示例') && sample[1].includes('导入时跳过'),
    `the example row says what it is: ${sample}`);
  const before = sql("SELECT count(*) AS n FROM schools WHERE name LIKE '示例%'")[0].n;
  fails(await upload(city, '/api/admin/schools/import', tpl.data, XLSX), 422, 'validation_failed', 'csv', 'only_sample');
  const a = newCode();
  const filled = xlsxFile(header, [sample, [a, '导入己职业学院', '石家庄市', '高职', '', '', '']]);
  const r = await upload(city, '/api/admin/schools/import', filled, XLSX);
  eq([r.status, r.data.imported], [200, 1], 'the real row imported, the example skipped');
  eq(r.data.rows.map((x) => [x.row, x.ok, x.result]), [[2, true, '已跳过'], [3, true, '已导入']], 'both reported, in file order');
  assert(r.data.rows[0].reason.includes('示例'), `the reason: ${r.data.rows[0].reason}`);
  eq(sql("SELECT count(*) AS n FROM schools WHERE name LIKE '示例%'")[0].n, before, 'no 示例 school in the master list');
  eq(sql('SELECT name FROM schools WHERE code = ?', a).map((x) => x.name), ['导入己职业学院'], 'the real one is');
  // the example typed over (a real code and name) is a real row
  const b = newCode();
  const over = await upload(city, '/api/admin/schools/import', xlsxFile(header, [[b, '导入庚学院', ...sample.slice(2)]]), XLSX);
  eq([over.status, over.data.imported], [200, 1], 'an example row typed over imports');
  // CSV alike
  const csv = await city.post('/api/admin/schools/import', { csv: `${header.join(',')}\n${sample.join(',')}\n` });
  fails(csv, 422, 'validation_failed', 'csv', 'only_sample');
});

// ---- ops: admin accounts and bound phones ---------------------------------------

test('ops: creates city and province admin accounts (password by SMS, changed at first login); bad input changes nothing', async () => {
  const ops = await as('ops');
  const tag = `${process.pid % 10000}`;
  const phone = newPhone();
  const r = await ops.post('/api/ops/accounts', { role: 'city', username: `sjz${tag}`, name: '孙审核', phone, province: '13', city: '1301' });
  eq([r.status, r.data.role, r.data.name, r.data.unit, r.data.city], [201, 'city', '孙审核', '石家庄市教育局', '1301'], 'created');
  const sms = S.main.sms(phone);
  eq(sms.map((m) => m.template), ['admin_account'], 'one SMS');
  assert(sms[0].text.includes(`sjz${tag}`) && sms[0].text.includes('石家庄市教育局'), `the SMS: ${sms[0].text}`);
  const c = new Client(S.main.base);
  const login = await c.login(`sjz${tag}`, sms[0].params.password);
  eq([login.role, login.must_change_password], ['city', true], 'logs in, must change the password');
  eq(sql("SELECT action FROM audit_log WHERE entity = 'account' AND entity_id = ? AND action = 'account.create'", r.data.id).length, 1, 'audited');

  const p2 = newPhone();
  const pr = await ops.post('/api/ops/accounts', { role: 'province', username: `gd${tag}`, name: '钱处长', phone: p2, province: '44' });
  eq([pr.status, pr.data.unit, pr.data.city], [201, '广东省教育厅', null], 'a province admin');

  const before = sql('SELECT count(*) AS n FROM accounts')[0].n;
  fails(await ops.post('/api/ops/accounts', { role: 'ops', username: 'x1x', name: 'x', phone, province: '13' }), 422, 'validation_failed', 'role');
  fails(await ops.post('/api/ops/accounts', { role: 'city', username: `t${tag}x`, name: '某', phone, province: '13', city: '4401' }),
    422, 'validation_failed', 'city', 'not_in_province');
  fails(await ops.post('/api/ops/accounts', { role: 'city', username: 'a b', name: '', phone: '123', province: '99' }), 422, 'validation_failed', 'phone');
  fails(await ops.post('/api/ops/accounts', { role: 'city', username: `sjz${tag}`, name: '重复', phone, province: '13', city: '1301' }), 409, 'duplicate');
  fails(await (await as('province13')).post('/api/ops/accounts', { role: 'city', username: `p${tag}`, name: '某', phone, province: '13', city: '1301' }), 403, 'forbidden');
  eq(sql('SELECT count(*) AS n FROM accounts')[0].n, before, 'nothing created');
  const listed = (await ops.get(`/api/ops/accounts?q=sjz${tag}`)).data.items[0];
  eq([listed.name, listed.unit, listed.role_name], ['孙审核', '石家庄市教育局', '地市级教育行政部门'], 'listed by name and unit');
});

test('ops: changes a school\'s bound phone: audited, an SMS to the old and the new number; bad numbers refused', async () => {
  const s = await freshSchool('13', '1301', '14');
  const ops = await as('ops');
  const id = sql('SELECT id FROM accounts WHERE username = ?', s.username)[0].id;
  fails(await ops.put(`/api/ops/accounts/${id}/phone`, { phone: '1234' }), 422, 'validation_failed', 'phone', 'invalid');
  fails(await ops.put(`/api/ops/accounts/${id}/phone`, { phone: s.phone }), 409, 'unchanged');
  fails(await ops.put('/api/ops/accounts/999999/phone', { phone: newPhone() }), 404, 'not_found');
  fails(await (await as('province13')).put(`/api/ops/accounts/${id}/phone`, { phone: newPhone() }), 403, 'forbidden');
  eq(sql('SELECT phone FROM accounts WHERE id = ?', id)[0].phone, s.phone, 'unchanged so far');
  const fresh = newPhone();
  const r = await ops.put(`/api/ops/accounts/${id}/phone`, { phone: fresh });
  eq([r.status, r.data.phone], [200, `${fresh.slice(0, 3)}****${fresh.slice(7)}`], 'changed (masked in the answer)');
  eq(sql('SELECT phone FROM accounts WHERE id = ?', id)[0].phone, fresh, 'stored');
  const oldSms = S.main.sms(s.phone).filter((m) => m.template === 'phone_changed');
  const newSms = S.main.sms(fresh).filter((m) => m.template === 'phone_changed');
  eq([oldSms.length, newSms.length], [1, 1], 'both numbers told');
  assert(oldSms[0].text.includes(s.username) && oldSms[0].text.includes(fresh.slice(7)), `the text: ${oldSms[0].text}`);
  const log = sql("SELECT username, detail FROM audit_log WHERE entity = 'account' AND entity_id = ? AND action = 'account.phone'", id);
  eq(log.length, 1, 'audited');
  eq(JSON.parse(log[0].detail).to, `${fresh.slice(0, 3)}****${fresh.slice(7)}`, 'with the numbers masked');
  // the next review SMS goes to the new number
  eq((await ops.get(`/api/ops/sms?phone=${fresh}`)).data.items[0].template_name, '更换绑定手机', 'the outbox names the template in words');
});

// ---- words ---------------------------------------------------------------------

test('words: the audit log and the SMS outbox name actions, states and templates in Chinese (account.login, unchanged)', async () => {
  const ops = await as('ops');
  const c = new Client(S.main.base);
  await c.login('city1301');
  const me = (await c.get('/api/me')).data;
  eq([me.name, me.unit], ['王市审', '石家庄市教育局'], '/api/me: the person by name with the unit, for the header');
  const log = (await ops.get('/api/admin/audit?action=account.login&size=5')).data.items;
  assert(log.length > 0, 'logins are logged');
  eq([log[0].action_name, log[0].entity_name], ['登录', '账号'], 'account.login in words');
  // 2026-12-02: a login row showed the login name, with no role
  eq([log[0].by, log[0].role], ['王市审（石家庄市教育局）', 'city'], 'who logged in: the person and the role, not city1301');
  const reg0 = await register('44', '4401');
  const regRow = (await ops.get('/api/admin/audit?action=account.register&size=50')).data.items.find((x) => x.username === reg0.username);
  assert(regRow && regRow.by === reg0.school.name && regRow.role === 'school' && !regRow.by.includes(reg0.username),
    `a registration by the school's name: ${JSON.stringify(regRow && [regRow.by, regRow.role])}`);
  await anon().post('/api/login', { username: 'nobody_such', password: 'x1234567' });
  const failed = (await ops.get('/api/admin/audit?action=account.login_failed&size=50')).data.items.find((x) => x.username === 'nobody_such');
  eq(failed && failed.by, '未知账号（nobody_such）', 'a login name nobody has is said to be one');
  const reload = await (await as('province13')).post('/api/admin/rules/reload', {});
  eq(reload.status, 200, 'reloaded');
  const rl = (await ops.get('/api/admin/audit?action=rules.reload&size=1')).data.items[0];
  assert(['未变化', '已重新加载'].includes(rl.after_name), `rules.reload's state in words: ${rl.after_name}`);
  eq(rl.action_name, '重新加载规则', 'the action');
  const reg = await register('44', '4401');
  const out = (await ops.get(`/api/ops/sms?phone=${reg.phone}`)).data.items
    .concat((await ops.get('/api/ops/sms?size=100')).data.items);
  assert(out.every((m) => /[\u4e00-\u9fff]/.test(m.template_name)), 'every template named in Chinese');
  assert(out.some((m) => m.template === 'register' && m.template_name === '注册账号'), 'register → 注册账号');
});
