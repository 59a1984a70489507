/**
 * Driver kind → factory. A new driver is one folder plus one line here. The secret field lists
 * come from the API schemas so the keychain split and the validation agree.
 */
import { SOURCE_SECRET_FIELDS } from '../src-shared/api/sources.js';
import { TARGET_SECRET_FIELDS } from '../src-shared/api/targets.js';
import type { DriverRegistry } from './core/drivers.js';
import { createImageSource } from './sources/image/index.js';
import { createLocalTarget } from './targets/local/index.js';

export function createDriverRegistry(): DriverRegistry {
  return {
    sources: {
      Image: { factory: createImageSource, secretFields: SOURCE_SECRET_FIELDS.Image },
    },
    targets: {
      Local: { factory: createLocalTarget, secretFields: TARGET_SECRET_FIELDS.Local },
    },
  };
}
