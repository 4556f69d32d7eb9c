// Scope attacks (issue 11's scope.lua): a city admin of one city never
// reaches a declaration of another city of its own province (the demo has
// one city admin a province, so the other tests mostly cross provinces),
// whatever filter it names: every list filter, the export, the view, a
// review, a batch, the attachments, a plan's statistics and the audit log
// answer as if the declaration did not exist (404, or absent), and nothing
// it tries changes anything. The city's own admin sees and reviews it.
import { test, assert, eq } from '../lib/harness.mjs';
import { readSheet } from './xlsx_read.mjs';
import { S, as, fails, certificates, body, plan, sql, freshSchool } from './ctx.mjs';

const PDF = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');

test('a city admin reaches nothing of another city of its province, by any filter', async () => {
  const other = `sa1302x${process.pid % 1000}`;
  S.main.host(['user', 'add', '--role', 'city', '--username', other, '--password', 'Demo12345', '--city', '1302']);
  const school = await freshSchool('13', '1302', '93');
  const pid = plan('13', 'by_major');
  const certs = await certificates();
  const draft = (await school.client.post('/api/declarations', body(pid, certs[0], 'by_major', { submit: false }))).data;
  const att = await school.client.upload(`/api/declarations/${draft.id}/attachments`,
    { name: 'a.pdf', data: PDF, type: 'application/pdf' });
  eq(att.status, 201, `attachment ${JSON.stringify(att.data)}`);
  const sub = await school.client.post(`/api/declarations/${draft.id}/submit`);
  eq([sub.status, sub.data.review_level], [200, 'city'], 'pending at the city');
  const id = draft.id;
  const city = await as('city1301');
  const code = school.code;
  for (const q of ['', `?plan=${pid}`, '?city=1302', `?school=${code}`, '?status=pending', '?level=city',
                   '?mine=1', '?province=13', `?certificate=${certs[0].id}`, '?year=' + sql('SELECT year FROM plans WHERE id = ?', pid)[0].year,
                   `?city=1302&plan=${pid}&mine=1`]) {
    const r = await city.get(`/api/admin/declarations${q}${q ? '&' : '?'}size=100`);
    eq(r.status, 200, `list ${q}`);
    assert(!r.data.items.some((x) => x.id === id), `city1301 does not list it (${q})`);
    const x = await city.get(`/api/admin/declarations.xlsx${q}`);
    eq(x.status, 200, `export ${q}`);
    assert(!readSheet(x.data).some((row) => row[0] === id), `city1301 does not export it (${q})`);
  }
  fails(await city.get(`/api/admin/declarations/${id}`), 404, 'not_found');
  fails(await city.get(`/api/declarations/${id}/attachments/${att.data.id}`), 404, 'not_found');
  fails(await city.post(`/api/admin/declarations/${id}/review`, { decision: 'approve' }), 404, 'not_found');
  const batch = await city.post('/api/admin/declarations/batch-review', { ids: [id], decision: 'approve' });
  eq([batch.status, batch.data.done.length, batch.data.failed[0].code], [200, 0, 'not_found'], 'batch: not found');
  const st = await city.get(`/api/admin/plans/${pid}/stats`);
  eq([st.status, st.data.declared], [200, 0], 'the plan\'s figures hold none of 唐山\'s');
  const log = await city.get(`/api/admin/audit?entity=declaration&entity_id=${id}`);
  eq([log.status, log.data.total], [200, 0], 'no audit rows of it');
  const todo = await city.get('/api/admin/todo');
  assert(!todo.data.by_plan.some((p) => p.plan_id === pid), 'not waiting for city1301');
  const now = sql('SELECT status, review_level FROM declarations WHERE id = ?', id)[0];
  eq([now.status, now.review_level], ['pending', 'city'], 'nothing changed');
  // the city's own admin sees it, its file, and decides it
  const own = await as(other);
  eq((await own.get(`/api/admin/declarations/${id}`)).status, 200, 'the 唐山 admin sees it');
  eq((await own.get(`/api/declarations/${id}/attachments/${att.data.id}`)).status, 200, 'and its file');
  assert((await own.get('/api/admin/declarations?mine=1&size=100')).data.items.some((x) => x.id === id), 'in its queue');
  const ok = await own.post(`/api/admin/declarations/${id}/review`, { decision: 'approve' });
  eq([ok.status, ok.data.status, ok.data.review_level], [200, 'pending', 'province'], 'on to the province');
});
