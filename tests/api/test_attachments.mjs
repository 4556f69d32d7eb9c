// Attachments (证明材料, issue 13): PDF, JPEG or PNG by content, at most
// 10 MiB and 10 a declaration, stored in the database; downloadable by the
// school and the admins in scope only; changed only while editable.
import { createHash } from 'node:crypto';
import { test, assert, eq } from '../lib/harness.mjs';
import { Client } from '../lib/server.mjs';
import { S, as, anon, audit, body, certificates, decide, fails, freshSchool, plan, sql } from './ctx.mjs';

const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n', 'latin1'), Buffer.from([0, 1, 2, 255])]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('IHDR rest of a png')]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('JFIF\0 rest of a jpeg')]);
const sha = (b) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

// A fresh 河北 school (city 1301) with a draft of the 13 by-major plan.
async function draftOf(tag) {
  const s = await freshSchool('13', '1301', tag);
  const pid = plan('13', 'by_major');
  const [cert] = await certificates();
  const r = await s.client.post('/api/declarations', body(pid, cert, 'by_major', { submit: false }));
  eq(r.status, 201, `draft ${JSON.stringify(r.data)}`);
  return { s, c: s.client, id: r.data.id, pid, cert };
}

test('attachments: a PDF, a PNG and a JPEG uploaded, listed in the declaration, downloaded byte for byte', async () => {
  const { c, id } = await draftOf('84');
  const files = [
    { name: '办学许可证.pdf', data: PDF, type: 'application/pdf' },
    { name: 'venue photo.png', data: PNG, type: 'image/png' },
    // the name says nothing: the content decides the type, and (2026-12-01)
    // the extension the file is saved with
    { name: 'scan.bin', data: JPEG, type: 'application/octet-stream', expect: 'image/jpeg', saved: 'scan.jpg' },
  ];
  const made = [];
  for (const f of files) {
    const r = await c.upload(`/api/declarations/${id}/attachments`, f);
    eq(r.status, 201, `uploaded ${JSON.stringify(r.data)}`);
    eq([r.data.name, r.data.size, r.data.type, r.data.sha256],
      [f.saved || f.name, f.data.length, f.expect || f.type, sha(f.data)], 'the answer describes the file');
    assert(Number.isInteger(r.data.id), 'an id');
    made.push(r.data);
  }
  const v = await c.get(`/api/declarations/${id}`);
  eq(v.data.attachments.map((a) => [a.id, a.name, a.size, a.type, a.sha256]),
    made.map((a) => [a.id, a.name, a.size, a.type, a.sha256]), 'listed in the declaration');
  for (const [i, f] of files.entries()) {
    const d = await c.get(`/api/declarations/${id}/attachments/${made[i].id}`);
    eq(d.status, 200, 'downloaded');
    eq(d.headers.get('content-type'), made[i].type, 'its type');
    assert(Buffer.compare(d.data, f.data) === 0, 'the same bytes');
    const cd = d.headers.get('content-disposition');
    assert(cd.startsWith('attachment;'), `an attachment: ${cd}`);
    assert(cd.includes(`filename*=UTF-8''${encodeURIComponent(f.saved || f.name).replace(/%20/g, '%20')}`), `the UTF-8 name: ${cd}`);
    eq(d.headers.get('cache-control'), 'no-store', 'not cached');
  }
  // stored in the database itself, as a blob
  const pg = process.env.HOST_TEST_DB === 'pg';
  eq(sql(`SELECT ${pg ? 'pg_typeof(data)::text' : 'typeof(data)'} AS t, length(data) AS n
    FROM attachments WHERE declaration_id = ? ORDER BY id`, id),
    files.map((f) => ({ n: f.data.length, t: pg ? 'bytea' : 'blob' })), 'the files are in the database');
  const log = audit('declaration', id).filter((a) => a.action === 'attachment.upload');
  eq(log.length, 3, 'each upload audited');
});

test('attachments: a file disguised as PDF or image is refused by its content; empty, missing, not multipart', async () => {
  const { c, id } = await draftOf('84');
  for (const f of [
    { name: '证明.pdf', data: Buffer.from('这不是 PDF，只是一段文字'), type: 'application/pdf' },
    { name: 'photo.png', data: Buffer.from('MZ\x90\0\x03 an executable'), type: 'image/png' },
    { name: 'page.jpg', data: Buffer.from('<html><script>alert(1)</script></html>'), type: 'image/jpeg' },
  ]) {
    fails(await c.upload(`/api/declarations/${id}/attachments`, f), 422, 'validation_failed', 'file', 'file_type');
  }
  fails(await c.upload(`/api/declarations/${id}/attachments`, { name: 'empty.pdf', data: Buffer.alloc(0) }),
    422, 'validation_failed', 'file', 'required');
  fails(await c.upload(`/api/declarations/${id}/attachments`, { name: 'x.pdf', data: PDF, field: 'other' }),
    422, 'validation_failed', 'file', 'required');
  fails(await c.post(`/api/declarations/${id}/attachments`, { file: 'JVBERi0=' }), 400, 'bad_request');
  eq(sql('SELECT count(*) AS n FROM attachments WHERE declaration_id = ?', id)[0].n, 0, 'nothing stored');
});

test('attachments: 10 MiB is the most a file may be (413 beyond, over the 1 MiB JSON cap below); 10 a declaration (409)', async () => {
  const { c, id } = await draftOf('84');
  const big = Buffer.alloc(10 * MiB, 7);
  PDF.copy(big);
  const r = await c.upload(`/api/declarations/${id}/attachments`, { name: 'big.pdf', data: big });
  eq([r.status, r.data.size], [201, 10 * MiB], 'exactly 10 MiB accepted');
  const d = await c.get(`/api/declarations/${id}/attachments/${r.data.id}`);
  eq(sha(d.data), sha(big), 'downloaded whole');
  const over = Buffer.concat([big, Buffer.from('x')]);
  const e = fails(await c.upload(`/api/declarations/${id}/attachments`, { name: 'over.pdf', data: over }), 413, 'too_large');
  // 2026-12-02: the pages say 10 MB; the refusal said 请求内容过大. One limit, one wording:
  // 10 MB is 10 MiB = 10,485,760 bytes wherever it is said
  eq(e.message, '附件不能超过 10 MB（10,485,760 字节）', 'the refusal names the limit in the pages\' words');
  for (let i = 2; i <= 10; i++) {
    eq((await c.upload(`/api/declarations/${id}/attachments`, { name: `p${i}.png`, data: PNG })).status, 201, `file ${i}`);
  }
  fails(await c.upload(`/api/declarations/${id}/attachments`, { name: 'p11.png', data: PNG }), 409, 'too_many');
  eq(sql('SELECT count(*) AS n FROM attachments WHERE declaration_id = ?', id)[0].n, 10, 'ten stored');
  // the server still answers ordinary requests after the large ones
  eq((await c.get('/api/me')).status, 200, 'still serving');
});

test('attachments: only the school and the admins in scope download; nobody else, drafts for the school alone', async () => {
  const { c, id } = await draftOf('84');
  const up = await c.upload(`/api/declarations/${id}/attachments`, { name: '材料.pdf', data: PDF });
  eq(up.status, 201, 'uploaded');
  const url = `/api/declarations/${id}/attachments/${up.data.id}`;
  const other = await as('school132');
  fails(await other.get(url), 404, 'not_found');
  fails(await other.upload(`/api/declarations/${id}/attachments`, { name: 'x.pdf', data: PDF }), 404, 'not_found');
  fails(await other.del(url), 404, 'not_found');
  fails(await anon().get(url), 401, 'unauthenticated');
  // a draft is the school's own: no admin sees it yet
  for (const who of ['province13', 'city1301', 'ops']) fails(await (await as(who)).get(url), 404, 'not_found');
  eq((await c.post(`/api/declarations/${id}/submit`)).status, 200, 'submitted');
  for (const who of ['province13', 'city1301', 'ops']) {
    const d = await (await as(who)).get(url);
    eq(d.status, 200, `${who} downloads`);
    assert(Buffer.compare(d.data, PDF) === 0, `${who} gets the bytes`);
    const v = await (await as(who)).get(`/api/admin/declarations/${id}`);
    eq(v.data.attachments.map((a) => a.id), [up.data.id], `${who} sees it in the review detail`);
  }
  for (const who of ['province44', 'city4401', 'school441']) fails(await (await as(who)).get(url), 404, 'not_found');
  // another declaration's id with this attachment's id: not found
  fails(await c.get(`/api/declarations/${id + 100000}/attachments/${up.data.id}`), 404, 'not_found');
});

test('attachments: deletable while editable; pending refuses upload and delete (409); returned allows them again', async () => {
  const { c, id } = await draftOf('84');
  const a = await c.upload(`/api/declarations/${id}/attachments`, { name: 'a.pdf', data: PDF });
  const b = await c.upload(`/api/declarations/${id}/attachments`, { name: 'b.png', data: PNG });
  eq((await c.del(`/api/declarations/${id}/attachments/${a.data.id}`)).status, 200, 'deleted from the draft');
  fails(await c.del(`/api/declarations/${id}/attachments/${a.data.id}`), 404, 'not_found');
  eq((await c.get(`/api/declarations/${id}`)).data.attachments.map((x) => x.id), [b.data.id], 'one left');
  eq((await c.post(`/api/declarations/${id}/submit`)).status, 200, 'submitted');
  fails(await c.del(`/api/declarations/${id}/attachments/${b.data.id}`), 409, 'wrong_status');
  fails(await c.upload(`/api/declarations/${id}/attachments`, { name: 'c.pdf', data: PDF }), 409, 'wrong_status');
  eq(sql('SELECT count(*) AS n FROM attachments WHERE declaration_id = ?', id)[0].n, 1, 'kept while pending');
  decide(id, 'returned', { level: 'city' });
  eq((await c.upload(`/api/declarations/${id}/attachments`, { name: 'c.pdf', data: PDF })).status, 201, 'returned: upload');
  eq((await c.del(`/api/declarations/${id}/attachments/${b.data.id}`)).status, 200, 'returned: delete');
  // CSRF: an upload without the token changes nothing
  const bare = new Client(S.main.base);
  bare.cookie = c.cookie;
  fails(await bare.upload(`/api/declarations/${id}/attachments`, { name: 'd.pdf', data: PDF }), 403, 'csrf');
  eq(sql('SELECT count(*) AS n FROM attachments WHERE declaration_id = ?', id)[0].n, 1, 'one after all that');
});

test('attachments: deleting a draft deletes its files; names lose their directories and control characters', async () => {
  const { c, id } = await draftOf('84');
  const r = await c.upload(`/api/declarations/${id}/attachments`, { name: '..\\..\\etc\\证明\u0007材料.pdf', data: PDF });
  eq([r.status, r.data.name], [201, '证明材料.pdf'], 'the name cleaned');
  eq((await c.del(`/api/declarations/${id}`)).status, 200, 'draft deleted');
  eq(sql('SELECT count(*) AS n FROM attachments WHERE declaration_id = ?', id)[0].n, 0, 'its files went with it');
});

test('attachments: a malformed multipart body is 400 in the JSON error shape; multipart elsewhere is not parsed as a form', async () => {
  const { c, id } = await draftOf('84');
  const headers = { cookie: c.cookie, 'x-csrf-token': c.csrf, 'content-type': 'multipart/form-data' };
  const r = await fetch(`${S.main.base}/api/declarations/${id}/attachments`, { method: 'POST', headers, body: '--x\r\nnot a part' });
  eq(r.status, 400, 'no boundary: 400');
  const e = await r.json();
  assert(e.error && e.error.code && /[\u4e00-\u9fff]/.test(e.error.message), `the error shape: ${JSON.stringify(e)}`);
  const form = new FormData();
  form.append('file', new Blob([PDF]), 'x.pdf');
  const other = await fetch(`${S.main.base}/api/declarations/${id}`, {
    method: 'PUT', headers: { cookie: c.cookie, 'x-csrf-token': c.csrf }, body: form });
  eq([other.status, (await other.json()).error.code], [400, 'bad_json'], 'a form sent to a JSON endpoint is not JSON');
  eq(sql('SELECT count(*) AS n FROM attachments WHERE declaration_id = ?', id)[0].n, 0, 'nothing stored');
});
