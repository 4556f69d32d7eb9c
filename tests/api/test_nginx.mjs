// docs/nginx.conf, the README's production front (issue 12), run for real:
// Debian's nginx with that file, only its upstream servers, listen
// addresses and certificate replaced (a self-signed one made here), in
// front of the server's instances (two on PostgreSQL, one on SQLite), the
// host started as the README says (HOST_TRUSTED_PROXY, HOST_COOKIE_SECURE).
// Checked: TLS, the redirect from port 80, the client address the host
// believes, a spoofed X-Forwarded-For, the secure cookie, the body cap,
// /metrics kept off the balancer, requests spread over the instances, and
// on an instance's death the reads go on through the other.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, freePort, ROOT } from '../lib/server.mjs';

const NAME = '1x.example.edu.cn';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// docs/nginx.conf with this test's instances, ports and certificate.
function siteConfig(upstreams, tls, plain, dir) {
  let conf = readFileSync(join(ROOT, 'docs', 'nginx.conf'), 'utf8');
  const servers = conf.match(/^ *server 10\.0\.0\.\d+:8080[^;]*;\n/gm);
  assert(servers && servers.length >= 2, 'the file lists its instances');
  conf = conf.replace(servers.join(''), upstreams.map((p) =>
    `    server 127.0.0.1:${p} max_fails=3 fail_timeout=10s;\n`).join(''));
  const n = conf.length;
  conf = conf.replace('listen 443 ssl http2;', `listen 127.0.0.1:${tls} ssl http2;`)
    .replace('listen 80;', `listen 127.0.0.1:${plain};`)
    .replace('/etc/ssl/platform/fullchain.pem', join(dir, 'cert.pem'))
    .replace('/etc/ssl/platform/privkey.pem', join(dir, 'key.pem'));
  assert(conf.length !== n && !/10\.0\.0\.|\/etc\/ssl|listen 80;|listen 443/.test(conf), 'every address replaced');
  return conf;
}

async function startNginx(upstreams) {
  const dir = mkdtempSync(join(tmpdir(), 'host-nginx-'));
  chmodSync(dir, 0o755);
  const cert = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-subj', `/CN=${NAME}`, '-addext', `subjectAltName=DNS:${NAME}`,
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
  eq(cert.status, 0, `a certificate: ${cert.stderr}`);
  const [tls, plain] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'platform.conf'), siteConfig(upstreams, tls, plain, dir));
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/platform.conf;
}
`);
  const nginx = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
  const check = spawnSync(nginx, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
  eq(check.status, 0, `nginx -t: ${check.stderr}`);
  const proc = spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  const ca = readFileSync(join(dir, 'cert.pem'));
  const front = { dir, proc, tls, plain, ca };
  for (let i = 0; i < 100; i++) {
    try {
      if ((await request(front, 'GET', '/healthz')).status === 200) break;
    } catch { /* not yet */ }
    await sleep(50);
  }
  front.stop = async () => {
    if (proc.exitCode === null) {
      const done = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGQUIT');
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return front;
}

// One request over TLS to nginx, checked against our certificate, from a
// client address of our choosing (127.0.0.0/8 is all this host's).
function request(front, method, path, { body, headers = {}, from = '127.0.0.2' } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: front.tls, servername: NAME, ca: front.ca, localAddress: from,
      method, path, headers: { host: NAME, ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let data = text;
        try { data = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, data });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

test('nginx: docs/nginx.conf in front of the instances: TLS, the client address, the secure cookie, caps, failover of reads', async () => {
  const srv = await startServer({ env: { HOST_TRUSTED_PROXY: '127.0.0.1', HOST_COOKIE_SECURE: '1' } });
  let front;
  try {
    front = await startNginx(srv.instances.map((x) => x.port));
    eq((await request(front, 'GET', '/healthz')).data, { ok: true }, 'through nginx over TLS');

    // port 80 sends the browser to https
    const moved = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: front.plain, path: '/login?x=1', headers: { host: NAME } },
        (res) => { res.resume(); resolve(res); }).on('error', reject);
    });
    eq([moved.statusCode, moved.headers.location], [301, `https://${NAME}/login?x=1`], 'port 80 redirects');

    // the client's own address, not nginx's and not a forged one
    const spoofed = '203.0.113.9';
    const login = await request(front, 'POST', '/api/login', {
      body: { username: 'province44', password: 'Demo12345' },
      headers: { 'x-forwarded-for': spoofed }, from: '127.0.0.2',
    });
    eq(login.status, 200, `login: ${JSON.stringify(login.data)}`);
    const cookie = [].concat(login.headers['set-cookie'] || []).find((c) => c.startsWith('sid='));
    assert(cookie && /;\s*Secure/i.test(cookie) && /HttpOnly/i.test(cookie), `a Secure cookie: ${cookie}`);
    await sleep(100);
    const logins = srv.log.split('\n').filter((l) => / access .* POST \/api\/login /.test(l));
    assert(logins.length > 0, 'the login is in an access log');
    assert(logins.every((l) => / access 127\.0\.0\.2 /.test(l)), `the host believes nginx about the client: ${logins.join('\n')}`);
    assert(!srv.log.includes(spoofed), 'and not the forged header before it');

    // the session works on every instance behind nginx
    const sid = cookie.split(';')[0];
    const auth = { cookie: sid, 'x-csrf-token': login.data.csrf_token };
    for (let i = 0; i < 6; i++) {
      const me = await request(front, 'GET', '/api/me', { headers: auth });
      eq([me.status, me.data.username || me.data.account?.username], [200, 'province44'], `the session, request ${i}`);
    }

    // the caps: a body over nginx's is 413 from nginx; /metrics stays inside
    const big = await request(front, 'POST', '/api/login', { body: 'x'.repeat(12 * 1024 * 1024) });
    eq(big.status, 413, 'a body over client_max_body_size');
    for (const path of ['/metrics', '/metrics.', '/metrics..', '/metrics%2e', '/x/../metrics.', '/metrics/']) {
      eq((await request(front, 'GET', path)).status, 404, `${path} is not on the balancer`);
    }

    // requests spread over the instances; a dead one's reads go to the other
    for (let i = 0; i < 12; i++) eq((await request(front, 'GET', '/api/regions/provinces')).status, 200, 'provinces');
    await sleep(100);
    const served = srv.instances.map((x) => x.log.split('\n').filter((l) => /GET \/api\/regions\/provinces 200/.test(l)).length);
    assert(served.every((n) => n > 0), `every instance served some: ${served}`);
    if (srv.instances.length > 1) {
      const [a] = srv.instances;
      a.proc.kill('SIGKILL');
      await new Promise((r) => a.proc.on('exit', r));
      for (let i = 0; i < 8; i++) {
        eq((await request(front, 'GET', '/api/regions/provinces')).status, 200, `a read after the kill (${i})`);
      }
      const me = await request(front, 'GET', '/api/me', { headers: auth });
      eq(me.status, 200, 'the session lives on in the database');
    }
  } finally {
    if (front) await front.stop();
    await srv.stop();
  }
});
