// A small test runner shared by the API and browser tests: test(name, fn)
// registers, run() executes in order and ends with "N passed, N failed".
const tests = [];
let only = process.env.TEST_ONLY ? new RegExp(process.env.TEST_ONLY) : null;

export function test(name, fn) {
  tests.push({ name, fn });
}

export class AssertionError extends Error {}

export function assert(cond, message) {
  if (!cond) throw new AssertionError(message || 'assertion failed');
}

export function eq(actual, expected, message) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError(`${message || 'not equal'}: got ${a}, expected ${e}`);
}

export async function run({ before, after } = {}) {
  let passed = 0, failed = 0;
  const started = Date.now();
  try {
    if (before) await before();
    for (const t of tests) {
      if (only && !only.test(t.name)) continue;
      try {
        await t.fn();
        passed++;
        console.log(`ok - ${t.name}`);
      } catch (e) {
        failed++;
        console.log(`not ok - ${t.name}\n  ${(e && e.stack || String(e)).split('\n').join('\n  ')}`);
      }
    }
  } catch (e) {
    failed++;
    console.log(`not ok - setup\n  ${e && e.stack || e}`);
  } finally {
    if (after) {
      await after().catch((e) => {
        failed++;
        console.log(`not ok - teardown\n  ${e && e.stack || e}`);
      });
    }
  }
  console.log(`# ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
