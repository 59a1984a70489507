/**
 * One catalogue of error codes. Each code has the HTTP status the API answers with and an i18n
 * key for the UI. `RehostError` carries the code, data for the message and optional context
 * (host, job step); the API turns it into `{"code": <status>, "message": …}` and never leaks a
 * stack or a 5xx internal.
 */

export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, key: 'error.bad_request' },
  VALIDATION: { status: 400, key: 'error.validation' },
  UNAUTHORIZED: { status: 401, key: 'error.unauthorized' },
  WRONG_PASSWORD: { status: 401, key: 'error.wrong_password' },
  /** Seed 004 error 10440207: three wrong passwords in a row lock the account for 5 minutes. */
  ACCOUNT_LOCKED: { status: 423, key: 'error.account_locked' },
  PASSWORD_CHANGE_REQUIRED: { status: 403, key: 'error.password_change_required' },
  FORBIDDEN: { status: 403, key: 'error.forbidden' },
  NOT_FOUND: { status: 404, key: 'error.not_found' },
  METHOD_NOT_ALLOWED: { status: 405, key: 'error.method_not_allowed' },
  CONFLICT: { status: 409, key: 'error.conflict' },
  INVALID_TRANSITION: { status: 409, key: 'error.invalid_transition' },
  PAYLOAD_TOO_LARGE: { status: 413, key: 'error.payload_too_large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, key: 'error.unsupported_media_type' },
  UNPROCESSABLE: { status: 422, key: 'error.unprocessable' },
  DRIVER: { status: 502, key: 'error.driver' },
  UNAVAILABLE: { status: 503, key: 'error.unavailable' },
  INTERNAL: { status: 500, key: 'error.internal' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The JSON body of every error answer. `error_code` is the seed-004 style numeric code when one applies. */
export interface ErrorBody {
  code: number;
  message: string;
  error?: ErrorCode;
  error_code?: number;
  field?: string;
}

export interface RehostErrorContext {
  field?: string;
  hostId?: string;
  jobId?: string;
  step?: string;
  /** Numeric code from a seed catalogue (e.g. 10440207). */
  numericCode?: number;
}

export class RehostError extends Error {
  readonly code: ErrorCode;
  readonly context: RehostErrorContext;

  constructor(code: ErrorCode, message: string, context: RehostErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RehostError';
    this.code = code;
    this.context = context;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.status, message: this.message, error: this.code };
    if (this.context.numericCode !== undefined) body.error_code = this.context.numericCode;
    if (this.context.field !== undefined) body.field = this.context.field;
    return body;
  }

  static is(err: unknown, code?: ErrorCode): err is RehostError {
    return err instanceof RehostError && (code === undefined || err.code === code);
  }
}

/** Shorthands for the errors thrown most. */
export const errors = {
  validation: (field: string, message: string) => new RehostError('VALIDATION', `${field}: ${message}`, { field }),
  notFound: (what: string, id: string, field = 'id') => new RehostError('NOT_FOUND', `${what} ${id} not found`, { field }),
  conflict: (message: string, context: RehostErrorContext = {}) => new RehostError('CONFLICT', message, context),
  transition: (what: string, from: string, to: string, context: RehostErrorContext = {}) =>
    new RehostError('INVALID_TRANSITION', `${what} cannot go from ${from} to ${to}`, context),
};
