// The host itself (issue 2): /healthz and /metrics, body caps, static
// files, keep-alive, hot reload of rules (SIGHUP, endpoint, file change)
// with no failed request under load, a runaway rule in a live server, a
// clean stop on SIGTERM, and the command line (exit codes, sms list,
// token add, user add, rules check, the REPL on piped input).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, Client, BIN, ROOT, PG } from '../lib/server.mjs';
import { S } from './ctx.mjs';

function rulesCopy() {
  const dir = mkdtempSync(join(tmpdir(), 'host-rules-'));
  cpSync(join(ROOT, 'rules'), dir, { recursive: true });
  return dir;
}

// /metrics is each instance's own (Prometheus scrapes every instance, not
// the balancer): the texts of all of a server's instances.
const metrics = async (srv) => (await Promise.all(srv.instances.map(
  async (x) => (await fetch(`${x.base}/metrics`)).text()))).join('\n');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, ms = 5000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) return v;
    await sleep(50);
  }
}

test('host: /healthz answers in C and /metrics speaks Prometheus', async () => {
  const r = await fetch(`${S.main.base}/healthz`);
  eq(r.status, 200, 'healthz');
  eq(await r.json(), { ok: true }, 'healthz body');
  await fetch(`${S.main.base}/api/regions/provinces`);
  // a request is counted once its answer is out: poll for it
  const m = await waitFor(async () => {
    const text = await metrics(S.main);
    return /http_requests_total\{route="GET \/api\/regions\/provinces",status="200"\} \d+/.test(text) && text;
  });
  assert(m, 'route counter');
  assert(/http_request_duration_seconds_bucket\{le="\+Inf"\} \d+/.test(m), 'histogram');
  assert(/^rules_generation \d+$/m.test(m), 'rules generation');
  assert(/^rules_failures_total \d+$/m.test(m), 'rule failures');
  if (PG) {
    assert(!/sqlite_memory/.test(m), 'no SQLite gauges on PostgreSQL');
  } else {
    const used = Number(m.match(/^sqlite_memory_bytes (\d+)$/m)[1]);
    const peak = Number(m.match(/^sqlite_memory_peak_bytes (\d+)$/m)[1]);
    assert(used > 0 && peak >= used, `SQLite's memory and its peak: ${used}, ${peak}`);
  }
  // an API answer built by http_reply: its status, headers and body as civetweb's were
  const r2 = await fetch(`${S.main.base}/api/nothing`);
  eq([r2.status, r2.headers.get('connection'), r2.headers.get('content-type')],
    [404, 'keep-alive', 'application/json; charset=utf-8'], 'headers of an API answer');
  eq((await r2.json()).error.code, 'not_found', 'its body');
});

test('host: a body over 1 MiB is 413 and changes nothing', async () => {
  const c = new Client(S.main.base);
  const big = JSON.stringify({ username: 'x'.repeat(1024 * 1024 + 10), password: 'y' });
  const r = await c.post('/api/login', big);
  eq(r.status, 413, 'status');
  eq(r.data.error.code, 'too_large', 'code');
  const ok = await fetch(`${S.main.base}/healthz`);
  eq(ok.status, 200, 'still serving');
});

// Sends raw bytes on a new connection, half-closes, returns what came back.
function raw(port, bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.end(bytes));
    let got = '';
    sock.on('data', (d) => { got += d; });
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
    setTimeout(() => { sock.destroy(); resolve(got); }, 3000);
  });
}

// 2026-11-28: HEAD answers carried a body; a short body was processed.
test('host: HEAD has no body; a body shorter than its Content-Length is 400', async () => {
  const head = await raw(S.main.port, 'HEAD /api/regions/provinces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert(/^HTTP\/1\.1 200/.test(head), head.slice(0, 40));
  const [headers, rest] = head.split('\r\n\r\n');
  assert(/Content-Length: [1-9]/i.test(headers), 'the length of the body it would have');
  eq(rest, '', 'no body');
  const short = await raw(S.main.port, 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
    + 'Content-Length: 100\r\n\r\n{"username":"ops","password":"x"}');
  assert(/^HTTP\/1\.1 400/.test(short), short.slice(0, 60));
});

test('host: unknown API paths are JSON 404, wrong methods 405', async () => {
  const c = new Client(S.main.base);
  const r = await c.get('/api/nowhere');
  eq(r.status, 404, '404');
  eq(r.data.error.code, 'not_found', 'code');
  const m = await c.req('PATCH', '/api/regions/provinces');
  eq(m.status, 405, '405');
});

test('host: static pages are served from web/dist', async () => {
  const r = await fetch(`${S.main.base}/`);
  eq(r.status, 200, 'index');
  assert((r.headers.get('content-type') || '').includes('text/html'), 'html');
  const missing = await fetch(`${S.main.base}/no-such-file.js`);
  eq(missing.status, 404, 'missing file');
});

test('host: keep-alive connections are reused', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ports = new Set();
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve, reject) => {
      http.get(`${S.main.base}/healthz`, { agent }, (res) => {
        ports.add(res.socket.localPort);
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
  }
  agent.destroy();
  eq(ports.size, 1, 'one connection for five requests');
});

test('host: rules reload on SIGHUP, by endpoint and on file change; a broken file never replaces a working set', async () => {
  const dir = rulesCopy();
  // --watch-rules: the developer's loop (a changed file is pushed and published)
  const srv = await startServer({ rules: dir, args: ['--watch-rules'] });
  try {
    const ops = new Client(srv.base);
    await ops.login('ops');
    const before = (await ops.get('/api/admin/rules')).data;
    eq(before.generation, 1, 'first generation');
    // a file change is picked up by the watcher
    writeFileSync(join(dir, '45.lua'), 'local base = ...\nreturn { name = "广西示例" }\n');
    const changed = await waitFor(async () => {
      const st = (await ops.get('/api/admin/rules')).data;
      return st.generation === 2 && st;
    });
    assert(changed, 'generation 2 after a file change');
    assert(changed.version !== before.version, 'new version');
    assert(changed.sets.some((s) => s.province === '45' && s.name === '广西示例'), 'new set listed');
    // a broken file: refused with file and line, the old set stays
    writeFileSync(join(dir, '46.lua'), 'local base = ...\nreturn {\n  name = = 1\n}\n');
    const r = await ops.post('/api/admin/rules/reload');
    eq(r.status, 422, 'refused');
    assert(/46\.lua:3:/.test(r.data.error.message), `file:line in ${r.data.error.message}`);
    const st = (await ops.get('/api/admin/rules')).data;
    eq(st.generation, 2, 'still generation 2');
    assert(/46\.lua:3:/.test(st.last_error), 'last error kept');
    rmSync(join(dir, '46.lua'));
    // SIGHUP reloads
    writeFileSync(join(dir, '45.lua'), 'local base = ...\nreturn { name = "广西示例二" }\n');
    srv.proc.kill('SIGHUP');
    let last;
    const after = await waitFor(async () => {
      last = (await ops.get('/api/admin/rules')).data;
      // one answer reads the generation before the names: wait for both
      return last.generation >= 3 && last.sets.some((x) => x.name === '广西示例二') && last;
    });
    assert(after, `reloaded after SIGHUP: ${JSON.stringify(last)}`);
    eq(after.last_error, null, 'the error is gone');
    assert(/reloaded/.test(srv.log), 'logged');
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host: no request fails while rules reload under concurrent load', async () => {
  const dir = rulesCopy();
  const srv = await startServer({ rules: dir });
  try {
    const school = new Client(srv.base);
    await school.login('school441');
    const ops = new Client(srv.base);
    await ops.login('ops');
    let failures = 0, count = 0, stop = false;
    const worker = async () => {
      while (!stop) {
        const r = await school.get('/api/school/profile');   // runs province rules
        count++;
        if (r.status !== 200 || !Array.isArray(r.data.required)) failures++;
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    for (let i = 0; i < 12; i++) {
      writeFileSync(join(dir, '44.lua'), readFileSync(join(ROOT, 'rules', '44.lua'), 'utf8') + `\n-- edit ${i}\n`);
      const r = await ops.post('/api/admin/rules/reload');
      eq(r.status, 200, 'reload');
      await sleep(30);
    }
    stop = true;
    await Promise.all(workers);
    // every instance reaches the last generation (another one within a tick)
    let st;
    await waitFor(async () => (st = (await ops.get('/api/admin/rules')).data).generation >= 13
      && (st = (await ops.get('/api/admin/rules')).data).generation >= 13);
    assert(st.generation >= 13, `generation ${st.generation}`);
    assert(count > 50, `requests made: ${count}`);
    eq(failures, 0, `failed requests out of ${count}`);
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host: a runaway rule fails its request with a clear error and the server goes on', async () => {
  const dir = rulesCopy();
  writeFileSync(join(dir, '11.lua'),
    'local base = ...\nreturn { profile_required = {"address"},\n'
    + '  check_profile = function(p) while true do pcall(function() while true do end end) end end }\n');
  const srv = await startServer({ rules: dir });
  try {
    const c = new Client(srv.base);
    await c.login('school111');
    const r = await c.get('/api/school/profile');
    eq(r.status, 500, 'the call fails');
    eq(r.data.error.code, 'rule_failed', 'code');
    assert(/instruction budget/.test(srv.log), 'the log says why');
    assert(/^rules_failures_total [1-9]/m.test(await metrics(srv)), 'counted');
    const ok = await c.get('/api/plans');
    eq(ok.status, 200, 'the server goes on');
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host: SIGTERM lets requests in flight finish, then stops', async () => {
  const srv = await startServer();
  const c = new Client(srv.base);
  // a login hashes with Argon2id: slow enough to be in flight
  const inflight = Promise.all([1, 2, 3].map(() => c.post('/api/login', { username: 'ops', password: 'Demo12345' })));
  await waitFor(() => /POST \/api\/login/.test(srv.log) || null, 3000); // the first is answered,
  await sleep(10);                                                        // the others in flight
  const exited = new Promise((r) => srv.proc.on('exit', (code) => r(code)));
  srv.proc.kill('SIGTERM');
  const results = await inflight;
  for (const r of results) eq(r.status, 200, 'in-flight request answered');
  eq(await exited, 0, 'exit code');
  assert(/stopped/.test(srv.log), 'logged the stop');
  await srv.stop();
});

function run(args, input) {
  return spawnSync(BIN, args, { encoding: 'utf8', input });
}

test('cli: usage, exit codes and --help', () => {
  eq(run([]).status, 2, 'no command');
  eq(run(['frobnicate']).status, 2, 'unknown command');
  const h = run(['--help']);
  eq(h.status, 0, '--help');
  for (const cmd of ['serve', 'migrate', 'seed', 'user add', 'sms list', 'token add', 'repl', 'rules check', 'rules test']) {
    assert(h.stdout.includes(cmd), `help names ${cmd}`);
  }
  eq(run(['user', 'add', '--role', 'king', '--db', S.main.db]).status, 2, 'bad role');
});

test('cli: migrate is idempotent, seed is idempotent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'host-cli-'));
  const db = join(dir, 'p.db');
  const m1 = run(['migrate', '--db', db]);
  eq(m1.status, 0, 'migrate');
  assert(/migrations applied: [1-9]/.test(m1.stdout), m1.stdout);
  eq(run(['migrate', '--db', db]).stdout.trim(), 'migrations applied: 0', 'second migrate');
  const s1 = run(['seed', '--db', db]);
  const s2 = run(['seed', '--db', db]);
  eq(s1.status, 0, 'seed');
  eq(s1.stdout, s2.stdout, 'same counts twice');
  assert(/31 provinces, 342 cities, 1349 majors, 564 schools, 48 certificates/.test(s1.stdout), s1.stdout);
  rmSync(dir, { recursive: true, force: true });
});

test('cli: user add, token add and sms list', async () => {
  const db = S.main.db;
  const u = run(['user', 'add', '--role', 'province', '--username', 'prov32b', '--password', 'Passw0rd9', '--province', '32', '--db', db]);
  eq(u.status, 0, u.stderr);
  const again = run(['user', 'add', '--role', 'province', '--username', 'prov32b', '--password', 'Passw0rd9', '--province', '32', '--db', db]);
  eq(again.status, 1, 'duplicate username');
  const c = new Client(S.main.base);
  const me = await c.login('prov32b', 'Passw0rd9');
  eq(me.role, 'province', 'logs in');
  const t = run(['token', 'add', '--name', 'exam-system', '--db', db]);
  eq(t.status, 0, 'token add');
  const token = t.stdout.trim();
  assert(/^tok_[0-9a-f]{48}$/.test(token), token);
  const r = await fetch(`${S.main.base}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  eq((await r.json()).name, 'exam-system', 'bearer works');
  const bad = await fetch(`${S.main.base}/api/me`, { headers: { authorization: 'Bearer tok_nope' } });
  eq(bad.status, 401, 'unknown token');
  const lines = run(['sms', 'list', '--db', db]).stdout.trim().split('\n').filter(Boolean);
  for (const l of lines) {
    const o = JSON.parse(l);
    for (const k of ['id', 'phone', 'template', 'params', 'text', 'created_at']) assert(k in o, `sms line has ${k}`);
  }
});

test('cli: rules check reports file:line and exits 1; rules test counts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'host-check-'));
  writeFileSync(join(dir, '13.lua'), 'local base = ...\nreturn {\n  review_chain = function( return 1 end\n}\n');
  const r = run(['rules', 'check', join(ROOT, 'rules', 'default.lua'), join(dir, '13.lua')]);
  eq(r.status, 1, 'exit 1');
  assert(r.stderr.includes('13.lua:3:'), r.stderr);
  const good = run(['rules', 'check', ...['default', '13', '32', '44'].map((p) => join(ROOT, 'rules', `${p}.lua`))]);
  eq(good.status, 0, good.stderr);
  const t = run(['rules', 'test']);
  eq(t.status, 0, 'rules test');
  assert(/^\d+ passed, 0 failed$/m.test(t.stdout), t.stdout);
  rmSync(dir, { recursive: true, force: true });
});

test('cli: the REPL runs piped Lua with the server bindings and the rule helpers', () => {
  const r = run(['repl', '--db', S.main.db],
    'print(1 + 1)\n'
    + 'print(db.one("SELECT count(*) AS n FROM provinces").n)\n'
    + 'check("13", {mode = "by_major", certificate_id = 1, faculty = "a", venue = "b", majors = {{major = "440301", students = 5, teachers = 2, trainees = 9}}})\n'
    + 'for i = 1, 2 do\n  print("line", i)\nend\n');
  eq(r.status, 0, r.stderr);
  assert(r.stdout.includes('2\n31\n'), r.stdout);
  assert(r.stdout.includes('exceeds_students'), 'the decision and its reason');
  assert(r.stdout.includes('city → province'), 'the review chain');
  assert(r.stdout.includes('line\t2'), 'multi-line statements');
  // 2026-11-28: piped lines over 8 KiB were split
  const long = run(['repl'], `print(#[[${'a'.repeat(10000)}]])\n`);
  eq(long.stdout.trim(), '10000', 'a long piped line stays whole');
  const bad = run(['repl'], 'error("boom")\n');
  eq(bad.status, 1, 'an error in piped input is exit 1');
  assert(bad.stderr.includes('boom'), 'message');
});

test('host: every acknowledged write survives a SIGKILL of the server', async () => {
  const srv = await startServer();
  try {
    const admin = new Client(srv.base);
    await admin.login('province44');
    const titles = Array.from({ length: 30 }, (_, i) => `耐久性测试计划 ${i}`);
    const answers = await Promise.all(titles.map((title) => admin.post('/api/admin/plans', {
      year: 2027, batch: 1, title, mode: 'not_by_major',
      starts_at: '2027-03-01T09:00:00+08:00', ends_at: '2027-04-01T18:00:00+08:00',
    })));
    for (const r of answers) eq(r.status, 201, 'each concurrent write is acknowledged');
    srv.proc.kill('SIGKILL');
    await new Promise((r) => srv.proc.on('exit', r));
    const out = run(['repl', '--db', srv.db],
      'print(db.one("SELECT count(*) AS n FROM plans WHERE title LIKE \'耐久性测试计划%\'").n)\n');
    eq(out.stdout.trim(), '30', 'all 30 rows are on disk');
  } finally {
    await srv.stop();
  }
});

// Group commit (issue 11) acknowledges a write only after the COMMIT that
// holds it: kill the server while writes are still in flight, and every
// write that was answered 201 is on disk (the others may or may not be).
test('host: acknowledged writes survive a SIGKILL in the middle of concurrent writes (group commit)', async () => {
  const srv = await startServer();
  try {
    const admin = new Client(srv.base);
    await admin.login('province44');
    const acked = [];
    let n = 0, stop = false;
    const writer = async () => {
      while (!stop) {
        const title = `组提交耐久性 ${n++}`;
        try {
          const r = await admin.post('/api/admin/plans', {
            year: 2027, batch: 1, title, mode: 'not_by_major',
            starts_at: '2027-03-01T09:00:00+08:00', ends_at: '2027-04-01T18:00:00+08:00',
          });
          if (r.status === 201) acked.push(title);
        } catch { return; } // the server is gone
      }
    };
    const writers = Array.from({ length: 16 }, writer);
    await waitFor(() => acked.length >= 80, 20000);
    srv.proc.kill('SIGKILL');
    stop = true;
    await new Promise((r) => srv.proc.on('exit', r));
    await Promise.all(writers);
    assert(acked.length >= 80, `enough writes were acknowledged (${acked.length})`);
    const out = run(['repl', '--db', srv.db],
      'for _, r in ipairs(db.query("SELECT title FROM plans WHERE title LIKE \'组提交耐久性%\'")) do print(r.title) end\n');
    const stored = new Set(out.stdout.split('\n').filter(Boolean));
    const lost = acked.filter((t) => !stored.has(t));
    eq(lost, [], `every acknowledged write is on disk (${acked.length} acknowledged, ${stored.size} stored)`);
  } finally {
    await srv.stop();
  }
});

// 2026-12-02 (attack on the state pool): the answer was written while its
// Lua state was held, so two clients that never read their answers held
// both states of HOST_LUA_STATES=2 and every other /api/ request waited.
// A worker now copies the answer out and gives the state back first.
test('host: clients that do not read their answers hold no Lua state (HOST_LUA_STATES=2)', async () => {
  const srv = await startServer({ env: { HOST_LUA_STATES: '2', HOST_CONNECTIONS_PER_CLIENT: '0' } });
  const one = srv.instances[0];
  const stuck = [];
  try {
    const size = (await (await fetch(`${one.base}/api/majors`)).arrayBuffer()).byteLength;
    assert(size > 50000, `the majors list is large (${size} bytes)`);
    // each socket asks for ~30 MB of answers and reads none of them
    const ask = 'GET /api/majors HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(Math.ceil(30e6 / size));
    for (let i = 0; i < 2; i++) {
      const sock = net.connect(one.port, '127.0.0.1');
      sock.on('error', () => {});
      sock.on('connect', () => { sock.pause(); sock.write(ask); });
      stuck.push(sock);
    }
    await sleep(1500); // both workers are now blocked writing to them
    const c = new Client(one.base);
    for (let i = 0; i < 6; i++) {
      const r = await c.get('/api/regions/provinces');
      eq(r.status, 200, `a request beside the slow clients (${i}): ${JSON.stringify(r.data).slice(0, 80)}`);
    }
    const m = await (await fetch(`${one.base}/metrics`)).text();
    eq(/^host_lua_states_max (\d+)$/m.exec(m)?.[1], '2', 'two states at most');
    eq(/^host_lua_state_timeouts_total (\d+)$/m.exec(m)?.[1], '0', 'no request gave up waiting for a state');
  } finally {
    for (const s of stuck) s.destroy();
    await srv.stop();
  }
});
