/**
 * Stopping source services before a cutover (boot option `stop_source_services`), on a real sshd
 * on 127.0.0.1:
 * - the Agent source's `services.stop` runs `systemctl stop` then `is-active` on the host, for a
 *   user whose login shell puts a recording `systemctl` first on PATH (systemctl simulated: this
 *   machine has no systemd) — one unit stops, one refuses;
 * - through the API with an Agent source logged in as root, where the real systemctl answers that
 *   systemd is not running: the cutover fails at "Stop source services" with that reason, before
 *   the final sync, and the host can boot again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';
import { createTestUser, startSshd, type Sshd, type TestUser } from '../peers/sshd.js';
import { attachLoop, canUseLoop, detachLoop } from '../peers/sshhost/loop.js';
import { addAgentSource, addLocalTarget, buildAgent, registerAndAssign, settledSource } from './agent-flow.js';
import { createAgentSource } from '../../src-main/sources/agent/index.js';
import { canStopServices } from '../../src-main/core/drivers.js';
import type { Logger } from '../../src-main/core/ports.js';

const skip = process.getuid?.() !== 0 || !existsSync('/usr/sbin/sshd') ? 'needs root and openssh-server' : false;
const work = tempDir('boot-services');
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
let sshd: Sshd | undefined;
let user: TestUser | undefined;
let r: Rehost | undefined;
let loop: string | undefined;

before(async () => {
  if (skip) return;
  chmodSync(work, 0o755); // the test user's login shell and fake systemctl live here
  sshd = await startSshd(join(work, 'sshd'));
});

after(async () => {
  await r?.stop();
  await sshd?.stop();
  if (loop) detachLoop(loop);
  user?.remove();
  removeDir(work);
});

test('services.stop runs systemctl stop and reports each unit (systemctl simulated)', { skip }, async () => {
  const bin = join(work, 'fakebin');
  mkdirSync(bin, { mode: 0o755 });
  const calls = join(work, 'systemctl.log');
  writeFileSync(calls, '', { mode: 0o666 });
  chmodSync(calls, 0o666);
  writeFileSync(
    join(bin, 'systemctl'),
    [
      '#!/bin/sh',
      `echo "$*" >> ${calls}`,
      'unit="$3"',
      'if [ "$1" = stop ] && [ "$unit" = stuck ]; then echo "Job for stuck.service failed because the control process exited with error code." >&2; exit 1; fi',
      'if [ "$1" = is-active ]; then echo inactive; exit 3; fi',
      'exit 0',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const shell = join(work, 'login-shell.sh');
  writeFileSync(shell, `#!/bin/bash\nexport PATH=${bin}:$PATH\nexec /bin/bash "$@"\n`, { mode: 0o755 });
  user = createTestUser('none', shell);
  const driver = createAgentSource({ log: quiet, workDir: join(work, 'driver'), secret: { password: user.password } }, { address: '127.0.0.1', port: sshd!.port, username: user.name, disks: [] });
  try {
    assert.ok(canStopServices(driver));
    await driver.connect(null, AbortSignal.timeout(30_000));
    const results = await driver.services.stop('127.0.0.1', ['nginx', 'stuck', 'postgresql@15-main'], AbortSignal.timeout(30_000));
    assert.deepEqual(results.map((x) => [x.name, x.ok]), [['nginx', true], ['stuck', false], ['postgresql@15-main', true]]);
    assert.equal(results[0]!.detail, 'inactive');
    assert.match(results[1]!.detail, /Job for stuck\.service failed/);
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['stop -- nginx', 'is-active -- nginx', 'stop -- stuck', 'stop -- postgresql@15-main', 'is-active -- postgresql@15-main']);
    await assert.rejects(driver.services.stop('10.1.1.1', ['nginx'], AbortSignal.timeout(5000)), /not offered by this source/);
  } finally {
    await driver.close();
  }
});

test('a cutover stops source services first; systemctl failing fails the step before the final sync, host retryable', { skip: skip || (canUseLoop() ? false : 'needs loop devices'), timeout: 300_000 }, async () => {
  const bundle = await buildAgent(join(work, 'agent'));
  makeMixedDisk(join(work, 'disk.raw'), 16, 3);
  loop = attachLoop(join(work, 'disk.raw'));
  const disk = loop;
  r = await startRehost({ env: { REHOST_AGENT_BUNDLE: bundle } });
  await r.login();
  const src = await addAgentSource(r, 'linux-01', { address: '127.0.0.1', port: sshd!.port, username: 'root', private_key: sshd!.privateKey, disks: [disk] });
  assert.equal(src.status, 200, JSON.stringify(src.body));
  assert.equal((await settledSource(r, src.id)).source.status, 'connected');
  const target = await addLocalTarget(r, join(work, 'target'));
  const id = await registerAndAssign(r, src.id, target);
  assert.equal((await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: 'full', transfer_speed: 0 } })).status, 200);
  await waitFor('full sync', async () => {
    const h = (await r!.api('GET', `/hosts?ids=${id}`)).body.data[0];
    if (h.h_host_status === 'sync_failed') throw new Error(h.detail);
    return h.h_host_status === 'sync_snapshot_done';
  }, 120_000);
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const snap = (await r.api('GET', `/hosts/${id}?sheet=snapshot`)).body.data[0].id;

  const syncsBefore = (await r.api('GET', `/jobs?id=${id}&job_type=Sync`)).body.total;
  const res = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_backup', snapshot_id: snap, flavor_id: 'local.small', boot_timeout_seconds: 5, stop_source_services: ['nginx'] } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const h = await waitFor('cutover end', async () => {
    const current = (await r!.api('GET', `/hosts?ids=${id}`)).body.data[0];
    return current.h_boot_status === 'boot_failed' || current.h_boot_status === 'boot_done' ? current : null;
  }, 120_000);
  assert.equal(h.h_boot_status, 'boot_failed');
  const job = (await r.api('GET', `/jobs?id=${id}&job_type=Boot&page_size=1`)).body.data[0];
  assert.deepEqual(job.steps.map((s: any) => s.name), ['Stop source services', 'Final sync', 'Boot instance']);
  assert.equal(job.steps[0].status, 'failed');
  assert.match(job.steps[0].detail, /could not stop nginx \(.*(systemd|System has not been booted|Failed to connect to bus).*\)/s);
  assert.notEqual(job.steps[1].status, 'done', 'the final sync did not run');
  assert.equal((await r.api('GET', `/jobs?id=${id}&job_type=Sync`)).body.total, syncsBefore, 'no final sync job was started');
  assert.equal(h.h_host_status, 'sync_snapshot_done', 'the host stays where it was');

  // Retryable: the same host accepts a boot again.
  const again = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: snap, flavor_id: 'local.small', boot_timeout_seconds: 5 } });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  await waitFor('test boot end', async () => ['boot_failed', 'boot_done'].includes((await r!.api('GET', `/hosts?ids=${id}`)).body.data[0].h_boot_status), 120_000);
});
