/**
 * Schemas shared by every resource: the error body, the `{code, message}` acknowledgement and
 * paging. TypeBox gives one source of truth: JSON Schema for the server's validation and the
 * OpenAPI document, and static types for the renderer and tests.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const ErrorBody = Type.Object(
  {
    code: Type.Integer({ description: 'HTTP status', examples: [400] }),
    message: Type.String({ description: 'What is wrong, naming the field' }),
    error: Type.Optional(Type.String({ description: 'Rehost error code (see src-shared/errors.ts)' })),
    error_code: Type.Optional(Type.Integer({ description: 'Seed-004 numeric code, e.g. 10440207 (account locked)' })),
    field: Type.Optional(Type.String({ description: 'The request field the error is about' })),
  },
  { $id: 'ErrorBody', additionalProperties: false },
);
export type ErrorBody = Static<typeof ErrorBody>;

export const Ack = Type.Object(
  {
    code: Type.Integer({ examples: [200] }),
    message: Type.String(),
    data: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type Ack = Static<typeof Ack>;

export const Uuid = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });

export const IdList = Type.Array(Uuid, { minItems: 1, maxItems: 1000, description: 'Host uuid list' });

export const PageQuery = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10 })),
};

export function paged<T extends TSchema>(item: T) {
  return Type.Object({ page_size: Type.Integer(), total: Type.Integer(), data: Type.Array(item) });
}

/** Error answers every route can give. */
export const ErrorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  422: ErrorBody,
  423: ErrorBody,
  502: ErrorBody,
  503: ErrorBody,
} as const;
