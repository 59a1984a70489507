/**
 * The typed OpenStack client: one Keystone session shared by the service clients. No maintained
 * Node client exists, so this is Rehost's own, on global fetch.
 */
import { Cinder } from './cinder.js';
import { Glance } from './glance.js';
import { Keystone, type KeystoneCredentials } from './keystone.js';
import { Neutron } from './neutron.js';
import { Nova } from './nova.js';

export { OpenStackError, type OpenStackService } from './errors.js';
export type { KeystoneCredentials } from './keystone.js';

export class OpenStackClient {
  readonly keystone: Keystone;
  readonly cinder: Cinder;
  readonly nova: Nova;
  readonly neutron: Neutron;
  readonly glance: Glance;

  constructor(credentials: KeystoneCredentials, now?: () => number) {
    this.keystone = new Keystone(credentials, now);
    this.cinder = new Cinder(this.keystone);
    this.nova = new Nova(this.keystone);
    this.neutron = new Neutron(this.keystone);
    this.glance = new Glance(this.keystone);
  }

  /** Revokes the session's token (best effort: an unreachable cloud is not an error here). */
  async close(): Promise<void> {
    await this.keystone.revoke().catch(() => undefined);
  }
}
