/**
 * vSphere discovery against the vCenter simulator through the REST API: the inventory tree and
 * registrable VMs (vCenter and ESXi modes), a wrong password, a wrong or changed certificate
 * thumbprint, and re-login after the session expired.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createVsphereSource } from '../../src-main/sources/vsphere/index.js';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { startVcsim, vcsimBinary, type Vcsim } from '../peers/vcsim.js';

const work = tempDir('vsphere-disc');
let r: Rehost;
const sims: Vcsim[] = [];

before(async () => {
  vcsimBinary();
  r = await startRehost();
  await r.login();
});
after(async () => {
  await r?.stop();
  for (const s of sims) await s.stop();
  removeDir(work);
});

async function sim(flags: string[] = []): Promise<Vcsim> {
  const s = await startVcsim(flags);
  sims.push(s);
  return s;
}

/** Adds a VMware source and waits until its first refresh job ends; returns the source detail. */
async function addSource(name: string, s: Vcsim, extra: Record<string, unknown> = {}): Promise<{ id: string; detail: any }> {
  const res = await r.api('POST', '/sources', { type: 'VMware', name, config: { host: s.host, port: s.port, username: s.username, password: s.password, ...extra } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const id = res.body.data.id as string;
  const detail = await waitFor(`source ${name} settled`, async () => {
    const d = (await r.api('GET', `/sources/${id}`)).body;
    return d.source.status === 'connecting' ? null : d;
  });
  return { id, detail };
}

test('vCenter inventory: counts equal the simulated model, VMs are registrable hosts', async () => {
  const dc = 2, clusters = 2, hostsPer = 2, vmsPer = 2;
  const s = await sim(['-dc', String(dc), '-cluster', String(clusters), '-host', String(hostsPer), '-vm', String(vmsPer)]);
  const { id, detail } = await addSource('vc', s);
  assert.equal(detail.source.status, 'connected', JSON.stringify(detail.source));
  assert.match(detail.source.pinned_identity, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  // vcsim's VPX model: per datacenter `clusters` clusters of `hostsPer` hosts plus one standalone
  // host; `vmsPer` VMs in each cluster's and each standalone host's resource pool.
  const counts = detail.tree.counts;
  assert.deepEqual(counts, { datacenters: dc, clusters: dc * clusters, hosts: dc * (clusters * hostsPer + 1), vms: dc * (clusters + 1) * vmsPer });
  assert.equal(detail.tree.datacenters.length, dc);
  const treeVms = detail.tree.datacenters.flatMap((d: any) => d.clusters.flatMap((c: any) => c.hosts.flatMap((h: any) => h.folders.flatMap((f: any) => f.vms))));
  assert.equal(treeVms.length, counts.vms);
  const hosts = (await r.api('GET', `/sources/${id}/hosts`)).body;
  assert.equal(hosts.total, counts.vms);
  assert.deepEqual(new Set(hosts.data.map((h: any) => h.id)), new Set(treeVms.map((v: any) => v.id)), 'host ids are the VMs instance uuids');
  const one = hosts.data[0];
  assert.match(JSON.stringify(one), /00:0c:29/, 'NICs carry MACs');
  assert.ok(JSON.stringify(one).includes('CBT_AVAILABLE'), 'environment checks are listed');
  // A refresh reuses the session and keeps the same hosts.
  const refresh = await r.api('POST', `/sources/${id}/refresh`);
  assert.equal(refresh.status, 200, JSON.stringify(refresh.body));
  await waitFor('refresh done', async () => (await r.api('GET', `/jobs?id=${id}`)).body.data?.every((j: any) => j.job_status !== 'doing'));
  assert.equal((await r.api('GET', `/sources/${id}/hosts`)).body.total, counts.vms);
});

test('standalone ESXi (-esx): one datacenter, no cluster, one host', async () => {
  const s = await sim(['-esx', '-vm', '3']);
  const { id, detail } = await addSource('esx', s);
  assert.equal(detail.source.status, 'connected', JSON.stringify(detail.source));
  assert.deepEqual(detail.tree.counts, { datacenters: 1, clusters: 0, hosts: 1, vms: 3 });
  assert.equal(detail.tree.server.api_type, 'HostAgent');
  assert.equal((await r.api('GET', `/sources/${id}/hosts`)).body.total, 3);
});

test('a wrong password fails the source with a clear reason', async () => {
  const s = await sim();
  const { detail } = await addSource('badpass', s, { password: 'not-the-password' });
  assert.equal(detail.source.status, 'failed');
  assert.match(detail.source.status_reason, /refused the user name or password/);
});

test('a wrong pinned thumbprint is refused before logging in', async () => {
  const s = await sim();
  const { detail } = await addSource('badthumb', s, { thumbprint: 'AB'.repeat(32) });
  assert.equal(detail.source.status, 'failed');
  assert.match(detail.source.status_reason, /thumbprint .* but AB:?AB.* is pinned/i);
});

function makeCert(name: string): { cert: string; key: string } {
  const cert = join(work, `${name}.crt`);
  const key = join(work, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

test('a regenerated server certificate is refused after first-use pinning', async () => {
  const a = makeCert('a');
  const first = await sim(['-tlscert', a.cert, '-tlskey', a.key]);
  const { id, detail } = await addSource('pinned', first);
  assert.equal(detail.source.status, 'connected');
  const pinned = detail.source.pinned_identity;
  await first.stop();
  sims.splice(sims.indexOf(first), 1);
  const b = makeCert('b');
  const second = await sim(['-l', `127.0.0.1:${first.port}`, '-tlscert', b.cert, '-tlskey', b.key]);
  assert.equal(second.port, first.port);
  assert.equal((await r.api('POST', `/sources/${id}/refresh`)).status, 200);
  const after = await waitFor('refresh refused', async () => {
    const d = (await r.api('GET', `/sources/${id}`)).body;
    return d.source.status === 'connected' ? null : d;
  });
  assert.equal(after.source.status, 'disconnected');
  assert.match(after.source.status_reason, /thumbprint/);
  assert.ok(after.source.status_reason.includes(pinned), 'the reason names the pinned thumbprint');
});

test('an expired session is re-established transparently', async () => {
  const s = await sim(['-session-idle-timeout', '1s']);
  const lines: string[] = [];
  const log: any = { debug() {}, info: (_o: unknown, m: string) => lines.push(m), warn() {}, error() {}, child: () => log };
  const driver = createVsphereSource({ log, workDir: work, secret: { password: s.password } }, { host: s.host, port: s.port, username: s.username });
  try {
    await driver.connect(null, AbortSignal.timeout(10_000));
    const firstRun = await driver.discover(AbortSignal.timeout(10_000));
    await new Promise((res) => setTimeout(res, 2500));
    const second = await driver.discover(AbortSignal.timeout(10_000));
    assert.equal(second.hosts.length, firstRun.hosts.length);
    assert.ok(lines.includes('vSphere session expired; logging in again'), lines.join('\n'));
  } finally {
    await driver.close();
  }
});
