/**
 * Keystone v3: password authentication scoped to a project (user and project domains by id),
 * the token from `X-Subject-Token`, its expiry tracked so it is renewed before it runs out (and
 * once after a 401 through `invalidate`), and endpoint lookup in the service catalog by type,
 * region and interface. The password lives only in this object; it is never logged.
 */
import { RehostError } from '../../../../src-shared/errors.js';
import { OpenStackError, type OpenStackService } from './errors.js';
import { withRetry } from '../../../core/retry.js';
import { ServiceHttp, send, retryableFor, type TokenSource } from './http.js';

export interface KeystoneCredentials {
  /** e.g. `http://127.0.0.1:5000/v3` (a URL without `/v3` gets it appended). */
  authUrl: string;
  username: string;
  password: string;
  userDomainId: string;
  projectName: string;
  projectDomainId: string;
  /** Region of the endpoints to use; null takes the first endpoint of the wanted interface. */
  region: string | null;
  /** Endpoint interface in the catalog (default `public`). */
  interface?: 'public' | 'internal' | 'admin';
}

export interface CatalogEndpoint {
  id: string;
  interface: string;
  region_id: string | null;
  region?: string | null;
  url: string;
}

export interface CatalogEntry {
  id: string;
  type: string;
  name: string;
  endpoints: CatalogEndpoint[];
}

export interface TokenInfo {
  projectId: string;
  projectName: string;
  userId: string;
  roles: string[];
  catalog: CatalogEntry[];
  /** Local clock time (ms) at which the token expires, skew-corrected by `issued_at`. */
  expiresAt: number;
}

interface TokenBody {
  token: {
    expires_at: string;
    issued_at: string;
    user: { id: string };
    project?: { id: string; name: string };
    roles?: { name: string }[];
    catalog?: CatalogEntry[];
  };
}

export interface Project {
  id: string;
  name: string;
  domain_id: string;
  enabled: boolean;
}

/** Renew this long before expiry (shortened for tokens with a shorter life). */
export const RENEW_MARGIN_MS = 5 * 60_000;

export class Keystone implements TokenSource {
  // `#` fields: neither JSON.stringify nor util.inspect (a logger dumping this object) shows them
  #current: { value: string; info: TokenInfo; renewAt: number } | null = null;
  #pending: Promise<{ value: string; info: TokenInfo }> | null = null;
  readonly #creds: KeystoneCredentials;
  readonly authUrl: string;
  /** Keystone's own admin API (projects), on the auth URL. */
  readonly http: ServiceHttp;
  /** Counts password authentications (for tests and diagnostics). */
  authentications = 0;

  constructor(
    creds: KeystoneCredentials,
    private readonly now: () => number = Date.now,
  ) {
    this.#creds = creds;
    const url = creds.authUrl.replace(/\/+$/, '');
    this.authUrl = /\/v3$/.test(url) ? url : `${url}/v3`;
    this.http = new ServiceHttp('identity', () => Promise.resolve(this.authUrl), this);
  }

  /** A valid token, authenticating when there is none or it is within the renewal margin. */
  async token(signal?: AbortSignal): Promise<string> {
    return (await this.session(signal)).value;
  }

  /** The scope, roles and catalog of the current token. */
  async info(signal?: AbortSignal): Promise<TokenInfo> {
    return (await this.session(signal)).info;
  }

  invalidate(token: string): void {
    if (this.#current?.value === token) this.#current = null;
  }

  /** The URL of `type`'s endpoint in the catalog for the configured region and interface. */
  async endpoint(type: OpenStackService, signal?: AbortSignal): Promise<string> {
    const { catalog } = await this.info(signal);
    const wanted = this.#creds.interface ?? 'public';
    const entry = catalog.find((e) => e.type === type);
    const ep = entry?.endpoints.find((e) => e.interface === wanted && (this.#creds.region === null || (e.region_id ?? e.region) === this.#creds.region));
    if (ep === undefined) {
      const where = this.#creds.region === null ? '' : ` in region ${this.#creds.region}`;
      throw new RehostError('UNPROCESSABLE', `the OpenStack service catalog has no ${wanted} ${type} endpoint${where} (found: ${catalog.map((e) => e.type).join(', ') || 'none'})`);
    }
    return ep.url.replace(/\/+$/, '');
  }

  /** Projects visible to the user, optionally by name (admin sees all). */
  async projects(name?: string, signal?: AbortSignal): Promise<Project[]> {
    return (await this.http.request<{ projects: Project[] }>('GET', '/projects', { query: { name }, signal })).projects;
  }

  /** Revokes `subject` (default: this client's own token, which is then forgotten). */
  async revoke(subject?: string, signal?: AbortSignal): Promise<void> {
    const own = this.#current?.value;
    const target = subject ?? own;
    if (target === undefined) return;
    const token = subject === undefined ? target : await this.token(signal);
    await send('identity', 'DELETE', `${this.authUrl}/auth/tokens`, { headers: { 'x-auth-token': token, 'x-subject-token': target }, signal });
    if (target === own) this.#current = null;
  }

  private async session(signal?: AbortSignal): Promise<{ value: string; info: TokenInfo }> {
    if (this.#current !== null && this.now() < this.#current.renewAt) return this.#current;
    this.#pending ??= this.authenticate(signal).finally(() => (this.#pending = null));
    return this.#pending;
  }

  private async authenticate(signal?: AbortSignal): Promise<{ value: string; info: TokenInfo }> {
    const c = this.#creds;
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: c.username, domain: { id: c.userDomainId }, password: c.password } } },
        scope: { project: { name: c.projectName, domain: { id: c.projectDomainId } } },
      },
    };
    const post = () => send('identity', 'POST', `${this.authUrl}/auth/tokens`, { body, signal });
    const res = await withRetry(post, { attempts: 3, delayMs: 500, retryable: retryableFor('POST'), signal });
    this.authentications++;
    const value = res.headers.get('x-subject-token');
    const { token } = (await res.json()) as TokenBody;
    if (value === null || token.project === undefined) {
      throw new OpenStackError('identity', res.status, 'no project-scoped token in the answer (X-Subject-Token or token.project missing)', 'POST /v3/auth/tokens');
    }
    const lifetime = Math.max(0, Date.parse(token.expires_at) - Date.parse(token.issued_at));
    const start = this.now();
    const info: TokenInfo = {
      projectId: token.project.id,
      projectName: token.project.name,
      userId: token.user.id,
      roles: (token.roles ?? []).map((r) => r.name),
      catalog: token.catalog ?? [],
      expiresAt: start + lifetime,
    };
    const margin = Math.min(RENEW_MARGIN_MS, lifetime / 4);
    this.#current = { value, info, renewAt: start + lifetime - margin };
    return this.#current;
  }
}
