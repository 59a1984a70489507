/**
 * Every failure becomes `{"code": <status>, "message": …}`. Validation errors name the field,
 * Fastify's own errors (bad JSON, too large, wrong content type) keep their 4xx status, and
 * anything unexpected is logged and answered as a 500 without internals.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { ErrorObject } from 'ajv';
import { ERROR_CODES, RehostError, type ErrorBody } from '../../src-shared/errors.js';
import { summarizeValidation } from './validation.js';

const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'request body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'request body is empty but Content-Type is application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'request body is larger than 1 MiB',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported Content-Type; send application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
  FST_ERR_BAD_URL: 'the URL is malformed',
};

export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof RehostError) return err.toBody();
  const fe = err as FastifyError & { validation?: ErrorObject[]; validationContext?: string };
  if (Array.isArray(fe.validation) && fe.validation.length > 0) {
    const { field, message } = summarizeValidation(fe.validationContext ?? 'body', fe.validation);
    return { code: 400, message, error: 'VALIDATION', field };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err instanceof SyntaxError && fe.statusCode === 400)) {
    return { code: 400, message: 'request body is not valid JSON', error: 'BAD_REQUEST', field: 'body' };
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const message = (fe.code !== undefined && FASTIFY_MESSAGES[fe.code]) || fe.message || 'bad request';
    return { code: status, message, error: status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST' };
  }
  return { code: 500, message: 'internal error; the details are in the engine log', error: 'INTERNAL' };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const body = toErrorBody(err);
    if (body.code >= 500 && body.error === 'INTERNAL') {
      request.log.error({ err }, 'unexpected error');
    } else if (body.code >= 500) {
      request.log.warn({ code: body.error, msg: body.message }, 'driver or service error');
    }
    void reply.status(body.code).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ code: 404, message: `no route for ${request.method} ${request.url.split('?')[0]}`, error: 'NOT_FOUND' } satisfies ErrorBody);
  });
}

export { ERROR_CODES };
