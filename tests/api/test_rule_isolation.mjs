// Issue 8: one province's rules can never take the platform down. Hostile
// or buggy rule files in a copy of rules/, on servers of their own: each
// finding of the 2026-12-01 attack run has a regression test here.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, Client, BIN, ROOT } from '../lib/server.mjs';
import { FACULTY, VENUE } from './ctx.mjs';

function rulesWith(files) {
  const dir = mkdtempSync(join(tmpdir(), 'host-rules-'));
  cpSync(join(ROOT, 'rules'), dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function withServer(files, opts, fn) {
  const dir = rulesWith(files);
  const srv = await startServer({ rules: dir, ...opts });
  try {
    await fn(srv, dir);
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Milliseconds fn takes.
async function timed(fn) {
  const t = Date.now();
  const v = await fn();
  return [Date.now() - t, v];
}

// A complete not-by-major body on the school's open demo plan.
async function draftBody(c, extra = {}) {
  const plans = (await c.get('/api/plans')).data;
  const p = plans.find((x) => x.can_declare);
  assert(p, 'an open plan');
  const certs = (await c.get('/api/certificates')).data;
  const mode = p.mode;
  const cert = certs.find((x) => x.majors.length >= 2);
  const b = { plan_id: p.id, certificate_id: cert.id, faculty: FACULTY, venue: VENUE, submit: false };
  if (mode === 'by_major') { // a major of the school's own level
    const majors = (await c.get(`/api/majors?certificate=${cert.id}`)).data;
    const own = majors.find((m) => m.allowed !== false);
    assert(own, 'a major the school may declare');
    b.majors = [{ major: own.code, students: 100, teachers: 3, trainees: 30 }];
  }
  else b.trainees_total = 30;
  return { ...b, ...extra };
}

const XPCALL_LOOP = 'xpcall(function() while true do end end, function() while true do end end)';

test('isolation: twelve looping calls of one province leave /healthz and another province\'s draft save answering (2026-12-01)', async () => {
  // xpcall's handler runs with the count hook off in Lua 5.4.4: only the
  // evaluator's deadline ends it
  const p13 = `local base = ...\nreturn { check_profile = function(p)\n  ${XPCALL_LOOP}\n  return {} end }\n`;
  await withServer({ '13.lua': p13 }, { threads: 32 }, async (srv) => {
    const hebei = new Client(srv.base);
    await hebei.login('school131');
    const guangdong = new Client(srv.base);
    await guangdong.login('school441');
    const body = await draftBody(guangdong);
    const loops = Array.from({ length: 12 }, () => hebei.get('/api/school/profile'));
    await new Promise((r) => setTimeout(r, 300)); // they are in flight
    const [th, health] = await timed(() => fetch(`${srv.base}/healthz`));
    eq(health.status, 200, '/healthz answers');
    assert(th < 2000, `/healthz within 2 s (took ${th} ms)`);
    const [ts, saved] = await timed(() => guangdong.post('/api/declarations', body));
    eq(saved.status, 201, `广东 saves a draft: ${JSON.stringify(saved.data).slice(0, 200)}`);
    assert(ts < 3000, `广东's draft within 3 s (took ${ts} ms)`);
    const results = await Promise.all(loops);
    for (const r of results) {
      eq(r.status, 500, '河北\'s looping call is refused');
      eq(r.data.error.code, 'rule_failed', 'as a rule failure');
    }
    assert(/deadline/.test(srv.log), 'the log names the deadline');
    const m = await (await fetch(`${srv.base}/metrics`)).text();
    assert(/^rules_evaluator_kills_total [1-9]/m.test(m), 'killed evaluators are counted');
  });
});

// Calls that each spend their time inside one C library function, which
// the instruction budget counts as one instruction.
const C_HEAVY = {
  utf8_len: 'local s = string.rep("\\u{e9}", 1 << 19) for _ = 1, 1e9 do utf8.len(s) end',
  upper: 'local s = string.rep("a", 1 << 20) for _ = 1, 1e9 do local _ = s:upper() end',
  lower: 'local s = string.rep("A", 1 << 20) for _ = 1, 1e9 do local _ = s:lower() end',
  reverse: 'local s = string.rep("ab", 1 << 19) for _ = 1, 1e9 do local _ = s:reverse() end',
  os_date: 'local f = string.rep("%c", 10000) for _ = 1, 1e9 do local _ = os.date(f) end',
  compare: 'local a = string.rep("a", 1 << 20) local b = a .. "b" for _ = 1, 1e9 do local _ = a < b end',
  pack: 'for _ = 1, 1e9 do local _ = string.pack("c12000000", "") end',
  find_classes: 'local s = string.rep("a", 1 << 20) local p = string.rep("%a", 120) .. "b" for _ = 1, 1e9 do s:find(p) end',
  xpcall: XPCALL_LOOP,
};

test('isolation: each C-heavy rule call ends refused within its deadline (2026-12-01)', () => {
  const entries = Object.entries(C_HEAVY).map(([k, v]) => `  ${k} = function()\n    ${v}\n  end,`).join('\n');
  const dir = rulesWith({ '13.lua': `local base = ...\nreturn {\n${entries}\n}\n` });
  try {
    for (const name of Object.keys(C_HEAVY)) {
      const code = `local r, e = rules.call("13", "${name}", {}) print("@@" .. tostring(r) .. "|" .. tostring(e))\n`;
      const t = Date.now();
      const out = spawnSync(BIN, ['repl', '--rules', dir], {
        input: code, encoding: 'utf8', env: { ...process.env, HOST_RULE_DEADLINE_MS: '500' }, timeout: 20000,
      });
      const ms = Date.now() - t;
      const line = (out.stdout || '').split('\n').find((l) => l.startsWith('@@')) || '';
      assert(/^@@nil\|rule (exceeded its deadline|exceeded its instruction budget|exceeded its memory)|^@@nil\|.*(too large|too complex|not enough memory)/.test(line),
        `${name} is refused: ${line || out.stderr}`);
      assert(ms < 3000, `${name} ends within its 500 ms deadline plus start-up (took ${ms} ms)`);
    }
    // at load time too: a file whose top level never ends
    const t = Date.now();
    writeFileSync(join(dir, '14.lua'), `${XPCALL_LOOP}\nreturn {}\n`);
    const r = spawnSync(BIN, ['rules', 'check', join(dir, '14.lua')], {
      encoding: 'utf8', env: { ...process.env, HOST_RULE_DEADLINE_MS: '500' }, timeout: 20000,
    });
    eq(r.status, 1, 'rules check refuses it');
    assert(/deadline/.test(r.stderr), `and says why: ${r.stderr}`);
    assert(Date.now() - t < 3000, 'within its deadline');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function rssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(m[1]) / 1024;
}

test('isolation: a result bomb is refused and the host stays small (2026-12-01)', async () => {
  const bomb = 'local base = ...\nreturn { check_profile = function(p)\n'
    + '  local m = string.rep("很", 1 << 18) local out = {}\n'
    + '  for i = 1, 500 do out[i] = { field = "address", code = "x", message = m } end\n'
    + '  return out end }\n';
  await withServer({ '13.lua': bomb }, {}, async (srv) => {
    const c = new Client(srv.base);
    await c.login('school131');
    for (let i = 0; i < 5; i++) {
      const r = await c.get('/api/school/profile');
      eq(r.status, 500, 'refused');
      eq(r.data.error.code, 'rule_failed', 'as a rule failure');
      assert(JSON.stringify(r.data).length < 1000, 'a short answer');
    }
    assert(/too large/.test(srv.log), 'the log says the result was too large');
    const rss = rssMiB(srv.proc.pid);
    assert(rss < 400, `host RSS under 400 MiB (${rss.toFixed(1)} MiB)`);
  });
});

test('isolation: nothing one call keeps reaches the next caller (2026-12-01)', async () => {
  // the rule keeps the last caller's school id in an upvalue and a table
  const leaky = 'local base = ...\nlocal last\nlocal seen = {}\n'
    + 'return { check_declaration = function(ctx)\n'
    + '  local prev, n = last, #seen\n'
    + '  last = ctx.school.id\n  seen[#seen + 1] = ctx.school.id\n'
    + '  if prev or n > 0 then\n'
    + '    return { { field = "certificate_id", code = "leak", message = "上一个院校 " .. tostring(prev) .. " / " .. n } }\n'
    + '  end\n  return base.check_declaration(ctx) end }\n';
  await withServer({ '13.lua': leaky }, {}, async (srv) => {
    const ids = [];
    for (const name of ['school131', 'school132', 'school131', 'school132']) {
      const c = new Client(srv.base);
      await c.login(name);
      const r = await c.post('/api/declarations', await draftBody(c, { submit: false }));
      if (r.status === 409) continue; // the same certificate again: duplicate
      eq(r.status, 201, `${name} saves`);
      eq(r.data.warnings, [], `${name} sees nothing of the caller before (${JSON.stringify(r.data.warnings)})`);
      ids.push(r.data.school_id);
    }
    assert(ids.length >= 2 && ids[0] !== ids[1], 'two schools called in turn');
  });
});

test('isolation: a slow rule holds no write lock: other provinces save and log in meanwhile (2026-12-01)', async () => {
  const slow = 'local base = ...\nreturn { check_declaration = function(ctx)\n'
    + '  local s = string.rep("a", 1 << 20) for _ = 1, 1e9 do local _ = s:upper() end end }\n';
  await withServer({ '13.lua': slow }, { threads: 32 }, async (srv) => {
    const hebei = new Client(srv.base);
    await hebei.login('school131');
    const guangdong = new Client(srv.base);
    await guangdong.login('school441');
    const hb = await draftBody(hebei, { submit: true });
    const slowOnes = Array.from({ length: 4 }, () => hebei.post('/api/declarations', hb));
    const others = [];
    const until = Date.now() + 1500;
    let k = 0;
    while (Date.now() < until) {
      const body = await draftBody(guangdong);
      const certs = (await guangdong.get('/api/certificates')).data;
      body.certificate_id = certs[k++ % certs.length].id;
      others.push(await guangdong.post('/api/declarations', body));
      const admin = new Client(srv.base);
      others.push(await admin.post('/api/login', { username: 'province44', password: 'Demo12345' }));
    }
    for (const r of others) assert(r.status === 200 || r.status === 201 || r.status === 409,
      `广东 is served while 河北's rule runs: ${r.status} ${JSON.stringify(r.data).slice(0, 200)}`);
    assert(others.some((r) => r.status === 201), 'and saves');
    for (const r of await Promise.all(slowOnes)) eq(r.data.error && r.data.error.code, 'rule_failed', '河北 fails alone');
    assert(!/database is locked/.test(srv.log), 'no "database is locked"');
  });
});

test('isolation: a check that answers anything but a list of findings fails closed (2026-12-01)', async () => {
  for (const answer of ['42', '"ok"', '{ field = "x" }', '{ 1, 2 }', '{ { field = 1, code = "c", message = "m" } }']) {
    const p13 = `local base = ...\nreturn { check_declaration = function(ctx) if ctx.submit then return ${answer} end return {} end }\n`;
    await withServer({ '13.lua': p13 }, {}, async (srv) => {
      const c = new Client(srv.base);
      await c.login('school131');
      const r = await c.post('/api/declarations', await draftBody(c, { submit: true }));
      eq(r.status, 500, `returning ${answer} is not "no errors"`);
      eq(r.data.error.code, 'rule_failed', 'but a rule failure');
      const draft = await c.post('/api/declarations', await draftBody(c, { submit: false }));
      eq(draft.status, 201, 'a draft is still saved');
    });
  }
});

test('isolation: a reload error is scoped to its province and carries no server path (2026-12-01)', async () => {
  await withServer({}, {}, async (srv, dir) => {
    writeFileSync(join(dir, '13.lua'), 'local base = ...\nlocal SECRET_HEBEI = {\nreturn {}\n');
    const gd = new Client(srv.base);
    await gd.login('province44');
    const r = await gd.post('/api/admin/rules/reload');
    eq(r.status, 422, 'refused');
    const text = JSON.stringify(r.data);
    assert(!/SECRET|13\.lua/.test(text), `广东 sees nothing of 河北's file: ${text}`);
    assert(!text.includes(dir) && !text.includes(tmpdir()), 'and no server path');
    const st = (await gd.get('/api/admin/rules')).data;
    assert(!/SECRET|13\.lua/.test(JSON.stringify(st.last_error)), 'nor in the status');
    const hb = new Client(srv.base);
    await hb.login('province13');
    const own = await hb.post('/api/admin/rules/reload');
    eq(own.status, 422, 'refused for 河北 too');
    assert(/13\.lua:3:/.test(own.data.error.message), `河北 sees its own file and line: ${own.data.error.message}`);
    assert(!own.data.error.message.includes(dir), 'without the server path');
  });
});

// The server's child processes (its rule evaluators), from every thread.
function evaluatorPids(srv) {
  const kids = [];
  for (const t of readdirSync(`/proc/${srv.proc.pid}/task`)) {
    const list = readFileSync(`/proc/${srv.proc.pid}/task/${t}/children`, 'utf8').trim();
    if (list) kids.push(...list.split(/\s+/));
  }
  return kids;
}

test('isolation: evaluators run with no_new_privs and a seccomp filter, holding only their socket (2026-12-01)', async () => {
  await withServer({}, {}, async (srv) => {
    const c = new Client(srv.base);
    await c.login('school131');
    eq((await c.get('/api/plans')).status, 200, 'a rule call starts an evaluator');
    const kids = evaluatorPids(srv);
    assert(kids.length >= 1, 'an evaluator process');
    for (const pid of kids) {
      const st = readFileSync(`/proc/${pid}/status`, 'utf8');
      eq(st.match(/^NoNewPrivs:\s+(\d)/m)[1], '1', 'no_new_privs');
      if (!process.env.HOST_BIN) eq(st.match(/^Seccomp:\s+(\d)/m)[1], '2', 'a seccomp filter'); // not under ASan
      const fds = readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
      assert(fds.every((fd) => fd <= 3), `only stdio and its socket: ${fds}`);
    }
  });
});

// README: HOST_RULE_NO_SECCOMP (for valgrind) reaches the evaluators, whose
// environment is otherwise cleared; the other limits stay.
test('isolation: HOST_RULE_NO_SECCOMP reaches the evaluators, and only the filter is off', async () => {
  await withServer({}, { env: { HOST_RULE_NO_SECCOMP: '1' } }, async (srv) => {
    const c = new Client(srv.base);
    await c.login('school131');
    eq((await c.get('/api/plans')).status, 200, 'a rule call starts an evaluator');
    const kids = evaluatorPids(srv);
    assert(kids.length >= 1, 'an evaluator process');
    for (const pid of kids) {
      const st = readFileSync(`/proc/${pid}/status`, 'utf8');
      eq(st.match(/^Seccomp:\s+(\d)/m)[1], '0', 'no seccomp filter');
      eq(st.match(/^NoNewPrivs:\s+(\d)/m)[1], '1', 'no_new_privs still');
    }
  });
});
