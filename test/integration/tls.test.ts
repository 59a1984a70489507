/**
 * Binding anything but the default loopback address serves HTTPS with a self-signed certificate
 * generated once into the data folder; its fingerprint is printed for pinning.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { removeDir, startRehost, type Rehost } from '../harness.js';

let r: Rehost | undefined;
after(async () => {
  await r?.stop();
  if (r) removeDir(r.dataDir);
});

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a non-default address is served over TLS with a pinned, printed fingerprint', async () => {
  r = await startRehost({ listen: '127.0.0.2:0' });
  assert.match(r.url, /^https:\/\/127\.0\.0\.2:\d+$/);
  const m = /fingerprint: ([0-9A-F:]{95})/.exec(r.output());
  assert.ok(m, r.output());
  const cert = readFileSync(join(r.dataDir, 'tls', 'cert.pem'), 'utf8');
  const fp = createHash('sha256').update(new X509Certificate(cert).raw).digest('hex').toUpperCase().match(/.{2}/g)!.join(':');
  assert.equal(m[1], fp);
  const res = await get(`${r.url}/hypermotion/v1/openapi.json`, cert);
  assert.equal(res.status, 200);
  // Plain HTTP on that port is not served.
  await assert.rejects(fetch(`${r.url.replace('https', 'http')}/hypermotion/v1/openapi.json`));
  // The certificate is generated once: a restart keeps it.
  await r.stop();
  r = await startRehost({ dataDir: r.dataDir, listen: '127.0.0.2:0' });
  assert.match(r.output(), new RegExp(fp));
});
