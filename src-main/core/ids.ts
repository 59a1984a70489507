/** Identifiers: random UUIDs from Web Crypto (a global in Node and in Electron; no import needed). */
export function newId(): string {
  return globalThis.crypto.randomUUID();
}
