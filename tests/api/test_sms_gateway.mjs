// SMS through a gateway driver, in two phases (scripts/sms.lua): a change's
// transaction stores the message, the main thread's tick sends it outside
// any transaction. A fake gateway (tests/api/sms_gateway_fake.lua, named by
// its path in HOST_SMS_DRIVER) records its calls, hangs while a file
// exists, and fails a phone's first calls on demand. No assertion is
// timed: the tests wait for states (until), bounded only against a hang.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, freePort, Client, BIN, ROOT } from '../lib/server.mjs';
import { S, fixture, register, certificates, body, fullProfile, newPhone } from './ctx.mjs';

const FAKE = join(ROOT, 'tests', 'api', 'sms_gateway_fake.lua');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits for fn() to answer something truthy (checked every 50 ms; 30 s
// at most, so that a hang fails instead of blocking the run).
async function until(what, fn) {
  for (let i = 0; i < 600; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`never happened: ${what}`);
}

// A server with the fake gateway; files: its log and block file.
async function gatewayServer(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sms-fake-'));
  const files = { dir, log: join(dir, 'calls.jsonl'), block: join(dir, 'block') };
  writeFileSync(files.log, '');
  const srv = await startServer({ env: {
    HOST_SMS_DRIVER: FAKE, SMS_FAKE_LOG: files.log, SMS_FAKE_BLOCK: files.block, SMS_FAKE_TAG: 'a',
    HOST_LOGIN_PER_CLIENT_5MIN: '10000', HOST_SMS_PER_CLIENT_HOUR: '10000', ...env,
  } });
  return { srv, files };
}

function calls(files) {
  return readFileSync(files.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function rows(srv, where = '1 = 1', ...args) {
  const r = fixture('query', {
    sql: `SELECT id, phone, template, driver, status, attempts, last_error, next_at, sent_at FROM sms_outbox WHERE ${where} ORDER BY id`,
    args,
  }, srv);
  return Array.isArray(r) ? r : [];
}

// Stores messages as a change's transaction would (sms.send in the
// process's configured driver), from `host repl`; returns their ids.
function queue(srv, phones) {
  const code = `local sms = require "sms" local ids = {} `
    + `for _, p in ipairs(${JSON.stringify(phones).replace('[', '{').replace(/]$/, '}')}) do `
    + `ids[#ids + 1] = sms.send({ now = os.time() }, p, "reset_code", { username = "u" .. p, code = "246810" }) end `
    + `io.write("@@", require("json").encode(ids), "\\n")\n`;
  const out = execFileSync(BIN, ['repl', '--db', srv.db], {
    input: code, encoding: 'utf8', env: { ...process.env, HOST_SMS_DRIVER: FAKE },
  });
  return JSON.parse(out.split('\n').find((l) => l.startsWith('@@')).slice(2));
}

test('sms: the default outbox driver stores each message, and nothing delivers it', async () => {
  const reg = await register('13', '1301');
  const [row] = rows(S.main, 'phone = ?', reg.phone);
  eq([row.template, row.driver, row.status, row.attempts, row.next_at], ['register', 'outbox', 'stored', 0, undefined],
    'an outbox row');
  const ops = new Client(S.main.base);
  await ops.login('ops');
  const r = await ops.get(`/api/ops/sms?phone=${reg.phone}`);
  eq(r.status, 200, 'ops list');
  eq([r.data.items[0].status, r.data.items[0].driver], ['stored', 'outbox'], 'ops see it stored');
});

test('sms: a review commits and answers while the gateway hangs; the school\'s messages go out after', async () => {
  const { srv, files } = await gatewayServer();
  try {
    // registration: the account and its initial password arrive by SMS, through the gateway
    const reg = await register('44', '4401', srv);
    const regRow = await until('the registration SMS sent', () =>
      rows(srv, "phone = ? AND status = 'sent'", reg.phone)[0]);
    eq(regRow.attempts, 1, 'sent at the first attempt');
    assert(calls(files).some((c) => c.event === 'sent' && c.id === regRow.id), 'the gateway sent it');
    const school = new Client(srv.base);
    await school.login(reg.username, reg.password);
    eq((await school.post('/api/password', { old: reg.password, new: 'NewPass2024' })).status, 200, 'password');
    eq((await school.put('/api/school/profile', fullProfile())).status, 200, 'profile');
    const pid = fixture('plan', { province: '44', mode: 'not_by_major' }, srv);
    const certs = await certificates();
    const ids = [];
    for (const cert of certs.slice(0, 2)) {
      const d = await school.post('/api/declarations', body(pid, cert, 'not_by_major'));
      eq(d.status, 201, `declared ${JSON.stringify(d.data)}`);
      ids.push(d.data.id);
    }
    const prov = new Client(srv.base);
    await prov.login('province44');
    // the gateway stops answering
    writeFileSync(files.block, '');
    const r1 = await prov.post(`/api/admin/declarations/${ids[0]}/review`, { decision: 'approve' });
    eq(r1.status, 200, `first review ${JSON.stringify(r1.data)}`);
    const [first] = rows(srv, "phone = ? AND template = 'review'", reg.phone);
    await until('the gateway holding the first review\'s SMS', () =>
      calls(files).some((c) => c.event === 'blocked' && c.id === first.id));
    // while it hangs, another review commits and answers
    const r2 = await prov.post(`/api/admin/declarations/${ids[1]}/review`, { decision: 'return', comment: '请补充场地说明' });
    eq(r2.status, 200, `second review while the gateway hangs ${JSON.stringify(r2.data)}`);
    assert(!calls(files).some((c) => c.event === 'released'), 'the gateway was still hanging when it answered');
    eq(fixture('query', { sql: 'SELECT status FROM declarations WHERE id = ?', args: [ids[1]] }, srv)[0].status,
      'returned', 'the second decision is committed');
    const second = rows(srv, "phone = ? AND template = 'review'", reg.phone)[1];
    if (srv.instances.length === 1) {
      eq([second.status, second.attempts], ['pending', 0], 'its SMS waits in the outbox, stored with the decision');
    } else {
      // another instance's sender is free: it claims the message, and hangs too
      assert(['pending', 'sending'].includes(second.status) && second.attempts <= 1,
        `its SMS is stored with the decision, not sent: ${JSON.stringify(second)}`);
    }
    eq(rows(srv, 'id = ?', first.id)[0].status, 'sending', 'the first is claimed, being sent');
    // the gateway answers again: both go out, once each
    unlinkSync(files.block);
    await until('both review messages sent', () =>
      rows(srv, "phone = ? AND template = 'review' AND status = 'sent'", reg.phone).length === 2);
    for (const id of [first.id, second.id]) {
      eq(calls(files).filter((c) => c.event === 'sent' && c.id === id).length, 1, `message ${id} sent once`);
    }
  } finally {
    if (existsSync(files.block)) unlinkSync(files.block);
    await srv.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
});

test('sms: a failing gateway is retried, then the message is failed, and ops see it (host sms list, /api/ops/sms)', async () => {
  const flaky = newPhone(), dead = newPhone();
  const { srv, files } = await gatewayServer({
    HOST_SMS_ATTEMPTS: '3', HOST_SMS_RETRY_SECONDS: '0', SMS_FAKE_FAILS: `${flaky}=2,${dead}=99`,
  });
  try {
    const [a, b] = queue(srv, [flaky, dead]);
    // stored (a sender's tick, 4 a second, may already have claimed one:
    // 2026-12-02, "sending" under the PostgreSQL pass's load)
    const stored = rows(srv, 'id IN (?, ?)', a, b);
    eq(stored.length, 2, 'both stored');
    assert(stored.every((r) => ['pending', 'sending'].includes(r.status)),
      `stored, not yet sent nor failed: ${JSON.stringify(stored.map((r) => r.status))}`);
    const sent = await until('the flaky one sent at its third attempt', () =>
      rows(srv, "id = ? AND status = 'sent'", a)[0]);
    eq(sent.attempts, 3, 'three attempts');
    const failed = await until('the dead one failed', () => rows(srv, "id = ? AND status = 'failed'", b)[0]);
    eq(failed.attempts, 3, 'failed after the last attempt');
    assert(/fake gateway: no answer/.test(failed.last_error), `last_error says why: ${failed.last_error}`);
    eq(calls(files).filter((c) => c.event === 'call' && c.id === b).length, 3, 'three calls, no more');
    const listed = srv.host(['sms', 'list', '--status', 'failed']).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    eq(listed.map((r) => [r.id, r.status, r.attempts]), [[b, 'failed', 3]], 'host sms list --status failed');
    assert(/fake gateway/.test(listed[0].last_error), 'with its last error');
    const all = srv.host(['sms', 'list', '--phone', flaky]).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    eq([all[0].status, typeof all[0].sent_at], ['sent', 'string'], 'a sent one, with when');
    const ops = new Client(srv.base);
    await ops.login('ops');
    const r = await ops.get(`/api/ops/sms?phone=${dead}`);
    eq(r.status, 200, 'ops list');
    eq([r.data.items[0].status, r.data.items[0].attempts], ['failed', 3], 'ops see it failed');
    assert(/fake gateway/.test(r.data.items[0].last_error), 'and why');
    assert(!r.data.items[0].text.includes('246810'), 'the code stays masked');
  } finally {
    await srv.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
});

test('sms: two instances on one database send each message once', async () => {
  const { srv, files } = await gatewayServer();
  const port = await freePort();
  const second = spawn(BIN, ['serve', '--port', String(port), '--threads', '4', '--db', srv.db], {
    env: { ...process.env, HOST_SMS_DRIVER: FAKE, SMS_FAKE_LOG: files.log, SMS_FAKE_TAG: 'b' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log2 = '';
  second.stderr.on('data', (d) => { log2 += d; });
  try {
    await until('the second instance up', async () => {
      try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok; } catch { return false; }
    });
    const phones = Array.from({ length: 40 }, () => newPhone());
    const ids = queue(srv, phones);
    await until('every message sent', () =>
      rows(srv, `status = 'sent' AND id IN (${ids.join(',')})`).length === ids.length);
    const log = calls(files);
    for (const id of ids) {
      eq(log.filter((c) => c.event === 'call' && c.id === id).length, 1, `message ${id}: one gateway call`);
    }
    eq(rows(srv, `id IN (${ids.join(',')})`).map((r) => r.attempts), ids.map(() => 1), 'one attempt each');
  } catch (e) {
    e.message += `\nsecond instance: ${log2.slice(-1500)}`;
    throw e;
  } finally {
    const done = new Promise((r) => second.on('exit', r));
    second.kill('SIGTERM');
    await done;
    await srv.stop();
    rmSync(files.dir, { recursive: true, force: true });
  }
});
