// Platform ops (issue 4): the catalogues (training evaluation
// organisations, certificates with their majors, majors), the SMS outbox,
// account password reset by SMS and unlock, and the eligibility question of
// exam registration (R15) asked with a bearer token.
import { test, assert, eq } from '../lib/harness.mjs';
import { Client } from '../lib/server.mjs';
import { S, as, anon, fails, certificates, foreignMajor, body, plan, sql, freshSchool, newSchoolCode } from './ctx.mjs';

// Invented 学校标识码 of this file: 4993xxxxxx.
const newCode = () => newSchoolCode('93');


async function accountId(username) {
  const r = await (await as('ops')).get(`/api/ops/accounts?q=${encodeURIComponent(username)}`);
  eq(r.status, 200, 'accounts');
  const a = r.data.items.find((x) => x.username === username);
  assert(a, `account ${username} listed`);
  return a;
}

const OPS_ENDPOINTS = [
  ['GET', '/api/ops/organizations'], ['POST', '/api/ops/organizations', { name: '越权组织' }],
  ['PUT', '/api/ops/organizations/1', { name: '越权组织' }],
  ['GET', '/api/ops/certificates'], ['POST', '/api/ops/certificates', { code: 'X', name: '越权', level: '初级', organization_id: 1 }],
  ['PUT', '/api/ops/certificates/1', { name: '越权' }],
  ['GET', '/api/ops/majors'], ['POST', '/api/ops/majors', { code: '999990', name: '越权', level: '中职' }],
  ['PUT', '/api/ops/majors/610101', { name: '越权' }],
  ['GET', '/api/ops/sms'], ['GET', '/api/ops/accounts'],
  ['POST', '/api/ops/accounts/1/reset-password'], ['POST', '/api/ops/accounts/1/unlock'],
];

test('ops: every /api/ops/* endpoint is 403 for province, city and school accounts, 401 anonymous; nothing changes', async () => {
  const before = sql(`SELECT (SELECT count(*) FROM organizations) AS o, (SELECT count(*) FROM certificates) AS c,
    (SELECT count(*) FROM majors) AS m, (SELECT count(*) FROM sms_outbox) AS s`)[0];
  const name610101 = sql("SELECT name FROM majors WHERE code = '610101'")[0].name;
  for (const name of ['province13', 'city4401', 'school111']) {
    const c = await as(name);
    for (const [method, path, b] of OPS_ENDPOINTS) {
      fails(await c.req(method, path, method === 'GET' ? undefined : (b || {})), 403, 'forbidden');
    }
  }
  for (const [method, path, b] of OPS_ENDPOINTS) {
    eq((await anon().req(method, path, method === 'GET' ? undefined : (b || {}))).status, 401, `anonymous ${method} ${path}`);
  }
  const after = sql(`SELECT (SELECT count(*) FROM organizations) AS o, (SELECT count(*) FROM certificates) AS c,
    (SELECT count(*) FROM majors) AS m, (SELECT count(*) FROM sms_outbox) AS s`)[0];
  eq(after, before, 'no catalogue entry or SMS added');
  eq(sql("SELECT name FROM majors WHERE code = '610101'")[0].name, name610101, 'no major renamed');
});

test('ops: training evaluation organisations: list, create, rename; unique (409), name required (422), 404', async () => {
  const ops = await as('ops');
  const name = `运维测试评价组织${process.pid}`;
  const r = await ops.post('/api/ops/organizations', { name });
  eq([r.status, r.data.name], [201, name], 'created');
  const list = await ops.get('/api/ops/organizations');
  const o = list.data.find((x) => x.id === r.data.id);
  eq([o.name, o.certificates], [name, 0], 'listed with no certificates');
  assert(list.data.some((x) => x.certificates > 0), 'seeded organisations with certificates');
  fails(await ops.post('/api/ops/organizations', { name }), 409, 'duplicate');
  fails(await ops.post('/api/ops/organizations', { name: '  ' }), 422, 'validation_failed', 'name', 'required');
  fails(await ops.post('/api/ops/organizations', { name: '组'.repeat(101) }), 422, 'validation_failed', 'name', 'too_long');
  const u = await ops.put(`/api/ops/organizations/${r.data.id}`, { name: `${name}（更名）` });
  eq([u.status, u.data.name], [200, `${name}（更名）`], 'renamed');
  fails(await ops.put(`/api/ops/organizations/${r.data.id}`, { name: list.data.find((x) => x.id !== r.data.id).name }),
    409, 'duplicate');
  fails(await ops.put('/api/ops/organizations/99999999', { name: '不存在' }), 404, 'not_found');
  const log = sql("SELECT action FROM audit_log WHERE entity = 'organization' AND entity_id = ? ORDER BY id", r.data.id);
  eq(log.map((x) => x.action), ['organization.create', 'organization.update'], 'audited');
});

test('ops: certificates: create with its majors, edit, deactivate; public catalogue follows; validation and 409', async () => {
  const ops = await as('ops');
  const org = (await ops.post('/api/ops/organizations', { name: `运维证书组织${process.pid}` })).data;
  const majors = (await anon().get('/api/majors?level=高职专科')).data.slice(0, 3).map((m) => m.code);
  const name = `运维测试证书${process.pid}`;
  const code = `XT${process.pid % 10000}-1`;
  const r = await ops.post('/api/ops/certificates', { code, name, level: '初级', organization_id: org.id, majors: majors.slice(0, 2) });
  eq(r.status, 201, `created ${JSON.stringify(r.data)}`);
  eq([r.data.code, r.data.name, r.data.level, r.data.organization, r.data.active, r.data.majors],
    [code, name, '初级', org.name, true, majors.slice(0, 2).sort()], 'the certificate with its majors');
  const pub = (await anon().get(`/api/certificates?q=${encodeURIComponent(name)}`)).data;
  eq(pub.map((c) => [c.id, c.organization, c.majors]), [[r.data.id, org.name, majors.slice(0, 2).sort()]], 'in the public catalogue');
  eq((await anon().get(`/api/majors?certificate=${r.data.id}`)).data.map((m) => m.code).sort(), majors.slice(0, 2).sort(),
    'its majors publicly');
  eq((await ops.get(`/api/ops/organizations`)).data.find((x) => x.id === org.id).certificates, 1, 'the organisation counts it');

  // validation
  const e = fails(await ops.post('/api/ops/certificates', { code: `${code}b`, name: `${name}b`, level: '特级', organization_id: 99999999,
    majors: [majors[0], '000000'] }), 422, 'validation_failed', 'level', 'invalid');
  for (const f of ['organization_id', 'majors[1]']) assert(e.fields.some((x) => x.field === f), `field ${f}`);
  fails(await ops.post('/api/ops/certificates', { level: '初级', organization_id: org.id }), 422, 'validation_failed', 'code', 'required');
  fails(await ops.post('/api/ops/certificates', { code, name: `${name}另`, level: '中级', organization_id: org.id }), 409, 'duplicate');
  fails(await ops.post('/api/ops/certificates', { code: `${code}c`, name, level: '初级', organization_id: org.id }), 409, 'duplicate');
  eq(sql('SELECT count(*) AS n FROM certificates WHERE organization_id = ?', org.id)[0].n, 1, 'nothing else stored');

  // edit: majors replaced, level changed
  const u = await ops.put(`/api/ops/certificates/${r.data.id}`, { level: '中级', majors: [majors[2]] });
  eq([u.status, u.data.level, u.data.majors, u.data.name], [200, '中级', [majors[2]], name], 'edited');
  eq((await anon().get(`/api/majors?certificate=${r.data.id}`)).data.map((m) => m.code), [majors[2]], 'the public majors follow');
  fails(await ops.put('/api/ops/certificates/99999999', { name: 'x' }), 404, 'not_found');

  // deactivate: gone from the public catalogue, kept for ops
  eq((await ops.put(`/api/ops/certificates/${r.data.id}`, { active: false })).data.active, false, 'deactivated');
  eq((await anon().get(`/api/certificates?q=${encodeURIComponent(name)}`)).data, [], 'not offered publicly');
  const mine = (await ops.get(`/api/ops/certificates?q=${encodeURIComponent(name)}`)).data;
  eq(mine.map((c) => [c.id, c.active]), [[r.data.id, false]], 'ops still lists it');
  // a school cannot declare it
  const pid = plan('44', 'not_by_major', { title: '运维测试 停用证书' });
  const s = await freshSchool('44', '4401', '93');
  fails(await s.client.post('/api/declarations', { plan_id: pid, certificate_id: r.data.id, trainees_total: 5,
    faculty: '<p>师资</p>', venue: '<p>场地</p>', submit: true }), 422, 'validation_failed', 'certificate_id', 'not_found');
  const acts = sql("SELECT action FROM audit_log WHERE entity = 'certificate' AND entity_id = ? ORDER BY id", r.data.id).map((x) => x.action);
  eq(acts, ['certificate.create', 'certificate.update', 'certificate.update'], 'audited');
});

test('ops: majors: list paged and searchable, create (code validated, unique), edit, deactivate', async () => {
  const ops = await as('ops');
  const p1 = await ops.get('/api/ops/majors?level=职业本科&size=5');
  eq([p1.status, p1.data.items.length, p1.data.total], [200, 5, 247], 'the 职业本科 majors, 5 a page');
  assert(p1.data.items.every((m) => m.level === '职业本科' && m.active === true), 'of that level');
  const p2 = await ops.get('/api/ops/majors?level=职业本科&size=5&page=2');
  assert(p2.data.items.every((m) => !p1.data.items.some((x) => x.code === m.code)), 'page 2 differs');
  const one = await ops.get('/api/ops/majors?q=610101');
  eq([one.data.total, one.data.items[0].name], [1, '种子生产技术'], 'search by code');
  assert((await ops.get(`/api/ops/majors?q=${encodeURIComponent('种子')}`)).data.items.some((m) => m.code === '610101'), 'by name');

  const code = `9999${String(process.pid % 100).padStart(2, '0')}`;
  const name = `运维测试专业${process.pid}`;
  for (const bad of ['12345', '1234567', 'abcdef', 999999]) {
    fails(await ops.post('/api/ops/majors', { code: bad, name, level: '中职' }), 422, 'validation_failed', 'code', 'invalid');
  }
  fails(await ops.post('/api/ops/majors', { code, name, level: '本科' }), 422, 'validation_failed', 'level', 'invalid');
  fails(await ops.post('/api/ops/majors', { code, level: '中职' }), 422, 'validation_failed', 'name', 'required');
  const r = await ops.post('/api/ops/majors', { code, name, level: '高职专科', category_name: '测试大类' });
  eq([r.status, r.data.code, r.data.name, r.data.level, r.data.active], [201, code, name, '高职专科', true], 'created');
  fails(await ops.post('/api/ops/majors', { code, name: '重复', level: '中职' }), 409, 'duplicate');
  const k = await ops.post('/api/ops/majors', { code: `${code.slice(0, 5)}8K`, name: `${name}K`, level: '中职' });
  eq(k.status, 201, 'a code with K');
  eq((await anon().get(`/api/majors?q=${code}`)).data.map((m) => m.name), [name], 'in the public list');

  const u = await ops.put(`/api/ops/majors/${code}`, { name: `${name}（修订）` });
  eq([u.status, u.data.name, u.data.level], [200, `${name}（修订）`, '高职专科'], 'renamed');
  const missing = code === '999998' ? '999997' : '999998';   // code is 9999NN: never the same
  fails(await ops.put(`/api/ops/majors/${missing}`, { name: 'x' }), 404, 'not_found');
  fails(await ops.put(`/api/ops/majors/${code}`, { level: '大专' }), 422, 'validation_failed', 'level', 'invalid');
  eq((await ops.put(`/api/ops/majors/${code}`, { active: false })).data.active, false, 'deactivated');
  eq((await anon().get(`/api/majors?q=${code}`)).data, [], 'gone from the public list');
  eq((await ops.get(`/api/ops/majors?q=${code}`)).data.items[0].active, false, 'ops still lists it');
  // a certificate can name it
  const org = (await ops.get('/api/ops/organizations')).data[0];
  eq((await ops.post('/api/ops/certificates', { code: `XM${process.pid % 10000}`, name: `含新专业证书${process.pid}`, level: '高级',
    organization_id: org.id, majors: [code] })).data.majors, [code], 'a certificate with the new major');
});

test('ops: the SMS outbox: paged, filtered by phone, newest first', async () => {
  const ops = await as('ops');
  const s = await freshSchool('11', '1101', '93');
  const id = (await accountId(s.username)).id;
  await ops.post(`/api/ops/accounts/${id}/reset-password`);
  await ops.post(`/api/ops/accounts/${id}/reset-password`);
  const r = await ops.get(`/api/ops/sms?phone=${s.phone}`);
  eq([r.status, r.data.total, r.data.items.length], [200, 2, 2], 'two messages to the phone');
  assert(r.data.items.every((m) => m.phone === s.phone && m.template === 'password_reset' && m.text.includes(s.username)),
    'the reset messages');
  assert(r.data.items[0].id > r.data.items[1].id, 'newest first');
  const all = await ops.get('/api/ops/sms?size=3&page=1');
  eq(all.data.size, 3, 'paged');
  assert(all.data.total >= 2 && all.data.items.length <= 3, 'the whole outbox');
  const p2 = await ops.get('/api/ops/sms?size=3&page=2');
  assert(p2.data.items.every((m) => !all.data.items.some((x) => x.id === m.id)), 'page 2 differs');
  fails(await ops.get('/api/ops/sms?size=0'), 400, 'bad_request');
});

test('ops: reset a school\'s password: new one by SMS, old sessions and password dead, must change it at login', async () => {
  const ops = await as('ops');
  const s = await freshSchool('32', '3201', '93');
  const a = await accountId(s.username);
  eq([a.role, a.school_id, a.phone], ['school', s.id, `${s.phone.slice(0, 3)}****${s.phone.slice(7)}`], 'listed with a masked phone');
  eq((await s.client.get('/api/me')).status, 200, 'logged in before');
  fails(await (await as('province32')).post(`/api/ops/accounts/${a.id}/reset-password`), 403, 'forbidden');

  const r = await ops.post(`/api/ops/accounts/${a.id}/reset-password`);
  eq([r.status, r.data.ok], [200, true], 'reset');
  assert(r.data.message.includes('****') && !r.data.message.includes(s.phone), 'the answer masks the phone');
  const sms = S.main.sms(s.phone).filter((m) => m.template === 'password_reset');
  eq(sms.length, 1, 'one SMS');
  const pw = sms[0].params.password;
  assert(pw && pw.length >= 8 && sms[0].text.includes(pw) && sms[0].params.username === s.username, 'the new password by SMS');
  eq((await s.client.get('/api/me')).status, 401, 'the old session ended');
  eq((await anon().post('/api/login', { username: s.username, password: s.password })).status, 401, 'the old password is dead');
  const c = new Client(S.main.base);
  const login = await c.login(s.username, pw);
  eq(login.must_change_password, true, 'must change the password');
  fails(await c.get('/api/declarations'), 403, 'password_change_required');
  eq((await c.post('/api/password', { old: pw, new: 'Changed2024' })).status, 200, 'changed');
  eq((await c.get('/api/declarations')).status, 200, 'then works');
  const log = sql("SELECT username, action FROM audit_log WHERE entity = 'account' AND entity_id = ? AND action = 'account.reset_password'", a.id);
  eq(log.map((x) => x.username), ['ops'], 'audited');

  // an account without a phone cannot get one; an unknown account is 404
  const nophone = `onp${process.pid % 10000}`;
  S.main.host(['user', 'add', '--role', 'city', '--username', nophone, '--password', 'Demo12345', '--city', '3202']);
  const np = await accountId(nophone);
  fails(await ops.post(`/api/ops/accounts/${np.id}/reset-password`), 409, 'no_phone');
  eq((await anon().post('/api/login', { username: nophone, password: 'Demo12345' })).status, 200, 'its password unchanged');
  fails(await ops.post('/api/ops/accounts/99999999/reset-password'), 404, 'not_found');
});

test('ops: unlock an account locked by wrong passwords', async () => {
  const ops = await as('ops');
  const s = await freshSchool('32', '3201', '93');
  for (let i = 0; i < 5; i++) {
    eq((await anon().post('/api/login', { username: s.username, password: 'Wrong12345' })).status, 401, `wrong ${i + 1}`);
  }
  fails(await anon().post('/api/login', { username: s.username, password: s.password }), 429, 'locked');
  const a = await accountId(s.username);
  eq(a.locked, true, 'ops sees it locked');
  fails(await (await as('province32')).post(`/api/ops/accounts/${a.id}/unlock`), 403, 'forbidden');
  fails(await anon().post('/api/login', { username: s.username, password: s.password }), 429, 'locked');
  const r = await ops.post(`/api/ops/accounts/${a.id}/unlock`);
  eq([r.status, r.data.ok], [200, true], 'unlocked');
  eq((await accountId(s.username)).locked, false, 'not locked any more');
  eq((await anon().post('/api/login', { username: s.username, password: s.password })).status, 200, 'logs in again');
  fails(await ops.post('/api/ops/accounts/99999999/unlock'), 404, 'not_found');
  eq(sql("SELECT count(*) AS n FROM audit_log WHERE action = 'account.unlock' AND entity_id = ?", a.id)[0].n, 1, 'audited');
});

// ---- 考务报考: eligibility (R15) ------------------------------------------

test('ops: eligibility with a bearer token: declared majors, undeclared, certificate-wide, foreign major, pending, 401', async () => {
  const token = S.main.host(['token', 'add', '--name', `exam-${process.pid}`]).trim();
  assert(/^\S{20,}$/.test(token), 'a token');
  eq(sql('SELECT count(*) AS n FROM api_tokens WHERE token_hash = ?', token)[0].n, 0, 'not stored in clear');
  const year = 2034;
  const pid = plan('44', 'not_by_major', { title: '运维测试 报考资格', year });
  const certs = await certificates();
  const [cA, cB, cC] = [certs[1], certs[2], certs[3]];
  const s = await freshSchool('44', '4401', '93');
  // A: declared one major; B: declared none (certificate-wide); C: pending
  const mk = async (cert, majors) => {
    const r = await s.client.post('/api/declarations', body(pid, cert, 'not_by_major', { majors }));
    eq(r.status, 201, `declared ${JSON.stringify(r.data)}`);
    return r.data.id;
  };
  const dA = await mk(cA, [{ major: cA.majors[0], students: 60, teachers: 3, trainees: 30 }]);
  const dB = await mk(cB, []);
  const dC = await mk(cC, [{ major: cC.majors[0] }]);
  const prov = await as('province44');
  eq((await prov.post(`/api/admin/declarations/${dA}/review`, { decision: 'approve' })).data.status, 'approved', 'A approved');
  eq((await prov.post(`/api/admin/declarations/${dB}/review`, { decision: 'approve' })).data.status, 'approved', 'B approved');

  const machine = anon();
  const auth = { authorization: `Bearer ${token}` };
  const ask = async (cert, major, y = year, code = s.code) => {
    const r = await machine.get(`/api/eligibility?school=${code}&certificate=${cert.id ?? cert}&year=${y}&major=${major}`, auth);
    eq(r.status, 200, `eligibility ${JSON.stringify(r.data)}`);
    assert(typeof r.data.reason === 'string' && /[\u4e00-\u9fff]/.test(r.data.reason), 'a reason in Chinese');
    return r.data;
  };
  let a = await ask(cA, cA.majors[0]);
  eq([a.eligible, a.declaration_id], [true, dA], 'a declared major: eligible');
  assert(a.reason.includes('申报专业'), a.reason);
  a = await ask(cA, cA.majors[1]);
  eq([a.eligible, a.declaration_id], [false, dA], 'a major of the certificate that was not declared: not eligible');
  assert(a.reason.includes('不在'), a.reason);
  a = await ask(cB, cB.majors[1]);
  eq([a.eligible, a.declaration_id], [true, dB], 'no majors declared: any major of the certificate');
  assert(a.reason.includes('证书对应专业'), a.reason);
  a = await ask(cB, await foreignMajor(cB));
  eq([a.eligible, a.declaration_id], [false, dB], 'no majors declared, a major outside the certificate: not eligible');
  a = await ask(cC, cC.majors[0]);
  eq([a.eligible, a.declaration_id], [false, null], 'a pending declaration: not eligible');
  assert(a.reason.includes('审核通过'), a.reason);
  eq((await ask(cA, cA.majors[0], year + 1)).eligible, false, 'another year: not eligible');
  eq((await ask(cA, cA.majors[0], year, '4993999999')).eligible, false, 'a school not in the master list');
  eq((await ask(99999999, cA.majors[0])).eligible, false, 'an unknown certificate');
  a = await ask(cC, cC.majors[0]);
  eq([a.school, a.certificate, a.year, a.major], [s.code, cC.id, year, cC.majors[0]], 'the answer echoes the question');
  eq(sql('SELECT status FROM declarations WHERE id = ?', dC)[0].status, 'pending', 'C is indeed pending');

  // authentication
  const q = `/api/eligibility?school=${s.code}&certificate=${cA.id}&year=${year}&major=${cA.majors[0]}`;
  fails(await machine.get(q), 401, 'unauthenticated');
  fails(await machine.get(q, { authorization: 'Bearer tok_wrong' }), 401, 'unauthenticated');
  fails(await machine.get(q, { authorization: 'Basic abc' }), 401, 'unauthenticated');
  fails(await s.client.get(q), 403, 'forbidden');
  fails(await (await as('province44')).get(q), 403, 'forbidden');
  eq((await (await as('ops')).get(q)).data.eligible, true, 'an ops session may ask');
  fails(await machine.get(`/api/eligibility?school=123&certificate=x&year=&major=`, auth), 422, 'validation_failed', 'school', 'invalid');
  // the token opens nothing else
  fails(await machine.get('/api/admin/schools', auth), 403, 'forbidden');
  fails(await machine.get('/api/ops/sms', auth), 403, 'forbidden');
  assert(sql('SELECT last_used_at FROM api_tokens WHERE name = ?', `exam-${process.pid}`)[0].last_used_at, 'last use recorded');
});

test('ops: eligibility follows 河北\'s two-level chain: not eligible while pending at the province', async () => {
  const token = S.main.host(['token', 'add', '--name', `exam13-${process.pid}`]).trim();
  const year = 2035;
  const pid = plan('13', 'by_major', { title: '运维测试 河北资格', year });
  const [, , , , cert] = await certificates();
  const s = await freshSchool('13', '1301', '93');
  const d = (await s.client.post('/api/declarations', body(pid, cert, 'by_major'))).data;
  const ask = async () => (await anon().get(`/api/eligibility?school=${s.code}&certificate=${cert.id}&year=${year}&major=${cert.majors[1]}`,
    { authorization: `Bearer ${token}` })).data;
  eq((await ask()).eligible, false, 'pending at the city');
  await (await as('city1301')).post(`/api/admin/declarations/${d.id}/review`, { decision: 'approve' });
  eq((await ask()).eligible, false, 'pending at the province');
  await (await as('province13')).post(`/api/admin/declarations/${d.id}/review`, { decision: 'approve' });
  const a = await ask();
  eq([a.eligible, a.declaration_id], [true, d.id], 'approved: eligible for a declared major');
});

test('ops: eligibility looks at every approved declaration of the year (two batches, different majors)', async () => {
  const token = S.main.host(['token', 'add', '--name', `exam2-${process.pid}`]).trim();
  const year = 2036;
  const p1 = plan('44', 'not_by_major', { title: '运维测试 第一批', year, batch: 1 });
  const p2 = plan('44', 'not_by_major', { title: '运维测试 第二批', year, batch: 2 });
  const cert = (await certificates()).find((c) => c.majors.length >= 3);
  assert(cert, 'a certificate with three majors');
  const s = await freshSchool('44', '4401', '93');
  const prov = await as('province44');
  const ids = [];
  for (const [pid, major] of [[p1, cert.majors[0]], [p2, cert.majors[1]]]) {
    const r = await s.client.post('/api/declarations', body(pid, cert, 'not_by_major', { majors: [{ major }] }));
    eq(r.status, 201, `declared ${JSON.stringify(r.data)}`);
    eq((await prov.post(`/api/admin/declarations/${r.data.id}/review`, { decision: 'approve' })).data.status, 'approved', 'approved');
    ids.push(r.data.id);
  }
  const ask = async (major) => (await anon().get(`/api/eligibility?school=${s.code}&certificate=${cert.id}&year=${year}&major=${major}`,
    { authorization: `Bearer ${token}` })).data;
  eq([(await ask(cert.majors[0])).eligible, (await ask(cert.majors[0])).declaration_id], [true, ids[0]], 'the first batch\'s major');
  const second = await ask(cert.majors[1]);
  eq([second.eligible, second.declaration_id], [true, ids[1]], 'the second batch\'s major too');
  eq((await ask(cert.majors[2])).eligible, false, 'a major neither declared');
});

// The host gives a bearer token's eligibility answer again without running
// the handler while nothing committed (host/http_reuse.h): never an answer
// older than a commit, whether this server made it or another process did.
test('ops: a reused eligibility answer never outlives a commit (a review here, a revocation from another process)', async () => {
  const name = `exam-reuse-${process.pid}`;
  const token = S.main.host(['token', 'add', '--name', name]).trim();
  const year = 2037;
  const pid = plan('44', 'not_by_major', { title: '运维测试 资格复用', year });
  const cert = (await certificates())[4];
  const s = await freshSchool('44', '4401', '93');
  const d = (await s.client.post('/api/declarations', body(pid, cert, 'not_by_major', { majors: [] }))).data;
  const machine = new Client(S.main.base); // one keep-alive connection: one worker
  const auth = { authorization: `Bearer ${token}` };
  const q = `/api/eligibility?school=${s.code}&certificate=${cert.id}&year=${year}&major=${cert.majors[0]}`;
  const reused = async () => Number(/^http_answers_reused_total (\d+)$/m.exec(
    (await Promise.all(S.main.instances.map(async (x) => (await fetch(`${x.base}/metrics`)).text()))).join('\n'))?.[1] ?? NaN);
  const before = await reused();
  for (let i = 0; i < 20; i++) eq((await machine.get(q, auth)).data.eligible, false, `pending: not eligible (${i})`);
  const after = await reused();
  if (S.main.instances.length === 1) {
    // SQLite: twenty asks within a second or two are mostly answered again
    assert(after - before >= 10, `answers reused: ${after - before} of 20`);
  } else {
    eq(after - before, 0, 'PostgreSQL: nothing reused (another instance\'s commit is not seen here)');
  }
  // a commit through the server: the next answer is the new one
  const prov = await as('province44');
  eq((await prov.post(`/api/admin/declarations/${d.id}/review`, { decision: 'approve' })).data.status, 'approved', 'approved');
  let a = (await machine.get(q, auth)).data;
  eq([a.eligible, a.declaration_id], [true, d.id], 'approved: eligible at once');
  eq((await machine.get(q, auth)).data.eligible, true, 'and again');
  // the key is not fooled by a path holding an encoded '?' (2026-12-02):
  // "/api/eligibility" + "q&z=1?x" is not "/api/eligibility?q&z=1" + "x"
  const odd = `${q}&z=1?x`;
  eq((await machine.get(odd, auth)).status, 200, 'an extra parameter is ignored');
  eq((await machine.get(odd, auth)).status, 200, 'and again (reused)');
  fails(await machine.get(odd.replace('/api/eligibility?', '/api/eligibility%3F'), auth), 404, 'not_found');
  // a different token asking the same question is not another's answer
  fails(await machine.get(q, { authorization: 'Bearer tok_not_a_token' }), 401, 'unauthenticated');
  eq((await machine.get(q, auth)).data.eligible, true, 'the real token still');
  // a commit by another process (the token revoked in the database): 401 at once
  sql('UPDATE api_tokens SET revoked = 1 WHERE name = ?', name);
  fails(await machine.get(q, auth), 401, 'unauthenticated');
  fails(await machine.get(q, auth), 401, 'unauthenticated');
  sql('UPDATE api_tokens SET revoked = 0 WHERE name = ?', name);
  a = (await machine.get(q, auth)).data;
  eq([a.eligible, a.declaration_id], [true, d.id], 'restored: eligible again');
  // a declaration withdrawn behind the server's back (another process)
  sql("UPDATE declarations SET status = 'rejected' WHERE id = ?", d.id);
  eq((await machine.get(q, auth)).data.eligible, false, 'rejected elsewhere: not eligible at once');
});

// 2026-12-02: in the certificate dialog the exact major was not first. The
// server answers exact name matches first, then names that begin with the term,
// then names that contain it.
test('ops: a major search ranks the exact name first, then prefix, then contains', async () => {
  const ops = await as('ops');
  const rank = (m, t) => (m.name === t ? 0 : m.name.startsWith(t) ? 1 : 2);
  for (const t of ['建筑工程技术', '建筑', '会计']) {
    const items = (await ops.get(`/api/ops/majors?q=${encodeURIComponent(t)}&size=100`)).data.items;
    assert(items.length > 1 && items.every((m) => m.name.includes(t)), `${t}: matches by name (${items.length})`);
    const ranks = items.map((m) => rank(m, t));
    eq(ranks, [...ranks].sort((a, b) => a - b), `${t}: exact, then prefix, then contains: ${items.slice(0, 8).map((m) => m.name)}`);
    assert(new Set(ranks).size > 1, `${t}: more than one kind of match, so the order is tested`);
  }
  const exact = (await ops.get(`/api/ops/majors?q=${encodeURIComponent('建筑工程技术')}&size=5`)).data.items;
  eq(exact[0].name, '建筑工程技术', 'the exact name on top of the first page');
});
