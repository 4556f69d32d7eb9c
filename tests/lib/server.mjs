// Starts a real bin/host on a free port with a fresh SQLite file (migrated
// and seeded with demo data), and offers an HTTP client with cookies and
// the CSRF header, and readers of the SMS outbox through the CLI.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, process.env.HOST_BIN || 'bin/host');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// HOST_TEST_DB=pg: each server gets a database of its own on one throwaway
// PostgreSQL cluster (tests/lib/pg.mjs) instead of a SQLite file, served by
// two host instances behind a round-robin proxy (issue 12).
export const PG = process.env.HOST_TEST_DB === 'pg';
let cluster = null, databases = 0;
async function pgDatabase() {
  if (!cluster) {
    const { startCluster } = await import('./pg.mjs');
    cluster = await startCluster();
    process.on('exit', () => cluster.stopSync());
  }
  return cluster.createdb(`test${++databases}`);
}

// The tests' PostgreSQL cluster (HOST_TEST_DB=pg), started if need be.
export async function pgCluster() {
  if (!cluster) await pgDatabase();
  return cluster;
}

export function host(args, opts = {}) {
  return execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

// A reverse proxy on a free port that sends each request to the next of
// upstreams in turn (not each connection: one keep-alive client alternates
// too), streaming both bodies. An upstream that cannot be reached answers
// 502, as nginx would; nothing is retried (a POST may have been applied).
export async function roundRobin(upstreams) {
  // an idle upstream socket is let go before the host's 5 s keep-alive ends
  // it, and the clients' keep-alive outlives theirs: no request meets a
  // connection just closed under it
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 });
  let next = 0;
  const sockets = new Set();
  const proxy = http.createServer((req, res) => {
    const to = upstreams[next++ % upstreams.length];
    // a request without a body says so: node would send PATCH or POST
    // without a length chunked, and the host answers such a 405 before it
    // reads the empty chunk
    const headers = { ...req.headers };
    if (!('content-length' in headers) && !('transfer-encoding' in headers)) headers['content-length'] = '0';
    const up = http.request({
      host: '127.0.0.1', port: to, method: req.method, path: req.url, headers, agent,
    }, (ur) => {
      res.writeHead(ur.statusCode, ur.rawHeaders);
      ur.pipe(res);
      ur.on('error', () => res.destroy());
      // answered before the whole body was sent (a 413): the rest of the
      // body is read and dropped, or this keep-alive connection would
      // wait for it forever
      ur.on('end', () => { if (!req.complete) { req.unpipe(up); req.resume(); } });
    });
    up.on('error', () => {
      req.unpipe(up);
      req.resume();
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json; charset=utf-8' });
        res.end('{"error":{"code":"bad_gateway","message":"上游不可用"}}');
      } else res.destroy();
    });
    req.pipe(up);
  });
  proxy.keepAliveTimeout = 65000;
  proxy.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const port = await new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy.address().port)));
  return {
    port,
    close() {
      agent.destroy();
      for (const s of sockets) s.destroy();
      return new Promise((r) => proxy.close(r));
    },
  };
}

// One `host serve` process on a free port, ready when /healthz answers.
async function serveOne(argv, env) {
  const port = await freePort();
  const proc = spawn(BIN, ['serve', ...argv.args, '--port', String(port), ...argv.opts, ...argv.common], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const one = { port, proc, base: `http://127.0.0.1:${port}`, log: '' };
  proc.stderr.on('data', (d) => { one.log += d; });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${one.base}/healthz`);
      if (r.ok) break;
    } catch { /* not yet */ }
    if (proc.exitCode !== null) throw new Error(`server exited: ${one.log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return one;
}

// threads: the --threads option (null: the host's default).
// On SQLite: one instance, base is its port. On PostgreSQL (HOST_TEST_DB=pg):
// two instances on the same database and base is a proxy that sends each
// request to the other in turn, so any state kept in one process fails a
// test; port and proc are the first instance's (a raw socket or a signal
// reaches that one), instances lists both.
export async function startServer({ env = {}, rules, seed = true, threads = 8, args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'host-test-'));
  const db = PG ? await pgDatabase() : join(dir, 'platform.db');
  const common = ['--db', db];
  if (rules) common.push('--rules', rules);
  let logins = '';
  if (seed) logins = host(['seed', '--demo', ...common]);
  const opts = threads === null ? [] : ['--threads', String(threads)];
  const instances = [];
  for (let i = 0; i < (PG ? 2 : 1); i++) instances.push(await serveOne({ args, opts, common }, env));
  const proxy = PG ? await roundRobin(instances.map((x) => x.port)) : null;
  const { port, proc } = instances[0];
  const base = proxy ? `http://127.0.0.1:${proxy.port}` : instances[0].base;
  const server = {
    base, port, db, dir, proc, logins, instances,
    get log() { return instances.map((x) => x.log).join(''); },
    host: (args) => host([...args, ...common]),
    sms(phone) {
      const out = host(['sms', 'list', ...(phone ? ['--phone', phone] : []), ...common]);
      return out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
    async stop() {
      if (proxy) await proxy.close();
      await Promise.all(instances.map(({ proc: p }) => {
        if (p.exitCode !== null || p.signalCode !== null) return null;   // already gone
        const done = new Promise((r) => p.on('exit', r));
        p.kill('SIGTERM');
        return done;
      }));
      if (!process.env.KEEP_TMP) rmSync(dir, { recursive: true, force: true });
      // under `make sanitize` the host reports memory and UB errors on stderr
      const log = server.log;
      const bad = log.match(/^.*(AddressSanitizer|LeakSanitizer|runtime error:).*$/m);
      if (bad) throw new Error(`sanitizer report from the server: ${bad[0]}\n${log.slice(-3000)}`);
    },
  };
  return server;
}

// A client with its own cookie jar and CSRF token.
export class Client {
  constructor(base) { this.base = base; this.cookie = ''; this.csrf = ''; }

  async req(method, path, body, headers = {}) {
    const h = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf && method !== 'GET') h['x-csrf-token'] = this.csrf;
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    let r;
    try {
      r = await fetch(this.base + path, { method, headers: h, body: payload });
    } catch (e) {   // undici says only "fetch failed": say what and why
      throw new Error(`${method} ${path}: ${e.message} (${e.cause?.code || e.cause?.message || e.cause})`);
    }
    const set = r.headers.get('set-cookie');
    if (set) {
      const m = set.match(/sid=([^;]*)/);
      if (m) this.cookie = m[1] ? `sid=${m[1]}` : '';
    }
    const type = r.headers.get('content-type') || '';
    const data = type.includes('json') ? await r.json() : Buffer.from(await r.arrayBuffer());
    return { status: r.status, data, headers: r.headers };
  }

  // A multipart/form-data POST of one file (field `file` unless named).
  async upload(path, { name, data, type = 'application/octet-stream', field = 'file' }, headers = {}) {
    const h = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf) h['x-csrf-token'] = this.csrf;
    const form = new FormData();
    form.append(field, new Blob([data], { type }), name);
    const r = await fetch(this.base + path, { method: 'POST', headers: h, body: form });
    const ctype = r.headers.get('content-type') || '';
    const out = ctype.includes('json') ? await r.json() : Buffer.from(await r.arrayBuffer());
    return { status: r.status, data: out, headers: r.headers };
  }

  get(p, h) { return this.req('GET', p, undefined, h); }
  post(p, b, h) { return this.req('POST', p, b === undefined ? {} : b, h); }
  put(p, b, h) { return this.req('PUT', p, b, h); }
  del(p, h) { return this.req('DELETE', p, undefined, h); }

  async login(username, password = 'Demo12345') {
    const r = await this.post('/api/login', { username, password });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.data)}`);
    this.csrf = r.data.csrf_token;
    return r.data;
  }
}
