/**
 * Run inside a network namespace by agent-ssh.test.ts (`ip netns exec …`): starts the engine
 * there, adds an Agent source whose address the namespace blackholes (packets to it vanish), and
 * prints how the source settled and how long that took, as one JSON line. Connects only to the
 * engine on the namespace's 127.0.0.1 and to the blackholed address inside the namespace.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startRehost, tempDir } from '../harness.js';
import { addAgentSource, settledSource } from './agent-flow.js';

const address = process.argv[2] ?? '';
const work = tempDir('unreachable');
const r = await startRehost();
try {
  await r.login();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'key')]);
  const started = Date.now();
  const src = await addAgentSource(r, 'blackholed', { address, port: 22, username: 'root', private_key: readFileSync(join(work, 'key'), 'utf8') });
  const detail = await settledSource(r, src.id);
  console.log(JSON.stringify({ status: detail.source.status, reason: detail.source.status_reason, elapsedMs: Date.now() - started }));
} finally {
  await r.stop();
  removeDir(work);
}
