/**
 * Agents on the KVM host (sink role: digests of volumes, the OS fix-up of boot disks). The agent's
 * Node runtime is cached on the host (sources/agent/runtime-cache.ts); when this target's agent
 * is the one that uploaded it, a note in the target folder says so, and the cache goes again
 * when the target is deleted (it stays while the target exists, so later hosts need no upload).
 * A cache that was already there (an Agent source on the same host and user uses it) is left
 * alone.
 */
import { posix } from 'node:path';
import type { Logger } from '../../core/ports.js';
import { AgentSession } from '../../sources/agent/session.js';
import { hostUser, removeCacheCommand, runtimeCacheRoot } from '../../sources/agent/runtime-cache.js';
import type { KvmLayout } from './layout.js';
import { sh, type KvmSsh } from './ssh.js';

export class KvmAgents {
  constructor(
    private readonly ssh: KvmSsh,
    private readonly layout: KvmLayout,
    private readonly log: Logger,
  ) {}

  /** The note that this target put the runtime cache on the host. */
  get note(): string {
    return posix.join(this.layout.root, '.rehost-runtime-cache');
  }

  /** Pushes and starts an agent in the sink role (through `sudo -n` when asked). */
  async start(sudo: boolean, signal: AbortSignal): Promise<AgentSession> {
    const session = await AgentSession.start(await this.ssh.connection(), { role: 'sink', sudo, log: this.log }, signal);
    if (session.runtime.state === 'uploaded' && session.runtime.path) {
      await this.ssh.exec(`mkdir -p ${sh(this.layout.root)} && printf '%s\\n' ${sh(session.runtime.path)} > ${sh(this.note)}`).catch((err: unknown) => {
        this.log.warn({ err: String(err) }, 'could not note that this target uploaded the agent runtime; it stays on the host after the target goes');
      });
    }
    return session;
  }

  /** Removes the runtime cache when this target put it there (and the note); true when it did. */
  async removeCache(signal: AbortSignal): Promise<boolean> {
    const ours = (await this.ssh.exec(`[ -f ${sh(this.note)} ] && echo ours || true`, signal)).trim() === 'ours';
    if (!ours) return false;
    const user = await hostUser(await this.ssh.connection());
    await this.ssh.exec(`${removeCacheCommand(user)} && rm -f ${sh(this.note)}`, signal);
    this.log.info({ where: this.ssh.where, cache: runtimeCacheRoot(user) }, 'agent runtime cache removed from the KVM host');
    return true;
  }
}
