/**
 * OpenStack API failures as one typed error. It keeps the service, the HTTP status and the API's
 * own fault message so callers branch on `status`/`quotaExceeded`, not on text, and maps each
 * status to a Rehost error code. A cloud's 401/403 must not become Rehost's own 401/403 (the UI
 * would read those as "your Rehost session ended"), so they map to UNPROCESSABLE with a clear text.
 */
import { RehostError, type ErrorCode } from '../../../../src-shared/errors.js';

/** The catalog types this client talks to, plus `identity` for Keystone itself. */
export type OpenStackService = 'identity' | 'compute' | 'volumev3' | 'network' | 'image';

const NAMES: Record<OpenStackService, string> = {
  identity: 'Keystone',
  compute: 'Nova',
  volumev3: 'Cinder',
  network: 'Neutron',
  image: 'Glance',
};

export class OpenStackError extends RehostError {
  constructor(
    readonly service: OpenStackService,
    /** The HTTP status the cloud answered with; 0 when no answer came (connection failure). */
    readonly httpStatus: number,
    /** The API's own fault message (never contains credentials: requests do not echo them). */
    readonly fault: string,
    /** `METHOD /path` of the failed call, without query string. */
    readonly call: string,
    options?: { cause?: unknown },
  ) {
    super(codeFor(httpStatus), explain(service, httpStatus, fault, call), {}, options);
    this.name = 'OpenStackError';
  }

  /** True for 413 (and the 403 "quota exceeded" some services answer with). */
  get quotaExceeded(): boolean {
    return this.httpStatus === 413 || (this.httpStatus === 403 && /quota|limit ?exceeded/i.test(this.fault));
  }

  static isOpenStack(err: unknown, httpStatus?: number): err is OpenStackError {
    return err instanceof OpenStackError && (httpStatus === undefined || err.httpStatus === httpStatus);
  }
}

function codeFor(status: number): ErrorCode {
  if (status === 400) return 'VALIDATION';
  if (status === 401 || status === 403 || status === 413) return 'UNPROCESSABLE';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 0 || status >= 500) return 'DRIVER';
  return 'DRIVER';
}

function explain(service: OpenStackService, status: number, fault: string, call: string): string {
  const name = NAMES[service];
  const detail = fault === '' ? '' : `: ${fault}`;
  switch (status) {
    case 0:
      return `${name} cannot be reached (${call})${detail}`;
    case 401:
      return service === 'identity'
        ? `OpenStack rejected the credentials: wrong user name, password, domain or project (${name} 401)${detail}`
        : `${name} rejected the token (401) for ${call}${detail}`;
    case 403:
      return `${name} denied ${call}: the user lacks the role or policy for it (403)${detail}`;
    case 404:
      return `${name}: not found (${call})${detail}`;
    case 409:
      return `${name}: conflict for ${call}, the resource is in use or in the wrong state (409)${detail}`;
    case 413:
      return `${name}: quota exceeded in the project for ${call}; raise the quota or free resources (413)${detail}`;
    default:
      return `${name}: ${call} failed with HTTP ${status}${detail}`;
  }
}

/**
 * The fault message from an error body: Nova `{"badRequest": {"message"}}`, Cinder
 * `{"overLimit": {...}}`, Neutron `{"NeutronError": {"message"}}`, Keystone `{"error": {"message"}}`,
 * or plain text/HTML (Glance, proxies), cut to 500 characters.
 */
export function faultMessage(text: string): string {
  try {
    const body = JSON.parse(text) as unknown;
    const found = findMessage(body, 0);
    if (found !== null) return found.slice(0, 500);
  } catch {
    // not JSON: fall through to the text itself
  }
  return text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 500);
}

function findMessage(value: unknown, depth: number): string | null {
  if (value === null || typeof value !== 'object' || depth > 2) return null;
  const rec = value as Record<string, unknown>;
  if (typeof rec.message === 'string') return rec.message;
  if (typeof rec.title === 'string' && typeof rec.detail === 'string') return `${rec.title}: ${rec.detail}`;
  for (const inner of Object.values(rec)) {
    const found = findMessage(inner, depth + 1);
    if (found !== null) return found;
  }
  return null;
}
