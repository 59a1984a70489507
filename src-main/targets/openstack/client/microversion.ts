/**
 * Microversion negotiation (Nova, Cinder): read the versions document at the service root, take
 * the highest microversion not above the one the client is written for, refuse a cloud below the
 * minimum it needs, and send it on every call as `OpenStack-API-Version: <service> <x.y>`.
 */
import { OpenStackError } from './errors.js';
import type { ServiceHttp } from './http.js';

export interface VersionDoc {
  id: string;
  status: string;
  /** Highest microversion ('' when the API has none). */
  version: string;
  min_version: string;
}

export interface MicroversionWant {
  /** `compute` or `volume`: the header's service name. */
  headerName: 'compute' | 'volume';
  /** The major version's id in the versions document (`v2.1`, `v3.0`). */
  versionId: string;
  /** The client is written against this microversion; higher ones are not used. */
  preferred: string;
  /** Below this the client cannot work. */
  minimum: string;
}

/** Compares `a.b` microversions numerically. */
export function compareMicroversions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

/** The microversion to use for a server advertising `doc`, or null when the range does not meet `want`. */
export function pickMicroversion(doc: Pick<VersionDoc, 'version' | 'min_version'>, want: Pick<MicroversionWant, 'preferred' | 'minimum'>): string | null {
  if (doc.version === '') return null;
  const chosen = compareMicroversions(doc.version, want.preferred) < 0 ? doc.version : want.preferred;
  if (compareMicroversions(chosen, want.minimum) < 0) return null;
  if (doc.min_version !== '' && compareMicroversions(chosen, doc.min_version) < 0) return null;
  return chosen;
}

/** The service root: the endpoint without its `/v2.1…` or `/v3/<project>` tail. */
export function serviceRoot(endpoint: string): string {
  const url = new URL(endpoint);
  url.pathname = url.pathname.replace(/\/v\d+(\.\d+)?(\/.*)?$/, '/');
  return url.toString();
}

/** Negotiates and sets the header on `http`; returns the microversion chosen. */
export async function negotiate(http: ServiceHttp, want: MicroversionWant, signal?: AbortSignal): Promise<string> {
  const root = serviceRoot(await http.baseUrl());
  let res: Response;
  try {
    res = await fetch(root, { headers: { accept: 'application/json' }, signal });
  } catch (err) {
    throw new OpenStackError(http.service, 0, err instanceof Error ? err.message : String(err), `GET ${new URL(root).pathname}`, { cause: err });
  }
  // Cinder answers the root with 300 Multiple Choices and the same document.
  const text = await res.text();
  const doc = parseVersions(text).find((v) => v.id === want.versionId);
  if (doc === undefined) throw new OpenStackError(http.service, res.status, `no ${want.versionId} in the versions document`, `GET ${new URL(root).pathname}`);
  const chosen = pickMicroversion(doc, want);
  if (chosen === null) {
    throw new OpenStackError(http.service, res.status, `the cloud offers microversions ${doc.min_version || '?'}..${doc.version || '?'}, Rehost needs at least ${want.minimum}`, `GET ${new URL(root).pathname}`);
  }
  http.headers['openstack-api-version'] = `${want.headerName} ${chosen}`;
  if (want.headerName === 'compute') http.headers['x-openstack-nova-api-version'] = chosen;
  return chosen;
}

function parseVersions(text: string): VersionDoc[] {
  try {
    const body = JSON.parse(text) as { versions?: VersionDoc[] | { values?: VersionDoc[] } };
    const list = Array.isArray(body.versions) ? body.versions : (body.versions?.values ?? []);
    return list.map((v) => ({ id: v.id, status: v.status, version: v.version ?? '', min_version: v.min_version ?? '' }));
  } catch {
    return [];
  }
}
