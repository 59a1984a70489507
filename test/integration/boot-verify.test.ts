/**
 * Boot verification on the Local target under real QEMU, through the API, with the busybox image:
 * a snapshot still create_doing is refused naming it and boots once done (qemu-img create is held
 * by a wrapper to keep it create_doing); a custom `boot_marker` regex; a boot that never shows its
 * marker fails at `boot_timeout_seconds` with the console's tail in the reason; the console API
 * answers at most the last 256 KiB; readiness through the QEMU guest agent, with the agent
 * SIMULATED by the test on the socket QEMU made (the busybox guest runs no qemu-ga); the quota
 * keeps the snapshot a running test boot uses; a cleanup with a snapshot layer removed by hand
 * is refused without force and leaves nothing with it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { addTarget, assignTarget, bootAndWait, hostRow, killProcessesWith, processesWith, registerImageHost, snapshotsOldestFirst, syncAndWait } from '../host-flow.js';
import { bootFixtureUnavailable, buildBusyboxImage, writeDataRegion } from '../fixtures/images/busybox.js';
import { qemuImgHold } from '../qemu-img-hold.js';

const skip = bootFixtureUnavailable();
const work = tempDir('boot-verify');
const NEVER = 'REHOST-MARKER-NEVER-PRINTED';
let r: Rehost | undefined;
const servers: Server[] = [];
after(async () => {
  for (const s of servers) s.close();
  await r?.stop();
  killProcessesWith('rehost-', work);
  removeDir(work);
});

/**
 * The QEMU guest agent, simulated: once the machine's record names its agent socket and QEMU made
 * it, the socket file is replaced by one this test serves, answering guest-sync and guest-ping
 * as qemu-ga does. The engine's probe then reaches this server instead of the silent guest.
 */
async function simulateGuestAgent(machines: string, known: Set<string>): Promise<string> {
  const record = await waitFor('the machine record', async () => {
    const fresh = readdirSync(machines).filter((n) => n.endsWith('.json') && !known.has(n));
    return fresh[0] ? (JSON.parse(readFileSync(join(machines, fresh[0]), 'utf8')) as { instanceId: string; agentSocket: string }) : null;
  }, 120_000, 50);
  await waitFor('QEMU made the agent socket', async () => existsSync(record.agentSocket), 60_000, 50);
  rmSync(record.agentSocket);
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      buffered += text;
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        const cmd = JSON.parse(line) as { execute: string; arguments?: { id?: number } };
        if (cmd.execute === 'guest-sync') socket.write(`${JSON.stringify({ return: cmd.arguments?.id })}\n`);
        if (cmd.execute === 'guest-ping') socket.write(`${JSON.stringify({ return: {} })}\n`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((res) => server.listen(record.agentSocket, () => res()));
  return record.instanceId;
}

test('Local boot verification: create_doing refused, custom marker, timeout with console tail, 256 KiB console, guest agent (simulated by the test), quota in use, forced cleanup', { skip: skip ?? false, timeout: 900_000 }, async () => {
  const images = join(work, 'images');
  const targetDir = join(work, 'target');
  mkdirSync(images);
  const disk = join(images, 'verify-01.raw');
  execFileSync('cp', ['--sparse=always', buildBusyboxImage(1100), disk]);
  writeDataRegion(disk);
  const held = qemuImgHold(join(work, 'hold'));
  r = await startRehost({ env: { PATH: held.path } });
  await r.login();
  const id = await registerImageHost(r, images, 'verify');
  await assignTarget(r, id, await addTarget(r, { cloud_type: 'Local', path: targetDir }));
  const targetBefore = readdirSync(targetDir).sort();
  await syncAndWait(r, id, 'full');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], next_step: { step: '4' } })).status, 200);
  const [s1] = await snapshotsOldestFirst(r, id);
  const boot = (fields: Record<string, unknown>) => bootAndWait(r!, id, { backup_type: 'volume_snapshot', flavor_id: 'local.small', boot_timeout_seconds: 240, ...fields });

  // A snapshot still being made: refused naming it; once create_done it boots (the host was retryable).
  const gen2 = writeDataRegion(disk);
  held.hold();
  assert.equal((await r.api('POST', '/hosts', { ids: [id], sync: { do_snapshot: true, sync_mode: 'incremental' } })).status, 200);
  const s2 = await waitFor('create_doing', async () => (await snapshotsOldestFirst(r!, id)).find((s) => s.status === 'create_doing'), 60_000);
  assert.equal(s2.is_available, false);
  const refused = await r.api('POST', `/hosts/${id}/action`, { boot: { backup_type: 'volume_snapshot', snapshot_id: s2.id, flavor_id: 'local.small' } });
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.field, 'boot.snapshot_id');
  assert.match(refused.body.message, new RegExp(`^snapshot ${s2.snapshot_name} is still being created \\(create_doing\\)`));
  held.go();
  await waitFor('sync done', async () => (await hostRow(r!, id)).h_host_status === 'sync_snapshot_done', 120_000);
  const s2done = (await snapshotsOldestFirst(r, id)).find((s) => s.id === s2.id);
  assert.deepEqual([s2done.status, s2done.is_available, s2done.display_is_available], ['create_done', true, 'true']);

  // A custom marker regex decides boot_done.
  const custom = await boot({ snapshot_id: s2.id, boot_marker: `payload=verified data=${gen2}` });
  assert.equal(custom.host.h_boot_status, 'boot_done', JSON.stringify(custom.job));
  assert.match(custom.job.steps.at(-1).detail, new RegExp(`: MIGRATION-BOOT-OK .*payload=verified data=${gen2}`));

  // A marker the guest never prints: boot_failed at the timeout, the console's tail in the reason.
  const t0 = Date.now();
  const late = await boot({ snapshot_id: s1.id, boot_marker: NEVER, boot_timeout_seconds: 60 });
  assert.equal(late.host.h_boot_status, 'boot_failed', JSON.stringify(late.job));
  assert.ok(Date.now() - t0 >= 60_000, 'not before the timeout');
  const reason: string = late.job.failure_reason;
  assert.match(reason, new RegExp(`^no login prompt or boot marker ${NEVER} within 60 s; console tail:\\n`));
  assert.match(late.host.detail, /within 60 s; console tail:/);
  const consoleText = (await r.api('GET', `/hosts/${id}/console`)).body as string;
  assert.ok(consoleText.trim().length > 0 && reason.endsWith(consoleText.replace(/\r/g, '').trim().slice(-300)), `the reason ends with the console: ${reason.slice(-300)}`);

  // The console API answers at most the last 256 KiB, however much the console holds.
  const machines = join(targetDir, id, 'machines');
  const newest = readdirSync(machines).filter((n) => n.endsWith('.console.log')).sort((a, b) => statSync(join(machines, b)).mtimeMs - statSync(join(machines, a)).mtimeMs)[0]!;
  const filler = Array.from({ length: 6000 }, (_, i) => `console filler line ${String(i).padStart(5, '0')} ${'x'.repeat(40)}\n`).join('');
  appendFileSync(join(machines, newest), `CONSOLE-FIRST-LINE\n${filler}CONSOLE-LAST-LINE\n`);
  const big = await r.api('GET', `/hosts/${id}/console`);
  assert.equal(big.status, 200);
  assert.equal(Buffer.byteLength(big.body as string), 256 * 1024);
  assert.ok((big.body as string).endsWith('CONSOLE-LAST-LINE\n') && !(big.body as string).includes('CONSOLE-FIRST-LINE'));

  // Readiness through the guest agent (simulated): the marker never shows, the agent answers.
  const known = new Set(readdirSync(machines).filter((n) => n.endsWith('.json')));
  const agentInstance = simulateGuestAgent(machines, known);
  const byAgent = await boot({ snapshot_id: s1.id, boot_marker: NEVER, boot_timeout_seconds: 300 });
  assert.equal(byAgent.host.h_boot_status, 'boot_done', JSON.stringify(byAgent.job));
  assert.equal(byAgent.host.cloud_instance_id, await agentInstance);
  assert.match(byAgent.job.steps.at(-1).detail, /test boot under .*: the QEMU guest agent answered guest-ping/);

  // The quota keeps the snapshot the running test boot uses (s1) besides the newest.
  const kept = await r.api('PUT', `/hosts/${id}/sync_strategy`, { snapshot_quota: 1 });
  assert.deepEqual(kept.body.data.map((s: any) => s.id).sort(), [s1.id, s2.id].sort(), 's1 in use, s2 the newest');
  await syncAndWait(r, id, 'incremental');
  const s3 = await waitFor('quota applied', async () => {
    const left = await snapshotsOldestFirst(r!, id);
    return left.length === 2 && left[0].id === s1.id ? left[1] : null;
  });
  assert.notEqual(s3.id, s2.id);

  // A snapshot layer removed by hand: cleanup without force refuses naming it, with force leaves nothing.
  rmSync(join(targetDir, id, 'snapshots', s3.snapshot_name, 'disk-0.qcow2'));
  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: false } })).status, 200);
  const cleanFailed = await waitFor('clean_failed', async () => {
    const h = await hostRow(r!, id);
    return h.h_host_status === 'clean_failed' ? h : null;
  }, 60_000);
  assert.match(cleanFailed.detail, new RegExp(`snapshot ${s3.snapshot_name} disk 0 in .*; clean with force to remove the rest`));
  assert.ok(existsSync(join(targetDir, id)), 'nothing removed by the refused cleanup');
  assert.equal((await r.api('POST', '/hosts', { ids: [id], clean: { force: true } })).status, 200);
  await waitFor('cleaned', async () => (await r!.api('GET', '/hosts')).body.total === 0, 60_000);
  assert.deepEqual(readdirSync(targetDir).sort(), targetBefore, 'the target folder is as before the first sync');
  assert.deepEqual(processesWith(`rehost-${byAgent.host.cloud_instance_id}`), [], 'the test machine was stopped');
});
