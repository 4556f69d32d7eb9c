// Administration (issue 4): 院校总库管理 (list, search, paging, add,
// correct, deactivate, CSV import), declaration plans (create, edit,
// publish under the province's rules, extend, close early, delete), the
// audit log and the rule sets, each for each role and scope: a city admin
// sees and changes only its city, a province admin only its province, ops
// everything; schools get 403 on /api/admin/*.
import { test, assert, eq } from '../lib/harness.mjs';
import { S, as, anon, fails, certificates, body, plan, sql, newPhone, freshSchool, newSchoolCode } from './ctx.mjs';

const DAY = 86400;

// Invented 学校标识码 of this file: 4991xxxxxx.
const newCode = () => newSchoolCode('91');

// ISO 8601 in Beijing time, seconds from now.
function iso(fromNow) {
  const ms = Date.now() + fromNow * 1000 + 8 * 3600 * 1000;
  return new Date(ms).toISOString().slice(0, 19) + '+08:00';
}


// ---- roles --------------------------------------------------------------

const ADMIN_ENDPOINTS = [
  ['GET', '/api/admin/schools'], ['POST', '/api/admin/schools', { code: '4991000000', name: 'x', type: '高职' }],
  ['POST', '/api/admin/schools/import', { csv: 'code,name,type\n4991000001,x,高职' }],
  ['PUT', '/api/admin/schools/1', { name: 'x' }],
  ['GET', '/api/admin/plans'], ['POST', '/api/admin/plans', { year: 2030, batch: 1, title: 'x', mode: 'by_major' }],
  ['PUT', '/api/admin/plans/1', { title: 'x' }], ['DELETE', '/api/admin/plans/1'],
  ['POST', '/api/admin/plans/1/publish'], ['POST', '/api/admin/plans/1/extend', { ends_at: '2099-01-01T00:00:00+08:00' }],
  ['POST', '/api/admin/plans/1/close'], ['GET', '/api/admin/plans/1/stats'],
  ['GET', '/api/admin/declarations'], ['GET', '/api/admin/declarations.xlsx'],
  ['POST', '/api/admin/declarations/batch-review', { ids: [1], decision: 'approve' }],
  ['GET', '/api/admin/declarations/1'], ['POST', '/api/admin/declarations/1/review', { decision: 'approve' }],
  ['GET', '/api/admin/pilot-schools'], ['GET', '/api/admin/audit'], ['GET', '/api/admin/rules'],
  ['POST', '/api/admin/rules/reload'],
];

test('admin: schools get 403 and anonymous callers 401 on every /api/admin/* endpoint; nothing changes', async () => {
  const school = await as('school131');
  const anonymous = anon();
  const before = sql('SELECT (SELECT count(*) FROM schools) AS s, (SELECT count(*) FROM plans) AS p, (SELECT count(*) FROM reviews) AS r')[0];
  for (const [method, path, b] of ADMIN_ENDPOINTS) {
    const r = await school.req(method, path, method === 'GET' || method === 'DELETE' ? undefined : (b || {}));
    fails(r, 403, 'forbidden');
    const a = await anonymous.req(method, path, method === 'GET' || method === 'DELETE' ? undefined : (b || {}));
    eq(a.status, 401, `anonymous ${method} ${path}`);
  }
  const after = sql('SELECT (SELECT count(*) FROM schools) AS s, (SELECT count(*) FROM plans) AS p, (SELECT count(*) FROM reviews) AS r')[0];
  eq(after, before, 'no school, plan or review was added');
});

test('admin: city admins may not create, edit, publish, extend, close or delete plans nor reload rules (403)', async () => {
  const city = await as('city1301');
  const pid = plan('13', 'by_major', { title: '管理测试 城市无权' });
  fails(await city.post('/api/admin/plans', { year: 2030, batch: 3, title: '城市计划', mode: 'by_major',
    starts_at: iso(0), ends_at: iso(DAY) }), 403, 'forbidden');
  fails(await city.put(`/api/admin/plans/${pid}`, { title: '改名' }), 403, 'forbidden');
  fails(await city.post(`/api/admin/plans/${pid}/publish`), 403, 'forbidden');
  fails(await city.post(`/api/admin/plans/${pid}/extend`, { ends_at: iso(60 * DAY) }), 403, 'forbidden');
  fails(await city.post(`/api/admin/plans/${pid}/close`), 403, 'forbidden');
  fails(await city.del(`/api/admin/plans/${pid}`), 403, 'forbidden');
  fails(await city.post('/api/admin/rules/reload'), 403, 'forbidden');
  const p = sql('SELECT title, status, ends_at - starts_at AS len FROM plans WHERE id = ?', pid)[0];
  eq([p.title, p.status, p.len], ['管理测试 城市无权', 'published', 31 * DAY], 'the plan is unchanged');
  // but a city admin may read its province's plans
  const list = await city.get('/api/admin/plans');
  eq(list.status, 200, 'city reads plans');
  assert(list.data.some((x) => x.id === pid) && list.data.every((x) => x.province === '13'), 'its province\'s plans only');
});

// ---- 院校总库管理 ---------------------------------------------------------

test('admin: school list is scoped, paged and searchable by name or code', async () => {
  const prov = await as('province13');
  const p1 = await prov.get('/api/admin/schools?size=5&page=1');
  eq(p1.status, 200, 'list');
  eq([p1.data.page, p1.data.size, p1.data.items.length], [1, 5, 5], 'page 1 of 5');
  assert(p1.data.total > 10, `河北 has many schools (${p1.data.total})`);
  assert(p1.data.items.every((s) => s.province === '13'), 'province13 sees 河北 only');
  const p2 = await prov.get('/api/admin/schools?size=5&page=2');
  eq(p2.data.total, p1.data.total, 'same total on page 2');
  assert(p2.data.items.every((s) => !p1.data.items.some((x) => x.id === s.id)), 'pages do not overlap');
  const all13 = sql("SELECT count(*) AS n FROM schools WHERE province_code = '13'")[0].n;
  eq(p1.data.total, all13, 'total is every 河北 school');
  const s0 = p1.data.items[0];
  for (const k of ['id', 'code', 'name', 'province', 'city', 'type', 'active']) assert(k in s0, `school has ${k}`);
  assert(/^\d{10}$/.test(s0.code) && typeof s0.active === 'boolean', 'a 10-digit code, a boolean active');

  const byCode = await prov.get(`/api/admin/schools?q=${s0.code}`);
  eq([byCode.data.total, byCode.data.items[0].id], [1, s0.id], 'search by code');
  const word = s0.name.slice(0, 2);
  const byName = await prov.get(`/api/admin/schools?q=${encodeURIComponent(word)}&size=100`);
  assert(byName.data.total >= 1 && byName.data.items.every((s) => s.name.includes(word) || s.code === word),
    'search by name');

  const city = await as('city1301');
  const c = await city.get('/api/admin/schools?size=100');
  assert(c.data.total >= 3 && c.data.items.every((s) => s.city === '1301'), 'city1301 sees 石家庄 only');
  eq(c.data.total, sql("SELECT count(*) AS n FROM schools WHERE city_code = '1301'")[0].n, 'all of its city');
  const outside = await city.get('/api/admin/schools?city=1302');
  eq(outside.data.total, 0, 'a city filter cannot widen the scope');
  const p44 = await prov.get('/api/admin/schools?province=44');
  eq(p44.data.total, 0, 'a province filter cannot widen the scope');

  const ops = await as('ops');
  const o = await ops.get('/api/admin/schools?province=44&size=100');
  assert(o.data.total > 0 && o.data.items.every((s) => s.province === '44'), 'ops sees 广东 with a filter');
  const oall = await ops.get('/api/admin/schools?size=1');
  eq(oall.data.total, sql('SELECT count(*) AS n FROM schools')[0].n, 'ops sees every school');
  fails(await ops.get('/api/admin/schools?size=101'), 400, 'bad_request');
  fails(await ops.get('/api/admin/schools?page=0'), 400, 'bad_request');
});

test('admin: add a school: 10-digit code validated, unique (409), scoped (403 elsewhere), listed publicly', async () => {
  const city = await as('city1301');
  const code = newCode();
  const r = await city.post('/api/admin/schools', { code, name: '石家庄新建职业技术学院', type: '高职' });
  eq(r.status, 201, `created ${JSON.stringify(r.data)}`);
  eq([r.data.code, r.data.province, r.data.city, r.data.active, r.data.registered], [code, '13', '1301', true, false],
    'defaults from the city admin\'s scope');
  const pub = await anon().get('/api/schools?city=1301');
  assert(pub.data.some((s) => s.id === r.data.id && !s.registered), 'the public list offers it for registration');

  for (const bad of ['123456789', '12345678901', '41130abcde', ' ', '']) {
    fails(await city.post('/api/admin/schools', { code: bad, name: '坏代码学院', type: '高职' }),
      422, 'validation_failed', 'code', 'invalid');
  }
  fails(await city.post('/api/admin/schools', { code: 4991099901, name: '数字代码学院', type: '高职' }),
    422, 'validation_failed', 'code', 'type');
  fails(await city.post('/api/admin/schools', { code: newCode(), name: '', type: '大学' }), 422, 'validation_failed', 'name', 'required');
  fails(await city.post('/api/admin/schools', { code: newCode(), name: '类型错误学院', type: '大学' }), 422, 'validation_failed', 'type', 'invalid');
  fails(await city.post('/api/admin/schools', { code, name: '重复学院', type: '高职' }), 409, 'duplicate');
  const prov = await as('province13');
  fails(await prov.post('/api/admin/schools', { code, name: '重复学院', type: '中职', city: '1302' }), 409, 'duplicate');

  // scope: a city admin creates only in its city, a province admin only in its province
  const c2 = newCode();
  fails(await city.post('/api/admin/schools', { code: c2, name: '唐山越权学院', type: '高职', city: '1302' }), 403, 'forbidden');
  fails(await city.post('/api/admin/schools', { code: c2, name: '广州越权学院', type: '高职', province: '44', city: '4401' }), 403, 'forbidden');
  fails(await prov.post('/api/admin/schools', { code: c2, name: '广州越权学院', type: '高职', province: '44', city: '4401' }), 403, 'forbidden');
  fails(await prov.post('/api/admin/schools', { code: c2, name: '错省城市学院', type: '高职', city: '4401' }),
    422, 'validation_failed', 'city', 'not_in_province');
  eq(sql('SELECT count(*) AS n FROM schools WHERE code = ?', c2)[0].n, 0, 'no refused school was stored');

  // a province admin adds in any city of its province; ops anywhere
  const r2 = await prov.post('/api/admin/schools', { code: c2, name: '唐山新建技工学校', type: '技工', city: '1302' });
  eq([r2.status, r2.data.province, r2.data.city], [201, '13', '1302'], 'province13 adds in 唐山');
  const c3 = newCode();
  const ops = await as('ops');
  const r3 = await ops.post('/api/admin/schools', { code: c3, name: '南京新建中等职业学校', type: '中职', province: '32', city: '3201' });
  eq([r3.status, r3.data.province, r3.data.city], [201, '32', '3201'], 'ops adds in 江苏');
  fails(await ops.post('/api/admin/schools', { code: newCode(), name: '无省学院', type: '高职' }), 422, 'validation_failed', 'province');

  // audited, and the audit log is scoped
  const log = await city.get(`/api/admin/audit?entity=school&entity_id=${r.data.id}`);
  eq(log.status, 200, 'audit readable');
  eq(log.data.items.map((x) => [x.action, x.username]), [['school.create', 'city1301']], 'school.create by city1301');
  eq(log.data.items[0].detail.code, code, 'the detail names the code');
  eq((await (await as('province44')).get(`/api/admin/audit?entity=school&entity_id=${r.data.id}`)).data.total, 0,
    'another province does not see it');
  eq((await city.get(`/api/admin/audit?entity=school&entity_id=${r2.data.id}`)).data.total, 0,
    'city1301 does not see 唐山\'s entry');
  eq((await prov.get(`/api/admin/audit?entity=school&entity_id=${r2.data.id}`)).data.items[0].action, 'school.create',
    'province13 sees 唐山\'s entry');
});

test('admin: correct and deactivate a school; out of scope is 404; a deactivated school leaves the public list', async () => {
  const city = await as('city1301');
  const code = newCode();
  const s = (await city.post('/api/admin/schools', { code, name: '待更正学院', type: '中职' })).data;
  const put = await city.put(`/api/admin/schools/${s.id}`, { name: '已更正职业学院', type: '高职' });
  eq([put.status, put.data.name, put.data.type, put.data.code], [200, '已更正职业学院', '高职', code], 'corrected');

  // out of scope: another city or province does not see it at all
  const other = `c1302x${process.pid % 1000}`;
  S.main.host(['user', 'add', '--role', 'city', '--username', other, '--password', 'Demo12345', '--city', '1302']);
  for (const name of [other, 'city4401', 'province44']) {
    const c = await as(name);
    fails(await c.put(`/api/admin/schools/${s.id}`, { name: '越权更名' }), 404, 'not_found');
    const found = await c.get(`/api/admin/schools?q=${code}`);
    eq(found.data.total, 0, `${name} cannot find it`);
  }
  // moving it out of the city admin's scope is refused
  fails(await city.put(`/api/admin/schools/${s.id}`, { city: '1302' }), 403, 'forbidden');
  fails(await city.put(`/api/admin/schools/${s.id}`, { province: '44' }), 403, 'forbidden');
  fails(await (await as('province13')).put(`/api/admin/schools/${s.id}`, { province: '44', city: '4401' }), 403, 'forbidden');
  fails(await city.put(`/api/admin/schools/${s.id}`, { code: '123' }), 422, 'validation_failed', 'code', 'invalid');
  const existing = (await city.get('/api/admin/schools?size=1')).data.items.find((x) => x.id !== s.id);
  fails(await city.put(`/api/admin/schools/${s.id}`, { code: existing.code }), 409, 'duplicate');
  fails(await city.put('/api/admin/schools/99999999', { name: 'x' }), 404, 'not_found');
  const row = sql('SELECT name, code, province_code, city_code, active FROM schools WHERE id = ?', s.id)[0];
  eq([row.name, row.code, row.province_code, row.city_code, row.active], ['已更正职业学院', code, '13', '1301', 1],
    'refused changes changed nothing');

  // the province and ops may correct it too
  const prov = await as('province13');
  eq((await prov.put(`/api/admin/schools/${s.id}`, { name: '省级更正职业学院' })).data.name, '省级更正职业学院', 'province corrects');
  eq((await (await as('ops')).put(`/api/admin/schools/${s.id}`, { name: '运维更正职业学院' })).data.name, '运维更正职业学院', 'ops corrects');

  // deactivate
  assert((await anon().get('/api/schools?city=1301')).data.some((x) => x.id === s.id), 'public before');
  const off = await city.put(`/api/admin/schools/${s.id}`, { active: false });
  eq([off.status, off.data.active], [200, false], 'deactivated');
  assert(!(await anon().get('/api/schools?city=1301')).data.some((x) => x.id === s.id), 'gone from the public list');
  const r = await anon().post('/api/register', { province: '13', city: '1301', school_id: s.id, phone: newPhone() });
  fails(r, 422, 'validation_failed', 'school_id');
  const inactive = await city.get('/api/admin/schools?active=false&size=100');
  assert(inactive.data.items.some((x) => x.id === s.id && x.active === false), 'admins still list it (active=false)');
  assert(!(await city.get('/api/admin/schools?active=true&size=100')).data.items.some((x) => x.id === s.id),
    'not among the active ones');
  fails(await city.put(`/api/admin/schools/${s.id}`, { active: 'no' }), 422, 'validation_failed', 'active');
  const log = (await city.get(`/api/admin/audit?entity=school&entity_id=${s.id}`)).data.items;
  assert(log.some((x) => x.action === 'school.update' && x.before_status === 'active' && x.after_status === 'inactive'),
    'the deactivation is audited');
  eq((await city.put(`/api/admin/schools/${s.id}`, { active: true })).data.active, true, 'reactivated');
  assert((await anon().get('/api/schools?city=1301')).data.some((x) => x.id === s.id), 'public again');
});

test('admin: CSV import: all rows or none, with a per-row report of what was refused and why', async () => {
  const city = await as('city1301');
  const [a, b, c] = [newCode(), newCode(), newCode()];
  const existing = sql("SELECT code FROM schools WHERE city_code = '1301' LIMIT 1")[0].code;
  const bad = [
    'code,name,city,type',
    `${a},导入甲职业学院,,高职`,          // row 2 fine
    `12345,导入乙学院,,高职`,             // row 3 bad code
    `${a},导入甲重复学院,,中职`,          // row 4 duplicate of row 2
    `${existing},已存在学院,,高职`,       // row 5 already in the master list
    `${b},导入丙学院,,大学`,              // row 6 bad type
    `${c},导入丁学院,1302,高职`,          // row 7 another city
  ].join('\n');
  const r = await city.post('/api/admin/schools/import', { csv: bad });
  fails(r, 422, 'import_refused');
  eq(r.data.imported, 0, 'nothing imported');
  eq(r.data.refused.map((x) => x.row), [3, 4, 5, 6, 7], 'the refused rows by number');
  const why = Object.fromEntries(r.data.refused.map((x) => [x.row, x.reason]));
  assert(why[3].includes('10 位'), `row 3: ${why[3]}`);
  assert(why[4].includes('第 2 行'), `row 4: ${why[4]}`);
  assert(why[5].includes('已存在'), `row 5: ${why[5]}`);
  assert(why[6].includes('办学类型'), `row 6: ${why[6]}`);
  assert(/[\u4e00-\u9fff]/.test(why[7]), `row 7: ${why[7]}`);
  eq(r.data.refused[0].code, '12345', 'the report names the code');
  eq(sql('SELECT count(*) AS n FROM schools WHERE code IN (?, ?, ?)', a, b, c)[0].n, 0, 'not half-imported');

  fails(await city.post('/api/admin/schools/import', { csv: 'code,name\n4991999999,缺列学院' }),
    422, 'validation_failed', 'csv', 'missing_column');
  fails(await city.post('/api/admin/schools/import', { csv: '' }), 422, 'validation_failed', 'csv', 'required');

  // as Excel saves it: a BOM, CRLF line ends, a quoted name with a comma
  const good = '\ufeff' + ['code,name,city,type', `${a},导入甲职业学院,,高职`, `${b},"导入丙学院（分校，新区）",1301,中职`, ''].join('\r\n');
  const ok = await city.post('/api/admin/schools/import', { csv: good });
  eq([ok.status, ok.data.imported, ok.data.refused], [200, 2, []], 'two imported');
  const rows = sql('SELECT code, name, province_code, city_code, type, active FROM schools WHERE code IN (?, ?) ORDER BY code', a, b);
  eq(rows.map((x) => [x.name, x.province_code, x.city_code, x.type, x.active]),
    [['导入甲职业学院', '13', '1301', '高职', 1], ['导入丙学院（分校，新区）', '13', '1301', '中职', 1]], 'stored in the city');
  assert((await anon().get('/api/schools?city=1301')).data.some((x) => x.code === a), 'offered publicly');
  eq((await city.get('/api/admin/audit?action=school.import&size=100')).data.items.filter((x) => [a, b].includes(x.detail.code)).length,
    2, 'each imported school audited');
  // ops imports for any province, naming it per row
  const d = newCode();
  const o = await (await as('ops')).post('/api/admin/schools/import', { csv: `code,name,province,city,type\n${d},运维导入学院,44,4401,本科` });
  eq([o.status, o.data.imported], [200, 1], 'ops imports');
  const row = sql('SELECT province_code, city_code FROM schools WHERE code = ?', d)[0];
  eq([row.province_code, row.city_code], ['44', '4401'], 'in 广州');
  // a province admin cannot import into another province
  const e = newCode();
  const p = await (await as('province13')).post('/api/admin/schools/import', { csv: `code,name,province,city,type\n${e},越权导入学院,44,4401,本科` });
  fails(p, 422, 'import_refused');
  eq(sql('SELECT count(*) AS n FROM schools WHERE code = ?', e)[0].n, 0, 'refused');
});

// ---- 申报计划 -------------------------------------------------------------

test('admin: plans: create (draft), edit, publish; schools see only published plans; validation', async () => {
  const prov = await as('province13');
  const school = await as('school131');
  const create = { year: 2031, batch: 1, title: '管理测试 河北计划', mode: 'by_major',
    starts_at: iso(-DAY), ends_at: iso(20 * DAY), notes: '请按时申报' };
  const r = await prov.post('/api/admin/plans', create);
  eq(r.status, 201, `created ${JSON.stringify(r.data)}`);
  eq([r.data.status, r.data.province, r.data.year, r.data.batch, r.data.mode, r.data.notes, r.data.state],
    ['draft', '13', 2031, 1, 'by_major', '请按时申报', 'open'], 'a draft plan');
  assert(/\+08:00$/.test(r.data.starts_at), 'times in Beijing time');
  const id = r.data.id;
  assert(!(await school.get('/api/plans')).data.some((p) => p.id === id), 'a draft is not shown to schools');

  const e = await prov.put(`/api/admin/plans/${id}`, { title: '管理测试 河北计划（修订）', ends_at: iso(25 * DAY), batch: 2 });
  eq([e.status, e.data.title, e.data.batch, e.data.status], [200, '管理测试 河北计划（修订）', 2, 'draft'], 'edited');
  const pub = await prov.post(`/api/admin/plans/${id}/publish`);
  eq([pub.status, pub.data.status], [200, 'published'], 'published');
  assert(pub.data.published_at, 'published_at set');
  const seen = (await school.get('/api/plans')).data.find((p) => p.id === id);
  assert(seen && seen.can_declare && seen.state === 'open', 'now open to 河北 schools');
  assert(!(await (await as('school441')).get('/api/plans')).data.some((p) => p.id === id), 'not to 广东 schools');
  fails(await prov.post(`/api/admin/plans/${id}/publish`), 409, 'published');
  fails(await prov.put(`/api/admin/plans/${id}`, { ends_at: iso(40 * DAY) }), 409, 'published');
  fails(await prov.put(`/api/admin/plans/${id}`, { mode: 'not_by_major' }), 409, 'published');
  eq((await prov.put(`/api/admin/plans/${id}`, { notes: '补充说明' })).data.notes, '补充说明', 'notes editable after publishing');
  const log = (await prov.get(`/api/admin/audit?entity=plan&entity_id=${id}`)).data.items.map((x) => x.action).reverse();
  eq(log, ['plan.create', 'plan.update', 'plan.publish', 'plan.update'], 'audited');

  // validation
  const v = await prov.post('/api/admin/plans', { year: 2018, batch: 0, title: ' ', mode: 'x', starts_at: iso(DAY), ends_at: iso(0) });
  const err = fails(v, 422, 'validation_failed');
  for (const f of ['year', 'batch', 'title', 'mode', 'ends_at']) assert(err.fields.some((x) => x.field === f), `field ${f}`);
  fails(await prov.post('/api/admin/plans', { ...create, starts_at: '2022-13-01' }), 422, 'validation_failed', 'starts_at', 'invalid');

  // scope: another province sees and changes nothing
  const p44 = await as('province44');
  fails(await p44.put(`/api/admin/plans/${id}`, { title: '越权' }), 404, 'not_found');
  fails(await p44.post(`/api/admin/plans/${id}/publish`), 404, 'not_found');
  fails(await p44.get(`/api/admin/plans/${id}/stats`), 404, 'not_found');
  assert(!(await p44.get('/api/admin/plans')).data.some((p) => p.id === id), 'not in 广东\'s list');
  assert((await (await as('ops')).get('/api/admin/plans?province=13')).data.some((p) => p.id === id), 'ops lists it');
});

test('admin: 河北\'s rules refuse to publish a not_by_major plan (422 mode_not_allowed); 广东\'s allow it; ops publishes', async () => {
  const prov = await as('province13');
  const body13 = { year: 2031, batch: 5, title: '管理测试 不按专业', mode: 'not_by_major', starts_at: iso(-DAY), ends_at: iso(DAY) };
  const d = (await prov.post('/api/admin/plans', body13)).data;
  eq(d.status, 'draft', 'a draft may have any mode');
  fails(await prov.post(`/api/admin/plans/${d.id}/publish`), 422, 'validation_failed', 'mode', 'mode_not_allowed');
  eq(sql('SELECT status FROM plans WHERE id = ?', d.id)[0].status, 'draft', 'still a draft');
  // ops is held to the province's rules too
  fails(await (await as('ops')).post(`/api/admin/plans/${d.id}/publish`), 422, 'validation_failed', 'mode', 'mode_not_allowed');
  // corrected, it publishes
  eq((await prov.put(`/api/admin/plans/${d.id}`, { mode: 'by_major' })).data.mode, 'by_major', 'mode corrected');
  eq((await prov.post(`/api/admin/plans/${d.id}/publish`)).data.status, 'published', 'published by_major');

  const ops = await as('ops');
  fails(await ops.post('/api/admin/plans', { ...body13, title: '无省份' }), 422, 'validation_failed', 'province', 'required');
  const g = await ops.post('/api/admin/plans', { ...body13, province: '44', title: '管理测试 广东不按专业' });
  eq([g.status, g.data.province, g.data.status], [201, '44', 'draft'], 'ops creates a 广东 plan');
  eq((await ops.post(`/api/admin/plans/${g.data.id}/publish`)).data.status, 'published', '广东 allows not_by_major');
  const log = (await (await as('province44')).get(`/api/admin/audit?entity=plan&entity_id=${g.data.id}`)).data.items;
  eq(log.map((x) => [x.action, x.username]).reverse(), [['plan.create', 'ops'], ['plan.publish', 'ops']], 'ops\' actions audited for 广东');
});

test('admin: 延期 extends to a later deadline only, close early shuts the window (409 outside_window); both audited', async () => {
  const prov = await as('province13');
  const pid = plan('13', 'by_major', { title: '管理测试 延期', ends: 10 * DAY });
  const before = sql('SELECT ends_at FROM plans WHERE id = ?', pid)[0].ends_at;
  fails(await prov.post(`/api/admin/plans/${pid}/extend`, { ends_at: iso(5 * DAY) }), 422, 'validation_failed', 'ends_at', 'not_later');
  fails(await prov.post(`/api/admin/plans/${pid}/extend`, { ends_at: 'tomorrow' }), 422, 'validation_failed', 'ends_at', 'invalid');
  fails(await (await as('province44')).post(`/api/admin/plans/${pid}/extend`, { ends_at: iso(60 * DAY) }), 404, 'not_found');
  eq(sql('SELECT ends_at FROM plans WHERE id = ?', pid)[0].ends_at, before, 'unchanged by refused extensions');
  const to = iso(20 * DAY);
  const x = await prov.post(`/api/admin/plans/${pid}/extend`, { ends_at: to });
  eq([x.status, x.data.ends_at, x.data.state], [200, to, 'open'], 'extended');
  const ext = (await prov.get(`/api/admin/audit?entity=plan&entity_id=${pid}&action=plan.extend`)).data.items;
  eq(ext.length, 1, 'one plan.extend entry');
  eq([ext[0].username, ext[0].detail.to], ['province13', to], 'who and the new deadline');
  assert(ext[0].detail.from && ext[0].detail.from < to, 'the old deadline');

  // a school declares while open; after closing early it gets 409
  const s = await freshSchool('13', '1301', '91');
  const [c1, c2] = await certificates();
  eq((await s.client.post('/api/declarations', body(pid, c1, 'by_major', { submit: false }))).status, 201, 'declares while open');
  const cl = await prov.post(`/api/admin/plans/${pid}/close`);
  eq([cl.status, cl.data.state], [200, 'closed'], 'closed early');
  const r = await s.client.post('/api/declarations', body(pid, c2, 'by_major'));
  fails(r, 409, 'outside_window');
  const p = (await s.client.get('/api/plans')).data.find((y) => y.id === pid);
  eq([p.state, p.can_declare], ['closed', false], 'the school sees it closed');
  fails(await prov.post(`/api/admin/plans/${pid}/close`), 409, 'closed');
  const acts = (await prov.get(`/api/admin/audit?entity=plan&entity_id=${pid}`)).data.items.map((y) => y.action);
  eq(acts, ['plan.close', 'plan.extend'], 'close and extend audited, newest first');
  // 延期 reopens it
  eq((await prov.post(`/api/admin/plans/${pid}/extend`, { ends_at: iso(3 * DAY) })).data.state, 'open', 'reopened by 延期');
  eq((await s.client.post('/api/declarations', body(pid, c2, 'by_major', { submit: false }))).status, 201, 'declares again');
});

test('admin: a published plan with declarations cannot be deleted (409); a plan without can be', async () => {
  const prov = await as('province44');
  const pid = plan('44', 'not_by_major', { title: '管理测试 删除' });
  const s = await freshSchool('44', '4401', '91');
  const [cert] = await certificates();
  eq((await s.client.post('/api/declarations', body(pid, cert, 'not_by_major', { submit: false }))).status, 201, 'a draft');
  fails(await prov.del(`/api/admin/plans/${pid}`), 409, 'has_declarations');
  fails(await (await as('ops')).del(`/api/admin/plans/${pid}`), 409, 'has_declarations');
  eq(sql('SELECT count(*) AS n FROM plans WHERE id = ?', pid)[0].n, 1, 'still there');
  fails(await (await as('province13')).del(`/api/admin/plans/${pid}`), 404, 'not_found');

  const draft = (await prov.post('/api/admin/plans', { year: 2031, batch: 9, title: '管理测试 草稿删除', mode: 'not_by_major',
    starts_at: iso(0), ends_at: iso(DAY) })).data;
  const del = await prov.del(`/api/admin/plans/${draft.id}`);
  eq([del.status, del.data.ok], [200, true], 'deleted');
  assert(!(await prov.get('/api/admin/plans')).data.some((p) => p.id === draft.id), 'gone from the list');
  fails(await prov.del(`/api/admin/plans/${draft.id}`), 404, 'not_found');
  eq((await prov.get(`/api/admin/audit?entity=plan&entity_id=${draft.id}`)).data.items[0].action, 'plan.delete', 'audited');
});

// ---- 规则 -----------------------------------------------------------------

test('admin: rules: status per caller\'s scope; reload by the province or ops (audited), never by a city (403)', async () => {
  const prov = await as('province13');
  const st = await prov.get('/api/admin/rules');
  eq(st.status, 200, 'rules status');
  const provinces = st.data.sets.map((x) => x.province).sort();
  eq(provinces, ['13', 'default'], '河北 sees its own set and the defaults');
  assert(st.data.version && /\+08:00$/.test(st.data.loaded_at), 'version and load time');
  assert('last_error' in st.data, 'the last load error is reported');
  eq(st.data.sets.find((x) => x.province === '13').name, '河北省示例规则', 'the set\'s name');
  const ops = await as('ops');
  const sets = (await ops.get('/api/admin/rules')).data.sets;
  const all = sets.map((x) => x.province);
  // every province has a version in force (an empty override where the
  // platform ships no file), each named by its stored version
  const provinces31 = sql('SELECT code FROM provinces ORDER BY code').map((r) => r.code);
  eq(all.slice().sort(), [...provinces31, 'default'].sort(), 'ops sees every province\'s set and the defaults');
  assert(sets.every((x) => Number.isInteger(x.version_id) && x.version_id > 0), 'each with its version id');
  eq(sets.find((x) => x.province === '11').name, '全国默认规则', 'a province without its own file runs the defaults');
  // the modes a plan may use, for the plan dialog (issue 10): the province's own, else the defaults'
  eq(st.data.sets.find((x) => x.province === '13').plan_modes, ['by_major'], '河北: by major only');
  eq(sets.find((x) => x.province === '11').plan_modes, ['by_major', 'not_by_major'], 'the defaults\' modes');
  fails(await (await as('city4401')).get('/api/admin/rules'), 403, 'forbidden');   // province and ops only
  assert(st.data.sets.every((x) => /^rules\/[\w]+\.lua$/.test(x.path)), 'no server paths shown');

  fails(await (await as('city1301')).post('/api/admin/rules/reload'), 403, 'forbidden');
  fails(await (await as('school131')).post('/api/admin/rules/reload'), 403, 'forbidden');
  const r = await prov.post('/api/admin/rules/reload');
  eq(r.status, 200, `reloaded ${JSON.stringify(r.data)}`);
  assert(r.data.result && r.data.version, 'the result and the version');
  eq((await ops.post('/api/admin/rules/reload')).status, 200, 'ops reloads');
  const log = (await prov.get('/api/admin/audit?entity=rules')).data.items;
  assert(log.some((x) => x.action === 'rules.reload' && x.username === 'province13'), 'province13\'s reload audited');
  const opsLog = (await ops.get('/api/admin/audit?entity=rules')).data.items;
  assert(opsLog.some((x) => x.username === 'ops') && opsLog.some((x) => x.username === 'province13'), 'ops sees both');
});
