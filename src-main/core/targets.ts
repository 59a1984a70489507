/**
 * Targets (seed §4.2): add, verify, list, remove; storage, pools and volumes; resources.
 */
import type { CloudType, ResourceKind, TargetStatus } from '../../src-shared/states.js';
import { RehostError, errors } from '../../src-shared/errors.js';
import type { TargetInventory } from './drivers.js';
import { splitSecrets, vaultRef } from './driver-pool.js';
import type { EngineCore } from './engine-core.js';
import { newId } from './ids.js';
import type { Target } from './model.js';
import { TARGET_MACHINE, assertTransition } from './state-machines.js';

export interface CreateTargetInput {
  type: 'HyperGate';
  cloudType: CloudType;
  name?: string;
  config: Record<string, unknown>;
}

export class TargetService {
  /** Last inventory seen per target (capacity, pools), refreshed by verify. */
  private readonly inventories = new Map<string, TargetInventory>();

  constructor(private readonly core: EngineCore) {}

  async create(input: CreateTargetInput): Promise<Target> {
    const { store, pool, secrets, clock } = this.core;
    if (!pool.hasTargetType(input.cloudType)) {
      throw new RehostError('UNPROCESSABLE', `config.cloud_type ${input.cloudType} is not available in this build`, { field: 'config.cloud_type' });
    }
    const { plain, secret } = splitSecrets(input.config, pool.targetSecretFields(input.cloudType));
    const id = newId();
    const name = input.name ?? defaultTargetName(input.cloudType, plain);
    if (store.targets.list().some((t) => t.name === name)) {
      throw errors.conflict(`a target named ${name} already exists`, { field: 'name' });
    }
    let secretRef: string | null = null;
    if (Object.keys(secret).length > 0) {
      secretRef = `target:${id}`;
      await secrets.set(secretRef, secret);
    }
    const now = clock.now();
    const target: Target = {
      id,
      type: 'HyperGate',
      cloudType: input.cloudType,
      name,
      config: plain,
      secretRef,
      status: 'creating',
      statusReason: null,
      createdAt: now,
      updatedAt: now,
    };
    store.targets.put(target);
    await this.core.jobs.start(
      { type: 'CreateTarget', ownerId: id, ownerKind: 'target', ownerName: name, description: 'Add target platform', steps: ['Connect to target', 'Read storage'] },
      {
        run: async (ctx) => {
          const driver = await ctx.step('Connect to target', () => pool.target(target));
          const inventory = await ctx.step('Read storage', () => driver.verify(ctx.signal));
          this.inventories.set(id, inventory);
          this.setStatus(id, 'active', null);
          return `Target ${name} is active`;
        },
        onFailure: async (reason) => {
          await pool.dropTarget(id);
          this.setStatus(id, 'create_failed', reason);
        },
      },
    );
    return target;
  }

  list(cloudType?: string): Target[] {
    const all = this.core.store.targets.list();
    return cloudType === undefined ? all : all.filter((t) => t.cloudType === cloudType);
  }

  get(id: string): Target {
    const target = this.core.store.targets.get(id);
    if (!target) throw errors.notFound('target', id);
    return target;
  }

  inventory(id: string): TargetInventory | null {
    return this.inventories.get(id) ?? null;
  }

  /** Re-reads capacity and pools; a failure marks the target disconnected, a success reconnects it. */
  async refresh(id: string, signal: AbortSignal): Promise<TargetInventory | null> {
    const target = this.get(id);
    if (target.status !== 'active' && target.status !== 'available' && target.status !== 'disconnected') return this.inventory(id);
    try {
      const inventory = await (await this.core.pool.target(target)).verify(signal);
      this.inventories.set(id, inventory);
      if (target.status === 'disconnected') this.setStatus(id, 'active', null);
      return inventory;
    } catch (err) {
      if (target.status !== 'disconnected') this.setStatus(id, 'disconnected', err instanceof Error ? err.message : String(err));
      return this.inventory(id);
    }
  }

  async resources(id: string, kind: ResourceKind, signal: AbortSignal): Promise<Record<string, unknown>[]> {
    const target = this.get(id);
    if (target.status !== 'active' && target.status !== 'available') {
      throw errors.conflict(`target ${target.name} is ${target.status}; resources are listed only for an active target`);
    }
    const driver = await this.core.pool.target(target);
    if (!driver.capabilities.resources.includes(kind)) {
      throw errors.validation('kind', `${target.cloudType} targets list ${driver.capabilities.resources.join(', ') || 'no resources'}`);
    }
    return driver.listResources(kind, signal);
  }

  /** DELETE /targets/:id — refused while hosts use it, unless forced. */
  async remove(id: string, force: boolean): Promise<void> {
    const { store, pool, secrets } = this.core;
    const target = this.get(id);
    const users = store.hosts.listByTarget(id).filter((h) => h.status !== 'host_unregister_done');
    if (users.length > 0 && !force) {
      throw errors.conflict(`target ${target.name} is assigned to ${users.length} host(s) (${users.map((h) => h.name).join(', ')}); clean them first or use force=true`, {
        field: 'force',
      });
    }
    if (target.status === 'creating' || target.status === 'removing') {
      if (!force) throw errors.conflict(`target ${target.name} is ${target.status}; wait for it to finish or use force=true`);
    } else {
      assertTransition(TARGET_MACHINE, 'target', target.status, 'removing');
    }
    this.setStatus(id, 'removing', null);
    await pool.unregisterTarget(target);
    for (const host of users) {
      store.hosts.put({ ...host, targetId: null, poolId: null, step: '1', updatedAt: this.core.clock.now() });
    }
    for (const volume of store.volumes.listByTarget(id)) store.volumes.delete(volume.id);
    for (const gateway of store.gateways.listByTarget(id)) store.gateways.delete(gateway.id);
    if (target.secretRef) await secrets.delete(target.secretRef);
    // what the driver kept in its vault (boot users' credentials) goes with the target
    await secrets.delete(vaultRef('target', id));
    store.targets.delete(id);
    this.inventories.delete(id);
    await store.persist();
    this.core.events.emit('target', id, { deleted: true });
  }

  private setStatus(id: string, status: TargetStatus, reason: string | null): void {
    const target = this.core.store.targets.get(id);
    if (!target) return;
    assertTransition(TARGET_MACHINE, 'target', target.status, status);
    this.core.store.targets.put({ ...target, status, statusReason: reason, updatedAt: this.core.clock.now() });
    this.core.events.emit('target', id, { status });
  }
}

function defaultTargetName(cloudType: CloudType, config: Record<string, unknown>): string {
  const where = config.os_auth_url ?? config.address ?? config.path ?? config.auth_url ?? '';
  let host = String(where);
  try {
    host = new URL(host).hostname || host;
  } catch {
    // Not a URL: a path or an address, used as it is.
  }
  return `${cloudType}_${host}`;
}
