/**
 * The fallback secret store for machines without a reachable OS keychain (typically headless
 * Linux with no D-Bus session or no Secret Service): every record in one file,
 * `<dataDir>/secrets.enc`, encrypted with AES-256-GCM.
 *
 * The AES key is derived with scrypt from 32 random bytes kept in `<dataDir>/secrets.key`
 * (mode 0600, created once, never rewritten). What this protects against: casual reading of the
 * data folder, the database, a backup or a support bundle that copies `secrets.enc` without the
 * key file, and silent modification (GCM authenticates the whole file). What it does NOT protect
 * against: anyone who can read `secrets.key` as well (the same user, root, a full copy of the
 * data folder) can decrypt everything. That is why this is only the fallback and why opening it
 * through `openSecretStore` logs a warning.
 *
 * File layout: magic `RHSE`, version byte, 16-byte scrypt salt, 12-byte IV, 16-byte GCM tag,
 * ciphertext of the JSON `{ ref: record }`. The header is authenticated as additional data.
 * Writes are atomic (temp file, fsync, rename, fsync of the folder) and serialized in-process.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RehostError } from '../../src-shared/errors.js';
import type { Logger, SecretStore } from '../core/ports.js';
import { checkRecord, checkRef, errorMessage, isStringMap } from './record.js';
import { pendingPath, syncFolder, writeFileAtomic } from '../store/atomic-file.js';

export const SECRETS_FILE = 'secrets.enc';
export const KEY_FILE = 'secrets.key';

const MAGIC = Buffer.from('RHSE', 'ascii');
const VERSION = 1;
const KEY_FILE_BYTES = 32;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1 + SALT_BYTES + IV_BYTES;
/** The key file holds full-entropy bytes, so the KDF need not be slow; scrypt keeps one standard KDF. */
const KDF = { N: 2 ** 14, r: 8, p: 1 } as const;

export interface EncryptedFileStoreOptions {
  dataDir: string;
  log?: Logger;
}

export interface EncryptedFileStore extends SecretStore {
  readonly backend: 'encrypted-file';
  /** Path of `secrets.enc`. */
  readonly file: string;
}

type Records = Map<string, Record<string, string>>;

/**
 * Opens (or creates) the encrypted secrets file in `dataDir`. Throws a clear error when the file
 * was modified, is damaged, or does not match `secrets.key`: it never returns garbage and never
 * overwrites secrets it could not read.
 */
export async function openEncryptedFileStore(options: EncryptedFileStoreOptions): Promise<EncryptedFileStore> {
  const file = join(options.dataDir, SECRETS_FILE);
  const keyFile = join(options.dataDir, KEY_FILE);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  // A leftover `.next` is a write that never got renamed: `secrets.enc` is still the truth.
  await rm(pendingPath(file), { force: true });
  const master = await loadOrCreateKeyFile(keyFile, existsSync(file), options.log);
  const loaded = existsSync(file) ? await decryptFile(file, master) : null;
  const salt = loaded?.salt ?? randomBytes(SALT_BYTES);
  const key = loaded?.key ?? (await deriveKey(master, salt));
  return new FileStore(file, salt, key, loaded?.records ?? new Map());
}

class FileStore implements EncryptedFileStore {
  readonly backend = 'encrypted-file' as const;
  /** Every write runs after the previous one settled, so writes never interleave or reorder. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly salt: Buffer,
    private readonly key: Buffer,
    private records: Records,
  ) {}

  async set(ref: string, value: Record<string, string>): Promise<void> {
    checkRef(ref);
    const record = { ...checkRecord(ref, value) };
    await this.mutate((next) => next.set(ref, record));
  }

  async get(ref: string): Promise<Record<string, string> | null> {
    checkRef(ref);
    await this.chain; // read your own writes
    const record = this.records.get(ref);
    return record ? { ...record } : null;
  }

  async delete(ref: string): Promise<void> {
    checkRef(ref);
    await this.mutate((next) => next.delete(ref));
  }

  /** Applies a change to a copy, writes it, and only then makes it the in-memory truth. */
  private mutate(change: (next: Records) => void): Promise<void> {
    const run = async (): Promise<void> => {
      const next = new Map(this.records);
      change(next);
      await writeAtomic(this.file, encrypt(next, this.salt, this.key));
      this.records = next;
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }
}

async function loadOrCreateKeyFile(keyFile: string, secretsExist: boolean, log: Logger | undefined): Promise<Buffer> {
  if (!existsSync(keyFile)) {
    if (secretsExist) {
      throw new RehostError('UNAVAILABLE', `secrets file ${join(dirname(keyFile), SECRETS_FILE)} exists but its key file ${keyFile} is missing: the stored credentials cannot be decrypted (restore ${KEY_FILE} or remove ${SECRETS_FILE} and re-enter them)`);
    }
    await createKeyFile(keyFile);
    log?.info({ keyFile }, 'created the key file for the encrypted secrets file');
  }
  const info = await stat(keyFile);
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    log?.warn({ keyFile, mode: (info.mode & 0o777).toString(8) }, 'the secrets key file is readable by other users: chmod 600 it');
  }
  const master = await readFile(keyFile);
  if (master.length !== KEY_FILE_BYTES) {
    throw new RehostError('UNAVAILABLE', `secrets key file ${keyFile} is damaged: expected ${KEY_FILE_BYTES} bytes, found ${master.length}`);
  }
  return master;
}

/** Writes the random key to a temp file and links it into place: it appears whole or not at all, and never replaces an existing key. */
async function createKeyFile(keyFile: string): Promise<void> {
  const tmp = `${keyFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeSynced(tmp, randomBytes(KEY_FILE_BYTES));
    try {
      await link(tmp, keyFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another opener won the race: use its key
    }
    await syncFolder(dirname(keyFile));
  } finally {
    await rm(tmp, { force: true });
  }
}

function encrypt(records: Records, salt: Buffer, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const header = Buffer.concat([MAGIC, Buffer.from([VERSION]), salt, iv]);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(JSON.stringify(Object.fromEntries(records)), 'utf8'), cipher.final()]);
  return Buffer.concat([header, cipher.getAuthTag(), body]);
}

async function decryptFile(file: string, master: Buffer): Promise<{ salt: Buffer; key: Buffer; records: Records }> {
  const data = await readFile(file);
  if (data.length < HEADER_BYTES + TAG_BYTES || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new RehostError('UNAVAILABLE', `secrets file ${file} is not a Rehost secrets file (damaged or truncated)`);
  }
  const version = data[MAGIC.length];
  if (version !== VERSION) throw new RehostError('UNAVAILABLE', `secrets file ${file} has format version ${version}; this Rehost reads version ${VERSION}`);
  const salt = data.subarray(MAGIC.length + 1, MAGIC.length + 1 + SALT_BYTES);
  const iv = data.subarray(MAGIC.length + 1 + SALT_BYTES, HEADER_BYTES);
  const tag = data.subarray(HEADER_BYTES, HEADER_BYTES + TAG_BYTES);
  const key = await deriveKey(master, salt);
  let plaintext: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(data.subarray(0, HEADER_BYTES));
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(data.subarray(HEADER_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new RehostError(
      'UNAVAILABLE',
      `secrets file ${file} failed its integrity check: it was modified or damaged, or ${KEY_FILE} is not the key it was written with`,
      {},
      { cause: err },
    );
  }
  const parsed: unknown = JSON.parse(plaintext);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every(isStringMap)) {
    throw new RehostError('UNAVAILABLE', `secrets file ${file} decrypted but does not hold Rehost records`);
  }
  return { salt: Buffer.from(salt), key, records: new Map(Object.entries(parsed as Record<string, Record<string, string>>)) };
}

function deriveKey(master: Buffer, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(master, salt, 32, { ...KDF, maxmem: 2 * 128 * KDF.N * KDF.r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Crash-safe replacement (store/atomic-file.ts), with an error that names the secrets file. */
async function writeAtomic(file: string, data: Buffer): Promise<void> {
  try {
    await writeFileAtomic(file, data);
  } catch (err) {
    throw new RehostError('UNAVAILABLE', `could not write secrets file ${file} (${errorMessage(err)})`, {}, { cause: err });
  }
}

async function writeSynced(path: string, data: Buffer): Promise<void> {
  const handle = await open(path, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

