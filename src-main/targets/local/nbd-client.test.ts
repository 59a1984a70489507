import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient } from '../../replication/nbd-client.js';
import { serveImage } from './nbd-sink.js';

const MiB = 1024 * 1024;
const signal = new AbortController().signal;
let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'rehost-nbd-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

test('against qemu-nbd: large requests are split, overlapping requests are matched by handle, data lands in the qcow2', async () => {
  const image = join(dir, 'a.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(64 * MiB)]);
  const served = await serveImage(image, 'qcow2', true, signal);
  const big = randomBytes(40 * MiB); // three requests of at most 16 MiB
  const small = Array.from({ length: 16 }, () => randomBytes(4096));
  try {
    assert.equal(served.client.sizeBytes, 64 * MiB);
    await Promise.all([served.client.write(MiB, big), ...small.map((b, i) => served.client.write(48 * MiB + i * 8192, b))]);
    await served.client.flush();
    const [back, ...smallBack] = await Promise.all([served.client.read(MiB, big.length), ...small.map((_, i) => served.client.read(48 * MiB + i * 8192, 4096))]);
    assert.ok(back!.equals(big));
    smallBack.forEach((b, i) => assert.ok(b.equals(small[i]!), `small write ${i}`));
    // Into a caller's buffer (reused by verification): across the request split, no copy of its own.
    const into = Buffer.alloc(big.length + 7, 0xee);
    const landed = await served.client.read(MiB, big.length, into);
    assert.equal(landed.buffer, into.buffer);
    assert.ok(landed.equals(big) && into.subarray(big.length).equals(Buffer.alloc(7, 0xee)));
    await assert.rejects(served.client.read(0, 4096, Buffer.alloc(100)), /cannot hold/);
    await served.client.trim(0, MiB);
    await assert.rejects(served.client.read(64 * MiB - 10, 100), /outside the export/);
  } finally {
    await served.close();
  }
  const flat = join(dir, 'a.raw');
  execFileSync('qemu-img', ['convert', '-O', 'raw', image, flat]);
  assert.ok(readFileSync(flat).subarray(MiB, MiB + big.length).equals(big), 'qemu-img reads what the client wrote');
});

test('a read-only export: writes refused by the client, and by the server with an error reply; the connection stays usable', async () => {
  const image = join(dir, 'ro.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(4 * MiB)]);
  const served = await serveImage(image, 'qcow2', false, signal);
  try {
    await assert.rejects(served.client.write(0, Buffer.alloc(512, 1)), /NBD: the export is read-only/);
    // Past the client's own check, the server's error reply rejects that request alone.
    const raw = served.client as unknown as { request(cmd: number, offset: number, length: number, data?: Uint8Array): Promise<Buffer> };
    await assert.rejects(raw.request(1, 0, 512, Buffer.alloc(512, 1)), /NBD: the NBD server answered error \d+ \((EPERM|EINVAL)\)/);
    assert.ok((await served.client.read(0, 512)).equals(Buffer.alloc(512)));
  } finally {
    await served.close();
  }
});

test('a server that is not NBD, and an export name the server does not have, are refused with a reason', async () => {
  const bogus = join(dir, 'bogus.sock');
  const server = createServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n')).listen(bogus);
  await new Promise((r) => server.once('listening', r));
  try {
    await assert.rejects(NbdClient.connect(bogus), /NBD: (the server is not a newstyle NBD server|cannot connect)/);
  } finally {
    server.close();
  }
  const image = join(dir, 'named.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(MiB)]);
  const socket = join(dir, 'named.sock');
  const { spawn } = await import('node:child_process');
  const child = spawn('qemu-nbd', ['--socket', socket, '--format=qcow2', '--persistent', image], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 200; i++) {
      if (await NbdClient.connect(socket).then((c) => (void c.close(), true), () => false)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await assert.rejects(NbdClient.connect(socket, 'no-such-export'), /the server refused export "no-such-export"/);
  } finally {
    child.kill('SIGTERM');
  }
});
