// The operations console and the admin pages in a real browser, with data sent through the
// running service; and the UI's serving rules (headers, content types, paths outside /ui/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirements, setup, openPage, signIn, screenshot, loan } from './harness.mjs';

const env = setup(await requirements());

test('the UI is served with a strict CSP, nosniff, no referrer, and nothing outside its folder', async () => {
  const page = await fetch(env.service.base + '/ui/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  assert.doesNotMatch(await page.text(), /<script>[^<]/, 'no inline script in the page');
  const js = await fetch(env.service.base + '/ui/js/main.mjs');
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  for (const p of ['/ui/%2e%2e/%2e%2e/etc/passwd', '/ui/..%2f..%2fetc%2fpasswd', '/ui/vendor/../../../etc/passwd']) {
    const r = await fetch(env.service.base + p);
    // 404 from the UI, or (when the client resolves the dots first) the API's 401: never a file.
    assert.ok([400, 401, 404].includes(r.status), p + ' -> ' + r.status);
    assert.doesNotMatch(await r.text(), /root:/);
  }
  const api = await env.service.call('GET', '/v1/me', env.service.tokens.alice);
  assert.equal(api.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(api.body.role, 'reviewer');
});

test('the console draws its charts from data sent through the service', async () => {
  const results = await env.service.ingest('loans', [
    loan('o-1', 9000), loan('o-2', 1200), loan('o-3', 6400),
    { ...loan('o-4', 300), prediction: { label: 'good', confidence: 0.97 } },
  ]);
  assert.equal(results.filter((r) => r.status === 'pending_review').length, 3);
  // Two answers so turnaround, accuracy and cost have values.
  for (const outcome of [{ outcome: 'approve' }, { outcome: 'correct', correction: { label: 'bad' } }]) {
    const t = await env.service.call('GET', '/v1/review/next?domain=loans', env.service.tokens.alice);
    const r = await env.service.call('POST', `/v1/review/tasks/${t.body.task_id}/outcome`, env.service.tokens.alice, outcome);
    assert.equal(r.status, 200, r.text);
  }
  const now = Date.now();
  const series = await env.service.call('GET', `/v1/domains/loans/report/series?from=${now - 3600e3}&to=${now + 60e3}&bucket=60s`, env.service.tokens.admin);
  assert.equal(series.status, 200, series.text);
  const sum = (f) => series.body.buckets.reduce((a, b) => a + f(b), 0);
  assert.equal(sum((b) => b.predictions), 4);
  assert.equal(sum((b) => b.flagged), 3);
  assert.equal(sum((b) => b.corrections), 1);
  const last = series.body.buckets[series.body.buckets.length - 1];
  assert.equal(last.queue_depth.high + last.queue_depth.medium + last.queue_depth.low, 1);

  const page = await openPage(env.browser, env.service);
  await signIn(page, env.service.tokens.admin);
  await page.click('nav a[href="#/console"]');
  await page.waitForSelector('.console select');
  await page.select('.console select', 'loans');
  await page.click('.ranges button');  // last hour
  await page.waitForSelector('.charts[data-ready] canvas');
  await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length >= 7);
  assert.match(await page.$eval('.console', (c) => c.textContent), /4 predictions, 3 flagged/);
  // uPlot's legend shows the values under the cursor: hovering draws real numbers.
  const box = await (await page.$('#chart-flag .u-over')).boundingBox();
  await page.mouse.move(box.x + box.width - 3, box.y + box.height / 2);
  await screenshot(page, 'console-1280x800');
  assert.deepEqual(page.problems, []);
  await page.setViewport({ width: 390, height: 844 });
  await screenshot(page, 'console-390x844');
  await page.browserContext().close();
});

test('an admin creates a reviewer and tokens (one with an expiry), sees them listed, and a revoked token is refused at once', async () => {
  const page = await openPage(env.browser, env.service);
  await signIn(page, env.service.tokens.admin);
  await page.click('nav a[href="#/admin"]');
  await page.waitForSelector('form[aria-label="add a reviewer"]');
  await page.type('form[aria-label="add a reviewer"] input[required]', 'dora');
  await page.click('form[aria-label="add a reviewer"] button[type=submit]');
  await page.waitForFunction(() => [...document.querySelectorAll('table.reviewers td')].some((td) => td.textContent === 'dora'));
  const reviewers = await env.service.call('GET', '/v1/admin/reviewers', env.service.tokens.admin);
  assert.ok(reviewers.body.reviewers.some((r) => r.id === 'dora'));

  await page.type('form[aria-label="create a token"] input[required]', 'dora');
  await page.click('form[aria-label="create a token"] button[type=submit]');
  await page.waitForSelector('.token-secret');
  const secret = await page.$eval('.token-secret', (i) => i.value);
  assert.match(secret, /^hitl_[0-9a-f]{48}$/);
  await screenshot(page, 'admin-1280x800');
  const me = await env.service.call('GET', '/v1/me', secret);
  assert.equal(me.status, 200);
  assert.equal(me.body.name, 'dora');
  assert.equal(me.body.role, 'reviewer');

  // The list shows the new token, and its use (kept in memory, written once a minute) at once.
  const listed = await env.service.call('GET', '/v1/admin/tokens', env.service.tokens.admin);
  const dora = listed.body.tokens.find((t) => t.name === 'dora');
  assert.equal(dora.state, 'active');
  assert.ok(dora.last_used_ms > 0, JSON.stringify(dora));
  assert.equal(dora.expires_ms, null);
  await page.$$eval('.secret button', (bs) => bs.find((b) => b.textContent === 'Done').click());
  await page.waitForSelector('table.tokens tr[data-token="dora"]');

  // A token with an expiry: the row shows it.
  await page.type('form[aria-label="create a token"] input[required]', 'erin');
  await page.$$eval('form[aria-label="create a token"] label', (ls) => ls.find((l) => l.textContent.startsWith('expires')).querySelector('input').focus());
  await page.keyboard.type('1h');
  await page.click('form[aria-label="create a token"] button[type=submit]');
  await page.waitForSelector('table.tokens tr[data-token="erin"]');
  const erinExpires = await page.$eval('table.tokens tr[data-token="erin"] td:nth-child(7)', (td) => td.textContent);
  assert.notEqual(erinExpires, 'never');
  await screenshot(page, 'admin-tokens-1280x800');

  await page.$eval('table.tokens tr[data-token="dora"] button', (b) => b.click());
  await page.$$eval('.confirm button', (bs) => bs.find((b) => b.textContent === 'Yes').click());
  await page.waitForFunction(() => document.querySelector('table.tokens tr[data-token="dora"] td:nth-child(4)').textContent === 'revoked');
  const refused = await env.service.call('GET', '/v1/me', secret);
  assert.equal(refused.status, 401);
  assert.deepEqual(page.problems, []);
  await page.browserContext().close();
});
