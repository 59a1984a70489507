import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlDatabase } from './database.js';
import { MIGRATIONS } from './migrations.js';
import { openStore } from './index.js';
import type { Source } from '../core/model.js';

const dir = mkdtempSync(join(tmpdir(), 'rehost-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const source = (id: string, name: string): Source => ({
  id, type: 'Image', name, config: { path: '/x' }, secretRef: null, status: 'connected', statusReason: null,
  pinned: null, tree: null, createdAt: Date.now(), updatedAt: Date.now(), refreshedAt: null,
});

test('a new database gets every migration; a reopened one keeps its data', async () => {
  const file = join(dir, 'a.db');
  const db = await SqlDatabase.open(file);
  assert.equal(Number(db.one('PRAGMA user_version')?.user_version), MIGRATIONS.length);
  await db.close();
  const store = await openStore(file);
  store.sources.put(source('s1', 'one'));
  await store.persist();
  await store.close();
  const again = await openStore(file);
  assert.equal(again.sources.get('s1')?.name, 'one');
  await again.close();
});

test('concurrent persist() calls share writes and all resolve after their change is durable', async () => {
  const file = join(dir, 'b.db');
  const store = await openStore(file);
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    store.sources.put(source(`s${i}`, `n${i}`));
    pending.push(store.persist());
  }
  await Promise.all(pending);
  // What is on disk now has all 50, without closing the store.
  const copy = join(dir, 'b-copy.db');
  writeFileSync(copy, readFileSync(file));
  const reader = await openStore(copy);
  assert.equal(reader.sources.list().length, 50);
  await reader.close();
  await store.close();
});

test('a torn write left as <file>.next is ignored: the previous durable file is the truth', async () => {
  const file = join(dir, 'c.db');
  const store = await openStore(file);
  store.sources.put(source('keep', 'keep'));
  await store.persist();
  await store.close();
  writeFileSync(`${file}.next`, Buffer.from('half a database'));
  const reopened = await openStore(file);
  assert.equal(reopened.sources.get('keep')?.name, 'keep');
  assert.equal(existsSync(`${file}.next`), false);
  await reopened.close();
});

test('a database from a newer build is refused with a clear error', async () => {
  const file = join(dir, 'd.db');
  const db = await SqlDatabase.open(file);
  db.run(`PRAGMA user_version = ${MIGRATIONS.length + 5}`);
  await db.close();
  await assert.rejects(SqlDatabase.open(file), /newer than this build/);
});

test('host queries filter by step, ids, macs and keyword, with paging', async () => {
  const store = await openStore(join(dir, 'e.db'));
  const base = { sourceId: 's', sourceRef: 'r', hostType: 'image', systemType: 'Linux' as const, osVersion: '', firmware: 'bios' as const, cpus: 1, memoryMiB: 1, ip: null, mac: null, disks: [], checks: [], status: 'host_register_done' as const, bootStatus: 'not_boot' as const, healthStatus: 'active' as const, targetId: null, poolId: null, transferSpeed: null, syncStrategy: { doSnapshot: true, autoTrigger: false, interval: 1, intervalUnit: '2' as const, quota: 32, startTime: null }, cloudInstanceId: null, lastProjectName: null, failedJobId: null, licenseId: null, description: null, progress: null, lastSyncAt: null, syncCount: 0, markers: {}, updatedAt: 0 };
  for (let i = 0; i < 12; i++) {
    store.hosts.put({ ...base, id: `h${i}`, name: i % 2 ? `web_${i}` : `db-${i}`, step: i < 6 ? '1' : '2', nics: [{ name: 'eth0', mac: `52:54:00:00:00:${String(i).padStart(2, '0')}`, ipv4: [] }], createdAt: i });
  }
  assert.equal(store.hosts.query({ step: '1', page: 1, pageSize: 10 }).total, 6);
  assert.deepEqual(store.hosts.query({ ids: ['h1', 'h2'], page: 1, pageSize: 10 }).items.map((h) => h.id), ['h1', 'h2']);
  assert.deepEqual(store.hosts.query({ macs: ['52:54:00:00:00:03'], page: 1, pageSize: 10 }).items.map((h) => h.id), ['h3']);
  assert.equal(store.hosts.query({ keyword: '_', page: 1, pageSize: 10 }).total, 6, 'the underscore is literal, not a wildcard');
  const p2 = store.hosts.query({ page: 2, pageSize: 5 });
  assert.equal(p2.total, 12);
  assert.deepEqual(p2.items.map((h) => h.id), ['h5', 'h6', 'h7', 'h8', 'h9']);
  await store.close();
});
