/**
 * `rehost demo` as shipped (the built CLI, `bin/rehost.mjs`, the README's first command) with a
 * temporary work folder: exit code 0 and the printed steps, throughput and verification lines;
 * after it nothing of the demo runs and the target folder holds only the migrated copy. A target
 * folder it cannot write makes it exit 1 with the reason.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, removeDir, tempDir } from '../harness.js';
import { killProcessesWith, processesWith } from '../host-flow.js';

const built = existsSync(join(ROOT, 'dist', 'main', 'cli.js')) ? null : 'dist/main/cli.js is missing: run npm run build';
const work = tempDir('demo');
const immutable: string[] = [];
after(() => {
  for (const dir of immutable) execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
  killProcessesWith('rehost-', work);
  removeDir(work);
});

/** Runs `rehost demo` to its end; resolves with its exit code and output. */
function demo(args: string[], timeoutMs = 900_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'bin', 'rehost.mjs'), ['demo', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REHOST_LOG_LEVEL: 'info' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rehost demo did not end in ${timeoutMs / 1000} s:\n${out}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test('rehost demo: the whole flow, exit 0, steps, throughput and verification printed, only the migrated copy left', { skip: built ?? false, timeout: 1_000_000 }, async () => {
  const data = join(work, 'ok');
  const { code, out } = await demo(['--data', data]);
  console.log(out.replace(/^/gm, '# '));
  assert.equal(code, 0, out);
  const bootable = !out.includes('non-bootable');
  const lines = [
    /^Rehost demo: engine on http:\/\/127\.0\.0\.1:\d+, work folder .*, target folder .*\/target$/m,
    /^ {2}✓ add Image source \([\d.]+ s\)$/m,
    /^ {2}✓ add Local target \([\d.]+ s\)$/m,
    /^ {2}✓ full sync with snapshot \([\d.]+ s\)$/m,
    /^ {4}full: .* sent, .*verified; copied in [\d.]+ s$/m,
    /^ {4}verified after full sync: sha256 [0-9a-f]{16}… on both sides$/m,
    /^ {2}✓ incremental sync with snapshot \([\d.]+ s\)$/m,
    /^ {4}incremental: .* sent, .*verified; copied in [\d.]+ s$/m,
    /^ {4}verified after incremental sync: sha256 [0-9a-f]{16}… on both sides$/m,
    /^ {4}snapshots: HyperMotion-\d{8}T\d{6} \(create_done\), HyperMotion-\d{8}T\d{6} \(create_done\)/m,
    /^ {2}✓ clean up \([\d.]+ s\)$/m,
    /^Demo passed in [\d.]+ s$/m,
  ];
  if (bootable) {
    lines.push(
      /^ {2}✓ test boot from snapshot 1 \(QEMU, copy-on-write overlay\) \([\d.]+ s\)$/m,
      /^ {2}✓ test boot from snapshot 2 \(QEMU, copy-on-write overlay\) \([\d.]+ s\)$/m,
      /^ {2}✓ cutover: final incremental sync, last snapshot, boot an independent copy \([\d.]+ s\)$/m,
      /^ {4}console: MIGRATION-BOOT-OK .*payload=verified data=[0-9a-f]{64}/m,
      /^ {2}✓ target folder after cleanup: only the migrated copy: migrated\/[0-9a-f-]+-\d{8}T\d{6}Z\/\{console\.log, disk-0\.raw, qemu\.log, start\.sh\}$/m,
      /^ {2}✓ the migrated machine still runs after cleanup \(pid \d+\); cleanup never touches it$/m,
      /^ {2}demo teardown: stopped the demo's machines \(pid \d+\)$/m,
    );
  } else {
    lines.push(/^ {2}note: using a generated, non-bootable disk/m, /^ {2}✓ target folder after cleanup: nothing left$/m);
  }
  for (const line of lines) assert.match(out, line);
  // Throughput is what the copy step sent over its copy time, both as the step reports them.
  const copies = [...out.matchAll(/^ {4}(?:full|incremental): .* ([\d.]+)MB sent, .*copied in ([\d.]+) s\n {4}throughput: ([\d.]+) MiB sent in ([\d.]+) s of copying = ([\d.]+) MiB\/s$/gm)];
  assert.equal(copies.length, 2, 'a throughput line under each copy');
  for (const [, sent, secs, sent2, secs2, rate] of copies) {
    assert.equal(Number(sent2), Number(sent));
    assert.equal(Number(secs2), Number(secs));
    assert.ok(Math.abs(Number(rate) - Number(sent) / Number(secs)) <= 0.1 + Number(rate) * 0.02, `${rate} MiB/s = ${sent} MiB ÷ ${secs} s`);
  }
  const target = join(data, 'target');
  if (bootable) {
    assert.deepEqual(readdirSync(target), ['migrated']);
    assert.equal(readdirSync(join(target, 'migrated')).length, 1);
  } else {
    assert.deepEqual(readdirSync(target), []);
  }
  assert.deepEqual(processesWith('-name\0rehost-', `${target}/`), [], 'no demo machine is left running');
});

test('rehost demo: a target folder it cannot write makes it exit 1 with the reason', { skip: built ?? false, timeout: 300_000 }, async () => {
  const data = join(work, 'bad');
  let target = join(work, 'locked-target');
  mkdirSync(target);
  try {
    execFileSync('chattr', ['+i', target]);
    immutable.push(target);
  } catch {
    // Without chattr (or on a file system without it): a path through a plain file, unwritable too.
    writeFileSync(join(work, 'plain-file'), 'x');
    target = join(work, 'plain-file', 'target');
  }
  const { code, out } = await demo(['--data', data, '--target', target]);
  assert.equal(code, 1, out);
  assert.match(out, new RegExp(`^Demo FAILED: the Local target ${target} could not be added: .*config\\.path: ${target} is not a writable folder`, 'm'));
  assert.doesNotMatch(out, /Demo passed/);
});
