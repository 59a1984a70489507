/**
 * Live driver instances, one per source and per target, built on demand from the registry with
 * their secrets read from the keychain, and closed when their record goes away.
 */
import type { CloudType, SourceType } from '../../src-shared/states.js';
import { RehostError } from '../../src-shared/errors.js';
import type { DriverRegistry, DriverVault, SourceDriver, TargetDriver } from './drivers.js';
import type { Source, Target } from './model.js';
import type { Logger, SecretStore } from './ports.js';

export class DriverPool {
  private readonly sources = new Map<string, SourceDriver>();
  private readonly targets = new Map<string, TargetDriver>();

  constructor(
    private readonly deps: { registry: DriverRegistry; secrets: SecretStore; log: Logger; workDir: (kind: string, id: string) => string },
  ) {}

  sourceSecretFields(type: SourceType): readonly string[] {
    return this.deps.registry.sources[type]?.secretFields ?? [];
  }

  targetSecretFields(type: CloudType): readonly string[] {
    return this.deps.registry.targets[type]?.secretFields ?? [];
  }

  hasSourceType(type: SourceType): boolean {
    return this.deps.registry.sources[type] !== undefined;
  }

  hasTargetType(type: CloudType): boolean {
    return this.deps.registry.targets[type] !== undefined;
  }

  async source(source: Source): Promise<SourceDriver> {
    const cached = this.sources.get(source.id);
    if (cached) return cached;
    const entry = this.deps.registry.sources[source.type];
    if (!entry) throw new RehostError('UNPROCESSABLE', `source type ${source.type} is not available in this build`, { field: 'type' });
    const driver = entry.factory(
      {
        log: this.deps.log.child({ name: `rehost:sources:${source.type.toLowerCase()}`, source: source.id }),
        workDir: this.deps.workDir('sources', source.id),
        secret: await this.secret(source.secretRef),
      },
      source.config,
    );
    this.sources.set(source.id, driver);
    return driver;
  }

  /**
   * The source's driver, connected: a driver built now (after a restart, say) connects first with
   * the pinned identity, so it never trusts whatever host key or certificate it meets.
   */
  async connectedSource(source: Source, signal: AbortSignal): Promise<SourceDriver> {
    const fresh = !this.sources.has(source.id);
    const driver = await this.source(source);
    if (fresh) {
      try {
        await driver.connect(source.pinned, signal);
      } catch (err) {
        await this.dropSource(source.id);
        throw err;
      }
    }
    return driver;
  }

  async target(target: Target): Promise<TargetDriver> {
    const cached = this.targets.get(target.id);
    if (cached) return cached;
    const entry = this.deps.registry.targets[target.cloudType];
    if (!entry) throw new RehostError('UNPROCESSABLE', `target type ${target.cloudType} is not available in this build`, { field: 'config.cloud_type' });
    const driver = entry.factory(
      {
        log: this.deps.log.child({ name: `rehost:targets:${target.cloudType.toLowerCase()}`, target: target.id }),
        workDir: this.deps.workDir('targets', target.id),
        secret: await this.secret(target.secretRef),
        vault: this.vault(vaultRef('target', target.id)),
      },
      target.config,
    );
    this.targets.set(target.id, driver);
    return driver;
  }

  /**
   * The source is being deleted: a driver that left things on the source (an agent's runtime
   * cache) removes them, within `timeoutMs`, before it is closed. A host that cannot be reached
   * does not block the delete; the failure is logged.
   */
  async unregisterSource(source: Source, timeoutMs = 30_000): Promise<void> {
    const cached = this.sources.get(source.id);
    // Never connected (nothing pinned, no live driver): nothing can be on the source.
    if (cached || source.pinned !== null) {
      try {
        const signal = AbortSignal.timeout(timeoutMs);
        const driver = cached ?? (await this.source(source));
        if (driver.unregister) {
          if (!cached) await driver.connect(source.pinned, signal);
          await driver.unregister(signal);
        }
      } catch (err) {
        this.deps.log.warn({ source: source.id, err: String(err) }, 'could not remove what the source driver left on the source');
      }
    }
    await this.dropSource(source.id);
  }

  /**
   * The target is being deleted: a driver that left things on it for itself (an agent's runtime
   * cache on a KVM host) removes them, within `timeoutMs`, before it is closed. A target that
   * cannot be reached does not block the delete; the failure is logged.
   */
  async unregisterTarget(target: Target, timeoutMs = 30_000): Promise<void> {
    try {
      const driver = await this.target(target);
      if (driver.unregister) await driver.unregister(AbortSignal.timeout(timeoutMs));
    } catch (err) {
      this.deps.log.warn({ target: target.id, err: String(err) }, 'could not remove what the target driver left on the target');
    }
    await this.dropTarget(target.id);
  }

  async dropSource(id: string): Promise<void> {
    const driver = this.sources.get(id);
    this.sources.delete(id);
    await driver?.close().catch((err: unknown) => this.deps.log.warn({ err: String(err) }, 'source driver close failed'));
  }

  async dropTarget(id: string): Promise<void> {
    const driver = this.targets.get(id);
    this.targets.delete(id);
    await driver?.close().catch((err: unknown) => this.deps.log.warn({ err: String(err) }, 'target driver close failed'));
  }

  async close(): Promise<void> {
    await Promise.all([...this.sources.keys()].map((id) => this.dropSource(id)));
    await Promise.all([...this.targets.keys()].map((id) => this.dropTarget(id)));
  }

  private vault(ref: string): DriverVault {
    return createVault(this.deps.secrets, ref);
  }

  private async secret(ref: string | null): Promise<Record<string, string>> {
    if (ref === null) return {};
    return (await this.deps.secrets.get(ref)) ?? {};
  }
}

/** A driver's vault over one secrets-store entry; writes are queued so concurrent updates never lose a key. */
export function createVault(secrets: SecretStore, ref: string): DriverVault {
  let queue: Promise<unknown> = Promise.resolve();
  return {
    get: async (key) => (await secrets.get(ref))?.[key] ?? null,
    set: (key, value) => {
      const next = queue.then(async () => {
        const { [key]: _old, ...rest } = (await secrets.get(ref)) ?? {};
        const updated = value === null ? rest : { ...rest, [key]: value };
        if (Object.keys(updated).length === 0) await secrets.delete(ref);
        else await secrets.set(ref, updated);
      });
      queue = next.catch(() => undefined);
      return next;
    },
  };
}

/** The secrets-store entry of a driver record's vault (removed with the record). */
export function vaultRef(kind: 'target', id: string): string {
  return `${kind}:${id}:vault`;
}

/** Splits a config into what is stored and what goes into the keychain. */
export function splitSecrets(config: Record<string, unknown>, secretFields: readonly string[]): {
  plain: Record<string, unknown>;
  secret: Record<string, string>;
} {
  const plain: Record<string, unknown> = {};
  const secret: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (secretFields.includes(key)) {
      if (typeof value === 'string' && value !== '') secret[key] = value;
    } else {
      plain[key] = value;
    }
  }
  return { plain, secret };
}
