// Browser test of the jiaozi console: playwright-core drives Debian's chromium headless
// against a `jiaozi serve` the C test started (tests/integration/test_console.c).
// Usage: node console.mjs CONFIG.json   with {url, alt_url, op:{key_id,secret}, wallet, shots}
// Prints one line per step; exits 0 only when every step held. Screenshots go to `shots`.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
mkdirSync(cfg.shots, { recursive: true });
let failures = 0;
// Polls cond (an async function) from node: page.waitForFunction would evaluate a string in
// the page, which the console's Content-Security-Policy (no unsafe-eval) rightly forbids.
async function until(cond, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures++;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Refused requests (401 before sign-in, 404 for absent modules) are expected answers, logged
  // by the browser as failed loads; anything else on the error console is a defect.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });

  await page.goto(cfg.url + '/');
  await page.waitForSelector('#signin:not([hidden])', { timeout: 10000 });

  // Wrong credentials: refused, still on the sign-in form.
  await page.fill('#key', cfg.op.key_id);
  await page.fill('#secret', '0'.repeat(64));
  await page.click('#signin-form button');
  await until(async () => (await page.textContent('#signin-error')).length > 0, 10000, 'the sign-in error');
  check((await page.textContent('#signin-error')).includes('Wrong'), 'wrong credentials are refused');
  check((await context.cookies()).every((c) => c.name !== 'jz_session'), 'no session cookie after a failed sign-in');

  // The central bank: the alerts the detectors raised on the demo's laundering patterns, one
  // worked to closure, and the double spend the hard-wallet flow caught.
  await page.fill('#key', cfg.central.key_id);
  await page.fill('#secret', cfg.central.secret);
  await page.click('#signin-form button');
  await page.waitForSelector('#overview:not([hidden])', { timeout: 10000 });
  await page.click('nav a[href="#alerts"]');
  await page.waitForSelector('#alerts tr[data-alert]', { timeout: 15000 });
  const alertId = await page.getAttribute('#alerts tr[data-alert]', 'data-alert');
  await page.click(`#alerts tr[data-alert="${alertId}"] button[data-action="investigating"]`);
  await until(async () => (await page.textContent(`#alerts tr[data-alert="${alertId}"]`) || '').includes('investigating'),
    10000, 'the alert to be under investigation');
  await page.click(`#alerts tr[data-alert="${alertId}"] button[data-action="closed_suspicious"]`);
  await until(async () => (await page.$(`#alerts tr[data-alert="${alertId}"]`)) === null, 10000, 'the alert to close');
  const worked = await page.evaluate(async (id) => (await fetch('/v1/alerts/' + id)).json(), alertId);
  check(worked.status === 'closed_suspicious', 'an alert is worked to closure (' + worked.status + ')');
  await page.screenshot({ path: cfg.shots + '/alerts.png', fullPage: true });
  await page.click('nav a[href="#cards"]');
  await until(async () => ((await page.textContent('#cards .body')) || '').includes('vouchers'), 10000,
    'the double-spend alert');
  check((await page.textContent('#cards .body')).includes('2 vouchers'), 'the double spend shows with its two vouchers');
  await page.screenshot({ path: cfg.shots + '/cards.png', fullPage: true });
  await page.click('#logout');
  await page.waitForSelector('#signin:not([hidden])', { timeout: 10000 });

  // An operator: the overview, and the page forgot the secret.
  await page.fill('#key', cfg.op.key_id);
  await page.fill('#secret', cfg.op.secret);
  await page.click('#signin-form button');
  await page.waitForSelector('#overview:not([hidden])', { timeout: 10000 });
  check((await page.inputValue('#secret')) === '', 'the secret field is cleared after sign-in');
  const cookie = (await context.cookies()).find((c) => c.name === 'jz_session');
  check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', 'session cookie is HttpOnly and SameSite=Strict');
  check(await page.evaluate(() => document.cookie.indexOf('jz_session') < 0), 'scripts cannot read the session cookie');

  // Live numbers: the journal sequence moves while the C side keeps paying.
  await until(async () => /\d/.test(await page.textContent('#st-seq')), 10000, 'the first numbers');
  const seq1 = await page.textContent('#st-seq');
  await until(async () => (await page.textContent('#st-seq')) !== seq1, 15000, 'the numbers to move');
  const seq2 = await page.textContent('#st-seq');
  check(seq1 !== seq2, `live numbers change (${seq1} -> ${seq2})`);
  await page.waitForSelector('#chart-tps canvas', { timeout: 5000 });
  check(true, 'throughput chart drawn');
  await page.screenshot({ path: cfg.shots + '/overview.png', fullPage: true });

  // Find the wallet and freeze it.
  await page.click('nav a[href="#wallets"]');
  await page.fill('#wallet-q', cfg.wallet);
  await page.click('#wallet-search button');
  await page.waitForSelector('#wallet-detail:not([hidden])', { timeout: 10000 });
  check((await page.textContent('#wd-id')) === cfg.wallet, 'the wallet is found by its id');
  await page.click('#wd-freeze');
  await until(async () => (await page.textContent('#wd-freeze')) === 'Unfreeze', 10000, 'the freeze');
  const fields = await page.textContent('#wd-fields');
  check(fields.includes('frozen'), 'the wallet is frozen from the console');
  await page.screenshot({ path: cfg.shots + '/wallet.png', fullPage: true });

  // A phone-sized screen shows the same page without sideways scrolling of the layout.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('nav a[href="#overview"]');
  await page.waitForTimeout(1500);
  const overflow = await page.evaluate(() => document.querySelector('header').scrollWidth <= window.innerWidth + 1);
  check(overflow, 'the header fits a phone screen');
  await page.screenshot({ path: cfg.shots + '/phone.png', fullPage: true });

  // CSRF from another site (alt_url: same server, another host name = another site).
  const evil = await context.newPage();
  await evil.goto(cfg.alt_url + '/console/nope');
  const res = await evil.evaluate(async ([url, id]) => {
    const out = {};
    try {
      const r = await fetch(url + '/v1/wallets/' + id, { method: 'PATCH', credentials: 'include',
        headers: { 'Content-Type': 'application/json' }, body: '{"status":"active"}' });
      out.patch = r.status;
    } catch (e) { out.patch = 'blocked'; }
    try {
      await fetch(url + '/console/logout', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '' });
      out.logout = 'sent';
    } catch (e) { out.logout = 'blocked'; }
    return out;
  }, [cfg.url, cfg.wallet]);
  check(res.patch === 'blocked' || res.patch === 401 || res.patch === 403, `cross-site PATCH refused (${res.patch})`);
  await evil.close();
  // Still signed in, and the wallet still frozen.
  const still = await page.evaluate(async (id) => (await fetch('/v1/wallets/' + id)).json(), cfg.wallet);
  check(still.status === 'frozen', 'the cross-site requests changed nothing and did not sign us out');

  // Sign out: the data routes refuse the old cookie.
  await page.click('#logout');
  await page.waitForSelector('#signin:not([hidden])', { timeout: 10000 });
  const after = await page.evaluate(async () => (await fetch('/console/stats')).status);
  check(after === 401, 'after sign-out the console data is refused');
  check(errors.length === 0, 'no script errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
} finally {
  await browser.close();
}
console.log(failures === 0 ? 'console browser test: all steps held' : `console browser test: ${failures} step(s) failed`);
process.exit(failures === 0 ? 0 : 1);
