/**
 * A small typed fetch client: JSON in, JSON out, `X-AUTH-TOKEN` on every request, and every
 * failure turned into an `ApiError`. It knows nothing of screens; the session state listens to
 * `onAuthError` to send the user back to sign-in or to the password change.
 */
import { ApiError, parseErrorBody } from './errors.js';

export type Query = Readonly<Record<string, string | number | boolean | undefined | null>>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  base: string;
  fetch?: FetchLike;
}

/** `?a=1&b=x` from the defined values of `query` (empty when none). */
export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

export class ApiClient {
  base: string;
  token: string | null = null;
  /** Called with 401 `UNAUTHORIZED` and 403 `PASSWORD_CHANGE_REQUIRED` answers. */
  onAuthError: ((error: ApiError) => void) | null = null;
  readonly #fetch: FetchLike;

  constructor(options: ApiClientOptions) {
    this.base = options.base;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  url(path: string, query?: Query): string {
    return `${this.base}${path}${queryString(query)}`;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const text = await this.#send(method, path, options, 'application/json');
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(200, 'INTERNAL', 'the engine answered with something that is not JSON');
    }
  }

  /** A request whose answer is plain text (the boot console); errors still come as `ApiError`. */
  requestText(method: string, path: string, options: RequestOptions = {}): Promise<string> {
    return this.#send(method, path, options, 'text/plain');
  }

  async #send(method: string, path: string, options: RequestOptions, accept: string): Promise<string> {
    const headers: Record<string, string> = { Accept: accept };
    if (this.token) headers['X-AUTH-TOKEN'] = this.token;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await this.#fetch(this.url(path, options.query), {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err));
    }
    const text = await response.text();
    if (!response.ok) {
      const error = parseErrorBody(response.status, text);
      if (error.code === 'UNAUTHORIZED' || error.code === 'PASSWORD_CHANGE_REQUIRED') this.onAuthError?.(error);
      throw error;
    }
    return text;
  }
}
