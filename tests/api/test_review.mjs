// Review (issue 4, R12/R13): the default chain (province only) and 河北's
// two-level chain (city, then province) end to end, comments required for
// reject and return, return-and-resubmit, the history the school sees, the
// SMS to the school, scope (404 out of scope), the queue's filters and
// paging, batch approval, pilot schools, per-plan statistics and the .xlsx
// export read back from its ZIP.
import { test, assert, eq } from '../lib/harness.mjs';
import { readSheet } from './xlsx_read.mjs';
import { S, as, fails, certificates, body, plan, sql, freshSchool, newSchoolCode } from './ctx.mjs';

// Invented 学校标识码 of this file: 4992xxxxxx.
const newCode = () => newSchoolCode('92');


// A city admin of another city (created once).
const cityAdmins = new Map();
async function cityAdmin(city) {
  if (!cityAdmins.has(city)) {
    const username = `rc${city}x${process.pid % 1000}`;
    S.main.host(['user', 'add', '--role', 'city', '--username', username, '--password', 'Demo12345', '--city', city]);
    cityAdmins.set(city, username);
  }
  return as(cityAdmins.get(city));
}

async function declare(school, pid, cert, mode, extra) {
  const r = await school.client.post('/api/declarations', body(pid, cert, mode, extra));
  eq(r.status, 201, `declared ${JSON.stringify(r.data)}`);
  return r.data;
}

function reviewSms(phone) {
  return S.main.sms(phone).filter((m) => m.template === 'review');
}

const review = (c, id, decision, comment) =>
  c.post(`/api/admin/declarations/${id}/review`, comment === undefined ? { decision } : { decision, comment });

// ---- the chains -----------------------------------------------------------

test('review: default chain (广东): province only; a city admin is not a level of it (409); approved, notified, history', async () => {
  const s = await freshSchool('44', '4401', '92');
  const pid = plan('44', 'not_by_major', { title: '审核测试 默认链' });
  const [cert] = await certificates();
  const d = await declare(s, pid, cert, 'not_by_major');
  eq([d.status, d.review_level], ['pending', 'province'], 'pending at the province');
  const city = await as('city4401');
  const v = await city.get(`/api/admin/declarations/${d.id}`);
  eq([v.status, v.data.review_chain], [200, ['province']], 'the city sees it and its chain');
  fails(await review(city, d.id, 'approve'), 409, 'not_your_level');
  const prov = await as('province44');
  const r = await review(prov, d.id, 'approve');
  eq([r.status, r.data.status, r.data.review_level], [200, 'approved', null], 'approved');
  fails(await review(prov, d.id, 'approve'), 409, 'wrong_status');

  const mine = (await s.client.get(`/api/declarations/${d.id}`)).data;
  eq(mine.status, 'approved', 'the school sees the result');
  // the school sees the deciding level and unit, never a login name (2026-12-02:
  // its own submission showed its username on the view and the print)
  eq(mine.reviews.map((x) => [x.level, x.decision, x.by ?? null]), [['school', 'submit', s.name], ['province', 'approve', '广东省教育厅']],
    'the history: submitted by the school, approved by the province\'s department');
  assert(!JSON.stringify(mine).includes(s.username) && !JSON.stringify(mine).includes('province44'), 'no login name in the school\'s view');
  const sms = reviewSms(s.phone);
  eq(sms.length, 1, 'one review SMS');
  eq(sms[0].params.result, '审核通过', 'the result');
  assert(sms[0].text.includes(cert.name) && sms[0].text.includes('审核通过'), `the text: ${sms[0].text}`);
  const log = sql("SELECT action, username, before_status, after_status FROM audit_log WHERE entity = 'declaration' AND entity_id = ? AND action = 'declaration.approve'", d.id);
  eq(log.map((x) => [x.username, x.before_status, x.after_status]), [['province44', 'pending', 'approved']], 'audited');
});

test('review: 河北 two-level chain end to end: province first 409 not_your_level, city → pending at province, province → approved', async () => {
  const s = await freshSchool('13', '1301', '92');
  const pid = plan('13', 'by_major', { title: '审核测试 两级链' });
  const [, cert] = await certificates();
  const d = await declare(s, pid, cert, 'by_major');
  eq([d.status, d.review_level], ['pending', 'city'], 'pending at the city first');
  const city = await as('city1301');
  const prov = await as('province13');

  const atCity = (await prov.get(`/api/admin/declarations?plan=${pid}&level=city`)).data.items.map((x) => x.id);
  eq(atCity, [d.id], 'the level filter finds it at the city');
  eq((await prov.get(`/api/admin/declarations?plan=${pid}&level=province`)).data.total, 0, 'not at the province yet');
  const early = fails(await review(prov, d.id, 'approve'), 409, 'not_your_level');
  // issue 14: 市级, the pages' word for the level (was 地市级)
  assert(early.message.includes('市级审核'), `says it waits for the city: ${early.message}`);
  fails(await review(prov, d.id, 'reject', '省级抢先'), 409, 'not_your_level');
  eq(sql('SELECT count(*) AS n FROM reviews WHERE declaration_id = ? AND level <> ?', d.id, 'school')[0].n, 0, 'no decision recorded');

  const c1 = await review(city, d.id, 'approve', '材料齐全');
  eq([c1.status, c1.data.status, c1.data.review_level], [200, 'pending', 'province'], 'city approved: pending at the province');
  fails(await review(city, d.id, 'approve'), 409, 'not_your_level');
  eq((await prov.get(`/api/admin/declarations?plan=${pid}&level=province`)).data.items.map((x) => x.id), [d.id], 'now at the province');
  const mid = (await s.client.get(`/api/declarations/${d.id}`)).data;
  eq([mid.status, mid.review_level], ['pending', 'province'], 'the school sees where it waits');

  const p1 = await review(prov, d.id, 'approve');
  eq([p1.data.status, p1.data.review_level], ['approved', null], 'approved');
  const mine = (await s.client.get(`/api/declarations/${d.id}`)).data;
  eq(mine.reviews.map((x) => [x.level, x.decision, x.comment, x.by ?? null]),
    [['school', 'submit', null, s.name], ['city', 'approve', '材料齐全', '石家庄市教育局'], ['province', 'approve', null, '河北省教育厅']],
    'the whole history, by unit, never by login name');
  const adminView = (await (await as('province13')).get(`/api/admin/declarations/${d.id}`)).data;
  eq(adminView.reviews.map((x) => x.by), [s.name, '王市审（石家庄市教育局）', '刘省审（河北省教育厅）'], 'admins see who decided, by name and unit');
  // 2026-12-02: the city's approval was logged 待审核 → 待审核
  const steps = (await prov.get(`/api/admin/audit?entity=declaration&entity_id=${d.id}&size=20`)).data.items.reverse()
    .filter((x) => x.action !== 'declaration.create')
    .map((x) => [x.action_name, `${x.before_name} → ${x.after_name}`]);
  eq(steps, [['提交申报', '草稿 → 待市级审核'], ['市级审核通过', '待市级审核 → 待省级审核'], ['省级审核通过', '待省级审核 → 审核通过']],
    'the audit log shows each real transition');
  const sms = reviewSms(s.phone).map((m) => m.params.result);
  // issue 14: one wording for the level everywhere (市级, as the pages say)
  eq(sms, ['市级审核通过，待省级审核', '审核通过'], 'notified at each step');
  assert(reviewSms(s.phone)[0].text.includes('意见：材料齐全'), 'the comment goes with the SMS');
  eq((await s.client.get('/api/school/pilot-status')).data.pilot, true, 'now a pilot school');
});

test('review: ops acts at whatever level a declaration waits (city, then province)', async () => {
  const s = await freshSchool('13', '1301', '92');
  const pid = plan('13', 'by_major', { title: '审核测试 运维' });
  const [, , cert] = await certificates();
  const d = await declare(s, pid, cert, 'by_major');
  const ops = await as('ops');
  const r1 = await review(ops, d.id, 'approve');
  eq([r1.data.status, r1.data.review_level], ['pending', 'province'], 'ops as the city');
  const r2 = await review(ops, d.id, 'approve');
  eq(r2.data.status, 'approved', 'ops as the province');
  eq(r2.data.reviews.filter((x) => x.decision === 'approve').map((x) => [x.level, x.by]), [['city', 'ops'], ['province', 'ops']],
    'recorded at each level');
});

test('review: reject and return need a comment (422); a bad decision is 422; nothing changes', async () => {
  const s = await freshSchool('44', '4401', '92');
  const pid = plan('44', 'not_by_major', { title: '审核测试 意见' });
  const [cert] = await certificates();
  const d = await declare(s, pid, cert, 'not_by_major');
  const prov = await as('province44');
  for (const decision of ['reject', 'return']) {
    fails(await review(prov, d.id, decision), 422, 'validation_failed', 'comment', 'required');
    fails(await review(prov, d.id, decision, '   '), 422, 'validation_failed', 'comment', 'required');
  }
  fails(await review(prov, d.id, 'maybe', '意见'), 422, 'validation_failed', 'decision', 'invalid');
  fails(await review(prov, d.id, 'approve', 12), 422, 'validation_failed', 'comment', 'type');
  fails(await review(prov, d.id, 'return', '长'.repeat(501)), 422, 'validation_failed', 'comment', 'too_long');
  eq(sql('SELECT status FROM declarations WHERE id = ?', d.id)[0].status, 'pending', 'still pending');
  eq(reviewSms(s.phone).length, 0, 'no SMS');
  const r = await review(prov, d.id, 'reject', '不具备试点条件');
  eq(r.data.status, 'rejected', 'rejected with a comment');
  fails(await s.client.put(`/api/declarations/${d.id}`, body(pid, cert, 'not_by_major')), 409, 'wrong_status');
  fails(await s.client.post(`/api/declarations/${d.id}/submit`), 409, 'wrong_status');
  const sms = reviewSms(s.phone);
  eq(sms.map((m) => m.params.result), ['审核不通过'], 'notified');
  assert(sms[0].text.includes('不具备试点条件'), 'with the comment');
  eq((await s.client.get('/api/school/pilot-status')).data.pilot, false, 'a rejected declaration makes no pilot school');
});

test('review: return and resubmit: back to the school, edited or submitted as is, pending at the first level again', async () => {
  const s = await freshSchool('13', '1301', '92');
  const pid = plan('13', 'by_major', { title: '审核测试 退回' });
  const [, , , cert] = await certificates();
  const d = await declare(s, pid, cert, 'by_major');
  const city = await as('city1301');
  const prov = await as('province13');

  const r1 = await review(city, d.id, 'return', '请补充师资情况');
  eq([r1.data.status, r1.data.review_level], ['returned', null], 'returned by the city');
  let mine = (await s.client.get(`/api/declarations/${d.id}`)).data;
  eq([mine.status, mine.can_edit], ['returned', true], 'the school may edit it');
  eq(mine.reviews.at(-1).decision, 'return', 'the return is in the history');
  eq(mine.reviews.at(-1).comment, '请补充师资情况', 'with its comment');
  const sms = reviewSms(s.phone);
  eq(sms.at(-1).params.result, '退回修改', 'SMS: 退回修改');
  assert(sms.at(-1).text.includes('请补充师资情况'), 'SMS carries the comment');
  fails(await review(city, d.id, 'approve'), 409, 'wrong_status');

  // edit and resubmit (PUT with submit) → pending at the city again
  const put = await s.client.put(`/api/declarations/${d.id}`, body(pid, cert, 'by_major', { faculty: '<p>专任教师 20 人。</p>' }));
  eq([put.status, put.data.status, put.data.review_level], [200, 'pending', 'city'], 'resubmitted: at the city again');
  eq((await review(city, d.id, 'approve')).data.review_level, 'province', 'city approves again');

  // the province returns; the school submits it as it is → the city again
  eq((await review(prov, d.id, 'return', '培训人数偏多')).data.status, 'returned', 'returned by the province');
  // 2026-12-02: the school's list did not say why: the latest reason is there
  const listed = (await s.client.get('/api/declarations?size=100')).data.items.find((x) => x.id === d.id);
  eq([listed.status, listed.review_comment], ['returned', '培训人数偏多'], 'the list carries the latest 退回原因');
  const sub = await s.client.post(`/api/declarations/${d.id}/submit`);
  eq([sub.status, sub.data.status, sub.data.review_level], [200, 'pending', 'city'], 'submitted again: the first level');
  await review(city, d.id, 'approve');
  eq((await review(prov, d.id, 'approve')).data.status, 'approved', 'finally approved');
  mine = (await s.client.get(`/api/declarations/${d.id}`)).data;
  eq(mine.reviews.map((x) => `${x.level}:${x.decision}`),
    ['school:submit', 'city:return', 'school:submit', 'city:approve', 'province:return', 'school:submit', 'city:approve', 'province:approve'],
    'the whole history, in order');
  eq(mine.faculty.includes('20 人'), true, 'the edit was kept');
  const done = (await s.client.get('/api/declarations?size=100')).data.items.find((x) => x.id === d.id);
  eq([done.status, done.review_comment], ['approved', null], 'no reason once approved');
});

test('review: scope: other provinces and cities get 404 (view, review, batch); schools 403; drafts are invisible', async () => {
  const s = await freshSchool('13', '1301', '92');
  const pid = plan('13', 'by_major', { title: '审核测试 范围' });
  const certs = await certificates();
  const d = await declare(s, pid, certs[4], 'by_major');
  const draft = await declare(s, pid, certs[5], 'by_major', { submit: false });
  const other = await cityAdmin('1302');
  for (const c of [other, await as('province44'), await as('city4401')]) {
    fails(await c.get(`/api/admin/declarations/${d.id}`), 404, 'not_found');
    fails(await review(c, d.id, 'approve'), 404, 'not_found');
    const b = await c.post('/api/admin/declarations/batch-review', { ids: [d.id], decision: 'approve' });
    eq([b.status, b.data.done.length, b.data.failed[0].code], [200, 0, 'not_found'], 'batch: not found');
    assert(!(await c.get(`/api/admin/declarations?plan=${pid}`)).data.items.some((x) => x.id === d.id), 'not listed');
  }
  eq((await (await as('province13')).get(`/api/admin/declarations?plan=${pid}`)).data.items.map((x) => x.id), [d.id],
    'its province lists it, not the draft');
  for (const c of [await as('city1301'), await as('province13'), await as('ops')]) {
    fails(await c.get(`/api/admin/declarations/${draft.id}`), 404, 'not_found');
    fails(await review(c, draft.id, 'approve'), 404, 'not_found');
  }
  fails(await s.client.post(`/api/admin/declarations/${d.id}/review`, { decision: 'approve' }), 403, 'forbidden');
  fails(await s.client.get(`/api/admin/declarations/${d.id}`), 403, 'forbidden');
  const row = sql('SELECT status, review_level FROM declarations WHERE id = ?', d.id)[0];
  eq([row.status, row.review_level], ['pending', 'city'], 'unchanged');
});

// ---- the queue, statistics, export -----------------------------------------

// One 广东 plan for the queue, the statistics and the export: schools A and
// B in 广州 (4401), C in 深圳 (4403). A declares certs 0, 1, 2; B cert 0
// (and a draft of cert 3); C cert 1. The province approves A's cert 0 and
// returns B's.
let queue = null;
async function queueSetup() {
  if (queue) return queue;
  const pid = plan('44', 'not_by_major', { title: '审核测试 队列', year: 2032 });
  const certs = await certificates();
  const [A, B, C] = [await freshSchool('44', '4401', '92'), await freshSchool('44', '4401', '92'), await freshSchool('44', '4403', '92')];
  const t = (n) => ({ trainees_total: n });
  const d = {
    a0: await declare(A, pid, certs[0], 'not_by_major', t(10)),
    a1: await declare(A, pid, certs[1], 'not_by_major', t(20)),
    a2: await declare(A, pid, certs[2], 'not_by_major', t(30)),
    b0: await declare(B, pid, certs[0], 'not_by_major', t(40)),
    c1: await declare(C, pid, certs[1], 'not_by_major', t(50)),
    bDraft: await declare(B, pid, certs[3], 'not_by_major', { ...t(60), submit: false }),
  };
  const prov = await as('province44');
  eq((await review(prov, d.a0.id, 'approve', '同意')).data.status, 'approved', 'a0 approved');
  eq((await review(prov, d.b0.id, 'return', '请补充场地情况')).data.status, 'returned', 'b0 returned');
  queue = { pid, certs, A, B, C, d };
  return queue;
}

test('review: the queue filters by plan, status, level, city, certificate and school, and pages', async () => {
  const { pid, certs, A, B, C, d } = await queueSetup();
  const prov = await as('province44');
  const ids = async (c, q) => {
    const r = await c.get(`/api/admin/declarations?plan=${pid}&size=100${q || ''}`);
    eq(r.status, 200, `list ${q}`);
    eq(r.data.total, r.data.items.length, 'total matches');
    return r.data.items.map((x) => x.id).sort((x, y) => x - y);
  };
  const sorted = (...xs) => xs.map((x) => x.id).sort((x, y) => x - y);
  eq(await ids(prov), sorted(d.a0, d.a1, d.a2, d.b0, d.c1), 'the plan: five, no draft');
  eq(await ids(prov, '&status=pending'), sorted(d.a1, d.a2, d.c1), 'status pending');
  eq(await ids(prov, '&status=approved'), sorted(d.a0), 'status approved');
  eq(await ids(prov, '&status=returned'), sorted(d.b0), 'status returned');
  eq(await ids(prov, '&status=draft'), [], 'drafts are never listed');
  eq(await ids(prov, '&level=province'), sorted(d.a1, d.a2, d.c1), 'level province');
  eq(await ids(prov, '&level=city'), [], 'no city level in 广东');
  eq(await ids(prov, '&city=4403'), sorted(d.c1), 'city 深圳');
  eq(await ids(prov, '&city=4401'), sorted(d.a0, d.a1, d.a2, d.b0), 'city 广州');
  eq(await ids(prov, `&certificate=${certs[0].id}`), sorted(d.a0, d.b0), 'certificate');
  eq(await ids(prov, `&school=${encodeURIComponent(A.name)}`), sorted(d.a0, d.a1, d.a2), 'school by name');
  eq(await ids(prov, `&school=${B.code}`), sorted(d.b0), 'school by code');
  eq(await ids(prov, `&certificate=${certs[1].id}&city=4401&status=pending`), sorted(d.a1), 'filters combine');
  eq(await ids(prov, '&year=2032&status=approved'), sorted(d.a0), 'year');

  // a city admin: its city only, whatever the filters say
  const gz = await as('city4401');
  eq(await ids(gz), sorted(d.a0, d.a1, d.a2, d.b0), 'city4401 sees 广州 only');
  eq(await ids(gz, '&city=4403'), [], 'cannot widen to 深圳');
  eq(await ids(await cityAdmin('4403')), sorted(d.c1), 'city4403 sees 深圳 only');
  eq(await ids(await as('province13')), [], '河北 sees none');
  eq(await ids(await as('ops')), sorted(d.a0, d.a1, d.a2, d.b0, d.c1), 'ops sees all');

  // paging
  const seen = [];
  for (const page of [1, 2, 3]) {
    const r = await prov.get(`/api/admin/declarations?plan=${pid}&size=2&page=${page}`);
    eq([r.data.total, r.data.page, r.data.size, r.data.items.length], [5, page, 2, page < 3 ? 2 : 1], `page ${page}`);
    seen.push(...r.data.items.map((x) => x.id));
  }
  eq(seen.slice().sort((x, y) => x - y), sorted(d.a0, d.a1, d.a2, d.b0, d.c1), 'the pages cover each once');
  eq((await prov.get(`/api/admin/declarations?plan=${pid}&size=2&page=4`)).data.items, [], 'past the end');
  fails(await prov.get(`/api/admin/declarations?plan=${pid}&size=101`), 400, 'bad_request');
  fails(await prov.get('/api/admin/declarations?plan=abc'), 400, 'bad_request');
  const item = (await prov.get(`/api/admin/declarations?plan=${pid}&school=${C.code}`)).data.items[0];
  eq([item.school, item.school_code, item.city, item.certificate_id, item.status, item.review_level, item.trainees_total],
    [C.name, C.code, '4403', certs[1].id, 'pending', 'province', 50], 'a queue item');
  assert(item.organization && item.city_name, 'with organisation and city name');
});

test('review: per-plan statistics: by status, by city, by certificate, trainees, pilot schools; scoped', async () => {
  const { pid, certs } = await queueSetup();
  const prov = await as('province44');
  const st = await prov.get(`/api/admin/plans/${pid}/stats`);
  eq(st.status, 200, 'stats');
  eq(st.data.by_status, { approved: 1, draft: 1, pending: 3, rejected: 0, returned: 1 }, 'by status (the draft counted)');
  const byCity = Object.fromEntries(st.data.by_city.map((x) => [x.city, [x.count, x.trainees]]));
  eq(byCity, { 4401: [4, 100], 4403: [1, 50] }, 'by city: count and trainees (no drafts)');
  assert(st.data.by_city.every((x) => x.name), 'city names');
  const byCert = Object.fromEntries(st.data.by_certificate.map((x) => [x.certificate_id, [x.count, x.trainees]]));
  eq(byCert, { [certs[0].id]: [2, 50], [certs[1].id]: [2, 70], [certs[2].id]: [1, 30] }, 'by certificate');
  assert(st.data.by_certificate.every((x) => x.name.includes('（')), 'certificate names with level');
  eq([st.data.trainees_total, st.data.approved_trainees, st.data.pilot_schools], [150, 10, 1], 'totals and pilot schools');
  eq([st.data.plan_id, st.data.year], [pid, 2032], 'the plan');

  const gz = (await (await as('city4401')).get(`/api/admin/plans/${pid}/stats`)).data;
  eq([gz.by_status.pending, gz.by_city.map((x) => x.city), gz.trainees_total], [2, ['4401'], 100], 'city4401: its city only');
  eq((await (await as('ops')).get(`/api/admin/plans/${pid}/stats`)).data.trainees_total, 150, 'ops: all');
  fails(await (await as('province13')).get(`/api/admin/plans/${pid}/stats`), 404, 'not_found');
  fails(await (await as('school441')).get(`/api/admin/plans/${pid}/stats`), 403, 'forbidden');
});

test('review: the export is a real .xlsx of the filtered, scoped list: header row, schools, certificates, statuses', async () => {
  const { pid, certs, A, B, C, d } = await queueSetup();
  const prov = await as('province44');
  const r = await prov.get(`/api/admin/declarations.xlsx?plan=${pid}`);
  eq(r.status, 200, 'exported');
  eq(r.headers.get('content-type'), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'content type');
  assert(/attachment; filename="declarations-\d{12}\.xlsx"/.test(r.headers.get('content-disposition')), 'a download');
  assert(Buffer.isBuffer(r.data) && r.data.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])), 'a ZIP');
  const rows = readSheet(r.data);
  const header = rows[0];
  for (const h of ['申报编号', '申报年度', '申报批次', '地市', '学校标识码', '学校名称', '试点证书', '培训评价组织',
    '申请培训总人数', '状态', '审核记录']) {
    assert(header.includes(h), `header has ${h}: ${header}`);
  }
  const col = (h) => header.indexOf(h);
  const body = rows.slice(1).filter((x) => x.some((c) => c !== ''));
  eq(body.map((x) => Number(x[col('申报编号')])).sort((x, y) => x - y),
    [d.a0, d.a1, d.a2, d.b0, d.c1].map((x) => x.id).sort((x, y) => x - y), 'one row per declaration, no draft');
  const a0 = body.find((x) => Number(x[col('申报编号')]) === d.a0.id);
  eq([a0[col('学校名称')], a0[col('学校标识码')], a0[col('试点证书')], a0[col('状态')], Number(a0[col('申请培训总人数')])],
    [A.name, A.code, certs[0].name, '审核通过', 10], 'A\'s approved declaration');
  // issue 14: the decision in the pages' words (审核通过, not 通过)
  assert(a0[col('审核记录')].includes('省级审核通过') && a0[col('审核记录')].includes('同意'), `its reviews: ${a0[col('审核记录')]}`);
  const b0 = body.find((x) => Number(x[col('申报编号')]) === d.b0.id);
  eq([b0[col('学校名称')], b0[col('状态')]], [B.name, '退回修改'], 'B returned');
  assert(b0[col('审核记录')].includes('请补充场地情况'), 'the return\'s comment');
  const c1 = body.find((x) => Number(x[col('申报编号')]) === d.c1.id);
  eq([c1[col('学校名称')], c1[col('试点证书')], c1[col('地市')]], [C.name, certs[1].name, '深圳市'], 'C in 深圳');

  // filtered and scoped like the queue
  const only = readSheet((await prov.get(`/api/admin/declarations.xlsx?plan=${pid}&status=approved`)).data);
  eq(only.slice(1).filter((x) => x.length).length, 1, 'filtered by status');
  const gz = readSheet((await (await as('city4401')).get(`/api/admin/declarations.xlsx?plan=${pid}`)).data);
  assert(gz.slice(1).filter((x) => x.length).length === 4 && !gz.flat().includes(C.name), 'city4401: no 深圳 rows');
  const none = readSheet((await (await as('province13')).get(`/api/admin/declarations.xlsx?plan=${pid}`)).data);
  eq([none.length, none[0][0]], [1, '申报编号'], '河北: the header only');
  fails(await (await as('school441')).get(`/api/admin/declarations.xlsx?plan=${pid}`), 403, 'forbidden');
});

// ---- batch approval -----------------------------------------------------------

test('review: batch approval reports per id: done, not at the caller\'s level, not found, invalid', async () => {
  const s = await freshSchool('13', '1301', '92');
  const pid = plan('13', 'by_major', { title: '审核测试 批量' });
  const certs = await certificates();
  const [d1, d2, d3] = [await declare(s, pid, certs[6], 'by_major'), await declare(s, pid, certs[7], 'by_major'),
    await declare(s, pid, certs[8], 'by_major')];
  const g = await freshSchool('44', '4401', '92');
  const gp = plan('44', 'not_by_major', { title: '审核测试 批量广东' });
  const dz = await declare(g, gp, certs[6], 'not_by_major');
  const city = await as('city1301');
  const prov = await as('province13');

  // the city approves two in one go
  const c = await city.post('/api/admin/declarations/batch-review', { ids: [d1.id, d2.id], decision: 'approve' });
  eq(c.status, 200, 'batch');
  eq([c.data.done, c.data.failed], [[{ id: d1.id, status: 'pending' }, { id: d2.id, status: 'pending' }], []], 'both to the province');

  const b = await prov.post('/api/admin/declarations/batch-review',
    { ids: [d1.id, d2.id, d3.id, dz.id, 99999999, 'x'], decision: 'approve', comment: '批量通过' });
  eq(b.status, 200, 'batch');
  eq(b.data.done, [{ id: d1.id, status: 'approved' }, { id: d2.id, status: 'approved' }], 'done');
  eq(b.data.failed.map((x) => [x.id, x.code]),
    [[d3.id, 'not_your_level'], [dz.id, 'not_found'], [99999999, 'not_found'], ['x', 'invalid']], 'failed, each with why');
  assert(b.data.failed.every((x) => /[\u4e00-\u9fff]/.test(x.message)), 'Chinese messages');
  const st = sql('SELECT id, status, review_level FROM declarations WHERE id IN (?, ?, ?, ?) ORDER BY id', d1.id, d2.id, d3.id, dz.id);
  eq(st.map((x) => [x.status, x.review_level]), [['approved', null], ['approved', null], ['pending', 'city'], ['pending', 'province']],
    'only the ones at the caller\'s level changed');
  eq((await s.client.get(`/api/declarations/${d1.id}`)).data.reviews.at(-1).comment, '批量通过', 'the batch comment is in the history');
  eq(reviewSms(s.phone).length, 4, 'one SMS per decision');

  // a batch of rejections needs a comment; ids are required
  fails(await city.post('/api/admin/declarations/batch-review', { ids: [d3.id], decision: 'reject' }), 422, 'validation_failed', 'comment');
  fails(await city.post('/api/admin/declarations/batch-review', { ids: [], decision: 'approve' }), 422, 'validation_failed', 'ids');
  fails(await city.post('/api/admin/declarations/batch-review', { decision: 'approve' }), 422, 'validation_failed', 'ids');
  eq(sql('SELECT status FROM declarations WHERE id = ?', d3.id)[0].status, 'pending', 'd3 untouched');
  fails(await s.client.post('/api/admin/declarations/batch-review', { ids: [d3.id], decision: 'approve' }), 403, 'forbidden');
});

// ---- pilot schools ---------------------------------------------------------------

test('review: pilot status: a school with an approved declaration in a year is that year\'s pilot school; admins list them', async () => {
  const year = 2043;                      // a year no other test uses
  const pid = plan('44', 'not_by_major', { title: '审核测试 试点', year });
  const certs = await certificates();
  const [Y, Z] = [await freshSchool('44', '4401', '92'), await freshSchool('44', '4403', '92')];
  const y1 = await declare(Y, pid, certs[9], 'not_by_major');
  const y2 = await declare(Y, pid, certs[0], 'not_by_major');
  const z1 = await declare(Z, pid, certs[9], 'not_by_major');
  const prov = await as('province44');
  eq((await Y.client.get(`/api/school/pilot-status?year=${year}`)).data, { approved: 0, pilot: false, year }, 'pending: not yet');
  eq((await prov.get(`/api/admin/pilot-schools?year=${year}`)).data.total, 0, 'no pilot school yet');

  await review(prov, y1.id, 'approve');
  await review(prov, y2.id, 'approve');
  await review(prov, z1.id, 'reject', '条件不足');
  eq((await Y.client.get(`/api/school/pilot-status?year=${year}`)).data, { approved: 2, pilot: true, year }, 'Y is a pilot school');
  eq((await Y.client.get(`/api/school/pilot-status?year=${year - 1}`)).data.pilot, false, 'not in another year');
  eq((await Z.client.get(`/api/school/pilot-status?year=${year}`)).data, { approved: 0, pilot: false, year }, 'a rejection does not count');

  const list = await prov.get(`/api/admin/pilot-schools?year=${year}`);
  eq([list.status, list.data.year, list.data.total], [200, year, 1], 'one pilot school');
  const item = list.data.items[0];
  eq([item.id, item.code, item.name, item.city, item.approved], [Y.id, Y.code, Y.name, '4401', 2], 'Y with its approvals');
  eq((await (await as('city4401')).get(`/api/admin/pilot-schools?year=${year}`)).data.items.map((x) => x.id), [Y.id], 'city4401 sees Y');
  eq((await (await cityAdmin('4403')).get(`/api/admin/pilot-schools?year=${year}`)).data.total, 0, 'city4403 does not');
  eq((await (await as('province13')).get(`/api/admin/pilot-schools?year=${year}`)).data.total, 0, '河北 does not');
  eq((await (await as('ops')).get(`/api/admin/pilot-schools?year=${year}`)).data.items.map((x) => x.id), [Y.id], 'ops does');
  const next = (await prov.get(`/api/admin/pilot-schools?year=${year + 1}`)).data;
  eq(next.year, year + 1, 'another year');
  assert(!next.items.some((x) => x.id === Y.id), 'Y is no pilot school in another year');
  fails(await prov.get('/api/admin/pilot-schools?year=abc'), 400, 'bad_request');
  fails(await Y.client.get('/api/admin/pilot-schools'), 403, 'forbidden');
});
