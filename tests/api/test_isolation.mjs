// Tenant isolation: a school never sees or changes another school's
// declarations or profile (404), a school of one province never sees
// another province's plans nor declares on them (404), and other roles
// cannot use the school endpoints (403).
import { test, assert, eq } from '../lib/harness.mjs';
import { as, fails, certificates, body, plan, sql } from './ctx.mjs';

test('a school never sees or changes another school\'s declaration (404)', async () => {
  const owner = await as('school131');
  const pid = plan('13', 'by_major');
  const certs = await certificates();
  const draft = (await owner.post('/api/declarations', body(pid, certs[0], 'by_major', { submit: false }))).data;
  const pending = (await owner.post('/api/declarations', body(pid, certs[1], 'by_major'))).data;
  for (const name of ['school132', 'school441', 'school321']) {
    const other = await as(name);
    for (const d of [draft, pending]) {
      fails(await other.get(`/api/declarations/${d.id}`), 404, 'not_found');
      fails(await other.put(`/api/declarations/${d.id}`, body(pid, certs[0], 'by_major', { submit: false })), 404, 'not_found');
      fails(await other.post(`/api/declarations/${d.id}/submit`), 404, 'not_found');
      fails(await other.del(`/api/declarations/${d.id}`), 404, 'not_found');
    }
    const list = await other.get('/api/declarations?size=100');
    assert(!list.data.items.some((x) => x.id === draft.id || x.id === pending.id), `${name} does not list them`);
    assert(list.data.items.every((x) => x.school_code !== undefined && x.school_id !== draft.school_id),
      `${name} lists only its own`);
  }
  const missing = await owner.get('/api/declarations/99999999');
  fails(missing, 404, 'not_found');
  const d = sql('SELECT status, trainees_total FROM declarations WHERE id = ?', draft.id)[0];
  eq([d.status, d.trainees_total], ['draft', 65], 'the draft is unchanged');
  eq((await owner.get(`/api/declarations/${draft.id}`)).status, 200, 'the owner still sees it');
});

test('a school sees only its own profile and its own province\'s published plans', async () => {
  const c13 = await as('school132');
  const c44 = await as('school442');
  const p13 = (await c13.get('/api/school/profile')).data;
  const p44 = (await c44.get('/api/school/profile')).data;
  eq([p13.province, p44.province], ['13', '44'], 'each its own school');
  assert(p13.id !== p44.id, 'different schools');
  const own13 = sql("SELECT id FROM plans WHERE province_code = '13' AND status = 'published'").map((r) => r.id);
  const plans13 = (await c13.get('/api/plans')).data.map((p) => p.id).sort((a, b) => a - b);
  eq(plans13, own13.sort((a, b) => a - b), '河北 sees exactly its published plans');
  const plans44 = (await c44.get('/api/plans')).data.map((p) => p.id);
  assert(plans44.length >= 1 && plans44.every((id) => !own13.includes(id)), '广东 sees none of 河北\'s');
  const hidden = plan('13', 'by_major');
  fixture_unpublish(hidden);
  assert(!(await c13.get('/api/plans')).data.some((p) => p.id === hidden), 'a draft plan is not shown');
});

test('a school cannot declare on another province\'s plan or an unpublished plan (404)', async () => {
  const c44 = await as('school443');
  const certs = await certificates();
  const p13 = plan('13', 'by_major');
  fails(await c44.post('/api/declarations', body(p13, certs[0], 'by_major')), 404, 'not_found');
  fails(await c44.post('/api/declarations', body(p13, certs[0], 'by_major', { submit: false })), 404, 'not_found');
  const hidden = plan('44', 'not_by_major');
  fixture_unpublish(hidden);
  fails(await c44.post('/api/declarations', body(hidden, certs[0], 'not_by_major')), 404, 'not_found');
  fails(await c44.post('/api/declarations', body(99999999, certs[0], 'not_by_major')), 404, 'not_found');
  eq(sql('SELECT count(*) AS n FROM declarations WHERE plan_id IN (?, ?)', p13, hidden)[0].n, 0, 'nothing stored');
});

test('other roles cannot use the school endpoints (403)', async () => {
  for (const name of ['province13', 'city1301', 'ops']) {
    const c = await as(name);
    fails(await c.get('/api/declarations'), 403, 'forbidden');
    fails(await c.get('/api/plans'), 403, 'forbidden');
    fails(await c.get('/api/school/profile'), 403, 'forbidden');
    fails(await c.post('/api/declarations', { plan_id: 1, certificate_id: 1 }), 403, 'forbidden');
  }
});

function fixture_unpublish(id) {
  sql("UPDATE plans SET status = 'draft' WHERE id = ?", id);
}
