// Unit tests of the OpenStack client against a small FAKE OpenStack (node:http on 127.0.0.1).
// The real peer (Debian's OpenStack Zed) is exercised in test/integration/openstack-client.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { OpenStackClient, OpenStackError } from './index.js';
import { faultMessage } from './errors.js';
import { compareMicroversions, pickMicroversion, serviceRoot } from './microversion.js';

const PASSWORD = 'fake-s3cret-pw';

interface Fake {
  url: string;
  calls: string[];
  tokens: string[];
  /** Tokens the fake answers 401 to. */
  revoked: Set<string>;
  /** Per `METHOD path`: statuses to answer before succeeding. */
  failures: Map<string, number[]>;
  headers: Map<string, Record<string, string | string[] | undefined>>;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const chunk of req) s += String(chunk);
  return s;
}

function tokenBody(base: string) {
  const issued = new Date();
  const ep = (type: string, url: string) => ({ id: type, type, name: type, endpoints: [{ id: `${type}-pub`, interface: 'public', region_id: 'RegionOne', url }, { id: `${type}-x`, interface: 'public', region_id: 'Other', url: 'http://127.0.0.1:1/' }] });
  return {
    token: {
      issued_at: issued.toISOString(),
      expires_at: new Date(issued.getTime() + 3600_000).toISOString(),
      user: { id: 'u1' },
      project: { id: 'p1', name: 'demo' },
      roles: [{ name: 'member' }],
      catalog: [ep('compute', `${base}/compute/v2.1`), ep('volumev3', `${base}/volume/v3/p1`), ep('network', `${base}/network`), ep('image', `${base}/image`)],
    },
  };
}

function route(fake: Fake, req: IncomingMessage, res: ServerResponse, body: string): void {
  const path = new URL(req.url!, 'http://x').pathname;
  const key = `${req.method} ${path}`;
  if (key === 'POST /v3/auth/tokens') {
    const pw = (JSON.parse(body) as { auth: { identity: { password: { user: { password: string } } } } }).auth.identity.password.user.password;
    if (pw !== PASSWORD) return json(res, 401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    const tok = `tok-${fake.tokens.length + 1}`;
    fake.tokens.push(tok);
    return json(res, 201, tokenBody(fake.url), { 'x-subject-token': tok });
  }
  if (key === 'GET /compute/') return json(res, 200, { versions: [{ id: 'v2.0', status: 'SUPPORTED', version: '', min_version: '' }, { id: 'v2.1', status: 'CURRENT', version: '2.93', min_version: '2.1' }] });
  if (key === 'GET /volume/') return json(res, 300, { versions: [{ id: 'v3.0', status: 'CURRENT', version: '3.70', min_version: '3.0' }] });
  if (fake.revoked.has(String(req.headers['x-auth-token']))) return json(res, 401, { error: { message: 'token revoked' } });
  const pending = fake.failures.get(key);
  const status = pending?.shift();
  if (status !== undefined) return json(res, status, status === 413 ? { overLimit: { code: 413, message: "VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota 'volumes'." } } : { computeFault: { message: `fake failure ${status}` } });
  if (key === 'GET /compute/v2.1/flavors/detail') return json(res, 200, { flavors: [{ id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 }] });
  if (key === 'POST /volume/v3/p1/volumes') return json(res, 202, { volume: { id: 'v1', status: 'creating', size: 1 } });
  if (key === 'GET /network/v2.0/security-groups') return json(res, 200, { security_groups: [{ id: 'sg1', name: 'default' }] });
  json(res, 404, { itemNotFound: { code: 404, message: `no route ${key}` } });
}

async function startFake(): Promise<Fake> {
  const fake: Fake = { url: '', calls: [], tokens: [], revoked: new Set(), failures: new Map(), headers: new Map(), close: async () => undefined };
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const key = `${req.method} ${new URL(req.url!, 'http://x').pathname}`;
      fake.calls.push(key);
      fake.headers.set(key, req.headers);
      route(fake, req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((r) => server.close(() => r()));
  return fake;
}

const creds = (url: string, password = PASSWORD) => ({ authUrl: `${url}/v3`, username: 'demo', password, userDomainId: 'default', projectName: 'demo', projectDomainId: 'default', region: 'RegionOne' });

test('fake OpenStack: password auth, catalog by region/interface, microversion header', async () => {
  const fake = await startFake();
  try {
    const os = new OpenStackClient(creds(fake.url));
    assert.equal(await os.keystone.endpoint('compute'), `${fake.url}/compute/v2.1`);
    const flavors = await os.nova.listFlavors();
    assert.equal(flavors[0]!.name, 'm1.tiny');
    const h = fake.headers.get('GET /compute/v2.1/flavors/detail')!;
    assert.equal(h['openstack-api-version'], 'compute 2.79');
    assert.equal(h['x-auth-token'], 'tok-1');
    assert.equal((await os.keystone.info()).projectId, 'p1');
    assert.equal(os.keystone.authentications, 1);
    // a logger dumping the client shows neither the password nor the token
    assert.doesNotMatch(inspect(os, { depth: 20, showHidden: true }), new RegExp(`${PASSWORD}|tok-1`));
  } finally {
    await fake.close();
  }
});

test('fake OpenStack: wrong password is a clear error that names neither password nor token', async () => {
  const fake = await startFake();
  try {
    const os = new OpenStackClient(creds(fake.url, 'wrong-pw-123'));
    await assert.rejects(os.nova.listFlavors(), (e: unknown) => {
      assert.ok(OpenStackError.isOpenStack(e, 401));
      assert.equal(e.code, 'UNPROCESSABLE');
      assert.match(e.message, /rejected the credentials: wrong user name, password/);
      assert.doesNotMatch(e.message + JSON.stringify(e), /wrong-pw-123|tok-/);
      return true;
    });
  } finally {
    await fake.close();
  }
});

test('fake OpenStack: token renewed before expiry and once after a 401', async () => {
  const fake = await startFake();
  try {
    let now = Date.now();
    const os = new OpenStackClient(creds(fake.url), () => now);
    await os.neutron.listSecurityGroups();
    await os.neutron.listSecurityGroups();
    assert.equal(os.keystone.authentications, 1);
    now += 56 * 60_000; // within the 5-minute margin of the 1-hour token
    await os.neutron.listSecurityGroups();
    assert.equal(os.keystone.authentications, 2);
    fake.revoked.add('tok-2');
    assert.equal((await os.neutron.listSecurityGroups())[0]!.name, 'default');
    assert.equal(os.keystone.authentications, 3);
    assert.equal(fake.headers.get('GET /network/v2.0/security-groups')!['x-auth-token'], 'tok-3');
  } finally {
    await fake.close();
  }
});

test('fake OpenStack: GET retries 5xx a bounded number of times; POST does not; 413 maps to quota', async () => {
  const fake = await startFake();
  try {
    const os = new OpenStackClient(creds(fake.url));
    fake.failures.set('GET /network/v2.0/security-groups', [503, 502]);
    assert.equal((await os.neutron.listSecurityGroups()).length, 1);
    fake.failures.set('GET /network/v2.0/security-groups', [500, 500, 500]);
    await assert.rejects(os.neutron.listSecurityGroups(), (e: unknown) => OpenStackError.isOpenStack(e, 500) && e.code === 'DRIVER');
    assert.equal(fake.calls.filter((c) => c === 'GET /network/v2.0/security-groups').length, 6);
    fake.failures.set('POST /volume/v3/p1/volumes', [500]);
    await assert.rejects(os.cinder.createVolume({ size: 1 }), (e: unknown) => OpenStackError.isOpenStack(e, 500));
    fake.failures.set('POST /volume/v3/p1/volumes', [413]);
    await assert.rejects(os.cinder.createVolume({ size: 1 }), (e: unknown) => {
      assert.ok(OpenStackError.isOpenStack(e, 413) && e.quotaExceeded);
      assert.equal(e.service, 'volumev3');
      assert.match(e.message, /^Cinder: quota exceeded .*VolumeLimitExceeded/);
      return true;
    });
    assert.equal((await os.cinder.createVolume({ size: 1 })).id, 'v1');
    assert.equal(fake.headers.get('POST /volume/v3/p1/volumes')!['openstack-api-version'], 'volume 3.60');
  } finally {
    await fake.close();
  }
});

test('fake OpenStack: a missing endpoint and a refused connection are clear errors', async () => {
  const fake = await startFake();
  try {
    const os = new OpenStackClient({ ...creds(fake.url), region: 'Nowhere' });
    await assert.rejects(os.nova.listFlavors(), /no public compute endpoint in region Nowhere/);
  } finally {
    await fake.close();
  }
  const gone = new OpenStackClient(creds(fake.url));
  await assert.rejects(gone.keystone.token(), (e: unknown) => OpenStackError.isOpenStack(e, 0) && /Keystone cannot be reached.*ECONNREFUSED/.test(e.message));
});

test('fault messages, microversion picking, service roots', () => {
  assert.equal(faultMessage('{"NeutronError": {"type": "IpAddressAlreadyAllocated", "message": "IP 10.0.0.5 already allocated"}}'), 'IP 10.0.0.5 already allocated');
  assert.equal(faultMessage('{"badRequest": {"code": 400, "message": "Invalid flavorRef"}}'), 'Invalid flavorRef');
  assert.equal(faultMessage('<html><body><h1>413 Request Entity Too Large</h1></body></html>'), '413 Request Entity Too Large');
  assert.ok(compareMicroversions('2.9', '2.10') < 0);
  assert.equal(pickMicroversion({ version: '2.93', min_version: '2.1' }, { preferred: '2.79', minimum: '2.67' }), '2.79');
  assert.equal(pickMicroversion({ version: '2.70', min_version: '2.1' }, { preferred: '2.79', minimum: '2.67' }), '2.70');
  assert.equal(pickMicroversion({ version: '2.60', min_version: '2.1' }, { preferred: '2.79', minimum: '2.67' }), null);
  assert.equal(serviceRoot('http://127.0.0.1:8776/v3/abc'), 'http://127.0.0.1:8776/');
  assert.equal(serviceRoot('http://127.0.0.1/compute/v2.1'), 'http://127.0.0.1/compute/');
});
