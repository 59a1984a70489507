import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseConversionPath, probeVirtV2v, runVirtV2vInPlace, type CommandRunner, type V2vProbe } from './v2v.js';

/** A command as `run` (mounts.ts) fails: a message with the stderr's tail, the spawn error as cause. */
function failure(cmd: string, stderr: string, code?: string): Error {
  return new Error(`${cmd}: ${code === 'ENOENT' ? 'is not installed' : stderr}`, { cause: Object.assign(new Error(stderr), code ? { code } : {}) });
}

/** Simulated commands (virt-v2v and a working appliance cannot run here): name → stdout or failure. */
function scripted(outcomes: Record<string, string | Error>): CommandRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const runner = async (cmd: string, args: readonly string[]) => {
    calls.push([cmd, ...args]);
    const out = outcomes[cmd] ?? failure(cmd, '', 'ENOENT');
    if (out instanceof Error) throw out;
    return out;
  };
  return Object.assign(runner, { calls });
}

test('probe (simulated commands): not installed, appliance fails, appliance starts', async () => {
  assert.deepEqual(await probeVirtV2v(scripted({})), { ok: false, detail: 'virt-v2v-in-place is not installed' });
  const noKernel = failure('libguestfs-test-tool', 'supermin: failed to find a suitable kernel (host_cpu=x86_64). / libguestfs: error: /usr/bin/supermin exited with error status 1');
  const broken = await probeVirtV2v(scripted({ 'virt-v2v-in-place': 'virt-v2v-in-place 2.2.0\n', 'libguestfs-test-tool': noKernel }));
  assert.equal(broken.ok, false);
  assert.match(broken.detail, /^libguestfs cannot launch its appliance here \(libguestfs-test-tool: libguestfs: error: \/usr\/bin\/supermin exited with error status 1\)$/);
  const viaGuestfish = scripted({ 'virt-v2v-in-place': 'virt-v2v-in-place 2.2.0\n', guestfish: '' });
  assert.deepEqual(await probeVirtV2v(viaGuestfish), { ok: true, detail: 'virt-v2v-in-place 2.2.0' });
  assert.deepEqual(viaGuestfish.calls.map((c) => c[0]), ['virt-v2v-in-place', 'libguestfs-test-tool', 'guestfish'], 'guestfish when the test tool is not installed');
  const noChecker = await probeVirtV2v(scripted({ 'virt-v2v-in-place': 'virt-v2v-in-place 2.2.0\n' }));
  assert.equal(noChecker.ok, false);
  assert.match(noChecker.detail, /neither libguestfs-test-tool nor guestfish is installed/);
});

test('the conversion path: virt-v2v-in-place when the probe passes, chroot otherwise, chroot without probing when set so', async () => {
  let probes = 0;
  const probe = (result: V2vProbe) => async () => {
    probes++;
    return result;
  };
  assert.deepEqual(await chooseConversionPath(undefined, probe({ ok: true, detail: 'virt-v2v-in-place 2.2.0' })), { path: 'virt-v2v-in-place', why: 'virt-v2v-in-place 2.2.0; its appliance starts here' });
  assert.deepEqual(await chooseConversionPath('auto', probe({ ok: false, detail: 'virt-v2v-in-place is not installed' })), { path: 'chroot', why: 'virt-v2v-in-place not used: virt-v2v-in-place is not installed' });
  const before = probes;
  assert.deepEqual(await chooseConversionPath('chroot', probe({ ok: true, detail: 'x' })), { path: 'chroot', why: 'virt-v2v-in-place not tried: REHOST_FIXUP_PATH=chroot' });
  assert.equal(probes, before, 'REHOST_FIXUP_PATH=chroot does not probe');
});

test('the in-place conversion command (simulated runner): the image, its format, the first root, the direct backend', async () => {
  let seen: { args: readonly string[]; env: NodeJS.ProcessEnv } | null = null;
  await runVirtV2vInPlace('/t/boot/i/disk-0.qcow2', 'qcow2', AbortSignal.timeout(1000), async (cmd, args, opts) => {
    assert.equal(cmd, 'virt-v2v-in-place');
    seen = { args, env: opts.env };
    return '';
  });
  assert.deepEqual(seen!.args, ['-i', 'disk', '-if', 'qcow2', '--root', 'first', '-q', '/t/boot/i/disk-0.qcow2']);
  assert.equal(seen!.env.LIBGUESTFS_BACKEND, 'direct');
});

test('the real probe on this machine answers, and says why when it cannot be used', async () => {
  const found = await probeVirtV2v();
  if (found.ok) assert.match(found.detail, /virt-v2v/);
  else assert.match(found.detail, /not installed|cannot launch its appliance|does not run/);
});
