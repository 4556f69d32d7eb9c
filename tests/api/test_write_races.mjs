// The write path under group commit (host/dbq.c): a transaction sees its
// batch-mates' uncommitted writes, a read outside one sees committed data
// only, so whatever is decided outside must be re-checked inside. Each
// test fires concurrent requests at a real server and checks an
// invariant that holds whatever order they ran in.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, Client, ROOT } from '../lib/server.mjs';
import {
  as, anon, sql, fixture, certificates, body, plan, freshSchool, newSchoolCode, newPhone,
} from './ctx.mjs';

const DAY = 86400;
const iso = (s) => new Date((Math.floor(Date.now() / 1000) + s) * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');

// Opens several keep-alive connections so that the requests that follow
// really run at the same time on the server's threads.
async function warm(c) {
  await Promise.all(Array.from({ length: 8 }, () => c.get('/api/me')));
}

// 广东's rules with a per-year limit: at most `n` declarations of a school
// in one year (declarations_this_year, whatever the plan).
function perYear(n) {
  return readFileSync(join(ROOT, 'rules', '44.lua'), 'utf8').replace('return R\n', `local check = R.check_declaration
function R.check_declaration(ctx)
  local errors = check(ctx)
  if (ctx.declarations_this_year or 0) + 1 > ${n} then
    base.err(errors, "certificate_id", "too_many_this_year", "每所院校每年最多申报 ${n} 个证书")
  end
  return errors
end

return R
`);
}

// 2026-12-02: declarations.still_valid re-checked the count in the plan,
// not the year's count a per-year limit decided on: concurrent submits in
// two plans of one year could both pass.
test('races: a per-year limit holds for concurrent submits in two plans of one year', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'host-rules-'));
  cpSync(join(ROOT, 'rules'), dir, { recursive: true });
  writeFileSync(join(dir, '44.lua'), perYear(2));
  const srv = await startServer({ rules: dir, env: { HOST_LOGIN_PER_CLIENT_5MIN: '10000' } });
  try {
    const c = new Client(srv.base);
    await c.login('school442');
    const year = new Date().getUTCFullYear() + 3;
    const a = fixture('plan', { province: '44', mode: 'not_by_major', year, batch: 1 }, srv);
    const b = fixture('plan', { province: '44', mode: 'not_by_major', year, batch: 2 }, srv);
    const certs = await certificates();
    eq((await c.post('/api/declarations', body(a, certs[0], 'not_by_major'))).status, 201, 'one in the year');
    await warm(c);
    const race = await Promise.all([1, 2, 3, 4, 5, 6].map((i) =>
      c.post('/api/declarations', body(i <= 3 ? a : b, certs[i], 'not_by_major'))));
    eq(race.map((r) => r.status).sort(), [201, 422, 422, 422, 422, 422], `one more in the year: ${JSON.stringify(race.map((r) => r.data))}`);
    for (const r of race.filter((x) => x.status === 422)) {
      assert(r.data.error.fields.some((f) => f.code === 'too_many_this_year'), 'refused by the per-year limit');
    }
    const n = fixture('query', { sql: `SELECT count(*) AS n FROM declarations d JOIN plans p ON p.id = d.plan_id
      WHERE p.year = ? AND d.school_id = (SELECT school_id FROM accounts WHERE username = 'school442')`, args: [year] }, srv);
    eq(n[0].n, 2, 'two in the year, across both plans');
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// A publish decides (check_plan) outside its transaction and re-checks the
// plan inside: an edit of the window racing it either lands after (the
// edit is a 409 published), or first: before the publish read the plan
// (the edited window is checked and published) or between its read and
// its write (the publish is a 409 conflict). Never a plan published with a
// window the rules did not see.
test('races: a plan published while its window is edited is published as the rules saw it, or not at all', async () => {
  const prov = await as('province13');
  await warm(prov);
  for (let i = 0; i < 4; i++) {
    const starts = iso(-DAY), ends = iso(20 * DAY), moved = iso((30 + i) * DAY);
    const r = await prov.post('/api/admin/plans', { year: 2040 + i, batch: 1, title: `并发发布 ${i}`,
      mode: 'by_major', starts_at: starts, ends_at: ends });
    eq(r.status, 201, 'a draft');
    const id = r.data.id;
    const [p1, p2, edit] = await Promise.all([
      prov.post(`/api/admin/plans/${id}/publish`),
      prov.post(`/api/admin/plans/${id}/publish`),
      prov.put(`/api/admin/plans/${id}`, { ends_at: moved }),
    ]);
    const now = sql('SELECT status, ends_at FROM plans WHERE id = ?', id)[0];
    const pubs = [p1, p2].filter((x) => x.status === 200).length;
    assert(pubs <= 1, 'published once at most');
    eq(sql("SELECT count(*) AS n FROM audit_log WHERE entity = 'plan' AND entity_id = ? AND action = 'plan.publish'", id)[0].n,
      pubs, 'one publish audited per 200');
    for (const x of [p1, p2]) {
      if (x.status !== 200) assert(['published', 'conflict'].includes(x.data.error.code), `publish: ${JSON.stringify(x.data)}`);
    }
    if (now.status === 'published' && now.ends_at === Date.parse(ends) / 1000) {
      eq([edit.status, edit.data.error && edit.data.error.code], [409, 'published'], 'the edit came after');
    } else if (now.status === 'published') {
      // the edit committed before a publish read the plan: the rules
      // checked the edited window, and that is the one published
      eq([now.ends_at, edit.status], [Date.parse(moved) / 1000, 200], 'the edit came first, then the publish');
    } else {
      eq([now.status, now.ends_at, edit.status], ['draft', Date.parse(moved) / 1000, 200], 'the edit came first');
      assert([p1, p2].every((x) => x.status === 409 && x.data.error.code === 'conflict'), 'both publishes conflict');
    }
  }
});

// Batch review decides each id inside its own transaction: two reviewers'
// concurrent batches over the same ids decide each declaration once.
test('races: concurrent batch reviews of the same declarations decide each once, one SMS each', async () => {
  const school = await freshSchool('44', '4401', '71');
  const pid = plan('44', 'not_by_major');
  const certs = await certificates();
  const ids = [];
  for (const cert of certs.slice(0, 5)) {
    const d = await school.client.post('/api/declarations', body(pid, cert, 'not_by_major'));
    eq(d.status, 201, 'submitted');
    ids.push(d.data.id);
  }
  const prov = await as('province44');
  const ops = await as('ops');
  await warm(prov);
  await warm(ops);
  const [x, y, z] = await Promise.all([
    prov.post('/api/admin/declarations/batch-review', { ids, decision: 'approve' }),
    ops.post('/api/admin/declarations/batch-review', { ids: [...ids].reverse(), decision: 'reject', comment: '材料不全' }),
    prov.post(`/api/admin/declarations/${ids[2]}/review`, { decision: 'return', comment: '请补充' }),
  ]);
  eq([x.status, y.status], [200, 200], 'both batches answered');
  const done = [...x.data.done, ...y.data.done].map((d) => d.id);
  eq(done.length + (z.status === 200 ? 1 : 0), ids.length, 'each declaration decided once in all');
  eq(new Set(done).size, done.length, 'no id decided twice');
  for (const f of [...x.data.failed, ...y.data.failed]) eq(f.code, 'wrong_status', 'the other saw it decided');
  for (const id of ids) {
    eq(sql("SELECT count(*) AS n FROM reviews WHERE declaration_id = ? AND decision <> 'submit'", id)[0].n, 1,
      `declaration ${id}: one decision recorded`);
  }
  eq(sql("SELECT count(*) AS n FROM sms_outbox WHERE phone = ? AND template = 'review'", school.phone)[0].n, ids.length,
    'one SMS per decision');
});

// 2026-12-02: registration read the school (active, its province and
// city) before hashing the password, outside its transaction: a school
// deactivated in the master list meanwhile was registered all the same,
// serialized after the deactivation.
test('races: a school deactivated while it registers is either registered first or refused', async () => {
  const ops = await as('ops');
  await warm(ops);
  for (let i = 0; i < 6; i++) {
    const code = newSchoolCode('72');
    const s = await ops.post('/api/admin/schools', { code, name: `并发注册学院${code}`, province: '13', city: '1301', type: '高职' });
    eq(s.status, 201, 'a school of the master list');
    const [reg, off] = await Promise.all([
      anon().post('/api/register', { province: '13', city: '1301', school_id: s.data.id, phone: newPhone() }),
      ops.put(`/api/admin/schools/${s.data.id}`, { active: false }),
    ]);
    eq(off.status, 200, 'deactivated');
    const order = sql(`SELECT action FROM audit_log WHERE (entity = 'school' AND entity_id = ? AND action = 'school.update')
      OR (action = 'account.register' AND entity_id IN (SELECT id FROM accounts WHERE school_id = ?)) ORDER BY id`,
    s.data.id, s.data.id).map((r) => r.action);
    if (reg.status === 201) {
      eq(order, ['account.register', 'school.update'], 'registered before the deactivation');
    } else {
      eq([reg.status, reg.data.error.fields[0].code], [422, 'not_in_city'], `refused: ${JSON.stringify(reg.data)}`);
      eq(order, ['school.update'], 'no account');
    }
  }
});

// 2026-12-02: a school master edit read the school outside its
// transaction and wrote every field back: of a rename and a deactivation
// racing, one was lost (5 of 6 times before the fix).
test('races: two admins editing one school at once keep both changes', async () => {
  const ops = await as('ops');
  const prov = await as('province13');
  await warm(ops);
  await warm(prov);
  for (let i = 0; i < 6; i++) {
    const code = newSchoolCode('73');
    const s = await ops.post('/api/admin/schools', { code, name: `并发编辑学院${code}`, province: '13', city: '1301', type: '高职' });
    eq(s.status, 201, 'a school of the master list');
    const [a, b] = await Promise.all([
      ops.put(`/api/admin/schools/${s.data.id}`, { name: `改名学院${code}` }),
      prov.put(`/api/admin/schools/${s.data.id}`, { active: false }),
    ]);
    eq([a.status, b.status], [200, 200], 'both edits answered');
    eq(sql('SELECT name, active FROM schools WHERE id = ?', s.data.id)[0], { active: 0, name: `改名学院${code}` },
      'the rename and the deactivation both kept');
    eq(sql("SELECT count(*) AS n FROM audit_log WHERE entity = 'school' AND entity_id = ? AND action = 'school.update'",
      s.data.id)[0].n, 2, 'two edits audited');
  }
});
