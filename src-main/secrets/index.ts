/**
 * Picks where credentials live: the OS keychain when one answers, otherwise the encrypted file
 * in the data folder (with a warning, since that file is only as safe as its key file).
 *
 * Choosing the keychain takes a real round-trip (store, read back, delete a probe entry) rather
 * than just loading keytar: keytar loads fine on a headless Linux box and only fails, or hangs
 * waiting on D-Bus, at the first call. The probe is bounded by a timeout and first runs in a
 * child process (see probe.ts), so a hanging libsecret never gets into this process.
 */
import { RehostError } from '../../src-shared/errors.js';
import type { Logger, SecretStore } from '../core/ports.js';
import { openEncryptedFileStore } from './encrypted-file.js';
import { createKeychainStore } from './keychain.js';
import { probeKeytarInChild, probeStore } from './probe.js';
import { errorMessage } from './record.js';

export { createKeychainStore, KEYCHAIN_SERVICE } from './keychain.js';
export { openEncryptedFileStore } from './encrypted-file.js';

export type SecretBackendChoice = 'keychain' | 'file';

export interface OpenSecretStoreOptions {
  dataDir: string;
  log: Logger;
  /** `keychain` (default): the keychain if it answers, else the file. `file`: the file without probing. */
  prefer?: SecretBackendChoice;
  /** How long the keychain probe may take before we give up on it; 3 s by default. */
  probeTimeoutMs?: number;
  /** Environment to read `REHOST_SECRETS` from; `process.env` by default. */
  env?: Record<string, string | undefined>;
  /** The keychain store to probe; the keytar-backed one by default. Tests pass their own, which skips the child-process probe. */
  keychain?: SecretStore;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 3000;

/**
 * Opens the secret store. `REHOST_SECRETS=file|keychain` forces a backend: `keychain` then fails
 * with a clear error instead of falling back. The result's `backend` is `keychain` or `encrypted-file`.
 */
export async function openSecretStore(options: OpenSecretStoreOptions): Promise<SecretStore> {
  const { log } = options;
  const forced = parseForced((options.env ?? process.env).REHOST_SECRETS);
  const choice = forced ?? options.prefer ?? 'keychain';
  const timeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;

  if (choice === 'keychain') {
    const keychain = options.keychain ?? createKeychainStore();
    try {
      if (!options.keychain && !process.versions.electron) await probeKeytarInChild({ timeoutMs });
      await probeStore(keychain, timeoutMs);
      log.info({ backend: 'keychain' }, 'secrets are stored in the OS keychain');
      return keychain;
    } catch (err) {
      if (forced === 'keychain') {
        throw new RehostError('UNAVAILABLE', `REHOST_SECRETS=keychain but no OS keychain is reachable: ${errorMessage(err)}`, {}, { cause: err });
      }
      const store = await openEncryptedFileStore({ dataDir: options.dataDir, log });
      log.warn(
        { backend: store.backend, file: store.file, reason: errorMessage(err) },
        'no OS keychain is reachable: secrets are stored in an encrypted file in the data folder instead. It keeps them from casual reading, not from anyone who can also read secrets.key. Start a Secret Service (e.g. gnome-keyring) on the D-Bus session to use the keychain, or set REHOST_SECRETS=file to skip this probe',
      );
      return store;
    }
  }

  const store = await openEncryptedFileStore({ dataDir: options.dataDir, log });
  log.warn(
    { backend: store.backend, file: store.file, reason: forced ? 'REHOST_SECRETS=file' : 'prefer: file' },
    'secrets are stored in an encrypted file in the data folder (OS keychain not used by configuration). It keeps them from casual reading, not from anyone who can also read secrets.key',
  );
  return store;
}

function parseForced(value: string | undefined): SecretBackendChoice | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'file' || value === 'keychain') return value;
  throw new RehostError('VALIDATION', `REHOST_SECRETS must be "file" or "keychain" (got "${value}")`, { field: 'REHOST_SECRETS' });
}
