/**
 * Errors as the renderer sees them: every failure of a request becomes one `ApiError` with the
 * HTTP status, a Rehost error code (src-shared/errors.ts), the server's message and the field it
 * is about, so a form can show it next to the input the user filled in.
 */
import { ERROR_CODES, type ErrorCode } from '../../../src-shared/errors.js';
import type { MessageKey } from '../../../src-shared/i18n/index.js';

/** Rehost codes plus `NETWORK`: the engine could not be reached at all. */
export type ClientErrorCode = ErrorCode | 'NETWORK';

/** The code a status means when the body does not name one (a proxy page, an empty body). */
const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE',
  423: 'ACCOUNT_LOCKED',
  500: 'INTERNAL',
  502: 'DRIVER',
  503: 'UNAVAILABLE',
};

/** Request parts the server prefixes field names with (`body.name`, `query.page`). */
const PART_PREFIX = /^(body|query|querystring|params|headers)\./;

export class ApiError extends Error {
  readonly status: number;
  readonly code: ClientErrorCode;
  /** The request field the error is about, without the `body.` prefix (`name`, `config.path`). */
  readonly field: string | null;
  /** Seed-004 numeric code (10440207: account locked), when the server gives one. */
  readonly numericCode: number | null;

  constructor(status: number, code: ClientErrorCode, message: string, field: string | null = null, numericCode: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field === null ? null : field.replace(PART_PREFIX, '');
    this.numericCode = numericCode;
  }

  /** The i18n key that explains the code in the user's language. */
  get i18nKey(): MessageKey {
    return this.code === 'NETWORK' ? 'error.network' : ERROR_CODES[this.code].key;
  }

  /** Whether the error is about one of these fields (`isAbout('config.path', 'path')`). */
  isAbout(...fields: string[]): boolean {
    return this.field !== null && fields.includes(this.field);
  }
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

function fallbackCode(status: number): ErrorCode {
  return STATUS_CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
}

/**
 * An `ApiError` from an error answer's status and raw body. The body should be
 * `{code, message, error?, error_code?, field?}`; anything else (HTML from a proxy, an empty
 * body, JSON of another shape) still gives a usable error derived from the status.
 */
export function parseErrorBody(status: number, text: string): ApiError {
  let body: unknown = null;
  try {
    body = text.trim() === '' ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return new ApiError(status, fallbackCode(status), text.trim().slice(0, 200));
  }
  const b = body as Record<string, unknown>;
  const code = isErrorCode(b.error) ? b.error : fallbackCode(status);
  const message = typeof b.message === 'string' ? b.message : '';
  const field = typeof b.field === 'string' && b.field !== '' ? b.field : null;
  const numeric = typeof b.error_code === 'number' ? b.error_code : null;
  return new ApiError(status, code, message, field, numeric);
}

/** Any thrown value as an `ApiError` (a failed fetch is `NETWORK`). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(0, 'NETWORK', message);
}

/** Awaits `work`; resolves to `null` on success or to the `ApiError` it failed with. */
export async function attempt(work: Promise<unknown>): Promise<ApiError | null> {
  try {
    await work;
    return null;
  } catch (err) {
    return toApiError(err);
  }
}
