// host backup and host restore (issue 12): on SQLite a consistent copy
// taken while the server writes (every write acknowledged before the backup
// began is in it, the copy is intact), restored into an empty database or,
// with --force, over one; a file that is not a platform database is refused
// and changes nothing. On PostgreSQL both commands refuse and point at
// pg_dump / pg_basebackup.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { startServer, Client, BIN, PG } from '../lib/server.mjs';

const run = (args, input) => spawnSync(BIN, args, { encoding: 'utf8', input });

// Titles of the plans in db whose title starts with prefix.
function titles(db, prefix) {
  const out = run(['repl', '--db', db],
    `for _, r in ipairs(db.query("SELECT title FROM plans WHERE title LIKE :p", { p = "${prefix}%" })) do print(r.title) end\n`);
  eq(out.status, 0, `repl on ${db}: ${out.stderr}`);
  return new Set(out.stdout.split('\n').filter((l) => l.startsWith(prefix)));
}

const PLAN = { year: 2027, batch: 1, mode: 'not_by_major',
  starts_at: '2027-03-01T09:00:00+08:00', ends_at: '2027-04-01T18:00:00+08:00' };

if (!PG) {
  test('backup: a consistent copy while the server writes; restore into an empty database, refused over one without --force', async () => {
    const srv = await startServer();
    const dir = mkdtempSync(join(tmpdir(), 'host-backup-'));
    try {
      const gd = new Client(srv.base);
      await gd.login('province44');
      const acked = [];
      let n = 0, stop = false;
      const writer = async () => {
        while (!stop) {
          const title = `备份一致性 ${n++}`;
          const r = await gd.post('/api/admin/plans', { ...PLAN, title });
          eq(r.status, 201, 'acknowledged');
          acked.push(title);
        }
      };
      const writers = Array.from({ length: 8 }, writer);
      for (let i = 0; acked.length < 40 && i < 1000; i++) await new Promise((r) => setTimeout(r, 20));
      const before = new Set(acked);         // acknowledged before the backup began
      const copy = join(dir, 'copy.db');
      const out = await new Promise((resolve) => {
        const p = spawn(BIN, ['backup', '--out', copy, '--db', srv.db], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        p.stdout.on('data', (d) => { text += d; });
        p.stderr.on('data', (d) => { text += d; });
        p.on('exit', (code) => resolve({ code, text }));
      });
      const atEnd = acked.length;
      await new Promise((r) => setTimeout(r, 100));
      stop = true;
      await Promise.all(writers);
      eq(out.code, 0, `backup: ${out.text}`);
      assert(/^backup: \d+ pages, to /.test(out.text), out.text);
      eq(readdirSync(dir), ['copy.db'], 'one file: no -wal, no .partial beside it');
      assert(acked.length > atEnd, 'the server wrote on while and after the backup');

      // restore into a new, empty database: intact, and holding every
      // write acknowledged before the backup began
      const restored = join(dir, 'restored.db');
      const r1 = run(['restore', '--from', copy, '--db', restored]);
      eq(r1.status, 0, `restore: ${r1.stderr}`);
      assert(/^restore: \d+ pages, from /.test(r1.stdout), r1.stdout);
      const got = titles(restored, '备份一致性');
      const missing = [...before].filter((t) => !got.has(t));
      eq(missing, [], `the copy holds every write acknowledged before it (${before.size} before, ${got.size} in the copy)`);
      assert(got.size <= acked.length, 'and nothing that was never written');
      const live = titles(srv.db, '备份一致性');
      eq(live.size, acked.length, 'the server has every write');

      // over a database: refused without --force, and the database unchanged
      // while the server serves it, with --force or without: refused, it is open
      const r2 = run(['restore', '--from', copy, '--db', srv.db]);
      eq(r2.status, 1, 'refused');
      assert(/open in another process/.test(r2.stderr), r2.stderr);
      const r3 = run(['restore', '--from', copy, '--db', srv.db, '--force']);
      eq(r3.status, 1, 'refused while served');
      assert(/open in another process/.test(r3.stderr), r3.stderr);
      eq(titles(srv.db, '备份一致性').size, acked.length, 'the database unchanged');
    } finally {
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('backup: restore --force replaces a stopped server\'s database with the copy; bad files and usage are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'host-backup-'));
    const srv = await startServer();
    try {
      const gd = new Client(srv.base);
      await gd.login('province44');
      eq((await gd.post('/api/admin/plans', { ...PLAN, title: '备份之前' })).status, 201, 'before');
      const copy = join(dir, 'copy.db');
      eq(run(['backup', '--out', copy, '--db', srv.db]).status, 0, 'backup');
      eq((await gd.post('/api/admin/plans', { ...PLAN, title: '备份之后' })).status, 201, 'after');
      await srv.stop();
      const db = join(dir, 'platform.db');
      eq(run(['restore', '--from', copy, '--db', db]).status, 0, 'into a new file');
      const over = run(['restore', '--from', copy, '--db', db]);
      eq(over.status, 1, 'over a database without --force: refused');
      assert(/--force/.test(over.stderr), `says how: ${over.stderr}`);
      eq(run(['restore', '--from', copy, '--db', db, '--force']).status, 0, 'over it with --force');
      eq([...titles(db, '备份')], ['备份之前'], 'the copy\'s rows, not the later one');
      const again = run(['migrate', '--db', db]);
      assert(again.stdout.includes('migrations applied: 0'), `the restored database is current: ${again.stdout}`);

      // not a database, not ours, missing: exit 1, nothing changed
      const junk = join(dir, 'junk.db');
      writeFileSync(junk, 'this is not a database at all, only some words of text');
      const bad = run(['restore', '--from', junk, '--db', db, '--force']);
      eq(bad.status, 1, 'junk refused');
      assert(/not an intact SQLite database|not a database|cannot open/.test(bad.stderr), bad.stderr);
      const other = join(dir, 'other.db');
      writeFileSync(other, '');               // an empty file is an empty SQLite database
      const notOurs = run(['restore', '--from', other, '--db', db, '--force']);
      eq(notOurs.status, 1, 'a database without migrations refused');
      assert(/not a platform database/.test(notOurs.stderr), notOurs.stderr);
      eq([...titles(db, '备份')], ['备份之前'], 'unchanged by the refusals');
      const none = run(['backup', '--out', join(dir, 'x.db'), '--db', join(dir, 'nothing-here.db')]);
      eq(none.status, 1, 'no database to back up');
      assert(/no database at/.test(none.stderr), none.stderr);
      assert(!existsSync(join(dir, 'nothing-here.db')) && !existsSync(join(dir, 'x.db')), 'nothing made');
      // the database itself or a file of SQLite's beside it: replacing the
      // live -wal would lose every write still in it
      const before = [...titles(db, '备份')];
      for (const f of [db, `${db}-wal`, `${db}-shm`, `${db}-journal`, join(dir, '.', 'platform.db')]) {
        const r = run(['backup', '--out', f, '--db', db]);
        eq(r.status, 1, `backup onto ${f} refused`);
        assert(/the database or one of its files/.test(r.stderr), r.stderr);
      }
      eq([...titles(db, '备份')], before, 'the database unchanged');
      eq(run(['backup', '--db', db]).status, 2, 'backup without --out: usage');
      eq(run(['restore', '--db', db, '--from']).status, 2, 'restore without a file: usage');
      eq(run(['backup', '--out', join(dir, 'y.db'), '--db', db, 'extra']).status, 2, 'an unknown argument: usage');
    } finally {
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
} else {
  test('backup: on PostgreSQL host backup and restore refuse and point at pg_dump and pg_basebackup', async () => {
    const srv = await startServer({ seed: false });
    try {
      for (const args of [['backup', '--out', '/tmp/never.db'], ['restore', '--from', '/tmp/never.db']]) {
        const r = run([...args, '--db', srv.db]);
        eq(r.status, 1, `${args[0]} refused`);
        assert(/pg_dump/.test(r.stderr) && /pg_basebackup/.test(r.stderr), r.stderr);
      }
      assert(!existsSync('/tmp/never.db'), 'nothing written');
    } finally {
      await srv.stop();
    }
  });
}
