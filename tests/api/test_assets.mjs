// Light pages (issue 13): the hashed assets of the build are served from the
// brotli or gzip copy the build wrote, by what the browser accepts, with a
// year-long immutable cache; index.html revalidates.
import http from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { test, assert, eq } from '../lib/harness.mjs';
import { ROOT } from '../lib/server.mjs';
import { S } from './ctx.mjs';

const DIST = join(ROOT, 'web', 'dist', 'assets');

// A raw GET (fetch would decode the body and drop Content-Encoding).
function get(path, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request(`${S.main.base}${path}`, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function largestJs() {
  return readdirSync(DIST).filter((n) => n.endsWith('.js'))
    .map((n) => ({ n, size: statSync(join(DIST, n)).size })).sort((a, b) => b.size - a.size)[0].n;
}

test('assets: brotli, gzip or plain by Accept-Encoding; immutable for a year; Vary', async () => {
  const name = largestJs();
  const plain = readFileSync(join(DIST, name));
  const br = await get(`/assets/${name}`, { 'accept-encoding': 'gzip, deflate, br' });
  eq([br.status, br.headers['content-encoding']], [200, 'br'], 'brotli first');
  assert(brotliDecompressSync(br.body).equals(plain), 'the brotli copy is the file');
  assert(br.body.length < plain.length / 2, `compressed: ${br.body.length} of ${plain.length}`);
  eq(Number(br.headers['content-length']), br.body.length, 'its length');
  eq(br.headers['cache-control'], 'public, max-age=31536000, immutable', 'cached for a year');
  eq(br.headers.vary, 'Accept-Encoding', 'varies by encoding');
  assert(br.headers['content-type'].includes('javascript'), `a script: ${br.headers['content-type']}`);
  const gz = await get(`/assets/${name}`, { 'accept-encoding': 'gzip' });
  eq(gz.headers['content-encoding'], 'gzip', 'gzip when br is not accepted');
  assert(gunzipSync(gz.body).equals(plain), 'the gzip copy is the file');
  const noBr = await get(`/assets/${name}`, { 'accept-encoding': 'br;q=0, gzip;q=0.5' });
  eq(noBr.headers['content-encoding'], 'gzip', 'br;q=0 is refused');
  const none = await get(`/assets/${name}`, {});
  eq([none.headers['content-encoding'], none.body.length], [undefined, plain.length], 'plain without Accept-Encoding');
  const head = await get(`/assets/${name}`, { 'accept-encoding': 'br' }, 'HEAD');
  eq([head.status, head.body.length, head.headers['content-encoding']], [200, 0, 'br'], 'HEAD: headers only');
});

test('assets: unknown or non-plain names are 404; index.html revalidates', async () => {
  for (const p of ['/assets/nope.js', '/assets/.hidden', '/assets/a/b.js', '/assets/x.js%00.br']) {
    eq((await get(p, { 'accept-encoding': 'br' })).status, 404, p);
  }
  const index = await get('/', { 'accept-encoding': 'gzip' });
  eq(index.status, 200, 'index');
  eq(index.headers['cache-control'], 'no-cache', 'index.html revalidates');
  assert(index.headers['content-security-policy'], 'index keeps its CSP');
});
