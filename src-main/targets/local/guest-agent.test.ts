/**
 * The guest agent probe against a fake agent on a unix socket: no guest with qemu-ga boots here
 * (the busybox fixture has none), so the answering side is simulated and the tests say so.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchConsole } from './console.js';
import { guestAgentPing } from './guest-agent.js';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'rehost-qga-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A fake qemu-ga: 'agent' answers; 'silent' accepts and never answers (QEMU before the agent
 * starts); 'stale' first sends answers left from an earlier probe, then answers; 'stale-silent'
 * sends only those leftovers.
 */
async function fakeAgent(path: string, mode: 'agent' | 'silent' | 'stale' | 'stale-silent'): Promise<{ server: Server; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((socket: Socket) => {
    if (mode === 'stale' || mode === 'stale-silent') socket.write('{"return": 7}\n{"return": {}}\n');
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const cmd = JSON.parse(buffered.slice(0, nl)) as { execute: string; arguments?: { id: number } };
        buffered = buffered.slice(nl + 1);
        seen.push(cmd.execute);
        if (mode === 'silent' || mode === 'stale-silent') continue;
        if (cmd.execute === 'guest-sync') socket.write(`\xff${JSON.stringify({ return: cmd.arguments!.id })}\n`);
        if (cmd.execute === 'guest-ping') socket.write('{"return": {}}\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, seen };
}

test('guest-ping answered after guest-sync (guest agent simulated)', async () => {
  const path = join(dir, 'ok.sock');
  const { server, seen } = await fakeAgent(path, 'agent');
  try {
    assert.equal(await guestAgentPing(path, 2000), true);
    assert.deepEqual(seen, ['guest-sync', 'guest-ping']);
  } finally {
    server.close();
  }
});

test('a silent channel, a stale answer before the sync, and no socket are not a booted guest (guest agent simulated)', async () => {
  const silent = join(dir, 'silent.sock');
  const s1 = await fakeAgent(silent, 'silent');
  const stale = join(dir, 'stale.sock');
  const s2 = await fakeAgent(stale, 'stale-silent');
  try {
    const t0 = Date.now();
    assert.equal(await guestAgentPing(silent, 300), false);
    assert.ok(Date.now() - t0 < 2000, 'bounded by the timeout');
    assert.equal(await guestAgentPing(join(dir, 'none.sock'), 300), false);
    assert.equal(await guestAgentPing(stale, 300), false, 'a leftover {"return": {}} before our sync id does not count');
  } finally {
    s1.server.close();
    s2.server.close();
  }
  const stale2 = join(dir, 'stale2.sock');
  const s3 = await fakeAgent(stale2, 'stale');
  try {
    assert.equal(await guestAgentPing(stale2, 2000), true, 'stale lines skipped, then the real answers');
  } finally {
    s3.server.close();
  }
});

test('boot verification says booted when the agent answers although the console shows no marker (guest agent simulated)', async () => {
  const path = join(dir, 'boot.sock');
  const consolePath = join(dir, 'console.log');
  writeFileSync(consolePath, 'SeaBIOS\nBooting from Hard Disk...\n');
  const { server } = await fakeAgent(path, 'agent');
  try {
    const line = await watchConsole({
      consolePath,
      marker: /MIGRATION-BOOT-OK/,
      fail: /Kernel panic/,
      exited: new Promise(() => {}),
      timeoutMs: 10_000,
      signal: new AbortController().signal,
      ready: { probe: async () => ((await guestAgentPing(path, 1000)) ? 'the QEMU guest agent answered guest-ping' : null), everyMs: 100 },
    });
    assert.equal(line, 'the QEMU guest agent answered guest-ping');
  } finally {
    server.close();
  }
});

test('a marker in a line still being written is reported whole', async () => {
  const consolePath = join(dir, 'partial.log');
  writeFileSync(consolePath, 'MIGRATION-BOOT-OK payload=ver');
  const watching = watchConsole({ consolePath, marker: /MIGRATION-BOOT-OK/, fail: /Kernel panic/, exited: new Promise(() => {}), timeoutMs: 10_000, signal: new AbortController().signal });
  setTimeout(() => writeFileSync(consolePath, 'MIGRATION-BOOT-OK payload=verified data=42\n'), 100);
  assert.equal(await watching, 'MIGRATION-BOOT-OK payload=verified data=42');
});
