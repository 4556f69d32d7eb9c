// A throwaway PostgreSQL cluster for the tests: Debian's postgresql-15,
// `initdb` in a temporary directory (as the `postgres` user when the tests
// run as root: PostgreSQL refuses to run as root), listening only on a unix
// socket in that directory with a free port number; stopped and removed by
// stop(). Nothing outside the directory is touched.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

const BIN = '/usr/lib/postgresql/15/bin';

export function available() {
  return existsSync(join(BIN, 'initdb')) && existsSync(join(BIN, 'postgres'));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid && process.getuid() === 0;

// argv run as the cluster's owner: `postgres` when we are root.
function owned(argv) {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', ...argv]] : [argv[0], argv.slice(1)];
}

function run(argv, what) {
  const [cmd, args] = owned(argv);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

// Starts a cluster; resolves to { uri(dbname), createdb(name), psql(sql, db), stop() }.
export async function startCluster() {
  if (!available()) throw new Error(`PostgreSQL 15 is not installed (${BIN}): make deps installs postgresql-15`);
  const dir = mkdtempSync(join(tmpdir(), 'host-pg-'));
  chmodSync(dir, 0o777);   // the postgres user writes its data and socket here
  const data = join(dir, 'data');
  const port = await freePort();
  run([join(BIN, 'initdb'), '-D', data, '-U', 'host', '--auth=trust', '-E', 'UTF8',
    '--locale=C.UTF-8', '--no-sync'], 'initdb');
  const [cmd, args] = owned([join(BIN, 'postgres'), '-D', data, '-k', dir, '-p', String(port),
    '-c', 'listen_addresses=', '-c', 'fsync=on', '-c', 'synchronous_commit=on',
    '-c', 'max_connections=400', '-c', 'log_min_messages=warning']);
  let proc = null, log = '';
  const ready = () => spawnSync(join(BIN, 'pg_isready'), ['-h', dir, '-p', String(port), '-U', 'host'],
    { encoding: 'utf8' }).status === 0;
  async function start() {
    proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr.on('data', (d) => { log = (log + d).slice(-20000); });
    // the cluster never keeps the tests' process alive: whoever forgets
    // stop() still gets stopSync() from an 'exit' handler
    proc.unref();
    proc.stderr.unref();
    for (let i = 0; !ready(); i++) {
      if (i > 300 || proc.exitCode !== null) {
        proc.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`PostgreSQL did not start: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await start();
  const psql = (sql, db = 'postgres') => run([join(BIN, 'psql'),
    '-h', dir, '-p', String(port), '-U', 'host', '-d', db, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], 'psql');
  return {
    dir, port,
    get log() { return log; },
    uri: (db) => `postgresql://host@/${db}?host=${encodeURIComponent(dir)}&port=${port}`,
    createdb(name) { psql(`CREATE DATABASE "${name}"`); return this.uri(name); },
    psql,
    // for process.on('exit'): an immediate stop, then the directory goes
    stopSync() {
      if (proc.exitCode === null) {
        try { run([join(BIN, 'pg_ctl'), 'stop', '-D', data, '-m', 'immediate', '-w'], 'pg_ctl stop'); } catch { proc.kill('SIGKILL'); }
      }
      rmSync(dir, { recursive: true, force: true });
    },
    // a fast shutdown (every connection ended by the server) and a start
    async restart() {
      const done = new Promise((r) => proc.on('exit', r));
      run([join(BIN, 'pg_ctl'), 'stop', '-D', data, '-m', 'fast', '-w'], 'pg_ctl stop');
      if (proc.exitCode === null) await done;
      await start();
    },
    async stop() {
      if (proc.exitCode === null) {
        try { run([join(BIN, 'pg_ctl'), 'stop', '-D', data, '-m', 'fast', '-w'], 'pg_ctl stop'); } catch { /* killed below */ }
        for (let i = 0; i < 100 && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
