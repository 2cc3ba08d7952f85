// The reviewer workbench in a real browser against a real hitl serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { requirements, setup, openPage, signIn, pickDomain, screenshot, loan, sleep } from './harness.mjs';

const env = setup(await requirements());

const taskOnScreen = (page) => page.evaluate(() => document.body.dataset.taskId || '');
async function waitForTask(page, not = '') {
  await page.waitForFunction((prev) => document.body.dataset.taskId && document.body.dataset.taskId !== prev, { timeout: 10000 }, not);
  return taskOnScreen(page);
}

// Every file the sign-in page loads (the workbench's code comes with it), raw and gzipped.
async function pageWeight(page, url) {
  const bodies = [];
  page.on('response', (r) => bodies.push(r.buffer().catch(() => Buffer.alloc(0))));
  await page.goto(url, { waitUntil: 'networkidle0' });
  const all = await Promise.all(bodies);
  return { files: all.length, raw: all.reduce((a, b) => a + b.length, 0), gzip: all.reduce((a, b) => a + gzipSync(b).length, 0) };
}

test('a reviewer signs in, claims, corrects with the keyboard and sees the next one', async () => {
  await env.service.ingest('loans', [loan('w-1', 9000), loan('w-2', 8000), loan('w-3', 7000)]);
  const context = await env.browser.createBrowserContext();
  const weight = await pageWeight(await context.newPage(), env.service.base + '/ui/');
  console.log(`workbench page weight: ${(weight.raw / 1024).toFixed(1)} KB, ${(weight.gzip / 1024).toFixed(1)} KB gzip, ${weight.files} files`);
  assert.ok(weight.gzip < 300 * 1024, 'the workbench stays under 300 KB compressed');
  await context.close();
  const page = await openPage(env.browser, env.service);
  await signIn(page, env.service.tokens.alice);
  await pickDomain(page, 'loans');
  await page.waitForSelector('.start button');
  await screenshot(page, 'workbench-queue-1280x800');
  // The queue shows the three tasks with their reason.
  await page.waitForFunction(() => document.querySelectorAll('table.tasks tbody tr').length === 3);
  assert.match(await page.$eval('table.tasks', (t) => t.textContent), /high_amount/);

  await page.keyboard.press('Enter');  // Start reviewing
  const first = await waitForTask(page);
  const text = await page.$eval('article.task', (a) => a.textContent);
  assert.match(text, /high_amount/);
  assert.doesNotMatch(text, /Applicant w-1/, 'the sensitive field is masked as the API returns it');
  await screenshot(page, 'workbench-task-1280x800');
  await page.keyboard.press('c');
  await page.keyboard.type('income too low for this amount');
  await page.keyboard.press('Escape');
  await page.keyboard.press('2');  // label 2 = bad: a correction (the model said good)
  assert.match(await page.$eval('.submit-row .primary', (b) => b.textContent), /correct to .bad/);
  await page.keyboard.press('Enter');
  const second = await waitForTask(page, first);
  assert.notEqual(second, first);
  const ms = await page.evaluate(() => document.body.dataset.answerToNextMs);
  console.log(`answer to next task on screen: ${ms} ms`);

  const decision = await env.service.call('GET', '/v1/domains/loans/decisions/w-1', env.service.tokens.admin);
  assert.equal(decision.body.final_outcome, 'correct');
  assert.equal(decision.body.final_label, 'bad');
  const trace = await env.service.call('GET', '/v1/domains/loans/decisions/w-1/trace', env.service.tokens.admin);
  assert.equal(trace.body.reviews[0].comment, 'income too low for this amount');
  // Approve the second with the keyboard too, then release the third with s.
  await page.keyboard.press('a');
  await page.keyboard.press('Enter');
  const third = await waitForTask(page, second);
  await page.keyboard.press('s');
  await page.waitForSelector('.start button');
  const released = await env.service.call('GET', '/v1/review/tasks?domain=loans&status=pending', env.service.tokens.admin);
  assert.deepEqual(released.body.tasks.map((t) => String(t.task_id)), [third]);
  assert.deepEqual(page.problems, []);
  await page.browserContext().close();
});

test('a second reviewer never sees the first one\'s task', async () => {
  await env.service.ingest('credit_risk', [
    { id: 'c-1', input: { Seniority: 1, Home: 'rent', Time: 60, Age: 25, Marital: 'single', Records: 'yes', Job: 'partime', Expenses: 60, Income: 80, Assets: 0, Debt: 0, Amount: 3000, Price: 3100 } },
    { id: 'c-2', input: { Seniority: 9, Home: 'owner', Time: 36, Age: 40, Marital: 'married', Records: 'no', Job: 'fixed', Expenses: 45, Income: 200, Assets: 5000, Debt: 0, Amount: 2800, Price: 3500 } },
  ]);
  const alice = await openPage(env.browser, env.service);
  const bob = await openPage(env.browser, env.service, { width: 390, height: 844 });
  await signIn(alice, env.service.tokens.alice);
  await signIn(bob, env.service.tokens.bob);
  for (const p of [alice, bob]) await pickDomain(p, 'credit_risk');
  await alice.keyboard.press('Enter');
  const a = await waitForTask(alice);
  // The model's explanation is drawn: signed bars, largest first.
  assert.ok((await alice.$$('.explanation .contrib')).length > 0);
  await screenshot(alice, 'workbench-explanation-1280x800');
  await bob.keyboard.press('Enter');
  const b = await waitForTask(bob);
  assert.notEqual(a, b);
  await screenshot(bob, 'workbench-task-390x844');
  // Bob answers on until nothing waits (a gold task may have joined the queue at the policy's
  // gold_rate, looking like any other): his claims find nothing else, and never alice's task.
  let last = b;
  for (let answered = 0; last !== '' && answered < 5; ++answered) {
    await bob.keyboard.press('x');
    await bob.keyboard.press('Enter');
    await bob.waitForFunction((prev) => /No task waiting/.test(document.body.textContent) ||
      (document.body.dataset.taskId && document.body.dataset.taskId !== prev), { timeout: 10000 }, last);
    last = await taskOnScreen(bob);
    assert.notEqual(last, a);
  }
  assert.equal(last, '');
  assert.equal(await taskOnScreen(bob), '');
  assert.equal(await taskOnScreen(alice), a);
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
  await alice.browserContext().close();
  await bob.browserContext().close();
});

test('a lost lease shows its message and keeps what was typed', async () => {
  await env.service.ingest('quick', [loan('q-1', 9000)]);
  const page = await openPage(env.browser, env.service);
  await signIn(page, env.service.tokens.alice);
  await pickDomain(page, 'quick');
  await page.keyboard.press('Enter');
  await waitForTask(page);
  await page.keyboard.press('c');
  await page.keyboard.type('half-written thought');
  await page.keyboard.press('Escape');
  await sleep(3500);  // the lease is 2 s; the service expires leases every second
  await page.waitForFunction(() => /lease expired/.test(document.querySelector('.lease').textContent));
  await page.keyboard.press('a');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.banner.error');
  assert.match(await page.$eval('.banner.error', (e) => e.textContent), /lease on this task ran out/);
  assert.equal(await page.$eval('#comment', (t) => t.value), 'half-written thought');
  await screenshot(page, 'workbench-lease-lost-1280x800');
  // Claimed again, the task gets its unsent comment back.
  await page.$$eval('.gone-actions button', (bs) => bs[0].click());
  await page.waitForFunction(() => !document.querySelector('.gone-actions'));
  assert.equal(await page.$eval('#comment', (t) => t.value), 'half-written thought');
  await page.keyboard.press('s');  // back to the queue
  await page.waitForSelector('.start button');
  assert.deepEqual(page.problems, []);
  await page.browserContext().close();
});

test('an active reviewer keeps the lease: it is renewed while they type', async () => {
  await env.service.ingest('quick', [loan('q-2', 9000)]);
  const page = await openPage(env.browser, env.service);
  await signIn(page, env.service.tokens.bob);
  await pickDomain(page, 'quick');
  await page.keyboard.press('Enter');
  const id = await waitForTask(page);
  // q-1 of the test before may come first (same priority, older): whichever is on screen.
  const decisionId = (await page.$eval('article.task h2 small', (e) => e.textContent)).replace(/^decision /, '');
  await page.keyboard.press('c');
  for (let i = 0; i < 20; i++) {  // 5 s of typing against a 2 s lease
    await page.keyboard.type('.');
    await sleep(250);
  }
  await page.keyboard.press('Escape');
  assert.doesNotMatch(await page.$eval('.lease', (e) => e.textContent), /expired/);
  await page.keyboard.press('a');
  await page.keyboard.press('Enter');
  await page.waitForFunction((prev) => document.body.dataset.taskId !== prev, {}, id);
  const decision = await env.service.call('GET', '/v1/domains/quick/decisions/' + decisionId, env.service.tokens.admin);
  assert.equal(decision.body.final_outcome, 'approve');
  const trace = await env.service.call('GET', `/v1/domains/quick/decisions/${decisionId}/trace`, env.service.tokens.admin);
  assert.ok(trace.body.audit.filter((a) => a.action === 'task.lease_renewed').length >= 2);
  assert.equal(trace.body.reviews[0].comment, '.'.repeat(20));
  assert.deepEqual(page.problems, []);
  await page.browserContext().close();
});

test('an input holding HTML and script is shown as text and runs nothing', async () => {
  const hostile = {
    id: '<img src=x onerror=alert(1)>',
    input: { amount: 9999, note: '<img src=x onerror="window.__pwned=1;alert(1)">', bio: '<script>window.__pwned=2;alert(2)</script>',
             '<b onmouseover=alert(3)>key</b>': 'javascript:alert(4)' },
    prediction: { label: 'good', confidence: 0.5 },
  };
  await env.service.ingest('loans', [hostile]);
  const page = await openPage(env.browser, env.service);
  await signIn(page, env.service.tokens.bob);
  await pickDomain(page, 'loans');
  await page.keyboard.press('Enter');
  await waitForTask(page);
  await page.waitForFunction(() => document.querySelector('article.task').textContent.includes('<script>'));
  const text = await page.$eval('article.task', (a) => a.textContent);
  assert.ok(text.includes('<img src=x onerror="window.__pwned=1;alert(1)">'));
  assert.ok(text.includes('<script>window.__pwned=2;alert(2)</script>'));
  assert.ok(text.includes('<b onmouseover=alert(3)>key</b>'));
  assert.ok(text.includes('<img src=x onerror=alert(1)>'), 'the decision id too');
  assert.equal(await page.$$eval('#main img, #main script, #main b', (e) => e.length), 0);
  await page.hover('table.input');
  await sleep(300);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(page.problems, []);
  await screenshot(page, 'workbench-hostile-input-1280x800');
  await page.keyboard.press('s');
  await page.browserContext().close();
});
