// Declarations: the checks on every save and on submit, the province rules
// (河北, 江苏, 广东), plan windows and grace, uniqueness, the status
// machine (edit, submit, delete), the list with paging, rules_version and
// the audit log.
import { test, assert, eq } from '../lib/harness.mjs';
import {
  as, fails, certificates, foreignMajor, body, plan, setPlan, decide, sql, audit, fixture,
  newSchool, VENUE,
} from './ctx.mjs';

const DAY = 86400;

// Opens several keep-alive connections so that the requests that follow
// really run at the same time on the server's threads.
async function warm(c) {
  await Promise.all(Array.from({ length: 8 }, () => c.get('/api/me')));
}

test('counts must be non-negative integers: 3.5, -1, "abc" are 422 with the field path', async () => {
  const c = await as('school133');
  const pid = plan('13', 'by_major');
  const [cert] = await certificates();
  const b = body(pid, cert, 'by_major', {
    majors: [
      { major: cert.majors[0], students: 3.5, teachers: -1, trainees: 'abc' },
      { major: cert.majors[1], students: '12', teachers: null, trainees: 1e9 },
    ],
  });
  for (const submit of [false, true]) {
    const e = fails(await c.post('/api/declarations', { ...b, submit }), 422, 'validation_failed',
      'majors[0].students', 'not_count');
    for (const f of ['majors[0].teachers', 'majors[0].trainees', 'majors[1].students', 'majors[1].trainees']) {
      assert(e.fields.some((x) => x.field === f && x.code === 'not_count'), `${f} not_count (submit ${submit})`);
    }
  }
  const pid2 = plan('11', 'not_by_major');
  const c11 = await as('school113');
  const [, cert2] = await certificates();
  for (const v of [3.5, -1, 'abc', true]) {
    fails(await c11.post('/api/declarations', body(pid2, cert2, 'not_by_major', { trainees_total: v, submit: false })),
      422, 'validation_failed', 'trainees_total', 'not_count');
  }
  fails(await c11.post('/api/declarations', body(pid2, cert2, 'not_by_major', { certificate_id: 'x' })),
    422, 'validation_failed', 'certificate_id');
  fails(await c11.post('/api/declarations', body(pid2, cert2, 'not_by_major', { submit: 'yes' })),
    422, 'validation_failed', 'submit');
  fails(await c11.post('/api/declarations', body(pid2, cert2, 'not_by_major', { plan_id: '1' })),
    422, 'validation_failed', 'plan_id');
  fails(await c11.post('/api/declarations', body(pid2, cert2, 'not_by_major', { certificate_id: 999999 })),
    422, 'validation_failed', 'certificate_id', 'not_found');
  eq(sql('SELECT count(*) AS n FROM declarations WHERE plan_id IN (?, ?)', pid, pid2)[0].n, 0, 'nothing stored');
});

test('by major: at least one major, total computed by the server, majors of the certificate only', async () => {
  const c = await as('school322');
  const pid = plan('32', 'by_major');
  const certs = await certificates();
  const cert = certs[0];
  const none = await c.post('/api/declarations', body(pid, cert, 'by_major', { majors: [] }));
  fails(none, 422, 'validation_failed', 'majors', 'required');
  const foreign = await foreignMajor(cert);
  const e = fails(await c.post('/api/declarations', body(pid, cert, 'by_major', {
    majors: [{ major: cert.majors[0], students: 10, teachers: 2, trainees: 5 },
      { major: foreign, students: 10, teachers: 2, trainees: 5 }],
  })), 422, 'validation_failed', 'majors[1].major', 'not_for_certificate');
  assert(!e.fields.some((f) => f.field === 'majors[0].major'), 'the first major is fine');
  fails(await c.post('/api/declarations', body(pid, cert, 'by_major', {
    majors: [{ major: cert.majors[0], students: 10, teachers: 2, trainees: 5 },
      { major: cert.majors[0], students: 10, teachers: 2, trainees: 5 }],
  })), 422, 'validation_failed', 'majors[1].major', 'duplicate');
  fails(await c.post('/api/declarations', body(pid, cert, 'by_major', { majors: {} , submit: true })),
    422, 'validation_failed', 'majors');
  // a draft may have no majors at all
  const d = await c.post('/api/declarations', body(pid, cert, 'by_major', { majors: [], submit: false }));
  eq([d.status, d.data.status, d.data.trainees_total], [201, 'draft', 0], 'a draft without majors');
  const u = await c.put(`/api/declarations/${d.data.id}`, body(pid, cert, 'by_major', { trainees_total: 1, submit: true }));
  eq([u.status, u.data.status, u.data.trainees_total], [200, 'pending', 65], 'sent total ignored, sum stored');
  eq(sql('SELECT trainees_total FROM declarations WHERE id = ?', d.data.id)[0].trainees_total, 65, 'stored sum');
  eq(u.data.majors.map((m) => [m.major, m.students, m.teachers, m.trainees]),
    [[cert.majors[0], 120, 3, 40], [cert.majors[1], 80, 2, 25]], 'majors stored in order');
  // all trainees zero: nothing to train
  fails(await c.post('/api/declarations', body(pid, certs[1], 'by_major', {
    majors: [{ major: certs[1].majors[0], students: 10, teachers: 2, trainees: 0 }],
  })), 422, 'validation_failed', 'trainees_total', 'min');
});

test('not by major: trainees_total required on submit, majors optional but of the certificate', async () => {
  const c = await as('school442');
  const pid = plan('44', 'not_by_major');
  const certs = await certificates();
  const noTotal = body(pid, certs[0], 'not_by_major');
  delete noTotal.trainees_total;
  fails(await c.post('/api/declarations', noTotal), 422, 'validation_failed', 'trainees_total', 'required');
  fails(await c.post('/api/declarations', { ...noTotal, trainees_total: 0 }), 422, 'validation_failed', 'trainees_total', 'min');
  const draft = await c.post('/api/declarations', { ...noTotal, submit: false });
  eq([draft.status, draft.data.status], [201, 'draft'], 'a draft without a total');
  fails(await c.post(`/api/declarations/${draft.data.id}/submit`), 422, 'validation_failed', 'trainees_total', 'required');
  const noMajors = await c.post('/api/declarations', body(pid, certs[1], 'not_by_major'));
  eq([noMajors.status, noMajors.data.status, noMajors.data.trainees_total, noMajors.data.majors],
    [201, 'pending', 50, []], 'submitted without majors');
  const withMajors = await c.post('/api/declarations', body(pid, certs[2], 'not_by_major', {
    majors: [{ major: certs[2].majors[0] }], trainees_total: 30,
  }));
  eq([withMajors.status, withMajors.data.trainees_total, withMajors.data.majors.map((m) => m.major)],
    [201, 30, [certs[2].majors[0]]], 'majors optional, counts optional');
  fails(await c.post('/api/declarations', body(pid, certs[3], 'not_by_major', {
    majors: [{ major: await foreignMajor(certs[3]) }],
  })), 422, 'validation_failed', 'majors[0].major', 'not_for_certificate');
});

test('a draft may be incomplete; submit checks everything', async () => {
  const c = await as('school323');
  const pid = plan('32', 'by_major');
  const [cert] = await certificates();
  const r = await c.post('/api/declarations', { plan_id: pid, certificate_id: cert.id });
  eq([r.status, r.data.status, r.data.faculty, r.data.venue], [201, 'draft', '', ''], 'a bare draft (submit omitted)');
  const e = fails(await c.post(`/api/declarations/${r.data.id}/submit`), 422, 'validation_failed', 'faculty', 'required');
  for (const f of ['venue', 'majors']) assert(e.fields.some((x) => x.field === f), `${f} reported`);
  const e2 = fails(await c.put(`/api/declarations/${r.data.id}`, {
    certificate_id: cert.id, majors: [{ major: cert.majors[0] }], faculty: '<p> </p>', venue: VENUE, submit: true,
  }), 422, 'validation_failed', 'faculty', 'required');
  for (const f of ['majors[0].students', 'majors[0].teachers', 'majors[0].trainees']) {
    assert(e2.fields.some((x) => x.field === f && x.code === 'required'), `${f} required`);
  }
  eq(sql('SELECT status, rules_version FROM declarations WHERE id = ?', r.data.id)[0], { status: 'draft' },
    'nothing changed by a failed submit');
  eq(sql('SELECT count(*) AS n FROM declaration_majors WHERE declaration_id = ?', r.data.id)[0].n, 0,
    'a failed save stores no majors');
});

// 2026-12-02: a draft's warnings are what submitting would find (api.md): the
// rules ran with submit=false for a draft, so no "required" finding came back.
test('a draft is saved with the warnings submitting would give (required fields too)', async () => {
  const c = await as('school322');
  const pid = plan('32', 'by_major');
  const [cert] = await certificates();
  const r = await c.post('/api/declarations', { plan_id: pid, certificate_id: cert.id, majors: [{ major: cert.majors[0] }], submit: false });
  eq([r.status, r.data.status], [201, 'draft'], 'the draft is saved');
  const warned = r.data.warnings.map((w) => `${w.field}:${w.code}`).sort();
  const e = fails(await c.post(`/api/declarations/${r.data.id}/submit`), 422, 'validation_failed');
  const refused = e.fields.map((f) => `${f.field}:${f.code}`).sort();
  for (const f of ['faculty:required', 'venue:required', 'majors[0].students:required', 'majors[0].teachers:required', 'majors[0].trainees:required']) {
    assert(warned.includes(f), `${f} among the warnings: ${warned}`);
  }
  eq(warned, refused, 'the warnings are what submitting finds');
  assert(r.data.warnings.every((w) => /[\u4e00-\u9fff]/.test(w.message)), 'each with its message in Chinese');
  // editing it (PUT, 保存) answers the same way; a complete draft has none
  const u = await c.put(`/api/declarations/${r.data.id}`, { certificate_id: cert.id, majors: [{ major: cert.majors[0] }], submit: false });
  eq([u.status, u.data.warnings.map((w) => `${w.field}:${w.code}`).sort()], [200, refused], 'PUT 保存 warns alike');
  const full = await c.put(`/api/declarations/${r.data.id}`, body(pid, cert, 'by_major', { submit: false }));
  eq([full.status, full.data.status, full.data.warnings], [200, 'draft', []], 'a complete draft: no warnings, still a draft');
  eq((await c.del(`/api/declarations/${r.data.id}`)).status, 200, 'cleaned up');
});

test('rich text is sanitized: no script, event handlers, javascript: URLs or styles', async () => {
  const c = await as('school443');
  const pid = plan('44', 'not_by_major');
  const [cert] = await certificates();
  const dirty = '<p onclick="steal()" style="display:none">师资<script>alert(1)</script>'
    + '<a href="javascript:alert(2)">链接</a><img src=x onerror="alert(3)">'
    + '<span style="color:red">红</span><strong>强</strong><iframe src="https://evil"></iframe></p>'
    + '<style>p{display:none}</style><a href="https://example.com" onmouseover="x()">好链接</a>';
  const r = await c.post('/api/declarations', body(pid, cert, 'not_by_major', { faculty: dirty, venue: '<ul><li>场地</li></ul>' }));
  eq(r.status, 201, `saved ${JSON.stringify(r.data)}`);
  const f = r.data.faculty;
  for (const bad of ['<script', 'alert(1)', 'onclick', 'onerror', 'onmouseover', 'javascript:', 'style', '<iframe', 'display:none']) {
    assert(!f.toLowerCase().includes(bad), `"${bad}" removed from ${f}`);
  }
  for (const good of ['师资', '链接', '红', '<strong>强</strong>', '好链接', 'https://example.com']) {
    assert(f.includes(good), `"${good}" kept in ${f}`);
  }
  eq(r.data.venue, '<ul><li>场地</li></ul>', 'clean markup kept as it is');
  const sneaky = ['<a href=" JaVaScRiPt:alert(1)">a</a>', '<a href="&#106;avascript:alert(1)">b</a>',
    '<a href="java\tscript:alert(1)">c</a>', '<a href="data:text/html,x">d</a>', '<svg onload="alert(1)"><script>x()</script></svg>'];
  const r2 = await c.post('/api/declarations', body(pid, (await certificates())[1], 'not_by_major', { faculty: sneaky.join(''), submit: false }));
  eq(r2.status, 201, 'saved');
  for (const bad of ['href', 'script', 'onload', 'alert', 'svg']) {
    assert(!r2.data.faculty.toLowerCase().includes(bad), `"${bad}" removed from ${r2.data.faculty}`);
  }
  for (const good of ['a', 'b', 'c', 'd']) assert(r2.data.faculty.includes(`>${good}<`), `text ${good} kept`);
  const stored = sql('SELECT faculty FROM declarations WHERE id = ?', r.data.id)[0].faculty;
  eq(stored, f, 'the sanitized text is what is stored');
});

test('rich text: at most 1000 visible characters (code points, tags not counted)', async () => {
  const c = await as('school443');
  const pid = plan('44', 'not_by_major');
  const certs = await certificates();
  const exact = `<p>${'师'.repeat(1000)}</p>`;
  const r1 = await c.post('/api/declarations', body(pid, certs[0], 'not_by_major', { faculty: exact }));
  eq([r1.status, r1.data.status], [201, 'pending'], 'exactly 1000 Chinese characters are fine');
  const tagged = '<p>' + '<strong>场</strong>'.repeat(1000) + '</p>';
  const r2 = await c.post('/api/declarations', body(pid, certs[1], 'not_by_major', { venue: tagged }));
  eq(r2.status, 201, 'tags are not counted');
  const emoji = '😀'.repeat(1000);
  const r3 = await c.post('/api/declarations', body(pid, certs[2], 'not_by_major', { venue: emoji }));
  eq(r3.status, 201, '1000 code points outside the BMP are fine');
  const entities = '&lt;'.repeat(1000);
  const r4 = await c.post('/api/declarations', body(pid, certs[4], 'not_by_major', { venue: entities }));
  eq(r4.status, 201, 'an entity is one character');
  fails(await c.post('/api/declarations', body(pid, certs[5], 'not_by_major', { venue: entities + '&amp;' })),
    422, 'validation_failed', 'venue', 'too_long');
  const over = `<p>${'师'.repeat(1001)}</p>`;
  fails(await c.post('/api/declarations', body(pid, certs[3], 'not_by_major', { faculty: over })),
    422, 'validation_failed', 'faculty', 'too_long');
  fails(await c.post('/api/declarations', body(pid, certs[3], 'not_by_major', { venue: 'a'.repeat(1001), submit: false })),
    422, 'validation_failed', 'venue', 'too_long');
  fails(await c.post('/api/declarations', body(pid, certs[3], 'not_by_major', { venue: 42 })),
    422, 'validation_failed', 'venue', 'type');
  eq(sql('SELECT count(*) AS n FROM declarations WHERE plan_id = ? AND certificate_id = ?', pid, certs[3].id)[0].n,
    0, 'nothing stored over the limit');
});

test('outside the plan window: 409 for closed and upcoming plans; plans show their state', async () => {
  const c = await as('school131');
  const closed = plan('13', 'by_major', { starts: -30 * DAY, ends: -DAY });
  const upcoming = plan('13', 'by_major', { starts: DAY, ends: 30 * DAY });
  const [cert] = await certificates();
  const plans = (await c.get('/api/plans')).data;
  const pc = plans.find((p) => p.id === closed), pu = plans.find((p) => p.id === upcoming);
  eq([pc.state, pc.can_declare, pu.state, pu.can_declare], ['closed', false, 'upcoming', false], 'plan states');
  fails(await c.post('/api/declarations', body(closed, cert, 'by_major')), 409, 'outside_window');
  fails(await c.post('/api/declarations', body(closed, cert, 'by_major', { submit: false })), 409, 'outside_window');
  fails(await c.post('/api/declarations', body(upcoming, cert, 'by_major')), 409, 'not_started');
  eq(sql('SELECT count(*) AS n FROM declarations WHERE plan_id IN (?, ?)', closed, upcoming)[0].n, 0, 'nothing stored');
  // a draft made while open cannot be changed or submitted once closed
  const open = plan('13', 'by_major');
  const d = await c.post('/api/declarations', body(open, cert, 'by_major', { submit: false }));
  eq(d.status, 201, 'draft while open');
  setPlan(open, { ends: -60 });
  fails(await c.put(`/api/declarations/${d.data.id}`, body(open, cert, 'by_major', { submit: false })), 409, 'outside_window');
  fails(await c.post(`/api/declarations/${d.data.id}/submit`), 409, 'outside_window');
  const closedView = (await c.get(`/api/declarations/${d.data.id}`)).data;
  eq([closedView.can_edit, closedView.can_delete], [false, true], 'no longer editable, still deletable');
  eq((await c.del(`/api/declarations/${d.data.id}`)).status, 200, 'a draft may be deleted after the close');
  // 河北 grants no grace for returned declarations
  const open2 = plan('13', 'by_major');
  const d2 = await c.post('/api/declarations', body(open2, cert, 'by_major'));
  decide(d2.data.id, 'returned', { comment: '请补充' });
  setPlan(open2, { ends: -3600 });
  fails(await c.put(`/api/declarations/${d2.data.id}`, body(open2, cert, 'by_major')), 409, 'outside_window');
});

test('江苏: a returned declaration may be edited and resubmitted up to 3 days after the close', async () => {
  const c = await as('school322');
  const certs = await certificates();
  const pid = plan('32', 'by_major');
  const ids = [];
  for (const cert of certs.slice(0, 3)) {
    const r = await c.post('/api/declarations', body(pid, cert, 'by_major'));
    eq(r.status, 201, 'submitted');
    ids.push(r.data.id);
  }
  decide(ids[0], 'returned', { comment: '教师数不足' });
  decide(ids[1], 'returned', { comment: '请补充' });
  setPlan(pid, { starts: -40 * DAY, ends: -2 * DAY });           // closed two days ago
  const v = await c.get(`/api/declarations/${ids[0]}`);
  eq([v.data.status, v.data.can_edit], ['returned', true], 'returned and editable in the grace period');
  eq(v.data.reviews.map((x) => [x.decision, x.comment]).pop(), ['return', '教师数不足'], 'the return is in the history');
  const u = await c.put(`/api/declarations/${ids[0]}`, body(pid, certs[0], 'by_major', { submit: false }));
  eq([u.status, u.data.status], [200, 'returned'], 'edited within the grace');
  const s = await c.post(`/api/declarations/${ids[0]}/submit`);
  eq([s.status, s.data.status], [200, 'pending'], 'resubmitted within the grace');
  eq(s.data.reviews.map((x) => x.decision), ['submit', 'return', 'submit'], 'history: submit, return, submit');
  // no grace for creating a new one, nor for a pending one
  fails(await c.post('/api/declarations', body(pid, certs[4], 'by_major')), 409, 'outside_window');
  fails(await c.put(`/api/declarations/${ids[2]}`, body(pid, certs[2], 'by_major')), 409, 'wrong_status');
  // past the grace
  setPlan(pid, { ends: -3 * DAY - 60 });
  fails(await c.put(`/api/declarations/${ids[1]}`, body(pid, certs[1], 'by_major')), 409, 'outside_window');
  fails(await c.post(`/api/declarations/${ids[1]}/submit`), 409, 'outside_window');
  eq(sql('SELECT status FROM declarations WHERE id = ?', ids[1])[0].status, 'returned', 'still returned');
});

test('河北: a major\'s trainees may not exceed its students (422 exceeds_students)', async () => {
  const c = await as('school132');
  const pid = plan('13', 'by_major');
  const [cert] = await certificates();
  const majors = [
    { major: cert.majors[0], students: 50, teachers: 2, trainees: 50 },
    { major: cert.majors[1], students: 50, teachers: 2, trainees: 51 },
  ];
  const e = fails(await c.post('/api/declarations', body(pid, cert, 'by_major', { majors })),
    422, 'validation_failed', 'majors[1].trainees', 'exceeds_students');
  assert(!e.fields.some((f) => f.field === 'majors[0].trainees'), 'equal is fine');
  majors[1].trainees = 50;
  const r = await c.post('/api/declarations', body(pid, cert, 'by_major', { majors }));
  eq([r.status, r.data.status, r.data.review_level, r.data.trainees_total], [201, 'pending', 'city', 100],
    'accepted at the limit; reviewed by the city first');
  // 江苏 has no such rule
  const c32 = await as('school323');
  const r32 = await c32.post('/api/declarations', body(plan('32', 'by_major'), cert, 'by_major', {
    majors: [{ major: cert.majors[0], students: 5, teachers: 2, trainees: 9 }],
  }));
  eq(r32.status, 201, 'no such rule in 江苏');
});

test('江苏: at least 2 full-time teachers per major on submit (422 too_few_teachers)', async () => {
  const c = await as('school323');
  const pid = plan('32', 'by_major');
  const [cert] = await certificates();
  const majors = [
    { major: cert.majors[0], students: 50, teachers: 2, trainees: 20 },
    { major: cert.majors[1], students: 50, teachers: 1, trainees: 20 },
  ];
  fails(await c.post('/api/declarations', body(pid, cert, 'by_major', { majors })),
    422, 'validation_failed', 'majors[1].teachers', 'too_few_teachers');
  const d = await c.post('/api/declarations', body(pid, cert, 'by_major', { majors, submit: false }));
  eq([d.status, d.data.status], [201, 'draft'], 'a draft may have one teacher');
  fails(await c.post(`/api/declarations/${d.data.id}/submit`), 422, 'validation_failed', 'majors[1].teachers', 'too_few_teachers');
  // 河北 has no such rule
  const c13 = await as('school133');
  const r = await c13.post('/api/declarations', body(plan('13', 'by_major'), cert, 'by_major', { majors }));
  eq(r.status, 201, 'one teacher is fine in 河北');
});

test('广东: at most 5 certificates per school in a plan (422 too_many_certificates)', async () => {
  const c = await as('school442');
  const pid = plan('44', 'not_by_major');
  const certs = await certificates();
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const r = await c.post('/api/declarations', body(pid, certs[i], 'not_by_major', { submit: i % 2 === 0 }));
    eq(r.status, 201, `certificate ${i + 1}`);
    ids.push(r.data.id);
  }
  fails(await c.post('/api/declarations', body(pid, certs[5], 'not_by_major')),
    422, 'validation_failed', 'certificate_id', 'too_many_certificates');
  // 2026-12-01: 保存 always saves; the rule's finding comes back as a warning
  const draft = await c.post('/api/declarations', body(pid, certs[5], 'not_by_major', { submit: false }));
  eq(draft.status, 201, 'a sixth draft is saved');
  eq(draft.data.status, 'draft', 'as a draft');
  eq(draft.data.warnings.map((w) => [w.field, w.code]), [['certificate_id', 'too_many_certificates']],
    'with the rule\'s finding as a warning');
  fails(await c.post(`/api/declarations/${draft.data.id}/submit`), 422, 'validation_failed',
    'certificate_id', 'too_many_certificates');
  eq((await c.del(`/api/declarations/${draft.data.id}`)).status, 200, 'the draft deleted');
  // another school of 广东 is not limited by this one's
  const other = await as('school443');
  eq((await other.post('/api/declarations', body(pid, certs[5], 'not_by_major'))).status, 201, 'another school');
  // a rejected one no longer counts
  decide(ids[0], 'rejected', { comment: '不予通过' });
  eq((await c.post('/api/declarations', body(pid, certs[5], 'not_by_major'))).status, 201, 'room after a rejection');
  // editing one of the five is not a sixth
  eq((await c.put(`/api/declarations/${ids[1]}`, body(pid, certs[1], 'not_by_major'))).status, 200, 'edit within the five');
  // concurrent requests cannot slip past the limit either
  const pid2 = plan('44', 'not_by_major');
  for (let i = 0; i < 4; i++) {
    eq((await c.post('/api/declarations', body(pid2, certs[i], 'not_by_major'))).status, 201, `plan 2, certificate ${i + 1}`);
  }
  await warm(c);
  // (submitted: a draft over the limit is saved with a warning; rules are
  // decided before the write and the count re-checked under the lock)
  const race = await Promise.all([4, 5, 6, 7, 8, 9, 10, 11].map((i) =>
    c.post('/api/declarations', body(pid2, certs[i], 'not_by_major'))));
  eq(race.map((r) => r.status).sort(), [201, 422, 422, 422, 422, 422, 422, 422], 'one more at most, even when concurrent');
  eq(sql('SELECT count(*) AS n FROM declarations WHERE plan_id = ? AND school_id = (SELECT school_id FROM accounts WHERE username = ?)',
    pid2, 'school442')[0].n, 5, 'five in the plan');
  // 北京 (defaults) has no such limit
  const c11 = await as('school111');
  const p11 = plan('11', 'not_by_major');
  for (let i = 0; i < 6; i++) {
    eq((await c11.post('/api/declarations', body(p11, certs[i], 'not_by_major', { submit: false }))).status, 201, `北京 ${i + 1}`);
  }
});

test('one declaration per school, plan and certificate; a double-clicked 保存并提交 creates one', async () => {
  const c = await as('school131');
  const pid = plan('13', 'by_major');
  const certs = await certificates();
  const b = body(pid, certs[0], 'by_major');
  await warm(c);
  const results = await Promise.all(Array.from({ length: 6 }, () => c.post('/api/declarations', b)));
  const statuses = results.map((r) => r.status).sort();
  eq(statuses, [201, 409, 409, 409, 409, 409], 'one 201, the rest 409');
  for (const r of results.filter((x) => x.status === 409)) eq(r.data.error.code, 'duplicate', 'code duplicate');
  eq(sql('SELECT count(*) AS n FROM declarations WHERE plan_id = ?', pid)[0].n, 1, 'exactly one stored');
  eq(sql("SELECT count(*) AS n FROM reviews r JOIN declarations d ON d.id = r.declaration_id WHERE d.plan_id = ?", pid)[0].n,
    1, 'one submission recorded');
  fails(await c.post('/api/declarations', { ...b, submit: false }), 409, 'duplicate');
  // changing a draft to a certificate already declared is a duplicate too
  const d = await c.post('/api/declarations', body(pid, certs[1], 'by_major', { submit: false }));
  fails(await c.put(`/api/declarations/${d.data.id}`, body(pid, certs[0], 'by_major', { submit: false })), 409, 'duplicate');
  // the same certificate in another plan is fine
  eq((await c.post('/api/declarations', body(plan('13', 'by_major'), certs[0], 'by_major'))).status, 201, 'other plan');
});

test('status machine: edit draft/returned only, delete draft only, submit once', async () => {
  const c = await as('school133');
  const pid = plan('13', 'by_major');
  const certs = await certificates();
  const pending = (await c.post('/api/declarations', body(pid, certs[0], 'by_major'))).data;
  eq(pending.status, 'pending', 'pending');
  fails(await c.put(`/api/declarations/${pending.id}`, body(pid, certs[0], 'by_major')), 409, 'wrong_status');
  fails(await c.post(`/api/declarations/${pending.id}/submit`), 409, 'wrong_status');
  fails(await c.del(`/api/declarations/${pending.id}`), 409, 'wrong_status');
  for (const st of ['approved', 'rejected']) {
    const d = (await c.post('/api/declarations', body(pid, certs[st === 'approved' ? 1 : 2], 'by_major'))).data;
    decide(d.id, st);
    fails(await c.put(`/api/declarations/${d.id}`, body(pid, certs[st === 'approved' ? 1 : 2], 'by_major')), 409, 'wrong_status');
    fails(await c.del(`/api/declarations/${d.id}`), 409, 'wrong_status');
  }
  const ret = (await c.post('/api/declarations', body(pid, certs[3], 'by_major'))).data;
  decide(ret.id, 'returned', { comment: '请修改' });
  fails(await c.del(`/api/declarations/${ret.id}`), 409, 'wrong_status');
  const u = await c.put(`/api/declarations/${ret.id}`, body(pid, certs[3], 'by_major', { submit: true }));
  eq([u.status, u.data.status, u.data.review_level], [200, 'pending', 'city'], 'returned → pending at the first level');
  fails(await c.put(`/api/declarations/${ret.id}`, { ...body(pid, certs[3], 'by_major'), plan_id: pid + 1000 }),
    409, 'wrong_status');
  const draft = (await c.post('/api/declarations', body(pid, certs[4], 'by_major', { submit: false }))).data;
  fails(await c.put(`/api/declarations/${draft.id}`, { ...body(pid, certs[4], 'by_major'), plan_id: pid + 1 }),
    422, 'validation_failed', 'plan_id', 'immutable');
  const del = await c.del(`/api/declarations/${draft.id}`);
  eq(del.status, 200, 'draft deleted');
  fails(await c.get(`/api/declarations/${draft.id}`), 404, 'not_found');
  fails(await c.del(`/api/declarations/${draft.id}`), 404, 'not_found');
  eq(sql('SELECT count(*) AS n FROM declaration_majors WHERE declaration_id = ?', draft.id)[0].n, 0, 'its majors went too');
  eq(audit('declaration', draft.id).map((a) => [a.action, a.before_status]).pop(), ['declaration.delete', 'draft'], 'delete audited');
  eq(audit('declaration', ret.id).map((a) => `${a.action}:${a.before_status || ''}>${a.after_status || ''}`),
    ['declaration.create:>draft', 'declaration.submit:draft>pending', 'declaration.update:returned>returned',
      'declaration.submit:returned>pending'], 'audit trail of the returned one');
  // a deleted draft frees its certificate
  eq((await c.post('/api/declarations', body(pid, certs[4], 'by_major'))).status, 201, 'declared again');
});

test('list: paging (total/page/size/items) and filters by year and status', async () => {
  const reg = await newSchool('32', '3201');
  const c = reg.client;
  const year = new Date(Date.now() + 8 * 3600e3).getUTCFullYear();
  const pNow = plan('32', 'by_major', { batch: 3 });
  const pOld = plan('32', 'by_major', { year: year - 1, batch: 1, starts: -10 * DAY, ends: 10 * DAY });
  const certs = await certificates();
  for (let i = 0; i < 8; i++) {
    eq((await c.post('/api/declarations', body(pNow, certs[i], 'by_major', { submit: i < 3 }))).status, 201, 'created');
  }
  for (let i = 0; i < 4; i++) {
    eq((await c.post('/api/declarations', body(pOld, certs[i], 'by_major', { submit: false }))).status, 201, 'created');
  }
  const all = await c.get('/api/declarations');
  eq([all.data.total, all.data.page, all.data.size, all.data.items.length], [12, 1, 10, 10], 'first page of 12');
  const p2 = await c.get('/api/declarations?page=2');
  eq([p2.data.total, p2.data.page, p2.data.items.length], [12, 2, 2], 'second page');
  const ids = new Set([...all.data.items, ...p2.data.items].map((x) => x.id));
  eq(ids.size, 12, 'pages do not overlap');
  const five = await c.get('/api/declarations?page=3&size=5');
  eq([five.data.size, five.data.items.length], [5, 2], 'page 3 of size 5');
  eq((await c.get('/api/declarations?page=9')).data.items, [], 'past the end: empty');
  const it = [...all.data.items, ...p2.data.items].find((x) => x.certificate_id === certs[0].id && x.plan_id === pNow);
  eq([it.year, it.batch, it.certificate, it.organization, it.status], [year, 3, certs[0].name, certs[0].organization, 'pending'],
    'an item names year, batch, certificate, organization, status');
  eq((await c.get(`/api/declarations?year=${year - 1}`)).data.total, 4, 'filter by year');
  eq((await c.get(`/api/declarations?year=${year}&status=draft`)).data.total, 5, 'filter by year and status');
  eq((await c.get('/api/declarations?status=pending&size=100')).data.items.map((x) => x.status), Array(3).fill('pending'), 'by status');
  eq((await c.get('/api/declarations?year=1999')).data.total, 0, 'no such year');
  fails(await c.get('/api/declarations?size=101'), 400, 'bad_request');
  fails(await c.get('/api/declarations?size=0'), 400, 'bad_request');
  fails(await c.get('/api/declarations?page=0'), 400, 'bad_request');
  fails(await c.get('/api/declarations?page=abc'), 400, 'bad_request');
  fails(await c.get('/api/declarations?year=abc'), 400, 'bad_request');
  eq((await c.get('/api/declarations?size=100')).data.items.length, 12, 'size 100 allowed');
});

test('rules_version stored with each submission; drafts have none', async () => {
  const c = await as('school441');
  const pid = plan('44', 'not_by_major');
  const certs = await certificates();
  const version = fixture('rules_version');
  assert(/^[0-9a-f]{16}$/.test(version), 'a rules version');
  const d = await c.post('/api/declarations', body(pid, certs[0], 'not_by_major', { submit: false }));
  eq(sql('SELECT rules_version FROM declarations WHERE id = ?', d.data.id)[0].rules_version, undefined, 'a draft has none');
  const s = await c.post(`/api/declarations/${d.data.id}/submit`);
  eq(s.data.rules_version, version, 'in the answer');
  eq(sql('SELECT rules_version FROM declarations WHERE id = ?', d.data.id)[0].rules_version, version, 'in the declaration');
  eq(sql("SELECT rules_version FROM reviews WHERE declaration_id = ? AND decision = 'submit'", d.data.id)[0].rules_version,
    version, 'in the submission record');
  const a = audit('declaration', d.data.id).find((x) => x.action === 'declaration.submit');
  eq(JSON.parse(a.detail).rules_version, version, 'in the audit log');
  eq([a.username, a.role, a.before_status, a.after_status], ['school441', 'school', 'draft', 'pending'], 'who and what');
});

test('audit log: profile changes and declaration state changes', async () => {
  const c = await as('school441');
  const before = sql("SELECT count(*) AS n FROM audit_log WHERE action = 'school.profile' AND username = 'school441'")[0].n;
  const p = await c.put('/api/school/profile', { website: 'https://www.example.edu.cn' });
  eq([p.status, p.data.website, p.data.complete], [200, 'https://www.example.edu.cn', true], 'partial update keeps the rest');
  eq(sql("SELECT count(*) AS n FROM audit_log WHERE action = 'school.profile' AND username = 'school441'")[0].n,
    before + 1, 'profile change audited');
  const pid = plan('44', 'not_by_major');
  const [cert] = await certificates();
  const d = await c.post('/api/declarations', body(pid, cert, 'not_by_major', { submit: false }));
  await c.put(`/api/declarations/${d.data.id}`, body(pid, cert, 'not_by_major', { submit: false, trainees_total: 7 }));
  await c.del(`/api/declarations/${d.data.id}`);
  const rows = audit('declaration', d.data.id);
  eq(rows.map((r) => [r.action, r.before_status || null, r.after_status || null]),
    [['declaration.create', null, 'draft'], ['declaration.update', 'draft', 'draft'], ['declaration.delete', 'draft', null]],
    'create, update, delete');
  assert(rows.every((r) => r.username === 'school441' && r.role === 'school'), 'who did it');
  const at = sql('SELECT at, province_code FROM audit_log WHERE entity = ? AND entity_id = ?', 'declaration', d.data.id);
  assert(at.every((r) => Math.abs(r.at - Date.now() / 1000) < 600 && r.province_code === '44'), 'when and where');
});
