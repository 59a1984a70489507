import { describe, expect, it } from 'vitest';
import { SourceConfigSchemas } from '../../../src-shared/api/sources.js';
import { TargetConfigSchemas } from '../../../src-shared/api/targets.js';
import { CLOUD_TYPES, SOURCE_TYPES } from '../../../src-shared/states.js';
import { SOURCE_FIELDS, TARGET_FIELDS } from './config-specs.js';

// The forms must only send fields the engine accepts (its schemas have additionalProperties: false).
describe('config specs follow the API schemas', () => {
  it.each(SOURCE_TYPES)('source %s: every form field is a config property', (type) => {
    const known = Object.keys(SourceConfigSchemas[type].properties);
    expect(SOURCE_FIELDS[type].map((f) => f.key).filter((k) => !known.includes(k))).toEqual([]);
  });

  it.each(CLOUD_TYPES.filter((t) => t in TARGET_FIELDS))('target %s: every form field is a config property', (type) => {
    const known = Object.keys(TargetConfigSchemas[type].properties);
    expect(TARGET_FIELDS[type].map((f) => f.key).filter((k) => !known.includes(k))).toEqual([]);
  });

  it('choice fields offer only values the schema allows', () => {
    const mode = TARGET_FIELDS.OpenStack.find((f) => f.key === 'gateway_mode');
    expect(mode?.choices).toEqual(['dedicated', 'shared']);
    const schema = TargetConfigSchemas.OpenStack.properties.gateway_mode as unknown as { anyOf: { const: string }[] };
    expect(schema.anyOf.map((s) => s.const)).toEqual(['dedicated', 'shared']);
  });
});
