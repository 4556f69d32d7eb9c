// Regression tests for the defects a security review found (2026-11-28):
// each failed before its fix.
import { test, assert, eq } from '../lib/harness.mjs';
import { Client } from '../lib/server.mjs';
import {
  S, as, anon, sql, fixture, fails, newSchool, certificates, body, openPlan,
} from './ctx.mjs';

test('security: parallel wrong passwords cannot slip past the lock (2026-11-28)', async () => {
  const s = await newSchool('44', '4401');
  const attempts = await Promise.all(Array.from({ length: 12 }, () =>
    anon().post('/api/login', { username: s.username, password: 'wrongpass1' })));
  const statuses = attempts.map((r) => r.status);
  assert(statuses.filter((x) => x === 401).length <= 5, `at most 5 guesses checked: ${statuses}`);
  assert(statuses.filter((x) => x === 429).length >= 7, `the rest refused: ${statuses}`);
  // even the right password waits out the lock
  fails(await anon().post('/api/login', { username: s.username, password: s.password }), 429, 'locked');
  // ops unlocks
  const [acc] = sql('SELECT id FROM accounts WHERE username = ?', s.username);
  eq((await (await as('ops')).post(`/api/ops/accounts/${acc.id}/unlock`)).status, 200, 'unlock');
  eq((await anon().post('/api/login', { username: s.username, password: s.password })).status, 200, 'then logs in');
});

test('security: a lock does not tell whether an account exists (2026-11-28)', async () => {
  const ghost = `nobody${Date.now()}`;
  const answers = [];
  for (let i = 0; i < 6; i++) {
    answers.push((await anon().post('/api/login', { username: ghost, password: 'wrongpass1' })).status);
  }
  eq(answers, [401, 401, 401, 401, 401, 429], 'an unknown name locks like a real one');
});

test('security: logins, failed logins and logouts are audited (2026-11-28)', async () => {
  const s = await newSchool('44', '4401');
  await anon().post('/api/login', { username: s.username, password: 'wrongpass1' });
  const c = new Client(S.main.base);
  await c.login(s.username, s.password);
  eq((await c.post('/api/logout')).status, 200, 'logout');
  const actions = sql(`SELECT action FROM audit_log WHERE username = ? AND action LIKE 'account.log%'
                       ORDER BY id`, s.username).map((r) => r.action);
  for (const a of ['account.login_failed', 'account.login', 'account.logout']) {
    assert(actions.includes(a), `${a} in ${actions}`);
  }
});

test('security: an edit racing a publish never lands on a published plan (2026-11-28)', async () => {
  const prov = await as('province13');
  for (let round = 0; round < 3; round++) {
    const p = await prov.post('/api/admin/plans', {
      year: 2028, batch: 1, title: `竞争测试 ${round}`, mode: 'by_major',
      starts_at: '2028-03-01T09:00:00+08:00', ends_at: '2028-04-01T18:00:00+08:00',
    });
    eq(p.status, 201, 'plan');
    await Promise.all([
      prov.post(`/api/admin/plans/${p.data.id}/publish`),
      ...Array.from({ length: 5 }, () => prov.put(`/api/admin/plans/${p.data.id}`, { mode: 'not_by_major' })),
    ]);
    const [row] = sql('SELECT status, mode FROM plans WHERE id = ?', p.data.id);
    assert(!(row.status === 'published' && row.mode === 'not_by_major'),
      `河北 never has a published not-by-major plan: ${JSON.stringify(row)}`);
  }
});

test('security: a city admin of another province cannot reach a school listed in its city (2026-11-28)', async () => {
  // 河北工业大学 is a 河北 school in 天津 (1201)
  S.main.host(['user', 'add', '--role', 'city', '--username', 'city1201', '--password', 'Tianjin2026', '--city', '1201']);
  const tj = new Client(S.main.base);
  await tj.login('city1201', 'Tianjin2026');
  const list = await tj.get('/api/admin/schools?size=100');
  eq(list.status, 200, 'list');
  assert(!list.data.items.some((x) => x.name === '河北工业大学'), 'not in the 天津 city admin\'s list');
  const [school] = sql("SELECT id FROM schools WHERE name = '河北工业大学'");
  fails(await tj.put(`/api/admin/schools/${school.id}`, { active: false }), 404, 'not_found');
  const prov = await as('province13');
  const mine = await prov.get(`/api/admin/schools?q=${encodeURIComponent('河北工业大学')}`);
  eq(mine.data.items.length, 1, 'its province still keeps it');
});

test('security: a deactivated school can no longer declare (2026-11-28)', async () => {
  const s = await newSchool('44', '4401');
  const plan = await openPlan(s.client);
  const [cert] = await certificates();
  const [school] = sql('SELECT s.id FROM schools s JOIN accounts a ON a.school_id = s.id WHERE a.username = ?', s.username);
  eq((await (await as('city4401')).put(`/api/admin/schools/${school.id}`, { active: false })).status, 200, 'deactivated');
  fails(await s.client.get('/api/plans'), 403, 'school_inactive');
  fails(await s.client.post('/api/declarations', body(plan.id, cert, plan.mode)), 403, 'school_inactive');
});

test('security: bodies that are not UTF-8, and text fields with control characters, are refused (2026-11-28)', async () => {
  const c = await as('city4401');
  const r = await fetch(`${S.main.base}/api/admin/schools`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: c.cookie, 'x-csrf-token': c.csrf },
    body: Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
  });
  eq(r.status, 400, 'not UTF-8');
  const [school] = sql("SELECT id FROM schools WHERE city_code = '4401' ORDER BY id LIMIT 1");
  fails(await c.put(`/api/admin/schools/${school.id}`, { authority: 'x'.repeat(300) }), 422, 'validation_failed', 'authority');
  const ops = await as('ops');
  fails(await ops.put('/api/ops/majors/440301', { category_name: { a: 1 } }), 422, 'validation_failed', 'category_name');
  fails(await ops.put('/api/ops/majors/440301', { name: 'a\u0000b' }), 422, 'validation_failed', 'name');
});

test('security: a certificate\'s majors must be a list, never an object that wipes them (2026-11-28)', async () => {
  const ops = await as('ops');
  const [cert] = await certificates();
  fails(await ops.put(`/api/ops/certificates/${cert.id}`, { majors: { x: cert.majors[0] } }), 422, 'validation_failed', 'majors');
  const [{ n }] = sql('SELECT count(*) AS n FROM certificate_majors WHERE certificate_id = ?', cert.id);
  eq(n, cert.all_majors.length, 'the mapping is intact');
});

test('security: the SMS outbox page masks passwords and codes (2026-11-28)', async () => {
  const s = await newSchool('44', '4401');
  const r = await (await as('ops')).get(`/api/ops/sms?phone=${s.phone}`);
  eq(r.status, 200, 'outbox');
  const reg = r.data.items.find((x) => x.template === 'register');
  assert(reg && reg.text.includes('******'), 'masked');
  assert(!r.data.items.some((x) => x.text.includes(s.password)), 'no password shown');
  eq(S.main.sms(s.phone)[0].params.username, s.username, 'the CLI on the server still reads it');
});

test('security: saving and submitting in one PUT checks the profile too (2026-11-28)', async () => {
  const s = await newSchool('44', '4401');
  const plan = await openPlan(s.client);
  const [cert] = await certificates();
  const draft = await s.client.post('/api/declarations', body(plan.id, cert, plan.mode, { submit: false }));
  eq(draft.status, 201, 'draft');
  const [school] = sql('SELECT school_id FROM accounts WHERE username = ?', s.username);
  // the profile loses its required email behind the school's back
  fixture('query', { sql: 'UPDATE school_profiles SET contact_email = NULL WHERE school_id = ?', args: [school.school_id] });
  fails(await s.client.put(`/api/declarations/${draft.data.id}`, body(plan.id, cert, plan.mode)), 409, 'profile_incomplete');
});

test('security: eligibility refuses a malformed major code (2026-11-28)', async () => {
  const token = S.main.host(['token', 'add', '--name', 'sec']).trim();
  const r = await fetch(`${S.main.base}/api/eligibility?school=4113011238&certificate=1&year=2026&major=%FF`,
    { headers: { authorization: `Bearer ${token}` } });
  eq(r.status, 422, 'bad major');
  const basic = await fetch(`${S.main.base}/api/regions/provinces`, { headers: { authorization: 'Basic eDp5' } });
  eq(basic.status, 200, 'a non-bearer Authorization header does not break public routes');
});
