/**
 * Snapshots after a sync: one Cinder snapshot per sync volume (forced, since the volumes stay
 * attached to the gateway; the sink fsynced and closed them first), tagged with the host. The
 * model's `Snapshot.ref` is the snapshot ids joined by "," in disk-index order.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { TargetSnapshots } from '../../core/drivers.js';
import type { Host, Volume } from '../../core/model.js';
import { OpenStackError } from './client/index.js';
import { explainQuota, quotaShortage } from './capacity.js';
import { isRehostOwned, META_DISK, rehostMetadata, type OpenStackContext } from './context.js';
import { GiB, waitGone } from './volumes.js';

const SNAPSHOT_READY_MS = 30 * 60_000;
const ID = /^[0-9a-fA-F-]{8,64}$/;

/** The snapshot ids of a ref, checked (a ref comes back from the database). */
export function snapshotIds(ref: string): string[] {
  const ids = ref.split(',').filter((s) => s !== '');
  if (ids.length === 0 || !ids.every((id) => ID.test(id))) throw new RehostError('VALIDATION', `snapshot ref ${JSON.stringify(ref)} is not a list of Cinder snapshot ids`, { field: 'snapshot.ref' });
  return ids;
}

export class OpenStackSnapshots implements TargetSnapshots {
  constructor(private readonly ctx: OpenStackContext) {}

  async create(host: Host, volumes: Volume[], name: string, signal: AbortSignal): Promise<{ ref: string; sizeBytes: number }> {
    const { cinder } = this.ctx.client;
    const ordered = [...volumes].sort((a, b) => a.diskIndex - b.diskIndex);
    await this.checkQuota(host, ordered, signal);
    const made: string[] = [];
    try {
      for (const v of ordered) {
        const snap = await cinder.createSnapshot(v.ref, name, {
          force: true,
          description: `Rehost snapshot of host ${host.name}, disk ${v.diskIndex}`,
          metadata: rehostMetadata(host.id, 'snapshot', { [META_DISK]: String(v.diskIndex) }),
          signal,
        });
        made.push(snap.id);
      }
      let gib = 0;
      for (const id of made) gib += (await cinder.waitSnapshot(id, 'available', { timeoutMs: SNAPSHOT_READY_MS, intervalMs: 1000, signal })).size;
      return { ref: made.join(','), sizeBytes: gib * GiB };
    } catch (err) {
      // a half-made snapshot set is useless: remove what was made, keep the original error
      await this.removeIds(made, AbortSignal.timeout(300_000)).catch((e: unknown) => this.ctx.log.warn({ host: host.id, err: String(e) }, 'could not remove a partial snapshot'));
      throw explainQuota(err, `snapshot ${name} of host ${host.name}`, this.ctx.config.projectName, { hostId: host.id });
    }
  }

  /** One snapshot per volume must fit the project's snapshot quota (and its volume type's line). */
  private async checkQuota(host: Host, volumes: Volume[], signal: AbortSignal): Promise<void> {
    const { cinder } = this.ctx.client;
    const types = new Map<string | null, number>();
    for (const v of volumes) {
      const type = (await cinder.getVolume(v.ref, signal)).volume_type;
      types.set(type, (types.get(type) ?? 0) + 1);
    }
    const quotas = await cinder.quotas(await this.ctx.volumeProjectId(), signal);
    const need = (n: number) => ({ volumes: 0, gib: 0, largestGiB: 0, snapshots: n });
    const perType = [...types].flatMap(([type, n]) => (type === null ? [] : quotaShortage(quotas, need(n), type).filter((l) => l.startsWith(`snapshots_${type}:`))));
    const short = [...quotaShortage(quotas, need(volumes.length), null), ...perType];
    if (short.length > 0) {
      throw new RehostError('UNPROCESSABLE', `the Cinder snapshot quota of project ${this.ctx.config.projectName} is too small for host ${host.name}'s snapshot (${[...new Set(short)].join('; ')}); raise it or lower the host's snapshot_quota, then sync again`, { field: 'quotas', hostId: host.id });
    }
  }

  async remove(ref: string, signal: AbortSignal): Promise<void> {
    await this.removeIds(snapshotIds(ref), signal);
  }

  /** Snapshots Rehost made for the host that no record points at (an interrupted create). */
  async orphans(hostId: string, signal: AbortSignal): Promise<string[]> {
    const all = await this.ctx.client.cinder.listSnapshots({}, signal);
    return all.filter((s) => isRehostOwned(s.metadata, hostId, 'snapshot')).map((s) => s.id);
  }

  /** Deletes the snapshots (404 is fine) and waits until they are gone, so their volumes can go next. */
  async removeIds(ids: string[], signal: AbortSignal): Promise<void> {
    const { cinder } = this.ctx.client;
    for (const id of ids) {
      await cinder.deleteSnapshot(id, signal).catch((err: unknown) => {
        if (!OpenStackError.isOpenStack(err, 404)) throw err;
      });
    }
    for (const id of ids) await waitGone(() => cinder.getSnapshot(id, signal), `snapshot ${id}`, signal, SNAPSHOT_READY_MS);
  }
}
