// Regression tests for the hardening findings of issue 8 that are not
// about rules (2026-12-01): slow clients, the per-address connection cap,
// lockout per account and client address, X-Forwarded-For from a trusted
// proxy only, the Secure cookie and ambiguous request framing. Each
// failed before its fix.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { test, assert, eq } from '../lib/harness.mjs';
import { BIN } from '../lib/server.mjs';
import { S, as, sql, fixture, fails, newSchool, server } from './ctx.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One server with the settings under test and the host's default thread
// count; 127.0.0.7 and 127.0.0.8 play the reverse proxy.
const CAP = 4;
function hardened() {
  return server('hardened', {
    threads: null,
    env: {
      HOST_TRUSTED_PROXY: '127.0.0.7, 127.0.0.8', HOST_COOKIE_SECURE: '1',
      HOST_CONNECTIONS_PER_CLIENT: String(CAP), HOST_REQUEST_TIMEOUT_MS: '2000',
      HOST_BODY_TIMEOUT_MS: '1500',
    },
  });
}

// A request from a chosen loopback source address (node:http, no pooling).
function from(localAddress, port, method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let payload;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(payload);
    }
    const req = http.request({ host: '127.0.0.1', port, localAddress, method, path, headers: h, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          let data = null;
          try { data = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, data, text });
        });
      });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.end(payload);
  });
}

const login = (addr, username, password, port = S.main.port) =>
  from(addr, port, 'POST', '/api/login', { body: { username, password } });

// A connection from localAddress that sends half a request header and then
// nothing; .got collects what the server sends, .ended resolves on close.
function unfinished(port, localAddress) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress }, () => {
      sock.write('GET /api/plans HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      resolve(sock);
    });
    sock.got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { sock.got += d; });
    sock.ended = new Promise((r) => sock.on('close', r));
    sock.on('error', (e) => { sock.error = e; reject(e); });
  });
}

// Sends bytes on a new connection, half-closes, returns all that came back.
function exchange(port, bytes, localAddress) {
  return new Promise((resolve, reject) => {
    let got = '';
    const sock = net.connect({ port, host: '127.0.0.1', localAddress }, () => sock.end(bytes));
    sock.setEncoding('utf8');
    sock.on('data', (d) => { got += d; });
    sock.on('close', () => resolve(got));
    sock.on('error', (e) => (e.code === 'ECONNRESET' ? resolve(got) : reject(e)));
    sock.setTimeout(10000, () => { sock.destroy(); reject(new Error(`no close in 10 s, got ${got}`)); });
  });
}

// The responses in a raw byte stream: [{status, body}] (bodies of JSON with
// Content-Length, as the host sends them).
function responses(text) {
  const out = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.')) {
    const end = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, end);
    const len = Number((head.match(/\r\ncontent-length: *(\d+)/i) || [0, 0])[1]);
    const body = Buffer.from(rest.slice(end + 4)).subarray(0, len).toString();
    out.push({ status: Number(head.split(' ')[1]), head, body: body ? JSON.parse(body) : null });
    rest = Buffer.from(rest.slice(end + 4)).subarray(len).toString();
  }
  return out;
}

function jsonError(r, status) {
  eq(r.status, status, `status of ${JSON.stringify(r)}`);
  assert(r.body && r.body.error && typeof r.body.error.code === 'string', `the JSON error shape: ${JSON.stringify(r)}`);
  assert(/[\u4e00-\u9fff]/.test(r.body.error.message), 'a Chinese message');
}

test('hardening: 64 unfinished requests leave /healthz answering within 2 s (2026-12-01)', async () => {
  const h = await hardened();
  // 16 addresses with CAP (4) each: none is over the per-address cap, so
  // only enough workers and the header timeout keep the server reachable.
  const socks = [];
  for (let a = 1; a <= 16; a++) {
    for (let i = 0; i < CAP; i++) socks.push(await unfinished(h.port, `127.0.1.${a}`));
  }
  eq(socks.length, 64, 'sockets open');
  await sleep(200);                                   // let the server take them all
  const t0 = Date.now();
  const r = await from('127.0.0.1', h.port, 'GET', '/healthz');   // a new connection
  const ms = Date.now() - t0;
  eq([r.status, r.data], [200, { ok: true }], 'healthz answers');
  assert(ms < 2000, `healthz within 2 s, took ${ms} ms`);
  const api = await from('127.0.0.9', h.port, 'GET', '/api/regions/provinces');
  eq(api.status, 200, 'the API answers too');
  // the header timeout (2 s here) ends every unfinished request with an
  // error in the JSON shape and closes it
  const closed = await Promise.race([Promise.all(socks.map((s) => s.ended)).then(() => true),
    sleep(15000).then(() => false)]);
  assert(closed, `the server closed all 64, ${socks.filter((s) => !s.destroyed).length} still open`);
  for (const s of socks) {
    const [resp] = responses(s.got);
    assert(resp, `an answer before the close: ${JSON.stringify(s.got)}`);
    jsonError(resp, resp.status);
    assert(resp.status === 400 || resp.status === 408, `400 or 408: ${resp.status}`);
  }
});

test('hardening: a client over the per-address connection cap is refused while another is served (2026-12-01)', async () => {
  const h = await hardened();
  const held = [];
  for (let i = 0; i < CAP; i++) held.push(await unfinished(h.port, '127.0.0.3'));
  await sleep(100);
  // one more from the same address: refused at once, in the JSON shape
  const over = responses(await exchange(h.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', '127.0.0.3'));
  eq(over.length, 1, `one answer ${JSON.stringify(over)}`);
  jsonError(over[0], 429);
  eq(over[0].body.error.code, 'too_many_connections', 'error code');
  assert(/\r\nconnection: close/i.test(over[0].head), 'and closed');
  // another address is served meanwhile
  eq((await from('127.0.0.4', h.port, 'GET', '/healthz')).status, 200, 'another address is served');
  // a trusted proxy carries many clients: it is not capped
  const viaProxy = [];
  for (let i = 0; i < CAP + 2; i++) viaProxy.push(await unfinished(h.port, '127.0.0.7'));
  await sleep(100);
  eq((await from('127.0.0.7', h.port, 'GET', '/healthz')).status, 200, 'the proxy is not capped');
  // once its connections close, the address is served again
  for (const s of [...held, ...viaProxy]) s.destroy();
  let again = 0;
  for (let i = 0; i < 100 && again !== 200; i++) {
    again = (await from('127.0.0.3', h.port, 'GET', '/healthz')).status;
    if (again !== 200) await sleep(50);
  }
  eq(again, 200, 'served again after its connections closed');
});

test('hardening: a body trickled a byte at a time is cut off at the body deadline (2026-12-01)', async () => {
  const h = await hardened();
  const body = JSON.stringify({ username: 'school131', password: 'wrongpass1' });
  const sock = net.connect({ port: h.port, host: '127.0.0.1' });
  let got = '';
  sock.setEncoding('utf8');
  sock.on('data', (d) => { got += d; });
  sock.on('error', () => {});
  const ended = new Promise((r) => sock.on('close', r));
  await new Promise((r) => sock.on('connect', r));
  sock.write(`POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  // one byte every 100 ms: each read sees data long before the 2 s read
  // timeout, so only the deadline on the whole body (1.5 s here) ends it
  let sent = 0;
  const drip = setInterval(() => { if (sent < body.length && !sock.destroyed) sock.write(body[sent++]); }, 100);
  const closed = await Promise.race([ended.then(() => true), sleep(15000).then(() => false)]);
  clearInterval(drip);
  sock.destroy();
  assert(closed, 'the server closed the connection');
  assert(sent < body.length, `cut off before the whole body came (${sent} of ${body.length} bytes)`);
  const [r] = responses(got);
  jsonError(r, 408);
  eq(r.body.error.code, 'timeout', 'code');
});

test('hardening: a stranger\'s wrong passwords lock the stranger\'s address, not the owner (2026-12-01)', async () => {
  const s = await newSchool('13', '1301');              // logged in from 127.0.0.1
  for (let i = 0; i < 5; i++) {
    fails(await login('127.0.0.2', s.username, `Wrong${i}pass`), 401, 'bad_credentials');
  }
  fails(await login('127.0.0.2', s.username, s.password), 429, 'locked');
  eq((await login('127.0.0.1', s.username, s.password)).status, 200, 'the owner logs in from its address');
  eq((await login('127.0.0.6', s.username, s.password)).status, 200, 'and from a new address');
  fails(await login('127.0.0.2', s.username, s.password), 429, 'locked');
  // the owner's typos still lock the owner's own address
  for (let i = 0; i < 5; i++) await login('127.0.0.6', s.username, `Typo${i}pass`);
  fails(await login('127.0.0.6', s.username, s.password), 429, 'locked');
  eq((await login('127.0.0.1', s.username, s.password)).status, 200, 'still in from 127.0.0.1');
});

test('hardening: distributed guessing is slowed account-wide; the owner\'s known address gets in (2026-12-01)', async () => {
  const s = await newSchool('13', '1301');              // 127.0.0.1 is known
  const ghost = `nobody${process.pid}x${Date.now()}`;
  for (const name of [s.username, ghost]) {
    // 20 guesses from 5 addresses, 4 each: below every address's lock
    for (let a = 1; a <= 5; a++) {
      for (let i = 0; i < 4; i++) {
        const g = await login(`127.0.3.${a}`, name, `Guess${a}x${i}`);
        assert(g.status === 401, `guess ${i} from 127.0.3.${a} on ${name}: ${g.status} ${g.text}`);
        fails(g, 401, "bad_credentials");
      }
    }
    // a sixth, new address is refused even with the right password, for a
    // real account and an unknown name alike
    fails(await login('127.0.3.6', name, s.password), 429, 'locked');
  }
  eq((await login('127.0.0.1', s.username, s.password)).status, 200, 'the owner\'s known address gets in');
  const [acc] = sql('SELECT id, locked_until FROM accounts WHERE username = ?', s.username);
  assert(acc.locked_until > Date.now() / 1000, 'ops sees the account locked');
  eq((await (await as('ops')).post(`/api/ops/accounts/${acc.id}/unlock`)).status, 200, 'ops unlocks');
  eq((await login('127.0.3.6', s.username, s.password)).status, 200, 'then any address gets in');
  eq((await login('127.0.3.1', s.username, s.password)).status, 200, 'the guessers\' counts are cleared too');
});

test('hardening: X-Forwarded-For is believed only from HOST_TRUSTED_PROXY (2026-12-01)', async () => {
  const h = await hardened();
  const remotes = (name) => fixture('query', {
    sql: "SELECT remote FROM audit_log WHERE action = 'account.login_failed' AND username = ? ORDER BY id",
    args: [name],
  }, h).map((r) => r.remote);
  const name = `xff${process.pid}`;
  const tries = [
    ['127.0.0.7', '198.51.100.9, 203.0.113.5'],     // the rightmost entry is the client
    ['127.0.0.8', '203.0.113.6, 127.0.0.7'],        // trusted entries are skipped
    ['127.0.0.1', '203.0.113.77'],                  // not a proxy: the header is ignored
    ['127.0.0.7', 'garbage'],                       // not an address: the peer stands
    ['127.0.0.7', undefined],                       // no header: the peer
  ];
  for (const [addr, xff] of tries) {
    const r = await from(addr, h.port, 'POST', '/api/login', {
      body: { username: name, password: 'wrongpass1' }, headers: xff ? { 'x-forwarded-for': xff } : {},
    });
    fails({ status: r.status, data: r.data }, 401, 'bad_credentials');
  }
  eq(remotes(name), ['203.0.113.5', '203.0.113.6', '127.0.0.1', '127.0.0.7', '127.0.0.7'], 'client addresses');
  assert(h.log.includes(' access 203.0.113.5 POST /api/login 401'), 'the access log names the client');
  // locks follow the client behind the proxy, not the proxy
  const s = { username: 'school131', password: 'Demo12345' };
  const via = (client, password) => from('127.0.0.7', h.port, 'POST', '/api/login', {
    body: { username: s.username, password }, headers: { 'x-forwarded-for': client },
  });
  for (let i = 0; i < 5; i++) eq((await via('203.0.113.20', `Bad${i}pass`)).status, 401, 'a guess');
  eq((await via('203.0.113.20', s.password)).status, 429, 'that client is locked');
  eq((await via('203.0.113.21', s.password)).status, 200, 'another client behind the proxy is not');
  // a spoofed header from a non-proxy does not dodge its lock
  for (let i = 0; i < 5; i++) {
    await from('127.0.0.5', h.port, 'POST', '/api/login', {
      body: { username: s.username, password: `Spoof${i}pass` }, headers: { 'x-forwarded-for': `203.0.113.${100 + i}` },
    });
  }
  eq((await from('127.0.0.5', h.port, 'POST', '/api/login', {
    body: { username: s.username, password: s.password }, headers: { 'x-forwarded-for': '203.0.113.99' },
  })).status, 429, 'the spoofer stays locked');
});

test('hardening: HOST_COOKIE_SECURE=1 marks the session cookie Secure (2026-12-01)', async () => {
  const h = await hardened();
  const r = await login('127.0.0.1', 'school132', 'Demo12345', h.port);
  eq(r.status, 200, 'login');
  const cookie = r.headers['set-cookie'][0];
  assert(/; Secure(;|$)/.test(cookie) && /HttpOnly/.test(cookie) && /SameSite=Lax/.test(cookie), cookie);
  const sid = cookie.match(/sid=([^;]*)/)[1];
  const out = await from('127.0.0.1', h.port, 'POST', '/api/logout', {
    body: {}, headers: { cookie: `sid=${sid}`, 'x-csrf-token': r.data.csrf_token },
  });
  eq(out.status, 200, 'logout');
  assert(/; Secure(;|$)/.test(out.headers['set-cookie'][0]), `the clearing cookie too: ${out.headers['set-cookie']}`);
  const plain = await login('127.0.0.1', 'school132', 'Demo12345');
  assert(!/Secure/.test(plain.headers['set-cookie'][0]), 'not Secure without the setting');
});

test('hardening: two Content-Length headers, or Content-Length with Transfer-Encoding, are 400 (2026-12-01)', async () => {
  const name = `framing${process.pid}`;
  const failed = () => sql("SELECT count(*) AS n FROM audit_log WHERE action = 'account.login_failed' AND username = ?", name)[0].n;
  const body = JSON.stringify({ username: name, password: 'wrongpass1' });
  const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const smuggled = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  const cases = [
    `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n`
      + `Content-Length: ${body.length + smuggled.length}\r\n\r\n${body}${smuggled}`,
    `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\ncontent-length: ${body.length}\r\n`
      + `Content-length: ${body.length}\r\n\r\n${body}${smuggled}`,
    `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n`
      + `Content-Length: ${chunked.length}\r\n\r\n${chunked}${smuggled}`,
    `GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
  ];
  for (const bytes of cases) {
    const rs = responses(await exchange(S.main.port, bytes));
    eq(rs.map((r) => r.status), [400], `one 400 and nothing smuggled: ${bytes.split('\r\n').slice(0, 5)}`);
    jsonError(rs[0], 400);
    eq(rs[0].body.error.code, 'bad_request', 'code');
    assert(/\r\nconnection: close/i.test(rs[0].head), 'the connection is closed');
  }
  eq(failed(), 0, 'no login was tried');
  // one Content-Length still works, and so does chunked alone
  const one = responses(await exchange(S.main.port, `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
  eq(one.map((r) => r.status), [401], 'one Content-Length');
  const te = responses(await exchange(S.main.port, `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
    + `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`));
  eq(te.map((r) => r.status), [401], 'chunked alone');
  eq(failed(), 2, 'those two were tried');
});

test('hardening: a request civetweb cannot parse gets the JSON error shape (2026-12-01)', async () => {
  for (const bytes of ['GARBAGE\r\n\r\n', 'GET /healthz HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n']) {
    const rs = responses(await exchange(S.main.port, bytes));
    eq(rs.length, 1, `one answer to ${JSON.stringify(bytes)}: ${JSON.stringify(rs)}`);
    jsonError(rs[0], 400);
  }
  const missing = responses(await exchange(S.main.port, 'GET /no-such-file.js HTTP/1.1\r\nHost: x\r\n\r\n'));
  jsonError(missing[0], 404);
  eq(missing[0].body.error.code, 'not_found', 'a missing file');
});

test('hardening: a bad connection setting stops serve with a message (2026-12-01)', async () => {
  for (const [name, value] of [['HOST_TRUSTED_PROXY', '127.0.0.1, proxy.example'],
    ['HOST_CONNECTIONS_PER_CLIENT', 'many'], ['HOST_REQUEST_TIMEOUT_MS', '5'], ['HOST_BODY_TIMEOUT_MS', '1e3']]) {
    const r = spawnSync(BIN, ['serve', '--port', String(S.main.port), '--db', S.main.db], {
      env: { ...process.env, [name]: value }, encoding: 'utf8', timeout: 20000,
    });
    assert(r.status !== 0 && r.status !== null, `${name}=${value}: exits with failure (${r.status})`);
    assert(r.stderr.includes(name), `${name}=${value}: says which setting: ${r.stderr.slice(0, 300)}`);
  }
});
