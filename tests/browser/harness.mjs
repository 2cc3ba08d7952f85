// Shared by the browser tests: a real `hitl serve` on a free loopback port with a temp database
// and config, tokens made with the real CLI, and Debian's chromium driven by puppeteer-core.
// A test that cannot run here (no chromium, no puppeteer-core, no hitl binary) prints
// "HITL_SKIPPED: why" and exits 0: ctest reports it skipped (SKIP_REGULAR_EXPRESSION), never passed.
import { before, after } from 'node:test';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = process.env;
export const HITL = env.HITL_EXE || '';
export const SOURCE = env.HITL_SOURCE_DIR || '';
export const ARTIFACTS = env.HITL_ARTIFACT_DIR || join(tmpdir(), 'hitl-browser-artifacts');
const CHROMIUM = env.HITL_CHROMIUM || '/usr/bin/chromium';

export function skip(why) {
  console.log('HITL_SKIPPED: ' + why);
  process.exit(0);
}

// The hitl binary, for the tests without a browser.
export function requireHitl() {
  if (!HITL || !existsSync(HITL)) skip('no hitl binary (HITL_EXE=' + HITL + ')');
}

// Everything the browser tests need, or a skip naming what is missing.
export async function requirements() {
  requireHitl();
  if (!existsSync(CHROMIUM)) skip('no chromium at ' + CHROMIUM + ' (scripts/dev/install-deps.sh test installs it)');
  try {
    return (await import('puppeteer-core')).default;
  } catch (e) {
    skip('puppeteer-core is not installed in tests/browser/node_modules (scripts/dev/install-deps.sh test): ' + e.message);
  }
  return null;
}

const POLICY = `
local hitl = require "hitl"
return {
  flag = function(p)
    if p.prediction.confidence >= 0.9 then return hitl.auto() end
    if (p.input.amount or 0) > 5000 then return hitl.review("high_amount") end
    return hitl.review("low_confidence")
  end,
  priority = function(task) return math.min(1, (task.input.amount or 0) / 10000) end,
  sla = function(task) return 3600 end,
}
`;

function config(src) {
  return `return {
  listen = "127.0.0.1:0",
  storage = { plugin = "sqlite", config = { path = "hitl.db" } },
  queue   = { plugin = "sqlite", config = { path = "hitl.db" } },
  models = { credit = { plugin = "logreg", config = { artifact = "credit.json" } } },
  domains = {
    loans = { policy = "loans.lua", labels = { "good", "bad", "refer" }, sensitive = { "name" },
              report = { group = "segment" }, cost = { reviewer_per_hour = 36, per_prediction = 0.01 } },
    quick = { policy = "loans.lua", labels = { "good", "bad", "refer" }, lease_seconds = 2 },
    credit_risk = { policy = "${src}/examples/credit_risk/policy.lua", model = "credit", labels = { "good", "bad" } },
  },
}
`;
}

export class Service {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'hitl-browser-'));
    writeFileSync(join(this.dir, 'loans.lua'), POLICY);
    copyFileSync(join(SOURCE, 'examples/credit_risk/model/credit_logreg.json'), join(this.dir, 'credit.json'));
    this.config = join(this.dir, 'hitl.lua');
    writeFileSync(this.config, config(SOURCE));
    this.tokens = {
      admin: this.token('admin', 'root'),
      alice: this.token('reviewer', 'alice', 'loans,quick,credit_risk'),
      bob: this.token('reviewer', 'bob', 'loans,quick,credit_risk'),
      client: this.token('client', 'app'),
    };
  }

  token(role, name, domains) {
    const args = ['token', 'create', '--config', this.config, '--role', role, '--name', name];
    if (domains) args.push('--domains', domains);
    return execFileSync(HITL, args, { encoding: 'utf8' }).trim();
  }

  // `extraEnv`: HITL_CLOCK_OFFSET_MS moves the service's clock (screenshots.mjs makes history).
  async start(extraEnv = {}) {
    this.proc = spawn(HITL, ['serve', '--config', this.config], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv } });
    this.log = '';
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.port = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('hitl serve did not start:\n' + this.log)), 60000);
      this.proc.stdout.on('data', (d) => {
        out += d;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      this.proc.on('exit', (code) => { clearTimeout(timer); reject(new Error('hitl serve exited ' + code + ':\n' + this.log)); });
    });
    this.base = 'http://127.0.0.1:' + this.port;
    return this;
  }

  // Stops the service; its folder (database, config) is removed unless `keep` (to start again).
  async stop({ keep = false } = {}) {
    if (this.proc && this.proc.exitCode === null) {
      const done = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 15000))]);
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }

  // The API with a token; returns {status, body, headers}.
  async call(method, path, token, body) {
    const res = await fetch(this.base + path, {
      method, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = null; }
    return { status: res.status, body: json, text, headers: res.headers };
  }

  // Records into a domain as the client; each needs a review unless its confidence is >= 0.9.
  async ingest(domain, records) {
    const r = await this.call('POST', `/v1/domains/${domain}/predictions`, this.tokens.client, records);
    if (r.status !== 200) throw new Error('ingest: ' + r.status + ' ' + r.text);
    return r.body.results || [r.body];
  }
}

export function loan(id, amount, extra = {}) {
  return {
    id, input: { name: 'Applicant ' + id, amount, segment: amount > 5000 ? 'large' : 'small', ...extra },
    prediction: { label: 'good', confidence: 0.6, scores: { good: 0.6, bad: 0.3, refer: 0.1 } },
  };
}

// One service and one browser for a test file: `env.service`, `env.browser` once before() ran.
export function setup(puppeteer) {
  const env = {};
  before(async () => {
    env.service = await new Service().start();
    env.browser = await launch(puppeteer);
  });
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.service) await env.service.stop();
  });
  return env;
}

export async function launch(puppeteer) {
  return puppeteer.launch({
    executablePath: CHROMIUM, headless: true,
    // root in a container: no user namespace sandbox; /dev/shm may be small.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
  });
}

// A page in its own browser context (its own sessionStorage), at `width` x `height`, that fails
// the test on any page error or dialog.
export async function openPage(browser, service, { width = 1280, height = 800 } = {}) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width, height });
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push('page error: ' + e.message));
  page.on('dialog', async (d) => { page.problems.push('dialog: ' + d.message()); await d.dismiss(); });
  // Chromium logs every 4xx answer as "Failed to load resource": the refusals the UI shows on
  // purpose (409 lease_not_held) are not problems; any other console error is.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) page.problems.push('console: ' + m.text());
  });
  await page.goto(service.base + '/ui/', { waitUntil: 'networkidle0' });
  return page;
}

export async function signIn(page, token) {
  await page.waitForSelector('#token');
  await page.type('#token', token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('header.top');
}

// The workbench's domain chip named `name`.
export async function pickDomain(page, name) {
  await page.waitForSelector('.domains button');
  await page.$$eval('.domains button', (bs, n) => bs.find((b) => b.textContent.trim().startsWith(n + ' ')).click(), name);
  await page.waitForFunction((n) => document.querySelector('.domains button.active').textContent.trim().startsWith(n + ' '), {}, name);
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name + '.png');
  await page.screenshot({ path, fullPage: false });
  return path;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { readFileSync };
