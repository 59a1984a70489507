/**
 * Crash safety: the server is killed with SIGKILL at random moments during bursts of writes;
 * after every kill the database opens and holds every change that was acknowledged.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir, ADMIN_PASSWORD } from '../harness.js';

const dataDir = tempDir('crash');
after(() => removeDir(dataDir));

const ROUNDS = 22;

test(`${ROUNDS} SIGKILLs during write bursts lose no acknowledged change`, async () => {
  const acknowledgedSources: string[] = [];
  const acknowledgedTokens: string[] = [];
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let round = 0; round < ROUNDS; round++) {
    const r = await startRehost({ dataDir });
    // Everything acknowledged before the previous kill is here.
    await r.login();
    const names = new Set(((await r.api('GET', '/sources')).body.sources.data as { name: string }[]).map((s) => s.name));
    for (const name of acknowledgedSources) assert.ok(names.has(name), `round ${round}: acknowledged source ${name} lost`);
    for (const token of acknowledgedTokens.slice(-20)) {
      assert.equal((await r.api('GET', '/jobs?page_size=1', undefined, { token })).status, 200, `round ${round}: acknowledged token lost`);
    }
    // A burst of concurrent writes, killed after a random delay.
    const killAfter = 20 + Math.floor(rand() * 250);
    let killed = false;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !killed; i++) {
        const name = `crash-${round}-${w}-${i}`;
        try {
          const res = await r.api('POST', '/sources', { type: 'Image', name, config: { path: join(dataDir, 'no-such-folder') } });
          if (res.status === 200) acknowledgedSources.push(name);
          const login = await r.api('POST', '/users/token', { username: 'admin', password: ADMIN_PASSWORD }, { token: null });
          if (login.status === 200) acknowledgedTokens.push(login.body.token);
        } catch {
          return; // the connection died with the process
        }
      }
    });
    await new Promise((res) => setTimeout(res, killAfter));
    killed = true;
    await r.kill();
    await Promise.all(writers);
    assert.ok(existsSync(join(dataDir, 'rehost.db')));
  }
  assert.ok(acknowledgedSources.length > ROUNDS, `only ${acknowledgedSources.length} writes were acknowledged`);
  // A last clean start: the final state is complete and jobs left running are marked failed.
  const r = await startRehost({ dataDir });
  await r.login();
  const all = (await r.api('GET', '/sources')).body.sources.data as { name: string }[];
  const names = new Set(all.map((s) => s.name));
  for (const name of acknowledgedSources) assert.ok(names.has(name), `acknowledged source ${name} lost`);
  const working = await r.api('GET', '/jobs?status=working&page_size=1000');
  assert.equal(working.body.total, 0, 'no job is left working after a restart');
  const interrupted = await r.api('GET', '/jobs?status=failed&page_size=1000');
  assert.ok(interrupted.body.data.every((j: any) => typeof j.failure_reason === 'string'));
  await r.stop();
});
