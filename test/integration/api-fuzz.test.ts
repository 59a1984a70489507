/**
 * Bad input never gets a 5xx or a hang: thousands of generated malformed requests across every
 * endpoint (wrong types, missing and unknown fields, malformed JSON, oversized bodies, unknown
 * ids and query values), then the server must still answer.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, startRehost, type Rehost } from '../harness.js';

let r: Rehost;
after(async () => {
  await r?.stop();
  if (r) removeDir(r.dataDir);
});

const REQUESTS = 2400;
let seed = 20261123;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const ENDPOINTS: [string, string][] = [
  ['POST', '/users/token'], ['PUT', '/users'], ['POST', '/targets'], ['GET', '/targets'], ['GET', '/targets/:id'],
  ['DELETE', '/targets/:id'], ['GET', '/targets/types'], ['GET', '/targets/:id/resources'], ['POST', '/hosts/register'],
  ['POST', '/hosts'], ['POST', '/hosts/:id/action'], ['GET', '/hosts'], ['GET', '/hosts/:id'], ['PUT', '/hosts/target_platform'],
  ['PUT', '/hosts/:id/sync_strategy'], ['GET', '/jobs'], ['POST', '/sources'], ['GET', '/sources'], ['GET', '/sources/:id'],
  ['DELETE', '/sources/:id'], ['POST', '/sources/:id/refresh'], ['GET', '/sources/:id/hosts'],
];

const FIELDS = ['ids', 'sync', 'clean', 'next_step', 'boot', 'type', 'config', 'cloud_type', 'path', 'name', 'storage_id', 'pool_id', 'step',
  'do_snapshot', 'sync_mode', 'transfer_speed', 'force', 'backup_type', 'snapshot_id', 'username', 'password', 'old_password',
  'new_password', 'check_password', 'metadata', 'snapshot_quota', 'snapshot_interval_unit', '__proto__', 'constructor'];

function value(depth = 0): unknown {
  const kinds = ['str', 'num', 'bool', 'null', 'arr', 'obj', 'big', 'neg', 'float', 'unicode', 'long', 'empty'];
  switch (pick(depth > 2 ? kinds.slice(0, 4) : kinds)) {
    case 'str': return pick(['full', 'incremental', '2', '4', 'HyperGate', 'Local', 'Image', 'volume_snapshot', 'x', '../../etc/passwd', '%00', 'true']);
    case 'num': return Math.floor(rand() * 100);
    case 'bool': return rand() < 0.5;
    case 'null': return null;
    case 'arr': return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    case 'obj': return object(depth + 1);
    case 'big': return 1e308 * 10;
    case 'neg': return -1;
    case 'float': return 0.5;
    case 'unicode': return '迁移\u0000\uffff';
    case 'long': return 'a'.repeat(5000);
    default: return '';
  }
}

function object(depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const n = Math.floor(rand() * 5);
  for (let i = 0; i < n; i++) o[pick(FIELDS)] = value(depth);
  return o;
}

function path(template: string): string {
  const id = pick(['00000000-0000-0000-0000-000000000000', 'x', 'a'.repeat(70), '%20', '..', 'null', '-1']);
  let p = template.replace(':id', encodeURIComponent(id));
  if (rand() < 0.6) {
    const params = Array.from({ length: 1 + Math.floor(rand() * 3) }, () =>
      `${pick(['page', 'page_size', 'status', 'sheet', 'kind', 'force', 'cloud_type', 'target_platform', 'ids', 'kw', 'job_type', 'owner', 'zzz'])}=${encodeURIComponent(String(pick(['-1', '0', 'abc', '1e9', 'boot', 'all', '', 'true', 'flavors', 'x'.repeat(300)])))}`,
    );
    p += `?${params.join('&')}`;
  }
  return p;
}

test(`${REQUESTS} malformed requests: no 5xx, no hang, server still answers`, async () => {
  r = await startRehost();
  const token = await r.login();
  const counts: Record<number, number> = {};
  for (let i = 0; i < REQUESTS; i++) {
    const [method, template] = pick(ENDPOINTS);
    const url = `${r.url}/hypermotion/v1${path(template)}`;
    const headers: Record<string, string> = {};
    if (rand() < 0.9) headers['X-AUTH-TOKEN'] = rand() < 0.95 ? token : 'bogus';
    let body: string | undefined;
    if (method !== 'GET' && method !== 'DELETE') {
      const shape = rand();
      headers['Content-Type'] = rand() < 0.92 ? 'application/json' : pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x']);
      if (shape < 0.55) body = JSON.stringify(object());
      else if (shape < 0.7) body = JSON.stringify(value());
      else if (shape < 0.85) body = pick(['{', '{"ids":', '[1,2', 'nul', '{"a":1}}', '\u0000', '{"ids":["a"],"sync":{"do_snapshot":"yes"}}']);
      else if (shape < 0.88) body = JSON.stringify({ ids: ['x'], pad: 'y'.repeat(1024 * 1024 + 10) });
      else body = JSON.stringify({ ids: [pick(['a', '', 1, null])], [pick(['sync', 'clean', 'next_step', 'boot'])]: object() });
    }
    const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    counts[res.status] = (counts[res.status] ?? 0) + 1;
    assert.ok(res.status < 500, `${method} ${url} → ${res.status} ${text.slice(0, 300)}`);
    if (res.status >= 400) {
      const parsed = JSON.parse(text) as { code: number; message: string };
      assert.equal(parsed.code, res.status);
      assert.ok(parsed.message.length > 0);
    }
  }
  const health = await r.api('GET', '/openapi.json', undefined, { token: null });
  assert.equal(health.status, 200);
  assert.ok(Object.keys(counts).some((c) => Number(c) >= 400), JSON.stringify(counts));
});
