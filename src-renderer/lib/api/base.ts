/**
 * Where the API is. In a browser the renderer is served by the engine, so the API is on the same
 * origin under `/hypermotion/v1`. Electron's preload may expose `window.rehost` with an
 * `apiBase` and/or a `session()` that hands over the engine URL and a local token.
 */

export const API_PATH = '/hypermotion/v1';

/** What Electron's preload exposes (all optional: a plain browser has none of it). */
export interface DesktopBridge {
  apiBase?: string;
  session?: () => Promise<{ apiBase: string; token: string } | null>;
}

declare global {
  interface Window {
    rehost?: DesktopBridge;
  }
}

function bridge(): DesktopBridge | undefined {
  return typeof window === 'undefined' ? undefined : window.rehost;
}

/**
 * `base` as an API base: without a trailing slash, and with `/hypermotion/v1` appended when it is
 * only an origin (the desktop shell hands over `https://127.0.0.1:18088`).
 */
export function normalizeApiBase(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith(API_PATH) ? trimmed : `${trimmed}${API_PATH}`;
}

/** The API base for this page: `window.rehost.apiBase` when set, else same origin. */
export function resolveApiBase(): string {
  const override = bridge()?.apiBase;
  return typeof override === 'string' && override !== '' ? normalizeApiBase(override) : API_PATH;
}

/** The desktop shell's session (API base and token), or null in a browser or when refused. */
export async function desktopSession(): Promise<{ apiBase: string; token: string } | null> {
  const session = bridge()?.session;
  if (typeof session !== 'function') return null;
  try {
    const s = await session();
    return s && typeof s.token === 'string' ? { apiBase: normalizeApiBase(s.apiBase), token: s.token } : null;
  } catch {
    return null;
  }
}
