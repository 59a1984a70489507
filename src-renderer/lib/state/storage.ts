/** Web storage that tolerates its absence (tests in Node, storage disabled by policy). */

export function readStored(area: 'local' | 'session', key: string): string | null {
  try {
    return (area === 'local' ? globalThis.localStorage : globalThis.sessionStorage)?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

export function writeStored(area: 'local' | 'session', key: string, value: string | null): void {
  try {
    const storage = area === 'local' ? globalThis.localStorage : globalThis.sessionStorage;
    if (!storage) return;
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    // Storage full or blocked: the preference just is not remembered.
  }
}
