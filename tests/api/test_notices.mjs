// 通知公告 (issue 13): province admins publish for their province's
// schools, ops for everyone; schools read their province's and the
// national notices, pinned first, newest first; bodies are sanitized.
import { test, assert, eq } from '../lib/harness.mjs';
import { as, anon, audit, fails, sql } from './ctx.mjs';

const stamp = () => `${Date.now()}${Math.floor(Math.random() * 1000)}`;

test('notices: 河北 publishes for 河北 schools only, ops for all; pinned first, then newest; bodies sanitized', async () => {
  const tag = stamp();
  const p13 = await as('province13'), p44 = await as('province44'), ops = await as('ops');
  const a = await p13.post('/api/admin/notices', { title: `河北通知${tag}`,
    body: '<p onclick="alert(1)">请于月底前完成申报。<script>alert(2)</script></p>' });
  eq(a.status, 201, `created ${JSON.stringify(a.data)}`);
  eq([a.data.province, a.data.pinned, a.data.title], ['13', false, `河北通知${tag}`], 'a 河北 notice');
  assert(!/script|onclick/.test(a.data.body) && a.data.body.includes('请于月底前完成申报。'), `sanitized: ${a.data.body}`);
  const pin = await p13.post('/api/admin/notices', { title: `河北置顶${tag}`, body: '<p>置顶</p>', pinned: true });
  const b = await p44.post('/api/admin/notices', { title: `广东通知${tag}`, body: '<p>广东</p>' });
  const n = await ops.post('/api/admin/notices', { title: `全国通知${tag}`, body: '<p>全国</p>' });
  eq([pin.status, b.status, n.status, n.data.province], [201, 201, 201, null], 'the others created');
  const titles = async (who) => (await (await as(who)).get('/api/notices?size=100')).data.items
    .filter((x) => x.title.endsWith(tag)).map((x) => x.title);
  eq(await titles('school131'), [`河北置顶${tag}`, `全国通知${tag}`, `河北通知${tag}`], '河北 school: pinned first, then newest');
  eq(await titles('school441'), [`全国通知${tag}`, `广东通知${tag}`], '广东 school: its own and national');
  eq(await titles('school321'), [`全国通知${tag}`], '江苏 school: national only');
  const r = await (await as('school131')).get('/api/notices');
  eq([r.status, r.data.page, r.data.size], [200, 1, 10], 'a page');
  assert(r.data.items.every((x) => x.author === undefined), 'schools do not see who wrote it');
  const first = r.data.items.findIndex((x) => !x.pinned);
  assert(first === -1 || r.data.items.slice(first).every((x) => !x.pinned), 'pinned ones first');
  fails(await anon().get('/api/notices'), 401, 'unauthenticated');
  eq(audit('notice', a.data.id).map((x) => x.action), ['notice.create'], 'audited');
});

test('notices: bad input is 422 with the field and stores nothing', async () => {
  const p13 = await as('province13');
  const before = sql('SELECT count(*) AS n FROM notices')[0].n;
  fails(await p13.post('/api/admin/notices', { body: '<p>x</p>' }), 422, 'validation_failed', 'title', 'required');
  fails(await p13.post('/api/admin/notices', { title: '   ', body: '<p>x</p>' }), 422, 'validation_failed', 'title', 'required');
  fails(await p13.post('/api/admin/notices', { title: '长'.repeat(101), body: '<p>x</p>' }), 422, 'validation_failed', 'title', 'too_long');
  fails(await p13.post('/api/admin/notices', { title: 't' }), 422, 'validation_failed', 'body', 'required');
  fails(await p13.post('/api/admin/notices', { title: 't', body: '<p> </p><script>x</script>' }), 422, 'validation_failed', 'body', 'required');
  fails(await p13.post('/api/admin/notices', { title: 't', body: '<p>x</p>', pinned: 'yes' }), 422, 'validation_failed', 'pinned', 'type');
  fails(await p13.post('/api/admin/notices', { title: 't', body: '<p>x</p>', province: '44' }), 422, 'validation_failed', 'province', 'forbidden');
  fails(await (await as('ops')).post('/api/admin/notices', { title: 't', body: '<p>x</p>', province: '99' }), 422, 'validation_failed', 'province', 'not_found');
  fails(await p13.post('/api/admin/notices', '[1]'), 400, 'bad_json');
  eq(sql('SELECT count(*) AS n FROM notices')[0].n, before, 'nothing stored');
});

test('notices: who may write: province for its own, ops any; city reads; schools 403; other provinces 404', async () => {
  const tag = stamp();
  const p13 = await as('province13');
  const a = await p13.post('/api/admin/notices', { title: `改前${tag}`, body: '<p>正文</p>' });
  eq(a.status, 201, 'created');
  const u = await p13.put(`/api/admin/notices/${a.data.id}`, { title: `改后${tag}`, pinned: true });
  eq([u.status, u.data.title, u.data.pinned, u.data.body], [200, `改后${tag}`, true, '<p>正文</p>'], 'edited, body kept');
  fails(await (await as('province44')).put(`/api/admin/notices/${a.data.id}`, { title: 'x' }), 404, 'not_found');
  fails(await (await as('province44')).del(`/api/admin/notices/${a.data.id}`), 404, 'not_found');
  fails(await (await as('city1301')).post('/api/admin/notices', { title: 'x', body: '<p>x</p>' }), 403, 'forbidden');
  fails(await (await as('school131')).post('/api/admin/notices', { title: 'x', body: '<p>x</p>' }), 403, 'forbidden');
  fails(await (await as('school131')).get('/api/admin/notices'), 403, 'forbidden');
  const city = await (await as('city1301')).get('/api/admin/notices?size=100');
  assert(city.data.items.some((x) => x.id === a.data.id) && city.data.items.every((x) => x.province === '13'),
    'a city admin lists its province\'s notices');
  const nat = await (await as('ops')).post('/api/admin/notices', { title: `全国${tag}`, body: '<p>x</p>' });
  fails(await p13.put(`/api/admin/notices/${nat.data.id}`, { title: 'x' }), 404, 'not_found');
  const opsList = await (await as('ops')).get('/api/admin/notices?province=national&size=100');
  assert(opsList.data.items.some((x) => x.id === nat.data.id) && opsList.data.items.every((x) => x.province === null),
    'ops filters the national ones');
  eq((await (await as('ops')).put(`/api/admin/notices/${a.data.id}`, { pinned: false })).data.pinned, false, 'ops edits a province\'s');
  eq((await p13.del(`/api/admin/notices/${a.data.id}`)).status, 200, 'deleted');
  fails(await p13.del(`/api/admin/notices/${a.data.id}`), 404, 'not_found');
  eq(audit('notice', a.data.id).map((x) => x.action), ['notice.create', 'notice.update', 'notice.update', 'notice.delete'], 'audited');
});
