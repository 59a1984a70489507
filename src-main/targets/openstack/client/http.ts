/**
 * The HTTP layer under every OpenStack client: global fetch, JSON in and out, the token header,
 * one re-authentication on a 401, and the one bounded retry helper for 5xx answers and dropped
 * connections. Tokens and request bodies (which may hold passwords) are never logged or put in
 * error messages.
 */
import { withRetry } from '../../../core/retry.js';
import { OpenStackError, faultMessage, type OpenStackService } from './errors.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** The network error code of a failed fetch (`TypeError: fetch failed` with `cause.code`). */
export function networkCode(err: unknown): string | null {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('E') || code.startsWith('UND_ERR'))) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

/**
 * What is worth another attempt: for idempotent methods a 5xx or any dropped connection; for
 * POST only a refused connection (the request never arrived, so it cannot have been applied twice).
 */
export function retryableFor(method: string): (err: unknown) => boolean {
  return (err) => {
    if (!OpenStackError.isOpenStack(err)) return false;
    const code = networkCode(err.cause);
    if (code === 'ECONNREFUSED') return true;
    if (!IDEMPOTENT.has(method)) return false;
    return err.httpStatus >= 500 || (err.httpStatus === 0 && code !== null && RESET_CODES.has(code));
  };
}

export interface SendOptions {
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

/** One fetch, mapped: a non-2xx answer or a failed connection becomes an OpenStackError. */
export async function send(service: OpenStackService, method: string, url: string, options: SendOptions = {}): Promise<Response> {
  const call = `${method} ${new URL(url).pathname}`;
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new OpenStackError(service, 0, networkCode(err) ?? (err instanceof Error ? err.message : String(err)), call, { cause: err });
  }
  if (res.ok) return res;
  throw new OpenStackError(service, res.status, faultMessage(await res.text()), call);
}

/** Supplies a valid token; `invalidate` drops one the cloud answered 401 to. */
export interface TokenSource {
  token(signal?: AbortSignal): Promise<string>;
  invalidate(token: string): void;
}

export interface RequestOptions extends SendOptions {
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
}

/** A JSON client bound to one service endpoint and one token source. */
export class ServiceHttp {
  /** Extra headers on every call (e.g. the negotiated `OpenStack-API-Version`). */
  readonly headers: Record<string, string> = {};

  constructor(
    readonly service: OpenStackService,
    private readonly endpoint: () => Promise<string>,
    private readonly auth: TokenSource,
  ) {}

  /** The endpoint URL from the catalog, without a trailing slash. */
  async baseUrl(): Promise<string> {
    return (await this.endpoint()).replace(/\/+$/, '');
  }

  /** Calls `path` (relative to the endpoint) and returns the parsed JSON body, or null when empty. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = withQuery(`${await this.baseUrl()}${path}`, options.query);
    const once = async (): Promise<Response> => {
      const token = await this.auth.token(options.signal);
      try {
        return await this.sendWithToken(method, url, token, options);
      } catch (err) {
        if (!OpenStackError.isOpenStack(err, 401)) throw err;
        this.auth.invalidate(token);
        return this.sendWithToken(method, url, await this.auth.token(options.signal), options);
      }
    };
    const res = await withRetry(once, { attempts: 3, delayMs: 500, retryable: retryableFor(method), signal: options.signal });
    const text = await res.text();
    return (text === '' ? null : JSON.parse(text)) as T;
  }

  private sendWithToken(method: string, url: string, token: string, options: RequestOptions): Promise<Response> {
    return send(this.service, method, url, {
      ...options,
      headers: { ...this.headers, ...options.headers, 'x-auth-token': token },
    });
  }
}

/** Appends the defined query parameters to `url`. */
export function withQuery(url: string, query: RequestOptions['query']): string {
  if (query === undefined) return url;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.append(key, String(value));
  const qs = params.toString();
  return qs === '' ? url : `${url}${url.includes('?') ? '&' : '?'}${qs}`;
}
