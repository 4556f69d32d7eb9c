// Majors fit the school (issue 13): a school declares only majors of the
// levels its province's rule major_levels(ctx) allows (by default 中职 and
// 技工 schools 中职, 高职 schools 高职专科, 本科 schools 职业本科 and
// 高职专科); another level is 422 major_level on that row, on 保存 as on
// 保存并提交, and nothing is stored. The majors of a certificate list the
// school's own levels first.
import { test, assert, eq } from '../lib/harness.mjs';
import { anon, certificates, fails, freshSchool, plan, sql, FACULTY, VENUE } from './ctx.mjs';

const ORDER = { '职业本科': 0, '高职专科': 1, '中职': 2 };

// A certificate with majors of all three levels, and one major of each.
async function mixedCertificate() {
  const levels = new Map((await anon().get('/api/majors')).data.map((m) => [m.code, m.level]));
  for (const c of await certificates()) {
    const pick = {};
    for (const code of c.all_majors) pick[levels.get(code)] ||= code;
    if (pick['中职'] && pick['高职专科'] && pick['职业本科']) return { cert: c, pick };
  }
  throw new Error('no certificate with majors of every level');
}

function draft(pid, cert, major, submit = false) {
  return { plan_id: pid, certificate_id: cert.id, faculty: FACULTY, venue: VENUE, submit,
    majors: [{ major, students: 50, teachers: 2, trainees: 20 }] };
}

test('major levels: a 高职 school is refused a 中职 or 职业本科 major (422 major_level on the row), nothing stored', async () => {
  const { cert, pick } = await mixedCertificate();
  const s = await freshSchool('13', '1301', '81', '高职');
  const pid = plan('13', 'by_major');
  for (const submit of [false, true]) {
    for (const level of ['中职', '职业本科']) {
      const e = fails(await s.client.post('/api/declarations', draft(pid, cert, pick[level], submit)),
        422, 'validation_failed', 'majors[0].major', 'major_level');
      const f = e.fields.find((x) => x.code === 'major_level');
      assert(f.message.includes('高职专科') && f.message.includes(level), `the message names the levels: ${f.message}`);
    }
  }
  eq(sql('SELECT count(*) AS n FROM declarations WHERE school_id = ?', s.id)[0].n, 0, 'nothing stored');
  const ok = await s.client.post('/api/declarations', draft(pid, cert, pick['高职专科']));
  eq(ok.status, 201, `a 高职专科 major is accepted ${JSON.stringify(ok.data)}`);
  // editing it to a 中职 major is refused as well, and the stored row stays
  fails(await s.client.put(`/api/declarations/${ok.data.id}`, draft(pid, cert, pick['中职'])),
    422, 'validation_failed', 'majors[0].major', 'major_level');
  eq(sql('SELECT major_code FROM declaration_majors WHERE declaration_id = ?', ok.data.id),
    [{ major_code: pick['高职专科'] }], 'the stored major is unchanged');
});

test('major levels: 中职 and 技工 schools declare 中职 majors, 本科 schools 职业本科 and 高职专科', async () => {
  const { cert, pick } = await mixedCertificate();
  const pid = plan('44', 'by_major');
  const expect = { '中职': ['中职'], '技工': ['中职'], '本科': ['职业本科', '高职专科'] };
  for (const [type, allowed] of Object.entries(expect)) {
    const s = await freshSchool('44', '4401', '82', type);
    for (const level of ['中职', '高职专科', '职业本科']) {
      const r = await s.client.post('/api/declarations', draft(pid, cert, pick[level]));
      if (allowed.includes(level)) {
        eq(r.status, 201, `${type}: ${level} accepted ${JSON.stringify(r.data)}`);
        eq(r.data.majors[0].level, level, 'the stored major shows its level');
        eq((await s.client.del(`/api/declarations/${r.data.id}`)).status, 200, 'draft deleted');
      } else {
        fails(r, 422, 'validation_failed', 'majors[0].major', 'major_level');
      }
    }
  }
});

test('major levels: a school sees the majors of a certificate with its own levels first, each with level and allowed', async () => {
  const { cert } = await mixedCertificate();
  const pub = await anon().get(`/api/majors?certificate=${cert.id}`);
  eq(pub.status, 200, 'public list');
  eq(pub.data.map((m) => m.code).sort(), [...cert.all_majors].sort(), 'every major of the certificate');
  assert(pub.data.every((m) => m.allowed === undefined && ORDER[m.level] !== undefined), 'anonymous: levels, no allowed');
  for (const [type, first] of [['高职', ['高职专科']], ['本科', ['职业本科', '高职专科']], ['中职', ['中职']]]) {
    const s = await freshSchool('13', '1301', '83', type);
    const r = await s.client.get(`/api/majors?certificate=${cert.id}`);
    eq(r.status, 200, 'school list');
    eq(r.data.length, pub.data.length, `${type}: the same majors`);
    const levels = r.data.map((m) => m.level);
    const own = levels.slice(0, levels.findIndex((l) => !first.includes(l)));
    eq([...new Set(own)], first, `${type}: its own levels first, in its order`);
    assert(r.data.every((m) => m.allowed === first.includes(m.level)), `${type}: allowed marks its levels`);
    assert(r.data.slice(own.length).every((m) => !first.includes(m.level)), `${type}: the others after`);
  }
});
