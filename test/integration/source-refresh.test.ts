/** Periodic refresh: a source with `refresh_interval_minutes` finds new machines by itself. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, waitFor, type Rehost } from '../harness.js';
import { makeMixedDisk } from '../fixtures/disks.js';

const work = tempDir('refresh');
let r: Rehost;
after(async () => {
  await r?.stop();
  removeDir(work);
});

test('an Image source refreshed every few seconds picks up a new image without a refresh call', async () => {
  const images = join(work, 'images');
  mkdirSync(images);
  makeMixedDisk(join(images, 'first.raw'), 4, 1);
  r = await startRehost();
  await r.login();
  const created = await r.api('POST', '/sources', { type: 'Image', name: 'usb', config: { path: images, refresh_interval_minutes: 0.1 } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const id = created.body.data.id;
  await waitFor('first inventory', async () => (await r.api('GET', `/sources/${id}/hosts`)).body.total === 1);
  makeMixedDisk(join(images, 'second.raw'), 4, 2);
  const names = await waitFor('second image discovered', async () => {
    const hosts = (await r.api('GET', `/sources/${id}/hosts`)).body.data as { host_name: string }[];
    return hosts.length === 2 ? hosts.map((h) => h.host_name).sort() : null;
  }, 60_000, 500);
  assert.deepEqual(names, ['first', 'second']);
  const refreshJobs = await r.api('GET', `/jobs?job_type=RefreshSource`);
  assert.ok(refreshJobs.body.total >= 1, 'the refresh ran as a job');
});
