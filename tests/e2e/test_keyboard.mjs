// Keyboard only: a school logs in, reaches the plans and opens the form
// with Tab and Enter, and the form's buttons are reachable by Tab (the
// rich-text editors used to keep Tab for indenting: 2026-11-28).
import { test, assert } from '../lib/harness.mjs';
import { session, DEMO_PASSWORD } from './ctx.mjs';

// Presses Tab until the focused element matches the predicate (in page),
// at most max times. Returns whether it got there.
async function tabTo(page, predicate, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(predicate)) return true;
  }
  return false;
}

test('keyboard: log in, open the plans and the form, reach 保存 and 保存并提交 without a mouse', async () => {
  const s = await session('keyboard');
  const { page } = s;
  await s.goto('/login');
  await page.waitForSelector('input[name=username]');
  assert(await tabTo(page, () => document.activeElement.name === 'username'), 'Tab reaches 账号');
  await page.keyboard.type('school113');
  await page.keyboard.press('Tab');
  await page.keyboard.type(DEMO_PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.layout-main');
  assert(await tabTo(page, () => document.activeElement.textContent.trim() === '申报证书试点'),
    'Tab reaches 申报证书试点');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.plans-table .btn-declare');
  assert(await tabTo(page, () => document.activeElement.classList.contains('btn-declare')), 'Tab reaches 立即申报');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.decl-form');
  assert(await tabTo(page, () => document.activeElement.classList.contains('btn-save'), 120), 'Tab reaches 保存');
  await page.keyboard.press('Tab');
  assert(await page.evaluate(() => document.activeElement.classList.contains('btn-submit')), '保存并提交 next');
  await s.shot('form-focus');
  s.assertClean();
  await s.close();
});
