// Issue 8, second round: what an attack on the rule evaluators found on
// 2026-12-01 (tests/attack8/ keeps the proofs of concept). Each runs the
// REPL or a server on a copy of rules/ with a hostile province file.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, Client, BIN, ROOT } from '../lib/server.mjs';

const POC = join(ROOT, 'tests', 'attack8');

function rulesWith(files) {
  const dir = mkdtempSync(join(tmpdir(), 'host-rules-'));
  cpSync(join(ROOT, 'rules'), dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

// Runs Lua lines in the REPL on dir; returns the lines it printed.
function repl(dir, code, env = {}) {
  const r = spawnSync(BIN, ['repl', '--rules', dir, '--db', join(dir, 'repl.db')], {
    input: code, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60000,
  });
  return (r.stdout || '').split('\n');
}

const poc = (name) => readFileSync(join(POC, name), 'utf8');

test('attack: the shared libraries cannot be reached through pairs and changed for every province (2026-12-01)', () => {
  const dir = rulesWith({ '11.lua': poc('pairs_copy_11.lua'), '44.lua': poc('pairs_copy_victim_44.lua') });
  try {
    const out = repl(dir, poc('pairs_copy_repl.lua'), { HOST_RULE_EVALUATORS: '1' });
    const before = out.find((l) => l.startsWith('44 before'));
    const after = out.find((l) => l.startsWith('44 after'));
    assert(/too_many_certificates/.test(before), `44 finds the limit: ${before}`);
    eq(after.replace('after', 'before'), before, '44 decides the same after 11\'s calls');
    assert(!out.some((l) => /"message":"[23]"/.test(l)), `11 keeps no counter between calls: ${out.join(' | ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('attack: a table\'s length border carries nothing between calls (2026-12-01)', () => {
  const dir = rulesWith({ '11.lua': poc('length_border_11.lua') });
  try {
    const out = repl(dir, poc('length_border_repl.lua'), { HOST_RULE_EVALUATORS: '1' }).filter((l) => l.includes('#T='));
    eq(out.length, 4, `four answers: ${out.join(' | ')}`);
    for (const l of out) assert(l.includes('#T=1 '), `#T as built in every call: ${l}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('attack: a verdict or a list in the wrong shape is a failure, not "open" or "no findings" (2026-12-01)', async () => {
  const dir = rulesWith({ '44.lua': poc('fail_open_44.lua') });
  const srv = await startServer({ rules: dir });
  try {
    const out = repl(dir, 'P = require "province_rules"\n'
      + 'print("@@check", P.try_errors("44", "check_declaration", {submit=true}))\n');
    const check = out.find((l) => l && l.startsWith('@@check'));
    assert(/^@@check\tnil\t/.test(check || ''), `a list holding a function is refused: ${check}`);
    // {open = 0} from deadline: the plan is not open for 广东's schools
    const c = new Client(srv.base);
    await c.login('school441');
    const plans = (await c.get('/api/plans')).data;
    assert(plans.length > 0 && plans.every((p) => p.can_declare === false), `no plan can be declared: ${JSON.stringify(plans.map((p) => p.can_declare))}`);
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('attack: a province file\'s top level never runs on another province\'s call (2026-12-01)', () => {
  // cheap at load and reload; from T on, every run of its top level spends
  // seconds in C: only 13's own calls may pay for it
  const t = Math.floor(Date.now() / 1000) + 3;
  const bomb = poc('load_bomb_13.lua').replace(/os\.time\(\) > \d+/, `os.time() > ${t}`);
  const dir = rulesWith({ '13.lua': bomb });
  try {
    const code = 'J = require "json"\n'
      + 'C = {submit=false, mode="not_by_major", plan={}, school={}, declaration={majors={}}, others_in_plan=0}\n'
      + `while os.time() <= ${t} do os.execute("sleep 0.2") end\n`
      + 'for i = 1, 3 do print("@@13", select(2, rules.call("13", "check_profile", {}))) end\n'
      + 'for i = 1, 4 do local r, e = rules.call("44", "check_declaration", C) print("@@44", r and J.encode(r) or e) end\n';
    const out = repl(dir, code, { HOST_RULE_EVALUATORS: '2', HOST_RULE_DEADLINE_MS: '500' });
    const p13 = out.filter((l) => l.startsWith('@@13'));
    const p44 = out.filter((l) => l.startsWith('@@44'));
    eq(p13.length, 3, `13 answered: ${out.join(' | ')}`);
    for (const l of p13) assert(/deadline|again/.test(l), `13 pays for its own top level: ${l}`);
    eq(p44.length, 4, '44 answered four times');
    for (const l of p44) assert(/^@@44\t(\[\]|\{\})$/.test(l), `44 is served every time: ${l}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('attack: a load error is attributed to the file that failed, whatever its text says (2026-12-01)', async () => {
  const dir = rulesWith({});
  const srv = await startServer({ rules: dir });
  try {
    writeFileSync(join(dir, '13.lua'), poc('spoof_attribution_13.lua'));
    const gd = new Client(srv.base);
    await gd.login('province44');
    const r = await gd.post('/api/admin/rules/reload');
    eq(r.status, 422, 'refused');
    assert(!/400-000-0000/.test(JSON.stringify(r.data)), `广东 is not shown 河北's text as its own: ${r.data.error.message}`);
    const hb = new Client(srv.base);
    await hb.login('province13');
    const own = await hb.post('/api/admin/rules/reload');
    assert(/^规则文件有误.*13\.lua/.test(own.data.error.message), `河北 sees it as its own: ${own.data.error.message}`);
    // and 广东's own change is not held back by 河北's broken file forever:
    // the status names whose file it is
    const st = (await hb.get('/api/admin/rules')).data;
    assert(/13\.lua/.test(st.last_error), 'the status says 13.lua');
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('attack: one province\'s broken file does not hold back another\'s change (2026-12-01)', async () => {
  const dir = rulesWith({});
  const srv = await startServer({ rules: dir });
  try {
    const gd = new Client(srv.base);
    await gd.login('province44');
    const before = (await gd.get('/api/admin/rules')).data;
    writeFileSync(join(dir, '13.lua'), 'local base = ...\nreturn {\n  name = = 1\n}\n');
    writeFileSync(join(dir, '44.lua'), readFileSync(join(ROOT, 'rules', '44.lua'), 'utf8')
      .replace('R.name = "广东省示例规则"', 'R.name = "广东省示例规则（修订）"'));
    const r = await gd.post('/api/admin/rules/reload');
    eq(r.status, 200, `广东's change is applied: ${JSON.stringify(r.data).slice(0, 300)}`);
    assert(r.data.generation > before.generation, 'a new generation');
    assert(r.data.sets.some((x) => x.province === '44' && x.name === '广东省示例规则（修订）'), '44 runs its new file');
    assert(!/name = = 1|13\.lua/.test(JSON.stringify(r.data.last_error)), '广东 sees nothing of 河北\'s file');
    const hb = new Client(srv.base);
    await hb.login('province13');
    const st = (await hb.get('/api/admin/rules')).data;
    assert(/13\.lua:3:/.test(st.last_error), `河北 sees its refused file: ${st.last_error}`);
    assert(st.sets.some((x) => x.province === '13' && x.name === '河北省示例规则'), `河北 keeps its rules in force: ${JSON.stringify(st.sets)}`);
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('attack: a review chain with an unknown level fails closed, never a shorter review (2026-12-01)', async () => {
  const dir = rulesWith({ '13.lua': 'local base = ...\nreturn { review_chain = function(ctx) return { "city", "provinve" } end }\n' });
  const srv = await startServer({ rules: dir });
  try {
    const c = new Client(srv.base);
    await c.login('school131');
    const plans = (await c.get('/api/plans')).data;
    const p = plans.find((x) => x.can_declare);
    const certs = (await c.get('/api/certificates')).data;
    const cert = certs.find((x) => x.majors.length > 0);
    const own = (await c.get(`/api/majors?certificate=${cert.id}`)).data.find((m) => m.allowed !== false);
    const body = { plan_id: p.id, certificate_id: cert.id, faculty: '<p>教师</p>', venue: '<p>场地</p>', submit: true,
      majors: [{ major: own.code, students: 50, teachers: 4, trainees: 20 }], trainees_total: 20 };
    const r = await c.post('/api/declarations', body);
    eq(r.status, 500, `refused: ${JSON.stringify(r.data).slice(0, 200)}`);
    eq(r.data.error.code, 'rule_failed', 'as a rule failure');
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
