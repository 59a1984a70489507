/**
 * Crash-safe file replacement, the one implementation the database, the secrets file and the
 * replication checkpoints share: write `<file>.next`, fsync it, rename it over `<file>`, fsync the
 * folder. The rename is atomic, so after `kill -9` or a power cut the file is the old version or
 * the new one, never a torn mix; a leftover `.next` is a write that never happened.
 */
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export function pendingPath(file: string): string {
  return `${file}.next`;
}

export async function writeFileAtomic(file: string, data: Uint8Array, mode = 0o600): Promise<void> {
  const next = pendingPath(file);
  try {
    const handle = await open(next, 'w', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(next, file);
  } catch (err) {
    await rm(next, { force: true });
    throw err;
  }
  await syncFolder(dirname(file));
}

/** fsync of the folder makes the rename itself durable. Windows cannot open folders for it (NTFS journals renames). */
export async function syncFolder(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a folder; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}
