// The admins' queue at scale (issue 11, schema/019): pages by page/size
// (also past the middle, which are read from the list's end) and by
// cursor (?after=, the answer's next) are the same rows in the list's
// order with the same total; a bad cursor is 400; a school that moves city
// or province takes its declarations along: lists, the view, 待我审核 and
// a plan's statistics of the old and the new place.
import { test, assert, eq } from '../lib/harness.mjs';
import { as, fails, certificates, body, plan, freshSchool } from './ctx.mjs';

// Invented 学校标识码 of this file: 4919xxxxxx.
const TAG = '19';

async function declare(school, pid, cert, extra) {
  const r = await school.client.post('/api/declarations', body(pid, cert, 'by_major', extra));
  eq(r.status, 201, `declared ${JSON.stringify(r.data)}`);
  return r.data;
}

const list = async (c, q) => {
  const r = await c.get(`/api/admin/declarations?${q}`);
  eq(r.status, 200, `list ${q}: ${JSON.stringify(r.data)}`);
  return r.data;
};

// Every id of a list, page by page (page/size), and by following next.
async function byPages(c, q, size) {
  const ids = [];
  let total = null;
  for (let page = 1; page < 50; page++) {
    const r = await list(c, `${q}&page=${page}&size=${size}`);
    if (total !== null) eq(r.total, total, `${q}: the same total on page ${page}`);
    total = r.total;
    eq(r.page, page, 'page');
    ids.push(...r.items.map((x) => x.id));
    if (r.items.length < size) break;
  }
  return { ids, total };
}

async function byCursor(c, q, size) {
  const ids = [];
  let total = null, after = null;
  for (let i = 0; i < 50; i++) {
    const r = await list(c, `${q}&size=${size}${after ? `&after=${after}` : ''}`);
    if (total !== null) eq(r.total, total, `${q}: a cursor's page has the whole list's total`);
    total = r.total;
    ids.push(...r.items.map((x) => x.id));
    if (r.next === null) break;
    assert(/^\d+\.\d+$/.test(r.next), `a cursor: ${r.next}`);
    after = r.next;
  }
  return { ids, total };
}

test('queue: page/size pages (from either end) and ?after= cursors read the same rows in order, with the total', async () => {
  const pid = plan('13', 'by_major', { title: '队列分页测试' });
  const certs = await certificates();
  const schools = [await freshSchool('13', '1301', TAG), await freshSchool('13', '1301', TAG),
    await freshSchool('13', '1301', TAG)];
  const made = [];
  for (const s of schools) for (const cert of certs.slice(0, 2)) made.push((await declare(s, pid, cert)).id);
  await declare(schools[0], pid, certs[2], { submit: false }); // a draft: never listed

  const prov = await as('province13'), city = await as('city1301');
  const all = await list(prov, `plan=${pid}&page=1&size=100`);
  eq(all.total, 6, 'six submitted');
  eq(all.next, null, 'a short page has no next');
  eq([...all.items.map((x) => x.id)].sort((a, b) => a - b), [...made].sort((a, b) => a - b), 'the submitted ones');
  for (let i = 1; i < all.items.length; i++) {
    const [a, b] = [all.items[i - 1], all.items[i]];
    assert(a.submitted_at > b.submitted_at || (a.submitted_at === b.submitted_at && a.id > b.id),
      `newest submission first, then the higher id: ${JSON.stringify([a, b].map((x) => [x.submitted_at, x.id]))}`);
  }
  const order = all.items.map((x) => x.id);
  for (const size of [1, 2, 4, 5]) {
    const pages = await byPages(prov, `plan=${pid}`, size);
    eq(pages.ids, order, `pages of ${size}`);
    eq(pages.total, 6, 'total');
    const cursor = await byCursor(prov, `plan=${pid}`, size);
    eq(cursor.ids, order, `a cursor, pages of ${size}`);
    eq(cursor.total, 6, 'total after a cursor');
  }
  const past = await list(prov, `plan=${pid}&page=9&size=4`);
  eq([past.total, past.items.length, past.next], [6, 0, null], 'past the end');

  // 待我审核 at the city, by cursor too; a decision moves one to the province
  eq((await byCursor(city, `plan=${pid}&mine=1`, 4)).ids, order, 'the city: all six wait for it');
  const r = await city.post(`/api/admin/declarations/${order[0]}/review`, { decision: 'approve' });
  eq(r.status, 200, 'approved at the city');
  eq((await list(city, `plan=${pid}&mine=1`)).total, 5, 'five at the city');
  eq((await list(prov, `plan=${pid}&mine=1`)).items.map((x) => x.id), [order[0]], 'one at the province');
  eq((await list(prov, `plan=${pid}&level=city&size=2`)).total, 5, 'by level');

  for (const bad of ['abc', '1.2.3', '-1.5', '1', '1.x']) {
    fails(await prov.get(`/api/admin/declarations?plan=${pid}&after=${bad}`), 400, 'bad_request');
  }
});

test('queue: a school that moves city, then province, takes its declarations to the new place', async () => {
  const pid = plan('13', 'by_major', { title: '学校迁移测试' });
  const [cert] = await certificates();
  const s = await freshSchool('13', '1301', TAG);
  const d = await declare(s, pid, cert);
  eq([d.status, d.review_level], ['pending', 'city'], 'at the city');
  const ops = await as('ops'), prov13 = await as('province13'), city1301 = await as('city1301');
  const prov44 = await as('province44'), city4401 = await as('city4401');
  const q = `plan=${pid}&page=1&size=10`;
  eq((await list(city1301, q)).total, 1, 'its city sees it');

  eq((await ops.put(`/api/admin/schools/${s.id}`, { city: '1302' })).status, 200, 'moved to 唐山');
  eq((await list(city1301, q)).total, 0, 'the city it left: no longer');
  eq((await list(city1301, `${q}&mine=1`)).total, 0, 'nor waiting for it');
  fails(await city1301.get(`/api/admin/declarations/${d.id}`), 404, 'not_found');
  const p13 = await list(prov13, q);
  eq([p13.total, p13.items[0].city], [1, '1302'], 'the province: in its new city');
  eq((await list(prov13, `${q}&city=1302`)).total, 1, '?city= the new one');
  eq((await list(prov13, `${q}&city=1301`)).total, 0, '?city= the old one');

  eq((await ops.put(`/api/admin/schools/${s.id}`, { province: '44', city: '4401' })).status, 200, 'moved to 广州');
  eq((await list(prov13, q)).total, 0, 'the province it left: no longer');
  fails(await prov13.get(`/api/admin/declarations/${d.id}`), 404, 'not_found');
  eq((await list(prov44, q)).items.map((x) => [x.id, x.province, x.city]), [[d.id, '44', '4401']], 'the new province');
  eq((await list(city4401, `${q}&mine=1`)).total, 1, 'waits for the new city');
  eq((await prov44.get(`/api/admin/declarations/${d.id}`)).status, 200, 'the new province views it');
  const todo = (await city4401.get('/api/admin/todo')).data;
  eq(todo.by_plan.filter((x) => x.plan_id === pid).map((x) => x.pending), [1], 'in the new city\'s 待我审核');
  const st = (await ops.get(`/api/admin/plans/${pid}/stats`)).data;
  eq([st.declared, st.by_city.map((x) => x.city)], [1, ['4401']], 'the plan\'s statistics: by its new city');
});
