// Issue 9 (part A): one rule contract. GET /api/admin/rules/contract per
// role; a live request through a province rule that reads a ctx field
// the contract does not know fails closed (500 rule_failed), and a
// finding made with lib.err says where it was made (rule = {file, line});
// the lab (scripts/rules_lab.lua) refuses what the contract refuses, with
// lines, and reports the coverage of a test run.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, Client, BIN, ROOT } from '../lib/server.mjs';
import { as, anon, FACULTY, VENUE } from './ctx.mjs';

function rulesWith(files) {
  const dir = mkdtempSync(join(tmpdir(), 'host-rules-'));
  cpSync(join(ROOT, 'rules'), dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function repl(dir, code) {
  const r = spawnSync(BIN, ['repl', '--rules', dir], { input: code, encoding: 'utf8', timeout: 30000 });
  return (r.stdout || '').split('\n');
}

test('contract: GET /api/admin/rules/contract for province, city and ops admins; schools 403', async () => {
  for (const who of ['province13', 'city1301', 'ops']) {
    const c = await as(who);
    const r = await c.get('/api/admin/rules/contract');
    eq(r.status, 200, `${who} reads the contract`);
    const entries = Object.fromEntries(r.data.entries.map((e) => [e.name, e]));
    for (const name of ['check_plan', 'check_profile', 'check_declaration', 'deadline', 'review_chain',
      'declaration_mode', 'major_levels', 'profile_required', 'name', 'plan_modes', 'params']) {
      assert(entries[name], `the entry ${name} is declared`);
    }
    eq(entries.check_declaration.kind, 'function', 'check_declaration is a function');
    eq(entries.profile_required.kind, 'value', 'profile_required is a value');
    assert(Array.isArray(entries.name.ctx) && entries.name.ctx.length === 0, 'a value has no ctx: []');
    assert(entries.check_declaration.ctx.includes('declaration'), 'check_declaration gets ctx.declaration');
    const fields = (part) => r.data.ctx[part].map((f) => f.name);
    eq(fields('plan'), ['id', 'year', 'batch', 'title', 'mode', 'starts_at', 'ends_at'], 'ctx.plan');
    eq(fields('school'), ['id', 'code', 'type', 'province', 'city'], 'ctx.school');
    eq(fields('certificate'), ['id', 'code', 'name', 'level', 'organization', 'majors'], 'ctx.certificate');
    assert(fields('declaration').includes('trainees_total'), 'ctx.declaration.trainees_total');
    assert(r.data.ctx.ctx.every((f) => f.name && f.type && f.doc), 'each field has a name, a type and a doc');
    const lib = r.data.lib.map((h) => h.name);
    for (const h of ['err', 'blank', 'path', 'param', 'today', 'year']) assert(lib.includes(h), `lib.${h}`);
    assert(r.data.lib.every((h) => h.signature && h.doc), 'each helper has a signature and a doc');
  }
  const school = await as('school131');
  eq((await school.get('/api/admin/rules/contract')).status, 403, 'a school is refused');
  eq((await anon().get('/api/admin/rules/contract')).status, 401, 'no session: 401');
});

// 河北's check_declaration: 31 trainees reads a field the contract lacks
// (a typo); above 40, a finding made with lib.err on line 7.
const P13 = `local base = ...
local R = {}
R.plan_modes = { "by_major", "not_by_major" }
function R.check_declaration(ctx)
  local errors = base.check_declaration(ctx)
  if (ctx.declaration.trainees_total or 0) > 40 then
    lib.err(errors, "trainees_total", "over_limit", "申请培训总人数不能超过 40 人")
  end
  if ctx.declaration.trainees_total == 31 and ctx.declaration.trainee_total then
    return {}
  end
  return errors
end
return R
`;

async function body(c, trainees) {
  const plans = (await c.get('/api/plans')).data;
  const p = plans.find((x) => x.can_declare);
  assert(p, 'an open plan');
  const certs = (await c.get('/api/certificates')).data;
  const cert = certs.find((x) => x.majors.length >= 1);
  const b = { plan_id: p.id, certificate_id: cert.id, faculty: FACULTY, venue: VENUE, submit: true };
  if (p.mode === 'by_major') {
    const majors = (await c.get(`/api/majors?certificate=${cert.id}`)).data;
    const own = majors.find((m) => m.allowed !== false);
    b.majors = [{ major: own.code, students: 100, teachers: 3, trainees }];
  } else {
    b.trainees_total = trainees;
  }
  return b;
}

test('contract: a rule reading an unknown ctx field fails closed (500 rule_failed); lib.err findings carry their rule and line', async () => {
  const dir = rulesWith({ '13.lua': P13 });
  const srv = await startServer({ rules: dir });
  try {
    const c = new Client(srv.base);
    await c.login('school131');
    const typo = await c.post('/api/declarations', await body(c, 31));
    eq(typo.status, 500, `a typo in a ctx field is a failure: ${JSON.stringify(typo.data).slice(0, 200)}`);
    eq(typo.data.error.code, 'rule_failed', 'rule_failed');
    assert(/trainee_total/.test(srv.log), 'the log names the field');
    assert(/13\.lua:9:/.test(srv.log), 'and the rule\'s line');
    const over = await c.post('/api/declarations', await body(c, 41));
    eq(over.status, 422, `the province's limit: ${JSON.stringify(over.data).slice(0, 300)}`);
    const f = over.data.error.fields.find((x) => x.code === 'over_limit');
    assert(f, 'the over_limit finding');
    eq([f.field, f.message], ['trainees_total', '申请培训总人数不能超过 40 人'], 'field and message as before');
    // the stored version of 13 in force (its baseline from the file), and the line
    const ops = new Client(srv.base);
    await ops.login('ops');
    const v13 = (await ops.get('/api/admin/rules')).data.sets.find((x) => x.province === '13').version_id;
    assert(Number.isInteger(v13) && v13 > 0, 'a stored version');
    eq(f.rule, { file: '13', line: 7, version_id: v13 }, 'the finding says where it was made');
    const ok = await c.post('/api/declarations', await body(c, 30));
    eq(ok.status, 201, `within the limit it submits: ${JSON.stringify(ok.data).slice(0, 200)}`);
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('contract: the lab refuses syntax, unknown entries and undefined names with their lines, and tests with coverage', () => {
  const dir = rulesWith({});
  try {
    const src = {
      typo: 'local base = ...\\nlocal R = {}\\nfunction R.chek_declaration(ctx)\\n  return {}\\nend\\nreturn R\\n',
      undefined: 'local base = ...\\nlocal R = {}\\nfunction R.review_chain(ctx)\\n  return helper(ctx)\\nend\\nreturn R\\n',
      syntax: 'local base = ...\\nreturn {\\n  name = = 1\\n}\\n',
    };
    const code = `local lab = require("rules_lab") local json = require("json")
local d = io.open("${dir}/default.lua"):read("a")
local function check(s) return json.encode(lab.check({ { name = "default", text = d }, { name = "13", text = s } }, "13")) end
print("@@typo " .. check("${src.typo}"))
print("@@undefined " .. check("${src.undefined}"))
print("@@syntax " .. check("${src.syntax}"))
print("@@shipped " .. check(io.open("${dir}/13.lua"):read("a")))
local cases = io.open("${ROOT}/tests/rules/13.lua"):read("a")
print("@@test " .. json.encode(lab.test({ { name = "default", text = d }, { name = "13", text = io.open("${dir}/13.lua"):read("a") } }, "13", cases)))
`;
    const out = repl(dir, code.replace(/\n(?=local|print)/g, ' '));
    const get = (k) => JSON.parse((out.find((l) => l.startsWith(`@@${k} `)) || `@@${k} null`).slice(k.length + 3));
    const typo = get('typo');
    assert(typo && !typo.ok, `chek_declaration refused: ${JSON.stringify(typo)}`);
    eq([typo.problems[0].code, typo.problems[0].line], ['unknown_entry', 3], 'unknown_entry on its line');
    assert(/chek_declaration/.test(typo.problems[0].message), 'the message names it');
    assert(typo.warnings.some((w) => w.line === 3 && /unused argument 'ctx'/.test(w.message)), 'lint warnings come too');
    const undef = get('undefined');
    eq([undef.ok, undef.problems[0].code, undef.problems[0].line], [false, 'undefined_name', 4], 'undefined_name on its line');
    assert(/helper/.test(undef.problems[0].message), 'the message names it');
    const syntax = get('syntax');
    eq([syntax.ok, syntax.problems[0].code, syntax.problems[0].line], [false, 'syntax', 3], 'syntax on its line');
    const shipped = get('shipped');
    eq([shipped.ok, shipped.problems.length], [true, 0], 'the shipped 13.lua passes');
    const t = get('test');
    eq([t.passed, t.failed], [7, 0], 'the shipped cases of 河北 pass in the lab');
    eq(t.coverage.lines, 17, 'the executable lines of rules/13.lua');
    eq([t.coverage.hit, t.coverage.missed], [17, []], 'every one of them run by its cases');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
