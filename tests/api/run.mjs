// API tests: a real bin/host on a free port with a fresh seeded database
// (plus a second server with a low SMS limit for the 429 test).
// Run from the repository root: node tests/api/run.mjs
// (TEST_ONLY=<regex> runs the matching tests only; KEEP_TMP=1 keeps the databases.)
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { run } from '../lib/harness.mjs';
import { startAll, stopAll } from './ctx.mjs';

const here = dirname(fileURLToPath(import.meta.url));
for (const f of readdirSync(here).filter((n) => /^test_.*\.mjs$/.test(n)).sort()) {
  await import(pathToFileURL(`${here}/${f}`).href);
}

await run({ before: startAll, after: stopAll });
