// Browser tests: a real bin/host on a free port with a fresh seeded database,
// driven through the web pages by headless chromium (playwright-core).
// Run from the repository root after `npm run build`: node tests/e2e/run.mjs
// (TEST_ONLY=<regex> runs matching tests; KEEP_TMP=1 keeps the database;
// CHROMIUM=/path overrides /usr/bin/chromium). Screenshots: tests/out/e2e/.
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
