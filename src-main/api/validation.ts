/**
 * Request validation. Bodies are checked strictly (no type coercion, unknown fields refused) so a
 * typo or a wrong type is a 400 naming the field; query strings are coerced from text, since
 * every query value arrives as a string.
 */
import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';

type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: false, removeAdditional: false, useDefaults: true, strict: false, ...options });
  addFormats(ajv);
  return ajv;
}

export function installValidators(app: FastifyInstance): void {
  const strict = makeAjv({ coerceTypes: false });
  const coercing = makeAjv({ coerceTypes: 'array' });
  const compiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
  };
  app.setValidatorCompiler(compiler);
}

/** One readable sentence from an Ajv error, naming the field as `part.path.to.field`. */
export function describeValidationError(part: string, error: ErrorObject): { field: string; message: string } {
  const path = error.instancePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') path.push(String(params.missingProperty));
  if (error.keyword === 'additionalProperties') path.push(String(params.additionalProperty));
  // Body fields are named as the seed names them (`sync.sync_mode`); other parts keep a prefix.
  const field = (part === 'body' || part === 'querystring' ? path : [part, ...path]).join('.') || part;
  switch (error.keyword) {
    case 'required':
      return { field, message: `${field} is required` };
    case 'additionalProperties':
      return { field, message: `${field} is not a known field` };
    case 'type':
      return { field, message: `${field} must be ${String(params.type)}` };
    case 'enum':
      return { field, message: `${field} must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}` };
    case 'const':
      return { field, message: `${field} must be ${JSON.stringify(params.allowedValue)}` };
    case 'anyOf':
    case 'oneOf':
      return { field, message: `${field} has an unexpected value` };
    default:
      return { field, message: `${field} ${error.message ?? 'is invalid'}` };
  }
}

/**
 * The first useful message from a list of Ajv errors. A union of literals fails with one `const`
 * error per branch plus an `anyOf`: those become "must be one of a, b, c".
 */
export function summarizeValidation(part: string, errors: ErrorObject[]): { field: string; message: string } {
  const anyOf = errors.find((e) => e.keyword === 'anyOf');
  if (anyOf) {
    const allowed = errors
      .filter((e) => e.keyword === 'const' && e.instancePath === anyOf.instancePath)
      .map((e) => String((e.params as { allowedValue: unknown }).allowedValue));
    if (allowed.length > 0) {
      const { field } = describeValidationError(part, anyOf);
      return { field, message: `${field} must be one of ${allowed.join(', ')}` };
    }
    const typed = errors.find((e) => e.instancePath === anyOf.instancePath && e.keyword !== 'anyOf');
    if (typed) return describeValidationError(part, typed);
  }
  return describeValidationError(part, errors[0]!);
}
