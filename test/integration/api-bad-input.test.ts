/** Each kind of bad input gets a 4xx whose JSON body names the field, and changes nothing. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, startRehost, type Rehost } from '../harness.js';

let r: Rehost;
before(async () => {
  r = await startRehost();
  await r.login();
});
after(async () => {
  await r.stop();
  removeDir(r.dataDir);
});

const ID = '00000000-0000-4000-8000-000000000000';

test('malformed JSON, wrong types, missing and unknown fields name the field', async () => {
  const bad = await r.api('POST', '/hosts', undefined, { raw: '{"ids": [', headers: { 'Content-Type': 'application/json' } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /not valid JSON/);

  const wrongType = await r.api('POST', '/hosts', { ids: [ID], sync: { do_snapshot: 'yes', sync_mode: 'full' } });
  assert.equal(wrongType.status, 400);
  assert.equal(wrongType.body.field, 'sync.do_snapshot');
  assert.match(wrongType.body.message, /sync\.do_snapshot must be boolean/);

  const missing = await r.api('POST', '/hosts', { ids: [ID], sync: { do_snapshot: true } });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.field, 'sync.sync_mode');

  const badEnum = await r.api('POST', '/hosts', { ids: [ID], sync: { do_snapshot: true, sync_mode: 'fast' } });
  assert.equal(badEnum.status, 400);
  assert.match(badEnum.body.message, /sync\.sync_mode must be one of full, incremental/);

  const unknown = await r.api('POST', '/hosts', { ids: [ID], sync: { do_snapshot: true, sync_mode: 'full', sync_mod: 1 } });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.field, 'sync.sync_mod');

  const two = await r.api('POST', '/hosts', { ids: [ID], clean: {}, next_step: { step: '4' } });
  assert.equal(two.status, 400);
  assert.match(two.body.message, /only one of clean, next_step/);

  const speed = await r.api('POST', '/hosts', { ids: [ID], sync: { do_snapshot: true, sync_mode: 'full', transfer_speed: 0.5 } });
  assert.equal(speed.status, 400);
  assert.equal(speed.body.field, 'sync.transfer_speed');

  const config = await r.api('POST', '/targets', { type: 'HyperGate', config: { cloud_type: 'Local', path: 'relative/dir' } });
  assert.equal(config.status, 400);
  assert.equal(config.body.field, 'config.path');
  assert.match(config.body.message, /absolute path/i);
});

test('unknown ids are 404, unknown query values 400, oversized bodies 413, wrong media type 415', async () => {
  const host = await r.api('GET', `/hosts/${ID}?sheet=base`);
  assert.equal(host.status, 404);
  assert.match(host.body.message, new RegExp(ID));
  assert.equal((await r.api('POST', '/hosts/register', { ids: [ID] })).status, 404);
  assert.equal((await r.api('GET', `/targets/${ID}`)).status, 404);
  assert.equal((await r.api('DELETE', `/sources/${ID}`)).status, 404);

  const sheet = await r.api('GET', `/hosts/${ID}?sheet=everything`);
  assert.equal(sheet.status, 400);
  assert.equal(sheet.body.field, 'sheet');
  const status = await r.api('GET', '/hosts?status=flying');
  assert.equal(status.status, 400);
  assert.match(status.body.message, /status must be one of register, sync, boot/);
  assert.equal((await r.api('GET', '/jobs?page=0')).status, 400);
  assert.equal((await r.api('GET', '/jobs?nonsense=1')).status, 400);

  const big = await r.api('POST', '/hosts/register', { ids: [ID], pad: 'x'.repeat(1024 * 1024 + 1) });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 413);

  const media = await r.api('POST', '/hosts/register', undefined, { raw: 'ids=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(media.status, 415);

  const route = await r.api('GET', '/nothing-here');
  assert.equal(route.status, 404);
  assert.equal(route.body.code, 404);

  // None of it changed anything.
  assert.equal((await r.api('GET', '/hosts')).body.total, 0);
  assert.equal((await r.api('GET', '/targets')).body.targets.data.length, 0);
});
