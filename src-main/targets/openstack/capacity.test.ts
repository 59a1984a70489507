import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RehostError } from '../../../src-shared/errors.js';
import { explainQuota, poolFreeGiB, poolShortage, quotaNamed, quotaShortage } from './capacity.js';
import { OpenStackError } from './client/index.js';

const pool = (name: string, caps: Record<string, unknown>) => ({ name, capabilities: { volume_backend_name: 'lvm', ...caps } });

test('quota lines: totals, the volume type\'s own lines, per-volume size and snapshots, all named', () => {
  const quotas = {
    volumes: { limit: 10, in_use: 9, reserved: 0 },
    gigabytes: { limit: 100, in_use: 98, reserved: 1 },
    per_volume_gigabytes: { limit: 50, in_use: 0, reserved: 0 },
    snapshots: { limit: 4, in_use: 4, reserved: 0 },
    gigabytes_ssd: { limit: 10, in_use: 0, reserved: 0 },
    volumes_ssd: { limit: -1, in_use: 3, reserved: 0 },
    id: 'p1',
  };
  assert.deepEqual(quotaShortage(quotas, { volumes: 2, gib: 60, largestGiB: 60, snapshots: 1 }, 'ssd'), [
    'per_volume_gigabytes: a 60 GiB volume is needed, at most 50 GiB allowed',
    'volumes: 2 needed, 1 of 10 free',
    'gigabytes: 60 GiB needed, 1 GiB of 100 GiB free',
    'snapshots: 1 needed, 0 of 4 free',
    'gigabytes_ssd: 60 GiB needed, 10 GiB of 10 GiB free',
  ]);
  assert.deepEqual(quotaShortage(quotas, { volumes: 1, gib: 1, largestGiB: 1 }, null), []);
});

test('pool capacity as the scheduler counts it: reserved share, thin provisioning, unknown capacity', () => {
  assert.equal(poolFreeGiB(pool('a', { total_capacity_gb: 1000, free_capacity_gb: 300, reserved_percentage: 10 })), 200);
  assert.equal(poolFreeGiB(pool('t', { total_capacity_gb: 100, free_capacity_gb: 90, provisioned_capacity_gb: 150, thin_provisioning_support: true, max_over_subscription_ratio: 2 })), 50);
  assert.equal(poolFreeGiB(pool('i', { total_capacity_gb: 'infinite', free_capacity_gb: 'infinite' })), null);
  assert.equal(poolFreeGiB(pool('d', { total_capacity_gb: 100, free_capacity_gb: 100, backend_state: 'down' })), 0);
  const pools = [pool('host@lvm#a', { total_capacity_gb: 100, free_capacity_gb: 40 }), pool('host@lvm#b', { total_capacity_gb: 100, free_capacity_gb: 30 }), pool('host@ceph#c', { volume_backend_name: 'ceph', total_capacity_gb: 9000, free_capacity_gb: 9000 })];
  assert.equal(poolShortage(pools, 'lvm', { gib: 50, largestGiB: 50 }), 'no backend pool has room for a 50 GiB volume (most free: 40 GiB in pool host@lvm#a)');
  assert.equal(poolShortage(pools, 'lvm', { gib: 80, largestGiB: 30 }), 'the backend pools have 70 GiB free, 80 GiB needed');
  assert.equal(poolShortage(pools, 'lvm', { gib: 60, largestGiB: 30 }), null);
  assert.equal(poolShortage(pools, 'nfs', { gib: 1, largestGiB: 1 }), 'no backend pool serves volume_backend_name nfs');
  assert.equal(poolShortage([...pools, pool('x', { total_capacity_gb: 'unknown', free_capacity_gb: 'unknown' })], 'lvm', { gib: 500, largestGiB: 500 }), null, 'a pool that does not tell: Cinder decides');
});

test('a Cinder 413 names the quota it hit', () => {
  assert.equal(quotaNamed("VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota 'volumes'."), 'volumes');
  assert.equal(quotaNamed('Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, quota is 1G and 0G has been consumed.'), 'gigabytes');
  assert.equal(quotaNamed('Requested backup exceeds allowed Backup gigabytes quota. Requested 2G, quota is 1G.'), 'backup_gigabytes');
  assert.equal(quotaNamed('Maximum number of snapshots allowed (10) exceeded'), 'snapshots');
  assert.equal(quotaNamed('Requested volume size 9G is larger than maximum allowed limit 5G.'), 'per_volume_gigabytes');
  assert.equal(quotaNamed('something else'), null);
  const err = new OpenStackError('volumev3', 413, "VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota 'volumes'.", 'POST /v3/p/volumes');
  const explained = explainQuota(err, 'creating volume v1', 'proj-a', { hostId: 'h1' });
  assert.ok(RehostError.is(explained, 'UNPROCESSABLE'));
  assert.match(explained.message, /^creating volume v1: the Cinder quota "volumes" of project proj-a is exhausted/);
  assert.deepEqual(explained.context, { field: 'quotas', hostId: 'h1' });
  const other = new OpenStackError('volumev3', 409, 'busy', 'POST /v3/p/volumes');
  assert.equal(explainQuota(other, 'x', 'p'), other, 'other failures pass through');
});
