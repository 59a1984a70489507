// Gateway.locate with a FAKE SHELL standing in for SSH to the gateway: it answers the probe
// command with what a gateway prints (by-id links, lsblk pairs, the hint path's kind), so each
// branch (serial, WWN, block-device hint, file hint) is chosen from real-looking output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RehostError } from '../../../src-shared/errors.js';
import type { OpenStackContext } from './context.js';
import { Gateway } from './gateway.js';
import { chooseDevice, probeCommand, type GatewayShell } from './gateway-locate.js';

const VOLUME = '3f2a9c4e-1b7d-4e55-9a0c-6d1e2f3a4b5c';
const ID20 = VOLUME.slice(0, 20);

/** A fake shell: answers each probe with the next canned output (the last one repeats). */
function fakeShell(outputs: string[]): GatewayShell & { commands: string[] } {
  const commands: string[] = [];
  return {
    commands,
    run: async (command) => {
      commands.push(command);
      return { code: 0, stdout: outputs[Math.min(commands.length - 1, outputs.length - 1)]! };
    },
  };
}

function gatewayWith(shell: GatewayShell): Gateway {
  // locate needs only the shell; the context is never read on this path
  return new Gateway({} as OpenStackContext, { shell });
}

const lsblk = (rows: [string, string, string][]) => rows.map(([n, s, w]) => `blk NAME="${n}" SERIAL="${s}" WWN="${w}"`).join('\n');

test('Gateway.locate with a fake shell: the serial branch (virtio by-id link), never attach order', async () => {
  const shell = fakeShell([`id virtio-otherdisk0000000000 /dev/vdb\nid virtio-${ID20} /dev/vdc\n${lsblk([['vda', '', ''], ['vdb', 'otherdisk0000000000', ''], ['vdc', ID20, '']])}`]);
  const found = await gatewayWith(shell).locate(VOLUME, { path: '/dev/vdb', wwn: null }, AbortSignal.timeout(5000), { delayMs: 1 });
  assert.deepEqual(found, { path: '/dev/vdc', how: 'serial' });
  assert.match(shell.commands[0]!, /\/dev\/disk\/by-id/);
  assert.match(shell.commands[0]!, /lsblk -dnP -o NAME,SERIAL,WWN/);
});

test('Gateway.locate with a fake shell: the serial branch from lsblk when udev made no by-id link', async () => {
  const shell = fakeShell([lsblk([['sda', '', ''], ['sdb', VOLUME, '']])]);
  assert.deepEqual(await gatewayWith(shell).locate(VOLUME, { path: null, wwn: null }, AbortSignal.timeout(5000), { delayMs: 1 }), { path: '/dev/sdb', how: 'serial' });
});

test('Gateway.locate with a fake shell: the WWN branch (by-id wwn link, then lsblk WWN column)', async () => {
  const wwn = '6001405ABCDEF0123456789ABCDEF012';
  const byLink = fakeShell([`id wwn-0x${wwn.toLowerCase()} /dev/sdc\n${lsblk([['sdc', 'LIO-ORG', `0x${wwn.toLowerCase()}`]])}`]);
  assert.deepEqual(await gatewayWith(byLink).locate(VOLUME, { path: '/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn-lun-1', wwn }, AbortSignal.timeout(5000), { delayMs: 1 }), { path: '/dev/sdc', how: 'wwn' });
  const byColumn = fakeShell([lsblk([['sdd', 'LIO-ORG', `0x${wwn.toLowerCase()}`]])]);
  assert.deepEqual(await gatewayWith(byColumn).locate(VOLUME, { path: null, wwn: `0x${wwn}` }, AbortSignal.timeout(5000), { delayMs: 1 }), { path: '/dev/sdd', how: 'wwn' });
});

test('Gateway.locate with a fake shell: the block-device branch (the attachment\'s path is a block device there)', async () => {
  const path = '/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.2010-10.org.openstack:volume-x-lun-1';
  const shell = fakeShell([`${lsblk([['sda', '', '']])}\nhint block`]);
  assert.deepEqual(await gatewayWith(shell).locate(VOLUME, { path, wwn: null }, AbortSignal.timeout(5000), { delayMs: 1 }), { path, how: 'attachment' });
  assert.match(shell.commands[0]!, /\[ -b '\/dev\/disk\/by-path\/ip-10\.0\.0\.5:3260-iscsi-iqn\.2010-10\.org\.openstack:volume-x-lun-1' \]/, 'the hint path is quoted for the shell');
});

test('Gateway.locate with a fake shell: a file-backed volume (the test peer\'s kind) and a device that appears late', async () => {
  const path = `/var/lib/cinder/volumes/volume-${VOLUME}`;
  const shell = fakeShell(['', lsblk([['vda', '', '']]), 'hint file']);
  assert.deepEqual(await gatewayWith(shell).locate(VOLUME, { path, wwn: null }, AbortSignal.timeout(5000), { delayMs: 1 }), { path, how: 'attachment' });
  assert.equal(shell.commands.length, 3, 'probed until it appeared');
});

test('Gateway.locate with a fake shell: no device within the attempts is a clear DRIVER error', async () => {
  const shell = fakeShell([lsblk([['vda', 'someone-else', '']])]);
  await assert.rejects(gatewayWith(shell).locate(VOLUME, { path: '/nope', wwn: 'abc' }, AbortSignal.timeout(5000), { attempts: 3, delayMs: 1 }), (e: unknown) => {
    assert.ok(RehostError.is(e, 'DRIVER'));
    assert.match(e.message, new RegExp(`volume ${VOLUME} is attached but no device with its serial or WWN abc appeared in the gateway .*\\(nor /nope\\)`));
    return true;
  });
  assert.equal(shell.commands.length, 3);
});

test('the probe is read-only and a serial beats the hint path', () => {
  const cmd = probeCommand({ path: '/x', wwn: null });
  assert.doesNotMatch(cmd, /\b(dd|mkfs|rm|mount|echo [^"]*>)\b/);
  assert.deepEqual(chooseDevice(`id virtio-${ID20} /dev/vdb\nhint file`, VOLUME, { path: '/x', wwn: null }), { path: '/dev/vdb', how: 'serial' });
  assert.equal(chooseDevice('hint file', VOLUME, { path: null, wwn: null }), null);
});
