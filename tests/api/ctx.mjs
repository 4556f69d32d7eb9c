// Shared state and helpers of the API tests: the servers started by
// run.mjs, logged-in clients, fixtures run through `bin/host repl`, and
// valid declaration bodies built from the public catalogue.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, Client, BIN, ROOT } from '../lib/server.mjs';
import { assert, eq } from '../lib/harness.mjs';

export const S = { main: null, limited: null };

// Generous limits on the shared server: all tests log in from 127.0.0.1.
export async function startAll() {
  S.main = await startServer({ env: {
    HOST_LOGIN_PER_CLIENT_5MIN: '10000', HOST_SMS_PER_CLIENT_HOUR: '10000',
  } });
  S.limited = await startServer({ env: { HOST_SMS_PER_CLIENT_HOUR: '3' } });
}

// Servers with their own settings, started on first use by the tests
// that need them and stopped with the others.
const extra = new Map();
export async function server(name, opts) {
  if (!extra.has(name)) extra.set(name, await startServer(opts));
  return extra.get(name);
}

export async function stopAll() {
  for (const s of [S.main, S.limited, ...extra.values()]) if (s) await s.stop();
}

const FIXTURES = join(ROOT, 'tests', 'api', 'fixtures.lua');

// Runs a fixture function (tests/api/fixtures.lua) against server's
// database through the REPL; returns its result.
export function fixture(name, arg, server = S.main) {
  const json = arg === undefined ? '' : `, [==[${JSON.stringify(arg)}]==]`;
  const code = `local F = dofile(${JSON.stringify(FIXTURES)}) F.call(${JSON.stringify(name)}${json})\n`;
  if (code.length > 8000) throw new Error('fixture call too long for one REPL line');
  const out = execFileSync(BIN, ['repl', '--db', server.db], {
    input: code, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
  });
  const line = out.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`fixture ${name}: no result in ${out}`);
  return JSON.parse(line.slice(2));
}

// The rows of a query; `[]` when none.
export function sql(query, ...args) {
  const r = fixture('query', { sql: query, args });
  return Array.isArray(r) ? r : [];
}

// A published plan with any window, in seconds relative to now.
export function plan(province, mode, { starts = -86400, ends = 30 * 86400, year, batch, title } = {}) {
  return fixture('plan', { province, mode, starts, ends, year, batch, title });
}

export function setPlan(id, { starts, ends }) {
  return fixture('set_plan', { id, starts, ends });
}

// A reviewer's decision, until the review API exists.
export function decide(id, status, { level = 'province', comment = null } = {}) {
  const decision = { returned: 'return', approved: 'approve', rejected: 'reject' }[status];
  return fixture('decide', { id, status, level, decision, comment });
}

const clients = new Map();
// A client logged in as username on the main server (cached).
export async function as(username, password = 'Demo12345') {
  const key = `${username}:${password}`;
  if (!clients.has(key)) {
    const c = new Client(S.main.base);
    await c.login(username, password);
    clients.set(key, c);
  }
  return clients.get(key);
}

export function anon(server = S.main) { return new Client(server.base); }

let phoneSeq = 0;
// A fresh mobile number for each registration.
export function newPhone() {
  phoneSeq++;
  return `1591${String(process.pid % 1000).padStart(3, '0')}${String(phoneSeq).padStart(4, '0')}`;
}

// Registers the first unregistered school of city and returns
// {username, password (initial), phone, school, client (not logged in)}.
export async function register(province, city, server = S.main) {
  const c = anon(server);
  const schools = await c.get(`/api/schools?city=${city}`);
  eq(schools.status, 200, 'schools of the city');
  const school = schools.data.find((s) => !s.registered);
  assert(school, `an unregistered school in ${city}`);
  const phone = newPhone();
  const r = await c.post('/api/register', { province, city, school_id: school.id, phone });
  eq(r.status, 201, `register ${JSON.stringify(r.data)}`);
  const sms = server.sms(phone);
  eq(sms.length, 1, 'one SMS to the phone');
  eq(sms[0].template, 'register', 'SMS template');
  eq(sms[0].params.username, r.data.username, 'SMS carries the username');
  assert(sms[0].params.password && sms[0].params.password.length >= 8, 'SMS carries a password');
  assert(sms[0].text.includes(sms[0].params.password), 'the SMS text shows the password');
  return { username: r.data.username, password: sms[0].params.password, phone, school, client: c };
}

// A registered, logged-in school with its initial password changed and,
// unless profile is false, a complete profile.
export async function newSchool(province, city, { profile = true } = {}) {
  const reg = await register(province, city);
  const c = reg.client;
  await c.login(reg.username, reg.password);
  const pw = 'NewPass2024';
  const r = await c.post('/api/password', { old: reg.password, new: pw });
  eq(r.status, 200, `password change ${JSON.stringify(r.data)}`);
  if (profile) {
    const p = await c.put('/api/school/profile', fullProfile());
    eq(p.status, 200, `profile ${JSON.stringify(p.data)}`);
  }
  return { ...reg, password: pw, client: c };
}

export function fullProfile() {
  return {
    address: '测试路 1 号', postcode: '050000', contact_name: '李老师',
    contact_phone: '13912345678', contact_email: 'li@example.edu.cn',
  };
}

let catalogue = null;
// Certificates that have at least two 高职专科 majors, with those major
// codes only (`all_majors` keeps every level): the test schools are 高职 or
// 本科, which may both declare 高职专科 majors.
export async function certificates() {
  if (!catalogue) {
    const r = await anon().get('/api/certificates');
    eq(r.status, 200, 'certificates');
    const levels = new Map((await anon().get('/api/majors')).data.map((m) => [m.code, m.level]));
    catalogue = r.data
      .map((c) => ({ ...c, all_majors: c.majors, majors: c.majors.filter((m) => levels.get(m) === '高职专科') }))
      .filter((c) => c.majors.length >= 2);
    assert(catalogue.length >= 10, 'enough certificates with majors');
  }
  return catalogue;
}

// A major code that the certificate does not correspond to.
export async function foreignMajor(cert) {
  const r = await anon().get('/api/majors');
  const m = r.data.find((x) => x.level === '高职专科' && !(cert.all_majors || cert.majors).includes(x.code));
  assert(m, 'a major outside the certificate');
  return m.code;
}

export const FACULTY = '<p>专任教师 12 人，其中高级职称 4 人。</p>';
export const VENUE = '<p>实训室 3 间，工位 120 个。</p>';

// A complete declaration body for plan and cert.
export function body(planId, cert, mode, extra = {}) {
  const b = { plan_id: planId, certificate_id: cert.id, faculty: FACULTY, venue: VENUE, submit: true };
  if (mode === 'by_major') {
    b.majors = [
      { major: cert.majors[0], students: 120, teachers: 3, trainees: 40 },
      { major: cert.majors[1], students: 80, teachers: 2, trainees: 25 },
    ];
  } else {
    b.trainees_total = 50;
  }
  return { ...b, ...extra };
}

// The demo plan (open, published) of a province, from a school's view.
export async function openPlan(c) {
  const r = await c.get('/api/plans');
  eq(r.status, 200, 'plans');
  const p = r.data.find((x) => x.state === 'open' && x.can_declare && x.title.includes('第一批'));
  assert(p, 'an open demo plan');
  return p;
}

// Asserts an error answer: status, code, and (for 422) a field with code.
export function fails(r, status, code, field, fieldCode) {
  eq(r.status, status, `status (${JSON.stringify(r.data)})`);
  assert(r.data && r.data.error, 'an error body');
  if (code) eq(r.data.error.code, code, 'error code');
  assert(typeof r.data.error.message === 'string' && /[\u4e00-\u9fff]/.test(r.data.error.message),
    'a Chinese error message');
  if (field) {
    const f = (r.data.error.fields || []).find((x) => x.field === field);
    assert(f, `a field error on ${field}: ${JSON.stringify(r.data.error.fields)}`);
    if (fieldCode) eq(f.code, fieldCode, `code of ${field}`);
    assert(/[\u4e00-\u9fff]/.test(f.message), `a Chinese message on ${field}`);
  }
  return r.data.error;
}

export function audit(entity, id) {
  return sql('SELECT action, username, role, before_status, after_status, detail FROM audit_log WHERE entity = ? AND entity_id = ? ORDER BY id', entity, id);
}

// A fresh 10-digit 学校标识码; tag (two digits) keeps each test file's
// codes apart from the others'.
const codeSeqs = {};
export function newSchoolCode(tag) {
  codeSeqs[tag] = (codeSeqs[tag] || 0) + 1;
  return `49${tag}${String(process.pid % 100).padStart(2, '0')}${String(codeSeqs[tag]).padStart(4, '0')}`;
}

// A new school of the master list (added by ops) with a logged-in school
// account with a phone (`host user add`) and a complete profile.
export async function freshSchool(province, city, tag, type = '高职') {
  const code = newSchoolCode(tag);
  const ops = await as('ops');
  const r = await ops.post('/api/admin/schools', { code, name: `测试职业学院${code}`, province, city, type });
  eq(r.status, 201, `school added ${JSON.stringify(r.data)}`);
  const phone = newPhone();
  const username = `t${code}`;
  S.main.host(['user', 'add', '--role', 'school', '--username', username, '--password', 'Pass12345',
    '--school', String(r.data.id), '--phone', phone]);
  const c = new Client(S.main.base);
  await c.login(username, 'Pass12345');
  eq((await c.put('/api/school/profile', fullProfile())).status, 200, 'profile complete');
  return { id: r.data.id, code, name: r.data.name, phone, username, password: 'Pass12345', client: c };
}
