// Registration, login, first-login password change, password reset by
// SMS code, CSRF, and the request-level errors (400, 401, 403, 413, 429).
import { test, assert, eq } from '../lib/harness.mjs';
import { Client } from '../lib/server.mjs';
import { S, anon, as, register, newPhone, fails, sql, audit, fullProfile } from './ctx.mjs';

test('public reference data: provinces, cities, schools, certificates, majors', async () => {
  const c = anon();
  const p = await c.get('/api/regions/provinces');
  eq(p.status, 200, 'provinces');
  for (const code of ['11', '13', '32', '44']) assert(p.data.some((x) => x.code === code), `province ${code}`);
  eq(p.data.find((x) => x.code === '13').name, '河北省', 'name of 13');
  const ci = await c.get('/api/regions/cities?province=13');
  eq(ci.status, 200, 'cities');
  assert(ci.data.some((x) => x.code === '1301' && x.name === '石家庄市'), '石家庄市 among the cities of 13');
  assert(ci.data.every((x) => !x.code.startsWith('44')), 'no city of 44 in 13');
  fails(await c.get('/api/regions/cities'), 400, 'bad_request');
  const s = await c.get('/api/schools?city=1301');
  eq(s.status, 200, 'schools');
  assert(s.data.length > 3, 'schools in 1301');
  for (const k of ['id', 'code', 'name', 'type', 'registered']) assert(k in s.data[0], `school has ${k}`);
  assert(s.data.filter((x) => x.registered === true).length >= 3, 'the demo schools are registered');
  assert(s.data.some((x) => x.registered === false), 'some school not yet registered');
  const q = await c.get(`/api/schools?city=1301&q=${encodeURIComponent(s.data[0].name)}`);
  assert(q.data.some((x) => x.id === s.data[0].id), 'search a school by name');
  assert(q.data.length < s.data.length && q.data.every((x) => x.name.includes(s.data[0].name)), 'only matching schools');
  const byCode = await c.get(`/api/schools?city=1301&q=${s.data[1].code}`);
  eq(byCode.data.map((x) => x.id), [s.data[1].id], 'search a school by code');
  eq((await c.get('/api/schools?city=4401')).data.some((x) => x.id === s.data[0].id), false, 'schools of another city');
  const cert = await c.get(`/api/certificates?q=${encodeURIComponent('BIM')}`);
  eq(cert.status, 200, 'certificates');
  assert(cert.data.length >= 1 && cert.data.every((x) => x.name.includes('BIM')), 'search certificates by name');
  for (const k of ['id', 'code', 'name', 'level', 'organization', 'majors']) assert(k in cert.data[0], `certificate has ${k}`);
  const m = await c.get(`/api/majors?certificate=${cert.data[0].id}`);
  eq(m.status, 200, 'majors of a certificate');
  eq(m.data.map((x) => x.code).sort(), [...cert.data[0].majors].sort(), 'the majors of the certificate');
  const all = await c.get('/api/majors');
  assert(all.data.length > m.data.length, 'all majors are more than one certificate\'s');
});

test('register: 201, SMS with account and initial password, school now registered, audit row', async () => {
  const reg = await register('13', '1301');
  const s = await anon().get('/api/schools?city=1301');
  eq(s.data.find((x) => x.id === reg.school.id).registered, true, 'the school shows as registered');
  eq(reg.username, reg.school.code, 'the account name is the school code');
  const acc = sql('SELECT role, province_code, city_code, school_id, phone, must_change_password, password_hash FROM accounts WHERE username = ?', reg.username)[0];
  eq([acc.role, acc.province_code, acc.city_code, acc.school_id, acc.phone, acc.must_change_password],
    ['school', '13', '1301', reg.school.id, reg.phone, 1], 'the stored account');
  assert(acc.password_hash.startsWith('$argon2id$'), 'password stored as an Argon2id hash');
  assert(!acc.password_hash.includes(reg.password), 'not the password itself');
  const a = sql("SELECT action, after_status FROM audit_log WHERE action = 'account.register' AND username = ?", reg.username);
  eq(a.length, 1, 'one audit row for the registration');
});

test('register: 409 for a school that already has an account, no second SMS', async () => {
  const c = anon();
  const s = await c.get('/api/schools?city=1301');
  const taken = s.data.find((x) => x.registered);
  const phone = newPhone();
  const r = await c.post('/api/register', { province: '13', city: '1301', school_id: taken.id, phone });
  fails(r, 409, 'already_registered');
  eq(S.main.sms(phone).length, 0, 'no SMS sent');
  eq(sql('SELECT count(*) AS n FROM accounts WHERE school_id = ?', taken.id)[0].n, 1, 'still one account');
});

test('register: 422 for a bad phone, a school of another city, missing fields', async () => {
  const c = anon();
  const s = (await c.get('/api/schools?city=1301')).data.find((x) => !x.registered);
  for (const phone of ['1380013800', '138001380001', '23800138000', '1380013800a', 13800138000, '']) {
    const r = await c.post('/api/register', { province: '13', city: '1301', school_id: s.id, phone });
    fails(r, 422, 'validation_failed', 'phone', 'invalid');
  }
  const wrongCity = await c.post('/api/register', { province: '44', city: '4401', school_id: s.id, phone: newPhone() });
  fails(wrongCity, 422, 'validation_failed', 'school_id');
  const empty = await c.post('/api/register', { phone: null });
  const e = fails(empty, 422, 'validation_failed', 'province');
  for (const f of ['city', 'school_id', 'phone']) assert(e.fields.some((x) => x.field === f), `field ${f}`);
  eq((await c.get('/api/schools?city=1301')).data.find((x) => x.id === s.id).registered, false, 'nothing registered');
});

test('register: 429 when SMS sends from one client exceed the limit (separate server, limit 3)', async () => {
  const srv = S.limited;
  const c = new Client(srv.base);
  const schools = (await c.get('/api/schools?city=3201')).data.filter((x) => !x.registered);
  for (let i = 0; i < 3; i++) {
    const r = await c.post('/api/register', { province: '32', city: '3201', school_id: schools[i].id, phone: newPhone() });
    eq(r.status, 201, `registration ${i + 1} within the limit`);
  }
  const phone = newPhone();
  const r = await c.post('/api/register', { province: '32', city: '3201', school_id: schools[3].id, phone });
  fails(r, 429, 'rate_limited');
  eq(srv.sms(phone).length, 0, 'no SMS beyond the limit');
  const after = (await c.get('/api/schools?city=3201')).data.find((x) => x.id === schools[3].id);
  eq(after.registered, false, 'no account created when rate limited');
  // password resets from the same client are limited too, alike for known
  // and unknown accounts (a 429 must not tell that an account exists)
  fails(await c.post('/api/password/forgot', { username: 'school321' }), 429, 'rate_limited');
  fails(await c.post('/api/password/forgot', { username: 'no-such-account' }), 429, 'rate_limited');
  eq(srv.sms('13800130301').length, 0, 'no reset code beyond the limit');
});

test('SMS per phone: at most 5 an hour; forgot still answers 202 and sends nothing more', async () => {
  const reg = await register('13', '1301');                  // SMS 1
  const c = anon();
  for (let i = 0; i < 6; i++) {
    const r = await c.post('/api/password/forgot', { username: reg.username });
    eq(r.status, 202, `forgot ${i + 1}`);
  }
  eq(S.main.sms(reg.phone).length, 5, 'five SMS to the phone in the hour');
  eq(S.main.sms(reg.phone).filter((m) => m.template === 'reset_code').length, 4, 'four reset codes');
});

test('login: 401 on a wrong password or unknown account; 401 without a session', async () => {
  const c = anon();
  fails(await c.post('/api/login', { username: 'school131', password: 'wrong-pass1' }), 401, 'bad_credentials');
  fails(await c.post('/api/login', { username: 'nobody-here', password: 'Demo12345' }), 401, 'bad_credentials');
  fails(await c.post('/api/login', { username: 'school131' }), 422, 'validation_failed');
  fails(await c.get('/api/plans'), 401, 'unauthenticated');
  fails(await c.get('/api/declarations'), 401, 'unauthenticated');
  fails(await c.get('/api/me'), 401, 'unauthenticated');
  const ok = await c.post('/api/login', { username: 'school131', password: 'Demo12345' });
  eq(ok.status, 200, 'good login');
  eq([ok.data.role, ok.data.must_change_password], ['school', false], 'role and no forced change');
  assert(/^[0-9a-f]{16,}$/.test(ok.data.csrf_token), 'a csrf token');
  const cookie = ok.headers.get('set-cookie');
  assert(/HttpOnly/i.test(cookie) && /SameSite/i.test(cookie), 'HttpOnly SameSite cookie');
  const me = await c.get('/api/me');
  eq([me.status, me.data.username, me.data.csrf_token], [200, 'school131', ok.data.csrf_token], '/api/me');
  fails(await c.post('/api/logout'), 403, 'csrf');
  const out = await c.post('/api/logout', {}, { 'x-csrf-token': ok.data.csrf_token });
  eq(out.status, 200, 'logout');
  fails(await c.get('/api/me'), 401, 'unauthenticated');
});

test('first login: must_change_password; every other endpoint 403 password_change_required until POST /api/password', async () => {
  const reg = await register('44', '4401');
  const c = reg.client;
  const l = await c.login(reg.username, reg.password);
  eq(l.must_change_password, true, 'must change the initial password');
  eq((await c.get('/api/me')).status, 200, '/api/me is allowed');
  for (const [m, p, b] of [['GET', '/api/school/profile'], ['PUT', '/api/school/profile', fullProfile()],
    ['GET', '/api/plans'], ['GET', '/api/declarations'], ['POST', '/api/declarations', { plan_id: 1 }],
    ['GET', '/api/school/pilot-status']]) {
    fails(await c.req(m, p, b), 403, 'password_change_required');
  }
  fails(await c.post('/api/password', { old: 'wrong', new: 'Another2024' }), 422, 'validation_failed', 'old');
  fails(await c.post('/api/password', { old: reg.password, new: reg.password }), 422, 'validation_failed', 'new');
  fails(await c.post('/api/password', { old: reg.password, new: '123' }), 422, 'validation_failed', 'new');
  const ok = await c.post('/api/password', { old: reg.password, new: 'Another2024' });
  eq(ok.status, 200, 'password changed');
  eq((await c.get('/api/school/profile')).status, 200, 'the profile is reachable now');
  eq((await c.get('/api/me')).data.must_change_password, false, 'no longer forced');
  const again = new Client(S.main.base);
  fails(await again.post('/api/login', { username: reg.username, password: reg.password }), 401, 'bad_credentials');
  eq((await again.login(reg.username, 'Another2024')).must_change_password, false, 'new password works');
  const a = sql("SELECT count(*) AS n FROM audit_log WHERE action = 'account.password' AND username = ?", reg.username);
  eq(a[0].n, 1, 'password change audited');
});

test('sessions: a password change ends the other sessions; 5 wrong passwords lock the account', async () => {
  const reg = await register('44', '4401');
  const a = new Client(S.main.base), b = new Client(S.main.base);
  await a.login(reg.username, reg.password);
  await b.login(reg.username, reg.password);
  eq((await a.post('/api/password', { old: reg.password, new: 'Changed2024' })).status, 200, 'changed in a');
  eq((await a.get('/api/school/profile')).status, 200, 'a goes on');
  fails(await b.get('/api/me'), 401, 'unauthenticated');
  const c = new Client(S.main.base);
  for (let i = 0; i < 5; i++) {
    fails(await c.post('/api/login', { username: reg.username, password: `Wrong${i}pass` }), 401, 'bad_credentials');
  }
  fails(await c.post('/api/login', { username: reg.username, password: 'Changed2024' }), 429, 'locked');
  const locked = sql('SELECT locked_until FROM accounts WHERE username = ?', reg.username)[0].locked_until;
  assert(locked > Date.now() / 1000, 'locked for a while');
});

test('CSRF: 403 without or with a wrong X-CSRF-Token on state-changing requests', async () => {
  const c = await as('school132');
  const noToken = new Client(S.main.base);
  noToken.cookie = c.cookie;               // the session, without the token
  const before = sql('SELECT count(*) AS n FROM declarations')[0].n;
  fails(await noToken.post('/api/declarations', { plan_id: 1, certificate_id: 1 }), 403, 'csrf');
  eq(sql('SELECT count(*) AS n FROM declarations')[0].n, before, 'nothing created');
  fails(await noToken.put('/api/school/profile', fullProfile()), 403, 'csrf');
  fails(await noToken.post('/api/logout'), 403, 'csrf');
  const d = await c.post('/api/declarations', { plan_id: 1, certificate_id: 1, submit: false });
  eq([d.status, d.data.status], [201, 'draft'], 'with the token it works');
  fails(await noToken.del(`/api/declarations/${d.data.id}`), 403, 'csrf');
  fails(await noToken.post(`/api/declarations/${d.data.id}/submit`), 403, 'csrf');
  eq(sql('SELECT status FROM declarations WHERE id = ?', d.data.id)[0].status, 'draft', 'still there, still a draft');
  eq((await c.del(`/api/declarations/${d.data.id}`)).status, 200, 'deleted with the token');
  fails(await noToken.post('/api/declarations', { plan_id: 1 }, { 'x-csrf-token': 'f'.repeat(48) }), 403, 'csrf');
  eq((await noToken.get('/api/school/profile')).status, 200, 'GET needs no token');
  eq((await c.get('/api/me')).status, 200, 'the session still works');
});

test('400 for malformed JSON or a non-object body; 413 for a body over 1 MiB', async () => {
  const c = await as('school132');
  fails(await c.post('/api/declarations', '{"plan_id": 1,'), 400, 'bad_json');
  fails(await c.post('/api/declarations', '[1, 2]'), 400, 'bad_json');
  fails(await c.put('/api/school/profile', 'not json'), 400, 'bad_json');
  fails(await anon().post('/api/register', '{province:13}'), 400, 'bad_json');
  fails(await anon().post('/api/login', '"x"'), 400, 'bad_json');
  const big = JSON.stringify({ plan_id: 1, certificate_id: 1, faculty: 'x'.repeat(1024 * 1024 + 10) });
  const r = await c.post('/api/declarations', big);
  eq(r.status, 413, 'body over 1 MiB');
  eq(r.data.error.code, 'too_large', 'code too_large');
  const r2 = await anon().post('/api/register', JSON.stringify({ phone: '1'.repeat(1100000) }));
  eq(r2.status, 413, 'public endpoints too');
  eq((await c.get('/api/me')).status, 200, 'the server goes on');
});

test('an empty JSON object {} is a validation error (422), not malformed JSON (400)', async () => {
  // docs/api.md: 400 is for malformed JSON; {} is a well-formed object
  // with every field missing.
  const e = fails(await anon().post('/api/register', '{}'), 422, 'validation_failed', 'phone');
  assert(e.fields.some((f) => f.field === 'school_id'), 'school_id reported');
  fails(await anon().post('/api/login', '{}'), 422, 'validation_failed');
});

test('forgot/reset password: code by SMS, wrong code 422, reset works once, old password dead', async () => {
  const reg = await register('11', '1101');
  const c = anon();
  const f = await c.post('/api/password/forgot', { username: reg.username });
  eq(f.status, 202, 'forgot 202');
  const unknown = await c.post('/api/password/forgot', { username: 'no-such-account' });
  eq([unknown.status, unknown.data], [f.status, f.data], 'same answer for an unknown account');
  const msgs = S.main.sms(reg.phone).filter((m) => m.template === 'reset_code');
  eq(msgs.length, 1, 'one reset code sent to the registered phone');
  const code = msgs[0].params.code;
  assert(/^\d{6}$/.test(code), 'a 6-digit code');
  const wrong = code === '000000' ? '111111' : '000000';
  fails(await c.post('/api/password/reset', { username: reg.username, code: wrong, new: 'Reset2024x' }),
    422, 'validation_failed', 'code', 'invalid_code');
  fails(await c.post('/api/password/reset', { username: reg.username, code, new: '1' }),
    422, 'validation_failed', 'new');
  const ok = await c.post('/api/password/reset', { username: reg.username, code, new: 'Reset2024x' });
  eq(ok.status, 200, 'reset 200');
  fails(await c.post('/api/password/reset', { username: reg.username, code, new: 'Reset2024y' }),
    422, 'validation_failed', 'code');
  fails(await c.post('/api/login', { username: reg.username, password: reg.password }), 401, 'bad_credentials');
  const l = await new Client(S.main.base).login(reg.username, 'Reset2024x');
  eq(l.must_change_password, false, 'the chosen password needs no change');
  eq(sql("SELECT count(*) AS n FROM audit_log WHERE action = 'account.password_reset' AND username = ?", reg.username)[0].n,
    1, 'reset audited');
});
