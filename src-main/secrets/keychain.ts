/**
 * Secrets in the OS keychain through keytar (macOS Keychain, Windows Credential Manager,
 * libsecret / gnome-keyring on Linux). One entry per record: service `Rehost`, account = the
 * record's ref, password = the record as JSON.
 *
 * keytar is a CommonJS native module that links libsecret on Linux. It is imported lazily, on the
 * first call, so that a machine without libsecret or a D-Bus session still starts (and falls back
 * to the encrypted file, see index.ts) instead of failing at module load.
 */
import { RehostError } from '../../src-shared/errors.js';
import type { SecretStore } from '../core/ports.js';
import { checkRecord, checkRef, errorMessage, isStringMap } from './record.js';

export const KEYCHAIN_SERVICE = 'Rehost';

/** The part of keytar's API this store uses. */
export interface KeytarApi {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export interface KeychainStoreOptions {
  /** Keychain service name; `Rehost` unless a test isolates itself. */
  service?: string;
  /** Loads keytar; the default imports the real module once. Tests pass a fake. */
  loadKeytar?: () => Promise<KeytarApi>;
}

let keytarModule: Promise<KeytarApi> | null = null;

/** Imports keytar once; a failed import is retried on the next call. */
export function loadKeytar(): Promise<KeytarApi> {
  keytarModule ??= importKeytar().catch((err: unknown) => {
    keytarModule = null;
    throw err;
  });
  return keytarModule;
}

async function importKeytar(): Promise<KeytarApi> {
  const mod = (await import('keytar')) as unknown as Partial<KeytarApi> & { default?: KeytarApi };
  const api = mod.default ?? (mod as KeytarApi);
  if (typeof api.getPassword !== 'function' || typeof api.setPassword !== 'function' || typeof api.deletePassword !== 'function') {
    throw new Error('keytar module has an unexpected shape');
  }
  return api;
}

/** A `SecretStore` over the OS keychain. Nothing is loaded or contacted until the first call. */
export function createKeychainStore(options: KeychainStoreOptions = {}): SecretStore {
  const service = options.service ?? KEYCHAIN_SERVICE;
  const loader = options.loadKeytar ?? loadKeytar;
  const load = async (): Promise<KeytarApi> => {
    try {
      return await loader();
    } catch (err) {
      throw new RehostError('UNAVAILABLE', `OS keychain unavailable: keytar could not be loaded (${errorMessage(err)})`, {}, { cause: err });
    }
  };
  return {
    backend: 'keychain',
    async set(ref, value) {
      checkRef(ref);
      const json = JSON.stringify(checkRecord(ref, value));
      const keytar = await load();
      await keychainCall('store', ref, () => keytar.setPassword(service, ref, json));
    },
    async get(ref) {
      checkRef(ref);
      const keytar = await load();
      const raw = await keychainCall('read', ref, () => keytar.getPassword(service, ref));
      return raw === null ? null : parseRecord(service, ref, raw);
    },
    async delete(ref) {
      checkRef(ref);
      const keytar = await load();
      await keychainCall('delete', ref, () => keytar.deletePassword(service, ref));
    },
  };
}

async function keychainCall<T>(action: string, ref: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    // keytar's messages come from libsecret / the OS and never contain the stored value.
    throw new RehostError('UNAVAILABLE', `OS keychain: could not ${action} secret ${ref} (${errorMessage(err)})`, {}, { cause: err });
  }
}

function parseRecord(service: string, ref: string, raw: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!isStringMap(parsed)) throw new RehostError('INTERNAL', `OS keychain: entry ${ref} of service ${service} is not a Rehost record`);
  return parsed;
}
