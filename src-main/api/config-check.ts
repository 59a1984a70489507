/**
 * Second-level validation of a `config` object whose shape depends on a type field
 * (`cloud_type`, source `type`): TypeBox checks it and the first error names the field.
 */
import type { TObject } from '@sinclair/typebox';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { errors } from '../../src-shared/errors.js';

export function checkConfig(schema: TObject, config: unknown, prefix = 'config'): Record<string, unknown> {
  const withDefaults = Value.Default(schema, structuredClone(config)) as Record<string, unknown>;
  const first = Value.Errors(schema, withDefaults).First();
  if (first) {
    const path = first.path.split('/').filter(Boolean);
    const known = Object.keys(schema.properties);
    const value = withDefaults as Record<string, unknown>;
    const extra = Object.keys(value).find((k) => !known.includes(k));
    if (extra !== undefined && schema.additionalProperties === false) {
      throw errors.validation(`${prefix}.${extra}`, `is not a known field (known: ${known.join(', ')})`);
    }
    const missing = known.find((k) => !(k in value) && (schema.required ?? []).includes(k));
    if (missing !== undefined) throw errors.validation(`${prefix}.${missing}`, 'is required');
    const description = (first.schema as { description?: string }).description;
    const message =
      first.type === ValueErrorType.StringPattern || first.type === ValueErrorType.StringFormat
        ? `has the wrong format${description ? ` (${description})` : ''}`
        : first.message.charAt(0).toLowerCase() + first.message.slice(1);
    throw errors.validation([prefix, ...path].join('.'), message);
  }
  return withDefaults;
}
