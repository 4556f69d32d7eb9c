// Manual sections 2 and 3: a new school (register, first login, profile,
// plans, declare) and a returning school (draft, then submit), in each mode:
// by major in 河北 (13) and 江苏 (32), not by major in 广东 (44) and 北京 (11).
import { test, assert, eq } from '../lib/harness.mjs';
import {
  as, register, fails, certificates, body, openPlan, fullProfile, audit, sql, fixture,
} from './ctx.mjs';

const PROVINCES = [
  { p: '13', city: '1301', mode: 'by_major', level: 'city', certIndex: 0 },
  { p: '32', city: '3201', mode: 'by_major', level: 'province', certIndex: 1 },
  { p: '44', city: '4401', mode: 'not_by_major', level: 'province', certIndex: 2 },
  { p: '11', city: '1101', mode: 'not_by_major', level: 'province', certIndex: 3 },
];

for (const P of PROVINCES) {
  test(`new school in ${P.p} (${P.mode}): register → first login → profile → plans → declare`, async () => {
    // 立即申报: province → city → school of the master list
    const reg = await register(P.p, P.city);
    const c = reg.client;
    const l = await c.login(reg.username, reg.password);
    eq([l.role, l.must_change_password], ['school', true], 'first login');
    fails(await c.get('/api/plans'), 403, 'password_change_required');
    eq((await c.post('/api/password', { old: reg.password, new: 'School2024' })).status, 200, 'password changed');

    // 完善院校基础信息
    const p0 = await c.get('/api/school/profile');
    eq(p0.status, 200, 'profile');
    eq([p0.data.id, p0.data.code, p0.data.name, p0.data.province, p0.data.city, p0.data.complete],
      [reg.school.id, reg.school.code, reg.school.name, P.p, P.city, false], 'an incomplete profile of the school');
    const required = P.p === '44'
      ? ['address', 'contact_name', 'contact_phone', 'contact_email']
      : ['address', 'contact_name', 'contact_phone'];
    eq(p0.data.required, required, 'required fields by the province');

    const plan = await openPlan(c);
    eq(plan.mode, P.mode, 'the plan mode');
    assert(/\+08:00$/.test(plan.starts_at) && /\+08:00$/.test(plan.ends_at), 'Beijing times');
    const certs = await certificates();
    const cert = certs[P.certIndex];
    const b = body(plan.id, cert, P.mode, { trainees_total: 9999 });
    fails(await c.post('/api/declarations', b), 409, 'profile_incomplete');

    const partial = fullProfile();
    delete partial.contact_email;
    delete partial.contact_name;
    const bad = await c.put('/api/school/profile', partial);
    const e = fails(bad, 422, 'validation_failed', 'contact_name', 'required');
    eq(e.fields.some((f) => f.field === 'contact_email'), P.p === '44', '广东 requires contact_email');
    fails(await c.put('/api/school/profile', { ...fullProfile(), postcode: '12', contact_email: 'x@' }),
      422, 'validation_failed', 'postcode', 'invalid');
    const ok = await c.put('/api/school/profile', { ...fullProfile(), name: '改名', code: '0000000000' });
    eq([ok.status, ok.data.complete], [200, true], 'profile complete');
    eq([ok.data.name, ok.data.code], [reg.school.name, reg.school.code], 'name and code are read-only');
    eq(ok.data.address, fullProfile().address, 'address stored');

    // 下一步: the plans, then 保存并提交
    const plans = await c.get('/api/plans');
    assert(plans.data.every((x) => typeof x.can_declare === 'boolean' && ['upcoming', 'open', 'closed'].includes(x.state)),
      'plans carry state and can_declare');
    const r = await c.post('/api/declarations', b);
    eq(r.status, 201, `declared ${JSON.stringify(r.data)}`);
    const d = r.data;
    eq([d.status, d.review_level, d.plan_id, d.certificate_id, d.school_id, d.mode],
      ['pending', P.level, plan.id, cert.id, reg.school.id, P.mode], 'a pending declaration');
    eq(d.trainees_total, P.mode === 'by_major' ? 65 : 9999,
      P.mode === 'by_major' ? 'total computed from the majors' : 'total as sent');
    eq(d.majors.length, P.mode === 'by_major' ? 2 : 0, 'majors');
    eq(d.reviews.map((x) => [x.level, x.decision]), [['school', 'submit']], 'review history: submitted');
    assert(d.rules_version && d.rules_version === fixture('rules_version'), 'rules version stored');
    eq([d.certificate, d.organization], [cert.name, cert.organization], 'certificate and organisation');

    // 证书管理-证书试点申报
    const list = await c.get('/api/declarations');
    eq([list.data.total, list.data.page, list.data.size], [1, 1, 10], 'list of one');
    const it = list.data.items[0];
    eq([it.id, it.year, it.batch, it.certificate, it.organization, it.status],
      [d.id, plan.year, plan.batch, cert.name, cert.organization, 'pending'], 'list item');
    const v = await c.get(`/api/declarations/${d.id}`);
    eq([v.status, v.data.id, v.data.can_edit, v.data.can_delete], [200, d.id, false, false], 'view: pending is locked');
    eq(audit('declaration', d.id).map((a) => [a.action, a.before_status, a.after_status, a.username]),
      [['declaration.create', null, 'draft', reg.username], ['declaration.submit', 'draft', 'pending', reg.username]]
        .map((x) => x.map((y) => (y === null ? undefined : y))),
      'audit rows of the state changes');
  });
}

// post: the first digits of the demo city's postcodes (石家庄 05, 南京 21,
// 广州 51, 北京 10)
const RETURNING = [
  { user: 'school131', mode: 'by_major', certIndex: 4, post: '05' },
  { user: 'school321', mode: 'by_major', certIndex: 5, post: '21' },
  { user: 'school441', mode: 'not_by_major', certIndex: 6, post: '51' },
  { user: 'school111', mode: 'not_by_major', certIndex: 7, post: '10' },
];

for (const R of RETURNING) {
  test(`returning school ${R.user} (${R.mode}): straight to declarations, save a draft, edit, submit`, async () => {
    const c = await as(R.user);
    const me = await c.get('/api/me');
    eq([me.data.role, me.data.must_change_password], ['school', false], 'a returning school');
    const prof = (await c.get('/api/school/profile')).data;
    eq(prof.complete, true, 'profile complete already');
    // 2026-12-02: every demo school had 100000 (北京's) whatever its city
    assert(/^\d{6}$/.test(prof.postcode) && prof.postcode.startsWith(R.post) && !/0000$/.test(prof.postcode),
      `a postcode of the school's city: ${prof.postcode}`);
    const plan = await openPlan(c);
    eq(plan.mode, R.mode, 'plan mode');
    const cert = (await certificates())[R.certIndex];
    // 保存: an incomplete draft
    const draft = { plan_id: plan.id, certificate_id: cert.id, faculty: '<p>师资</p>', submit: false };
    if (R.mode === 'by_major') draft.majors = [{ major: cert.majors[0], students: 30 }];
    const r = await c.post('/api/declarations', draft);
    eq(r.status, 201, `draft saved ${JSON.stringify(r.data)}`);
    eq([r.data.status, r.data.review_level, r.data.rules_version], ['draft', null, undefined], 'a draft');
    eq(r.data.reviews, [], 'no review history yet');
    const list = await c.get('/api/declarations?status=draft');
    assert(list.data.items.some((x) => x.id === r.data.id && x.can_edit && x.can_delete), 'listed as an editable draft');
    // submitting it as it is fails on everything missing
    const s1 = await c.post(`/api/declarations/${r.data.id}/submit`);
    const e = fails(s1, 422, 'validation_failed', 'venue', 'required');
    if (R.mode === 'by_major') {
      assert(e.fields.some((f) => f.field === 'majors[0].teachers'), 'teachers required');
      assert(e.fields.some((f) => f.field === 'majors[0].trainees'), 'trainees required');
    } else {
      assert(e.fields.some((f) => f.field === 'trainees_total'), 'trainees_total required');
    }
    eq((await c.get(`/api/declarations/${r.data.id}`)).data.status, 'draft', 'still a draft');
    // 保存 again with everything, then submit
    const full = body(plan.id, cert, R.mode, { submit: false });
    const u = await c.put(`/api/declarations/${r.data.id}`, full);
    eq([u.status, u.data.status], [200, 'draft'], 'edited draft');
    const s2 = await c.post(`/api/declarations/${r.data.id}/submit`);
    eq([s2.status, s2.data.status], [200, 'pending'], 'submitted');
    eq(s2.data.trainees_total, R.mode === 'by_major' ? 65 : 50, 'total');
    eq(s2.data.reviews.map((x) => x.decision), ['submit'], 'review history');
    eq(audit('declaration', r.data.id).map((a) => a.action),
      ['declaration.create', 'declaration.update', 'declaration.submit'], 'audit trail');
    const v = await c.get(`/api/declarations/${r.data.id}`);
    eq(v.data.faculty, full.faculty, 'faculty stored');
  });
}

test('pilot status: a school with an approved declaration of the year is a pilot school', async () => {
  const c = await as('school112');
  const year = new Date(Date.now() + 8 * 3600e3).getUTCFullYear();
  const s0 = await c.get('/api/school/pilot-status');
  eq(s0.status, 200, 'pilot-status');
  eq([s0.data.year, s0.data.pilot, s0.data.approved], [year, false, 0], 'not a pilot school yet');
  const plan = await openPlan(c);
  const certs = await certificates();
  const ids = [];
  for (const cert of certs.slice(0, 2)) {
    const r = await c.post('/api/declarations', body(plan.id, cert, 'not_by_major'));
    eq(r.status, 201, 'declared');
    ids.push(r.data.id);
  }
  fixture('decide', { id: ids[0], status: 'rejected', decision: 'reject', comment: '不符合' });
  eq((await c.get(`/api/school/pilot-status?year=${year}`)).data.pilot, false, 'rejected is not enough');
  fixture('decide', { id: ids[1], status: 'approved', decision: 'approve', comment: '同意' });
  const s1 = await c.get(`/api/school/pilot-status?year=${year}`);
  eq([s1.data.year, s1.data.pilot, s1.data.approved], [year, true, 1], 'a pilot school');
  const s2 = await c.get(`/api/school/pilot-status?year=${year - 1}`);
  eq([s2.data.pilot, s2.data.approved], [false, 0], 'not in another year');
  fails(await c.get('/api/school/pilot-status?year=abc'), 400, 'bad_request');
  const other = await as('school113');
  eq((await other.get(`/api/school/pilot-status?year=${year}`)).data.pilot, false, 'another school is not');
  const v = await c.get(`/api/declarations/${ids[1]}`);
  eq(v.data.reviews.map((x) => [x.level, x.decision, x.comment]),
    [['school', 'submit', null], ['province', 'approve', '同意']].map((x) => x.map((y) => (y === null ? undefined : y))),
    'view shows the review history');
  eq(sql('SELECT status FROM declarations WHERE id = ?', ids[1])[0].status, 'approved', 'approved in the database');
});
