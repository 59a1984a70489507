import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from './events.js';
import { ProgressBoard } from './progress.js';

test('a quiet sync is still heard from: the heartbeat repeats its figures, speed decays, updatedAt stays', async () => {
  const events = new EventBus();
  const seen: { at: number; done: number; speed: number; phase: string; updatedAt: number }[] = [];
  events.subscribe((e) => {
    if (e.type === 'progress') seen.push({ at: Date.now(), done: e.data.doneBytes as number, speed: e.data.bytesPerSecond as number, phase: e.data.phase as string, updatedAt: e.data.updatedAt as number });
  });
  const board = new ProgressBoard(events);
  board.start('h1', 1000, 'preparing');
  await new Promise((r) => setTimeout(r, 120));
  board.update('h1', 400, undefined, 'syncing');
  const moved = seen.at(-1)!;
  assert.ok(moved.speed > 0, 'the speed follows the bytes');
  await new Promise((r) => setTimeout(r, 1700));
  const beats = seen.filter((s) => s.at > moved.at);
  assert.ok(beats.length >= 2, `heartbeats while nothing moved: ${beats.length}`);
  assert.ok(beats.every((b) => b.done === 400 && b.phase === 'syncing' && b.updatedAt === moved.updatedAt));
  assert.ok(beats.at(-1)!.speed < moved.speed, 'the speed decays while nothing moves');
  const last = board.finish('h1', 'done');
  assert.equal(last?.phase, 'done');
  const count = seen.length;
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(seen.length, count, 'no heartbeat after the sync ended');
  board.close();
});
