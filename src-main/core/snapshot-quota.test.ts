import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from './model.js';
import { snapshotsBeyondQuota } from './snapshot-quota.js';

const snap = (id: string, createdAt: number, status: Snapshot['status'] = 'create_done'): Snapshot => ({
  id, hostId: 'h', targetId: 't', name: `HyperMotion-${id}`, status, sizeBytes: 0, reason: null, ref: `/x/${id}`, createdAt,
});

test('the quota keeps the newest create_done snapshots and the one a test boot uses', () => {
  const all = [snap('a', 1), snap('b', 2), snap('c', 3), snap('d', 4), snap('doing', 5, 'create_doing'), snap('failed', 6, 'create_failed')];
  assert.deepEqual(snapshotsBeyondQuota(all, 2, null).map((s) => s.id), ['b', 'a'], 'create_doing and create_failed neither count nor go');
  assert.deepEqual(snapshotsBeyondQuota(all, 1, 'b').map((s) => s.id), ['c', 'a'], 'the snapshot in use stays');
  assert.deepEqual(snapshotsBeyondQuota(all, 4, null), []);
  assert.deepEqual(snapshotsBeyondQuota(all, 0, null).map((s) => s.id), ['c', 'b', 'a'], 'the newest always stays');
});
