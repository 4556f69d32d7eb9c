// Issues 13 and 14, attacked on 2026-12-01: a few hundred bytes of .xlsx
// that named row 3,000,000, column XFD or one 1 MiB shared string in every
// cell took the server to gigabytes; uploads were read before any login
// and past the body deadline; an attachment kept the name's extension
// whatever its content; a phone change sent SMS without limit and left the
// old phone's sessions and reset codes alive, on ops accounts too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { test, assert, eq } from '../lib/harness.mjs';
import { ROOT } from '../lib/server.mjs';
import { S, as, fails, sql } from './ctx.mjs';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

async function upload(c, path, bytes, type) {
  const r = await fetch(c.base + path, {
    method: 'POST', body: bytes,
    headers: { cookie: c.cookie, 'x-csrf-token': c.csrf, 'content-type': type },
  });
  const ct = r.headers.get('content-type') || '';
  return { status: r.status, data: ct.includes('json') ? await r.json() : null };
}

function rssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(m[1]) / 1024;
}

test('attack: tiny .xlsx files that claim huge sheets are refused, and the server stays small (2026-12-01)', async () => {
  const c = await as('city1301');
  for (const name of ['farrow.xlsx', 'farcol.xlsx', 'sstamp.xlsx', 'laughs.xlsx']) {
    const bytes = readFileSync(join(ROOT, 'tests', 'api', 'xlsx', name));
    const r = await upload(c, '/api/admin/schools/import', bytes, XLSX);
    assert(r.status === 422 || r.status === 400, `${name} is refused: ${r.status} ${JSON.stringify(r.data).slice(0, 200)}`);
  }
  const rss = rssMiB(S.main.proc.pid);
  assert(rss < 400, `server RSS under 400 MiB (${rss.toFixed(1)} MiB)`);
});

// Sends raw bytes and returns the first answer's status line (or '').
function raw(port, text, ms = 4000) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => { s.destroy(); resolve(got.split('\r\n')[0]); }, ms);
    s.on('data', (d) => { got += d; if (got.includes('\r\n\r\n')) { clearTimeout(t); s.destroy(); resolve(got.split('\r\n')[0]); } });
    s.on('error', () => { clearTimeout(t); resolve(got.split('\r\n')[0]); });
    s.write(text);
  });
}

test('attack: an upload is not read for a caller without a session, nor as a chunked form (2026-12-01)', async () => {
  const port = S.main.port;
  const head = 'POST /api/declarations/1/attachments HTTP/1.1\r\nHost: x\r\n'
    + 'Content-Type: multipart/form-data; boundary=b\r\n';
  // a 5 MiB form announced, nothing sent: answered at once, not read
  const anon = await raw(port, `${head}Content-Length: 5242880\r\n\r\n`);
  assert(/ 401 /.test(anon), `no session: 401 before the body (${anon})`);
  const c = await as('school131');
  const chunked = await raw(port, `${head}Cookie: ${c.cookie}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n--b\r\n\r\n`);
  assert(/ 411 /.test(chunked), `a chunked form: 411 (${chunked})`);
});

test('attack: an attachment is named for what its content is (2026-12-01)', async () => {
  const c = await as('school131');
  const [d] = sql("SELECT d.id FROM declarations d JOIN accounts a ON a.school_id = d.school_id WHERE a.username = 'school131' AND d.status = 'draft' LIMIT 1");
  let id = d && d.id;
  if (!id) {
    const plans = (await c.get('/api/plans')).data;
    const p = plans.find((x) => x.can_declare);
    const certs = (await c.get('/api/certificates')).data;
    const cert = certs.find((x) => x.majors.length > 0);
    const own = (await c.get(`/api/majors?certificate=${cert.id}`)).data.find((m) => m.allowed !== false);
    const r = await c.post('/api/declarations', { plan_id: p.id, certificate_id: cert.id, submit: false,
      majors: [{ major: own.code, students: 10, teachers: 1, trainees: 5 }], trainees_total: 5 });
    id = r.data.id;
  }
  const form = new FormData();
  form.append('file', new Blob([Buffer.from('%PDF-1.4\r\ncalc.exe\r\n')], { type: 'application/pdf' }), '申报材料.bat');
  const r = await fetch(`${c.base}/api/declarations/${id}/attachments`, {
    method: 'POST', body: form, headers: { cookie: c.cookie, 'x-csrf-token': c.csrf },
  });
  const a = await r.json();
  eq(r.status, 201, `uploaded: ${JSON.stringify(a)}`);
  eq(a.name, '申报材料.pdf', 'the name takes the extension of its content');
});

test('attack: a phone change ends what the old phone could do, is rate-limited, and never for ops (2026-12-01)', async () => {
  const ops = await as('ops');
  const [opsRow] = sql("SELECT id FROM accounts WHERE username = 'ops'");
  fails(await ops.put(`/api/ops/accounts/${opsRow.id}/phone`, { phone: '13912345678' }), 403, 'forbidden');
  const [school] = sql("SELECT id FROM accounts WHERE username = 'school132'");
  const owner = await as('school132');
  eq((await owner.get('/api/me')).status, 200, 'the school is logged in');
  const r = await ops.put(`/api/ops/accounts/${school.id}/phone`, { phone: '13923456789' });
  eq(r.status, 200, `changed: ${JSON.stringify(r.data)}`);
  eq((await owner.get('/api/me')).status, 401, 'the old sessions end');
  eq(sql('SELECT count(*) AS n FROM password_resets WHERE account_id = ? AND used_at IS NULL', school.id)[0].n, 0,
    'no reset code stays open');
  let limited = false;
  for (let i = 0; i < 8 && !limited; i++) {
    const x = await ops.put(`/api/ops/accounts/${school.id}/phone`, { phone: i % 2 ? '13923456789' : '13934567890' });
    limited = x.status === 429;
  }
  assert(limited, 'alternating numbers reach the per-phone SMS limit');
  fails(await ops.post('/api/ops/accounts', { role: 'city', username: '4113010077', name: '王', phone: '13945678901',
    province: '13', city: '1301' }), 422, 'validation_failed', 'username', 'digits');
});
