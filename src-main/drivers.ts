/**
 * Driver kind → factory. A new driver is one folder plus one line here. The secret field lists
 * come from the API schemas so the keychain split and the validation agree.
 */
import { SOURCE_SECRET_FIELDS } from '../src-shared/api/sources.js';
import { TARGET_SECRET_FIELDS } from '../src-shared/api/targets.js';
import type { DriverRegistry } from './core/drivers.js';
import { createAgentSource } from './sources/agent/index.js';
import { createImageSource } from './sources/image/index.js';
import { createVsphereSource } from './sources/vsphere/index.js';
import { createKvmTarget } from './targets/kvm/index.js';
import { createLocalTarget } from './targets/local/index.js';
import { createOpenStackTarget } from './targets/openstack/index.js';

export function createDriverRegistry(): DriverRegistry {
  return {
    sources: {
      Agent: { factory: createAgentSource, secretFields: SOURCE_SECRET_FIELDS.Agent },
      Image: { factory: createImageSource, secretFields: SOURCE_SECRET_FIELDS.Image },
      VMware: { factory: createVsphereSource, secretFields: SOURCE_SECRET_FIELDS.VMware },
    },
    targets: {
      Local: { factory: createLocalTarget, secretFields: TARGET_SECRET_FIELDS.Local },
      KVM: { factory: createKvmTarget, secretFields: TARGET_SECRET_FIELDS.KVM },
      OpenStack: { factory: createOpenStackTarget, secretFields: TARGET_SECRET_FIELDS.OpenStack },
    },
  };
}
