// Makes the screenshots in docs/img (README, docs/ui.md): a day of traffic sent through a real
// hitl serve, hour by hour (HITL_CLOCK_OFFSET_MS moves the service's clock), so the console has
// something to draw. Not a test: run it by hand after a UI change.
//   HITL_EXE=build/bin/hitl HITL_SOURCE_DIR=$PWD node tests/browser/screenshots.mjs docs/img
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requirements, Service, launch, openPage, signIn, pickDomain, loan, sleep } from './harness.mjs';

const out = resolve(process.argv[2] || 'docs/img');
const puppeteer = await requirements();
const HOUR = 3600e3;
const service = new Service();

// Deterministic "random" numbers: the same pictures every run.
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const SEGMENTS = ['retail', 'sme', 'corporate'];

async function hour(h) {
  await service.start({ HITL_CLOCK_OFFSET_MS: String(-h * HOUR) });
  const n = 15 + Math.round(10 * Math.sin(h / 4) + 10 * rand());
  const records = [];
  for (let i = 0; i < n; i++) {
    const amount = Math.round(500 + 12000 * rand());
    const confidence = Math.min(0.99, 0.55 + 0.5 * rand());
    const r = loan(`h${h}-${i}`, amount, { segment: SEGMENTS[i % 3] });
    r.prediction = { label: rand() < 0.7 ? 'good' : 'bad', confidence };
    records.push(r);
  }
  await service.ingest('loans', records);
  // Reviewers answer most of what waits, oldest high-priority first; some corrections.
  const answers = Math.round(n * (0.25 + 0.4 * rand()));
  for (let i = 0; i < answers; i++) {
    const t = await service.call('GET', '/v1/review/next?domain=loans', service.tokens.alice);
    if (t.status !== 200) break;
    const body = rand() < 0.25 ? { outcome: 'correct', correction: { label: t.body.prediction.label === 'good' ? 'bad' : 'good' } }
                               : { outcome: 'approve' };
    await service.call('POST', `/v1/review/tasks/${t.body.task_id}/outcome`, service.tokens.alice, body);
  }
  await service.stop({ keep: true });
}

mkdirSync(out, { recursive: true });
for (let h = 24; h >= 1; h--) await hour(h);
await service.start();
await service.ingest('credit_risk', [{ id: 'app-2041', input: { Seniority: 1, Home: 'rent', Time: 60, Age: 25, Marital: 'single', Records: 'yes', Job: 'partime', Expenses: 60, Income: 80, Assets: 0, Debt: 0, Amount: 3000, Price: 3100 } }]);
const browser = await launch(puppeteer);
try {
  const admin = await openPage(browser, service);
  await signIn(admin, service.tokens.admin);
  await admin.click('nav a[href="#/console"]');
  await admin.waitForSelector('.console select');
  await admin.select('.console select', 'loans');
  await admin.waitForFunction(() => document.querySelectorAll('.chart canvas').length >= 7);
  await sleep(500);
  await admin.setViewport({ width: 1280, height: 1000 });
  await admin.screenshot({ path: join(out, 'console.png') });

  const alice = await openPage(browser, service);
  await signIn(alice, service.tokens.alice);
  await pickDomain(alice, 'credit_risk');
  await alice.keyboard.press('Enter');
  await alice.waitForSelector('.explanation .contrib');
  await alice.keyboard.press('c');
  await alice.keyboard.type('Short job history, asks for almost the full price.');
  await alice.keyboard.press('Escape');
  await alice.keyboard.press('1');  // good: a correction of the model's bad
  await alice.screenshot({ path: join(out, 'workbench.png') });
  await alice.setViewport({ width: 390, height: 844 });
  await alice.screenshot({ path: join(out, 'workbench-phone.png') });
  console.log('screenshots written to ' + out);
} finally {
  await browser.close();
  await service.stop();
}
