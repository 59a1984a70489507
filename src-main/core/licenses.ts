/**
 * License placeholder (seed 001): one evaluation license whose credits are consumed per host at
 * its first sync and released when a host is cleaned before it ever finished a sync.
 */
import { errors } from '../../src-shared/errors.js';
import type { EngineCore } from './engine-core.js';
import type { Host, License } from './model.js';

export const EVALUATION_LICENSE_ID = 'evaluation';
const EVALUATION_CREDITS = 100;

export class LicenseService {
  constructor(private readonly core: EngineCore) {}

  /** Creates the evaluation license on first start. */
  ensureDefault(): void {
    if (this.core.store.licenses.get(EVALUATION_LICENSE_ID)) return;
    this.core.store.licenses.put({ id: EVALUATION_LICENSE_ID, name: 'Evaluation', total: EVALUATION_CREDITS, used: 0, expiresAt: null });
  }

  isValid(licenseId: string | null): boolean {
    if (licenseId === null) return true;
    const license = this.core.store.licenses.get(licenseId);
    return license !== null && (license.expiresAt === null || license.expiresAt > this.core.clock.now());
  }

  /** Binds a license to a host before its first sync; a host whose license expired takes a new credit. */
  bind(host: Host): string {
    if (host.licenseId !== null && this.isValid(host.licenseId)) return host.licenseId;
    const license = this.available();
    if (!license) throw errors.conflict(`no license credit left for host ${host.name}; add a license or clean a host that never synced`, { hostId: host.id, field: 'ids' });
    this.core.store.licenses.put({ ...license, used: license.used + 1 });
    return license.id;
  }

  /** Gives the credit back when a host that never completed a sync is cleaned (an unfinished task). */
  release(host: Host): void {
    if (host.licenseId === null || host.syncCount > 0) return;
    const license = this.core.store.licenses.get(host.licenseId);
    if (license && license.used > 0) this.core.store.licenses.put({ ...license, used: license.used - 1 });
  }

  list(): License[] {
    return this.core.store.licenses.list();
  }

  private available(): License | null {
    const now = this.core.clock.now();
    return this.core.store.licenses.list().find((l) => l.used < l.total && (l.expiresAt === null || l.expiresAt > now)) ?? null;
  }
}
