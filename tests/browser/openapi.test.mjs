// docs/openapi.json against the real router: the document is valid OpenAPI 3.1, the service
// serves it at /v1/openapi.json, every operation it names is routed (never "no route", never 405),
// every other method of its paths is not, and it lists the routes docs/http-api.md lists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireHitl, skip, Service, SOURCE } from './harness.mjs';

requireHitl();
let Validator;
try {
  ({ Validator } = await import('@seriousme/openapi-schema-validator'));
} catch (e) {
  skip('@seriousme/openapi-schema-validator is not installed (scripts/dev/install-deps.sh test): ' + e.message);
}
const doc = JSON.parse(readFileSync(join(SOURCE, 'docs/openapi.json'), 'utf8'));
const METHODS = ['get', 'post', 'put', 'delete'];
let service;
before(async () => { service = await new Service().start(); });
after(async () => { if (service) await service.stop(); });

// A concrete path for a documented one: a configured domain, ids that exist nowhere (so no
// operation changes anything), `none` for other names.
function concrete(path) {
  return path.replace('{domain}', 'loans').replace('{task_id}', '999999').replace(/\{id\}/, path.includes('/jobs/') ? '999999' : 'no-such-id')
    .replace('{name}', 'no-such-token');
}
const notRouted = (r) => r.status === 405 || (r.status === 404 && r.body && r.body.error && /^no route/.test(r.body.error.message));

test('docs/openapi.json is a valid OpenAPI 3.1 document', async () => {
  const v = new Validator();
  const res = await v.validate(doc);
  assert.deepEqual(res.errors ?? [], [], JSON.stringify(res.errors, null, 2));
  assert.equal(res.valid, true);
  assert.equal(v.version, '3.1');
});

test('the service serves it at /v1/openapi.json without a token', async () => {
  const r = await fetch(service.base + '/v1/openapi.json');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(await r.json(), doc);
});

test('every documented operation is routed, and no other method of its path', async () => {
  const routed = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const body = m === 'post' || m === 'put' ? {} : undefined;
      const r = await service.call(m.toUpperCase(), concrete(path), service.tokens.admin, body);
      if (item[m]) {
        assert.ok(!notRouted(r), `${m.toUpperCase()} ${path}: ${r.status} ${r.text}`);
        routed.push(m + ' ' + path);
      } else {
        assert.ok(notRouted(r), `${m.toUpperCase()} ${path} is answered (${r.status} ${r.text}) but not documented`);
      }
    }
  }
  assert.ok(routed.length >= 37, routed.length + ' operations');
});

test('it lists exactly the routes of the table in docs/http-api.md', () => {
  const table = readFileSync(join(SOURCE, 'docs/http-api.md'), 'utf8').split('\n')
    .map((l) => /^\| (GET|POST|PUT|DELETE)( \(or (POST)\))? \| `([^`?]+)/.exec(l)).filter(Boolean)
    .flatMap((m) => [m[1], m[3]].filter(Boolean).map((meth) => meth.toLowerCase() + ' ' + m[4]))
    .filter((r) => !r.endsWith('/ui/...'));
  const documented = Object.entries(doc.paths).flatMap(([p, item]) => METHODS.filter((m) => item[m]).map((m) => m + ' ' + p));
  assert.deepEqual([...new Set(table)].sort(), documented.sort());
});
