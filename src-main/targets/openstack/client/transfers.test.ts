// Volume transfers against a small FAKE Cinder (node:http on 127.0.0.1): the path follows the
// negotiated microversion (`/volume-transfers` from 3.55, `/os-volume-transfer` below). The real
// peer (Zed, 3.70) is exercised in test/integration/openstack-boot.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cinder } from './cinder.js';
import type { Keystone } from './keystone.js';

async function fakeCinder(maxVersion: string): Promise<{ cinder: Cinder; calls: string[]; close: () => Promise<void> }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += String(c)));
    req.on('end', () => {
      const path = new URL(req.url!, 'http://x').pathname;
      calls.push(`${req.method} ${path} ${req.headers['openstack-api-version'] ?? '-'} ${body}`);
      res.setHeader('content-type', 'application/json');
      if (path === '/') return res.writeHead(300).end(JSON.stringify({ versions: [{ id: 'v3.0', status: 'CURRENT', version: maxVersion, min_version: '3.0' }] }));
      if (req.method === 'POST' && /transfers?$/.test(path)) return res.writeHead(202).end(JSON.stringify({ transfer: { id: 't1', name: 'x', volume_id: 'v1', auth_key: 'k3y' } }));
      if (req.method === 'POST' && path.endsWith('/accept')) return res.writeHead(202).end(JSON.stringify({ transfer: { id: 't1', name: 'x', volume_id: 'v1' } }));
      if (req.method === 'GET' && path.endsWith('/detail')) return res.writeHead(200).end(JSON.stringify({ transfers: [{ id: 't1', name: 'x', volume_id: 'v1' }] }));
      if (req.method === 'DELETE') return res.writeHead(202).end();
      res.writeHead(404).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // the parts of Keystone the Cinder client uses: a token and the catalog endpoint
  const keystone = { token: () => Promise.resolve('tok'), invalidate: () => undefined, endpoint: () => Promise.resolve(`${base}/v3/p1`) } as unknown as Keystone;
  return { cinder: new Cinder(keystone), calls, close: () => new Promise((r) => server.close(() => r())) };
}

test('volume transfers (fake Cinder): /volume-transfers with no_snapshots from 3.55', async () => {
  const fake = await fakeCinder('3.70');
  try {
    const t = await fake.cinder.createTransfer('v1', 'x', { noSnapshots: true });
    assert.equal(t.auth_key, 'k3y');
    await fake.cinder.acceptTransfer('t1', 'k3y');
    assert.deepEqual((await fake.cinder.listTransfers()).map((x) => x.id), ['t1']);
    await fake.cinder.deleteTransfer('t1');
    assert.deepEqual(fake.calls.slice(1), [
      'POST /v3/p1/volume-transfers volume 3.60 {"transfer":{"volume_id":"v1","name":"x","no_snapshots":true}}',
      'POST /v3/p1/volume-transfers/t1/accept volume 3.60 {"accept":{"auth_key":"k3y"}}',
      'GET /v3/p1/volume-transfers/detail volume 3.60 ',
      'DELETE /v3/p1/volume-transfers/t1 volume 3.60 ',
    ]);
  } finally {
    await fake.close();
  }
});

test('volume transfers (fake Cinder, as no pre-3.55 cloud runs here): an older cloud (3.50) gets /os-volume-transfer without no_snapshots', async () => {
  const fake = await fakeCinder('3.50');
  try {
    await fake.cinder.createTransfer('v1', 'x', { noSnapshots: true });
    await fake.cinder.acceptTransfer('t1', 'k3y');
    assert.deepEqual(fake.calls.slice(1), [
      'POST /v3/p1/os-volume-transfer volume 3.50 {"transfer":{"volume_id":"v1","name":"x"}}',
      'POST /v3/p1/os-volume-transfer/t1/accept volume 3.50 {"accept":{"auth_key":"k3y"}}',
    ]);
  } finally {
    await fake.close();
  }
});
