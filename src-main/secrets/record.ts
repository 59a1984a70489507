/**
 * Checks shared by both secret stores: a ref is a non-empty string and a record is a flat map
 * of strings. Error messages name refs and fields, never values.
 */
import { RehostError } from '../../src-shared/errors.js';

export function checkRef(ref: string): void {
  if (typeof ref !== 'string' || ref.length === 0) throw new RehostError('VALIDATION', 'secret ref must be a non-empty string', { field: 'ref' });
}

/** Returns `value` when it is a flat object of strings; throws a validation error otherwise. */
export function checkRecord(ref: string, value: Record<string, string>): Record<string, string> {
  if (!isStringMap(value)) {
    const bad = typeof value === 'object' && value !== null ? Object.keys(value).find((k) => typeof (value as Record<string, unknown>)[k] !== 'string') : undefined;
    const what = bad === undefined ? 'value must be an object of strings' : `field ${bad} must be a string`;
    throw new RehostError('VALIDATION', `secret ${ref}: ${what}`, { field: bad ?? 'value' });
  }
  return value;
}

export function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
