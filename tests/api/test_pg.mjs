// PostgreSQL behind the db binding (issue 12): a throwaway cluster
// (tests/lib/pg.mjs: Debian's postgresql-15, initdb in a temporary
// directory, a unix socket, a free port), `host migrate` and `host seed
// --demo` on it, the same rows and schema as on SQLite, and the binding's
// behaviour (tests/api/db_binding.lua) the same on both drivers, plus a
// serialization failure that PostgreSQL reports and the binding retries.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, assert, eq } from '../lib/harness.mjs';
import { BIN, ROOT, freePort } from '../lib/server.mjs';
import { available, startCluster } from '../lib/pg.mjs';

let cluster = null;
const dir = mkdtempSync(join(tmpdir(), 'host-pgtest-'));

async function pg() {
  if (!available()) {
    throw new Error('PostgreSQL 15 is not installed (/usr/lib/postgresql/15/bin): make deps installs postgresql-15');
  }
  if (!cluster) cluster = await startCluster();
  return cluster;
}

// stopped by the last test; this is for a run that ends early
process.on('exit', () => {
  if (cluster) cluster.stopSync();
});

function host(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`host ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

// Runs Lua through the REPL on db; returns the "@@" line's JSON.
function lua(db, code) {
  const out = execFileSync(BIN, ['repl', '--db', db], { input: code + '\n', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const line = out.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`no result in: ${out}`);
  return JSON.parse(line.slice(2));
}

const TABLES = 'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = \'public\' ORDER BY 1';
let uri = null;
let sqliteDb = null;

test('pg: host migrate and host seed --demo on a throwaway PostgreSQL cluster, the same rows as SQLite', async () => {
  const c = await pg();
  uri = c.createdb('platform');
  const files = readdirSync(join(ROOT, 'schema')).filter((f) => /^\d.*\.sql$/.test(f));
  assert(host(['migrate', '--db', uri]).includes(`migrations applied: ${files.length}`), 'every migration applied');
  assert(host(['migrate', '--db', uri]).includes('migrations applied: 0'), 'each once');
  const logins = host(['seed', '--demo', '--db', uri]);
  assert(logins.includes('province13'), logins);
  sqliteDb = join(dir, 'platform.db');
  host(['seed', '--demo', '--db', sqliteDb]);
  const tables = c.psql(TABLES, 'platform').trim().split('\n');
  assert(tables.includes('declarations') && tables.includes('rule_versions'), tables.join(' '));
  const counts = (db) => lua(db, `local t = {} for _, n in ipairs(json.decode([==[${JSON.stringify(tables)}]==])) do `
    + 't[n] = db.one("SELECT count(*) AS n FROM " .. n).n end print("@@" .. json.encode(t))');
  const p = counts(uri), s = counts(sqliteDb);
  delete p.schema_migrations; delete s.schema_migrations;
  eq(p, s, 'rows per table, PostgreSQL against SQLite');
  assert(p.provinces >= 31 && p.schools > 0 && p.accounts > 0 && p.rule_versions >= 4, JSON.stringify(p));
});

test('pg: the dialect files give the tables and columns SQLite has', async () => {
  const c = await pg();
  const pgCols = c.psql(`SELECT table_name || '.' || column_name FROM information_schema.columns
    WHERE table_schema = 'public' AND NOT (table_name = 'rate_events' AND column_name = 'rowid') ORDER BY 1`, 'platform')
    .trim().split('\n');
  const sqCols = lua(sqliteDb, 'local t = {} for _, r in ipairs(db.query([[SELECT m.name || \'.\' || p.name AS c '
    + 'FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = \'table\' ORDER BY 1]])) do t[#t + 1] = r.c end '
    + 'print("@@" .. json.encode(t))');
  eq(pgCols, [...sqCols].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'table.column');
});

test('pg: the db binding answers as on SQLite (types, named parameters, constraint errors, transactions) and retries a serialization failure', async () => {
  const c = await pg();
  const bt = c.createdb('binding');
  host(['migrate', '--db', bt]);
  const psql = `/usr/lib/postgresql/15/bin/psql -h ${c.dir} -p ${c.port} -U host -d binding -qAt -c`;
  const file = JSON.stringify(join(ROOT, 'tests', 'api', 'db_binding.lua'));
  const p = lua(bt, `arg_psql = ${JSON.stringify(psql)} dofile(${file})`);
  const sqfile = join(dir, 'binding.db');
  host(['migrate', '--db', sqfile]);
  const s = lua(sqfile, `dofile(${file})`);
  const retry = p.retry;
  delete p.retry;
  eq(p, s, 'PostgreSQL against SQLite');
  eq(s.types, ['integer', 2, 'integer', 15, 1.5, '一', 1, 0, true], 'types');
  eq(s.bytes, [4, 0, 1, 255, 120], 'bytes');
  eq(s.unique, 'db: UNIQUE constraint failed: bt.name', 'a unique violation');
  eq(s.rolled_back, 0, 'an error rolls back the whole transaction');
  eq(retry, { runs: 2, seen: 10, v: 11 }, 'run again after 40001, on what the other connection committed');
});

// The log never shows a password of the URI: serve prints its --db masked.
test('pg: serve prints the URI without its password', async () => {
  await pg();
  const secret = uri.replace('postgresql://host@', 'postgresql://host:s3cret@') + '&password=s3cret2';
  assert(secret.includes('s3cret@') && secret !== uri, secret);
  const proc = spawn(BIN, ['serve', '--port', String(await freePort()), '--threads', '4', '--db', secret], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  try {
    for (let i = 0; i < 300 && !/host: serving/.test(err) && proc.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const line = err.split('\n').find((l) => l.startsWith('host: serving')) || '';
    assert(line.includes('host:***@') && line.includes('password=***'), `masked: ${line || err}`);
    assert(!err.includes('s3cret'), `no password anywhere in the log: ${err}`);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
  }
});

test('pg: the cluster is stopped and removed', async () => {
  if (cluster) await cluster.stop();
  cluster = null;
  rmSync(dir, { recursive: true, force: true });
});
