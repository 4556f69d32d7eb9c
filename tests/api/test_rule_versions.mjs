// Issue 9: province rules as versioned data. Every call of the api.md
// section "Province rules as versioned data" for every role, on servers of
// their own (a publish changes what every later request decides).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { BIN, ROOT } from '../lib/server.mjs';
import { FACULTY, VENUE, fixture } from './ctx.mjs';
import { withServer, login, failsWith, FILE44, limit50 } from './rules_ctx.mjs';

const sha = (s) => createHash('sha256').update(s).digest('hex');
const renamed44 = (name) => FILE44.replace('R.name = "广东省示例规则"', `R.name = "${name}"`);
// 广东 with a new limit: at most 50 trainees in a declaration
const LIMIT50 = limit50();

const setName = async (c, p) => (await c.get('/api/admin/rules')).data.sets.find((x) => x.province === p);

test('rule versions: the baseline, and who may read and change which province\'s versions', async () => {
  await withServer(async (srv) => {
    const school = await login(srv, 'school441');
    const city = await login(srv, 'city4401');
    const gd = await login(srv, 'province44');
    const ops = await login(srv, 'ops');
    // the shipped file is 广东's version 1, published and in force
    const list = await gd.get('/api/admin/rules/44/versions');
    eq(list.status, 200, 'list');
    eq(list.data.total, 1, 'one version');
    const [v1] = list.data.items;
    eq([v1.status, v1.in_force, v1.province, v1.sha256], ['published', true, '44', sha(FILE44)], 'the baseline');
    assert(v1.note.includes('rules/44.lua') && v1.author && v1.created_at && v1.published_at, 'note, author, times');
    assert(!('source' in v1), 'a list carries no source');
    const one = await gd.get(`/api/admin/rules/44/versions/${v1.id}`);
    eq(one.data.source, FILE44, 'one version with its source');
    // a province with no file has an empty override to roll back to
    const bj = (await ops.get('/api/admin/rules/11/versions')).data;
    eq([bj.total, bj.items[0].status], [1, 'published'], '北京 has its empty override');
    assert(/return \{\}/.test((await ops.get(`/api/admin/rules/11/versions/${bj.items[0].id}`)).data.source), 'the defaults alone');
    const def = (await city.get('/api/admin/rules/default/versions')).data;
    eq(def.items[0].province, 'default', 'the national set has versions too');

    // schools: 403 everywhere
    failsWith(await school.get('/api/admin/rules/44/versions'), 403, 'forbidden');
    failsWith(await school.post('/api/admin/rules/44/versions', { source: FILE44 }), 403, 'forbidden');
    // a city reads its province (and the defaults), changes nothing
    eq((await city.get('/api/admin/rules/44/versions')).status, 200, 'city reads 广东');
    eq((await city.get(`/api/admin/rules/44/versions/${v1.id}`)).status, 200, 'city reads a version');
    failsWith(await city.get('/api/admin/rules/13/versions'), 403, 'forbidden');
    failsWith(await city.post('/api/admin/rules/44/versions', { source: FILE44 }), 403, 'forbidden');
    failsWith(await city.put('/api/admin/rules/44/cases', { source: 'return {}' }), 403, 'forbidden');
    failsWith(await city.post(`/api/admin/rules/44/versions/${v1.id}/publish`), 403, 'forbidden');
    failsWith(await city.post('/api/admin/rules/44/rollback', { to: v1.id }), 403, 'forbidden');
    // a province: its own, not another's, not the national set
    failsWith(await gd.get('/api/admin/rules/13/versions'), 403, 'forbidden');
    failsWith(await gd.post('/api/admin/rules/13/versions', { source: FILE44 }), 403, 'forbidden');
    failsWith(await gd.post('/api/admin/rules/default/versions', { source: 'return {}' }), 403, 'forbidden');
    const other = (await ops.get('/api/admin/rules/13/versions')).data.items[0];
    failsWith(await gd.get(`/api/admin/rules/44/versions/${other.id}`), 404, 'not_found');   // 河北's id under 广东
    failsWith(await gd.post(`/api/admin/rules/13/versions/${other.id}/publish`), 403, 'forbidden');
    // no such set
    failsWith(await ops.get('/api/admin/rules/99/versions'), 404, 'not_found');
    failsWith(await ops.get('/api/admin/rules/xx/versions'), 404, 'not_found');
    failsWith(await ops.get('/api/admin/rules/44/versions/999999'), 404, 'not_found');
    // ops: every province and the national set
    const pushed = await ops.post('/api/admin/rules/default/versions', {
      source: readFileSync(join(ROOT, 'rules', 'default.lua'), 'utf8') + '\n-- 复核\n', note: '运维复核' });
    eq([pushed.status, pushed.data.status, pushed.data.province], [201, 'draft', 'default'], 'ops pushes the defaults');
    eq((await ops.post('/api/admin/rules/13/versions', { source: 'local base = ...\nreturn {}\n' })).status, 201, 'ops pushes 河北');
    // paging, newest first
    const page = (await ops.get('/api/admin/rules/13/versions?page=1&size=1')).data;
    eq([page.total, page.items.length, page.items[0].status], [2, 1, 'draft'], 'newest first');
    failsWith(await ops.get('/api/admin/rules/13/versions?size=0'), 400, 'bad_request');
  });
});

test('rule versions: push refuses what does not load (with its line), publish switches with no request failing, rollback, the audit log', async () => {
  await withServer(async (srv) => {
    const gd = await login(srv, 'province44');
    const school = await login(srv, 'school441');
    const v1 = (await gd.get('/api/admin/rules/44/versions')).data.items[0];
    const before = (await gd.get('/api/admin/rules')).data;
    // refusals: each with its code and line; nothing stored
    let r = await gd.post('/api/admin/rules/44/versions', { source: 'local base = ...\nreturn {\n  name = = 1\n}\n' });
    failsWith(r, 422, 'rules_invalid');
    eq([r.data.error.fields[0].field, r.data.error.fields[0].code, r.data.error.fields[0].line], ['source', 'syntax', 3], 'a syntax error at line 3');
    r = await gd.post('/api/admin/rules/44/versions', { source: 'local base = ...\nlocal t = nil\nreturn t.x\n' });
    failsWith(r, 422, 'rules_invalid');
    eq([r.data.error.fields[0].code, r.data.error.fields[0].line], ['load', 3], 'a load error at line 3');
    failsWith(await gd.post('/api/admin/rules/44/versions', { source: '' }), 422, 'validation_failed');
    failsWith(await gd.post('/api/admin/rules/44/versions', { source: 7 }), 422, 'validation_failed');
    failsWith(await gd.post('/api/admin/rules/44/versions', { source: FILE44, note: 'x'.repeat(201) }), 422, 'validation_failed');
    failsWith(await gd.post('/api/admin/rules/44/versions', { source: 'x'.repeat(300 * 1024) }), 422, 'validation_failed');
    eq((await gd.get('/api/admin/rules/44/versions')).data.total, 1, 'nothing stored');

    // a good draft, published while a school's requests run
    const pushed = await gd.post('/api/admin/rules/44/versions', { source: renamed44('广东省规则（二）'), note: '改名' });
    eq([pushed.status, pushed.data.status, pushed.data.in_force, pushed.data.note], [201, 'draft', false, '改名'], 'a draft');
    assert(Array.isArray(pushed.data.warnings), 'lint warnings listed');
    eq(pushed.data.author, '陈省审（广东省教育厅）', 'the author by name and unit');
    eq((await setName(gd, '44')).name, '广东省示例规则', 'a draft decides nothing');
    let failures = 0, count = 0, stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const p = await school.get('/api/school/profile');   // runs 广东's rules
          if (p.status !== 200 || !Array.isArray(p.data.required)) failures++;
        } catch (e) {
          failures++;
          stop = true;
          console.log(`request failed: ${e.message}; server log: ${srv.log.slice(-3000)}`);
        }
        count++;
        await new Promise((res) => setTimeout(res, 2));   // paced: the machine is shared
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    const v2 = pushed.data.id;
    try {
      const pub = await gd.post(`/api/admin/rules/44/versions/${v2}/publish`);
      eq([pub.status, pub.data.status, pub.data.in_force], [200, 'published', true], 'publish');
      for (let i = 0; i < 4; i++) {
        const rb = await gd.post('/api/admin/rules/44/rollback', { to: v1.id });
        eq([rb.status, rb.data.id, rb.data.in_force], [200, v1.id, true], `rollback ${i}`);
        // the version rolled back from is retired: rollback puts it in force again
        eq((await gd.post('/api/admin/rules/44/rollback', { to: v2 })).status, 200, `rollback to the newer ${i}`);
      }
      eq((await gd.post('/api/admin/rules/44/rollback', { to: v1.id })).status, 200, 'and back');
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    assert(count > 20, `requests made: ${count}`);
    eq(failures, 0, `failed requests out of ${count}`);
    const st = (await gd.get('/api/admin/rules')).data;
    assert(st.generation > before.generation, 'new generations');
    eq((await setName(gd, '44')).version_id, v1.id, 'the baseline is in force again');
    // the states: one in force, the other retired
    const vs = (await gd.get('/api/admin/rules/44/versions')).data.items;
    eq(vs.map((v) => [v.id, v.status]), [[v2, 'retired'], [v1.id, 'published']], 'states');
    // what cannot be done
    failsWith(await gd.post(`/api/admin/rules/44/versions/${v1.id}/publish`), 409, 'conflict');        // in force
    failsWith(await gd.post(`/api/admin/rules/44/versions/${v2}/publish`), 409, 'conflict');           // retired: roll back
    failsWith(await gd.post('/api/admin/rules/44/rollback', { to: v1.id }), 409, 'conflict');          // already in force
    const draft = (await gd.post('/api/admin/rules/44/versions', { source: renamed44('草稿') })).data.id;
    failsWith(await gd.post('/api/admin/rules/44/rollback', { to: draft }), 409, 'conflict');          // never in force
    failsWith(await gd.post('/api/admin/rules/44/rollback', {}), 422, 'validation_failed');
    failsWith(await gd.post('/api/admin/rules/44/rollback', { to: 999999 }), 404, 'not_found');
    // publish the draft: the school's next request runs it
    eq((await gd.post(`/api/admin/rules/44/versions/${draft}/publish`)).status, 200, 'publish');
    eq((await setName(gd, '44')).name, '草稿', 'in force at once');
    // the audit log: every push, publish and rollback, by whom
    const log = (await gd.get('/api/admin/audit?entity=rules&size=100')).data.items;
    const actions = log.map((x) => x.action);
    for (const a of ['rules.push', 'rules.publish', 'rules.rollback']) assert(actions.includes(a), `${a} audited`);
    assert(log.every((x) => x.username === 'province44'), 'by 广东');
    const pub = log.find((x) => x.action === 'rules.publish');
    eq([pub.action_name, pub.entity_name], ['发布规则版本', '申报规则'], 'in words');
    assert(pub.detail.version_id === draft && pub.detail.replaced === v1.id, `what replaced what: ${JSON.stringify(pub.detail)}`);
  });
});

// Submits a not-by-major declaration of trainees on plan pid; returns its id.
async function submit(c, pid, cert, trainees) {
  const r = await c.post('/api/declarations', {
    plan_id: pid, certificate_id: cert.id, faculty: FACULTY, venue: VENUE, trainees_total: trainees, submit: true });
  eq(r.status, 201, `submitted: ${JSON.stringify(r.data).slice(0, 300)}`);
  return r.data.id;
}

test('rule versions: replay shows exactly the declarations a new limit changes, writes nothing; each submission and review records its version', async () => {
  await withServer(async (srv) => {
    const gd = await login(srv, 'province44');
    const school = await login(srv, 'school441');
    const pid = fixture('plan', { province: '44', mode: 'not_by_major' }, srv);
    const certs = (await school.get('/api/certificates')).data;
    const ids = {};
    for (const [i, n] of [30, 60, 45, 80].entries()) ids[n] = await submit(school, pid, certs[i], n);
    const v1 = (await gd.get('/api/admin/rules/44/versions')).data.items[0];
    // the decision record
    const d = (await gd.get(`/api/admin/declarations/${ids[30]}`)).data;
    eq([d.rules.id, d.rules.sha256], [v1.id, v1.sha256], 'decided under 广东\'s baseline');
    eq(d.reviews.find((x) => x.decision === 'submit').rules.id, v1.id, 'in the submission record');

    const pushed = await gd.post('/api/admin/rules/44/versions', { source: LIMIT50, note: '限额 50' });
    eq(pushed.status, 201, JSON.stringify(pushed.data).slice(0, 300));
    const v2 = pushed.data.id;
    const rows = () => JSON.stringify(fixture('query', { sql: 'SELECT id, status, updated_at FROM declarations ORDER BY id', args: [] }, srv));
    const stored = rows();
    const r = await gd.post(`/api/admin/rules/44/versions/${v2}/replay`, { plan: pid });
    eq(r.status, 200, JSON.stringify(r.data).slice(0, 300));
    eq([r.data.total, r.data.changed, r.data.truncated], [4, 2, false], 'four replayed, two changed');
    eq(r.data.items.map((x) => x.declaration_id).sort((a, b) => a - b), [ids[60], ids[80]].sort((a, b) => a - b),
      'exactly the ones over 50');
    const it = r.data.items[0];
    eq([it.before.codes, it.after.codes, it.status], [[], ['over_limit'], 'pending'], 'before and after');
    eq([it.before.review_chain, it.after.review_chain], [['province'], []], 'the chain before; none after a refusal');
    assert(it.school, 'the school named');
    eq(rows(), stored, 'nothing written');
    eq((await setName(gd, '44')).version_id, v1.id, 'nothing published');
    // a city reads, it does not replay; a plan of another province is 404,
    // also through the national set (attack of 2026-12-02)
    const city = await login(srv, 'city4401');
    failsWith(await city.post(`/api/admin/rules/44/versions/${v2}/replay`, { plan: pid }), 403, 'forbidden');
    const hb = fixture('plan', { province: '13', mode: 'by_major' }, srv);
    failsWith(await gd.post(`/api/admin/rules/44/versions/${v2}/replay`, { plan: hb }), 404, 'not_found');
    const def = (await gd.get('/api/admin/rules/default/versions')).data.items[0].id;
    failsWith(await gd.post(`/api/admin/rules/default/versions/${def}/replay`, { plan: hb }), 404, 'not_found');
    eq((await gd.post(`/api/admin/rules/default/versions/${def}/replay`, { plan: pid })).status, 200, 'its own plan under the defaults');
    failsWith(await gd.post(`/api/admin/rules/44/versions/${v2}/replay`, {}), 422, 'validation_failed');

    // published, the next submission is decided under it; a review records the version
    eq((await gd.post(`/api/admin/rules/44/versions/${v2}/publish`)).status, 200, 'publish');
    const refused = await school.post('/api/declarations', {
      plan_id: pid, certificate_id: certs[4].id, faculty: FACULTY, venue: VENUE, trainees_total: 51, submit: true });
    eq(refused.status, 422, 'the new limit holds');
    const field = refused.data.error.fields.find((x) => x.code === 'over_limit');
    assert(field && field.field === 'trainees_total', 'on its field');
    const id5 = await submit(school, pid, certs[4], 50);
    eq((await gd.get(`/api/admin/declarations/${id5}`)).data.rules.id, v2, 'decided under the new version');
    const rv = await gd.post(`/api/admin/declarations/${ids[30]}/review`, { decision: 'approve', comment: '同意' });
    eq(rv.status, 200, 'approved');
    const after = (await gd.get(`/api/admin/declarations/${ids[30]}`)).data;
    eq(after.reviews.find((x) => x.decision === 'approve').rules.id, v1.id, 'the review follows the version its chain was fixed under');
  });
});

function host(srv, dir, args) {
  return spawnSync(BIN, [...args, '--db', srv.db, '--rules', dir], { encoding: 'utf8' });
}

test('rule versions: host rules versions|push|publish|export, and a running server follows a publish made elsewhere', async () => {
  await withServer(async (srv, dir) => {
    const gd = await login(srv, 'province44');
    const list = host(srv, dir, ['rules', 'versions', '--province', '44']);
    eq(list.status, 0, list.stderr);
    assert(/published \*/.test(list.stdout), list.stdout);
    const file = join(dir, 'new44.lua');
    writeFileSync(file, renamed44('命令行发布'));
    const push = host(srv, dir, ['rules', 'push', '--province', '44', file, '--note', '命令行']);
    eq(push.status, 0, push.stderr);
    const id = Number(push.stdout.trim());
    assert(Number.isInteger(id) && id > 0, `prints the id: ${push.stdout}`);
    writeFileSync(join(dir, 'bad.lua'), 'return {\n  x = = 1\n}\n');
    const bad = host(srv, dir, ['rules', 'push', '--province', '44', join(dir, 'bad.lua')]);
    eq(bad.status, 1, 'refused');
    assert(/line 2/.test(bad.stderr), bad.stderr);
    eq(host(srv, dir, ['rules', 'push', '--province', '4x', file]).status, 2, 'bad usage');
    const pub = host(srv, dir, ['rules', 'publish', '--province', '44', '--id', String(id)]);
    eq(pub.status, 0, pub.stderr);
    // the server installs what another process published within a second or two
    let seen;
    for (let i = 0; i < 40 && !seen; i++) {
      const s = await setName(gd, '44');
      if (s.version_id === id) seen = s;
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert(seen && seen.name === '命令行发布', 'the running server follows');
    const out = mkdtempSync(join(tmpdir(), 'host-export-'));
    const ex = host(srv, dir, ['rules', 'export', '--province', '44', '--out', out]);
    eq(ex.status, 0, ex.stderr);
    eq(readFileSync(join(out, '44.lua'), 'utf8'), renamed44('命令行发布'), 'exported as in force');
    rmSync(out, { recursive: true, force: true });
    const log = (await (await login(srv, 'ops')).get('/api/admin/audit?entity=rules')).data.items;
    assert(log.some((x) => x.action === 'rules.publish' && x.username === 'host rules'), 'the command line is audited');
  });
});

test('rule versions: lint and contract refusals with their lines, tests with coverage, publish gated by the province\'s cases', async () => {
  await withServer(async (srv) => {
    const gd = await login(srv, 'province44');
    const push = (source) => gd.post('/api/admin/rules/44/versions', { source });
    const problem = (r) => (r.data.error.fields || [])[0] || {};
    // an undefined global name, found by the lint before anything runs
    let r = await push('local base = ...\nlocal R = {}\nfunction R.check_declaration(ctx)\n  return base.check_declaration(ctx) or parm(ctx, "x")\nend\nreturn R\n');
    failsWith(r, 422, 'rules_invalid');
    eq([problem(r).code, problem(r).line], ['undefined_name', 4], `undefined name at line 4: ${JSON.stringify(r.data.error)}`);
    assert(/parm/.test(problem(r).message), 'naming it');
    // an entry the contract does not know (a typo), at its line
    r = await push('local base = ...\nlocal R = {}\n\nfunction R.chek_declaration(ctx)\n  return {}\nend\nreturn R\n');
    failsWith(r, 422, 'rules_invalid');
    eq([problem(r).code, problem(r).line], ['unknown_entry', 4], `unknown entry at line 4: ${JSON.stringify(r.data.error)}`);
    assert(/chek_declaration/.test(problem(r).message), 'naming it');
    // an unused variable is a warning, not a refusal
    r = await push('local base = ...\nlocal R = {}\nlocal unused = 1\nR.name = "广东（警告）"\nreturn R\n');
    eq(r.status, 201, JSON.stringify(r.data).slice(0, 300));
    assert(r.data.warnings.some((w) => w.line === 3), `a warning at line 3: ${JSON.stringify(r.data.warnings)}`);

    // a version whose second function no case runs
    const src = 'local base = ...\nlocal R = {}\nfunction R.check_declaration(ctx)\n  local e = base.check_declaration(ctx)\n'
      + '  if (ctx.declaration.trainees_total or 0) > 50 then\n    base.err(e, "trainees_total", "over_limit", "不能超过 50")\n  end\n  return e\nend\n'
      + 'function R.review_chain(ctx)\n  return { "city", "province" }\nend\nreturn R\n';
    const v = (await push(src)).data;
    const cases = 'local d = { certificate_id = 1, faculty_chars = 9, venue_chars = 9, majors = {}, trainees_total = 60 }\n'
      + 'return {\n  { name = "60 人超限", province = "44", input = { submit = true, mode = "not_by_major", declaration = d },\n'
      + '    expect = { codes = { "over_limit" } } },\n}\n';
    const t = await gd.post(`/api/admin/rules/44/versions/${v.id}/test`, { cases });
    eq(t.status, 200, JSON.stringify(t.data).slice(0, 300));
    eq([t.data.passed, t.data.failed, t.data.results[0].ok], [1, 0, true], 'the case passed');
    const cov = t.data.coverage;
    eq(cov.lines, cov.hit + cov.missed.length, `lines = hit + missed: ${JSON.stringify(cov)}`);
    assert(cov.missed.includes(11) && !cov.missed.includes(6), `review_chain's line 11 never ran, line 6 did: ${JSON.stringify(cov)}`);
    // a typo of a ctx field fails the case, naming the field and its line
    const typo = src.replace('ctx.declaration.trainees_total', 'ctx.declaration.trainee_total');
    const tv = (await push(typo)).data;
    const tt = await gd.post(`/api/admin/rules/44/versions/${tv.id}/test`, { cases });
    eq(tt.data.failed, 1, 'the case fails');
    assert(/trainee_total/.test(tt.data.results[0].message) && /:5:/.test(tt.data.results[0].message),
      `naming the field and the line: ${tt.data.results[0].message}`);

    // cases that do not load or run are the author's to fix (422), never a 500
    failsWith(await gd.post(`/api/admin/rules/44/versions/${v.id}/test`, { cases: 'error("x")' }), 422, 'cases_invalid');
    failsWith(await gd.post(`/api/admin/rules/44/versions/${v.id}/test`, { cases: 'while true do end' }), 422, 'cases_invalid');
    failsWith(await gd.put('/api/admin/rules/44/cases', { source: 'return {' }), 422, 'cases_invalid');
    failsWith(await (await login(srv, 'city4401')).post(`/api/admin/rules/44/versions/${v.id}/test`, { cases }), 403, 'forbidden');
    // a source too long for the lint is refused before it runs
    failsWith(await push('local x = 0\n'.repeat(3000) + 'return {}\n'), 422, 'validation_failed');
    // the stored cases gate publish: a failing case refuses it, nothing changes
    const inForce = (await setName(gd, '44')).version_id;
    const failing = cases.replace('"over_limit"', '"required"');
    eq((await gd.put('/api/admin/rules/44/cases', { source: failing })).status, 200, 'cases stored');
    eq((await gd.get('/api/admin/rules/44/cases')).data.source, failing, 'read back');
    r = await gd.post(`/api/admin/rules/44/versions/${v.id}/publish`);
    failsWith(r, 409, 'cases_failed');
    const failed = r.data.error.fields.find((x) => x.code === 'case_failed');
    assert(failed && failed.name === '60 人超限', `the failing case named: ${JSON.stringify(r.data.error.fields)}`);
    eq((await setName(gd, '44')).version_id, inForce, 'nothing changed');
    eq((await gd.get(`/api/admin/rules/44/versions/${v.id}`)).data.status, 'draft', 'still a draft');
    // with the cases right, it goes in force
    eq((await gd.put('/api/admin/rules/44/cases', { source: cases })).status, 200, 'cases fixed');
    eq((await gd.post(`/api/admin/rules/44/versions/${v.id}/publish`)).status, 200, 'published');
    eq((await setName(gd, '44')).version_id, v.id, 'in force');
    const log = (await gd.get('/api/admin/audit?entity=rules&size=100')).data.items.map((x) => x.action);
    assert(log.includes('rules.cases'), 'storing cases is audited');
  });
});
