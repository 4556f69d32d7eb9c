// Helpers of the rule-version and shadow tests (issues 9 and 10): a server
// of its own on a copy of rules/, logged-in clients, the error assertion,
// and 广东's rules with a new limit of 50 trainees.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assert, eq } from '../lib/harness.mjs';
import { startServer, Client, ROOT } from '../lib/server.mjs';

// Runs fn(srv, dir) on a server of its own whose rules directory is a
// copy of rules/ (dir); the server's log is added to a failure.
export async function withServer(fn, opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'host-rules-'));
  cpSync(join(ROOT, 'rules'), dir, { recursive: true });
  const srv = await startServer({ rules: dir, ...opts });
  try {
    await fn(srv, dir);
  } catch (e) {
    e.message += `\nserver log: ${srv.log.slice(-2000)}`;
    throw e;
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function login(srv, user) {
  const c = new Client(srv.base);
  await c.login(user);   // throws unless 200
  return c;
}

// r is the JSON error shape with this status and code, worded in Chinese.
export function failsWith(r, status, code) {
  eq(r.status, status, `status of ${JSON.stringify(r.data).slice(0, 400)}`);
  eq(r.data.error.code, code, 'error code');
  assert(/[\u4e00-\u9fff]/.test(r.data.error.message), `a Chinese message: ${r.data.error.message}`);
}

export const FILE44 = readFileSync(join(ROOT, 'rules', '44.lua'), 'utf8');

// 广东's rules with a new limit: at most 50 trainees in a declaration;
// `extra` is Lua put before the limit (e.g. a plan_modes line).
export function limit50(extra = '') {
  return FILE44.replace('return R\n', `${extra}local check = R.check_declaration
function R.check_declaration(ctx)
  local errors = check(ctx)
  if (ctx.declaration.trainees_total or 0) > 50 then
    base.err(errors, "trainees_total", "over_limit", "申请培训总人数不能超过 50")
  end
  return errors
end

return R
`);
}
