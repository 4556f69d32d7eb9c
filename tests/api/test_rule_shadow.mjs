// Issue 10: shadow evaluation. A draft beside the version in force on live
// traffic (save, submit, plan publish), deciding nothing; its divergences
// recorded. On servers of their own.
import { test, assert, eq } from '../lib/harness.mjs';
import { FACULTY, VENUE, fixture } from './ctx.mjs';
import { withServer, login, failsWith, FILE44, limit50 } from './rules_ctx.mjs';

// the candidate: at most 50 trainees, and plans by major only
const LIMIT50 = limit50('R.plan_modes = { "by_major" }\n');
// a candidate that never ends (xpcall's handler escapes the instruction
// budget: only the evaluator's deadline stops it)
const LOOPING = FILE44.replace('return R\n', `function R.check_declaration(ctx)
  xpcall(function() while true do end end, function() while true do end end)
end

return R
`);

function iso(fromNow) {
  return new Date(Date.now() + fromNow * 1000 + 8 * 3600 * 1000).toISOString().slice(0, 19) + '+08:00';
}

async function declare(c, pid, cert, trainees, submit = true) {
  return c.post('/api/declarations', {
    plan_id: pid, certificate_id: cert.id, faculty: FACULTY, venue: VENUE, trainees_total: trainees, submit });
}

// Waits until the shadow has evaluated n checks; returns its report.
async function evaluated(c, n) {
  let last;
  for (let i = 0; i < 150; i++) {
    last = (await c.get('/api/admin/rules/44/shadow')).data;
    if (last.evaluated >= n && last.pending === 0) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the shadow evaluated ${JSON.stringify(last).slice(0, 400)}, expected ${n}`);
}

test('shadow: a draft beside the version in force decides nothing and records where it would decide otherwise', async () => {
  await withServer(async (srv) => {
    const gd = await login(srv, 'province44');
    const school = await login(srv, 'school441');
    const city = await login(srv, 'city4401');
    const v = (await gd.post('/api/admin/rules/44/versions', { source: LIMIT50, note: '限额 50' })).data;
    failsWith(await gd.get('/api/admin/rules/44/shadow'), 404, 'not_found');   // never had one
    // who
    failsWith(await school.post(`/api/admin/rules/44/versions/${v.id}/shadow`), 403, 'forbidden');
    failsWith(await city.post(`/api/admin/rules/44/versions/${v.id}/shadow`), 403, 'forbidden');
    failsWith(await (await login(srv, 'province13')).post(`/api/admin/rules/44/versions/${v.id}/shadow`), 403, 'forbidden');
    const inForce = (await gd.get('/api/admin/rules/44/versions')).data.items.find((x) => x.in_force);
    failsWith(await gd.post(`/api/admin/rules/44/versions/${inForce.id}/shadow`), 409, 'conflict');
    failsWith(await gd.del('/api/admin/rules/44/shadow'), 409, 'conflict');            // none running

    const start = await gd.post(`/api/admin/rules/44/versions/${v.id}/shadow`);
    eq([start.status, start.data.version_id, start.data.running, start.data.evaluated], [200, v.id, true, 0], 'started');
    // live traffic: the set in force decides
    const pid = fixture('plan', { province: '44', mode: 'not_by_major' }, srv);
    const certs = (await school.get('/api/certificates')).data;
    const a = await declare(school, pid, certs[0], 60);           // live: fine; shadow: over the limit
    eq(a.status, 201, 'the shadow refuses nothing');
    const b = await declare(school, pid, certs[1], 30);           // both fine
    eq(b.status, 201, 'submitted');
    const d = await declare(school, pid, certs[2], 70, false);    // a draft: the shadow finds more
    eq([d.status, d.data.warnings.length], [201, 0], 'saved, no warning from the set in force');
    // a plan published under the shadow: by major only there
    const draftPlan = await gd.post('/api/admin/plans', { year: 2031, batch: 1, title: '影子测试计划', mode: 'not_by_major',
      starts_at: iso(0), ends_at: iso(86400) });
    eq(draftPlan.status, 201, 'a draft plan');
    eq((await gd.post(`/api/admin/plans/${draftPlan.data.id}/publish`)).status, 200, 'published under the rules in force');

    // two submissions (check and chain each), a draft, a plan: 6 checks, 3 diverged
    const r = await evaluated(gd, 6);
    eq([r.evaluated, r.diverged], [6, 3], `counts: ${JSON.stringify(r).slice(0, 600)}`);
    const by = (id, entry) => r.items.find((x) => x.declaration_id === id && x.entry === entry);
    eq([by(a.data.id, 'check_declaration').before.codes, by(a.data.id, 'check_declaration').after.codes],
      [[], ['over_limit']], 'the submission over 50');
    // checked before it was stored, each is recorded with the declaration it became
    const draftRow = by(d.data.id, 'check_declaration');
    eq([draftRow.plan_id, draftRow.before.codes, draftRow.after.codes], [pid, [], ['over_limit']], 'the draft over 50');
    const planRow = r.items.find((x) => x.entry === 'check_plan');
    eq([planRow.plan_id, planRow.before.codes, planRow.after.codes], [draftPlan.data.id, [], ['mode_not_allowed']], 'the plan');
    assert(!r.items.some((x) => x.declaration_id === b.data.id), 'no divergence where both agree');
    assert(r.items.every((x) => /\+08:00$/.test(x.at)), 'times');
    // nothing was decided by the shadow
    eq((await gd.get('/api/admin/rules')).data.sets.find((x) => x.province === '44').version_id, inForce.id, 'still in force');
    // a city reads it
    eq((await city.get('/api/admin/rules/44/shadow')).data.evaluated, 6, 'a city reads the shadow');

    // ending it keeps its record; traffic after is not shadowed
    const stop = await gd.del('/api/admin/rules/44/shadow');
    eq([stop.status, stop.data.running, stop.data.evaluated], [200, false, 6], 'stopped');
    eq((await declare(school, pid, certs[3], 90)).status, 201, 'submitted after');
    await new Promise((res) => setTimeout(res, 1500));
    const kept = (await gd.get('/api/admin/rules/44/shadow')).data;
    eq([kept.running, kept.evaluated, kept.diverged, kept.items.length], [false, 6, 3, 3], 'the record stays, nothing added');
    const log = (await gd.get('/api/admin/audit?entity=rules')).data.items.map((x) => x.action);
    assert(log.includes('rules.shadow') && log.includes('rules.shadow_stop'), 'audited');
  });
});

test('shadow: a looping shadow version never fails or holds a request; its failure is a divergence', async () => {
  await withServer(async (srv) => {
    const gd = await login(srv, 'province44');
    const school = await login(srv, 'school441');
    const v = await gd.post('/api/admin/rules/44/versions', { source: LOOPING, note: '死循环' });
    eq(v.status, 201, `a draft that loads: ${JSON.stringify(v.data).slice(0, 300)}`);
    eq((await gd.post(`/api/admin/rules/44/versions/${v.data.id}/shadow`)).status, 200, 'shadow started');
    const pid = fixture('plan', { province: '44', mode: 'not_by_major' }, srv);
    const certs = (await school.get('/api/certificates')).data;
    for (let i = 0; i < 3; i++) {
      const r = await declare(school, pid, certs[i], 20 + i);
      eq(r.status, 201, `submission ${i} answered by the rules in force`);
      eq((await school.get('/api/school/profile')).status, 200, 'and the school goes on');
    }
    const r = await evaluated(gd, 6);
    // each check_declaration of the loop is a failure; the chains agree
    eq(r.diverged, 3, `three failures: ${JSON.stringify(r.items).slice(0, 500)}`);
    assert(r.items.every((x) => x.entry === 'check_declaration' && x.after.codes[0] === 'rule_failed' && x.after.error),
      'recorded as rule_failed, with why');
    assert(r.items.some((x) => /deadline/.test(x.after.error)), 'the deadline ended it');
    eq((await gd.get('/healthz')).status, 200, 'the server is fine');
  });
});
