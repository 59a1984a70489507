/**
 * Source platforms (VMware, Agent, Image): add with a connection check, pin the identity on first
 * use, discover the machines they offer, refresh without breaking registered hosts.
 */
import type { SourceType } from '../../src-shared/states.js';
import { RehostError, errors } from '../../src-shared/errors.js';
import { splitSecrets } from './driver-pool.js';
import type { EngineCore } from './engine-core.js';
import { newId } from './ids.js';
import type { DiscoveredHost, Source } from './model.js';

export interface CreateSourceInput {
  type: SourceType;
  name: string;
  config: Record<string, unknown>;
}

/** The identity field a source type pins, as the user may pre-set it in `config`. */
const PIN_FIELDS: Partial<Record<SourceType, string>> = { VMware: 'thumbprint', Agent: 'host_key' };

/** How often due periodic refreshes are looked for. */
const REFRESH_TICK_MS = 15_000;

export class SourceService {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly core: EngineCore) {}

  /**
   * Periodic inventory refresh: a source whose `config.refresh_interval_minutes` is above 0 is
   * discovered again once that long has passed since its last refresh (new VMs appear, deleted
   * ones turn their hosts `disconnected`).
   */
  startAutoRefresh(tickMs = REFRESH_TICK_MS): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.refreshDue(), tickMs);
    this.timer.unref();
  }

  stopAutoRefresh(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private refreshDue(): void {
    const now = this.core.clock.now();
    for (const source of this.core.store.sources.list()) {
      const minutes = Number(source.config.refresh_interval_minutes ?? 0);
      if (!(minutes > 0) || source.status === 'connecting') continue;
      if (now - (source.refreshedAt ?? source.updatedAt) < minutes * 60_000) continue;
      this.refresh(source.id).catch((err: unknown) => this.core.log.debug({ source: source.id, err: String(err) }, 'periodic refresh skipped'));
    }
  }

  async create(input: CreateSourceInput): Promise<Source> {
    const { store, pool, secrets, clock } = this.core;
    if (!pool.hasSourceType(input.type)) {
      throw new RehostError('UNPROCESSABLE', `source type ${input.type} is not available in this build`, { field: 'type' });
    }
    if (store.sources.list().some((s) => s.name === input.name)) {
      throw errors.conflict(`a source named ${input.name} already exists`, { field: 'name' });
    }
    const { plain, secret } = splitSecrets(input.config, pool.sourceSecretFields(input.type));
    const id = newId();
    let secretRef: string | null = null;
    if (Object.keys(secret).length > 0) {
      secretRef = `source:${id}`;
      await secrets.set(secretRef, secret);
    }
    const pinField = PIN_FIELDS[input.type];
    const preset = pinField !== undefined && typeof plain[pinField] === 'string' ? (plain[pinField] as string) : null;
    const now = clock.now();
    const source: Source = {
      id,
      type: input.type,
      name: input.name,
      config: plain,
      secretRef,
      status: 'connecting',
      statusReason: null,
      pinned: preset,
      tree: null,
      createdAt: now,
      updatedAt: now,
      refreshedAt: null,
    };
    store.sources.put(source);
    await this.startRefresh(source, 'AddSource', 'Add source platform');
    return source;
  }

  list(): Source[] {
    return this.core.store.sources.list();
  }

  get(id: string): Source {
    const source = this.core.store.sources.get(id);
    if (!source) throw errors.notFound('source', id);
    return source;
  }

  hosts(id: string): DiscoveredHost[] {
    this.get(id);
    return this.core.store.discovered.listBySource(id);
  }

  async refresh(id: string): Promise<string> {
    const source = this.get(id);
    const running = this.core.store.jobs
      .listWorking()
      .find((j) => j.ownerId === id && (j.type === 'RefreshSource' || j.type === 'AddSource'));
    if (running) throw errors.conflict(`source ${source.name} is already being refreshed (job ${running.id})`);
    const job = await this.startRefresh(source, 'RefreshSource', 'Refresh source inventory');
    return job;
  }

  /**
   * Accepts a new identity for a source whose host was reinstalled or re-keyed (PUT /sources/:id
   * with `config.host_key` or `config.thumbprint`): pins it, drops the connection that refused
   * the old one, and refreshes. Refused while a job of the source or of its hosts runs.
   */
  async acceptIdentity(id: string, field: string, value: string): Promise<string> {
    const { store, pool, clock } = this.core;
    const source = this.get(id);
    const pinField = PIN_FIELDS[source.type];
    if (pinField === undefined || field !== pinField) {
      throw errors.validation(`config.${field}`, pinField === undefined ? `a ${source.type} source pins no identity` : `a ${source.type} source pins config.${pinField}`);
    }
    const hostIds = new Set(store.hosts.listBySource(id).map((h) => h.id));
    const busy = store.jobs.listWorking().find((j) => j.ownerId !== null && (j.ownerId === id || hostIds.has(j.ownerId)));
    if (busy) throw errors.conflict(`source ${source.name} has a running job (${busy.type} ${busy.id}); retry when it ends`);
    const now = clock.now();
    store.sources.put({ ...source, config: { ...source.config, [pinField]: value }, pinned: value, updatedAt: now });
    await store.persist();
    await pool.dropSource(id);
    this.core.log.info({ source: id, pinned: value }, 'source identity accepted');
    return this.startRefresh(this.get(id), 'RefreshSource', 'Refresh source inventory with the accepted identity');
  }

  async remove(id: string): Promise<void> {
    const { store, pool, secrets } = this.core;
    const source = this.get(id);
    const inUse = store.hosts.listBySource(id).filter((h) => h.status !== 'host_unregister_done');
    if (inUse.length > 0) {
      throw errors.conflict(`source ${source.name} has ${inUse.length} registered host(s) (${inUse.map((h) => h.name).join(', ')}); clean them first`);
    }
    await pool.unregisterSource(source);
    if (source.secretRef) await secrets.delete(source.secretRef);
    store.discovered.deleteBySource(id);
    store.sources.delete(id);
    await store.persist();
    this.core.events.emit('source', id, { deleted: true });
  }

  private async startRefresh(source: Source, type: 'AddSource' | 'RefreshSource', description: string): Promise<string> {
    const { store, pool, clock } = this.core;
    const job = await this.core.jobs.start(
      { type, ownerId: source.id, ownerKind: 'source', ownerName: source.name, description, steps: ['Connect to source', 'Discover machines', 'Check machines'] },
      {
        run: async (ctx) => {
          const driver = await pool.source(source);
          const connection = await ctx.step('Connect to source', () => driver.connect(this.get(source.id).pinned, ctx.signal));
          ctx.note('Connect to source', connection.description);
          const inventory = await ctx.step('Discover machines', () => driver.discover(ctx.signal));
          const checked = await ctx.step('Check machines', async () => {
            const out: DiscoveredHost[] = [];
            for (const h of inventory.hosts) {
              const checks = h.checks.length > 0 ? h.checks : await driver.checkHost(h.ref, ctx.signal);
              out.push({ ...h, checks, sourceId: source.id, present: true });
            }
            return out;
          });
          const seen = new Set(checked.map((h) => h.id));
          for (const h of checked) store.discovered.put(h);
          for (const old of store.discovered.listBySource(source.id)) {
            if (!seen.has(old.id)) store.discovered.put({ ...old, present: false });
          }
          this.markHostsHealth(source.id, seen);
          const now = clock.now();
          store.sources.put({
            ...this.get(source.id),
            status: 'connected',
            statusReason: null,
            pinned: this.get(source.id).pinned ?? connection.identity,
            tree: inventory.tree,
            refreshedAt: now,
            updatedAt: now,
          });
          await store.persist();
          this.core.events.emit('source', source.id, { status: 'connected' });
          return `${checked.length} machine(s) found`;
        },
        onFailure: async (reason) => {
          await pool.dropSource(source.id);
          const current = store.sources.get(source.id);
          if (!current) return;
          store.sources.put({ ...current, status: current.refreshedAt === null ? 'failed' : 'disconnected', statusReason: reason, updatedAt: clock.now() });
          this.core.events.emit('source', source.id, { status: 'failed' });
        },
      },
    );
    return job.id;
  }

  /** A registered host whose machine vanished from the source is `disconnected`, and back when it returns. */
  private markHostsHealth(sourceId: string, present: Set<string>): void {
    for (const host of this.core.store.hosts.listBySource(sourceId)) {
      const health = present.has(host.id) ? 'active' : 'disconnected';
      if (host.healthStatus !== health) {
        this.core.store.hosts.put({ ...host, healthStatus: health, updatedAt: this.core.clock.now() });
        this.core.events.emit('host', host.id, { h_health_status: health });
      }
    }
  }
}
